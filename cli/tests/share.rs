//! `ferry share` and `ferry receive --web` on the real binary over loopback: the links and QR
//! code printed, downloads, the question about each browser, Ctrl+C, and the receive page.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStdin, Stdio};
use std::time::Duration;

mod common;
#[allow(dead_code)]
#[path = "../src/events.rs"]
mod events;

use common::{ferry, run, Captured};

/// A running `ferry share` (or `receive --web`) with its output followed; killed on drop.
struct Running {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Captured,
    err: Captured,
}

impl Running {
    fn start(config: &Path, args: &[&str]) -> Running {
        let mut child = ferry(config).args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let stdin = child.stdin.take();
        let out = Captured::follow(child.stdout.take().unwrap());
        let err = Captured::follow(child.stderr.take().unwrap());
        Running { child, stdin, out, err }
    }
    /// The port of the first `http://127.0.0.1:PORT/` link printed.
    fn port(&self) -> u16 {
        self.out.wait_count("http://127.0.0.1:", 1);
        let text = self.out.text();
        let at = text.find("http://127.0.0.1:").unwrap() + "http://127.0.0.1:".len();
        text[at..].split('/').next().unwrap().parse().unwrap()
    }
    fn type_line(&mut self, line: &str) {
        let s = self.stdin.as_mut().unwrap();
        s.write_all(format!("{line}\n").as_bytes()).unwrap();
        s.flush().unwrap();
    }
    /// Ctrl+C, then the exit code (bounded).
    fn interrupt(&mut self) -> i32 {
        let pid = self.child.id().to_string();
        assert!(std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code().unwrap_or(-1);
            }
            assert!(std::time::Instant::now() < deadline, "ferry did not end after Ctrl+C");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request to 127.0.0.1:`port`: (status, body).
fn http(port: u16, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let end = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let status = String::from_utf8_lossy(&all[..end]).split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, all[end..].to_vec())
}

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
}

/// A folder with `a.txt` and `album/x.txt`.
fn files(root: &Path) {
    std::fs::create_dir_all(root.join("album")).unwrap();
    std::fs::write(root.join("a.txt"), b"hello share").unwrap();
    std::fs::write(root.join("album/x.txt"), b"inside").unwrap();
}

fn download_ids(v: &serde_json::Value) -> Vec<(String, String)> {
    let mut ids: Vec<(String, String)> = v["files"]
        .as_object()
        .unwrap()
        .values()
        .map(|f| (f["fileName"].as_str().unwrap().into(), f["id"].as_str().unwrap().into()))
        .collect();
    ids.sort();
    ids
}

#[test]
fn share_prints_links_and_a_qr_code_serves_files_and_ends_on_ctrl_c() {
    let tmp = tempfile::tempdir().unwrap();
    files(tmp.path());
    let (a, album) = (tmp.path().join("a.txt"), tmp.path().join("album"));
    let args = ["share", a.to_str().unwrap(), album.to_str().unwrap(), "--bind", "127.0.0.1", "--port", "0", "--yes"];
    let mut s = Running::start(&tmp.path().join("cfg"), &args);
    let port = s.port();
    s.out.wait_count("Ctrl+C ends the share", 1);
    let out = s.out.text();
    assert!(out.contains("Sharing 2 files, 1 folder also as a .zip"), "{out}");
    assert!(out.contains("QR code of http://127.0.0.1:"), "{out}");
    assert!(out.contains("▀") || out.contains("▄"), "a QR code in half blocks: {out}");
    let (status, body) = http(port, "POST", "/api/localsend/v2/prepare-download", b"");
    assert_eq!(status, 200);
    let v = json(&body);
    let session = v["sessionId"].as_str().unwrap();
    let ids = download_ids(&v);
    assert_eq!(ids.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["a.txt", "album/x.txt"]);
    let (status, body) = http(port, "GET", &format!("/api/localsend/v2/download?sessionId={session}&fileId={}", ids[0].1), b"");
    assert_eq!((status, body.as_slice()), (200, &b"hello share"[..]));
    s.out.wait_count("downloaded a.txt", 1);
    assert_eq!(s.interrupt(), 0);
    s.out.wait_ended();
    assert!(s.out.text().contains("Share closed."));
}

#[test]
fn share_asks_about_each_browser() {
    let tmp = tempfile::tempdir().unwrap();
    files(tmp.path());
    let a = tmp.path().join("a.txt");
    let mut s = Running::start(&tmp.path().join("cfg"), &["share", a.to_str().unwrap(), "--bind", "127.0.0.1", "--port", "0", "--no-qr"]);
    let port = s.port();
    let first = std::thread::spawn(move || http(port, "POST", "/api/localsend/v2/prepare-download", b""));
    s.err.wait_count("wants to see the shared files. Let it in? [y/N]", 1);
    s.type_line("n");
    assert_eq!(first.join().unwrap().0, 403);
    s.out.wait_count("declined", 1);
    // Declined addresses are answered at once for a while; the owner is not asked again.
    assert_eq!(http(port, "POST", "/api/localsend/v2/prepare-download", b"").0, 403);
    assert_eq!(s.err.count("Let it in?"), 1);
    assert_eq!(s.interrupt(), 0);
}

#[test]
fn a_browser_that_goes_away_is_not_asked_about_any_more() {
    let tmp = tempfile::tempdir().unwrap();
    files(tmp.path());
    let a = tmp.path().join("a.txt");
    let mut s = Running::start(&tmp.path().join("cfg"), &["share", a.to_str().unwrap(), "--bind", "127.0.0.1", "--port", "0", "--no-qr"]);
    let port = s.port();
    // A browser asks and hangs up before the owner answers.
    let mut gone = TcpStream::connect(("127.0.0.1", port)).unwrap();
    gone.write_all(b"POST /api/localsend/v2/prepare-download HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n").unwrap();
    s.err.wait_count("Let it in? [y/N]", 1);
    drop(gone);
    s.out.wait_count("went away", 1);
    // The next browser is asked about, and the owner's answer is for it.
    let next = std::thread::spawn(move || http(port, "POST", "/api/localsend/v2/prepare-download", b""));
    s.err.wait_count("Let it in? [y/N]", 2);
    s.type_line("y");
    assert_eq!(next.join().unwrap().0, 200);
    assert_eq!(s.interrupt(), 0);
}

#[test]
fn share_lets_a_browser_in_when_told_yes() {
    let tmp = tempfile::tempdir().unwrap();
    files(tmp.path());
    let a = tmp.path().join("a.txt");
    let mut s = Running::start(&tmp.path().join("cfg"), &["share", a.to_str().unwrap(), "--bind", "127.0.0.1", "--port", "0", "--no-qr"]);
    let port = s.port();
    let first = std::thread::spawn(move || http(port, "POST", "/api/localsend/v2/prepare-download", b""));
    s.err.wait_count("Let it in? [y/N]", 1);
    s.type_line("y");
    let (status, body) = first.join().unwrap();
    assert_eq!(status, 200);
    assert_eq!(download_ids(&json(&body))[0].0, "a.txt");
    s.out.wait_count("let in", 1);
    assert_eq!(s.interrupt(), 0);
}

#[test]
fn share_json_events() {
    let tmp = tempfile::tempdir().unwrap();
    files(tmp.path());
    let a = tmp.path().join("a.txt");
    let args = ["--json", "share", a.to_str().unwrap(), "--bind", "127.0.0.1", "--port", "0", "--yes", "--pin", "1234"];
    let mut s = Running::start(&tmp.path().join("cfg"), &args);
    s.out.wait_count("\"event\":\"sharing\"", 1);
    let first: serde_json::Value = json(s.out.text().lines().next().unwrap().as_bytes());
    assert_eq!(first["event"], "sharing");
    assert_eq!(first["pin"], true);
    assert_eq!(first["files"][0]["name"], "a.txt");
    let link = first["links"][0].as_str().unwrap();
    let port: u16 = link.trim_start_matches("http://127.0.0.1:").trim_end_matches('/').parse().unwrap();
    assert_eq!(http(port, "POST", "/api/localsend/v2/prepare-download", b"").0, 401);
    assert_eq!(http(port, "POST", "/api/localsend/v2/prepare-download?pin=9999", b"").0, 401);
    let (status, body) = http(port, "POST", "/api/localsend/v2/prepare-download?pin=1234", b"");
    assert_eq!(status, 200);
    s.out.wait_count("\"event\":\"browserApproved\"", 1);
    let v = json(&body);
    let (session, id) = (v["sessionId"].as_str().unwrap(), download_ids(&v)[0].1.clone());
    assert_eq!(http(port, "GET", &format!("/api/localsend/v2/download?sessionId={session}&fileId={id}"), b"").0, 200);
    s.out.wait_count("\"event\":\"downloadFinished\"", 1);
    assert_eq!(s.interrupt(), 0);
    s.out.wait_ended();
    let mut kinds = parse_events(&s.out.text());

    // Without --yes: the question and a refusal.
    let args = ["--json", "share", a.to_str().unwrap(), "--bind", "127.0.0.1", "--port", "0"];
    let mut s = Running::start(&tmp.path().join("cfg"), &args);
    s.out.wait_count("\"event\":\"sharing\"", 1);
    let port = s.port();
    let asking = std::thread::spawn(move || http(port, "POST", "/api/localsend/v2/prepare-download", b""));
    s.out.wait_count("\"event\":\"browserRequest\"", 1);
    s.type_line("n");
    assert_eq!(asking.join().unwrap().0, 403);
    s.out.wait_count("\"event\":\"browserDeclined\"", 1);
    assert_eq!(s.interrupt(), 0);
    s.out.wait_ended();
    kinds.extend(parse_events(&s.out.text()));
    for k in [
        "sharing",
        "sharePinFailed",
        "browserApproved",
        "downloadStarted",
        "downloadFinished",
        "shareClosed",
        "browserRequest",
        "browserDeclined",
    ] {
        assert!(kinds.contains(k), "no {k} event in {kinds:?}");
    }
}

/// Every line read back into the typed events docs/CLI-JSON.md documents; their names.
fn parse_events(text: &str) -> std::collections::BTreeSet<String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let raw: serde_json::Value = json(line.as_bytes());
            let e: events::Event =
                serde_json::from_value(raw.clone()).unwrap_or_else(|err| panic!("not a documented event ({err}): {line}"));
            assert_eq!(serde_json::to_value(&e).unwrap(), raw, "the event reads back the same");
            raw["event"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn share_refuses_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, _, err) =
        run(ferry(&tmp.path().join("cfg")).args(["share", "/nonexistent/ferry-share", "--port", "0", "--bind", "127.0.0.1"]));
    assert_eq!(code, 1, "{err}");
    let a = tmp.path().join("a.txt");
    std::fs::write(&a, b"x").unwrap();
    let (code, _, err) = run(ferry(&tmp.path().join("cfg")).args(["share", a.to_str().unwrap(), "--pin", ""]));
    assert_eq!(code, 2, "{err}");
}

#[test]
fn receive_web_serves_the_page_and_saves_uploads() {
    let tmp = tempfile::tempdir().unwrap();
    let inbox = tmp.path().join("in");
    let args = ["receive", "--web", "--yes", "--bind", "127.0.0.1", "--port", "0", "--dir", inbox.to_str().unwrap()];
    let mut s = Running::start(&tmp.path().join("cfg"), &args);
    s.out.wait_count("Browsers can send files from:", 1);
    let port = s.port();
    let (status, page) = http(port, "GET", "/", b"");
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&page).contains("/app.js"));
    let (_, state) = http(port, "GET", "/web/state", b"");
    assert_eq!(json(&state)["mode"], "receive");
    let body = serde_json::json!({
        "info": {"alias": "Browser", "version": "2.1", "deviceType": "web", "fingerprint": "AB12", "port": port, "protocol": "http"},
        "files": {"f0": {"id": "f0", "fileName": "from-browser.txt", "size": 4, "fileType": "text/plain"}}
    });
    let (status, answer) = http(port, "POST", "/api/localsend/v2/prepare-upload", body.to_string().as_bytes());
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let v = json(&answer);
    let path = format!(
        "/api/localsend/v2/upload?sessionId={}&fileId=f0&token={}",
        v["sessionId"].as_str().unwrap(),
        v["files"]["f0"].as_str().unwrap()
    );
    assert_eq!(http(port, "POST", &path, b"page").0, 200);
    let saved = inbox.join("from-browser.txt");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !saved.exists() {
        assert!(std::time::Instant::now() < deadline, "not saved: {}", s.out.text());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(std::fs::read(&saved).unwrap(), b"page");
    let _ = s.interrupt();
}
