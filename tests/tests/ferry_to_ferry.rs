//! Ferry sending to Ferry through the engine's own client, over HTTPS and HTTP.

use ferry_core::identity::Identity;
use ferry_core::protocol::PeerAddr;
use ferry_core::protocol::{DeviceType, Protocol};
use ferry_core::send::{self, Selection, SendEvent, SendOptions};
use ferry_core::server::{ReceiveEvent, SessionOutcome};
use ferry_core::{CancellationToken, ErrorKind};
use ferry_tests::*;
use std::sync::{Arc, Mutex};

fn options(node: &Node, https: bool) -> SendOptions {
    let identity = Identity::generate().unwrap();
    let protocol = if https { Protocol::Https } else { Protocol::Http };
    SendOptions {
        info: ferry_core::protocol::device_info("Sender", DeviceType::Desktop, "Linux", identity.fingerprint(), 53317, protocol),
        identity,
        peer: PeerAddr { host: "127.0.0.1".into(), port: node.addr().port(), protocol },
        expected_fingerprint: None,
        pin: None,
        parallel: 3,
        checksums: send::Checksums::Always,
        timeouts: send::SendTimeouts::default(),
        relocate: None,
        retry_now: None,
    }
}

fn tree() -> tempfile::TempDir {
    let src = tempfile::tempdir().unwrap();
    let root = src.path().join("album");
    std::fs::create_dir_all(root.join("2024/empty")).unwrap();
    std::fs::create_dir_all(root.join("nothing-here")).unwrap();
    std::fs::write(root.join("2024/one.jpg"), vec![1u8; 300_000]).unwrap();
    std::fs::write(root.join("two words.txt"), b"two").unwrap();
    std::fs::write(src.path().join("loose.bin"), (0..2_000_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>()).unwrap();
    std::fs::write(src.path().join("empty.dat"), b"").unwrap();
    src
}

async fn send_tree(https: bool) {
    let n = Node::start(NodeConfig { https, ..Default::default() }).await;
    let src = tree();
    let sel = Selection::from_paths(&[src.path().join("album"), src.path().join("loose.bin"), src.path().join("empty.dat")]).unwrap();
    assert_eq!(sel.files.len(), 4);
    assert_eq!(sel.empty_dirs, vec!["album/2024/empty", "album/nothing-here"]);
    let opts = options(&n, https);
    let events = Arc::new(Mutex::new(Vec::new()));
    let ev = events.clone();
    let report =
        send::send_files(&opts, &sel, Arc::new(move |e: SendEvent| ev.lock().unwrap().push(e)), CancellationToken::new()).await.unwrap();
    assert_eq!(report.sent, 4);
    assert_eq!(report.bytes, 300_000 + 3 + 2_000_000);
    assert_eq!(report.receiver_fingerprint.is_some(), https);
    assert_eq!(
        n.listing(),
        vec![
            "album/",
            "album/2024/",
            "album/2024/empty/",
            "album/2024/one.jpg",
            "album/nothing-here/",
            "album/two words.txt",
            "empty.dat",
            "loose.bin"
        ]
    );
    for rel in ["album/2024/one.jpg", "album/two words.txt", "loose.bin", "empty.dat"] {
        let (a, b) = (std::fs::read(src.path().join(rel)).unwrap(), std::fs::read(n.inbox().join(rel)).unwrap());
        assert!(a == b, "{rel} differs");
        let (ma, mb) = (std::fs::metadata(src.path().join(rel)).unwrap(), std::fs::metadata(n.inbox().join(rel)).unwrap());
        let secs = |m: &std::fs::Metadata| m.modified().unwrap().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(secs(&ma), secs(&mb), "{rel}: modification time kept");
    }
    // Progress: per file, increasing, ending at the size; the totals add up.
    let events = events.lock().unwrap().clone();
    let mut last: std::collections::HashMap<String, u64> = Default::default();
    for e in events.iter() {
        if let SendEvent::FileProgress { file_id, sent, size } = e {
            let prev = last.insert(file_id.clone(), *sent).unwrap_or(0);
            assert!(*sent >= prev && *sent <= *size);
        }
    }
    assert_eq!(last.values().sum::<u64>(), report.bytes);
    // The receiver saw a verified sender over HTTPS only.
    let req = n.handler.requests().pop().unwrap();
    assert_eq!(req.sender.verified, https);
    if https {
        assert_eq!(req.sender.fingerprint, opts.identity.fingerprint());
    }
    n.handler
        .wait_event("finished", |e| {
            matches!(e, ReceiveEvent::SessionFinished { outcome: SessionOutcome::Finished { saved: 4, failed: 0 }, .. })
        })
        .await;
}

#[tokio::test]
async fn folder_tree_over_https() {
    send_tree(true).await;
}

#[tokio::test]
async fn folder_tree_over_http() {
    send_tree(false).await;
}

#[tokio::test]
async fn only_empty_folders() {
    let n = Node::start(NodeConfig::default()).await;
    let src = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(src.path().join("hollow/inner")).unwrap();
    let sel = Selection::from_paths(&[src.path().join("hollow")]).unwrap();
    let report = send::send_files(&options(&n, true), &sel, Arc::new(|_e: SendEvent| {}), CancellationToken::new()).await.unwrap();
    assert_eq!(report.sent, 0);
    assert_eq!(n.listing(), vec!["hollow/", "hollow/inner/"]);
}

#[tokio::test]
async fn text_over_https_and_http() {
    for https in [true, false] {
        let n = Node::start(NodeConfig { https, answer: Answer::Hold, ..Default::default() }).await;
        let shown = send::send_text(&options(&n, https), "Grüße, Ferry ✓", &|_e: SendEvent| {}).await.unwrap();
        assert!(shown);
        let texts = n.handler.texts();
        assert_eq!(texts[0].1, "Grüße, Ferry ✓");
        assert_eq!(texts[0].0.verified, https);
        assert!(n.listing().is_empty());
    }
}

#[tokio::test]
async fn declined_busy_and_pin_errors_have_kinds() {
    let n = Node::start(NodeConfig { answer: Answer::Decline, ..Default::default() }).await;
    let src = tree();
    let sel = Selection::from_paths(&[src.path().join("loose.bin")]).unwrap();
    let opts = options(&n, true);
    let err = send::send_files(&opts, &sel, Arc::new(|_e: SendEvent| {}), CancellationToken::new()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Declined);

    let n = Node::start(NodeConfig { pin: Some("2468".into()), ..Default::default() }).await;
    let mut opts = options(&n, true);
    let err = send::send_files(&opts, &sel, Arc::new(|_e: SendEvent| {}), CancellationToken::new()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::PinRequired);
    opts.pin = Some("1111".into());
    let err = send::send_files(&opts, &sel, Arc::new(|_e: SendEvent| {}), CancellationToken::new()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidPin);
    opts.pin = Some("2468".into());
    send::send_files(&opts, &sel, Arc::new(|_e: SendEvent| {}), CancellationToken::new()).await.unwrap();

    let n = Node::start(NodeConfig { answer: Answer::Hold, ..Default::default() }).await;
    let opts = options(&n, true);
    let first = tokio::spawn({
        let (opts, sel) = (opts.clone(), sel.clone());
        async move { send::send_files(&opts, &sel, Arc::new(|_e: SendEvent| {}), CancellationToken::new()).await }
    });
    eventually("first request pending", || n.handler.requests().len() == 1).await;
    let err = send::send_files(&options(&n, true), &sel, Arc::new(|_e: SendEvent| {}), CancellationToken::new()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Busy);
    first.abort();
}

#[tokio::test]
async fn sender_cancel_ends_the_receivers_session() {
    let n = Node::start(NodeConfig::default()).await;
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("huge.bin"), vec![0u8; 64 * 1024 * 1024]).unwrap();
    let sel = Selection::from_paths(&[src.path().join("huge.bin")]).unwrap();
    let cancel = CancellationToken::new();
    let c2 = cancel.clone();
    let opts = options(&n, true);
    let task = tokio::spawn(async move {
        send::send_files(
            &opts,
            &sel,
            Arc::new(move |e: SendEvent| {
                if let SendEvent::FileProgress { sent, .. } = e {
                    if sent > 4 * 1024 * 1024 {
                        c2.cancel();
                    }
                }
            }),
            cancel,
        )
        .await
    });
    let err = task.await.unwrap().unwrap_err();
    assert_eq!(err.kind, ErrorKind::Cancelled);
    n.handler
        .wait_event("cancelled", |e| matches!(e, ReceiveEvent::SessionFinished { outcome: SessionOutcome::CancelledBySender, .. }))
        .await;
    eventually("nothing left behind", || n.listing().is_empty()).await;
}

#[tokio::test]
async fn receiver_cancel_fails_the_sender() {
    let n = Node::start(NodeConfig::default()).await;
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("huge.bin"), vec![0u8; 64 * 1024 * 1024]).unwrap();
    let sel = Selection::from_paths(&[src.path().join("huge.bin")]).unwrap();
    let opts = options(&n, true);
    let handle = n.handle.clone();
    let fired = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let err = send::send_files(
        &opts,
        &sel,
        Arc::new(move |e: SendEvent| {
            if let SendEvent::FileProgress { sent, .. } = e {
                if sent > 4 * 1024 * 1024 && !fired.swap(true, std::sync::atomic::Ordering::SeqCst) {
                    handle.cancel_session();
                }
            }
        }),
        CancellationToken::new(),
    )
    .await
    .unwrap_err();
    // The receiver's cancel refuses the upload (403): the sender's error is "cancelled" (a
    // connection closed under the body is tried again, and meets the same refusal).
    assert_eq!(err.kind, ErrorKind::Cancelled, "{err:?}");
    eventually("nothing left behind", || n.listing().is_empty()).await;
}

#[tokio::test]
async fn many_small_files_keep_their_names() {
    let n = Node::start(NodeConfig::default()).await;
    let src = tempfile::tempdir().unwrap();
    let dir = src.path().join("many");
    std::fs::create_dir(&dir).unwrap();
    for i in 0..300 {
        std::fs::write(dir.join(format!("f{i:04}.txt")), format!("file {i}")).unwrap();
    }
    let sel = Selection::from_paths(&[dir]).unwrap();
    let report = send::send_files(&options(&n, true), &sel, Arc::new(|_e: SendEvent| {}), CancellationToken::new()).await.unwrap();
    assert_eq!(report.sent, 300);
    assert_eq!(std::fs::read_to_string(n.inbox().join("many/f0123.txt")).unwrap(), "file 123");
    assert_eq!(n.listing().len(), 301);
}

/// How a [`StallingReceiver`] goes silent.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Stall {
    /// Never answers prepare-upload.
    PrepareUpload,
    /// Reads an upload's whole body, then never answers.
    UploadAnswer,
    /// Accepts the request, then never reads an upload's body.
    UploadReading,
    /// Reads an upload's body slowly but steadily (4 KiB every 40 ms), then answers.
    Trickle,
}

/// A hostile receiver over plain HTTP on loopback: it answers register like a device, then
/// goes silent as its [`Stall`] says. It records every request line it reads.
struct StallingReceiver {
    addr: std::net::SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StallingReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl StallingReceiver {
    async fn start(stall: Stall) -> StallingReceiver {
        // A small receive buffer, so that a slow reader holds the sender back at once.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(16 * 1024).unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(64).unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            for _ in 0..64 {
                let Ok((tcp, _)) = listener.accept().await else { return };
                connections.spawn(Self::serve(tcp, stall, seen.clone()));
            }
        });
        StallingReceiver { addr, requests, task }
    }

    async fn serve(tcp: tokio::net::TcpStream, stall: Stall, seen: Arc<Mutex<Vec<String>>>) {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
        let mut tcp = tokio::io::BufReader::new(tcp);
        for _ in 0..16 {
            let mut head = Vec::new();
            loop {
                let mut line = String::new();
                match tcp.read_line(&mut line).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) if line == "\r\n" => break,
                    Ok(_) => head.push(line.trim_end().to_string()),
                }
                if head.len() > 100 {
                    return;
                }
            }
            let target = head.first().and_then(|l| l.split(' ').nth(1)).unwrap_or_default().to_string();
            seen.lock().unwrap().push(target.clone());
            let len: usize = head
                .iter()
                .find_map(|h| h.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
                .unwrap_or(0);
            let path = target.split('?').next().unwrap_or_default().to_string();
            if path == "/api/localsend/v2/upload" && stall == Stall::UploadReading {
                std::future::pending::<()>().await;
            }
            if path == "/api/localsend/v2/upload" && stall == Stall::Trickle {
                let mut left = len;
                let mut chunk = vec![0u8; 4096];
                while left > 0 {
                    let n = left.min(chunk.len());
                    if tcp.read_exact(&mut chunk[..n]).await.is_err() {
                        return;
                    }
                    left -= n;
                    // A slow receiver is the point: it reads a chunk every 40 ms.
                    tokio::time::sleep(std::time::Duration::from_millis(40)).await;
                }
                let reply = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
                if tcp.get_mut().write_all(reply.as_bytes()).await.is_err() {
                    return;
                }
                continue;
            }
            let mut body = vec![0u8; len];
            if tcp.read_exact(&mut body).await.is_err() {
                return;
            }
            let answer = match path.as_str() {
                "/api/localsend/v2/register" | "/api/localsend/v2/info" => {
                    let info = ferry_core::protocol::device_info(
                        "Silent",
                        DeviceType::Desktop,
                        "Linux",
                        "0f".repeat(32).as_str(),
                        addr_port(&tcp),
                        Protocol::Http,
                    );
                    serde_json::to_string(&info).unwrap()
                }
                "/api/localsend/v2/prepare-upload" => {
                    if stall == Stall::PrepareUpload {
                        std::future::pending::<()>().await;
                    }
                    let req: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    let tokens: serde_json::Map<_, _> =
                        req["files"].as_object().unwrap().keys().map(|k| (k.clone(), serde_json::json!(format!("token-{k}")))).collect();
                    serde_json::json!({"sessionId": "stalled-session", "files": tokens}).to_string()
                }
                "/api/localsend/v2/upload" => std::future::pending().await,
                _ => String::new(),
            };
            let reply = format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}", answer.len());
            if tcp.get_mut().write_all(reply.as_bytes()).await.is_err() {
                return;
            }
        }
    }

    fn options(&self, timeouts: send::SendTimeouts) -> SendOptions {
        let identity = Identity::generate().unwrap();
        SendOptions {
            info: ferry_core::protocol::device_info("Sender", DeviceType::Desktop, "Linux", identity.fingerprint(), 53317, Protocol::Http),
            identity,
            peer: PeerAddr { host: "127.0.0.1".into(), port: self.addr.port(), protocol: Protocol::Http },
            expected_fingerprint: None,
            pin: None,
            parallel: 3,
            checksums: send::Checksums::Never,
            timeouts,
            relocate: None,
            retry_now: None,
        }
    }

    /// Waits (bounded) until a request for `path` arrived.
    async fn wait_for(&self, path: &str) -> bool {
        let limit = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < limit {
            if self.requests.lock().unwrap().iter().any(|r| r.starts_with(path)) {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        false
    }
}

fn addr_port(tcp: &tokio::io::BufReader<tokio::net::TcpStream>) -> u16 {
    tcp.get_ref().local_addr().map(|a| a.port()).unwrap_or(53317)
}

/// Short deadlines for the tests: a stalled step must fail after about one second.
fn short(f: impl FnOnce(&mut send::SendTimeouts)) -> send::SendTimeouts {
    let mut t = send::SendTimeouts {
        decision: std::time::Duration::from_secs(60),
        text_answer: std::time::Duration::from_secs(60),
        stall: std::time::Duration::from_secs(60),
        upload_answer: std::time::Duration::from_secs(60),
        cancel: std::time::Duration::from_secs(5),
        reconnect: std::time::Duration::from_secs(60),
    };
    f(&mut t);
    t
}

/// Runs a send that must fail with a timeout after at least `deadline` and well before the
/// other (60 s) deadlines; returns its error message.
async fn times_out<F: std::future::Future<Output = ferry_core::Result<T>>, T: std::fmt::Debug>(
    deadline: std::time::Duration,
    send: F,
) -> String {
    let started = std::time::Instant::now();
    let result =
        tokio::time::timeout(std::time::Duration::from_secs(40), send).await.expect("the send waited for ever on a silent receiver");
    let took = started.elapsed();
    let e = result.expect_err("a silent receiver cannot complete a send");
    assert_eq!(e.kind, ErrorKind::Timeout, "{e}");
    assert!(e.message.contains("the receiver stopped answering"), "{e}");
    assert!(took >= deadline, "failed after {took:?}, before its deadline {deadline:?}");
    assert!(took < deadline + std::time::Duration::from_secs(15), "failed only after {took:?}");
    e.message
}

#[tokio::test]
async fn a_text_nobody_answers_times_out_and_is_withdrawn() {
    let evil = StallingReceiver::start(Stall::PrepareUpload).await;
    let second = std::time::Duration::from_secs(1);
    let opts = evil.options(short(|t| t.text_answer = second));
    let message = times_out(second, send::send_text(&opts, "hello", &|_: SendEvent| {})).await;
    assert!(message.contains("no answer to the request"), "{message}");
    assert!(evil.wait_for("/api/localsend/v2/cancel").await, "the pending text was not withdrawn: {:?}", evil.requests.lock().unwrap());
}

#[tokio::test]
async fn a_file_request_nobody_decides_on_times_out() {
    let evil = StallingReceiver::start(Stall::PrepareUpload).await;
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("a.txt"), b"abc").unwrap();
    let sel = Selection::from_paths(&[src.path().join("a.txt")]).unwrap();
    let second = std::time::Duration::from_secs(1);
    let opts = evil.options(short(|t| t.decision = second));
    let message = times_out(second, send::send_files(&opts, &sel, Arc::new(|_: SendEvent| {}), CancellationToken::new())).await;
    assert!(message.contains("no answer to the request"), "{message}");
    assert!(evil.wait_for("/api/localsend/v2/cancel").await, "the pending request was not withdrawn");
}

#[tokio::test]
async fn an_upload_that_is_never_answered_times_out_and_cancels_the_session() {
    let evil = StallingReceiver::start(Stall::UploadAnswer).await;
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("a.bin"), vec![7u8; 100_000]).unwrap();
    let sel = Selection::from_paths(&[src.path().join("a.bin")]).unwrap();
    let second = std::time::Duration::from_secs(1);
    let opts = evil.options(short(|t| t.upload_answer = second));
    let message = times_out(second, send::send_files(&opts, &sel, Arc::new(|_: SendEvent| {}), CancellationToken::new())).await;
    assert!(message.contains("after it was sent"), "{message}");
    assert!(evil.wait_for("/api/localsend/v2/cancel?sessionId=stalled-session").await, "the session was not cancelled");
    let uploads = evil.requests.lock().unwrap().iter().filter(|r| r.starts_with("/api/localsend/v2/upload")).count();
    assert_eq!(uploads, 1, "a receiver that stopped answering is not asked again");
}

#[tokio::test]
async fn an_upload_the_receiver_stops_reading_times_out() {
    let evil = StallingReceiver::start(Stall::UploadReading).await;
    let src = tempfile::tempdir().unwrap();
    // Far more than the socket buffers of both ends hold.
    std::fs::write(src.path().join("big.bin"), vec![7u8; 48 << 20]).unwrap();
    let sel = Selection::from_paths(&[src.path().join("big.bin")]).unwrap();
    let second = std::time::Duration::from_secs(1);
    let opts = evil.options(short(|t| t.stall = second));
    let message = times_out(second, send::send_files(&opts, &sel, Arc::new(|_: SendEvent| {}), CancellationToken::new())).await;
    assert!(message.contains("took no data"), "{message}");
    assert!(evil.wait_for("/api/localsend/v2/cancel?sessionId=stalled-session").await, "the session was not cancelled");
}

#[tokio::test]
async fn a_text_taken_as_a_file_whose_upload_is_never_answered_times_out() {
    let evil = StallingReceiver::start(Stall::UploadAnswer).await;
    let second = std::time::Duration::from_secs(1);
    let opts = evil.options(short(|t| t.upload_answer = second));
    let message = times_out(second, send::send_text(&opts, "hello", &|_: SendEvent| {})).await;
    assert!(message.contains("after it was sent"), "{message}");
    assert!(evil.wait_for("/api/localsend/v2/cancel?sessionId=stalled-session").await, "the session was not cancelled");
}

#[tokio::test]
async fn a_slow_but_steady_receiver_is_not_taken_for_a_silent_one() {
    let evil = StallingReceiver::start(Stall::Trickle).await;
    let src = tempfile::tempdir().unwrap();
    // About 4 s at 100 KB/s, far longer than the (1 s) stall deadline.
    std::fs::write(src.path().join("slow.bin"), vec![7u8; 400_000]).unwrap();
    let sel = Selection::from_paths(&[src.path().join("slow.bin")]).unwrap();
    let opts = evil.options(short(|t| t.stall = std::time::Duration::from_secs(1)));
    let report = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        send::send_files(&opts, &sel, Arc::new(|_: SendEvent| {}), CancellationToken::new()),
    )
    .await
    .expect("the send ends")
    .expect("a receiver that keeps reading is not stalled");
    assert_eq!((report.sent, report.bytes), (1, 400_000));
}
