//! Resume: an interrupted transfer continues where it broke, and files the receiver already has
//! are not sent again. Real nodes on loopback; breaks come from a TCP relay between the two that
//! cuts connections in the middle of a file (and counts what the sender's side sent through it).

use ferry_core::identity::Identity;
use ferry_core::protocol::{DeviceType, PeerAddr, Protocol};
use ferry_core::send::{self, Selection, SendEvent, SendOptions};
use ferry_core::server::{self, ReceiveEvent, ReceivePolicy, ServerOptions};
use ferry_core::storage::ReceiveDir;
use ferry_core::trust::TrustStore;
use ferry_core::{CancellationToken, ErrorKind};
use ferry_tests::*;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A TCP relay to the receiver. It counts the bytes the sender's side sends through it; when
/// `cut_at` is set, the connection that carries the byte past it is cut: the sender's side is
/// closed, the receiver's side is kept open and silent (as when a Wi-Fi network drops: the receiver
/// does not see the old connection die). While `refuse` is set, new connections are closed at once.
struct Relay {
    addr: SocketAddr,
    sent: Arc<AtomicU64>,
    cut_at: Arc<AtomicU64>,
    refuse: Arc<AtomicBool>,
    cuts: Arc<AtomicU64>,
    stop: CancellationToken,
}

impl Relay {
    /// Cuts the connection once `at` bytes in total went through, then refuses every connection
    /// until told otherwise; the handle ends once the cut happened.
    fn cut_then_refuse(&self, at: u64) -> tokio::task::JoinHandle<()> {
        let cuts_before = self.cuts.load(Ordering::SeqCst);
        self.cut_at.store(at, Ordering::SeqCst);
        let (cuts, refuse) = (self.cuts.clone(), self.refuse.clone());
        tokio::spawn(async move {
            while cuts.load(Ordering::SeqCst) == cuts_before {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            refuse.store(true, Ordering::SeqCst);
        })
    }

    async fn start(to: SocketAddr) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let relay = Relay {
            addr,
            sent: Arc::new(AtomicU64::new(0)),
            cut_at: Arc::new(AtomicU64::new(u64::MAX)),
            refuse: Arc::new(AtomicBool::new(false)),
            cuts: Arc::new(AtomicU64::new(0)),
            stop: CancellationToken::new(),
        };
        let (sent, cut_at, refuse, cuts, stop) =
            (relay.sent.clone(), relay.cut_at.clone(), relay.refuse.clone(), relay.cuts.clone(), relay.stop.clone());
        // Receiver-side halves of cut connections, held open until the relay stops.
        let held = Arc::new(Mutex::new(Vec::new()));
        tokio::spawn(async move {
            loop {
                let (client, _) = tokio::select! {
                    c = listener.accept() => match c { Ok(c) => c, Err(_) => return },
                    _ = stop.cancelled() => return,
                };
                if refuse.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(upstream) = tokio::net::TcpStream::connect(to).await else { continue };
                let (sent, cut_at, cuts, stop, held) = (sent.clone(), cut_at.clone(), cuts.clone(), stop.clone(), held.clone());
                tokio::spawn(async move {
                    let (mut cr, mut cw) = client.into_split();
                    let (mut ur, mut uw) = upstream.into_split();
                    let down = tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut ur, &mut cw).await;
                    });
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = tokio::select! {
                            r = cr.read(&mut buf) => match r { Ok(0) | Err(_) => break, Ok(n) => n },
                            _ = stop.cancelled() => break,
                        };
                        let before = sent.fetch_add(n as u64, Ordering::SeqCst);
                        let limit = cut_at.load(Ordering::SeqCst);
                        if before + n as u64 > limit {
                            // Cut: forward up to the limit, close the sender's side, keep the receiver's open.
                            let keep = limit.saturating_sub(before) as usize;
                            let _ = uw.write_all(&buf[..keep]).await;
                            cut_at.store(u64::MAX, Ordering::SeqCst);
                            cuts.fetch_add(1, Ordering::SeqCst);
                            down.abort();
                            held.lock().unwrap().push(uw);
                            return;
                        }
                        if uw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    down.abort();
                });
            }
        });
        relay
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A receiver (HTTPS, accepting everything) on a folder that outlives it, so that it can be
/// started again on the same folder.
async fn receiver(inbox: &Path, skip_existing: bool) -> (server::ServerHandle, Arc<Scripted>) {
    let identity = Identity::generate().unwrap();
    let info = ferry_core::protocol::device_info("Receiver", DeviceType::Headless, "Linux", identity.fingerprint(), 0, Protocol::Https);
    let handler = Scripted::new(Answer::AcceptAll);
    let opts = ServerOptions {
        identity,
        info,
        bind: "127.0.0.1:0".parse().unwrap(),
        https: true,
        receive_dir: ReceiveDir::new(inbox).unwrap().with_skip_existing(skip_existing),
        pin: None,
        policy: ReceivePolicy::AcceptAll,
        trust: Arc::new(TrustStore::in_memory()),
        verify_checksums: true,
    };
    (server::start(opts, handler.clone()).await.unwrap(), handler)
}

fn options(identity: &Identity, port: u16) -> SendOptions {
    let info = ferry_core::protocol::device_info("Sender", DeviceType::Desktop, "Linux", identity.fingerprint(), 53317, Protocol::Https);
    let mut o =
        SendOptions::new(identity.clone(), info, PeerAddr { host: "127.0.0.1".into(), port, protocol: Protocol::Https }, None, None);
    o.parallel = 1;
    o
}

/// Records what the sender reports.
#[derive(Default)]
struct Seen {
    events: Mutex<Vec<SendEvent>>,
}

impl Seen {
    fn resumed_at(&self) -> Vec<u64> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| if let SendEvent::FileResumed { offset, .. } = e { Some(*offset) } else { None })
            .collect()
    }
    fn skipped(&self) -> usize {
        self.events.lock().unwrap().iter().map(|e| if let SendEvent::FilesSkipped { file_ids } = e { file_ids.len() } else { 0 }).sum()
    }
}

async fn send(opts: &SendOptions, paths: &[&Path], seen: &Arc<Seen>) -> ferry_core::Result<send::SendReport> {
    let sel = Selection::from_paths(&paths.iter().map(|p| p.to_path_buf()).collect::<Vec<_>>()).unwrap();
    let s = seen.clone();
    let observer: Arc<dyn send::SendObserver> = Arc::new(move |e: SendEvent| s.events.lock().unwrap().push(e));
    tokio::time::timeout(Duration::from_secs(120), send::send_files(opts, &sel, observer, CancellationToken::new()))
        .await
        .expect("the send ends within 2 minutes")
}

/// [`send`], again while the receiver answers "busy": the sender's own earlier session there (its
/// upload cut, the receiver not aware) is replaced only once it stalled (bounded).
async fn send_when_free(opts: &SendOptions, paths: &[&Path], seen: &Arc<Seen>) -> ferry_core::Result<send::SendReport> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        match send(opts, paths, seen).await {
            Err(e) if e.kind == ErrorKind::Busy && std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            r => return r,
        }
    }
}

/// A prepare-upload, again while the answer is `409` (see [`send_when_free`]; bounded).
async fn prepare_when_free(raw: &Raw, body: &serde_json::Value) -> RawResponse {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let r = raw.post_json("/api/localsend/v2/prepare-upload", body).await;
        if r.status != 409 || std::time::Instant::now() >= deadline {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn data(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32).map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 13) as u8).collect()
}

/// Names of the kept partial files (and their records) below `dir`.
fn kept(dir: &Path) -> Vec<String> {
    list_tree(dir).into_iter().filter(|n| n.ends_with(".partial") || n.ends_with(".resume")).collect()
}

const SIZE: usize = 24 * 1024 * 1024;

/// A sender whose send of one file (`SIZE` bytes of `data(SIZE, seed)`) broke in the middle and
/// then found the receiver unreachable, so the receiver keeps the partial file. Bind every field
/// that must live on (a field left to `..` is dropped at once: the folders, the receiver).
struct Broken {
    inbox: tempfile::TempDir,
    _src: tempfile::TempDir,
    file: std::path::PathBuf,
    content: Vec<u8>,
    rx: server::ServerHandle,
    handler: Arc<Scripted>,
    relay: Relay,
    owner: Identity,
    opts: SendOptions,
    /// How the broken send ended.
    error: ferry_core::Error,
}

async fn broken_send(seed: u32) -> Broken {
    let inbox = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let content = data(SIZE, seed);
    let file = src.path().join("big.bin");
    std::fs::write(&file, &content).unwrap();
    let (rx, handler) = receiver(inbox.path(), false).await;
    let relay = Relay::start(rx.local_addr()).await;
    let owner = Identity::generate().unwrap();
    let mut opts = options(&owner, relay.addr.port());
    opts.timeouts.reconnect = Duration::from_secs(1);
    // Cut in the middle, then refuse every connection.
    let watcher = relay.cut_then_refuse(SIZE as u64 / 2);
    let error = send(&opts, &[&file], &Arc::new(Seen::default())).await.expect_err("the receiver is unreachable");
    watcher.await.unwrap();
    eventually("the partial file is kept", || kept(inbox.path()).len() == 2).await;
    Broken { inbox, _src: src, file, content, rx, handler, relay, owner, opts, error }
}

/// The connection breaks in the middle of a file and the receiver does not notice (its side stays
/// open): the sender reconnects by itself, the receiver lets it replace the stalled upload at once,
/// and only the rest of the file is sent.
#[tokio::test]
async fn a_break_in_the_middle_heals_within_the_same_send() {
    let inbox = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let content = data(SIZE, 1);
    let file = src.path().join("big.bin");
    std::fs::write(&file, &content).unwrap();
    let (rx, handler) = receiver(inbox.path(), false).await;
    let relay = Relay::start(rx.local_addr()).await;
    relay.cut_at.store(SIZE as u64 / 2, Ordering::SeqCst);
    let id = Identity::generate().unwrap();
    let seen = Arc::new(Seen::default());
    let report = send(&options(&id, relay.addr.port()), &[&file], &seen).await.unwrap();
    assert_eq!(report.sent, 1);
    assert_eq!(relay.cuts.load(Ordering::SeqCst), 1);
    assert_eq!(std::fs::read(inbox.path().join("big.bin")).unwrap(), content);
    let resumed = seen.resumed_at();
    assert!(resumed.len() == 1 && resumed[0] > SIZE as u64 / 4, "resumed at {resumed:?}");
    let through = relay.sent.load(Ordering::SeqCst);
    assert!(through < SIZE as u64 * 110 / 100, "{through} bytes went through the relay for a file of {SIZE}");
    assert!(handler.events().iter().any(|e| matches!(e, ReceiveEvent::FileResumed { .. })));
    assert!(kept(inbox.path()).is_empty(), "{:?}", list_tree(inbox.path()));
}

/// The sender gives up (the receiver stays unreachable beyond its reconnect time): the receiver
/// keeps the partial file, hidden; the same send again sends only the rest. A changed file is sent
/// from the start, whatever the receiver holds.
#[tokio::test]
async fn a_send_that_gave_up_resumes_when_run_again_and_a_changed_file_starts_over() {
    let Broken { inbox, _src, file, content, rx: _rx, handler: _handler, relay, owner: _owner, opts, error: e } = broken_send(2).await;
    assert_eq!(e.kind, ErrorKind::Network, "{e}");
    assert!(e.message.contains("send the same files again to resume"), "{e}");
    // Kept, hidden: nothing under the final name.
    assert!(!inbox.path().join("big.bin").exists());

    // Again: only the rest goes through.
    relay.refuse.store(false, Ordering::SeqCst);
    let before = relay.sent.load(Ordering::SeqCst);
    let seen = Arc::new(Seen::default());
    send_when_free(&opts, &[&file], &seen).await.unwrap();
    let through = relay.sent.load(Ordering::SeqCst) - before;
    assert_eq!(std::fs::read(inbox.path().join("big.bin")).unwrap(), content);
    assert_eq!(seen.resumed_at().len(), 1, "resumed at {:?}", seen.resumed_at());
    assert!(through <= SIZE as u64 * 55 / 100, "{through} bytes sent again of {SIZE}");
    assert!(kept(inbox.path()).is_empty());

    // Break again, then change the file's first bytes (same size, same modified time): from the start.
    std::fs::remove_file(inbox.path().join("big.bin")).unwrap();
    let watcher = relay.cut_then_refuse(relay.sent.load(Ordering::SeqCst) + SIZE as u64 / 2);
    send(&opts, &[&file], &Arc::new(Seen::default())).await.expect_err("unreachable again");
    watcher.await.unwrap();
    eventually("the partial file is kept", || kept(inbox.path()).len() == 2).await;
    let modified = std::fs::metadata(&file).unwrap().modified().unwrap();
    let mut changed = content.clone();
    changed[..1000].fill(0xAA);
    std::fs::write(&file, &changed).unwrap();
    std::fs::File::options().write(true).open(&file).unwrap().set_modified(modified).unwrap();
    relay.refuse.store(false, Ordering::SeqCst);
    let before = relay.sent.load(Ordering::SeqCst);
    let seen = Arc::new(Seen::default());
    send_when_free(&opts, &[&file], &seen).await.unwrap();
    let through = relay.sent.load(Ordering::SeqCst) - before;
    assert_eq!(std::fs::read(inbox.path().join("big.bin")).unwrap(), changed);
    assert!(seen.resumed_at().is_empty(), "a changed file must not resume");
    assert!(through >= SIZE as u64, "{through} bytes: the whole file goes again");
}

/// The receiver is stopped in the middle (its process goes away) and started again on the same
/// folder: the partial file is still there, and the same send resumes it.
#[tokio::test]
async fn a_receiver_restarted_on_the_same_folder_resumes() {
    let inbox = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let content = data(SIZE, 3);
    let file = src.path().join("big.bin");
    std::fs::write(&file, &content).unwrap();
    let (rx, handler) = receiver(inbox.path(), false).await;
    let id = Identity::generate().unwrap();
    let mut opts = options(&id, rx.local_addr().port());
    opts.timeouts.reconnect = Duration::from_secs(1);
    let seen = Arc::new(Seen::default());
    let sending = {
        let (opts, file, seen) = (opts.clone(), file.clone(), seen.clone());
        tokio::spawn(async move { send(&opts, &[&file], &seen).await })
    };
    handler
        .wait_event("half of the file", |e| matches!(e, ReceiveEvent::FileProgress { received, .. } if *received > SIZE as u64 / 2))
        .await;
    // Gone as if killed: its connections close, nobody cancels.
    rx.stop_abruptly();
    assert!(sending.await.unwrap().is_err());
    eventually("the partial file is kept", || kept(inbox.path()).len() == 2).await;
    let (rx2, _h2) = receiver(inbox.path(), false).await;
    assert_eq!(kept(inbox.path()).len(), 2, "a receiver starting keeps fresh partial files");
    opts.peer.port = rx2.local_addr().port();
    let seen = Arc::new(Seen::default());
    send_when_free(&opts, &[&file], &seen).await.unwrap();
    assert_eq!(std::fs::read(inbox.path().join("big.bin")).unwrap(), content);
    let resumed = seen.resumed_at();
    assert!(resumed.len() == 1 && resumed[0] > SIZE as u64 / 2, "resumed at {resumed:?}");
}

/// A cancel is not a break: the partial file goes.
#[tokio::test]
async fn a_cancelled_send_leaves_nothing() {
    let inbox = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("big.bin");
    std::fs::write(&file, data(SIZE, 4)).unwrap();
    let (rx, handler) = receiver(inbox.path(), false).await;
    let id = Identity::generate().unwrap();
    let opts = options(&id, rx.local_addr().port());
    let cancel = CancellationToken::new();
    let sending = {
        let (opts, cancel) = (opts.clone(), cancel.clone());
        let sel = Selection::from_paths(std::slice::from_ref(&file)).unwrap();
        tokio::spawn(async move { send::send_files(&opts, &sel, Arc::new(|_e: SendEvent| {}), cancel).await })
    };
    handler.wait_event("some progress", |e| matches!(e, ReceiveEvent::FileProgress { received, .. } if *received > 1 << 20)).await;
    cancel.cancel();
    let e = tokio::time::timeout(Duration::from_secs(30), sending).await.unwrap().unwrap().unwrap_err();
    assert_eq!(e.kind, ErrorKind::Cancelled);
    eventually("nothing is left", || list_tree(inbox.path()).is_empty()).await;
}

/// Only the verified sender of a partial file is offered it: another verified sender, a sender
/// without a certificate and a plain LocalSend body (no `resume` feature) start from zero; an
/// offset nobody offered, or beyond what is held, is refused.
#[tokio::test]
async fn nobody_else_may_continue_a_partial_file() {
    let Broken { inbox, _src, file, content, rx, handler, relay, owner, opts, error: _ } = broken_send(5).await;

    // The body a Ferry sender would send, with the modified time the owner's sender gave.
    let mtime = handler
        .events()
        .iter()
        .find_map(|e| match e {
            ReceiveEvent::SessionStarted { files, .. } => files[0].metadata.as_ref().and_then(|m| m.modified.clone()),
            _ => None,
        })
        .unwrap();
    let body = |fp: &str, resume: bool| {
        let mut v = serde_json::json!({
            "info": {"alias": "Other", "version": "2.1", "deviceType": "desktop", "fingerprint": fp, "port": 53317,
                     "protocol": "https", "download": false},
            "files": {"f0": {"id": "f0", "fileName": "big.bin", "size": SIZE, "fileType": "application/octet-stream",
                             "metadata": {"modified": mtime}}}
        });
        if resume {
            v["info"]["ferry"] = serde_json::json!({"version": 1, "features": ["emptyDirs", "resume"]});
        }
        v
    };
    let prepare = "/api/localsend/v2/prepare-upload";
    // The owner itself is offered it (the check that the body is right).
    let r = prepare_when_free(&Raw::https(rx.local_addr(), Some(owner.clone())), &body(owner.fingerprint(), true)).await;
    assert_eq!(r.status, 200);
    let offer = &r.json()["ferry"]["resume"]["f0"];
    let held = offer["offset"].as_u64().expect("the owner is offered its partial file");
    assert!(held > 0 && offer["sha256"].as_str().unwrap().len() == 64);
    let owner_answer = r.json();
    let (sid, token) = (owner_answer["sessionId"].as_str().unwrap().to_string(), owner_answer["files"]["f0"].as_str().unwrap().to_string());
    let cancel = |sid: &str, keep: bool| format!("/api/localsend/v2/cancel?sessionId={sid}{}", if keep { "&keep=partial" } else { "" });
    // Beyond what is held: 416; the file stays.
    let up = |offset: u64| format!("/api/localsend/v2/upload?sessionId={sid}&fileId=f0&token={token}&offset={offset}");
    let r = Raw::https(rx.local_addr(), Some(owner.clone())).send("POST", &up(held + 1), b"x").await;
    assert_eq!(r.status, 416, "{}", r.message());
    assert_eq!(kept(inbox.path()).len(), 2);
    // A bogus offset: 400.
    let r = Raw::https(rx.local_addr(), Some(owner.clone())).send("POST", &up(0).replace("offset=0", "offset=-1"), b"x").await;
    assert_eq!(r.status, 400);
    assert_eq!(Raw::https(rx.local_addr(), Some(owner.clone())).send("POST", &cancel(&sid, true), b"").await.status, 200);

    // Another verified sender (it even claims the owner's fingerprint in its body), the same
    // claim without a certificate, and a plain LocalSend body: no offer.
    let stranger = Identity::generate().unwrap();
    for (raw, resume) in [
        (Raw::https(rx.local_addr(), Some(stranger.clone())), true),
        (Raw::https(rx.local_addr(), None), true),
        (Raw::https(rx.local_addr(), Some(owner.clone())), false),
    ] {
        let r = raw.post_json(prepare, &body(owner.fingerprint(), resume)).await;
        assert_eq!(r.status, 200, "{}", r.message());
        let answer = r.json();
        assert!(answer.get("ferry").is_none(), "{answer}");
        // An offset the receiver did not offer to this sender: refused, nothing appended.
        let (sid, token) = (answer["sessionId"].as_str().unwrap(), answer["files"]["f0"].as_str().unwrap());
        let path = format!("/api/localsend/v2/upload?sessionId={sid}&fileId=f0&token={token}&offset={held}");
        let r = raw.send("POST", &path, b"x").await;
        assert!(r.status == 409 || r.status == 416, "{} {}", r.status, r.message());
        assert!(!inbox.path().join("big.bin").exists());
        assert_eq!(raw.send("POST", &cancel(sid, false), b"").await.status, 200);
        assert_eq!(kept(inbox.path()).len(), 2, "another sender's cancel leaves the owner's partial file");
    }
    // The owner's partial file is untouched and still resumes.
    relay.refuse.store(false, Ordering::SeqCst);
    let seen = Arc::new(Seen::default());
    send_when_free(&opts, &[&file], &seen).await.unwrap();
    assert_eq!(seen.resumed_at(), vec![held]);
    assert_eq!(std::fs::read(inbox.path().join("big.bin")).unwrap(), content);
}

/// The token of the owner's new session is not enough to touch its kept partial file: another
/// certificate or none, from the same address, can neither continue it (409), nor cut it down by
/// an upload from the start (that goes into a fresh part file), nor remove it with a cancel.
#[tokio::test]
async fn a_token_without_the_owners_certificate_never_touches_a_kept_partial() {
    let Broken { inbox, _src, file, content, rx, handler: _handler, relay, owner, opts, error: _ } = broken_send(6).await;
    let partial = || {
        let name = kept(inbox.path()).into_iter().find(|n| n.ends_with(".partial")).expect("kept");
        std::fs::read(inbox.path().join(name)).unwrap()
    };
    let mut before = Vec::new();

    for (round, intruder) in [Some(Identity::generate().unwrap()), None].into_iter().enumerate() {
        // The owner opens a session (it is offered its partial file) and holds its token.
        let body = |resume: bool| {
            let mut v = prepare_body(owner.fingerprint(), &[]);
            v["files"] =
                serde_json::json!({"f0": {"id": "f0", "fileName": "big.bin", "size": SIZE, "fileType": "application/octet-stream"}});
            if resume {
                v["info"]["ferry"] = serde_json::json!({"version": 1, "features": ["emptyDirs", "resume"]});
            }
            v
        };
        let mtime = kept_mtime(inbox.path());
        let mut b = body(true);
        b["files"]["f0"]["metadata"] = serde_json::json!({"modified": mtime});
        let r = prepare_when_free(&Raw::https(rx.local_addr(), Some(owner.clone())), &b).await;
        assert_eq!(r.status, 200, "{}", r.message());
        let answer = r.json();
        let held = answer["ferry"]["resume"]["f0"]["offset"].as_u64().expect("the owner is offered its partial file");
        if round == 0 {
            // The owner's new request ended its stalled upload, which kept what it had: the receiver
            // hashed it as it arrived, the record has that hash, and the offer read nothing.
            before = partial();
            let name = kept(inbox.path()).into_iter().find(|n| n.ends_with(".resume")).unwrap();
            let rec: serde_json::Value = serde_json::from_slice(&std::fs::read(inbox.path().join(name)).unwrap()).unwrap();
            assert_eq!(rec["held"]["length"].as_u64(), Some(before.len() as u64), "{rec}");
            assert_eq!(rec["held"]["sha256"].as_str(), Some(sha256_hex(&before).as_str()));
            assert_eq!(answer["ferry"]["resume"]["f0"]["sha256"].as_str(), Some(sha256_hex(&before).as_str()));
        }
        assert_eq!(held, before.len() as u64);
        let (sid, token) = (answer["sessionId"].as_str().unwrap(), answer["files"]["f0"].as_str().unwrap());
        let up = |offset: u64| format!("/api/localsend/v2/upload?sessionId={sid}&fileId=f0&token={token}&offset={offset}");
        let raw = Raw::https(rx.local_addr(), intruder.clone());
        // Continuing it with the owner's token: refused.
        let r = raw.send("POST", &up(held), b"X").await;
        assert_eq!(r.status, 409, "round {round}: {}", r.message());
        // An upload from the start that breaks off: into its own part file, the kept one stays whole.
        let r = raw.send("POST", &up(0), b"short").await;
        assert_eq!(r.status, 400, "round {round}: {}", r.message());
        assert_eq!(kept(inbox.path()).len(), 2, "round {round}");
        assert_eq!(partial(), before, "round {round}: the kept partial file is untouched");
        // A cancel from its connection ends the session but does not remove the owner's partial file.
        let r = raw.send("POST", &format!("/api/localsend/v2/cancel?sessionId={sid}"), b"").await;
        assert_eq!(r.status, 200);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(partial(), before, "round {round}: a stranger's cancel leaves the owner's partial file");
        assert!(!inbox.path().join("big.bin").exists());
    }
    // The owner still resumes it.
    relay.refuse.store(false, Ordering::SeqCst);
    let seen = Arc::new(Seen::default());
    send_when_free(&opts, &[&file], &seen).await.unwrap();
    assert_eq!(seen.resumed_at(), vec![before.len() as u64]);
    assert_eq!(std::fs::read(inbox.path().join("big.bin")).unwrap(), content);
}

/// One accepted request naming the same existing file many times (LocalSend sends base names,
/// so two photos of the same name make one request) is answered as before, and the receiver with
/// skip-existing hashes that file once (see `core::storage` for that and the budget).
#[tokio::test]
async fn the_same_name_many_times_in_one_request_is_looked_at_once() {
    let inbox = tempfile::tempdir().unwrap();
    let content = vec![1u8; 1 << 20];
    std::fs::write(inbox.path().join("huge.bin"), &content).unwrap();
    let (rx, _handler) = receiver(inbox.path(), true).await;
    let id = Identity::generate().unwrap();
    let mut body = prepare_body(id.fingerprint(), &[]);
    let entry = |i: usize| {
        let sha = if i.is_multiple_of(2) { sha256_hex(&content) } else { "00".repeat(32) };
        serde_json::json!({"id": format!("f{i}"), "fileName": "huge.bin", "size": 1 << 20, "fileType": "application/octet-stream", "sha256": sha})
    };
    body["files"] = (0..20).map(|i| (format!("f{i}"), entry(i))).collect::<serde_json::Map<_, _>>().into();
    let r = Raw::https(rx.local_addr(), Some(id.clone())).post_json("/api/localsend/v2/prepare-upload", &body).await;
    assert_eq!(r.status, 200, "{}", r.message());
    let tokens = r.json()["files"].as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(tokens.len(), 10, "the ones with the checksum of the file there are skipped: {tokens:?}");
    assert!(tokens.iter().all(|k| k[1..].parse::<usize>().unwrap() % 2 == 1));
}

/// Two sends at once from one device do not end each other: while the first session's upload
/// makes progress, the same sender's new request gets `409`; once that upload stalls (the
/// connection is open but silent, as after a Wi-Fi drop the receiver did not notice), the new
/// request replaces the session at once.
#[tokio::test]
async fn the_same_sender_replaces_its_session_only_when_it_stalled() {
    let inbox = tempfile::tempdir().unwrap();
    let (rx, _handler) = receiver(inbox.path(), false).await;
    let owner = Identity::generate().unwrap();
    let body = |name: &str| {
        let mut v = prepare_body(owner.fingerprint(), &[]);
        v["files"] = serde_json::json!({"f0": {"id": "f0", "fileName": name, "size": SIZE, "fileType": "application/octet-stream"}});
        v["info"]["ferry"] = serde_json::json!({"version": 1, "features": ["emptyDirs", "resume"]});
        v
    };
    let prepare = "/api/localsend/v2/prepare-upload";
    let r = Raw::https(rx.local_addr(), Some(owner.clone())).post_json(prepare, &body("first.bin")).await;
    assert_eq!(r.status, 200, "{}", r.message());
    let (sid, token) = (r.json()["sessionId"].as_str().unwrap().to_string(), r.json()["files"]["f0"].as_str().unwrap().to_string());
    // The first send's upload: 64 KiB every 20 ms until told to go silent (its connection stays open).
    let mut conn = Raw::https(rx.local_addr(), Some(owner.clone())).connect().await;
    let head = format!(
        "POST /api/localsend/v2/upload?sessionId={sid}&fileId=f0&token={token} HTTP/1.1\r\nHost: x\r\nContent-Length: {SIZE}\r\n\r\n"
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let silent = CancellationToken::new();
    let writer = {
        let silent = silent.clone();
        tokio::spawn(async move {
            let chunk = vec![5u8; 64 * 1024];
            let mut sent = 0;
            while !silent.is_cancelled() && sent + chunk.len() < SIZE {
                conn.write_all(&chunk).await.unwrap();
                conn.flush().await.unwrap();
                sent += chunk.len();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            conn // held open, silent
        })
    };
    // While it makes progress (over more than the stall time), a second send from the same device is refused.
    let until = std::time::Instant::now() + session_stall() + Duration::from_secs(2);
    while std::time::Instant::now() < until {
        let r = Raw::https(rx.local_addr(), Some(owner.clone())).post_json(prepare, &body("second.bin")).await;
        assert_eq!(r.status, 409, "{}", r.message());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Silent from now on: a new request replaces the stalled session (bounded wait).
    silent.cancel();
    let _conn = writer.await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let r = Raw::https(rx.local_addr(), Some(owner.clone())).post_json(prepare, &body("second.bin")).await;
        if r.status == 200 {
            assert_ne!(r.json()["sessionId"].as_str().unwrap(), sid);
            break;
        }
        assert_eq!(r.status, 409, "{}", r.message());
        assert!(std::time::Instant::now() < deadline, "the stalled session is never replaced");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// How long a session's uploads must bring nothing before its sender's new request replaces it.
fn session_stall() -> Duration {
    Duration::from_secs(5)
}

/// A send waiting out its reconnect back-off can be asked to try again at once (the app saw the
/// network come back): it resumes before the wait would have ended.
#[tokio::test]
async fn a_send_asked_to_retry_now_cuts_its_back_off_short() {
    let inbox = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let content = data(SIZE, 7);
    let file = src.path().join("big.bin");
    std::fs::write(&file, &content).unwrap();
    let (rx, _handler) = receiver(inbox.path(), false).await;
    let relay = Relay::start(rx.local_addr()).await;
    let id = Identity::generate().unwrap();
    let mut opts = options(&id, relay.addr.port());
    let retry = Arc::new(tokio::sync::Notify::new());
    opts.retry_now = Some(retry.clone());
    let watcher = relay.cut_then_refuse(SIZE as u64 / 2);
    let seen = Arc::new(Seen::default());
    let sending = {
        let (opts, file, seen) = (opts.clone(), file.clone(), seen.clone());
        tokio::spawn(async move { send(&opts, &[&file], &seen).await })
    };
    // The fifth failed try is followed by a wait of 4 s (250 ms doubling).
    let failed = || seen.events.lock().unwrap().iter().filter(|e| matches!(e, SendEvent::FileFailed { retry: true, .. })).count();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while failed() < 5 {
        assert!(std::time::Instant::now() < deadline, "the send did not retry");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let asked = std::time::Instant::now();
    relay.refuse.store(false, Ordering::SeqCst);
    retry.notify_one();
    while seen.resumed_at().is_empty() {
        assert!(asked.elapsed() < Duration::from_secs(60), "never resumed");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let took = asked.elapsed();
    assert!(took < Duration::from_millis(3900), "resumed after {took:?}: the back-off was waited out");
    sending.await.unwrap().unwrap();
    watcher.await.unwrap();
    assert_eq!(std::fs::read(inbox.path().join("big.bin")).unwrap(), content);
}

/// The modified time recorded for the one kept partial file below `dir`.
fn kept_mtime(dir: &Path) -> String {
    let name = kept(dir).into_iter().find(|n| n.ends_with(".resume")).expect("a record");
    let rec: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join(name)).unwrap()).unwrap();
    rec["modified"].as_str().unwrap().to_string()
}

/// With skip-existing, a folder sent twice moves only what changed; the sender reports the rest
/// as skipped, not failed. (A changed file never replaces the one there: it arrives numbered.)
#[tokio::test]
async fn skip_existing_sends_only_what_changed() {
    let inbox = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let root = src.path().join("tree");
    for i in 0..1000 {
        let dir = root.join(format!("d{}", i % 10));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("f{i}.txt")), format!("file {i}")).unwrap();
    }
    let (rx, _handler) = receiver(inbox.path(), true).await;
    let id = Identity::generate().unwrap();
    let mut opts = options(&id, rx.local_addr().port());
    opts.parallel = 4;
    let first = send(&opts, &[&root], &Arc::new(Seen::default())).await.unwrap();
    assert_eq!(first.sent, 1000);
    for i in [3, 500, 999] {
        std::fs::write(root.join(format!("d{}/f{i}.txt", i % 10)), format!("changed {i}")).unwrap();
    }
    let seen = Arc::new(Seen::default());
    let second = send(&opts, &[&root], &seen).await.unwrap();
    assert_eq!((second.sent, second.skipped), (3, 997));
    assert_eq!(seen.skipped(), 997);
    assert_eq!(std::fs::read_to_string(inbox.path().join("tree/d0/f500 (2).txt")).unwrap(), "changed 500");
    assert_eq!(list_tree(&inbox.path().join("tree")).len(), 1013, "no other second copies");
    // With checksums (as over plain HTTP), a file with the same size and time but other bytes is sent.
    opts.checksums = send::Checksums::Always;
    let path = root.join("d1/f1.txt");
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::fs::write(&path, "file X").unwrap();
    std::fs::File::options().write(true).open(&path).unwrap().set_modified(modified).unwrap();
    let third = send(&opts, &[&root], &Arc::new(Seen::default())).await.unwrap();
    // That one, and the 3 changed ones again (their paths still hold the old files).
    assert_eq!((third.sent, third.skipped), (4, 996));
}

/// A file sent in pieces with `X-Content-Range` (as the npm `localsend` sender sends files over
/// 50 MiB): each piece in order into the same partial file with the same token; pieces out of
/// order, forged ranges and a wrong checksum over the pieces are refused, and a piece before the
/// last never makes a file visible.
#[tokio::test]
async fn pieces_with_x_content_range_make_one_file() {
    let inbox = tempfile::tempdir().unwrap();
    let (rx, handler) = receiver(inbox.path(), false).await;
    let raw = Raw::https(rx.local_addr(), None);
    let content = data(3 * 1024 * 1024 + 17, 6);
    let piece = 1024 * 1024;
    let prepare = |name: &str, sha: &str| {
        let mut v = prepare_body("npm", &[(name, &content)]);
        v["files"]["f0"]["sha256"] = serde_json::json!(sha);
        v
    };
    let send_piece = |path: String, first: usize, last: usize, total: usize| {
        let raw = raw.clone();
        let body = content[first..=last.min(content.len() - 1)].to_vec();
        async move {
            let mut s = raw.connect().await;
            let head = format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nX-Content-Range: bytes {first}-{last}/{total}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            s.write_all(head.as_bytes()).await.unwrap();
            s.write_all(&body).await.unwrap();
            read_response(&mut s).await
        }
    };
    let start = |name: &'static str, sha: String| {
        let raw = raw.clone();
        let v = prepare(name, &sha);
        async move {
            let r = raw.post_json("/api/localsend/v2/prepare-upload", &v).await;
            assert_eq!(r.status, 200, "{}", r.message());
            let j = r.json();
            let (sid, token) = (j["sessionId"].as_str().unwrap().to_string(), j["files"]["f0"].as_str().unwrap().to_string());
            (sid.clone(), format!("/api/localsend/v2/upload?sessionId={sid}&fileId=f0&token={token}"))
        }
    };
    let total = content.len();
    let (_, path) = start("pieces.bin", sha256_hex(&content)).await;
    assert_eq!(send_piece(path.clone(), 0, piece - 1, total).await.status, 200);
    // Out of order, a forged total, a range past the end: refused; nothing visible yet.
    assert_eq!(send_piece(path.clone(), 2 * piece, 3 * piece - 1, total).await.status, 416);
    assert_eq!(send_piece(path.clone(), piece, 2 * piece - 1, total + 1).await.status, 400);
    assert_eq!(send_piece(path.clone(), piece, total, total).await.status, 400);
    assert!(!inbox.path().join("pieces.bin").exists());
    assert_eq!(send_piece(path.clone(), piece, 2 * piece - 1, total).await.status, 200);
    assert_eq!(send_piece(path.clone(), 2 * piece, 3 * piece - 1, total).await.status, 200);
    assert!(!inbox.path().join("pieces.bin").exists());
    assert_eq!(send_piece(path.clone(), 3 * piece, total - 1, total).await.status, 200);
    assert_eq!(std::fs::read(inbox.path().join("pieces.bin")).unwrap(), content);
    handler.wait_event("the session finished", |e| matches!(e, ReceiveEvent::SessionFinished { .. })).await;

    // A checksum that does not match the pieces together: 422, nothing saved.
    let (sid, path) = start("bad.bin", sha256_hex(b"something else")).await;
    for first in (0..total).step_by(piece) {
        let last = (first + piece - 1).min(total - 1);
        let r = send_piece(path.clone(), first, last, total).await;
        let want = if last + 1 == total { 422 } else { 200 };
        assert_eq!(r.status, want, "{}", r.message());
    }
    assert!(!inbox.path().join("bad.bin").exists());
    assert_eq!(raw.send("POST", &format!("/api/localsend/v2/cancel?sessionId={sid}"), b"").await.status, 200);
    eventually("nothing else is left", || list_tree(inbox.path()) == vec!["pieces.bin".to_string()]).await;
}

/// The receiver moves (its address changes) while the connection is broken: the sender asks
/// where it is now, reconnects there (still pinned to the identity it proved) and continues.
#[tokio::test]
async fn a_receiver_that_moved_is_found_again() {
    let inbox = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let content = data(SIZE, 7);
    let file = src.path().join("big.bin");
    std::fs::write(&file, &content).unwrap();
    let (rx, _handler) = receiver(inbox.path(), false).await;
    let old = Relay::start(rx.local_addr()).await;
    let new = Relay::start(rx.local_addr()).await;
    let id = Identity::generate().unwrap();
    let mut opts = options(&id, old.addr.port());
    opts.timeouts.reconnect = Duration::from_secs(20);
    // Cut, and the old address answers no more.
    let watcher = old.cut_then_refuse(SIZE as u64 / 2);
    let moved = Arc::new(AtomicBool::new(false));
    let (m, port) = (moved.clone(), new.addr.port());
    opts.relocate = Some(Arc::new(move || {
        m.store(true, Ordering::SeqCst);
        Some(PeerAddr { host: "127.0.0.1".into(), port, protocol: Protocol::Https })
    }));
    let seen = Arc::new(Seen::default());
    send(&opts, &[&file], &seen).await.unwrap();
    watcher.await.unwrap();
    assert!(moved.load(Ordering::SeqCst));
    assert_eq!(std::fs::read(inbox.path().join("big.bin")).unwrap(), content);
    let resumed = seen.resumed_at();
    assert!(resumed.len() == 1 && resumed[0] > SIZE as u64 / 4, "resumed at {resumed:?}");
    let through = new.sent.load(Ordering::SeqCst);
    assert!(through < SIZE as u64 * 6 / 10, "{through} bytes through the new address");
}

/// A folder whose send broke in its big file after its small files were saved: the same send
/// again goes into the same folder (no `proj (2)/`), the files saved whole are not sent again
/// (reported as skipped, no `a (2).txt`), and the big file resumes.
#[tokio::test]
async fn a_folder_sent_again_after_a_break_moves_only_what_is_missing() {
    let inbox = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    let proj = src.path().join("proj");
    std::fs::create_dir_all(proj.join("sub")).unwrap();
    std::fs::write(proj.join("a.txt"), b"first small file").unwrap();
    std::fs::write(proj.join("sub/b.txt"), b"second small file").unwrap();
    let content = data(SIZE, 7);
    std::fs::write(proj.join("z-big.bin"), &content).unwrap();
    let (rx, _handler) = receiver(inbox.path(), false).await;
    let relay = Relay::start(rx.local_addr()).await;
    let id = Identity::generate().unwrap();
    let mut opts = options(&id, relay.addr.port());
    opts.timeouts.reconnect = Duration::from_secs(1);

    let watcher = relay.cut_then_refuse(SIZE as u64 / 2);
    send(&opts, &[&proj], &Arc::new(Seen::default())).await.expect_err("the receiver is unreachable");
    watcher.await.unwrap();
    eventually("the partial file is kept", || kept(inbox.path()).len() == 2).await;
    let saved_whole: Vec<&str> = ["proj/a.txt", "proj/sub/b.txt"].into_iter().filter(|p| inbox.path().join(p).exists()).collect();
    assert!(!saved_whole.is_empty(), "the small files were saved before the cut: {:?}", list_tree(inbox.path()));

    relay.refuse.store(false, Ordering::SeqCst);
    let seen = Arc::new(Seen::default());
    send_when_free(&opts, &[&proj], &seen).await.unwrap();
    assert_eq!(std::fs::read(inbox.path().join("proj/z-big.bin")).unwrap(), content);
    assert_eq!(std::fs::read(inbox.path().join("proj/a.txt")).unwrap(), b"first small file");
    assert_eq!(std::fs::read(inbox.path().join("proj/sub/b.txt")).unwrap(), b"second small file");
    assert_eq!(seen.resumed_at().len(), 1, "the big file resumed");
    assert_eq!(seen.skipped(), saved_whole.len(), "the files saved whole are skipped");
    let names = list_tree(inbox.path());
    assert!(!names.iter().any(|n| n.contains(" (2)")), "no second copies: {names:?}");
    assert!(kept(inbox.path()).is_empty());
}
