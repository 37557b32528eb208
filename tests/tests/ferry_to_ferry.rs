//! Ferry sending to Ferry through the engine's own client, over HTTPS and HTTP.

use ferry_core::client::PeerAddr;
use ferry_core::identity::Identity;
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
        info: ferry_core::device_info("Sender", DeviceType::Desktop, "Linux", identity.fingerprint(), 53317, protocol),
        identity,
        peer: PeerAddr { host: "127.0.0.1".into(), port: node.addr().port(), protocol },
        expected_fingerprint: None,
        pin: None,
        parallel: 3,
        checksums: send::Checksums::Always,
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
    let report = send::send_files(&opts, &sel, Arc::new(move |e: SendEvent| ev.lock().unwrap().push(e)), CancellationToken::new()).await.unwrap();
    assert_eq!(report.sent, 4);
    assert_eq!(report.bytes, 300_000 + 3 + 2_000_000);
    assert_eq!(report.receiver_fingerprint.is_some(), https);
    assert_eq!(
        n.listing(),
        vec!["album/", "album/2024/", "album/2024/empty/", "album/2024/one.jpg", "album/nothing-here/", "album/two words.txt", "empty.dat", "loose.bin"]
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
    n.handler.wait_event("finished", |e| matches!(e, ReceiveEvent::SessionFinished { outcome: SessionOutcome::Finished { saved: 4, failed: 0 }, .. })).await;
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
    n.handler.wait_event("cancelled", |e| matches!(e, ReceiveEvent::SessionFinished { outcome: SessionOutcome::CancelledBySender, .. })).await;
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
    assert!(matches!(err.kind, ErrorKind::Cancelled | ErrorKind::Network | ErrorKind::Protocol), "{err:?}");
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
