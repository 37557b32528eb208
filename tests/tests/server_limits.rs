//! Hostile load against Ferry's server, over real TLS on loopback: PIN guessing from many
//! addresses, stalled uploads, slow bodies, connection floods from one address, folder bombs.
//! Every case checks that the attack fails, the receiver stays alive, no partial file is left,
//! and an honest transfer succeeds afterwards. Timeouts are shortened through `ServerLimits`.

use ferry_core::identity::Identity;
use ferry_core::protocol::{DeviceType, Protocol};
use ferry_core::server::{self, ReceiveEvent, ReceivePolicy, ServerHandle, ServerLimits, ServerOptions, SessionOutcome};
use ferry_core::storage::ReceiveDir;
use ferry_core::trust::TrustStore;
use ferry_tests::*;
use serde_json::json;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const P: &str = "/api/localsend/v2/prepare-upload";

/// A receiver like `ferry_tests::Node`, with its own limits.
struct LNode {
    handle: ServerHandle,
    handler: Arc<Scripted>,
    _dir: tempfile::TempDir,
    inbox: PathBuf,
}

impl LNode {
    async fn start(pin: Option<&str>, trusted: &[&str], limits: ServerLimits) -> LNode {
        LNode::start_with(pin, trusted, limits, ReceivePolicy::Ask).await
    }
    async fn start_with(pin: Option<&str>, trusted: &[&str], limits: ServerLimits, policy: ReceivePolicy) -> LNode {
        let identity = Identity::generate().unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("in")).unwrap();
        let trust = Arc::new(TrustStore::in_memory());
        for fp in trusted {
            trust.add(fp, None).unwrap();
        }
        let info = ferry_core::protocol::device_info("Receiver", DeviceType::Headless, "Linux", identity.fingerprint(), 0, Protocol::Https);
        let handler = Scripted::new(Answer::AcceptAll);
        let opts = ServerOptions {
            identity: identity.clone(),
            info,
            bind: "127.0.0.1:0".parse().unwrap(),
            https: true,
            receive_dir: ReceiveDir::new(&dir.path().join("in")).unwrap(),
            pin: pin.map(str::to_string),
            policy,
            trust,
            verify_checksums: true,
        };
        let handle = server::start_with_limits(opts, limits, handler.clone()).await.unwrap();
        let inbox = dir.path().join("in").canonicalize().unwrap();
        LNode { handle, handler, _dir: dir, inbox }
    }
    fn addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }
    /// Nothing half-written is left in the destination.
    fn assert_no_partial(&self) {
        let left: Vec<String> = list_tree(&self.inbox).into_iter().filter(|e| e.contains(".ferry-") || e.ends_with(".part")).collect();
        assert!(left.is_empty(), "partial files left: {left:?}");
    }
    /// A whole honest transfer (prepare + upload) from `raw`, within `within`.
    async fn honest(&self, raw: &Raw, pin: Option<&str>, name: &str, within: Duration) {
        let data = format!("honest data for {name}").into_bytes();
        let q = pin.map(|p| format!("?pin={p}")).unwrap_or_default();
        let work = async {
            let r = raw.post_json(&format!("{P}{q}"), &prepare_body("HONEST", &[(name, &data)])).await;
            assert_eq!(r.status, 200, "honest prepare-upload: {}", String::from_utf8_lossy(&r.body));
            let v = r.json();
            let (sid, token) = (v["sessionId"].as_str().unwrap().to_string(), v["files"]["f0"].as_str().unwrap().to_string());
            let r = raw.send("POST", &upload_path(&sid, "f0", &token), &data).await;
            assert_eq!(r.status, 200, "honest upload: {}", String::from_utf8_lossy(&r.body));
        };
        tokio::time::timeout(within, work).await.unwrap_or_else(|_| panic!("honest transfer of {name} not done within {within:?}"));
        assert_eq!(std::fs::read(self.inbox.join(name)).unwrap(), data);
        eventually("session over", || !self.handle.busy()).await;
        self.assert_no_partial();
    }
}

fn upload_path(session: &str, file: &str, token: &str) -> String {
    format!("/api/localsend/v2/upload?sessionId={session}&fileId={file}&token={token}")
}

/// Sends a request head (and `body_start`) but never the rest of the body.
async fn start_request(raw: &Raw, path: &str, content_length: usize, body_start: &[u8]) -> Box<dyn Io> {
    let mut s = raw.connect().await;
    let head = format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {content_length}\r\n\r\n");
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body_start).await.unwrap();
    s.flush().await.unwrap();
    s
}

/// Waits (bounded) until the peer closes `s`; returns how long it took.
async fn closed_within(s: &mut (impl tokio::io::AsyncRead + Unpin + ?Sized), within: Duration) -> Option<Duration> {
    let t0 = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(within.saturating_sub(t0.elapsed()), s.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(t0.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

fn pin_failed_events(h: &Scripted) -> Vec<(u32, Option<Duration>)> {
    h.events()
        .into_iter()
        .filter_map(|e| match e {
            ReceiveEvent::PinFailed { failures_total, locked_for, .. } => Some((failures_total, locked_for)),
            _ => None,
        })
        .collect()
}

/// 3 guesses from each of 100 addresses (300 guesses, the PIN among them) no longer find a
/// 4-digit PIN: after a few wrong PINs from anyone, PIN checks lock for everyone (one guess per
/// lock), the person is told (a few events, not one per guess), and a trusted device still gets in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pin_guessing_from_many_addresses_hits_a_global_lock() {
    let sender = Identity::generate().unwrap();
    let limits = ServerLimits {
        pin_free_failures: 3,
        pin_lock_base: Duration::from_secs(4),
        pin_lock_max: Duration::from_secs(8),
        ..Default::default()
    };
    let n = LNode::start(Some("0123"), &[sender.fingerprint()], limits).await;
    let body = prepare_body("GUESSER", &[("loot.txt", b"x")]);
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for a in 0..100u32 {
        let raw = Raw::https(n.addr(), None).from_source(&format!("127.1.{}.{}", a / 200, a % 200 + 1));
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for g in 0..3 {
                let r = raw.post_json(&format!("{P}?pin={:04}", g * 100 + a), &body).await;
                out.push((r.status, r.message()));
            }
            out
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.extend(t.await.unwrap());
    }
    let elapsed = t0.elapsed();
    assert!(answers.iter().all(|(s, _)| *s != 200), "a guess got through");
    assert!(n.handler.requests().is_empty(), "a guessed request reached the person");
    // Checked guesses: the free ones plus one per lock (locks of at least 4 s).
    let checked = answers.iter().filter(|(s, m)| *s == 401 && m == "Invalid PIN").count();
    let bound = 3 + 1 + (elapsed.as_secs_f64() / 4.0).ceil() as usize;
    assert!(checked <= bound, "{checked} guesses checked in {elapsed:?} (bound {bound})");
    assert!(answers.iter().filter(|(s, _)| *s == 429).count() >= 300 - bound);
    // The person hears about it, a few times.
    let events = pin_failed_events(&n.handler);
    assert!(!events.is_empty() && events.len() <= checked, "{events:?}");
    assert!(events.iter().any(|(_, locked)| locked.is_some()), "{events:?}");
    // While locked, even the right PIN from a stranger is not looked at.
    let stranger = Raw::https(n.addr(), None).from_source("127.0.0.9");
    let r = stranger.post_json(&format!("{P}?pin=0123"), &body).await;
    assert_eq!(r.status, 429, "{}", r.message());
    // A trusted device (its certificate) is not held by the lock.
    let trusted = Raw::https(n.addr(), Some(sender)).from_source("127.0.0.10");
    n.honest(&trusted, Some("0123"), "from-trusted.txt", Duration::from_secs(10)).await;
    n.assert_no_partial();
}

/// A full table of addresses never unblocks the blocked ones: new addresses then count only
/// against the global budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pin_table_full_keeps_blocked_addresses_blocked() {
    let limits = ServerLimits { pin_table_max: 4, pin_free_failures: 1000, ..Default::default() };
    let n = LNode::start(Some("4711"), &[], limits).await;
    let body = prepare_body("X", &[("a.txt", b"a")]);
    for a in 1..=4 {
        let raw = Raw::https(n.addr(), None).from_source(&format!("127.2.0.{a}"));
        for _ in 0..3 {
            assert_eq!(raw.post_json(&format!("{P}?pin=0000"), &body).await.status, 401);
        }
        assert_eq!(raw.post_json(&format!("{P}?pin=4711"), &body).await.status, 429);
    }
    for a in 1..=6 {
        let raw = Raw::https(n.addr(), None).from_source(&format!("127.2.1.{a}"));
        assert_eq!(raw.post_json(&format!("{P}?pin=0000"), &body).await.status, 401);
    }
    for a in 1..=4 {
        let raw = Raw::https(n.addr(), None).from_source(&format!("127.2.0.{a}"));
        let r = raw.post_json(&format!("{P}?pin=4711"), &body).await;
        assert_eq!(r.status, 429, "127.2.0.{a} was unblocked: {}", r.message());
    }
    assert!(n.handler.requests().is_empty());
    let honest = Raw::https(n.addr(), None).from_source("127.2.2.1");
    n.honest(&honest, Some("4711"), "after-table.txt", Duration::from_secs(10)).await;
}

/// An accepted sender that sends 1 of 10 bytes and goes quiet: the file fails after the stall
/// time (its temporary file removed), the session ends from the last byte, and the next sender
/// gets in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_upload_fails_and_frees_the_server() {
    let limits =
        ServerLimits { body_stall_timeout: Duration::from_secs(1), session_idle_timeout: Duration::from_secs(2), ..Default::default() };
    let n = LNode::start(None, &[], limits).await;
    let staller = Raw::https(n.addr(), None).from_source("127.3.0.1");
    let r = staller.post_json(P, &prepare_body("STALL", &[("stalled.bin", b"0123456789")])).await;
    assert_eq!(r.status, 200);
    let v = r.json();
    let (sid, token) = (v["sessionId"].as_str().unwrap().to_string(), v["files"]["f0"].as_str().unwrap().to_string());
    let mut s = start_request(&staller, &upload_path(&sid, "f0", &token), 10, b"0").await;
    let t0 = Instant::now();
    let r = read_response(&mut s).await;
    assert_eq!(r.status, 408, "{}", r.message());
    assert!(t0.elapsed() < Duration::from_secs(8), "stall noticed after {:?}", t0.elapsed());
    n.handler.wait_event("file failed", |e| matches!(e, ReceiveEvent::FileFailed { file_id, .. } if file_id == "f0")).await;
    n.assert_no_partial();
    // Meanwhile another sender is kept out, but not for ever.
    let other = Raw::https(n.addr(), None).from_source("127.3.0.2");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !n.handler.events().iter().any(|e| matches!(e, ReceiveEvent::SessionFinished { outcome: SessionOutcome::TimedOut, .. })) {
        assert!(Instant::now() < deadline, "the stalled session never ended: {:?}", n.handler.events());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!n.handle.busy());
    assert!(!n.inbox.join("stalled.bin").exists());
    n.honest(&other, None, "after-stall.txt", Duration::from_secs(10)).await;
}

/// Slow prepare-upload bodies (slowloris) neither block other prepare-uploads nor hold anything
/// for long: they are answered 408 at their deadline; a slow small body too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_get_a_deadline_and_block_nobody() {
    let limits =
        ServerLimits { large_body_timeout: Duration::from_secs(2), small_body_timeout: Duration::from_secs(1), ..Default::default() };
    let n = LNode::start(None, &[], limits).await;
    let slow = Raw::https(n.addr(), None).from_source("127.4.0.1");
    let mut slow_bodies = Vec::new();
    for _ in 0..4 {
        slow_bodies.push(start_request(&slow, P, 1_000_000, b"{\"info\":").await);
    }
    let mut slow_register = start_request(&slow, "/api/localsend/v2/register", 1000, b"{").await;
    let honest = Raw::https(n.addr(), None).from_source("127.4.0.2");
    n.honest(&honest, None, "past-slowloris.txt", Duration::from_secs(5)).await;
    let t0 = Instant::now();
    for s in slow_bodies.iter_mut() {
        let r = read_response(s).await;
        assert_eq!(r.status, 408, "{}", r.message());
    }
    assert_eq!(read_response(&mut slow_register).await.status, 408);
    assert!(t0.elapsed() < Duration::from_secs(8));
    assert!(n.handler.requests().len() == 1, "only the honest request was asked about");
    n.honest(&honest, None, "after-slowloris.txt", Duration::from_secs(5)).await;
}

/// 300 connections from one address: beyond its share they are closed at once, and an honest
/// device still gets in at once (before: every slot taken until the handshakes timed out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_every_connection() {
    let n = LNode::start(None, &[], ServerLimits::default()).await;
    let per_ip = ServerLimits::default().max_connections_per_ip;
    let mut flood = Vec::new();
    for _ in 0..300 {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind("127.5.0.1:0".parse().unwrap()).unwrap();
        flood.push(sock.connect(n.addr()).await.unwrap());
    }
    let honest = Raw::https(n.addr(), None).from_source("127.5.0.2");
    n.honest(&honest, None, "past-the-flood.txt", Duration::from_secs(5)).await;
    let mut closed = 0;
    for s in flood.iter_mut() {
        if closed_within(s, Duration::from_millis(20)).await.is_some() {
            closed += 1;
        }
    }
    assert!(closed >= 300 - per_ip, "only {closed} of 300 flood connections were closed");
    drop(flood);
    n.honest(&honest, None, "after-the-flood.txt", Duration::from_secs(5)).await;
}

/// A kept-alive connection on which nothing new comes is closed after the header timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_are_closed() {
    let limits = ServerLimits { header_timeout: Duration::from_secs(1), ..Default::default() };
    let n = LNode::start(None, &[], limits).await;
    let raw = Raw::https(n.addr(), None).from_source("127.6.0.1");
    let mut s = raw.connect().await;
    s.write_all(b"GET /api/localsend/v2/info HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    s.flush().await.unwrap();
    assert_eq!(read_response(&mut s).await.status, 200);
    let took = closed_within(&mut s, Duration::from_secs(5)).await;
    assert!(took.is_some(), "an idle kept-alive connection stayed open");
    // A TLS connection that never sends a request is closed too.
    let mut idle = raw.connect().await;
    assert!(closed_within(&mut idle, Duration::from_secs(5)).await.is_some());
    n.honest(&raw, None, "after-idle.txt", Duration::from_secs(5)).await;
}

/// Folders count with files: over-budget requests are refused 400 before anything is created or
/// anyone is asked; what the person is asked about carries both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folder_bombs_are_refused_before_anything_happens() {
    let n = LNode::start(None, &[], ServerLimits::default()).await;
    let raw = Raw::https(n.addr(), None).from_source("127.7.0.1");
    // Too many folders.
    let mut body = prepare_body("BOMB", &[("a.txt", b"a")]);
    body["ferry"] = json!({"emptyDirs": (0..10_001).map(|i| format!("d{i}")).collect::<Vec<_>>()});
    let r = raw.post_json(P, &body).await;
    assert_eq!(r.status, 400, "{}", r.message());
    // Files and folders together over the budget (each alone within it).
    let mut files = serde_json::Map::new();
    for i in 0..90_001 {
        let id = format!("i{i}");
        files.insert(id.clone(), json!({"id": id, "fileName": id, "size": 1, "fileType": "x"}));
    }
    let mut body = prepare_body("BOMB", &[]);
    body["files"] = serde_json::Value::Object(files);
    body["ferry"] = json!({"emptyDirs": (0..10_000).map(|i| format!("d{i}")).collect::<Vec<_>>()});
    let r = raw.post_json(P, &body).await;
    assert_eq!(r.status, 400, "{}", r.message());
    drop(body);
    assert!(list_tree(&n.inbox).is_empty(), "something was created: {} entries", list_tree(&n.inbox).len());
    assert!(n.handler.requests().is_empty(), "an over-budget request was shown");
    assert!(!n.handle.busy());
    // Within the budget: both are shown, both are made.
    let mut body = prepare_body("OK", &[("x/a.txt", b"a")]);
    body["ferry"] = json!({"emptyDirs": ["e1", "e2/e3"]});
    let r = raw.post_json(P, &body).await;
    assert_eq!(r.status, 200, "{}", r.message());
    let req = n.handler.requests().pop().unwrap();
    assert_eq!((req.files.len(), req.empty_dirs.len()), (1, 2));
    let v = r.json();
    let r = raw.send("POST", &upload_path(v["sessionId"].as_str().unwrap(), "f0", v["files"]["f0"].as_str().unwrap()), b"a").await;
    assert_eq!(r.status, 200);
    assert!(n.inbox.join("e2/e3").is_dir() && n.inbox.join("x/a.txt").is_file());
    n.honest(&raw, None, "after-bomb.txt", Duration::from_secs(5)).await;
}

/// Bodies over the single-body cap are refused from their Content-Length, before being read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_refused_unread() {
    let n = LNode::start(None, &[], ServerLimits::default()).await;
    let raw = Raw::https(n.addr(), None).from_source("127.8.0.1");
    let mut s = start_request(&raw, P, 65 * 1024 * 1024, b"{").await;
    let t0 = Instant::now();
    assert_eq!(read_response(&mut s).await.status, 413);
    assert!(t0.elapsed() < Duration::from_secs(3));
    let mut s = start_request(&raw, "/api/localsend/v2/register", 1024 * 1024, b"{").await;
    assert_eq!(read_response(&mut s).await.status, 413);
    n.honest(&raw, None, "after-big.txt", Duration::from_secs(5)).await;
}

/// A file list that would take more memory once parsed than one address may hold is refused while
/// parsing (here 100,000 tiny entries in a 4 MB body against an 8 MiB share), before anyone is asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_lists_too_big_for_memory_are_refused() {
    let n = LNode::start(None, &[], ServerLimits { file_list_memory_per_address: 8 * 1024 * 1024, ..Default::default() }).await;
    let raw = Raw::https(n.addr(), None).from_source("127.9.0.1");
    let mut files = serde_json::Map::new();
    for i in 0..100_000 {
        let id = format!("{i:x}");
        files.insert(id.clone(), json!({"id": "", "fileName": id, "size": 1}));
    }
    let mut body = prepare_body("HUGE", &[]);
    body["files"] = serde_json::Value::Object(files);
    let r = raw.post_json(P, &body).await;
    assert_eq!(r.status, 413, "{}", r.message());
    assert!(n.handler.requests().is_empty() && !n.handle.busy());
    n.honest(&raw, None, "after-huge.txt", Duration::from_secs(5)).await;
}

/// The opening of a prepare-upload body followed by `count` small files (about 250 bytes each
/// once parsed), without the end.
fn open_list(count: usize) -> Vec<u8> {
    let mut s = String::from(r#"{"info":{"alias":"L","fingerprint":"F"},"files":{"#);
    for i in 0..count {
        s.push_str(&format!(r#""{i}":{{"id":"{i}","fileName":"d/f{i}.bin","size":1}},"#));
    }
    s.into_bytes()
}

/// File lists being parsed count against one memory budget across connections: while one stalled
/// body holds most of the strangers' part, another list is answered 503 at once; the first gets
/// 408 at its deadline and its list goes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_bodies_share_one_memory_budget() {
    let limits = ServerLimits {
        large_body_timeout: Duration::from_secs(3),
        file_list_memory: 4 * 1024 * 1024,
        file_list_memory_per_address: 4 * 1024 * 1024,
        file_list_trusted_reserve: 1024 * 1024,
        ..Default::default()
    };
    let n = LNode::start(None, &[], limits).await;
    let a = Raw::https(n.addr(), None).from_source("127.10.0.1");
    let b = Raw::https(n.addr(), None).from_source("127.10.0.2");
    let held = open_list(10_000);
    let mut first = start_request(&a, P, held.len() + 1_000_000, &held).await;
    // Kept as a sleep: the server shows no sign of how much of its budget a body holds, and a list
    // asked about before the first is parsed would take the budget first. Then ask until it is full.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut status = 0;
    for _ in 0..50 {
        let mut next = open_list(4_000);
        next.extend_from_slice(b"\"end\":{\"id\":\"\",\"fileName\":\"end\",\"size\":1}}}");
        let (mut rd, mut wr) = tokio::io::split(start_request(&b, P, next.len(), b"").await);
        let writer = tokio::spawn(async move {
            let _ = wr.write_all(&next).await;
            let _ = wr.flush().await;
            wr
        });
        let r = read_response(&mut rd).await;
        drop(writer.await);
        n.handle.cancel_session();
        status = r.status;
        if status == 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 503);
    assert_eq!(read_response(&mut first).await.status, 408);
    let honest = Raw::https(n.addr(), None).from_source("127.10.0.3");
    n.honest(&honest, None, "after-budget.txt", Duration::from_secs(5)).await;
}

/// The session's idle time counts from the last byte, also while a file is being received (here
/// the stall timeout is longer than the session's idle timeout): the session ends, its temporary
/// file goes, and the next sender gets in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_idles_from_its_last_byte_even_mid_file() {
    let limits =
        ServerLimits { body_stall_timeout: Duration::from_secs(60), session_idle_timeout: Duration::from_secs(1), ..Default::default() };
    let n = LNode::start(None, &[], limits).await;
    let staller = Raw::https(n.addr(), None).from_source("127.11.0.1");
    let r = staller.post_json(P, &prepare_body("STALL", &[("mid.bin", b"0123456789")])).await;
    assert_eq!(r.status, 200);
    let v = r.json();
    let (sid, token) = (v["sessionId"].as_str().unwrap().to_string(), v["files"]["f0"].as_str().unwrap().to_string());
    let mut s = start_request(&staller, &upload_path(&sid, "f0", &token), 10, b"01234").await;
    let t0 = Instant::now();
    let r = read_response(&mut s).await;
    // The session ends (and is gone) before its upload stops: "Session cancelled" (403).
    assert_eq!(r.status, 403, "{}", r.message());
    assert!(t0.elapsed() < Duration::from_secs(8), "session ended after {:?}", t0.elapsed());
    n.handler.wait_event("timed out", |e| matches!(e, ReceiveEvent::SessionFinished { outcome: SessionOutcome::TimedOut, .. })).await;
    n.assert_no_partial();
    assert!(!n.inbox.join("mid.bin").exists());
    let other = Raw::https(n.addr(), None).from_source("127.11.0.2");
    n.honest(&other, None, "after-idle-session.txt", Duration::from_secs(10)).await;
}

/// Many addresses together hold every connection (each within its share, kept alive): a new
/// device with no connection still gets in at once, because a full table closes the oldest
/// connection of whoever holds most (before: the honest device waited for a free slot for ever).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_addresses_cannot_take_every_connection() {
    let limits = ServerLimits { max_connections: 48, max_connections_per_ip: 8, ..Default::default() };
    let n = LNode::start(None, &[], limits).await;
    let mut flood = Vec::new();
    for a in 1..=6 {
        for _ in 0..8 {
            let sock = tokio::net::TcpSocket::new_v4().unwrap();
            sock.bind(format!("127.12.0.{a}:0").parse().unwrap()).unwrap();
            flood.push(sock.connect(n.addr()).await.unwrap());
        }
    }
    // Every connection was taken in before the honest one comes. Kept as a sleep: the server shows
    // no sign of accepting a connection that has sent nothing, so there is no event to wait for.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for k in 0..3 {
        let honest = Raw::https(n.addr(), None).from_source(&format!("127.12.1.{}", k + 1));
        n.honest(&honest, None, &format!("past-many-{k}.txt"), Duration::from_secs(5)).await;
    }
    let mut closed = 0;
    for s in flood.iter_mut() {
        if closed_within(s, Duration::from_millis(20)).await.is_some() {
            closed += 1;
        }
    }
    assert!(closed >= 1, "no flood connection made room");
}

/// A request nobody answers is declined after `request_timeout` (the handler hears it closed);
/// and while a stranger's request waits, a trusted device goes first: the stranger's request is
/// closed and answered 403.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_requests_expire_and_trusted_devices_go_first() {
    let sender = Identity::generate().unwrap();
    let limits = ServerLimits { request_timeout: Duration::from_secs(2), ..Default::default() };
    let n = LNode::start(None, &[sender.fingerprint()], limits).await;
    *n.handler.answer.lock().unwrap() = Answer::Hold;
    let stranger = Raw::https(n.addr(), None).from_source("127.13.0.1");
    let t0 = Instant::now();
    let r = stranger.post_json(P, &prepare_body("STRANGER", &[("held.txt", b"x")])).await;
    assert_eq!(r.status, 403, "{}", r.message());
    assert!(t0.elapsed() < Duration::from_secs(8), "unanswered for {:?}", t0.elapsed());
    n.handler.wait_event("request closed", |e| matches!(e, ReceiveEvent::RequestClosed { .. })).await;
    assert!(!n.handle.busy());
    // Again, and a trusted device comes while it waits.
    let waiting = tokio::spawn({
        let stranger = stranger.clone();
        async move { stranger.post_json(P, &prepare_body("STRANGER", &[("held2.txt", b"x")])).await }
    });
    eventually("second request asked", || n.handler.requests().len() == 2).await;
    let trusted = Raw::https(n.addr(), Some(sender)).from_source("127.13.0.2");
    n.honest(&trusted, None, "trusted-first.txt", Duration::from_secs(5)).await;
    let r = waiting.await.unwrap();
    assert_eq!(r.status, 403, "{}", r.message());
    let closed = n.handler.events().iter().filter(|e| matches!(e, ReceiveEvent::RequestClosed { .. })).count();
    assert_eq!(closed, 2, "{:?}", n.handler.events());
    assert!(!n.inbox.join("held2.txt").exists());
}

/// A trickle (a byte every 200 ms of a big file) is not progress: each upload fails after one
/// window, and starting uploads over and over (of 6 files, 3 tries each) does not keep the
/// session: it ends as timed out after the idle time, not after 18 windows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickled_upload_fails_and_does_not_keep_the_session() {
    let limits =
        ServerLimits { body_stall_timeout: Duration::from_secs(1), session_idle_timeout: Duration::from_secs(3), ..Default::default() };
    let n = LNode::start(None, &[], limits).await;
    let trickler = Raw::https(n.addr(), None).from_source("127.14.0.1");
    let big = vec![7u8; 1_000_000];
    let names: Vec<String> = (0..6).map(|k| format!("trickle{k}.bin")).collect();
    let files: Vec<(&str, &[u8])> = names.iter().map(|name| (name.as_str(), &big[..])).collect();
    let r = trickler.post_json(P, &prepare_body("TRICKLE", &files)).await;
    assert_eq!(r.status, 200);
    let v = r.json();
    let sid = v["sessionId"].as_str().unwrap().to_string();
    let t0 = Instant::now();
    let mut statuses = Vec::new();
    let mut k = 0;
    while t0.elapsed() < Duration::from_secs(25) && n.handle.busy() {
        let fid = format!("f{}", k % 6);
        k += 1;
        let token = v["files"][&fid].as_str().unwrap().to_string();
        let s = start_request(&trickler, &upload_path(&sid, &fid, &token), big.len(), b"7").await;
        let (mut rd, mut wr) = tokio::io::split(s);
        let dripper = tokio::spawn(async move {
            for _ in 0..100 {
                // The trickle is the attack: one byte every 200 ms.
                tokio::time::sleep(Duration::from_millis(200)).await;
                if wr.write_all(b"7").await.is_err() || wr.flush().await.is_err() {
                    break;
                }
            }
        });
        let r = tokio::time::timeout(Duration::from_secs(10), read_response(&mut rd)).await.expect("a trickle was never cut off");
        dripper.abort();
        statuses.push(r.status);
    }
    assert_eq!(statuses.first(), Some(&408), "{statuses:?}");
    n.handler.wait_event("timed out", |e| matches!(e, ReceiveEvent::SessionFinished { outcome: SessionOutcome::TimedOut, .. })).await;
    assert!(t0.elapsed() < Duration::from_secs(12), "session kept for {:?}: {statuses:?}", t0.elapsed());
    n.assert_no_partial();
    let other = Raw::https(n.addr(), None).from_source("127.14.0.2");
    n.honest(&other, None, "after-trickle.txt", Duration::from_secs(10)).await;
}

/// One address cannot hold the file-list budget: a stranger's list is at most its share (bigger is
/// 413), a second list from the same address beyond the share is 503, and meanwhile other senders
/// get in. A body slower than the minimum rate is cut off long before the flat deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_hold_the_json_budget() {
    let limits = ServerLimits {
        large_body_timeout: Duration::from_secs(60),
        body_grace: Duration::from_secs(1),
        file_list_memory: 8 * 1024 * 1024,
        file_list_memory_per_address: 3 * 1024 * 1024,
        file_list_trusted_reserve: 1024 * 1024,
        ..Default::default()
    };
    let n = LNode::start(None, &[], limits).await;
    let a = Raw::https(n.addr(), None).from_source("127.15.0.1");
    let mut whole = open_list(20_000);
    whole.extend_from_slice(b"\"end\":{\"id\":\"\",\"fileName\":\"end\",\"size\":1}}}");
    let (mut rd, mut wr) = tokio::io::split(start_request(&a, P, whole.len(), b"").await);
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(&whole).await;
        let _ = wr.flush().await;
        wr
    });
    let r = tokio::time::timeout(Duration::from_secs(10), read_response(&mut rd)).await.expect("a list over the share was waited for");
    drop(writer.await);
    assert_eq!(r.status, 413, "{}", r.message());
    let list = open_list(10_000);
    let _held = start_request(&a, P, list.len() + 1_000_000, &list).await;
    // Kept as a sleep, as above.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut status = 0;
    for _ in 0..50 {
        let mut next = open_list(4_000);
        next.extend_from_slice(b"\"end\":{\"id\":\"\",\"fileName\":\"end\",\"size\":1}}}");
        let (mut rd, mut wr) = tokio::io::split(start_request(&a, P, next.len(), b"").await);
        let writer = tokio::spawn(async move {
            let _ = wr.write_all(&next).await;
            let _ = wr.flush().await;
            wr
        });
        let r = read_response(&mut rd).await;
        drop(writer.await);
        n.handle.cancel_session();
        status = r.status;
        if status == 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 503);
    let honest = Raw::https(n.addr(), None).from_source("127.15.0.2");
    n.honest(&honest, None, "past-the-hog.txt", Duration::from_secs(5)).await;
    // 10 bytes of a declared 100 KiB: the deadline is 1 s + 100 KiB at 256 KiB/s, not 60 s.
    let mut slow = start_request(&honest, P, 100 * 1024, b"{\"info\":").await;
    let r = tokio::time::timeout(Duration::from_secs(10), read_response(&mut slow)).await.expect("a slow body was waited for");
    assert_eq!(r.status, 408, "{}", r.message());
}

/// A receiver that takes only trusted devices answers a stranger's prepare-upload (text
/// messages included) 403 without reading its body, so strangers hold no budget there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_only_refuses_strangers_unread() {
    let sender = Identity::generate().unwrap();
    let n = LNode::start_with(None, &[sender.fingerprint()], ServerLimits::default(), ReceivePolicy::TrustedOnly).await;
    let stranger = Raw::https(n.addr(), None).from_source("127.16.0.1");
    let mut s = start_request(&stranger, P, 12 * 1024 * 1024, b"{").await;
    let r = tokio::time::timeout(Duration::from_secs(5), read_response(&mut s)).await.expect("a stranger's body was waited for");
    assert_eq!(r.status, 403, "{}", r.message());
    let trusted = Raw::https(n.addr(), Some(sender)).from_source("127.16.0.2");
    n.honest(&trusted, None, "trusted-only.txt", Duration::from_secs(5)).await;
}

fn text_body(text: &str) -> serde_json::Value {
    let mut v = prepare_body("TEXTER", &[]);
    v["files"] = json!({"m": {"id": "m", "fileName": "m.txt", "size": text.len(), "fileType": "text/plain", "preview": text}});
    v
}

/// Text messages are bounded: a preview over 256 KiB is refused 413 (never shown), and one
/// address gets a few texts at once, then 429; another address is not affected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_messages_are_capped_and_rate_limited() {
    let limits = ServerLimits { text_interval: Duration::from_secs(60), ..Default::default() };
    let n = LNode::start(None, &[], limits).await;
    let a = Raw::https(n.addr(), None).from_source("127.17.0.1");
    let r = a.post_json(P, &text_body(&"\u{85}".repeat(200 * 1024))).await;
    assert_eq!(r.status, 413, "{}", r.message());
    assert!(n.handler.texts().is_empty());
    let mut statuses = Vec::new();
    for k in 0..8 {
        statuses.push(a.post_json(P, &text_body(&format!("hello {k}"))).await.status);
    }
    assert_eq!(statuses, [204, 204, 204, 204, 204, 429, 429, 429]);
    let b = Raw::https(n.addr(), None).from_source("127.17.0.2");
    assert_eq!(b.post_json(P, &text_body("from b")).await.status, 204);
    assert_eq!(n.handler.texts().len(), 6);
}

/// Register bodies are small (16 KiB at most) and one address holds a bounded share of their
/// budget: stalled registers from one address cannot keep an honest register out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_bodies_are_small_and_shared() {
    let n = LNode::start(None, &[], ServerLimits::default()).await;
    let reg = "/api/localsend/v2/register";
    let a = Raw::https(n.addr(), None).from_source("127.18.0.1");
    let mut big = start_request(&a, reg, 20 * 1024, b"").await;
    assert_eq!(read_response(&mut big).await.status, 413);
    let mut stalled = Vec::new();
    for _ in 0..20 {
        stalled.push(start_request(&a, reg, 16 * 1024, &vec![b' '; 16 * 1024 - 1]).await);
    }
    // Kept as a sleep: the server shows no sign of how much of its budget the bodies hold.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let b = Raw::https(n.addr(), None).from_source("127.18.0.2");
    let body = json!({"alias": "Honest", "version": "2.1", "deviceModel": null, "deviceType": "desktop",
                      "fingerprint": "HONEST", "port": 53317, "protocol": "https", "download": false});
    for _ in 0..3 {
        assert_eq!(b.post_json(reg, &body).await.status, 200);
    }
    drop(stalled);
}

/// An address refused after 3 wrong PINs is forgotten after `pin_forget_after` (before: refused
/// until the receiver restarted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_pin_addresses_are_forgotten() {
    let limits = ServerLimits { pin_forget_after: Duration::from_secs(1), ..Default::default() };
    let n = LNode::start(Some("2468"), &[], limits).await;
    let raw = Raw::https(n.addr(), None).from_source("127.19.0.1");
    let body = prepare_body("TYPO", &[("t.txt", b"t")]);
    for _ in 0..3 {
        assert_eq!(raw.post_json(&format!("{P}?pin=1111"), &body).await.status, 401);
    }
    assert_eq!(raw.post_json(&format!("{P}?pin=2468"), &body).await.status, 429);
    // Time passing is the point: the refusal is forgotten after `pin_forget_after` (1 s).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    n.honest(&raw, Some("2468"), "after-typos.txt", Duration::from_secs(5)).await;
}
