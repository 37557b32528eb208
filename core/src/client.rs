//! The sending side's HTTP client: register, info, prepare-upload, upload, cancel.
//!
//! It always presents our client certificate (LocalSend 1.18 refuses clients without one) and
//! pins the server's fingerprint whenever it knows it; otherwise it reads the fingerprint from
//! the certificate the server presented.

use crate::error::{Detail, Error, ErrorKind, Result};
use crate::identity::Identity;
use crate::protocol::PeerAddr;
use crate::protocol::{DeviceInfo, ErrorBody, PrepareUploadRequest, PrepareUploadResponse, Protocol, API_PREFIX};
use crate::util::percent_encode;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

pub type Body = BoxBody<Bytes, std::io::Error>;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const SMALL_REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// How often an upload's deadlines are checked.
const WATCHDOG_TICK: Duration = Duration::from_millis(250);
const MAX_RESPONSE_BODY: usize = 32 * 1024 * 1024;
const JSON: &str = "application/json";

trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// When a connection's socket last took bytes from us.
#[derive(Clone)]
struct WriteClock {
    base: Instant,
    millis: Arc<AtomicU64>,
}

impl WriteClock {
    fn new() -> WriteClock {
        WriteClock { base: Instant::now(), millis: Arc::new(AtomicU64::new(0)) }
    }
    fn touch(&self) {
        self.millis.store(self.base.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
    fn last(&self) -> Instant {
        self.base + Duration::from_millis(self.millis.load(Ordering::Relaxed))
    }
}

/// A TCP stream that notes on its [`WriteClock`] every write the socket accepts.
struct Clocked<S> {
    inner: S,
    clock: WriteClock,
}

impl<S: AsyncRead + Unpin> AsyncRead for Clocked<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Clocked<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.clock.touch();
        }
        r
    }
    fn poll_write_vectored(self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[std::io::IoSlice<'_>]) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.clock.touch();
        }
        r
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// One HTTP/1.1 connection to a peer (kept alive for many requests).
pub struct Connection {
    sender: SendRequest<Body>,
    host: String,
    written: WriteClock,
    /// Who we are and where the connection goes, to open it again when the peer closes it
    /// after an answer (`Connection: close`, HTTP/1.0).
    again: Option<Box<(Identity, PeerAddr)>>,
    /// The last answer said the peer closes the connection after it.
    closing: bool,
    /// The fingerprint of the server's certificate (HTTPS only).
    pub server_fingerprint: Option<String>,
}

/// A peer's answer to register/info, with the identity its certificate proved.
#[derive(Debug, Clone)]
pub struct RemoteDevice {
    pub info: DeviceInfo,
    /// The certificate fingerprint (HTTPS) or the claimed one (HTTP).
    pub fingerprint: String,
    pub verified: bool,
}

/// The answer to prepare-upload.
#[derive(Debug, Clone)]
pub enum PrepareOutcome<R = PrepareUploadResponse> {
    /// 200: the accepted files and their tokens.
    Accepted(R),
    /// 204: nothing to transfer (text shown, or an empty selection accepted).
    NothingToSend,
}

/// The outcome of one upload request.
#[derive(Debug)]
pub enum UploadStatus {
    Ok,
    ChecksumMismatch,
    Rejected(Error),
}

/// A response's status and body.
pub struct Reply {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Reply {
    /// The `message` of a LocalSend error body, or the body as text.
    pub fn message(&self) -> String {
        serde_json::from_slice::<ErrorBody>(&self.body)
            .map(|b| b.message)
            .unwrap_or_else(|_| String::from_utf8_lossy(&self.body).chars().take(200).collect())
    }
}

pub(crate) fn network_error(peer: &PeerAddr, e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Network, format!("{peer}: {e}"))
}

/// Opens a TCP connection to `peer` within `timeout` (a timeout is `ErrorKind::TimedOut`).
pub(crate) async fn tcp_connect(peer: &PeerAddr, timeout: Duration) -> std::io::Result<TcpStream> {
    let connecting = async {
        match peer.socket_addr() {
            Some(addr) => TcpStream::connect(addr).await,
            None => TcpStream::connect(peer.authority()).await,
        }
    };
    tokio::time::timeout(timeout, connecting)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connection timed out"))?
}

/// The refusal to reach a pinned receiver over plain HTTP (which proves no identity).
pub(crate) fn pinned_over_http(peer: &PeerAddr, fingerprint: &str) -> Error {
    Error::new(
        ErrorKind::FingerprintMismatch,
        format!(
            "{peer}: refusing plain HTTP to a pinned receiver (fingerprint {}): HTTP cannot prove who answers, so Ferry reaches a pinned device only over HTTPS with its certificate checked",
            crate::identity::short_fingerprint(fingerprint)
        ),
    )
}

/// Opens a connection. `expected` pins the server's certificate fingerprint (HTTPS only: a
/// pinned plain HTTP connection is refused before anything is sent).
pub async fn connect(identity: &Identity, peer: &PeerAddr, expected: Option<&str>) -> Result<Connection> {
    if let Some(fp) = expected {
        if peer.protocol == Protocol::Http {
            return Err(pinned_over_http(peer, fp));
        }
    }
    let tcp = tcp_connect(peer, CONNECT_TIMEOUT).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::TimedOut => Error::new(ErrorKind::Timeout, format!("{peer}: connection timed out")),
        _ => network_error(peer, e),
    })?;
    connect_over(tcp, identity, peer, expected).await
}

/// Speaks HTTP (or TLS, then HTTP) over a TCP connection that is already open. A pinned
/// connection (`expected`) over plain HTTP is refused: HTTP proves no identity, so the pin
/// would be silently ignored.
pub(crate) async fn connect_over(tcp: TcpStream, identity: &Identity, peer: &PeerAddr, expected: Option<&str>) -> Result<Connection> {
    if let Some(fp) = expected {
        if peer.protocol == Protocol::Http {
            return Err(pinned_over_http(peer, fp));
        }
    }
    let _ = tcp.set_nodelay(true);
    let written = WriteClock::new();
    let tcp = Clocked { inner: tcp, clock: written.clone() };
    let (stream, server_fingerprint): (Box<dyn Stream>, Option<String>) = match peer.protocol {
        Protocol::Http => (Box::new(tcp), None),
        Protocol::Https => {
            let config = crate::tls::client_config(identity, expected)?;
            let name = rustls::pki_types::ServerName::try_from(peer.host.clone())
                .unwrap_or_else(|_| rustls::pki_types::ServerName::try_from("ferry.local").expect("valid name").to_owned());
            let connector = tokio_rustls::TlsConnector::from(config);
            let tls = tokio::time::timeout(HANDSHAKE_TIMEOUT, connector.connect(name, tcp))
                .await
                .map_err(|_| Error::new(ErrorKind::Timeout, format!("{peer}: TLS handshake timed out")))?
                .map_err(|e| crate::tls::handshake_error(peer, e))?;
            let fp = crate::tls::peer_fingerprint(tls.get_ref().1.peer_certificates());
            (Box::new(tls), fp)
        }
    };
    let (sender, conn) =
        hyper::client::conn::http1::Builder::new().handshake::<_, Body>(TokioIo::new(stream)).await.map_err(|e| network_error(peer, e))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(Connection {
        sender,
        host: peer.authority(),
        written,
        again: Some(Box::new((identity.clone(), peer.clone()))),
        closing: false,
        server_fingerprint,
    })
}

pub(crate) fn empty_body() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

pub(crate) fn bytes_body(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

impl Connection {
    pub(crate) fn is_open(&self) -> bool {
        !self.closing && !self.sender.is_closed()
    }

    /// Opens the connection again to the same peer, pinned to the certificate it showed first
    /// (a peer that closes after each answer gets a new connection per request, never the old one).
    async fn reopen(&mut self) -> Result<()> {
        let Some((identity, peer)) = self.again.as_deref().cloned() else {
            return Err(Error::new(ErrorKind::Network, "the connection was closed"));
        };
        let fresh = connect(&identity, &peer, self.server_fingerprint.as_deref()).await?;
        (self.sender, self.written, self.closing) = (fresh.sender, fresh.written, false);
        Ok(())
    }

    /// Sends a request and reads the whole (bounded) response body.
    pub async fn request(&mut self, method: Method, path_and_query: &str, body: Body, content_length: Option<u64>) -> Result<Reply> {
        self.request_typed(method, path_and_query, body, content_length, None, None).await
    }

    /// Like [`Connection::request`], with a `Content-Type` (strict receivers parse JSON only
    /// when it says so) and the trailer field the body ends with (`trailer`: the body is sent
    /// chunked, without `Content-Length`).
    pub(crate) async fn request_typed(
        &mut self,
        method: Method,
        path_and_query: &str,
        body: Body,
        content_length: Option<u64>,
        content_type: Option<&'static str>,
        trailer: Option<&'static str>,
    ) -> Result<Reply> {
        if !self.is_open() {
            self.reopen().await?;
        }
        self.sender.ready().await.map_err(|e| Error::new(ErrorKind::Network, format!("connection lost: {e}")))?;
        let mut req = Request::builder()
            .method(method)
            .uri(path_and_query)
            .header(hyper::header::HOST, &self.host)
            .header(hyper::header::USER_AGENT, concat!("Ferry/", env!("CARGO_PKG_VERSION")));
        if let Some(len) = content_length {
            req = req.header(hyper::header::CONTENT_LENGTH, len);
        }
        if let Some(ct) = content_type {
            req = req.header(hyper::header::CONTENT_TYPE, ct);
        }
        if let Some(field) = trailer {
            // hyper sends only the trailer fields a request announces.
            req = req.header(hyper::header::TRAILER, field);
        }
        let req = req.body(body).map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))?;
        let resp = self.sender.send_request(req).await.map_err(|e| Error::new(ErrorKind::Network, format!("request failed: {e}")))?;
        let status = resp.status();
        // A peer that closes after this answer (HTTP/1.0 without keep-alive, `Connection: close`)
        // is never sent another request on this connection.
        let says = |token: &str| {
            resp.headers()
                .get_all(hyper::header::CONNECTION)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        };
        self.closing = says("close") || (resp.version() == hyper::Version::HTTP_10 && !says("keep-alive"));
        let body = http_body_util::Limited::new(resp.into_body(), MAX_RESPONSE_BODY)
            .collect()
            .await
            .map_err(|e| Error::new(ErrorKind::Network, format!("reading response failed: {e}")))?
            .to_bytes();
        Ok(Reply { status, body })
    }

    async fn small(&mut self, method: Method, path: &str, body: Body, len: Option<u64>, ct: Option<&'static str>) -> Result<Reply> {
        tokio::time::timeout(SMALL_REQUEST_TIMEOUT, self.request_typed(method, path, body, len, ct, None))
            .await
            .map_err(|_| Error::new(ErrorKind::Timeout, "the peer did not answer in time"))?
    }

    fn device_from(&self, reply: &Reply) -> Result<RemoteDevice> {
        let info: DeviceInfo = serde_json::from_slice(&reply.body).map_err(|e| Error::protocol(format!("unexpected device info: {e}")))?;
        Ok(match &self.server_fingerprint {
            Some(fp) => RemoteDevice { fingerprint: fp.clone(), info, verified: true },
            None => RemoteDevice { fingerprint: info.fingerprint.clone(), info, verified: false },
        })
    }

    /// `POST v2/register` with our info; the answer is the peer's info.
    pub async fn register(&mut self, ours: &DeviceInfo) -> Result<RemoteDevice> {
        let body = serde_json::to_vec(ours).expect("serialisable");
        let len = body.len() as u64;
        let reply = self.small(Method::POST, &format!("{API_PREFIX}v2/register"), bytes_body(body), Some(len), Some(JSON)).await?;
        if reply.status != StatusCode::OK {
            return Err(Error::protocol(format!("register answered {}: {}", reply.status, reply.message())));
        }
        self.device_from(&reply)
    }

    /// `GET v2/info`.
    pub async fn info(&mut self) -> Result<RemoteDevice> {
        let reply = self.small(Method::GET, &format!("{API_PREFIX}v2/info"), empty_body(), None, None).await?;
        if reply.status != StatusCode::OK {
            return Err(Error::protocol(format!("info answered {}: {}", reply.status, reply.message())));
        }
        self.device_from(&reply)
    }

    /// `GET v1/info?fingerprint=` (what apps of protocol 1 answer).
    pub(crate) async fn info_v1(&mut self, our_fingerprint: &str) -> Result<RemoteDevice> {
        let path = format!("{API_PREFIX}v1/info?fingerprint={}", percent_encode(our_fingerprint));
        let reply = self.small(Method::GET, &path, empty_body(), None, None).await?;
        if reply.status != StatusCode::OK {
            return Err(Error::protocol(format!("info answered {}: {}", reply.status, reply.message())));
        }
        self.device_from(&reply)
    }

    /// `POST v2/prepare-upload`. Waits as long as the receiver's user takes to decide, but no
    /// longer than `wait`: a receiver silent for that long is `ErrorKind::Timeout`.
    pub(crate) async fn prepare_upload(&mut self, req: &PrepareUploadRequest, pin: Option<&str>, wait: Duration) -> Result<PrepareOutcome> {
        let body = serde_json::to_vec(req).expect("serialisable");
        let len = body.len() as u64;
        self.prepare_upload_body(bytes_body(body), len, pin, wait).await
    }

    /// [`Connection::prepare_upload`] with the request already written (`body`: its JSON, `len`
    /// bytes), the answer read as `R`.
    pub(crate) async fn prepare_upload_body<R: serde::de::DeserializeOwned>(
        &mut self,
        body: Body,
        len: u64,
        pin: Option<&str>,
        wait: Duration,
    ) -> Result<PrepareOutcome<R>> {
        let mut path = format!("{API_PREFIX}v2/prepare-upload");
        if let Some(pin) = pin {
            path.push_str("?pin=");
            path.push_str(&percent_encode(pin));
        }
        let reply = tokio::time::timeout(wait, self.request_typed(Method::POST, &path, body, Some(len), Some(JSON), None))
            .await
            .map_err(|_| stopped_answering(format!("no answer to the request in {}", seconds(wait))))??;
        match reply.status {
            StatusCode::OK => serde_json::from_slice(&reply.body)
                .map(PrepareOutcome::Accepted)
                .map_err(|e| Error::protocol(format!("unexpected prepare-upload answer: {e}"))),
            StatusCode::NO_CONTENT => Ok(PrepareOutcome::NothingToSend),
            StatusCode::UNAUTHORIZED => {
                let msg = reply.message();
                if pin.is_none() || msg.to_ascii_lowercase().contains("required") {
                    Err(Error::new(ErrorKind::PinRequired, "the receiver requires a PIN"))
                } else {
                    Err(Error::new(ErrorKind::InvalidPin, "the PIN is wrong"))
                }
            }
            StatusCode::FORBIDDEN => Err(Error::new(ErrorKind::Declined, "the receiver declined")),
            StatusCode::CONFLICT => Err(Error::new(ErrorKind::Busy, "the receiver is busy with another transfer")),
            StatusCode::TOO_MANY_REQUESTS => Err(Error::new(
                ErrorKind::TooManyAttempts,
                "too many wrong PINs: the receiver refuses this address for a while (an hour for a Ferry receiver)",
            )),
            s => Err(Error::protocol(format!("prepare-upload answered {s}: {}", reply.message()))),
        }
    }

    /// `POST v2/upload` with a streamed body of `size` bytes. The body must keep moving: when the
    /// connection takes no bytes of it for `deadlines.stall`, or the receiver does not answer
    /// within `deadlines.answer` of the body's end, the upload fails with `ErrorKind::Timeout`.
    pub async fn upload(
        &mut self,
        session_id: &str,
        file_id: &str,
        token: &str,
        body: Body,
        size: u64,
        deadlines: UploadDeadlines,
    ) -> Result<UploadStatus> {
        self.upload_from(session_id, file_id, token, body, size, 0, deadlines, None).await
    }

    /// [`Connection::upload`] of the bytes from `offset` on of a file of `size` bytes (Ferry's
    /// `resume`: `&offset=` on `v2/upload`; the body holds the `size - offset` bytes left).
    /// `after`: the body is sent chunked and ends with the trailer of that checksum
    /// ([`ChecksumAlgo::trailer_name`](crate::protocol::ChecksumAlgo::trailer_name), Ferry's
    /// `blake3After` or `sha256After`; the body yields it as its last frame).
    #[allow(clippy::too_many_arguments)]
    pub async fn upload_from(
        &mut self,
        session_id: &str,
        file_id: &str,
        token: &str,
        body: Body,
        size: u64,
        offset: u64,
        deadlines: UploadDeadlines,
        after: Option<crate::protocol::ChecksumAlgo>,
    ) -> Result<UploadStatus> {
        let mut path = format!(
            "{API_PREFIX}v2/upload?sessionId={}&fileId={}&token={}",
            percent_encode(session_id),
            percent_encode(file_id),
            percent_encode(token)
        );
        if offset > 0 {
            path.push_str(&format!("&offset={offset}"));
        }
        let size = size.saturating_sub(offset);
        // The receiver makes progress while the socket takes bytes or the connection pulls more
        // of the body (it does so only as its buffers drain).
        let progress = Arc::new(Mutex::new(BodyProgress { last: Instant::now(), taken: 0, ended: (size == 0).then(Instant::now) }));
        let watched = {
            let progress = progress.clone();
            body.map_frame(move |frame| {
                let mut p = progress.lock().unwrap();
                p.last = Instant::now();
                if let Some(data) = frame.data_ref() {
                    p.taken += data.len() as u64;
                    if p.taken >= size && p.ended.is_none() {
                        p.ended = Some(p.last);
                    }
                }
                frame
            })
            .boxed()
        };
        let written = self.written.clone();
        let watchdog = async {
            loop {
                let (due, failure) = {
                    let p = progress.lock().unwrap();
                    match p.ended {
                        Some(at) => {
                            (at + deadlines.answer, format!("no answer to the upload in {} after it was sent", seconds(deadlines.answer)))
                        }
                        None => (
                            p.last.max(written.last()) + deadlines.stall,
                            format!("it took no data for {} ({} of {size} bytes sent)", seconds(deadlines.stall), p.taken),
                        ),
                    }
                };
                if Instant::now() >= due {
                    return stopped_answering(failure);
                }
                // Look again soon: the body may end (and the answer deadline start) meanwhile.
                tokio::time::sleep_until(due.min(Instant::now() + WATCHDOG_TICK).into()).await;
            }
        };
        let reply = tokio::select! {
            r = self.request_typed(Method::POST, &path, watched, after.is_none().then_some(size), Some("application/octet-stream"),
                after.map(crate::protocol::ChecksumAlgo::trailer_name)) => r?,
            e = watchdog => return Err(e),
        };
        // What the receiver said, bounded (it is shown to a person, escaped).
        let said = || reply.message().chars().take(200).collect::<String>();
        Ok(match reply.status {
            StatusCode::OK | StatusCode::NO_CONTENT => UploadStatus::Ok,
            StatusCode::UNPROCESSABLE_ENTITY => UploadStatus::ChecksumMismatch,
            StatusCode::FORBIDDEN => {
                UploadStatus::Rejected(Error::new(ErrorKind::Cancelled, format!("the receiver refused the upload ({})", reply.message())))
            }
            // The receiver could not save the file (a full disk: 507; LocalSend answers 500 for it too).
            StatusCode::INSUFFICIENT_STORAGE => UploadStatus::Rejected(
                Error::new(ErrorKind::StorageFull, format!("the receiver could not save it: {}", said()))
                    .with_detail(Detail::ReceiverStorage),
            ),
            StatusCode::INTERNAL_SERVER_ERROR => UploadStatus::Rejected(
                Error::new(ErrorKind::Io, format!("the receiver could not save it: {}", said())).with_detail(Detail::ReceiverStorage),
            ),
            s => UploadStatus::Rejected(Error::protocol(format!("upload answered {s}: {}", reply.message()))),
        })
    }

    /// `POST v2/cancel?sessionId=` (answered within the small-request deadline).
    pub async fn cancel(&mut self, session_id: &str) -> Result<()> {
        let path = format!("{API_PREFIX}v2/cancel?sessionId={}", percent_encode(session_id));
        self.small(Method::POST, &path, empty_body(), Some(0), None).await.map(|_| ())
    }
}

/// How long an upload may wait on the receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadDeadlines {
    /// The longest time the connection may take none of the body.
    pub stall: Duration,
    /// The longest wait for the answer once the whole body is handed to the connection.
    pub answer: Duration,
}

struct BodyProgress {
    last: Instant,
    taken: u64,
    ended: Option<Instant>,
}

/// The error of a receiver that went silent (`ErrorKind::Timeout`; `ferry` exits with 3).
pub(crate) fn stopped_answering(detail: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Timeout, format!("the receiver stopped answering: {detail}"))
}

fn seconds(d: Duration) -> String {
    if d.as_millis().is_multiple_of(1000) {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_addresses() {
        let p = PeerAddr::parse("10.0.0.2", Protocol::Https).unwrap();
        assert_eq!((p.host.as_str(), p.port), ("10.0.0.2", 53317));
        let p = PeerAddr::parse("host:1234", Protocol::Http).unwrap();
        assert_eq!((p.host.as_str(), p.port), ("host", 1234));
        let p = PeerAddr::parse("[::1]:99", Protocol::Https).unwrap();
        assert_eq!((p.host.as_str(), p.port, p.authority()), ("::1", 99, "[::1]:99".to_string()));
        let p = PeerAddr::parse("fe80::1", Protocol::Https).unwrap();
        assert_eq!(p.port, 53317);
        assert!(PeerAddr::parse("host:x", Protocol::Https).is_err());
        assert!(PeerAddr::parse("", Protocol::Https).is_err());
        let p = PeerAddr::parse("[fe80::1%3]:80", Protocol::Https).unwrap();
        assert_eq!(p.socket_addr(), Some(std::net::SocketAddr::V6(std::net::SocketAddrV6::new("fe80::1".parse().unwrap(), 80, 0, 3))));
        assert_eq!(PeerAddr::parse("example.org", Protocol::Https).unwrap().socket_addr(), None);
    }
}
