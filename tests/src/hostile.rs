//! The hostile-input suite's harness (tests/tests/hostile.rs): a receiver whose destination
//! sits three folders deep in its own temporary tree, a client that never panics on what a
//! hostile exchange does to a connection, and the checks every attack ends with:
//!
//! * the receiver is alive (`GET /api/localsend/v2/info` answers 200),
//! * nothing appeared or changed anywhere in the temporary tree outside the destination,
//! * once the session ended, no `.ferry-*.part` file is left,
//! * an honest transfer (a sender with a certificate, from its own address) succeeds afterwards.

use crate::{prepare_body, sha256_hex, Answer, Io, Raw, RawResponse, Scripted};
use ferry_core::identity::Identity;
use ferry_core::protocol::{DeviceType, Protocol};
use ferry_core::server::{self, ReceivePolicy, ServerHandle, ServerLimits, ServerOptions};
use ferry_core::storage::ReceiveDir;
use ferry_core::trust::TrustStore;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const PREPARE: &str = "/api/localsend/v2/prepare-upload";
pub const INFO: &str = "/api/localsend/v2/info";
/// The honest device's address; attacks use other 127.x.y.z sources.
pub const HONEST_IP: &str = "127.0.0.1";
/// Where the destination sits in the temporary tree: three levels of climbing stay inside it.
pub const DEST_REL: &str = "home/user/dest";

/// How the receiver under attack is set up.
#[derive(Clone)]
pub struct TargetConfig {
    pub https: bool,
    pub pin: Option<String>,
    pub policy: ReceivePolicy,
    pub answer: Answer,
    pub limits: ServerLimits,
    /// The receiver's alias (what senders are shown).
    pub alias: String,
}

/// The server's limits with its timeouts shortened so that slow and stalled attacks end within
/// seconds (the mechanisms are the same as with Ferry's defaults).
pub fn test_limits() -> ServerLimits {
    ServerLimits {
        body_stall_timeout: Duration::from_millis(1500),
        session_idle_timeout: Duration::from_secs(4),
        small_body_timeout: Duration::from_secs(2),
        large_body_timeout: Duration::from_secs(3),
        header_timeout: Duration::from_secs(2),
        pin_lock_base: Duration::from_millis(500),
        pin_lock_max: Duration::from_secs(2),
        ..ServerLimits::default()
    }
}

impl Default for TargetConfig {
    fn default() -> Self {
        TargetConfig {
            https: true,
            pin: None,
            policy: ReceivePolicy::AcceptAll,
            answer: Answer::AcceptAll,
            limits: test_limits(),
            alias: "Target".into(),
        }
    }
}

/// A receiver under attack, in its own temporary tree:
/// `root/home/user/dest` (the destination), `root/home/user/notes.txt`, `root/outside/keep.txt`.
pub struct Target {
    pub handle: ServerHandle,
    pub handler: Arc<Scripted>,
    pub identity: Identity,
    pub cfg: TargetConfig,
    pub root: tempfile::TempDir,
    /// The destination, canonical.
    pub dest: PathBuf,
    pub trust: Arc<TrustStore>,
}

/// Every entry of a tree (symlinks not followed): relative path -> kind and content digest.
pub type Snapshot = BTreeMap<String, String>;

pub fn snapshot(root: &Path, skip: Option<&Path>) -> Snapshot {
    fn walk(root: &Path, dir: &Path, skip: Option<&Path>, out: &mut Snapshot) {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if Some(p.as_path()) == skip {
                continue;
            }
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let Ok(meta) = std::fs::symlink_metadata(&p) else { continue };
            let what = if meta.file_type().is_symlink() {
                format!("symlink -> {:?}", std::fs::read_link(&p).ok())
            } else if meta.is_dir() {
                "dir".to_string()
            } else {
                format!("file {} bytes, sha256 {}", meta.len(), sha256_hex(&std::fs::read(&p).unwrap_or_default()))
            };
            out.insert(rel, what);
            if meta.is_dir() {
                walk(root, &p, skip, out);
            }
        }
    }
    let mut out = Snapshot::new();
    walk(root, root, skip, &mut out);
    out
}

/// Partial files below `dir` (`.ferry-*.part`).
pub fn part_files(dir: &Path) -> Vec<String> {
    snapshot(dir, None)
        .into_keys()
        .filter(|p| {
            let name = p.rsplit('/').next().unwrap();
            name.starts_with(ferry_core::storage::TEMP_PREFIX) && name.ends_with(ferry_core::storage::TEMP_SUFFIX)
        })
        .collect()
}

impl Target {
    pub async fn start(cfg: TargetConfig) -> Target {
        let identity = Identity::generate().unwrap();
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join(DEST_REL);
        std::fs::create_dir_all(&dest).unwrap();
        std::fs::create_dir_all(root.path().join("outside")).unwrap();
        std::fs::write(root.path().join("outside/keep.txt"), b"keep").unwrap();
        std::fs::write(root.path().join("home/user/notes.txt"), b"notes").unwrap();
        let trust = Arc::new(TrustStore::in_memory());
        let protocol = if cfg.https { Protocol::Https } else { Protocol::Http };
        let info = ferry_core::protocol::device_info(&cfg.alias, DeviceType::Headless, "Linux", identity.fingerprint(), 0, protocol);
        let handler = Scripted::new(cfg.answer.clone());
        let receive_dir = ReceiveDir::new(&dest).unwrap();
        let dest = receive_dir.root().to_path_buf();
        let opts = ServerOptions {
            identity: identity.clone(),
            info,
            bind: "127.0.0.1:0".parse().unwrap(),
            https: cfg.https,
            receive_dir,
            pin: cfg.pin.clone(),
            policy: cfg.policy,
            trust: trust.clone(),
            verify_checksums: true,
        };
        let handle = server::start_with_limits(opts, cfg.limits.clone(), handler.clone()).await.unwrap();
        Target { handle, handler, identity, cfg, root, dest, trust }
    }

    pub fn addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }

    /// A raw client from `source` (TLS without a client certificate when the target is HTTPS).
    pub fn raw(&self, source: &str) -> Raw {
        let tls = if self.cfg.https { Some(None) } else { None };
        Raw { addr: self.addr(), tls, source: source.parse().unwrap() }
    }

    /// The same with a client certificate of its own.
    pub fn raw_with_cert(&self, source: &str, id: &Identity) -> Raw {
        let tls = if self.cfg.https { Some(Some(id.clone())) } else { None };
        Raw { addr: self.addr(), tls, source: source.parse().unwrap() }
    }

    /// Everything in the temporary tree except the destination.
    pub fn outside(&self) -> Snapshot {
        let root = self.root.path().canonicalize().unwrap();
        snapshot(&root, Some(&self.dest))
    }

    /// Entries below the destination (relative).
    pub fn inside(&self) -> Vec<String> {
        snapshot(&self.dest, None).into_keys().collect()
    }

    /// PIN query suffix for the honest sender.
    fn pin_query(&self) -> String {
        self.cfg.pin.as_ref().map(|p| format!("?pin={p}")).unwrap_or_default()
    }

    /// The checks every attack ends with (see the module documentation).
    pub async fn verify(&self, before: &Snapshot) -> Result<(), String> {
        // Alive.
        let r = exchange(&self.raw(HONEST_IP), "GET", INFO, "", b"").await.map_err(|e| format!("receiver not answering v2/info: {e}"))?;
        if r.status != 200 {
            return Err(format!("v2/info answered {}", r.status));
        }
        // Nothing outside.
        let after = self.outside();
        if &after != before {
            let added: Vec<_> = after.iter().filter(|(k, v)| before.get(*k) != Some(v)).map(|(k, v)| format!("{k} ({v})")).collect();
            let gone: Vec<_> = before.keys().filter(|k| !after.contains_key(*k)).collect();
            return Err(format!("outside the destination: new or changed {added:?}, removed {gone:?}"));
        }
        // The session ends (the person at the receiver cancels what is left); no partial file.
        self.handle.cancel_session();
        wait_until(Duration::from_secs(10), || !self.handle.busy())
            .await
            .map_err(|_| "session still busy 10 s after cancel".to_string())?;
        wait_until(Duration::from_secs(10), || part_files(&self.dest).is_empty())
            .await
            .map_err(|_| format!("partial files left: {:?}", part_files(&self.dest)))?;
        // An honest transfer.
        self.honest_transfer().await
    }

    /// A sender with its own certificate sends one file from [`HONEST_IP`]; it must arrive.
    pub async fn honest_transfer(&self) -> Result<(), String> {
        let me = Identity::generate().unwrap();
        // The person at the receiver trusts the honest device (trusted-only and asking
        // receivers let it in without a question), and answers yes from now on.
        self.trust.add(me.fingerprint(), Some("Honest".into())).map_err(|e| e.to_string())?;
        *self.handler.answer.lock().unwrap() = Answer::AcceptAll;
        let raw = self.raw_with_cert(HONEST_IP, &me);
        let data = b"an honest file".to_vec();
        let name = format!("honest-{}.txt", ferry_core::random_id());
        let body = prepare_body(me.fingerprint(), &[(&name, &data)]);
        // A PIN lock (429) ends within pin_lock_max; a session being torn down (409) at once.
        let deadline = Instant::now() + self.cfg.limits.pin_lock_max + Duration::from_secs(5);
        let r = loop {
            let r = exchange(&raw, "POST", &format!("{PREPARE}{}", self.pin_query()), "", body.to_string().as_bytes())
                .await
                .map_err(|e| format!("honest prepare-upload: {e}"))?;
            if (r.status == 429 || r.status == 409) && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            break r;
        };
        if r.status != 200 {
            return Err(format!("honest prepare-upload answered {}: {}", r.status, String::from_utf8_lossy(&r.body)));
        }
        let v: serde_json::Value = serde_json::from_slice(&r.body).map_err(|e| format!("honest prepare-upload body: {e}"))?;
        let path = upload_path(v["sessionId"].as_str().unwrap_or(""), "f0", v["files"]["f0"].as_str().unwrap_or(""));
        let r = exchange(&raw, "POST", &path, "", &data).await.map_err(|e| format!("honest upload: {e}"))?;
        if r.status != 200 {
            return Err(format!("honest upload answered {}: {}", r.status, String::from_utf8_lossy(&r.body)));
        }
        match std::fs::read(self.dest.join(&name)) {
            Ok(d) if d == data => Ok(()),
            other => Err(format!("honest file not saved as sent: {other:?}")),
        }
    }
}

pub fn upload_path(session: &str, file: &str, token: &str) -> String {
    format!("/api/localsend/v2/upload?sessionId={session}&fileId={file}&token={token}")
}

/// Polls `f` every 10 ms until it holds or `limit` passes.
pub async fn wait_until(limit: Duration, f: impl Fn() -> bool) -> Result<(), ()> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if f() {
        Ok(())
    } else {
        Err(())
    }
}

/// Connects (TCP, then TLS when `raw.tls` says so) within 10 s; errors are values, not panics.
pub async fn connect(raw: &Raw) -> Result<Box<dyn Io>, String> {
    connect_within(raw, Duration::from_secs(10)).await
}

pub async fn connect_within(raw: &Raw, limit: Duration) -> Result<Box<dyn Io>, String> {
    tokio::time::timeout(limit, raw.try_connect()).await.map_err(|_| "connect timed out".to_string())?
}

/// Reads one response within `limit`; a closed connection or a timeout is an error value.
pub async fn read_response_within(s: &mut (impl tokio::io::AsyncRead + Unpin + ?Sized), limit: Duration) -> Result<RawResponse, String> {
    let fut = async {
        let mut buf = Vec::new();
        let mut tmp = [0u8; 8192];
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = s.read(&mut tmp).await.map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err("closed before a response".to_string());
            }
            buf.extend_from_slice(&tmp[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let status: u16 = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| format!("bad head {head:?}"))?;
        let len: usize = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0);
        let mut body = buf[head_end..].to_vec();
        while body.len() < len {
            let n = s.read(&mut tmp).await.map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&tmp[..n]);
        }
        body.truncate(len);
        Ok(RawResponse { status, body })
    };
    tokio::time::timeout(limit, fut).await.map_err(|_| "no response in time".to_string())?
}

/// One request on its own connection; write errors are ignored (a server may answer and close
/// before reading a hostile body), then the response is read within 15 s.
pub async fn exchange(raw: &Raw, method: &str, path: &str, extra_headers: &str, body: &[u8]) -> Result<RawResponse, String> {
    let head = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n{extra_headers}Connection: close\r\n\r\n", body.len());
    exchange_raw(raw, head.as_bytes(), body).await
}

/// Sends `head` (complete request head) and `body` as given, then reads a response.
pub async fn exchange_raw(raw: &Raw, head: &[u8], body: &[u8]) -> Result<RawResponse, String> {
    exchange_raw_within(raw, head, body, Duration::from_secs(15)).await
}

/// [`exchange_raw`] waiting up to `limit` for the response.
pub async fn exchange_raw_within(raw: &Raw, head: &[u8], body: &[u8], limit: Duration) -> Result<RawResponse, String> {
    let mut s = connect(raw).await?;
    let write = async {
        s.write_all(head).await?;
        for chunk in body.chunks(256 * 1024) {
            s.write_all(chunk).await?;
        }
        s.flush().await
    };
    let _ = tokio::time::timeout(limit, write).await;
    read_response_within(&mut s, limit).await
}

pub async fn post_json(raw: &Raw, path: &str, v: &serde_json::Value) -> Result<RawResponse, String> {
    exchange(raw, "POST", path, "", v.to_string().as_bytes()).await
}

/// A prepare-upload body with a claimed sender `alias`.
pub fn prepare_as(alias: &str, files: &[(&str, &[u8])]) -> serde_json::Value {
    let mut v = prepare_body("HOSTILE", files);
    v["info"]["alias"] = serde_json::Value::String(alias.to_string());
    v
}

/// Attacker source addresses: distinct 127.x.y.z, never [`HONEST_IP`].
pub fn attacker_ip(n: u32) -> String {
    let n = n % (250 * 250 * 250);
    format!("127.{}.{}.{}", 10 + n / 62_500, (n / 250) % 250, 2 + n % 250)
}

/// Prepares `files` from `raw` and uploads every accepted file with its own content; returns
/// the prepare status and the upload statuses. Used by the name attacks.
pub async fn send_files(raw: &Raw, body: &serde_json::Value, files: &[(&str, &[u8])]) -> Result<(u16, Vec<u16>), String> {
    let r = post_json(raw, PREPARE, body).await?;
    if r.status != 200 {
        return Ok((r.status, vec![]));
    }
    let v: serde_json::Value = serde_json::from_slice(&r.body).map_err(|e| e.to_string())?;
    let sid = v["sessionId"].as_str().unwrap_or("").to_string();
    let mut statuses = Vec::new();
    for (i, (_, data)) in files.iter().enumerate() {
        let id = format!("f{i}");
        if let Some(tok) = v["files"][&id].as_str() {
            statuses.push(exchange(raw, "POST", &upload_path(&sid, &id, tok), "", data).await?.status);
        }
    }
    Ok((200, statuses))
}

/// Where the ferry binary of this build is (`FERRY_BIN`, or next to the test executable's
/// `deps/` folder); `None` when it was not built.
pub fn ferry_bin() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("FERRY_BIN") {
        return Some(PathBuf::from(p));
    }
    let exe = std::env::current_exe().ok()?;
    let p = exe.parent()?.parent()?.join("ferry");
    p.exists().then_some(p)
}

/// True when `ip` is usable as a source address (any 127.x.y.z on Linux).
pub fn source_ok(ip: &str) -> bool {
    let ip: IpAddr = ip.parse().unwrap();
    std::net::UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}
