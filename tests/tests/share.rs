//! Share via link (prepare-download, download, the pages), driven by a raw HTTP client on
//! loopback: every status code, sessions per browser address, the owner's approval, the PIN
//! lock-out, ranges, zips, path confinement and header injection.

use ferry_core::share::{BrowserReply, BrowserRequest, ShareEvent, ShareList, ShareListener, ShareOptions};
use ferry_tests::*;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PD: &str = "/api/localsend/v2/prepare-download";
const DL: &str = "/api/localsend/v2/download";

/// The owner: records browsers asking (their replies held until a test answers) and events.
#[derive(Default)]
struct Owner {
    asked: Mutex<Vec<(BrowserRequest, Option<BrowserReply>)>>,
    events: Mutex<Vec<ShareEvent>>,
}

impl ShareListener for Owner {
    fn on_browser(&self, request: BrowserRequest, reply: BrowserReply) {
        self.asked.lock().unwrap().push((request, Some(reply)));
    }
    fn on_event(&self, event: ShareEvent) {
        self.events.lock().unwrap().push(event);
    }
}

impl Owner {
    fn asked(&self) -> usize {
        self.asked.lock().unwrap().len()
    }
    fn answer(&self, index: usize, approve: bool) {
        let reply = self.asked.lock().unwrap()[index].1.take().expect("not answered yet");
        reply.send(approve);
    }
}

/// A full response: status, headers (lowercase names) and the body (chunked bodies decoded).
struct Full {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Full {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// One request over plain HTTP from `source`, read until the server closes the connection.
async fn request(addr: std::net::SocketAddr, source: &str, method: &str, path: &str, headers: &[(&str, &str)]) -> Full {
    let raw = Raw::http(addr).from_source(source);
    let mut s = raw.connect().await;
    let mut head = format!("{method} {path} HTTP/1.1\r\nContent-Length: 0\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).await.unwrap();
    let mut all = Vec::new();
    tokio::time::timeout(Duration::from_secs(150), s.read_to_end(&mut all)).await.expect("answer in time").unwrap();
    let end = all.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head") + 4;
    let head = String::from_utf8_lossy(&all[..end]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string())).collect();
    let mut body = all[end..].to_vec();
    if headers.iter().any(|(k, v)| k == "transfer-encoding" && v.contains("chunked")) {
        body = dechunk(&body);
    }
    Full { status, headers, body }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").expect("chunk size line");
        let size = usize::from_str_radix(std::str::from_utf8(&data[..line_end]).unwrap().trim(), 16).unwrap();
        data = &data[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

struct Setup {
    node: Node,
    owner: Arc<Owner>,
    dir: tempfile::TempDir,
}

impl Setup {
    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
}

/// A node over HTTP sharing `a.txt` (100 bytes), `b.bin` and the folder `album` (with a link
/// inside that must not be offered).
async fn sharing(opts: ShareOptions) -> Setup {
    let node = Node::start(NodeConfig { https: false, ..Default::default() }).await;
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..100u8).collect();
    std::fs::write(dir.path().join("a.txt"), &data).unwrap();
    std::fs::write(dir.path().join("b.bin"), vec![7u8; 300_000]).unwrap();
    std::fs::create_dir_all(dir.path().join("album/sub")).unwrap();
    std::fs::write(dir.path().join("album/one.jpg"), b"one").unwrap();
    std::fs::write(dir.path().join("album/sub/two.jpg"), b"second").unwrap();
    std::fs::write(dir.path().join("secret.txt"), b"not shared").unwrap();
    std::os::unix::fs::symlink(dir.path().join("secret.txt"), dir.path().join("album/link.txt")).unwrap();
    let paths: Vec<PathBuf> = ["a.txt", "b.bin", "album"].iter().map(|p| dir.path().join(p)).collect();
    let owner = Arc::new(Owner::default());
    node.handle.open_share(ShareList::collect(&paths).unwrap(), opts, owner.clone()).unwrap();
    Setup { node, owner, dir }
}

fn auto() -> ShareOptions {
    ShareOptions { pin: None, auto_accept: true }
}

/// prepare-download from `source`: (session id, file ids by name, zip ids by name).
async fn open(addr: std::net::SocketAddr, source: &str) -> (String, Vec<(String, String)>, Vec<(String, String)>) {
    let r = request(addr, source, "POST", PD, &[]).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    let mut files: Vec<(String, String)> = v["files"]
        .as_object()
        .unwrap()
        .values()
        .map(|f| (f["fileName"].as_str().unwrap().to_string(), f["id"].as_str().unwrap().to_string()))
        .collect();
    files.sort();
    let zips =
        v["ferryZips"].as_array().unwrap().iter().map(|z| (z["fileName"].as_str().unwrap().into(), z["id"].as_str().unwrap().into()));
    (v["sessionId"].as_str().unwrap().to_string(), files, zips.collect())
}

fn id_of<'a>(list: &'a [(String, String)], name: &str) -> &'a str {
    &list.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("{name} in {list:?}")).1
}

fn dl(session: &str, file: &str) -> String {
    format!("{DL}?sessionId={session}&fileId={file}")
}

#[tokio::test]
async fn prepare_download_lists_the_share_and_download_streams_it() {
    let s = sharing(auto()).await;
    let addr = s.node.addr();
    let info = request(addr, "127.0.0.1", "GET", "/api/localsend/v2/info", &[]).await;
    assert_eq!(info.json()["download"], true, "info says a share is open");

    let r = request(addr, "127.0.0.1", "POST", PD, &[]).await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["info"]["download"], true);
    assert_eq!(v["info"]["fingerprint"], s.node.identity.fingerprint());
    assert_eq!(v["info"]["alias"], "Receiver");
    let (session, files, zips) = open(addr, "127.0.0.1").await;
    assert_eq!(session, v["sessionId"], "the same browser keeps its session");
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["a.txt", "album/one.jpg", "album/sub/two.jpg", "b.bin"], "folder files keep relative names; links are left out");
    assert_eq!(zips.len(), 1);
    assert_eq!(zips[0].0, "album.zip");

    let r = request(addr, "127.0.0.1", "GET", &dl(&session, id_of(&files, "b.bin")), &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, vec![7u8; 300_000]);
    assert_eq!(r.header("content-length"), Some("300000"));
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    assert_eq!(r.header("content-disposition"), Some("attachment; filename=\"b.bin\"; filename*=UTF-8''b.bin"));
    let r = request(addr, "127.0.0.1", "GET", &dl(&session, id_of(&files, "album/sub/two.jpg")), &[]).await;
    assert_eq!((r.status, r.body.as_slice()), (200, &b"second"[..]));
    eventually("download events", || {
        s.owner.events.lock().unwrap().iter().any(|e| matches!(e, ShareEvent::DownloadFinished { complete: true, sent: 300_000, .. }))
    })
    .await;

    // Closing ends the sessions and the download flag.
    assert!(s.node.handle.close_share());
    let r = request(addr, "127.0.0.1", "GET", &dl(&session, id_of(&files, "a.txt")), &[]).await;
    assert_eq!(r.status, 403);
    assert_eq!(request(addr, "127.0.0.1", "POST", PD, &[]).await.status, 403);
    let info = request(addr, "127.0.0.1", "GET", "/api/localsend/v2/info", &[]).await;
    assert_eq!(info.json()["download"], false);
}

#[tokio::test]
async fn download_status_codes() {
    let s = sharing(auto()).await;
    let addr = s.node.addr();
    let (session, files, _) = open(addr, "127.0.0.1").await;
    let a = id_of(&files, "a.txt");
    for path in [DL.to_string(), format!("{DL}?sessionId={session}"), format!("{DL}?fileId={a}")] {
        let r = request(addr, "127.0.0.1", "GET", &path, &[]).await;
        assert_eq!(r.status, 400, "{path}");
    }
    let r = request(addr, "127.0.0.1", "GET", &dl("wrong", a), &[]).await;
    assert_eq!((r.status, r.json()["message"].as_str().unwrap()), (403, "Invalid session id"));
    let r = request(addr, "127.0.0.1", "GET", &dl(&session, "nope"), &[]).await;
    assert_eq!((r.status, r.json()["message"].as_str().unwrap()), (403, "Unknown file"));
    // A path is never a file id.
    let r = request(addr, "127.0.0.1", "GET", &dl(&session, "..%2Fsecret.txt"), &[]).await;
    assert_eq!(r.status, 403);
    // Another browser cannot use this browser's session.
    let r = request(addr, "127.0.0.2", "GET", &dl(&session, a), &[]).await;
    assert_eq!(r.status, 403);
    // Wrong methods.
    assert_eq!(request(addr, "127.0.0.1", "GET", PD, &[]).await.status, 405);
    assert_eq!(request(addr, "127.0.0.1", "POST", &dl(&session, a), &[]).await.status, 405);
}

#[tokio::test]
async fn nothing_shared_answers_403_and_no_page() {
    let node = Node::start(NodeConfig { https: false, ..Default::default() }).await;
    let addr = node.addr();
    assert_eq!(request(addr, "127.0.0.1", "POST", PD, &[]).await.status, 403);
    assert_eq!(request(addr, "127.0.0.1", "GET", &dl("x", "y"), &[]).await.status, 403);
    assert_eq!(request(addr, "127.0.0.1", "GET", "/", &[]).await.status, 404);
    assert_eq!(request(addr, "127.0.0.1", "GET", "/app.js", &[]).await.status, 404);
}

#[tokio::test]
async fn owner_approves_each_browser() {
    let s = sharing(ShareOptions::default()).await;
    let addr = s.node.addr();
    let first = tokio::spawn(async move { request(addr, "127.0.0.1", "POST", PD, &[("User-Agent", "Browser A")]).await });
    eventually("the owner is asked", || s.owner.asked() == 1).await;
    assert_eq!(s.owner.asked.lock().unwrap()[0].0.user_agent, "Browser A");
    // A second browser asks too, and is not let in by the first one's approval.
    let second = tokio::spawn(async move { request(addr, "127.0.0.2", "POST", PD, &[]).await });
    eventually("the owner is asked about the second", || s.owner.asked() == 2).await;
    s.owner.answer(0, true);
    let r = first.await.unwrap();
    assert_eq!(r.status, 200);
    let v = r.json();
    let session = v["sessionId"].as_str().unwrap().to_string();
    let file = v["files"].as_object().unwrap().keys().next().unwrap().clone();
    // The second browser, not approved yet, cannot download with the first one's session.
    let r = request(addr, "127.0.0.2", "GET", &dl(&session, &file), &[]).await;
    assert_eq!(r.status, 403);
    // The same browser asking again waits on the same question (asked once).
    let again = tokio::spawn(async move { request(addr, "127.0.0.2", "POST", PD, &[]).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(s.owner.asked(), 2);
    s.owner.answer(1, false);
    assert_eq!(second.await.unwrap().status, 403);
    assert_eq!(again.await.unwrap().status, 403);
    // Declined: answered at once for a while, without asking the owner again.
    assert_eq!(request(addr, "127.0.0.2", "POST", PD, &[]).await.status, 403);
    assert_eq!(s.owner.asked(), 2);
    // The approved browser downloads.
    assert_eq!(request(addr, "127.0.0.1", "GET", &dl(&session, &file), &[]).await.status, 200);
    let events = s.owner.events.lock().unwrap().clone();
    assert!(events.iter().any(|e| matches!(e, ShareEvent::BrowserApproved { ip } if ip.to_string() == "127.0.0.1")), "{events:?}");
    assert!(events.iter().any(|e| matches!(e, ShareEvent::BrowserDeclined { ip } if ip.to_string() == "127.0.0.2")), "{events:?}");
}

#[tokio::test]
async fn pin_is_required_and_locks_out_after_three_wrong() {
    let s = sharing(ShareOptions { pin: Some("2468".into()), auto_accept: true }).await;
    let addr = s.node.addr();
    let r = request(addr, "127.0.0.1", "POST", PD, &[]).await;
    assert_eq!((r.status, r.json()["message"].as_str().unwrap()), (401, "PIN required"));
    for _ in 0..3 {
        let r = request(addr, "127.0.0.1", "POST", &format!("{PD}?pin=1111"), &[]).await;
        assert_eq!((r.status, r.json()["message"].as_str().unwrap()), (401, "Invalid PIN"));
    }
    // Locked out, even with the right PIN.
    assert_eq!(request(addr, "127.0.0.1", "POST", &format!("{PD}?pin=2468"), &[]).await.status, 429);
    // Another address with the right PIN gets in.
    let r = request(addr, "127.0.0.3", "POST", &format!("{PD}?pin=2468"), &[]).await;
    assert_eq!(r.status, 200);
    assert!(s.owner.events.lock().unwrap().iter().any(|e| matches!(e, ShareEvent::PinFailed { .. })));
}

#[tokio::test]
async fn ranges() {
    let s = sharing(auto()).await;
    let addr = s.node.addr();
    let (session, files, zips) = open(addr, "127.0.0.1").await;
    let path = dl(&session, id_of(&files, "a.txt"));
    let all: Vec<u8> = (0..100u8).collect();
    let get = |range: &'static str| {
        let path = path.clone();
        async move { request(addr, "127.0.0.1", "GET", &path, &[("Range", range)]).await }
    };
    let r = get("bytes=10-19").await;
    assert_eq!((r.status, r.header("content-range"), r.header("content-length")), (206, Some("bytes 10-19/100"), Some("10")));
    assert_eq!(r.body, &all[10..20]);
    let r = get("bytes=90-").await;
    assert_eq!((r.status, r.header("content-range"), r.body.as_slice()), (206, Some("bytes 90-99/100"), &all[90..]));
    let r = get("bytes=-5").await;
    assert_eq!((r.status, r.header("content-range"), r.body.as_slice()), (206, Some("bytes 95-99/100"), &all[95..]));
    let r = get("bytes=95-5000").await;
    assert_eq!((r.status, r.body.as_slice()), (206, &all[95..]));
    let r = get("bytes=-1000").await;
    assert_eq!((r.status, r.body.as_slice()), (206, &all[..]));
    for bad in ["bytes=100-", "bytes=5000-6000", "bytes=-0"] {
        let r = get(bad).await;
        assert_eq!((r.status, r.header("content-range")), (416, Some("bytes */100")), "{bad}");
    }
    // Several ranges or a malformed header: the whole file.
    for whole in ["bytes=0-1,5-6", "bytes=9-2", "lines=1-2", "bytes=x-"] {
        let r = get(whole).await;
        assert_eq!((r.status, r.body.as_slice()), (200, &all[..]), "{whole}");
    }
    // A resume only continues the same file: If-Range must name its ETag.
    let etag = request(addr, "127.0.0.1", "GET", &path, &[]).await.header("etag").unwrap().to_string();
    let r = request(addr, "127.0.0.1", "GET", &path, &[("Range", "bytes=50-"), ("If-Range", &etag)]).await;
    assert_eq!((r.status, r.body.as_slice()), (206, &all[50..]));
    let r = request(addr, "127.0.0.1", "GET", &path, &[("Range", "bytes=50-"), ("If-Range", "\"other\"")]).await;
    assert_eq!((r.status, r.body.as_slice()), (200, &all[..]));
    // A zip is written on the fly: no ranges, the whole zip.
    let r = request(addr, "127.0.0.1", "GET", &dl(&session, &zips[0].1), &[("Range", "bytes=0-9")]).await;
    assert_eq!(r.status, 200);
    assert!(r.body.len() > 10);
}

#[tokio::test]
async fn folder_zip_holds_its_files() {
    let s = sharing(auto()).await;
    let addr = s.node.addr();
    let (session, _, zips) = open(addr, "127.0.0.1").await;
    let r = request(addr, "127.0.0.1", "GET", &dl(&session, &zips[0].1), &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/zip"));
    assert_eq!(r.header("content-disposition"), Some("attachment; filename=\"album.zip\"; filename*=UTF-8''album.zip"));
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(r.body)).unwrap();
    let mut got = Vec::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut data).unwrap();
        got.push((f.name().unwrap().to_string(), data));
    }
    assert_eq!(got, [("one.jpg".to_string(), b"one".to_vec()), ("sub/two.jpg".to_string(), b"second".to_vec())]);
}

#[tokio::test]
async fn a_shared_file_replaced_by_a_link_is_not_followed() {
    let s = sharing(auto()).await;
    let addr = s.node.addr();
    let (session, files, _) = open(addr, "127.0.0.1").await;
    let shared = s.path("a.txt");
    std::fs::remove_file(&shared).unwrap();
    std::os::unix::fs::symlink(s.path("secret.txt"), &shared).unwrap();
    let r = request(addr, "127.0.0.1", "GET", &dl(&session, id_of(&files, "a.txt")), &[]).await;
    assert_eq!(r.status, 404);
    assert!(!String::from_utf8_lossy(&r.body).contains("not shared"));
}

#[tokio::test]
async fn file_names_cannot_inject_headers() {
    let node = Node::start(NodeConfig { https: false, ..Default::default() }).await;
    let dir = tempfile::tempdir().unwrap();
    let name = "a\"b\r\nX-Injected: 1\r\n\r\n<img src=x onerror=alert(1)>é.txt";
    let path = dir.path().join(name);
    std::fs::write(&path, b"x").unwrap();
    node.handle.open_share(ShareList::collect(&[path]).unwrap(), auto(), Arc::new(Owner::default())).unwrap();
    let (session, files, _) = open(node.addr(), "127.0.0.1").await;
    assert_eq!(files[0].0, name, "the name is offered as it is (the page shows it as text)");
    let r = request(node.addr(), "127.0.0.1", "GET", &dl(&session, &files[0].1), &[]).await;
    assert_eq!(r.status, 200);
    assert!(r.header("x-injected").is_none());
    let cd = r.header("content-disposition").unwrap();
    assert!(
        cd.starts_with("attachment; filename=\"a_b__X-Injected: 1____<img src=x onerror=alert(1)>_.txt\"; filename*=UTF-8''a%22b%0D%0A"),
        "{cd}"
    );
    assert_eq!(r.body, b"x");
}

#[tokio::test]
async fn pages_are_served_with_a_strict_policy() {
    let s = sharing(auto()).await;
    let addr = s.node.addr();
    let r = request(addr, "127.0.0.1", "GET", "/", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let csp = r.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    let html = String::from_utf8(r.body).unwrap();
    assert!(!html.contains("<script>") && !html.contains("style="), "no inline script or style");
    assert!(!html.contains("http://") && !html.contains("https://"), "no external resources");
    let js = request(addr, "127.0.0.1", "GET", "/app.js", &[]).await;
    assert_eq!(js.header("content-type"), Some("text/javascript; charset=utf-8"));
    let js = String::from_utf8(js.body).unwrap();
    assert!(!js.contains("innerHTML") && !js.contains("insertAdjacentHTML") && !js.contains("document.write"), "names go in as text");
    let st = request(addr, "127.0.0.1", "GET", "/web/state", &[]).await.json();
    assert_eq!(st["mode"], "share");
    assert_eq!(st["alias"], "Receiver");
    assert_eq!(st["https"], false);
    assert_eq!(st["fingerprint"], ferry_core::identity::short_fingerprint(s.node.identity.fingerprint()));
}

#[tokio::test]
async fn the_receive_page_uploads_like_any_sender() {
    let node = Node::start(NodeConfig { https: false, ..Default::default() }).await;
    let addr = node.addr();
    assert_eq!(request(addr, "127.0.0.1", "GET", "/", &[]).await.status, 404);
    node.handle.set_receive_page(true);
    assert_eq!(request(addr, "127.0.0.1", "GET", "/", &[]).await.status, 200);
    assert_eq!(request(addr, "127.0.0.1", "GET", "/web/state", &[]).await.json()["mode"], "receive");
    // What the page sends: alias "Browser", over plain HTTP, through prepare-upload and upload.
    let body = serde_json::json!({
        "info": {"alias": "Browser", "version": "2.1", "deviceModel": "Browser", "deviceType": "web",
                 "fingerprint": "0123456789ABCDEF", "port": addr.port(), "protocol": "http", "download": false},
        "files": {"f0": {"id": "f0", "fileName": "note.txt", "size": 5, "fileType": "text/plain"}}
    });
    let raw = Raw::http(addr);
    let r = raw.post_json("/api/localsend/v2/prepare-upload", &body).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    let req = node.handler.requests();
    assert_eq!(req[0].sender.alias, "Browser");
    assert!(!req[0].sender.verified);
    let (session, token) = (v["sessionId"].as_str().unwrap(), v["files"]["f0"].as_str().unwrap());
    let r = raw.send("POST", &format!("/api/localsend/v2/upload?sessionId={session}&fileId=f0&token={token}"), b"hello").await;
    assert_eq!(r.status, 200);
    eventually("the file is saved", || node.listing().iter().any(|p| p == "note.txt")).await;
    assert_eq!(std::fs::read(node.inbox().join("note.txt")).unwrap(), b"hello");
}

#[tokio::test]
async fn a_node_started_to_share_announces_download_and_lists_its_links() {
    use ferry_core::identity::Identity;
    use ferry_core::node::{Node as FerryNode, NodeConfig as FerryConfig};
    use ferry_core::trust::TrustStore;
    let dir = tempfile::tempdir().unwrap();
    let trust = Arc::new(TrustStore::in_memory());
    let mut cfg = FerryConfig::new(Identity::generate().unwrap(), trust, "Sharer", dir.path().join("in"));
    (cfg.port, cfg.bind, cfg.https, cfg.download, cfg.discovery) = (0, Some("127.0.0.1".parse().unwrap()), false, true, false);
    let node = FerryNode::start(cfg, Arc::new(())).await.unwrap();
    assert!(node.info().download, "announcements and registers carry download: true");
    assert_eq!(node.links(), [format!("http://127.0.0.1:{}/", node.port())]);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", node.port()).parse().unwrap();
    // The info answer says download only while a share is open.
    assert_eq!(request(addr, "127.0.0.1", "GET", "/api/localsend/v2/info", &[]).await.json()["download"], false);
    std::fs::write(dir.path().join("f.txt"), b"f").unwrap();
    let list = node.open_share(&[dir.path().join("f.txt")], auto(), Arc::new(Owner::default())).unwrap();
    assert_eq!(list.files[0].name, "f.txt");
    assert_eq!(request(addr, "127.0.0.1", "GET", "/api/localsend/v2/info", &[]).await.json()["download"], true);
    assert!(node.close_share());
    assert_eq!(request(addr, "127.0.0.1", "GET", "/api/localsend/v2/info", &[]).await.json()["download"], false);
    node.stop();
}

#[tokio::test]
async fn closing_the_share_ends_running_downloads() {
    let node = Node::start(NodeConfig { https: false, ..Default::default() }).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.bin");
    std::fs::write(&path, vec![1u8; 48 * 1024 * 1024]).unwrap();
    let owner = Arc::new(Owner::default());
    node.handle.open_share(ShareList::collect(&[path]).unwrap(), auto(), owner.clone()).unwrap();
    let (session, files, _) = open(node.addr(), "127.0.0.1").await;
    let mut s = Raw::http(node.addr()).connect().await;
    let head = format!("GET {} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", dl(&session, &files[0].1));
    s.write_all(head.as_bytes()).await.unwrap();
    // Read a little, then stop reading: the download waits on this reader.
    let mut buf = vec![0u8; 64 * 1024];
    let n = s.read(&mut buf).await.unwrap();
    assert!(n > 0);
    eventually("the download started", || owner.events.lock().unwrap().iter().any(|e| matches!(e, ShareEvent::DownloadStarted { .. })))
        .await;
    assert!(node.handle.close_share());
    // The rest ends early: the connection closes before 48 MiB arrived.
    let mut total = n;
    let read_rest = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(k) => total += k,
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read_rest).await.expect("the download ends");
    assert!(total < 48 * 1024 * 1024, "{total} bytes arrived");
    eventually("the end is told", || {
        owner.events.lock().unwrap().iter().any(|e| matches!(e, ShareEvent::DownloadFinished { complete: false, .. }))
    })
    .await;
}

#[tokio::test]
async fn browsers_waiting_for_the_owner_are_bounded() {
    let s = sharing(ShareOptions::default()).await;
    let addr = s.node.addr();
    let max = ferry_core::share::MAX_PENDING_BROWSERS;
    let mut waiting = Vec::new();
    for i in 0..max {
        let source = format!("127.0.1.{}", i + 1);
        waiting.push(tokio::spawn(async move { request(addr, &source, "POST", PD, &[]).await.status }));
    }
    eventually("every browser is asked about", || s.owner.asked() == max).await;
    // One more address is refused at once; the owner is not asked about it.
    let r = request(addr, "127.0.2.1", "POST", PD, &[]).await;
    assert_eq!((r.status, r.json()["message"].as_str().unwrap()), (429, "Too many browsers waiting"));
    assert_eq!(s.owner.asked(), max);
    for i in 0..max {
        s.owner.answer(i, i % 2 == 0);
    }
    for (i, w) in waiting.into_iter().enumerate() {
        assert_eq!(w.await.unwrap(), if i % 2 == 0 { 200 } else { 403 });
    }
    // Room again: the next address is asked about.
    let next = tokio::spawn(async move { request(addr, "127.0.2.1", "POST", PD, &[]).await.status });
    eventually("the next browser is asked about", || s.owner.asked() == max + 1).await;
    s.owner.answer(max, true);
    assert_eq!(next.await.unwrap(), 200);
}

#[tokio::test]
async fn a_download_nobody_reads_ends() {
    use ferry_core::identity::Identity;
    use ferry_core::protocol::{DeviceType, Protocol};
    use ferry_core::server::{self, ReceivePolicy, ServerLimits, ServerOptions};
    use ferry_core::storage::ReceiveDir;
    use ferry_core::trust::TrustStore;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("in")).unwrap();
    let identity = Identity::generate().unwrap();
    let info = ferry_core::protocol::device_info("Sharer", DeviceType::Headless, "Linux", identity.fingerprint(), 0, Protocol::Http);
    let opts = ServerOptions {
        identity,
        info,
        bind: "127.0.0.1:0".parse().unwrap(),
        https: false,
        receive_dir: ReceiveDir::new(&dir.path().join("in")).unwrap(),
        pin: None,
        policy: ReceivePolicy::DeclineAll,
        trust: Arc::new(TrustStore::in_memory()),
        verify_checksums: true,
    };
    let limits = ServerLimits { body_stall_timeout: Duration::from_millis(500), ..Default::default() };
    let handle = server::start_with_limits(opts, limits, Scripted::new(Answer::Decline)).await.unwrap();
    let path = dir.path().join("big.bin");
    std::fs::write(&path, vec![1u8; 48 * 1024 * 1024]).unwrap();
    let owner = Arc::new(Owner::default());
    handle.open_share(ShareList::collect(&[path]).unwrap(), auto(), owner.clone()).unwrap();
    let (session, files, _) = open(handle.local_addr(), "127.0.0.1").await;
    let mut s = Raw::http(handle.local_addr()).connect().await;
    let head = format!("GET {} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", dl(&session, &files[0].1));
    s.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = s.read(&mut buf).await.unwrap();
    // Nothing read for a while: the server gives up on this reader.
    eventually("the download is given up", || {
        owner.events.lock().unwrap().iter().any(|e| matches!(e, ShareEvent::DownloadFinished { complete: false, .. }))
    })
    .await;
    let read_rest = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(k) => total += k,
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read_rest).await.expect("the connection ends");
    assert!(total < 48 * 1024 * 1024, "{total} bytes arrived");
    handle.shutdown();
}

#[tokio::test]
async fn pages_and_downloads_refuse_other_host_names() {
    let s = sharing(auto()).await;
    let addr = s.node.addr();
    // A web site whose DNS name was made to point here (DNS rebinding) reads nothing.
    for path in ["/", "/app.js", "/web/state", PD] {
        let method = if path == PD { "POST" } else { "GET" };
        let r = request(addr, "127.0.0.1", method, path, &[("Host", "evil.example:53317")]).await;
        assert_eq!(r.status, 403, "{path}");
    }
    let (session, files, _) = open(addr, "127.0.0.1").await;
    let r = request(addr, "127.0.0.1", "GET", &dl(&session, &files[0].1), &[("Host", "evil.example")]).await;
    assert_eq!(r.status, 403);
    // By address (what the links hold) all is well.
    let r = request(addr, "127.0.0.1", "GET", &dl(&session, &files[0].1), &[("Host", &addr.to_string())]).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn a_shared_folder_swapped_for_a_link_leads_nowhere() {
    let s = sharing(auto()).await;
    let addr = s.node.addr();
    let (session, files, zips) = open(addr, "127.0.0.1").await;
    // After the share opened, album/sub becomes a link to a folder outside the share holding a
    // file of the same name.
    std::fs::create_dir_all(s.path("outside")).unwrap();
    std::fs::write(s.path("outside/two.jpg"), b"TOP SECRET").unwrap();
    std::fs::rename(s.path("album/sub"), s.path("album/sub.orig")).unwrap();
    std::os::unix::fs::symlink(s.path("outside"), s.path("album/sub")).unwrap();
    let r = request(addr, "127.0.0.1", "GET", &dl(&session, id_of(&files, "album/sub/two.jpg")), &[]).await;
    assert_eq!(r.status, 404);
    assert!(!String::from_utf8_lossy(&r.body).contains("TOP SECRET"));
    let r = request(addr, "127.0.0.1", "GET", &dl(&session, &zips[0].1), &[]).await;
    assert!(!r.body.windows(10).any(|w| w == b"TOP SECRET"), "the zip holds nothing from outside");
    // A hard link to another file put in a shared file's place is not the file that was shared.
    std::fs::remove_file(s.path("album/sub")).unwrap();
    std::fs::rename(s.path("album/sub.orig"), s.path("album/sub")).unwrap();
    std::fs::remove_file(s.path("album/sub/two.jpg")).unwrap();
    std::fs::hard_link(s.path("outside/two.jpg"), s.path("album/sub/two.jpg")).unwrap();
    let r = request(addr, "127.0.0.1", "GET", &dl(&session, id_of(&files, "album/sub/two.jpg")), &[]).await;
    assert_eq!(r.status, 404);
    let r = request(addr, "127.0.0.1", "GET", &dl(&session, &zips[0].1), &[]).await;
    assert!(!r.body.windows(10).any(|w| w == b"TOP SECRET"), "the zip holds nothing from outside");
    // The files left alone are still served.
    let r = request(addr, "127.0.0.1", "GET", &dl(&session, id_of(&files, "album/one.jpg")), &[]).await;
    assert_eq!((r.status, r.body.as_slice()), (200, &b"one"[..]));
}

#[tokio::test]
async fn browsers_that_ask_and_hang_up_hold_no_place() {
    let s = sharing(ShareOptions::default()).await;
    let addr = s.node.addr();
    let max = ferry_core::share::MAX_PENDING_BROWSERS;
    for i in 0..max {
        let mut c = Raw::http(addr).from_source(&format!("127.0.3.{}", i + 1)).connect().await;
        let head = format!("POST {PD} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n");
        c.write_all(head.as_bytes()).await.unwrap();
        let n = i + 1;
        eventually("the owner is asked", || s.owner.asked() == n).await;
        drop(c);
    }
    // Every question is withdrawn as its connection closes (the owner's reply says so).
    eventually("the questions are withdrawn", || s.owner.asked.lock().unwrap().iter().all(|(_, r)| r.as_ref().unwrap().is_closed())).await;
    // A friend arriving now is asked about, not refused for browsers that are gone.
    let friend = tokio::spawn(async move { request(addr, "127.0.4.1", "POST", PD, &[]).await });
    eventually("the friend is asked about", || s.owner.asked() == max + 1).await;
    s.owner.answer(max, true);
    assert_eq!(friend.await.unwrap().status, 200);
    // One that hung up asks again: asked again (it was not declined).
    let again = tokio::spawn(async move { request(addr, "127.0.3.1", "POST", PD, &[]).await });
    eventually("asked again", || s.owner.asked() == max + 2).await;
    s.owner.answer(max + 1, true);
    assert_eq!(again.await.unwrap().status, 200);
}

/// A bare server with `limits` sharing `paths` (made by `make` in a temporary folder).
async fn server_sharing(
    limits: ferry_core::server::ServerLimits,
    opts: ShareOptions,
    make: impl FnOnce(&std::path::Path) -> Vec<PathBuf>,
) -> (ferry_core::server::ServerHandle, Arc<Owner>, tempfile::TempDir) {
    use ferry_core::identity::Identity;
    use ferry_core::protocol::{DeviceType, Protocol};
    use ferry_core::server::{self, ReceivePolicy, ServerOptions};
    use ferry_core::storage::ReceiveDir;
    use ferry_core::trust::TrustStore;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("in")).unwrap();
    let identity = Identity::generate().unwrap();
    let info = ferry_core::protocol::device_info("Sharer", DeviceType::Headless, "Linux", identity.fingerprint(), 0, Protocol::Http);
    let server_opts = ServerOptions {
        identity,
        info,
        bind: "127.0.0.1:0".parse().unwrap(),
        https: false,
        receive_dir: ReceiveDir::new(&dir.path().join("in")).unwrap(),
        pin: None,
        policy: ReceivePolicy::DeclineAll,
        trust: Arc::new(TrustStore::in_memory()),
        verify_checksums: true,
    };
    let handle = server::start_with_limits(server_opts, limits, Scripted::new(Answer::Decline)).await.unwrap();
    let paths = make(dir.path());
    let owner = Arc::new(Owner::default());
    handle.open_share(ShareList::collect(&paths).unwrap(), opts, owner.clone()).unwrap();
    (handle, owner, dir)
}

#[tokio::test]
async fn idle_approvals_expire_so_others_get_in() {
    let limits = ferry_core::server::ServerLimits { browser_idle_timeout: Duration::from_secs(5), ..Default::default() };
    let (handle, _owner, _dir) = server_sharing(limits, auto(), |d| {
        std::fs::write(d.join("f.txt"), b"f").unwrap();
        vec![d.join("f.txt")]
    })
    .await;
    let addr = handle.local_addr();
    let max = ferry_core::share::MAX_BROWSERS;
    let mut first = None;
    for i in 0..max {
        let (session, files, _) = open(addr, &format!("127.0.5.{}", i + 1)).await;
        first.get_or_insert((session, files[0].1.clone()));
    }
    // Every place is taken by browsers that keep using the share: a new one waits its turn.
    assert_eq!(request(addr, "127.0.6.1", "POST", PD, &[]).await.status, 429);
    // Once they stop asking for anything, their approvals expire and a friend gets in.
    let friend = async {
        loop {
            let r = request(addr, "127.0.6.1", "POST", PD, &[]).await;
            if r.status == 200 {
                return;
            }
            assert_eq!(r.status, 429);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), friend).await.expect("the friend gets in");
    // The expired browser's old session is gone with it.
    let (session, file) = first.unwrap();
    assert_eq!(request(addr, "127.0.5.1", "GET", &dl(&session, &file), &[]).await.status, 403);
    handle.shutdown();
}

#[tokio::test]
async fn one_zip_per_browser_read_at_a_minimum_rate() {
    // At least 1 MiB every 2 s.
    let limits =
        ferry_core::server::ServerLimits { body_stall_timeout: Duration::from_secs(2), min_progress: 1024 * 1024, ..Default::default() };
    let (handle, owner, _dir) = server_sharing(limits, auto(), |d| {
        std::fs::create_dir_all(d.join("album")).unwrap();
        std::fs::write(d.join("album/big.bin"), vec![3u8; 32 * 1024 * 1024]).unwrap();
        vec![d.join("album")]
    })
    .await;
    let addr = handle.local_addr();
    let (session, _, zips) = open(addr, "127.0.0.1").await;
    let mut s = Raw::http(addr).connect().await;
    let head = format!("GET {} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", dl(&session, &zips[0].1));
    s.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = s.read(&mut buf).await.unwrap();
    // The same browser cannot open a second zip meanwhile; another browser can.
    let r = request(addr, "127.0.0.1", "GET", &dl(&session, &zips[0].1), &[]).await;
    assert_eq!(r.status, 429);
    let (other, _, _) = open(addr, "127.0.0.2").await;
    let r = request(addr, "127.0.0.2", "GET", &dl(&other, &zips[0].1), &[]).await;
    assert_eq!((r.status, r.body.len() > 32 * 1024 * 1024), (200, true));
    // Reading a trickle (64 KiB every 200 ms: 640 KiB in 2 s) does not keep the zip going.
    let trickle = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(k) => total += k,
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), trickle).await.expect("the slow zip is ended");
    assert!(total < 32 * 1024 * 1024, "{total} bytes arrived");
    eventually("the end is told", || {
        owner.events.lock().unwrap().iter().any(|e| matches!(e, ShareEvent::DownloadFinished { complete: false, .. }))
    })
    .await;
    // Its place is free again.
    let r = request(addr, "127.0.0.1", "GET", &dl(&session, &zips[0].1), &[]).await;
    assert_eq!(r.status, 200);
    handle.shutdown();
}

/// Entries of a zip body: (name, content).
fn unzip(body: Vec<u8>) -> Vec<(String, Vec<u8>)> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(body)).unwrap();
    let mut got = Vec::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut data).unwrap();
        got.push((f.name().unwrap().to_string(), data));
    }
    got
}

#[tokio::test]
async fn zip_entry_names_cannot_lead_a_windows_extractor_out() {
    let node = Node::start(NodeConfig { https: false, ..Default::default() }).await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("album");
    std::fs::create_dir_all(&root).unwrap();
    for name in ["..\\..\\evil.txt", "C:evil.txt", "a\x01b.txt", "ok.txt"] {
        std::fs::write(root.join(name), name.as_bytes()).unwrap();
    }
    node.handle.open_share(ShareList::collect(&[root]).unwrap(), auto(), Arc::new(Owner::default())).unwrap();
    let (session, files, zips) = open(node.addr(), "127.0.0.1").await;
    let odd = |n: &str| n.contains(['\\', ':']) || n.chars().any(char::is_control);
    assert!(files.iter().all(|(n, _)| !odd(n)), "{files:?}");
    let r = request(node.addr(), "127.0.0.1", "GET", &dl(&session, &zips[0].1), &[]).await;
    assert_eq!(r.status, 200);
    let got = unzip(r.body);
    assert_eq!(got.len(), 4);
    for (name, data) in &got {
        assert!(!odd(name) && !name.contains('/'), "{name:?}");
        assert!(!data.is_empty());
    }
    assert!(got.iter().any(|(n, d)| n == "ok.txt" && d == b"ok.txt"));
}

#[tokio::test]
async fn names_that_read_the_same_stay_two_files() {
    use std::os::unix::ffi::OsStrExt;
    let node = Node::start(NodeConfig { https: false, ..Default::default() }).await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("nu");
    std::fs::create_dir_all(&root).unwrap();
    // Two names that are not UTF-8 and read the same ("a\u{FFFD}.txt").
    std::fs::write(root.join(std::ffi::OsStr::from_bytes(b"a\xfe.txt")), b"fe").unwrap();
    std::fs::write(root.join(std::ffi::OsStr::from_bytes(b"a\xff.txt")), b"ff").unwrap();
    node.handle.open_share(ShareList::collect(&[root]).unwrap(), auto(), Arc::new(Owner::default())).unwrap();
    let (session, files, zips) = open(node.addr(), "127.0.0.1").await;
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["nu/a\u{FFFD} (2).txt", "nu/a\u{FFFD}.txt"]);
    let mut bodies = Vec::new();
    for (_, id) in &files {
        let r = request(node.addr(), "127.0.0.1", "GET", &dl(&session, id), &[]).await;
        assert_eq!(r.status, 200);
        bodies.push(r.body);
    }
    bodies.sort();
    assert_eq!(bodies, [b"fe".to_vec(), b"ff".to_vec()], "each name serves its own file");
    let r = request(node.addr(), "127.0.0.1", "GET", &dl(&session, &zips[0].1), &[]).await;
    assert_eq!(r.status, 200);
    let got = unzip(r.body);
    assert_eq!(got, [("a\u{FFFD}.txt".to_string(), b"fe".to_vec()), ("a\u{FFFD} (2).txt".to_string(), b"ff".to_vec())]);
}

#[tokio::test]
async fn a_shared_link_to_a_file_is_served() {
    let node = Node::start(NodeConfig { https: false, ..Default::default() }).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("real.bin"), b"real").unwrap();
    std::os::unix::fs::symlink(dir.path().join("real.bin"), dir.path().join("link.bin")).unwrap();
    // The owner gave the link: what it points at when the share opens is what is shared.
    node.handle.open_share(ShareList::collect(&[dir.path().join("link.bin")]).unwrap(), auto(), Arc::new(Owner::default())).unwrap();
    let (session, files, _) = open(node.addr(), "127.0.0.1").await;
    assert_eq!(files.len(), 1);
    let r = request(node.addr(), "127.0.0.1", "GET", &dl(&session, &files[0].1), &[]).await;
    assert_eq!((r.status, r.body.as_slice()), (200, &b"real"[..]));
}

#[tokio::test]
async fn every_answer_carries_the_strict_policy() {
    let s = sharing(auto()).await;
    let addr = s.node.addr();
    let (session, files, zips) = open(addr, "127.0.0.1").await;
    let a = id_of(&files, "a.txt").to_string();
    let answers = [
        ("GET", "/".to_string(), 200),
        ("GET", "/nope".to_string(), 404),
        ("POST", "/".to_string(), 404),
        ("GET", "/api/localsend/v2/info".to_string(), 200),
        ("GET", DL.to_string(), 400),
        ("GET", dl("x", "y"), 403),
        ("GET", dl(&session, &a), 200),
        ("GET", dl(&session, &zips[0].1), 200),
        ("POST", PD.to_string(), 200),
        ("GET", PD.to_string(), 405),
    ];
    for (method, path, status) in answers {
        let r = request(addr, "127.0.0.1", method, &path, &[]).await;
        assert_eq!(r.status, status, "{method} {path}");
        let csp = r.header("content-security-policy").unwrap_or_else(|| panic!("CSP on {method} {path}"));
        assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "{method} {path}");
        assert_eq!(r.header("cache-control"), Some("no-store"), "{method} {path}");
    }
    // A host name refused for DNS rebinding too.
    let r = request(addr, "127.0.0.1", "GET", "/", &[("Host", "evil.example")]).await;
    assert_eq!((r.status, r.header("x-content-type-options")), (403, Some("nosniff")));
}
