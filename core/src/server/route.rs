//! Routing requests to their handlers, reading and parsing bounded bodies, and `register`.

use super::*;

pub(super) type Resp = Response<Full<Bytes>>;

pub(super) fn empty(status: StatusCode) -> Resp {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = status;
    r
}

pub(super) fn json_bytes(status: StatusCode, body: Bytes) -> Resp {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    r.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    r
}

pub(super) fn message(status: StatusCode, msg: &str) -> Resp {
    let body = serde_json::to_vec(&ErrorBody { message: msg.to_string() }).expect("serialisable");
    json_bytes(status, Bytes::from(body))
}

pub(super) async fn route(shared: Arc<Shared>, ip: IpAddr, scope: u32, peer_fp: Option<&str>, req: Request<Incoming>) -> Resp {
    let path = req.uri().path().trim_end_matches('/').to_string();
    let Some(endpoint) = path.strip_prefix(crate::protocol::API_PREFIX) else {
        return message(StatusCode::NOT_FOUND, "Not found");
    };
    match (req.method(), endpoint) {
        (&Method::POST, "v2/register") | (&Method::POST, "v1/register") => register(&shared, ip, scope, peer_fp, req).await,
        (&Method::GET, "v2/info") | (&Method::GET, "v1/info") => json_bytes(StatusCode::OK, shared.info_bytes()),
        (&Method::POST, "v2/prepare-upload") => prepare_upload(&shared, ip, peer_fp, req).await,
        (&Method::POST, "v2/upload") => upload(&shared, ip, peer_fp, req).await,
        (&Method::POST, "v2/resume") => resume_probe(&shared, ip, peer_fp, req).await,
        (&Method::POST, "v2/cancel") => cancel(&shared, ip, peer_fp, req),
        (_, "v2/register" | "v1/register" | "v2/info" | "v1/info" | "v2/prepare-upload" | "v2/upload" | "v2/cancel" | "v2/resume") => {
            message(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed")
        }
        _ => message(StatusCode::NOT_FOUND, "Not found"),
    }
}

/// Reads a whole body into chunks, counting its bytes against a shared budget (the returned hold
/// keeps them until it is dropped): the small one for bodies up to [`MAX_SMALL_BODY`], else the
/// JSON one. `trusted`: the connection's certificate is a trusted device's (it may use the whole
/// budget and its reserve). The body must arrive at [`ServerLimits::min_body_rate`] (its
/// deadline follows from its length), never later than `cap`.
pub(super) async fn read_body(
    shared: &Shared,
    req: Request<Incoming>,
    ip: IpAddr,
    trusted: bool,
    limit: usize,
    cap: Duration,
) -> std::result::Result<(BodyChunks, BudgetHold), Resp> {
    let declared =
        req.headers().get(hyper::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    let budget = if limit <= MAX_SMALL_BODY { shared.small_budget.clone() } else { shared.json_budget.clone() };
    // A stranger's body may never be bigger than one address's share.
    let limit = if trusted { limit } else { limit.min(budget.per_address) };
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(message(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large"));
    }
    let length = declared.unwrap_or(limit as u64);
    let rate = shared.limits.min_body_rate.max(1);
    let deadline = (shared.limits.body_grace + Duration::from_millis(length.saturating_mul(1000) / rate)).min(cap);
    let mut body = req.into_body();
    let read = async move {
        let mut held = BudgetHold { budget, key: share_key(ip), trusted, held: 0 };
        let mut chunks = std::collections::VecDeque::new();
        let mut total = 0usize;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| message(StatusCode::BAD_REQUEST, "Request body incomplete"))?;
            let Ok(data) = frame.into_data() else { continue };
            total += data.len();
            if total > limit {
                return Err(message(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large"));
            }
            if !held.try_add(data.len()) {
                return Err(message(StatusCode::SERVICE_UNAVAILABLE, "Busy; try again later"));
            }
            chunks.push_back(data);
        }
        Ok((BodyChunks(chunks), held))
    };
    match tokio::time::timeout(deadline, read).await {
        Ok(r) => r,
        Err(_) => Err(message(StatusCode::REQUEST_TIMEOUT, "Request body too slow")),
    }
}

/// A body as received, read (and freed) front to back.
pub(super) struct BodyChunks(std::collections::VecDeque<Bytes>);

impl std::io::Read for BodyChunks {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while let Some(front) = self.0.front_mut() {
            if front.is_empty() {
                self.0.pop_front();
                continue;
            }
            let n = front.len().min(buf.len());
            buf[..n].copy_from_slice(&front[..n]);
            bytes::Buf::advance(front, n);
            return Ok(n);
        }
        Ok(0)
    }
}

pub(super) async fn read_json<T: serde::de::DeserializeOwned>(
    shared: &Shared,
    req: Request<Incoming>,
    ip: IpAddr,
    trusted: bool,
    limit: usize,
    deadline: Duration,
) -> std::result::Result<T, Resp> {
    let (chunks, _hold) = read_body(shared, req, ip, trusted, limit, deadline).await?;
    parse_chunks(chunks)
}

pub(super) fn parse_chunks<T: serde::de::DeserializeOwned>(mut chunks: BodyChunks) -> std::result::Result<T, Resp> {
    let parsed = if chunks.0.len() <= 1 {
        serde_json::from_slice(chunks.0.front().map(|b| &b[..]).unwrap_or_default())
    } else {
        // Parsed straight from the chunks, never copied into one buffer.
        serde_json::from_reader(std::io::BufReader::with_capacity(64 * 1024, &mut chunks))
    };
    parsed.map_err(|e| message(StatusCode::BAD_REQUEST, &format!("Invalid body: {e}")))
}

pub(super) async fn register(shared: &Arc<Shared>, ip: IpAddr, scope: u32, peer_fp: Option<&str>, req: Request<Incoming>) -> Resp {
    let trusted = peer_fp.is_some_and(|fp| shared.opts.trust.is_trusted(fp));
    let mut info: DeviceInfo = match read_json(shared, req, ip, trusted, MAX_SMALL_BODY, shared.limits.small_body_timeout).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    // Over TLS a register only counts when the body fingerprint is the certificate's.
    let verified = match peer_fp {
        Some(fp) => {
            if !info.fingerprint.eq_ignore_ascii_case(fp) {
                tracing::debug!("register from {ip}: body fingerprint does not match its certificate; not counted");
                return json_bytes(StatusCode::OK, shared.info_bytes());
            }
            info.fingerprint = fp.to_string();
            true
        }
        None => false,
    };
    if !info.fingerprint.eq_ignore_ascii_case(shared.opts.identity.fingerprint()) {
        let from = match ip {
            IpAddr::V6(v6) => SocketAddr::V6(std::net::SocketAddrV6::new(v6, 0, 0, scope)),
            IpAddr::V4(v4) => SocketAddr::from((v4, 0)),
        };
        shared.handler.on_register(&info, verified, from);
    }
    json_bytes(StatusCode::OK, shared.info_bytes())
}
