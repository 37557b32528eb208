//! Conformance of Ferry's server, driven by a raw HTTP client over real TLS on loopback.

use ferry_core::identity::Identity;
use ferry_core::server::{ReceiveEvent, ReceivePolicy, SessionOutcome};
use ferry_tests::*;
use serde_json::json;
use tokio::io::AsyncWriteExt;

const P: &str = "/api/localsend/v2/prepare-upload";

async fn node() -> Node {
    Node::start(NodeConfig::default()).await
}

/// Opens an accepted session for `files`; returns (session id, tokens by file id "f0", "f1", ...).
async fn open_session(raw: &Raw, files: &[(&str, &[u8])]) -> (String, serde_json::Value) {
    let r = raw.post_json(P, &prepare_body("BODYFP", files)).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    (v["sessionId"].as_str().unwrap().to_string(), v["files"].clone())
}

fn upload_path(session: &str, file: &str, token: &str) -> String {
    format!("/api/localsend/v2/upload?sessionId={session}&fileId={file}&token={token}")
}

#[tokio::test]
async fn info_and_register_bodies() {
    let n = node().await;
    let raw = Raw::https(n.addr(), Some(Identity::generate().unwrap()));
    for path in ["/api/localsend/v2/info", "/api/localsend/v1/info?fingerprint=x"] {
        let r = raw.send("GET", path, b"").await;
        assert_eq!(r.status, 200);
        let v = r.json();
        assert_eq!(v["fingerprint"], n.identity.fingerprint());
        assert_eq!(v["alias"], "Receiver");
        assert_eq!(v["download"], false);
        assert!(v.get("port").is_none() && v.get("protocol").is_none(), "{v}");
    }
    let me = Identity::generate().unwrap();
    let raw = Raw::https(n.addr(), Some(me.clone()));
    let body = json!({"alias": "Other", "version": "2.1", "deviceType": "mobile", "fingerprint": me.fingerprint(), "port": 53317, "protocol": "https"});
    let r = raw.post_json("/api/localsend/v2/register", &body).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["fingerprint"], n.identity.fingerprint());
    assert_eq!(raw.send("POST", "/api/localsend/v2/register", b"{not json").await.status, 400);
    assert_eq!(raw.send("GET", "/api/localsend/v2/nothing", b"").await.status, 404);
    assert_eq!(raw.send("GET", "/elsewhere", b"").await.status, 404);
}

#[tokio::test]
async fn prepare_upload_bad_bodies() {
    let n = node().await;
    let raw = Raw::https(n.addr(), None);
    assert_eq!(raw.send("POST", P, b"{").await.status, 400);
    let mut empty = prepare_body("X", &[]);
    empty["files"] = json!({});
    assert_eq!(raw.post_json(P, &empty).await.status, 400);
    assert!(!n.handle.busy());
}

#[tokio::test]
async fn full_upload_and_busy_409() {
    let n = node().await;
    let raw = Raw::https(n.addr(), Some(Identity::generate().unwrap()));
    let (sid, tokens) = open_session(&raw, &[("a.txt", b"hello"), ("b.txt", b"world!")]).await;
    // A second request while the session is active.
    let other = Raw::https(n.addr(), None).from_source("127.0.0.3");
    assert_eq!(other.post_json(P, &prepare_body("Y", &[("c", b"c")])).await.status, 409);
    let r = raw.send("POST", &upload_path(&sid, "f0", tokens["f0"].as_str().unwrap()), b"hello").await;
    assert_eq!(r.status, 200);
    // The same file again is refused.
    assert_eq!(raw.send("POST", &upload_path(&sid, "f0", tokens["f0"].as_str().unwrap()), b"hello").await.status, 409);
    let r = raw.send("POST", &upload_path(&sid, "f1", tokens["f1"].as_str().unwrap()), b"world!").await;
    assert_eq!(r.status, 200);
    assert_eq!(n.listing(), vec!["a.txt", "b.txt"]);
    assert_eq!(std::fs::read(n.inbox().join("b.txt")).unwrap(), b"world!");
    n.handler
        .wait_event("finished", |e| {
            matches!(e, ReceiveEvent::SessionFinished { outcome: SessionOutcome::Finished { saved: 2, failed: 0 }, .. })
        })
        .await;
    assert!(!n.handle.busy());
}

#[tokio::test]
async fn pending_request_blocks_others_with_409_and_can_be_withdrawn() {
    let n = Node::start(NodeConfig { answer: Answer::Hold, ..Default::default() }).await;
    let raw = Raw::https(n.addr(), None).from_source("127.0.0.2");
    let body = prepare_body("X", &[("a", b"a")]);
    let pending = tokio::spawn({
        let raw = raw.clone();
        async move { raw.post_json(P, &body).await.status }
    });
    eventually("request pending", || n.handler.requests().len() == 1).await;
    assert_eq!(Raw::https(n.addr(), None).post_json(P, &prepare_body("Y", &[("b", b"b")])).await.status, 409);
    // Another address may not withdraw it; the sender may.
    assert_eq!(Raw::https(n.addr(), None).send("POST", "/api/localsend/v2/cancel", b"").await.status, 403);
    assert_eq!(raw.send("POST", "/api/localsend/v2/cancel", b"").await.status, 200);
    assert_eq!(pending.await.unwrap(), 403);
    assert!(!n.handle.busy());
}

#[tokio::test]
async fn decline_subset_and_empty_acceptance() {
    let n = Node::start(NodeConfig { answer: Answer::Decline, ..Default::default() }).await;
    let raw = Raw::https(n.addr(), None);
    let r = raw.post_json(P, &prepare_body("X", &[("a", b"a")])).await;
    assert_eq!(r.status, 403);
    assert!(!n.handle.busy());

    *n.handler.answer.lock().unwrap() = Answer::AcceptNames(vec!["keep.txt".into()]);
    let r = raw.post_json(P, &prepare_body("X", &[("keep.txt", b"k"), ("skip.txt", b"s")])).await;
    assert_eq!(r.status, 200);
    let files = r.json()["files"].as_object().unwrap().clone();
    assert_eq!(files.keys().collect::<Vec<_>>(), vec!["f0"]);
    n.handle.cancel_session();

    *n.handler.answer.lock().unwrap() = Answer::AcceptNames(vec![]);
    assert_eq!(raw.post_json(P, &prepare_body("X", &[("a", b"a")])).await.status, 204);
    assert!(!n.handle.busy());
}

#[tokio::test]
async fn pin_401_429_and_reset() {
    let n = Node::start(NodeConfig { pin: Some("4711".into()), ..Default::default() }).await;
    let raw = Raw::https(n.addr(), None).from_source("127.0.0.4");
    let body = prepare_body("X", &[("a", b"a")]);
    let r = raw.post_json(P, &body).await;
    assert_eq!((r.status, r.message().as_str()), (401, "PIN required"));
    // Wrong, wrong, right: the count resets on success.
    for _ in 0..2 {
        let r = raw.post_json(&format!("{P}?pin=0000"), &body).await;
        assert_eq!((r.status, r.message().as_str()), (401, "Invalid PIN"));
    }
    assert_eq!(raw.post_json(&format!("{P}?pin=4711"), &body).await.status, 200);
    n.handle.cancel_session();
    for _ in 0..3 {
        assert_eq!(raw.post_json(&format!("{P}?pin=0000"), &body).await.status, 401);
    }
    // Blocked now, even with the right PIN; checked before the body is parsed.
    assert_eq!(raw.post_json(&format!("{P}?pin=4711"), &body).await.status, 429);
    assert_eq!(raw.send("POST", &format!("{P}?pin=4711"), b"garbage").await.status, 429);
    // Another address is not affected.
    let other = Raw::https(n.addr(), None).from_source("127.0.0.5");
    assert_eq!(other.post_json(&format!("{P}?pin=4711"), &body).await.status, 200);
}

#[tokio::test]
async fn pin_parameter_ignored_without_a_pin() {
    let n = node().await;
    let raw = Raw::https(n.addr(), None);
    assert_eq!(raw.post_json(&format!("{P}?pin=123456"), &prepare_body("X", &[("a", b"a")])).await.status, 200);
}

#[tokio::test]
async fn upload_must_match_session_token_file_and_ip() {
    let n = node().await;
    let raw = Raw::https(n.addr(), None).from_source("127.0.0.6");
    let (sid, tokens) = open_session(&raw, &[("a.txt", b"aaaa")]).await;
    let tok = tokens["f0"].as_str().unwrap();
    assert_eq!(raw.send("POST", "/api/localsend/v2/upload?sessionId=x", b"aaaa").await.status, 400);
    assert_eq!(raw.send("POST", &upload_path("wrong", "f0", tok), b"aaaa").await.status, 403);
    assert_eq!(raw.send("POST", &upload_path(&sid, "f0", "wrong"), b"aaaa").await.status, 403);
    assert_eq!(raw.send("POST", &upload_path(&sid, "f9", tok), b"aaaa").await.status, 403);
    let elsewhere = raw.clone().from_source("127.0.0.7");
    assert_eq!(elsewhere.send("POST", &upload_path(&sid, "f0", tok), b"aaaa").await.status, 403);
    assert!(n.listing().is_empty());
    assert_eq!(raw.send("POST", &upload_path(&sid, "f0", tok), b"aaaa").await.status, 200);
    assert_eq!(n.listing(), vec!["a.txt"]);
}

#[tokio::test]
async fn short_and_long_bodies_leave_nothing_and_can_be_retried() {
    let n = node().await;
    let raw = Raw::https(n.addr(), None);
    let (sid, tokens) = open_session(&raw, &[("f.bin", b"0123456789")]).await;
    let path = upload_path(&sid, "f0", tokens["f0"].as_str().unwrap());
    let r = raw.send("POST", &path, b"01234").await;
    assert_eq!(r.status, 400, "{}", r.message());
    assert!(n.listing().is_empty(), "{:?}", n.listing());
    let r = raw.send("POST", &path, b"0123456789abc").await;
    assert_eq!(r.status, 400, "{}", r.message());
    assert!(n.listing().is_empty(), "{:?}", n.listing());
    assert_eq!(raw.send("POST", &path, b"0123456789").await.status, 200);
    assert_eq!(n.listing(), vec!["f.bin"]);
}

#[tokio::test]
async fn checksum_mismatch_422_then_retry() {
    let n = node().await;
    let raw = Raw::https(n.addr(), None);
    let (sid, tokens) = open_session(&raw, &[("c.txt", b"right")]).await;
    let path = upload_path(&sid, "f0", tokens["f0"].as_str().unwrap());
    assert_eq!(raw.send("POST", &path, b"wrong").await.status, 422);
    assert!(n.listing().is_empty());
    assert_eq!(raw.send("POST", &path, b"right").await.status, 200);
    assert_eq!(std::fs::read(n.inbox().join("c.txt")).unwrap(), b"right");
}

#[tokio::test]
async fn checksum_under_old_hash_key_is_checked() {
    let n = node().await;
    let raw = Raw::https(n.addr(), None);
    let mut body = prepare_body("X", &[("h.txt", b"data")]);
    let sha = body["files"]["f0"]["sha256"].take();
    body["files"]["f0"].as_object_mut().unwrap().remove("sha256");
    body["files"]["f0"]["hash"] = sha;
    let r = raw.post_json(P, &body).await;
    let (sid, tok) = (r.json()["sessionId"].as_str().unwrap().to_string(), r.json()["files"]["f0"].as_str().unwrap().to_string());
    assert_eq!(raw.send("POST", &upload_path(&sid, "f0", &tok), b"DATA").await.status, 422);
}

#[tokio::test]
async fn cancel_mid_upload_leaves_nothing() {
    let n = node().await;
    let raw = Raw::https(n.addr(), None);
    let size = 4 * 1024 * 1024;
    let data = vec![7u8; size];
    let (sid, tokens) = open_session(&raw, &[("big.bin", &data)]).await;
    let mut s = raw.connect().await;
    let head =
        format!("POST {} HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n", upload_path(&sid, "f0", tokens["f0"].as_str().unwrap()));
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&data[..size / 2]).await.unwrap();
    s.flush().await.unwrap();
    eventually("a temporary file exists", || n.listing().iter().any(|f| f.ends_with(".part"))).await;
    let r = raw.send("POST", &format!("/api/localsend/v2/cancel?sessionId={sid}"), b"").await;
    assert_eq!(r.status, 200);
    n.handler
        .wait_event("cancelled", |e| matches!(e, ReceiveEvent::SessionFinished { outcome: SessionOutcome::CancelledBySender, .. }))
        .await;
    eventually("no file left", || n.listing().is_empty()).await;
    drop(s);
    assert!(!n.handle.busy());
}

#[tokio::test]
async fn disconnect_mid_upload_leaves_nothing_and_file_can_be_resent() {
    let n = node().await;
    let raw = Raw::https(n.addr(), None);
    let data = vec![1u8; 1024 * 1024];
    let (sid, tokens) = open_session(&raw, &[("d.bin", &data)]).await;
    let path = upload_path(&sid, "f0", tokens["f0"].as_str().unwrap());
    {
        let mut s = raw.connect().await;
        let head = format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", data.len());
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(&data[..300_000]).await.unwrap();
        s.flush().await.unwrap();
        eventually("a temporary file exists", || n.listing().iter().any(|f| f.ends_with(".part"))).await;
    }
    eventually("temporary file removed", || n.listing().is_empty()).await;
    // The file went back to pending: the same token works again.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let r = raw.send("POST", &path, &data).await;
        if r.status == 200 {
            break;
        }
        assert_eq!(r.status, 409, "{}", r.message());
        assert!(std::time::Instant::now() < deadline, "still 409 after 10 s");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(n.listing(), vec!["d.bin"]);
}

#[tokio::test]
async fn chunked_upload_without_content_length() {
    let n = node().await;
    let raw = Raw::https(n.addr(), None);
    let (sid, tokens) = open_session(&raw, &[("chunked.txt", b"hello chunked world")]).await;
    let mut s = raw.connect().await;
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        upload_path(&sid, "f0", tokens["f0"].as_str().unwrap())
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(b"6\r\nhello \r\n7\r\nchunked\r\n6\r\n world\r\n0\r\n\r\n").await.unwrap();
    s.flush().await.unwrap();
    assert_eq!(read_response(&mut s).await.status, 200);
    assert_eq!(std::fs::read(n.inbox().join("chunked.txt")).unwrap(), b"hello chunked world");
}

#[tokio::test]
async fn hostile_names_are_refused_and_odd_names_sanitised() {
    let n = node().await;
    let raw = Raw::https(n.addr(), None);
    for bad in ["../escape.txt", "a/../../escape.txt", "/etc/x", "C:\\x", "a//b", "..", "a/\u{0}b"] {
        let r = raw.post_json(P, &prepare_body("X", &[(bad, b"x")])).await;
        assert_eq!(r.status, 400, "{bad:?}: {}", String::from_utf8_lossy(&r.body));
        assert!(!n.handle.busy());
    }
    let files: &[(&str, &[u8])] = &[("sub/dir/file.txt", b"1"), ("we:ird?.txt", b"2"), ("CON.txt", b"3")];
    let (sid, tokens) = open_session(&raw, files).await;
    for (i, (_, data)) in files.iter().enumerate() {
        let id = format!("f{i}");
        assert_eq!(raw.send("POST", &upload_path(&sid, &id, tokens[&id].as_str().unwrap()), data).await.status, 200);
    }
    assert_eq!(n.listing(), vec!["_CON.txt", "sub/", "sub/dir/", "sub/dir/file.txt", "we_ird_.txt"]);
    assert!(!n.dir.path().join("escape.txt").exists());
}

#[tokio::test]
async fn collisions_are_numbered_and_symlinks_not_followed() {
    let n = node().await;
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), n.inbox().join("link")).unwrap();
    std::fs::write(n.inbox().join("x.txt"), b"old").unwrap();
    let raw = Raw::https(n.addr(), None);
    let files: &[(&str, &[u8])] = &[("x.txt", b"new"), ("link/evil.txt", b"evil")];
    let (sid, tokens) = open_session(&raw, files).await;
    assert_eq!(raw.send("POST", &upload_path(&sid, "f0", tokens["f0"].as_str().unwrap()), b"new").await.status, 200);
    // The folder name the link has is taken: the transfer's `link/` arrives as `link (2)/`, a real
    // folder; nothing goes through the link.
    let r = raw.send("POST", &upload_path(&sid, "f1", tokens["f1"].as_str().unwrap()), b"evil").await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(std::fs::read(n.inbox().join("x.txt")).unwrap(), b"old");
    assert_eq!(std::fs::read(n.inbox().join("x (2).txt")).unwrap(), b"new");
    assert_eq!(std::fs::read(n.inbox().join("link (2)/evil.txt")).unwrap(), b"evil");
    assert!(n.inbox().join("link").symlink_metadata().unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn metadata_times_are_applied() {
    let n = node().await;
    let raw = Raw::https(n.addr(), None);
    let mut body = prepare_body("X", &[("t.txt", b"t")]);
    body["files"]["f0"]["metadata"] = json!({"modified": "2021-03-04T05:06:07.250Z", "accessed": "2022-01-01T00:00:00+01:00"});
    let r = raw.post_json(P, &body).await;
    let (sid, tok) = (r.json()["sessionId"].as_str().unwrap().to_string(), r.json()["files"]["f0"].as_str().unwrap().to_string());
    assert_eq!(raw.send("POST", &upload_path(&sid, "f0", &tok), b"t").await.status, 200);
    let meta = std::fs::metadata(n.inbox().join("t.txt")).unwrap();
    let m = meta.modified().unwrap().duration_since(std::time::UNIX_EPOCH).unwrap();
    assert_eq!(m.as_millis(), 1_614_834_367_250);
}

#[tokio::test]
async fn client_certificate_overrides_body_fingerprint() {
    let n = node().await;
    let me = Identity::generate().unwrap();
    let raw = Raw::https(n.addr(), Some(me.clone()));
    raw.post_json(P, &prepare_body("I-AM-SOMEONE-ELSE", &[("a", b"a")])).await;
    let req = n.handler.requests().pop().unwrap();
    assert_eq!(req.sender.fingerprint, me.fingerprint());
    assert!(req.sender.verified);
    n.handle.cancel_session();
    let anon = Raw::https(n.addr(), None).from_source("127.0.0.8");
    anon.post_json(P, &prepare_body("CLAIMED", &[("a", b"a")])).await;
    let req = n.handler.requests().pop().unwrap();
    assert_eq!(req.sender.fingerprint, "CLAIMED");
    assert!(!req.sender.verified);
}

#[tokio::test]
async fn trusted_only_checks_the_certificate_not_the_body() {
    let friend = Identity::generate().unwrap();
    let n = Node::start(NodeConfig {
        policy: ReceivePolicy::TrustedOnly,
        answer: Answer::Hold,
        trusted: vec![friend.fingerprint().to_string()],
        ..Default::default()
    })
    .await;
    // Claiming the trusted fingerprint in the body without its certificate: declined.
    let impostor = Raw::https(n.addr(), None);
    assert_eq!(impostor.post_json(P, &prepare_body(friend.fingerprint(), &[("a", b"a")])).await.status, 403);
    let stranger = Raw::https(n.addr(), Some(Identity::generate().unwrap()));
    assert_eq!(stranger.post_json(P, &prepare_body("S", &[("a", b"a")])).await.status, 403);
    // The real certificate: accepted without asking.
    let real = Raw::https(n.addr(), Some(friend.clone()));
    assert_eq!(real.post_json(P, &prepare_body("whatever", &[("a", b"a")])).await.status, 200);
    assert!(n.handler.requests().is_empty(), "nobody was asked");
}

#[tokio::test]
async fn text_message_is_shown_and_answered_204() {
    let n = Node::start(NodeConfig { answer: Answer::Hold, ..Default::default() }).await;
    let raw = Raw::https(n.addr(), None);
    let body = json!({
        "info": {"alias": "Phone", "version": "2.1", "deviceModel": null, "deviceType": "mobile", "fingerprint": "F", "port": 53317, "protocol": "https", "download": false},
        "files": {"m": {"id": "m", "fileName": "m.txt", "size": 5, "fileType": "text/plain", "preview": "hello"}}
    });
    assert_eq!(raw.post_json(P, &body).await.status, 204);
    assert_eq!(n.handler.texts()[0].1, "hello");
    assert!(!n.handle.busy());
}

#[tokio::test]
async fn plain_http_mode() {
    let n = Node::start(NodeConfig { https: false, ..Default::default() }).await;
    let raw = Raw::http(n.addr());
    let (sid, tokens) = open_session(&raw, &[("p.txt", b"plain")]).await;
    assert_eq!(raw.send("POST", &upload_path(&sid, "f0", tokens["f0"].as_str().unwrap()), b"plain").await.status, 200);
    let req = n.handler.requests().pop().unwrap();
    assert!(!req.sender.verified);
    assert_eq!(req.sender.fingerprint, "BODYFP");
}

#[tokio::test]
async fn pinned_client_refuses_a_different_server() {
    let n = node().await;
    let me = Identity::generate().unwrap();
    let peer =
        ferry_core::protocol::PeerAddr { host: "127.0.0.1".into(), port: n.addr().port(), protocol: ferry_core::protocol::Protocol::Https };
    let other = Identity::generate().unwrap();
    let err = ferry_core::client::connect(&me, &peer, Some(other.fingerprint())).await.err().expect("must refuse");
    assert_eq!(err.kind, ferry_core::ErrorKind::FingerprintMismatch, "{err}");
    // Lowercase pin of the right fingerprint is fine.
    let ok = ferry_core::client::connect(&me, &peer, Some(&n.identity.fingerprint().to_lowercase())).await.unwrap();
    assert_eq!(ok.server_fingerprint.as_deref(), Some(n.identity.fingerprint()));
}

#[tokio::test]
async fn receiver_cancel_stops_uploads() {
    let n = node().await;
    let raw = Raw::https(n.addr(), None);
    let (sid, tokens) = open_session(&raw, &[("a", b"a")]).await;
    assert!(n.handle.cancel_session());
    assert_eq!(raw.send("POST", &upload_path(&sid, "f0", tokens["f0"].as_str().unwrap()), b"a").await.status, 403);
}
