//! The checksum that follows the body (Ferry's `blake3After`, and `sha256After` for older Ferry
//! nodes): Ferry → Ferry over plain HTTP sends each file's BLAKE3 (or SHA-256) in a chunked
//! trailer after its body instead of a SHA-256 in the request; the receiver saves a file only
//! when the trailer of the negotiated kind is there and right. A plain LocalSend peer sees no
//! change: it gets `sha256` in the request, and its uploads (with or without a trailer) are taken
//! as before.

use ferry_core::identity::Identity;
use ferry_core::protocol::{ChecksumAlgo, DeviceType, PeerAddr, Protocol};
use ferry_core::send::{self, Selection, SendEvent, SendOptions};
use ferry_core::server::ReceiveEvent;
use ferry_core::CancellationToken;
use ferry_tests::hostile::*;
use ferry_tests::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TRAILER: &str = "x-ferry-sha256";
const BLAKE3_TRAILER: &str = "x-ferry-blake3";
const BOTH: [ChecksumAlgo; 2] = [ChecksumAlgo::Sha256, ChecksumAlgo::Blake3];

/// The checksum of `data` of kind `algo`, as 64 lowercase hex digits.
fn hex_of(algo: ChecksumAlgo, data: &[u8]) -> String {
    let mut h = algo.hasher();
    h.update(data);
    h.finalize_hex()
}

/// The prepare-upload extension's key and the receiver's feature that negotiate `algo`.
fn feature(algo: ChecksumAlgo) -> &'static str {
    match algo {
        ChecksumAlgo::Sha256 => "sha256After",
        ChecksumAlgo::Blake3 => "blake3After",
    }
}

/// The other kind of checksum.
fn other(algo: ChecksumAlgo) -> ChecksumAlgo {
    match algo {
        ChecksumAlgo::Sha256 => ChecksumAlgo::Blake3,
        ChecksumAlgo::Blake3 => ChecksumAlgo::Sha256,
    }
}

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
/// `blake3After` (the receiver announces it beside `sha256After`); every file arrives whole (an
/// empty one, a small one, one of several chunks).
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
        assert_eq!(f.checksum_after, Some(ChecksumAlgo::Blake3), "{}: its BLAKE3 follows the body", f.file_name);
    }
    // `Always` keeps the checksum in the request (the receiver can compare what it has with it).
    let n2 = Node::start(NodeConfig { https: false, ..Default::default() }).await;
    let opts = sender_options(n2.addr().port(), send::Checksums::Always);
    send::send_files(&opts, &sel, Arc::new(|_: SendEvent| {}), CancellationToken::new()).await.unwrap();
    let req = &n2.handler.requests()[0];
    assert!(req.files.iter().all(|f| f.sha256.is_some() && f.checksum_after.is_none()));
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
    raw_receiver(seen, None).await
}

/// Like [`localsend_receiver`]; with `features`, it announces a `ferry` object with those
/// features (an older Ferry node), and a chunked body is decoded, its trailer lines (lowercased)
/// added to the recorded head.
async fn raw_receiver(seen: Arc<Mutex<Seen>>, features: Option<Vec<&'static str>>) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        for _ in 0..32 {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let (seen, features) = (seen.clone(), features.clone());
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
                    if features.is_some() && head.contains("transfer-encoding: chunked") {
                        loop {
                            let mut line = String::new();
                            if tcp.read_line(&mut line).await.unwrap_or(0) == 0 || body.len() > 64 * 1024 * 1024 {
                                return;
                            }
                            let Ok(n) = usize::from_str_radix(line.trim(), 16) else { return };
                            if n == 0 {
                                break;
                            }
                            let mut chunk = vec![0u8; n + 2];
                            if tcp.read_exact(&mut chunk).await.is_err() {
                                return;
                            }
                            body.extend_from_slice(&chunk[..n]);
                        }
                        for _ in 0..100 {
                            let mut line = String::new();
                            match tcp.read_line(&mut line).await {
                                Ok(0) | Err(_) => return,
                                Ok(_) if line == "\r\n" => break,
                                Ok(_) => head.push_str(&line.to_ascii_lowercase()),
                            }
                        }
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
                            let mut info = serde_json::to_value(&info).unwrap();
                            if let Some(features) = &features {
                                info["ferry"] = serde_json::json!({"version": 1, "features": features});
                            }
                            info.to_string()
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

/// An older Ferry receiver that announces `sha256After` but not `blake3After` gets the SHA-256
/// after each body (no `sha256` in the request, chunked uploads with `x-ferry-sha256` only).
#[tokio::test]
async fn a_receiver_without_blake3_after_gets_the_sha256_after_the_body() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (addr, task) = raw_receiver(seen.clone(), Some(vec!["sha256After"])).await;
    let src = tempfile::tempdir().unwrap();
    let files = [("a.bin", content(300_000, 6)), ("b.bin", content(7, 8))];
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
    assert_eq!(prepare["ferry"], serde_json::json!({"sha256After": true}), "{prepare}");
    assert!(prepare["files"].as_object().unwrap().values().all(|f| f.get("sha256").is_none()), "{prepare}");
    assert_eq!(seen.uploads.len(), 2);
    for (head, body) in &seen.uploads {
        let (_, data) = files.iter().find(|(_, d)| d == body).expect("a file sent whole");
        assert!(head.contains(&format!("{TRAILER}: {}\r\n", sha256_hex(data))), "{head}");
        assert!(!head.contains(&format!("{BLAKE3_TRAILER}:")), "{head}");
    }
}

/// A prepare-upload body of one file without `sha256`; `after`: it says `ferry.sha256After`.
fn prepare(name: &str, data: &[u8], after: bool) -> serde_json::Value {
    prepare_with(name, data, after.then_some(ChecksumAlgo::Sha256))
}

/// A prepare-upload body of one file without `sha256`, saying that its checksum of kind `after`
/// follows the body.
fn prepare_with(name: &str, data: &[u8], after: Option<ChecksumAlgo>) -> serde_json::Value {
    let mut v = prepare_body("RAW", &[(name, data)]);
    v["files"]["f0"].as_object_mut().unwrap().remove("sha256");
    if let Some(algo) = after {
        v["ferry"] = serde_json::json!({feature(algo): true});
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
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: {TRAILER}, {BLAKE3_TRAILER}\r\nConnection: close\r\n\r\n"
    );
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

/// Makes an upload (head and body) from a file's upload path, data and right digest.
type MakeUpload = Box<dyn Fn(&str, &[u8], &str) -> Upload>;

/// How a hostile or broken upload of a negotiated file ends, and with which answer.
struct Case {
    name: &'static str,
    /// The upload: head and body, from the file's upload path, data and right digest.
    upload: MakeUpload,
    /// The answer expected (`None`: any refusal, or the connection closed).
    status: Option<u16>,
    /// Words of the answer's message.
    says: &'static str,
}

/// The hostile or broken endings of an upload whose checksum of kind `algo` was negotiated.
fn cases(algo: ChecksumAlgo) -> Vec<Case> {
    let tr = algo.trailer_name();
    let case = |name, upload: MakeUpload, status, says| Case { name, upload, status, says };
    vec![
        case("no trailer", Box::new(|p, d, _| chunked(p, d, "", true)), Some(422), "no checksum"),
        case(
            "Content-Length body, no trailer",
            Box::new(|p, d, _| {
                let head = format!("POST {p} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", d.len());
                (head.into_bytes(), d.to_vec())
            }),
            Some(422),
            "no checksum",
        ),
        case(
            "wrong digest",
            Box::new(move |p, d, _| chunked(p, d, &format!("{tr}: {}\r\n", hex_of(algo, b"other")), true)),
            Some(422),
            "Checksum mismatch",
        ),
        case(
            "digest of the first half only",
            Box::new(move |p, d, _| chunked(p, d, &format!("{tr}: {}\r\n", hex_of(algo, &d[..d.len() / 2])), true)),
            Some(422),
            "Checksum mismatch",
        ),
        case(
            "the other kind's digest instead",
            Box::new(move |p, d, _| {
                let o = other(algo);
                chunked(p, d, &format!("{}: {}\r\n", o.trailer_name(), hex_of(o, d)), true)
            }),
            Some(422),
            "no checksum",
        ),
        case(
            "the other kind's digest in this kind's field",
            Box::new(move |p, d, _| chunked(p, d, &format!("{tr}: {}\r\n", hex_of(other(algo), d)), true)),
            Some(422),
            "Checksum mismatch",
        ),
        case(
            "malformed digest",
            Box::new(move |p, d, _| chunked(p, d, &format!("{tr}: sha-256=:{}:\r\n", hex_of(algo, d)), true)),
            Some(422),
            "64 hexadecimal",
        ),
        case(
            "digest one digit short",
            Box::new(move |p, d, sum| chunked(p, d, &format!("{tr}: {}\r\n", &sum[1..]), true)),
            Some(422),
            "64 hexadecimal",
        ),
        case(
            "duplicated trailer",
            Box::new(move |p, d, sum| chunked(p, d, &format!("{tr}: {sum}\r\n{tr}: {sum}\r\n"), true)),
            Some(422),
            "twice",
        ),
        case(
            "oversized trailer section",
            Box::new(move |p, d, sum| chunked(p, d, &format!("{tr}: {sum}\r\nx-pad: {}\r\n", "a".repeat(20_000)), true)),
            None,
            "",
        ),
        case(
            "a thousand trailer fields",
            Box::new(move |p, d, sum| chunked(p, d, &format!("{tr}: {sum}\r\n{}", "x-a: b\r\n".repeat(1000)), true)),
            None,
            "",
        ),
        case("trailer never comes", Box::new(|p, d, _| chunked(p, d, "", false)), Some(408), "stalled"),
        case(
            "in pieces",
            Box::new(|p, d, _| {
                let head = format!(
                    "POST {p} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nX-Content-Range: bytes 0-{}/{}\r\nConnection: close\r\n\r\n",
                    d.len(),
                    d.len() - 1,
                    d.len()
                );
                (head.into_bytes(), d.to_vec())
            }),
            Some(400),
            "pieces",
        ),
    ]
}

/// Every hostile or broken ending of a negotiated upload, with SHA-256 and with BLAKE3: the file
/// is not saved, no partial file is left, the receiver reports the file failed (to be tried
/// again), and an honest upload works.
#[tokio::test]
async fn a_negotiated_upload_without_a_valid_trailing_checksum_is_never_saved() {
    for (algo, case) in BOTH.into_iter().flat_map(|a| cases(a).into_iter().map(move |c| (a, c))) {
        let tr = algo.trailer_name();
        let t = Target::start(TargetConfig { https: false, ..Default::default() }).await;
        let before = t.outside();
        let raw = t.raw(&attacker_ip(7));
        let data = content(200_000, 9);
        let path = open(&raw, &prepare_with("f.bin", &data, Some(algo))).await;
        let (head, body) = (case.upload)(&path, &data, &hex_of(algo, &data));
        let answer = exchange_raw_within(&raw, &head, &body, Duration::from_secs(20)).await;
        match (case.status, &answer) {
            (Some(want), Ok(r)) => {
                assert_eq!(r.status, want, "{algo:?} {}: {}", case.name, String::from_utf8_lossy(&r.body));
                assert!(r.message().contains(case.says), "{}: {:?}", case.name, r.message());
            }
            (Some(_), Err(e)) => panic!("{algo:?} {}: no answer: {e}", case.name),
            (None, Ok(r)) => assert!(r.status >= 400, "{}: answered {}", case.name, r.status),
            (None, Err(_)) => {}
        }
        assert!(!t.dest.join("f.bin").exists(), "{}: saved", case.name);
        if case.status == Some(422) {
            // Like a checksum mismatch: the file waits for another try, which saves it.
            t.handler.wait_event(case.name, |e| matches!(e, ReceiveEvent::FileFailed { retry: true, .. })).await;
            let (head, body) = chunked(&path, &data, &format!("{tr}: {}\r\n", hex_of(algo, &data).to_ascii_uppercase()), true);
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
async fn broken_half(t: &Target, raw: &Raw, owner: &Identity, data: &[u8], algo: ChecksumAlgo) -> (String, usize) {
    use tokio::io::AsyncWriteExt;
    let body = {
        let mut v = prepare_with("big.bin", data, Some(algo));
        v["info"]["fingerprint"] = serde_json::json!(owner.fingerprint());
        v["info"]["ferry"] = serde_json::json!({"version": 1, "features": ["resume", feature(algo)]});
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
    for (algo, whole) in BOTH.into_iter().flat_map(|a| [(a, true), (a, false)]) {
        let t = Target::start(TargetConfig::default()).await;
        let owner = Identity::generate().unwrap();
        let raw = t.raw_with_cert(HONEST_IP, &owner);
        let (path, held) = broken_half(&t, &raw, &owner, &data, algo).await;
        let digest = if whole { hex_of(algo, &data) } else { hex_of(algo, &data[held..]) };
        let (head, b) = chunked(&path, &data[held..], &format!("{}: {digest}\r\n", algo.trailer_name()), true);
        let r = exchange_raw(&raw, &head, &b).await.unwrap();
        if whole {
            assert_eq!(r.status, 200, "{algo:?}: {}", String::from_utf8_lossy(&r.body));
            assert!(std::fs::read(t.dest.join("big.bin")).unwrap() == data);
        } else {
            assert_eq!(r.status, 422, "{algo:?}: {}", String::from_utf8_lossy(&r.body));
            assert!(!t.dest.join("big.bin").exists());
        }
    }
}

/// A request that says both `sha256After` and `blake3After`: BLAKE3 counts (the SHA-256 field is
/// not looked at), as a Ferry sender never says both.
#[tokio::test]
async fn a_request_that_claims_both_checksums_after_the_body_gets_blake3() {
    let t = Target::start(TargetConfig { https: false, ..Default::default() }).await;
    let before = t.outside();
    let raw = t.raw(HONEST_IP);
    let data = content(150_000, 17);
    let mut body = prepare_with("a.bin", &data, None);
    body["ferry"] = serde_json::json!({"sha256After": true, "blake3After": true});
    let path = open(&raw, &body).await;
    // Only the SHA-256: refused, as a missing BLAKE3.
    let (head, b) = chunked(&path, &data, &format!("{TRAILER}: {}\r\n", sha256_hex(&data)), true);
    let r = exchange_raw(&raw, &head, &b).await.unwrap();
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    assert!(!t.dest.join("a.bin").exists());
    t.handler.wait_event("the file failed", |e| matches!(e, ReceiveEvent::FileFailed { retry: true, .. })).await;
    // Its next try, a right BLAKE3 beside a wrong SHA-256: saved.
    let trailer = format!("{TRAILER}: {}\r\n{BLAKE3_TRAILER}: {}\r\n", sha256_hex(b"other"), hex_of(ChecksumAlgo::Blake3, &data));
    let (head, b) = chunked(&path, &data, &trailer, true);
    let r = exchange_raw(&raw, &head, &b).await.unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(std::fs::read(t.dest.join("a.bin")).unwrap() == data);
    t.verify(&before).await.unwrap();
}
