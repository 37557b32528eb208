//! The checksum that follows the body (Ferry's `sha256After`): Ferry → Ferry over plain HTTP
//! sends each file's SHA-256 in a chunked trailer after its body instead of in the request; the
//! receiver saves a file only when that trailer is there and right. A plain LocalSend peer sees
//! no change: it gets `sha256` in the request, and its uploads (with or without a trailer) are
//! taken as before.

use ferry_core::identity::Identity;
use ferry_core::protocol::{DeviceType, PeerAddr, Protocol};
use ferry_core::send::{self, Selection, SendEvent, SendOptions};
use ferry_core::server::ReceiveEvent;
use ferry_core::CancellationToken;
use ferry_tests::hostile::*;
use ferry_tests::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TRAILER: &str = "x-ferry-sha256";

fn sender_options(port: u16, checksums: send::Checksums) -> SendOptions {
    let identity = Identity::generate().unwrap();
    SendOptions {
        info: ferry_core::protocol::device_info("Sender", DeviceType::Desktop, "Linux", identity.fingerprint(), 53317, Protocol::Http),
        identity,
        peer: PeerAddr { host: "127.0.0.1".into(), port, protocol: Protocol::Http },
        expected_fingerprint: None,
        pin: None,
        parallel: 2,
        checksums,
        timeouts: send::SendTimeouts::default(),
        relocate: None,
        retry_now: None,
    }
}

fn content(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32).map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 13) as u8).collect()
}

/// Ferry → Ferry over HTTP with the default checksums: the request carries no `sha256` and says
/// `sha256After`; every file arrives whole (an empty one, a small one, one of several chunks).
#[tokio::test]
async fn ferry_to_ferry_over_http_sends_the_checksum_after_the_body() {
    let n = Node::start(NodeConfig { https: false, ..Default::default() }).await;
    let src = tempfile::tempdir().unwrap();
    let files = [("empty.bin", content(0, 1)), ("small.txt", content(10, 2)), ("big.bin", content(9 * 1024 * 1024 + 5, 3))];
    for (name, data) in &files {
        std::fs::write(src.path().join(name), data).unwrap();
    }
    let paths: Vec<_> = files.iter().map(|(name, _)| src.path().join(name)).collect();
    let sel = Selection::from_paths(&paths).unwrap();
    let opts = sender_options(n.addr().port(), send::Checksums::Auto);
    let report = send::send_files(&opts, &sel, Arc::new(|_: SendEvent| {}), CancellationToken::new()).await.unwrap();
    assert_eq!(report.sent, 3);
    for (name, data) in &files {
        assert!(std::fs::read(n.inbox().join(name)).unwrap() == *data, "{name} differs");
    }
    let req = &n.handler.requests()[0];
    for f in req.files.iter() {
        assert_eq!(f.sha256, None, "{}: no checksum in the request", f.file_name);
        assert!(f.sha256_after, "{}: its checksum follows the body", f.file_name);
    }
    // `Always` keeps the checksum in the request (the receiver can compare what it has with it).
    let n2 = Node::start(NodeConfig { https: false, ..Default::default() }).await;
    let opts = sender_options(n2.addr().port(), send::Checksums::Always);
    send::send_files(&opts, &sel, Arc::new(|_: SendEvent| {}), CancellationToken::new()).await.unwrap();
    let req = &n2.handler.requests()[0];
    assert!(req.files.iter().all(|f| f.sha256.is_some() && !f.sha256_after));
}

/// A plain LocalSend receiver over HTTP (no `ferry` object in its info): what it records.
#[derive(Default)]
struct Seen {
    prepare: Option<serde_json::Value>,
    /// Per upload: its request head (lowercased) and body.
    uploads: Vec<(String, Vec<u8>)>,
}

/// Serves register/info/prepare-upload/upload like a LocalSend receiver would, recording what comes.
async fn localsend_receiver(seen: Arc<Mutex<Seen>>) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        for _ in 0..32 {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let seen = seen.clone();
            conns.spawn(async move {
                let mut tcp = tokio::io::BufReader::new(tcp);
                for _ in 0..16 {
                    let mut head = String::new();
                    loop {
                        let mut line = String::new();
                        match tcp.read_line(&mut line).await {
                            Ok(0) | Err(_) => return,
                            Ok(_) if line == "\r\n" => break,
                            Ok(_) => head.push_str(&line.to_ascii_lowercase()),
                        }
                        if head.len() > 16 * 1024 {
                            return;
                        }
                    }
                    let target = head.split(' ').nth(1).unwrap_or_default().to_string();
                    let len: usize =
                        head.lines().find_map(|h| h.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0))).unwrap_or(0);
                    // A LocalSend receiver expects Content-Length bodies; anything else is recorded empty.
                    let mut body = vec![0u8; len.min(64 * 1024 * 1024)];
                    if tcp.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    let path = target.split('?').next().unwrap_or_default().to_string();
                    let answer = match path.as_str() {
                        "/api/localsend/v2/register" | "/api/localsend/v2/info" => {
                            let mut info = ferry_core::protocol::device_info(
                                "LocalSend",
                                DeviceType::Desktop,
                                "Linux",
                                "0f".repeat(32).as_str(),
                                addr.port(),
                                Protocol::Http,
                            );
                            info.ferry = None;
                            serde_json::to_string(&info).unwrap()
                        }
                        "/api/localsend/v2/prepare-upload" => {
                            let req: serde_json::Value = serde_json::from_slice(&body).unwrap();
                            let tokens: serde_json::Map<_, _> = req["files"]
                                .as_object()
                                .unwrap()
                                .keys()
                                .map(|k| (k.clone(), serde_json::json!(format!("t-{k}"))))
                                .collect();
                            // Offers to resume every file from byte 1, with the SHA-256 of that first
                            // byte of each: a receiver that never announced `resume` (nor proved who it
                            // is) must not be believed, so every body still comes whole.
                            let offers: serde_json::Map<_, _> = req["files"]
                                .as_object()
                                .unwrap()
                                .keys()
                                .map(|k| (k.clone(), serde_json::json!({"offset": 1, "sha256": sha256_hex(&[FIRST_BYTE])})))
                                .collect();
                            seen.lock().unwrap().prepare = Some(req);
                            serde_json::json!({"sessionId": "s1", "files": tokens, "ferry": {"resume": offers}}).to_string()
                        }
                        "/api/localsend/v2/upload" => {
                            seen.lock().unwrap().uploads.push((head.clone(), body));
                            String::new()
                        }
                        _ => String::new(),
                    };
                    let reply =
                        format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}", answer.len());
                    if tcp.get_mut().write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, task)
}

/// The first byte of every file [`a_localsend_receiver_still_gets_every_checksum_in_the_request`] sends.
const FIRST_BYTE: u8 = 0x5a;

/// A plain LocalSend receiver over HTTP gets what it always got: every `sha256` in the request,
/// no `ferry` object, and uploads with `Content-Length` and no trailer.
/// Resume offers from it (it never announced `resume`) are not taken: each file comes whole.
#[tokio::test]
async fn a_localsend_receiver_still_gets_every_checksum_in_the_request() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (addr, task) = localsend_receiver(seen.clone()).await;
    let src = tempfile::tempdir().unwrap();
    let mut files = [("a.bin", content(100_000, 4)), ("b.bin", content(7, 5))];
    files.iter_mut().for_each(|(_, d)| d[0] = FIRST_BYTE);
    for (name, data) in &files {
        std::fs::write(src.path().join(name), data).unwrap();
    }
    let sel = Selection::from_paths(&files.iter().map(|(n, _)| src.path().join(n)).collect::<Vec<_>>()).unwrap();
    let opts = sender_options(addr.port(), send::Checksums::Auto);
    let report = send::send_files(&opts, &sel, Arc::new(|_: SendEvent| {}), CancellationToken::new()).await.unwrap();
    assert_eq!(report.sent, 2);
    task.abort();
    let seen = seen.lock().unwrap();
    let prepare = seen.prepare.as_ref().expect("a request");
    assert!(prepare.get("ferry").is_none(), "{prepare}");
    let mut sums: Vec<(String, String)> = prepare["files"]
        .as_object()
        .unwrap()
        .values()
        .map(|f| (f["fileName"].as_str().unwrap().to_string(), f["sha256"].as_str().expect("sha256 in the request").to_string()))
        .collect();
    sums.sort();
    assert_eq!(sums, files.iter().map(|(n, d)| (n.to_string(), sha256_hex(d))).collect::<Vec<_>>());
    assert_eq!(seen.uploads.len(), 2);
    for (head, body) in &seen.uploads {
        assert!(head.contains("content-length:") && !head.contains("offset="), "{head}");
        assert!(!head.contains("transfer-encoding") && !head.contains("trailer"), "{head}");
        assert!(files.iter().any(|(_, d)| d == body));
    }
}

/// A prepare-upload body of one file without `sha256`; `after`: it says `ferry.sha256After`.
fn prepare(name: &str, data: &[u8], after: bool) -> serde_json::Value {
    let mut v = prepare_body("RAW", &[(name, data)]);
    v["files"]["f0"].as_object_mut().unwrap().remove("sha256");
    if after {
        v["ferry"] = serde_json::json!({"sha256After": true});
    }
    v
}

/// Opens a session for `body` from `raw`; returns the upload path of `f0`.
async fn open(raw: &Raw, body: &serde_json::Value) -> String {
    let r = post_json(raw, PREPARE, body).await.unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    upload_path(v["sessionId"].as_str().unwrap(), "f0", v["files"]["f0"].as_str().unwrap())
}

/// A chunked upload of `data` (in chunks of at most 64 KiB) ending with `trailer` (raw lines,
/// each ending in CRLF); `end`: whether the body's last chunk and trailer are sent at all.
fn chunked(path: &str, data: &[u8], trailer: &str, end: bool) -> Upload {
    let head = format!("POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: {TRAILER}\r\nConnection: close\r\n\r\n");
    let mut body = Vec::new();
    for c in data.chunks(64 * 1024) {
        body.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        body.extend_from_slice(c);
        body.extend_from_slice(b"\r\n");
    }
    if end {
        body.extend_from_slice(b"0\r\n");
        body.extend_from_slice(trailer.as_bytes());
        body.extend_from_slice(b"\r\n");
    }
    (head.into_bytes(), body)
}

/// A request head and body.
type Upload = (Vec<u8>, Vec<u8>);

/// How a hostile or broken upload of a negotiated file ends, and with which answer.
struct Case {
    name: &'static str,
    /// The upload: head and body, from the file's upload path, data and right digest.
    upload: fn(&str, &[u8], &str) -> Upload,
    /// The answer expected (`None`: any refusal, or the connection closed).
    status: Option<u16>,
    /// Words of the answer's message.
    says: &'static str,
}

fn cases() -> Vec<Case> {
    vec![
        Case { name: "no trailer", upload: |p, d, _| chunked(p, d, "", true), status: Some(422), says: "no checksum" },
        Case {
            name: "Content-Length body, no trailer",
            upload: |p, d, _| {
                let head = format!("POST {p} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", d.len());
                (head.into_bytes(), d.to_vec())
            },
            status: Some(422),
            says: "no checksum",
        },
        Case {
            name: "wrong digest",
            upload: |p, d, _| chunked(p, d, &format!("{TRAILER}: {}\r\n", sha256_hex(b"other")), true),
            status: Some(422),
            says: "Checksum mismatch",
        },
        Case {
            name: "digest of the first half only",
            upload: |p, d, _| chunked(p, d, &format!("{TRAILER}: {}\r\n", sha256_hex(&d[..d.len() / 2])), true),
            status: Some(422),
            says: "Checksum mismatch",
        },
        Case {
            name: "malformed digest",
            upload: |p, d, _| chunked(p, d, &format!("{TRAILER}: sha-256=:{}:\r\n", sha256_hex(d)), true),
            status: Some(422),
            says: "64 hexadecimal",
        },
        Case {
            name: "digest one digit short",
            upload: |p, d, sum| chunked(p, d, &format!("{TRAILER}: {}\r\n", &sum[1..]), true),
            status: Some(422),
            says: "64 hexadecimal",
        },
        Case {
            name: "duplicated trailer",
            upload: |p, d, sum| chunked(p, d, &format!("{TRAILER}: {sum}\r\n{TRAILER}: {sum}\r\n"), true),
            status: Some(422),
            says: "twice",
        },
        Case {
            name: "oversized trailer section",
            upload: |p, d, sum| chunked(p, d, &format!("{TRAILER}: {sum}\r\nx-pad: {}\r\n", "a".repeat(20_000)), true),
            status: None,
            says: "",
        },
        Case {
            name: "a thousand trailer fields",
            upload: |p, d, sum| chunked(p, d, &format!("{TRAILER}: {sum}\r\n{}", "x-a: b\r\n".repeat(1000)), true),
            status: None,
            says: "",
        },
        Case { name: "trailer never comes", upload: |p, d, _| chunked(p, d, "", false), status: Some(408), says: "stalled" },
        Case {
            name: "in pieces",
            upload: |p, d, _| {
                let head = format!(
                    "POST {p} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nX-Content-Range: bytes 0-{}/{}\r\nConnection: close\r\n\r\n",
                    d.len(),
                    d.len() - 1,
                    d.len()
                );
                (head.into_bytes(), d.to_vec())
            },
            status: Some(400),
            says: "pieces",
        },
    ]
}

/// Every hostile or broken ending of a negotiated upload: the file is not saved, no partial file
/// is left, the receiver reports the file failed (to be tried again), and an honest upload works.
#[tokio::test]
async fn a_negotiated_upload_without_a_valid_trailing_checksum_is_never_saved() {
    for case in cases() {
        let t = Target::start(TargetConfig { https: false, ..Default::default() }).await;
        let before = t.outside();
        let raw = t.raw(&attacker_ip(7));
        let data = content(200_000, 9);
        let path = open(&raw, &prepare("f.bin", &data, true)).await;
        let (head, body) = (case.upload)(&path, &data, &sha256_hex(&data));
        let answer = exchange_raw_within(&raw, &head, &body, Duration::from_secs(20)).await;
        match (case.status, &answer) {
            (Some(want), Ok(r)) => {
                assert_eq!(r.status, want, "{}: {}", case.name, String::from_utf8_lossy(&r.body));
                assert!(r.message().contains(case.says), "{}: {:?}", case.name, r.message());
            }
            (Some(_), Err(e)) => panic!("{}: no answer: {e}", case.name),
            (None, Ok(r)) => assert!(r.status >= 400, "{}: answered {}", case.name, r.status),
            (None, Err(_)) => {}
        }
        assert!(!t.dest.join("f.bin").exists(), "{}: saved", case.name);
        if case.status == Some(422) {
            // Like a checksum mismatch: the file waits for another try, which saves it.
            t.handler.wait_event(case.name, |e| matches!(e, ReceiveEvent::FileFailed { retry: true, .. })).await;
            let (head, body) = chunked(&path, &data, &format!("{TRAILER}: {}\r\n", sha256_hex(&data).to_ascii_uppercase()), true);
            let r = exchange_raw(&raw, &head, &body).await.unwrap();
            assert_eq!(r.status, 200, "{}: the retry: {}", case.name, String::from_utf8_lossy(&r.body));
            assert!(std::fs::read(t.dest.join("f.bin")).unwrap() == data, "{}", case.name);
        }
        t.verify(&before).await.unwrap_or_else(|e| panic!("{}: {e}", case.name));
    }
}

/// A sender that did not negotiate the trailing checksum (a LocalSend peer) is taken as before:
/// a trailer it sends is not looked at, whether the request gave `sha256` (checked as always) or
/// not; a `sha256` in the request is checked also when the request says `sha256After`.
#[tokio::test]
async fn trailers_that_were_not_negotiated_are_not_looked_at() {
    let t = Target::start(TargetConfig { https: false, ..Default::default() }).await;
    let before = t.outside();
    let raw = t.raw(HONEST_IP);
    let data = content(100_000, 11);
    let wrong = format!("{TRAILER}: {}\r\n", sha256_hex(b"other"));
    // LocalSend-style request with sha256, chunked upload with a wrong trailer: saved.
    let body = prepare_body("RAW", &[("a.bin", &data)]);
    let (head, b) = chunked(&open(&raw, &body).await, &data, &wrong, true);
    assert_eq!(exchange_raw(&raw, &head, &b).await.unwrap().status, 200);
    // Without sha256 and without the extension: saved, unchecked, as before.
    let (head, b) = chunked(&open(&raw, &prepare("b.bin", &data, false)).await, &data, &wrong, true);
    assert_eq!(exchange_raw(&raw, &head, &b).await.unwrap().status, 200);
    // With the extension but a sha256 in the request: that one counts.
    let mut body = prepare_body("RAW", &[("c.bin", &data)]);
    body["ferry"] = serde_json::json!({"sha256After": true});
    let (head, b) = chunked(&open(&raw, &body).await, &data, &wrong, true);
    assert_eq!(exchange_raw(&raw, &head, &b).await.unwrap().status, 200);
    let mut body = prepare_body("RAW", &[("d.bin", &data)]);
    body["ferry"] = serde_json::json!({"sha256After": true});
    body["files"]["f0"]["sha256"] = serde_json::json!(sha256_hex(b"other"));
    let right = format!("{TRAILER}: {}\r\n", sha256_hex(&data));
    let (head, b) = chunked(&open(&raw, &body).await, &data, &right, true);
    assert_eq!(exchange_raw(&raw, &head, &b).await.unwrap().status, 422);
    for name in ["a.bin", "b.bin", "c.bin"] {
        assert!(std::fs::read(t.dest.join(name)).unwrap() == data, "{name}");
    }
    assert!(!t.dest.join("d.bin").exists());
    t.verify(&before).await.unwrap();
}

/// Breaks the upload of `data` from a verified sender that resumes after about half of it, asks
/// again and returns the upload path that continues from what the receiver holds, and that offset.
async fn broken_half(t: &Target, raw: &Raw, owner: &Identity, data: &[u8]) -> (String, usize) {
    use tokio::io::AsyncWriteExt;
    let body = {
        let mut v = prepare("big.bin", data, true);
        v["info"]["fingerprint"] = serde_json::json!(owner.fingerprint());
        v["info"]["ferry"] = serde_json::json!({"version": 1, "features": ["resume", "sha256After"]});
        v["files"]["f0"]["metadata"] = serde_json::json!({"modified": "2024-05-01T10:00:00Z"});
        v
    };
    let path = open(raw, &body).await;
    let (head, b) = chunked(&path, &data[..data.len() / 2], "", false);
    let mut s = connect(raw).await.unwrap();
    s.write_all(&head).await.unwrap();
    s.write_all(&b).await.unwrap();
    s.flush().await.unwrap();
    t.handler.wait_event("some bytes received", |e| matches!(e, ReceiveEvent::FileProgress { received, .. } if *received > 0)).await;
    drop(s);
    let kept = || std::fs::read_dir(&t.dest).unwrap().flatten().any(|e| e.file_name().to_string_lossy().ends_with(".partial"));
    eventually("the partial file kept", kept).await;
    // A new request from the same sender is offered what is held.
    let deadline = std::time::Instant::now() + WAIT;
    let offered = loop {
        let r = post_json(raw, PREPARE, &body).await.unwrap();
        if r.status == 409 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        break serde_json::from_slice::<serde_json::Value>(&r.body).unwrap();
    };
    let held = offered["ferry"]["resume"]["f0"]["offset"].as_u64().expect("an offer") as usize;
    assert!(held > 0 && held <= data.len() / 2, "{held}");
    // What the receiver hashed as the bytes arrived is exactly what it kept.
    assert_eq!(offered["ferry"]["resume"]["f0"]["sha256"].as_str(), Some(sha256_hex(&data[..held]).as_str()));
    let sid = offered["sessionId"].as_str().unwrap();
    (format!("{}&offset={held}", upload_path(sid, "f0", offered["files"]["f0"].as_str().unwrap())), held)
}

/// A resumed upload with its checksum after the body: the receiver checks the trailing digest over
/// the WHOLE file (the bytes it held hashed first): the whole file's digest saves it, the digest
/// of only the bytes sent is refused and nothing is saved.
#[tokio::test]
async fn a_resumed_upload_is_checked_over_the_whole_file() {
    // Big enough that the receiver hashes on a thread beside its writes, before and after the break.
    let data = content(18 * 1024 * 1024, 13);
    for whole in [true, false] {
        let t = Target::start(TargetConfig::default()).await;
        let owner = Identity::generate().unwrap();
        let raw = t.raw_with_cert(HONEST_IP, &owner);
        let (path, held) = broken_half(&t, &raw, &owner, &data).await;
        let digest = if whole { sha256_hex(&data) } else { sha256_hex(&data[held..]) };
        let (head, b) = chunked(&path, &data[held..], &format!("{TRAILER}: {digest}\r\n"), true);
        let r = exchange_raw(&raw, &head, &b).await.unwrap();
        if whole {
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            assert!(std::fs::read(t.dest.join("big.bin")).unwrap() == data);
        } else {
            assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
            assert!(!t.dest.join("big.bin").exists());
        }
    }
}
