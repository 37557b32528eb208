//! Requests of many files: a plain LocalSend request of 100,000 files taken in one piece, file
//! lists parsed as they arrive against one memory budget (per address and in total, with a
//! reserve for trusted devices), the file cap and the entry bound counted while parsing, and
//! Ferry sending to Ferry at the receiver's file cap. Real servers over TLS on loopback.

use ferry_core::identity::Identity;
use ferry_core::protocol::{DeviceType, PeerAddr, Protocol};
use ferry_core::send::{self, Selection, SendEvent, SendOptions};
use ferry_core::server::{self, ReceiveEvent, ReceivePolicy, ServerHandle, ServerLimits, ServerOptions};
use ferry_core::storage::ReceiveDir;
use ferry_core::trust::TrustStore;
use ferry_core::CancellationToken;
use ferry_tests::*;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const P: &str = "/api/localsend/v2/prepare-upload";

/// A receiver with its own limits (accepting everything it is asked about).
struct Receiver {
    handle: ServerHandle,
    handler: Arc<Scripted>,
    _dir: tempfile::TempDir,
    inbox: PathBuf,
}

impl Receiver {
    async fn start(trusted: &[&str], limits: ServerLimits) -> Receiver {
        let identity = Identity::generate().unwrap();
        let dir = tempfile::tempdir_in(scratch()).unwrap();
        std::fs::create_dir_all(dir.path().join("in")).unwrap();
        let trust = Arc::new(TrustStore::in_memory());
        for fp in trusted {
            trust.add(fp, None).unwrap();
        }
        let info = ferry_core::protocol::device_info("Receiver", DeviceType::Headless, "Linux", identity.fingerprint(), 0, Protocol::Https);
        let handler = Scripted::new(Answer::AcceptAll);
        let opts = ServerOptions {
            identity,
            info,
            bind: "127.0.0.1:0".parse().unwrap(),
            https: true,
            receive_dir: ReceiveDir::new(&dir.path().join("in")).unwrap(),
            pin: None,
            policy: ReceivePolicy::Ask,
            trust,
            verify_checksums: true,
        };
        let handle = server::start_with_limits(opts, limits, handler.clone()).await.unwrap();
        let inbox = dir.path().join("in").canonicalize().unwrap();
        Receiver { handle, handler, _dir: dir, inbox }
    }
    fn addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }
    fn from(&self, source: &str) -> Raw {
        Raw::https(self.addr(), None).from_source(source)
    }
    /// A one-file request from `raw` is accepted (then its session is cancelled).
    async fn takes_a_request(&self, raw: &Raw) -> bool {
        let r = raw.post_json(P, &prepare_body("SMALL", &[("small.txt", b"s")])).await;
        self.handle.cancel_session();
        eventually("session over", || !self.handle.busy()).await;
        r.status == 200
    }
}

/// The opening of a prepare-upload body, up to the first file.
const HEAD: &str = r#"{"info":{"alias":"Many","version":"2.1","deviceModel":null,"deviceType":"mobile","fingerprint":"F","port":53317,"protocol":"https","download":false},"files":{"#;

/// Files `from..to` as LocalSend's apps describe them (a UUID as id, a type, both times, no
/// checksum), separated by commas (with a leading one unless `from` is 0).
fn localsend_files(from: usize, to: usize) -> String {
    let mut s = String::with_capacity((to - from) * 230);
    for i in from..to {
        if i > 0 {
            s.push(',');
        }
        let id = format!("{:08x}-4b1e-4c2d-9e3f-{:012x}", i as u32 ^ 0x5a5a_5a5a, i);
        s.push_str(&format!(
            r#""{id}":{{"id":"{id}","fileName":"DCIM/Camera{}/IMG_{i:06}.jpg","size":4096,"fileType":"image/jpeg","sha256":null,"preview":null,"metadata":{{"modified":"2026-11-30T10:{:02}:{:02}.123Z","accessed":"2026-11-30T11:00:00.000Z"}}}}"#,
            i / 1000,
            i / 60 % 60,
            i % 60
        ));
    }
    s
}

fn localsend_body(n: usize) -> String {
    format!("{HEAD}{}}}}}", localsend_files(0, n))
}

/// Sends a request head and the first part of its body, and keeps the connection (the rest never
/// comes).
async fn start_request(raw: &Raw, content_length: usize, body_start: &[u8]) -> Box<dyn Io> {
    let mut s = raw.connect().await;
    let head = format!("POST {P} HTTP/1.1\r\nHost: x\r\nContent-Length: {content_length}\r\n\r\n");
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body_start).await.unwrap();
    s.flush().await.unwrap();
    s
}

/// Posts `body` to prepare-upload and reads the answer, which may come (and the connection close)
/// before the whole body is written.
async fn post_all(raw: &Raw, body: &str) -> RawResponse {
    let mut s = raw.connect().await;
    let head = format!("POST {P} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    s.write_all(head.as_bytes()).await.unwrap();
    let (mut rd, mut wr) = tokio::io::split(s);
    let body = body.as_bytes().to_vec();
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(&body).await;
        let _ = wr.flush().await;
        wr
    });
    // A big list is parsed as it arrives; on a loaded machine the answer may take longer than the
    // 10 s `read_response` waits for each read.
    let mut first = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(120), rd.read(&mut first)).await.expect("an answer within 120 s").unwrap();
    let r = read_response(&mut (&first[..n]).chain(rd)).await;
    drop(writer.await);
    r
}

/// A plain LocalSend sender sends one request with all its files: 100,000 of them (about 25 MB of
/// JSON, from a stranger without a certificate) are taken in one piece, parsed as they arrive,
/// and answered with a token each; the person is asked once about all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_localsend_request_of_100000_files_is_taken_in_one_piece() {
    let n = Receiver::start(&[], ServerLimits::default()).await;
    let body = localsend_body(100_000);
    assert!(body.len() > 20 * 1024 * 1024, "{} bytes", body.len());
    let raw = n.from("127.40.0.1");
    let t0 = Instant::now();
    let r = post_all(&raw, &body).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body[..r.body.len().min(300)]));
    println!("100,000 files answered in {:?}", t0.elapsed());
    let v = r.json();
    assert_eq!(v["files"].as_object().unwrap().len(), 100_000);
    let requests = n.handler.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].files.len(), 100_000);
    n.handle.cancel_session();
    eventually("session over", || !n.handle.busy()).await;
    // The list's memory went back with the session: the same request fits again.
    let r = post_all(&raw, &body).await;
    assert_eq!(r.status, 200, "{}", r.message());
    n.handle.cancel_session();
}

/// The file cap is counted while parsing: a request at the cap is taken, one file more is refused
/// (400) before anyone is asked, and so are more empty folders than allowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_cap_is_counted_while_parsing() {
    let n = Receiver::start(&[], ServerLimits { max_files_per_request: 1000, ..Default::default() }).await;
    let raw = n.from("127.41.0.1");
    let r = raw.send("POST", P, localsend_body(1000).as_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.message());
    n.handle.cancel_session();
    eventually("session over", || !n.handle.busy()).await;
    let r = post_all(&raw, &localsend_body(1001)).await;
    assert_eq!(r.status, 400, "{}", r.message());
    assert!(r.message().contains("Too many files"), "{}", r.message());
    // Files and empty folders count together.
    let dirs: Vec<String> = (0..10).map(|i| format!("\"empty{i}\"")).collect();
    let body = format!("{HEAD}{}}},\"ferry\":{{\"emptyDirs\":[{}]}}}}", localsend_files(0, 995), dirs.join(","));
    let r = post_all(&raw, &body).await;
    assert_eq!(r.status, 400, "{}", r.message());
    assert_eq!(n.handler.requests().len(), 1, "only the request at the cap was asked about");
    assert!(list_tree(&n.inbox).is_empty(), "a refused request made {:?}", list_tree(&n.inbox));
    assert!(n.takes_a_request(&raw).await);
}

/// No single entry of a body may be bigger than the entry bound (2 MiB), however long the body
/// may be: a huge alias, file name or unknown field is refused (413) while it arrives, not held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_entry_cannot_take_more_than_the_entry_bound() {
    let n = Receiver::start(&[], ServerLimits::default()).await;
    let raw = n.from("127.42.0.1");
    let big = "A".repeat(3 * 1024 * 1024);
    let bodies = [
        format!(r#"{{"info":{{"alias":"{big}","fingerprint":"F"}},"files":{{}}}}"#),
        format!(r#"{{"info":{{"alias":"A","fingerprint":"F"}},"files":{{"a":{{"id":"a","fileName":"{big}","size":1}}}}}}"#),
        format!(r#"{{"info":{{"alias":"A","fingerprint":"F"}},"unknown":"{big}","files":{{}}}}"#),
        format!(r#"{{"info":{{"alias":"A","fingerprint":"F"}},"files":{{}},"ferry":{{"emptyDirs":["{big}"]}}}}"#),
    ];
    for body in &bodies {
        let r = post_all(&raw, body).await;
        assert_eq!(r.status, 413, "{}", r.message());
    }
    // Up to the bound is fine (a text message of 256 KiB is one entry).
    let r = raw.send("POST", P, localsend_body(3).as_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.message());
    n.handle.cancel_session();
    assert!(n.handler.requests().len() == 1);
}

/// Bodies over the body cap (64 MiB) are refused from their Content-Length, unread; a body that
/// stops coming is cut off at its deadline (length at the minimum rate), and what it had parsed
/// goes back to the budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_and_slow_bodies_are_cut_off() {
    let limits = ServerLimits {
        body_grace: Duration::from_secs(1),
        file_list_memory: 4 * 1024 * 1024,
        file_list_memory_per_address: 3 * 1024 * 1024,
        file_list_trusted_reserve: 1024 * 1024,
        ..Default::default()
    };
    let n = Receiver::start(&[], limits).await;
    let raw = n.from("127.43.0.1");
    let mut s = start_request(&raw, 65 * 1024 * 1024, HEAD.as_bytes()).await;
    let t0 = Instant::now();
    assert_eq!(read_response(&mut s).await.status, 413);
    assert!(t0.elapsed() < Duration::from_secs(3));
    // 2 MiB of parsed files, then nothing: 408 after 1 s + 2.5 MB at 256 KiB/s.
    let start = format!("{HEAD}{}", localsend_files(0, 6000));
    let mut slow = start_request(&raw, start.len() + 500_000, start.as_bytes()).await;
    let t0 = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(30), read_response(&mut slow)).await.expect("a stalled body was waited for");
    assert_eq!(r.status, 408, "{}", r.message());
    assert!(t0.elapsed() < Duration::from_secs(15), "cut off after {:?}", t0.elapsed());
    // Its list is gone: the same address may send such a list again.
    let r = raw.send("POST", P, format!("{HEAD}{}}}}}", localsend_files(0, 6000)).as_bytes()).await;
    assert_eq!(r.status, 200, "{}", r.message());
    n.handle.cancel_session();
}

/// File lists being parsed count against one budget: one address may hold at most its share (a
/// bigger list is 413; a second list from it beyond its share is 503), strangers together at most
/// the budget less the trusted reserve (503 for the next stranger), and a trusted device still
/// gets in while many strangers hold stalled lists; when they go, everything is free again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_peers_at_once_share_one_budget_for_file_lists() {
    let trusted_id = Identity::generate().unwrap();
    let limits = ServerLimits {
        file_list_memory: 6 * 1024 * 1024,
        file_list_memory_per_address: 2 * 1024 * 1024,
        file_list_trusted_reserve: 2 * 1024 * 1024,
        large_body_timeout: Duration::from_secs(60),
        // A body's deadline is its length at this rate (here the 60 s cap): no stalled list is cut
        // off, and its budget given back, while the test (slow on a loaded machine) fills the budget.
        min_body_rate: 1024,
        ..Default::default()
    };
    let n = Receiver::start(&[trusted_id.fingerprint()], limits).await;
    // Over one address's share on its own: 413, whoever else is there.
    let a = n.from("127.44.0.1");
    let r = post_all(&a, &localsend_body(12_000)).await;
    assert_eq!(r.status, 413, "{}", r.message());
    // About 1.2 MiB of parsed files each, then the bodies stall.
    let stalled_list = format!("{HEAD}{}", localsend_files(0, 4000));
    let mut held = vec![start_request(&a, stalled_list.len() + 1_000_000, stalled_list.as_bytes()).await];
    // Kept as a sleep: nothing tells when the server has parsed what was sent, and a list asked
    // about before that would take the share first. Then ask until it answers 503.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let second = format!("{HEAD}{}}}}}", localsend_files(0, 3000));
    let mut statuses = Vec::new();
    for _ in 0..50 {
        statuses.push(post_all(&a, &second).await.status);
        if statuses.last() == Some(&503) {
            break;
        }
        n.handle.cancel_session();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(statuses.last(), Some(&503), "a second list from the same address beyond its share: {statuses:?}");
    // Many strangers at once, each holding a stalled list: together they hold at most 4 MiB.
    let mut refused = 0;
    for k in 2..22 {
        let s = n.from(&format!("127.44.0.{k}"));
        held.push(start_request(&s, stalled_list.len() + 1_000_000, stalled_list.as_bytes()).await);
        // Kept as a sleep (one list parsed before the next comes), as above.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // The next stranger asks with a list as big as theirs (one that a smaller list might still fit
    // beside, depending on how much each file takes in memory).
    let late = n.from("127.44.1.1");
    let as_big = format!("{HEAD}{}}}}}", localsend_files(0, 4000));
    for _ in 0..50 {
        let r = post_all(&late, &as_big).await;
        n.handle.cancel_session();
        if r.status == 503 {
            refused += 1;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(refused, 1, "strangers filled the budget but the next stranger was not refused");
    // The reserve: a trusted device is taken meanwhile.
    let trusted = Raw::https(n.addr(), Some(trusted_id)).from_source("127.44.2.1");
    let r = trusted.post_json(P, &prepare_body("TRUSTED", &[("from-trusted.txt", b"t")])).await;
    assert_eq!(r.status, 200, "trusted device during the flood: {}", r.message());
    n.handle.cancel_session();
    eventually("session over", || !n.handle.busy()).await;
    drop(held);
    // The stalled bodies' lists go back when their connections close.
    let mut ok = false;
    for _ in 0..50 {
        if n.takes_a_request(&n.from("127.44.3.1")).await {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "the budget never came back");
}

/// A selection of `count` empty files in folders of 100, under `root`.
fn empty_tree(root: &std::path::Path, count: usize) -> PathBuf {
    let top = root.join("many");
    for i in 0..count {
        let sub = top.join(format!("d{:03}", i / 100));
        if i % 100 == 0 {
            std::fs::create_dir_all(&sub).unwrap();
        }
        std::fs::write(sub.join(format!("f{i:06}")), b"").unwrap();
    }
    top
}

fn options(n: &Receiver) -> SendOptions {
    let identity = Identity::generate().unwrap();
    SendOptions {
        info: ferry_core::protocol::device_info("Sender", DeviceType::Desktop, "Linux", identity.fingerprint(), 53317, Protocol::Https),
        identity,
        peer: PeerAddr { host: "127.0.0.1".into(), port: n.addr().port(), protocol: Protocol::Https },
        expected_fingerprint: None,
        pin: None,
        parallel: 4,
        checksums: send::Checksums::Auto,
        timeouts: send::SendTimeouts::default(),
        relocate: None,
        retry_now: None,
    }
}

/// Ferry to Ferry at the receiver's file cap (`MANY_FILES`, default 20,000 files, here the
/// receiver's cap; the bench moves 100,000 of 4 KiB): every file arrives, each once, and one file
/// more than the cap is refused before anything is sent, saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ferry_sends_a_selection_at_the_receivers_file_cap() {
    let count: usize = std::env::var("MANY_FILES").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let n = Receiver::start(&[], ServerLimits { max_files_per_request: count, ..Default::default() }).await;
    let src = tempfile::tempdir_in(scratch()).unwrap();
    let top = empty_tree(src.path(), count);
    let sel = Selection::from_paths(std::slice::from_ref(&top)).unwrap();
    assert_eq!(sel.files.len(), count);
    let opts = options(&n);
    let completed = Arc::new(Mutex::new(0usize));
    let c = completed.clone();
    let observer = Arc::new(move |e: SendEvent| {
        if let SendEvent::FileCompleted { .. } = e {
            *c.lock().unwrap() += 1;
        }
    });
    let t0 = Instant::now();
    let report = send::send_files(&opts, &sel, observer, CancellationToken::new()).await.unwrap();
    println!("{count} files in {:?}", t0.elapsed());
    assert_eq!(report.sent, count);
    assert_eq!(*completed.lock().unwrap(), count);
    let saved = n.handler.events().iter().filter(|e| matches!(e, ReceiveEvent::FileCompleted { .. })).count();
    assert_eq!(saved, count);
    let files: usize =
        std::fs::read_dir(n.inbox.join("many")).unwrap().map(|d| std::fs::read_dir(d.unwrap().path()).unwrap().count()).sum();
    assert_eq!(files, count);
    // One more than the cap: refused before anything moves, with the receiver's reason.
    std::fs::write(top.join("d000/one-more"), b"").unwrap();
    let sel = Selection::from_paths(&[top]).unwrap();
    let err = send::send_files(&opts, &sel, Arc::new(|_: SendEvent| {}), CancellationToken::new()).await.unwrap_err();
    assert!(err.message.contains("Too many files"), "{err}");
    assert!(!n.handle.busy());
}

/// Where the many-file trees go: RAM when there is some (they are many small files).
fn scratch() -> PathBuf {
    let shm = PathBuf::from("/dev/shm");
    if shm.is_dir() && tempfile::tempdir_in(&shm).is_ok() {
        shm
    } else {
        std::env::temp_dir()
    }
}
