//! Test support: in-process Ferry nodes with a scriptable handler, and a raw HTTP/1.1 client
//! that can send exactly what a conformance test needs (bad bodies, wrong IPs, no certificate).

use ferry_core::identity::Identity;
use ferry_core::protocol::{DeviceType, Protocol};
use ferry_core::server::{
    self, Decision, DecisionReply, IncomingRequest, ReceiveEvent, ReceiveHandler, ReceivePolicy, SenderInfo, ServerHandle, ServerOptions,
};
use ferry_core::storage::ReceiveDir;
use ferry_core::trust::TrustStore;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// What the scripted handler answers to requests.
#[derive(Clone, Debug)]
pub enum Answer {
    AcceptAll,
    Decline,
    /// Accept the files whose names are listed.
    AcceptNames(Vec<String>),
    /// Never answer (the request stays pending).
    Hold,
}

#[derive(Default)]
pub struct Recorded {
    pub requests: Vec<IncomingRequest>,
    pub texts: Vec<(SenderInfo, String)>,
    pub events: Vec<ReceiveEvent>,
    held: Vec<DecisionReply>,
}

pub struct Scripted {
    pub answer: Mutex<Answer>,
    pub rec: Mutex<Recorded>,
}

impl Scripted {
    pub fn new(answer: Answer) -> Arc<Scripted> {
        Arc::new(Scripted { answer: Mutex::new(answer), rec: Mutex::new(Recorded::default()) })
    }
    pub fn events(&self) -> Vec<ReceiveEvent> {
        self.rec.lock().unwrap().events.clone()
    }
    pub fn requests(&self) -> Vec<IncomingRequest> {
        self.rec.lock().unwrap().requests.clone()
    }
    pub fn texts(&self) -> Vec<(SenderInfo, String)> {
        self.rec.lock().unwrap().texts.clone()
    }
    /// Waits (bounded) until an event matches.
    pub async fn wait_event(&self, what: &str, f: impl Fn(&ReceiveEvent) -> bool) -> ReceiveEvent {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if let Some(e) = self.events().into_iter().find(|e| f(e)) {
                return e;
            }
            if std::time::Instant::now() >= deadline {
                panic!("no event {what} within {WAIT:?}; got {:?}", self.events());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl ReceiveHandler for Scripted {
    fn on_request(&self, request: IncomingRequest, reply: DecisionReply) {
        let answer = self.answer.lock().unwrap().clone();
        let mut rec = self.rec.lock().unwrap();
        rec.requests.push(request.clone());
        match answer {
            Answer::AcceptAll => reply.send(Decision::AcceptAll),
            Answer::Decline => reply.send(Decision::Decline),
            Answer::AcceptNames(names) => {
                reply.send(Decision::Accept(request.files.iter().filter(|f| names.contains(&f.file_name)).map(|f| f.id.clone()).collect()))
            }
            Answer::Hold => rec.held.push(reply),
        }
    }
    fn on_text(&self, sender: &SenderInfo, text: &str) {
        self.rec.lock().unwrap().texts.push((sender.clone(), text.to_string()));
    }
    fn on_event(&self, event: ReceiveEvent) {
        self.rec.lock().unwrap().events.push(event);
    }
}

/// A Ferry receiver on 127.0.0.1 with its own temporary config and destination.
pub struct Node {
    pub handle: ServerHandle,
    pub handler: Arc<Scripted>,
    pub identity: Identity,
    pub dir: tempfile::TempDir,
    pub trust: Arc<TrustStore>,
}

pub struct NodeConfig {
    pub https: bool,
    pub pin: Option<String>,
    pub policy: ReceivePolicy,
    pub answer: Answer,
    pub trusted: Vec<String>,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig { https: true, pin: None, policy: ReceivePolicy::Ask, answer: Answer::AcceptAll, trusted: vec![] }
    }
}

impl Node {
    pub async fn start(cfg: NodeConfig) -> Node {
        let identity = Identity::generate().unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("in")).unwrap();
        let trust = Arc::new(TrustStore::in_memory());
        for fp in &cfg.trusted {
            trust.add(fp, None).unwrap();
        }
        let protocol = if cfg.https { Protocol::Https } else { Protocol::Http };
        let info = ferry_core::protocol::device_info("Receiver", DeviceType::Headless, "Linux", identity.fingerprint(), 0, protocol);
        let handler = Scripted::new(cfg.answer);
        let opts = ServerOptions {
            identity: identity.clone(),
            info,
            bind: "127.0.0.1:0".parse().unwrap(),
            https: cfg.https,
            receive_dir: ReceiveDir::new(&dir.path().join("in")).unwrap(),
            pin: cfg.pin,
            policy: cfg.policy,
            trust: trust.clone(),
            verify_checksums: true,
        };
        let handle = server::start(opts, handler.clone()).await.unwrap();
        Node { handle, handler, identity, dir, trust }
    }
    pub fn addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }
    pub fn inbox(&self) -> PathBuf {
        self.dir.path().join("in").canonicalize().unwrap()
    }
    /// Every entry below the destination, relative, sorted (temporary files included).
    pub fn listing(&self) -> Vec<String> {
        list_tree(&self.inbox())
    }
}

pub fn list_tree(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if e.file_type().unwrap().is_dir() {
                out.push(format!("{rel}/"));
                walk(root, &p, out);
            } else {
                out.push(rel);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// How the raw client connects.
#[derive(Clone)]
pub struct Raw {
    pub addr: SocketAddr,
    /// None: plain HTTP. Some(None): TLS without a client certificate. Some(Some(id)): with one.
    pub tls: Option<Option<Identity>>,
    /// Source address (any 127.x.y.z works on Linux loopback).
    pub source: IpAddr,
}

pub struct RawResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }
    pub fn message(&self) -> String {
        self.json()["message"].as_str().unwrap_or_default().to_string()
    }
}

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

impl Raw {
    pub fn https(addr: SocketAddr, id: Option<Identity>) -> Raw {
        Raw { addr, tls: Some(id), source: "127.0.0.1".parse().unwrap() }
    }
    pub fn http(addr: SocketAddr) -> Raw {
        Raw { addr, tls: None, source: "127.0.0.1".parse().unwrap() }
    }
    pub fn from_source(mut self, ip: &str) -> Raw {
        self.source = ip.parse().unwrap();
        self
    }

    pub async fn connect(&self) -> Box<dyn Io> {
        self.try_connect().await.unwrap()
    }

    /// [`Raw::connect`] that reports a failure (refused, TLS) instead of panicking.
    pub async fn try_connect(&self) -> Result<Box<dyn Io>, String> {
        let sock = TcpSocket::new_v4().map_err(|e| e.to_string())?;
        sock.bind(SocketAddr::new(self.source, 0)).map_err(|e| format!("bind {}: {e}", self.source))?;
        let tcp: TcpStream = sock.connect(self.addr).await.map_err(|e| format!("connect: {e}"))?;
        Ok(match &self.tls {
            None => Box::new(tcp),
            Some(id) => {
                let config = match id {
                    Some(id) => ferry_core::tls::client_config(id, None).unwrap(),
                    None => ferry_core::tls::client_config_without_cert(None).unwrap(),
                };
                let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
                Box::new(tokio_rustls::TlsConnector::from(config).connect(name, tcp).await.map_err(|e| format!("TLS: {e}"))?)
            }
        })
    }

    /// One request with a complete body; the connection is closed afterwards.
    pub async fn send(&self, method: &str, path: &str, body: &[u8]) -> RawResponse {
        let mut s = self.connect().await;
        let head = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(body).await.unwrap();
        s.flush().await.unwrap();
        read_response(&mut s).await
    }

    pub async fn post_json(&self, path: &str, v: &serde_json::Value) -> RawResponse {
        self.send("POST", path, v.to_string().as_bytes()).await
    }
}

/// Reads one HTTP/1.1 response (Content-Length bodies or none).
pub async fn read_response(s: &mut (impl AsyncRead + Unpin + ?Sized)) -> RawResponse {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut tmp)).await.expect("response within 10 s").unwrap();
        assert!(n > 0, "connection closed before a response: {:?}", String::from_utf8_lossy(&buf));
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let len: usize =
        head.lines().find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap())).unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut tmp)).await.expect("body within 10 s").unwrap();
        assert!(n > 0, "connection closed mid-body");
        body.extend_from_slice(&tmp[..n]);
    }
    body.truncate(len);
    RawResponse { status, body }
}

/// A prepare-upload body for `files` (name, content), with sha256.
pub fn prepare_body(fingerprint: &str, files: &[(&str, &[u8])]) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for (i, (name, data)) in files.iter().enumerate() {
        let id = format!("f{i}");
        map.insert(
            id.clone(),
            serde_json::json!({"id": id, "fileName": name, "size": data.len(), "fileType": "application/octet-stream", "sha256": sha256_hex(data)}),
        );
    }
    serde_json::json!({
        "info": {"alias": "Raw Sender", "version": "2.1", "deviceModel": null, "deviceType": "desktop",
                  "fingerprint": fingerprint, "port": 53317, "protocol": "https", "download": false},
        "files": map
    })
}

/// Waits (bounded) until `f` holds.
pub async fn eventually(what: &str, f: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + WAIT;
    while !f() {
        assert!(std::time::Instant::now() < deadline, "not within {WAIT:?}: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// How long [`eventually`] and [`Scripted::wait_event`] wait for what a test expects: generous,
/// since a loaded 2-core machine can be slow; a passing test never waits that long.
pub const WAIT: Duration = Duration::from_secs(10);

pub mod fuzz_checks;
pub mod hostile;
