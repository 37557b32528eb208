//! What the `ferry` binary shows a person when a peer is hostile: aliases, device models, file
//! names and texts full of terminal escapes, line breaks and bidirectional overrides never reach
//! the terminal raw, and an answer typed at the request prompt only ever applies to the request
//! on screen. Real processes and real sockets on loopback; the peer is a raw HTTP client.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::Duration;

mod common;

use common::{ferry, HttpReceiver};

/// (a prepare-upload waits for the person's decision).
fn post(addr: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let resp = String::from_utf8_lossy(&resp).into_owned();
    let status = resp.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, resp.split("\r\n\r\n").nth(1).unwrap_or("").to_string())
}

fn info(alias: &str, model: &str) -> serde_json::Value {
    serde_json::json!({"alias": alias, "version": "2.1", "deviceModel": model, "deviceType": "desktop",
        "fingerprint": "f".repeat(64), "port": 53317, "protocol": "http", "download": false})
}

fn prepare_body(alias: &str, model: &str, names: &[&str]) -> String {
    let files: serde_json::Map<String, serde_json::Value> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (format!("f{i}"), serde_json::json!({"id": format!("f{i}"), "fileName": n, "size": 3, "fileType": "text/plain"})))
        .collect();
    serde_json::json!({"info": info(alias, model), "files": files}).to_string()
}

fn text_body(alias: &str, text: &str) -> String {
    serde_json::json!({"info": info(alias, "m"), "files": {"t": {"id": "t", "fileName": "message.txt", "size": text.len(),
        "fileType": "text/plain", "preview": text}}})
    .to_string()
}

const PREPARE: &str = "/api/localsend/v2/prepare-upload";

/// A sender alias that, printed raw, ends the real request line and prints a complete fake one.
/// (Within the 128 characters of an alias the receiver keeps.)
const FAKE_BLOCK_ALIAS: &str =
    "Mallory\"\nIncoming transfer from \"Boss\" (verified, trusted)\n  1 file(s):\n    payroll.pdf\nVerified, trusted\u{1b}]0;pwned\u{7}";

/// Byte sequences that must never reach the terminal from a peer.
fn assert_inert(bytes: &[u8], what: &str) {
    let text = String::from_utf8_lossy(bytes);
    for b in [0x1bu8, 0x07, 0x9b] {
        assert!(!bytes.contains(&b), "{what}: raw byte {b:#04x} in {text:?}");
    }
    for c in ['\u{202e}', '\u{2066}', '\u{2069}', '\u{200b}', '\u{feff}', '\u{85}', '\u{9b}', '\u{7f}', '\u{2028}'] {
        assert!(!text.contains(c), "{what}: raw {c:?} in {text:?}");
    }
}

#[test]
fn display_hostile_request_and_text_are_escaped_for_people() {
    let (cfg, dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut r = HttpReceiver::start(cfg.path(), dir.path(), false, &[]);
    let model = "Pixel\u{1b}[2J\u{9b}31m\r";
    let names = ["invoice\u{202e}fdp.exe", "a\u{1b}]0;title\u{7}b.txt", "c\u{9b}2Jd\u{2066}.txt", "e\u{feff}\u{200b}f.txt"];
    let addr = r.addr();
    let body = prepare_body(FAKE_BLOCK_ALIAS, model, &names);
    let asked = std::thread::spawn(move || post(&addr, PREPARE, &body));
    r.err.wait_count("Accept? [y/N]", 1);
    r.type_line("n");
    let (status, _) = asked.join().unwrap();
    assert_eq!(status, 403, "declined");
    r.out.wait_count("Declined the transfer", 1);

    // A text message: an OSC 52 clipboard write, a screen clear, a title change, a C1 CSI and a
    // bare carriage return that would overwrite the line; real line breaks and tabs stay.
    let text = "hello\u{1b}]52;c;cm0gLXJmIH4K\u{7}\u{1b}[2J\u{1b}]0;owned\u{7}\u{9b}1A\rFAKE\nsecond\tline \u{202e}gpj.exe";
    let (status, _) = post(&r.addr(), PREPARE, &text_body("Tex\u{1b}t\u{85}er", text));
    assert_eq!(status, 204);
    r.out.wait_count("second\tline", 1);

    let out = r.out.text();
    assert_inert(&r.all_bytes(), "receiver output");
    // The fake block stays inside the one real "Incoming transfer" line.
    let lines: Vec<&str> = out.lines().collect();
    let start = lines.iter().position(|l| l.starts_with("Incoming transfer from")).expect("request block");
    assert_eq!(lines.iter().filter(|l| l.starts_with("Incoming transfer from")).count(), 1, "{out}");
    assert!(
        lines[start].contains("Mallory\\\"\\nIncoming transfer from \\\"Boss\\\"")
            && lines[start].contains("\\nVerified, trusted\\x1b]0;pwned\\x07"),
        "{}",
        lines[start]
    );
    assert!(lines[start].contains("UNVERIFIED"), "{}", lines[start]);
    assert!(!lines.iter().any(|l| l.starts_with("Verified, trusted") || l.trim_start().starts_with("payroll.pdf")), "{out}");
    // Header, the whole fingerprint, count line, one line per file, then the next thing printed.
    assert!(lines[start + 1].starts_with("  fingerprint ") && lines[start + 1].ends_with("(claimed, not verified)"), "{out}");
    assert!(lines[start + 2].starts_with("  4 file(s)"), "{out}");
    let shown: Vec<&str> = lines[start + 3..start + 7].to_vec();
    assert!(shown.iter().all(|l| l.starts_with("    ")), "{shown:?}");
    assert!(shown.iter().any(|l| l.contains("invoice\\u{202e}fdp.exe")), "{shown:?}");
    assert!(shown.iter().any(|l| l.contains("a\\x1b]0;title\\x07b.txt")), "{shown:?}");
    assert!(shown.iter().any(|l| l.contains("c\\u{9b}2Jd\\u{2066}.txt")), "{shown:?}");
    assert!(shown.iter().any(|l| l.contains("e\\u{feff}\\u{200b}f.txt")), "{shown:?}");
    assert!(lines[start + 7].starts_with("Declined the transfer from \"Mallory\\\"\\nIncoming"), "{out}");
    // The text keeps its real line break and tab, nothing else.
    assert!(out.contains("Message from \"Tex\\x1bt\\u{85}er\""), "{out}");
    assert!(
        out.contains(
            "hello\\x1b]52;c;cm0gLXJmIH4K\\x07\\x1b[2J\\x1b]0;owned\\x07\\u{9b}1A\\rFAKE\n  \u{2502} second\tline \\u{202e}gpj.exe"
        ),
        "{out}"
    );
    assert!(!out.lines().any(|l| l.starts_with("FAKE")), "{out}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn display_json_output_keeps_hostile_strings_exact_but_inert() {
    let (cfg, dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut r = HttpReceiver::start(cfg.path(), dir.path(), true, &[]);
    let names = ["c\u{9b}2Jd\u{7f}.txt", "invoice\u{202e}fdp.exe"];
    let addr = r.addr();
    let body = prepare_body(FAKE_BLOCK_ALIAS, "Pixel\u{1b}[2J", &names);
    let asked = std::thread::spawn(move || post(&addr, PREPARE, &body));
    r.err.wait_count("Accept? [y/N]", 1);
    r.type_line("n");
    assert_eq!(asked.join().unwrap().0, 403);
    let text = "clip\u{1b}]52;c;eA==\u{7}\u{2066}x\u{2028}";
    assert_eq!(post(&r.addr(), PREPARE, &text_body("T\u{202e}", text)).0, 204);
    r.out.wait_count("\"event\":\"text\"", 1);
    assert_inert(&r.all_bytes(), "json output");
    let events: Vec<serde_json::Value> = r.out.text().lines().map(|l| serde_json::from_str(l).expect("one JSON object a line")).collect();
    let req = events.iter().find(|e| e["event"] == "request").expect("request event");
    assert_eq!(req["sender"]["alias"], FAKE_BLOCK_ALIAS, "machine output is exact");
    assert_eq!(req["sender"]["deviceModel"], "Pixel\u{1b}[2J");
    let mut got: Vec<&str> = req["files"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    got.sort();
    assert_eq!(got, names);
    let t = events.iter().find(|e| e["event"] == "text").unwrap();
    assert_eq!(t["text"], text);
    assert_eq!(t["sender"]["alias"], "T\u{202e}");
}

#[test]
fn display_sender_side_shows_the_receivers_alias_escaped() {
    let (rc, sc, dir, src) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::write(src.path().join("a.txt"), b"abc").unwrap();
    let alias = "Recv\u{1b}]0;pwned\u{7}\u{9b}2J\u{202e}\nConnected to \"Bank\"";
    let r = HttpReceiver::start(rc.path(), dir.path(), false, &["--yes", "--alias", alias]);
    let out = ferry(sc.path())
        .arg("send")
        .arg(src.path().join("a.txt"))
        .args(["--http", "--to", &r.addr()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    let mut all = out.stdout.clone();
    all.extend(&out.stderr);
    assert_inert(&all, "sender output");
    assert!(stdout.contains("Connected to \"Recv\\x1b]0;pwned\\x07\\u{9b}2J\\u{202e}\\nConnected to \\\"Bank\\\"\""), "{stdout}");
    assert_eq!(stdout.lines().filter(|l| l.starts_with("Connected to")).count(), 1, "{stdout}");
}

#[test]
fn display_withdrawn_request_never_takes_an_answer() {
    let (cfg, dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut r = HttpReceiver::start(cfg.path(), dir.path(), false, &[]);
    // Typed before any request: answers nothing.
    r.type_line("y");
    r.err.wait_count("no request is waiting", 1);

    // The first request is shown, then withdrawn by its sender.
    let addr = r.addr();
    let body = prepare_body("First", "m", &["first.txt"]);
    let first = std::thread::spawn(move || post(&addr, PREPARE, &body));
    r.err.wait_count("Accept? [y/N]", 1);
    assert_eq!(post(&r.addr(), "/api/localsend/v2/cancel", "").0, 200);
    r.out.wait_count("First withdrew the request", 1);
    let (status, _) = first.join().unwrap();
    assert_eq!(status, 403, "the withdrawn request is never accepted");

    // A line typed after the withdrawal, before the next prompt: for the old prompt, dropped.
    r.type_line("n");
    r.err.wait_count("no request is waiting", 2);

    // The second request: the "y" typed after its prompt accepts it, and only it.
    let addr = r.addr();
    let body = prepare_body("Second", "m", &["second.txt"]);
    let second = std::thread::spawn(move || post(&addr, PREPARE, &body));
    r.err.wait_count("Accept? [y/N]", 2);
    assert!(!r.out.text().contains("Receiving"), "nothing answered the second request yet: {}", r.out.text());
    r.type_line("y");
    let (status, body) = second.join().unwrap();
    assert_eq!(status, 200, "{body}");
    r.out.wait_count("Receiving 1 file(s), 3 B from \"Second\"", 1);
    let out = r.out.text();
    assert!(!out.contains("Receiving 1 file(s), 3 B from \"First\""), "{out}");
    assert_eq!(out.matches("withdrew the request").count(), 1, "{out}");
}

#[test]
fn display_peer_error_messages_are_escaped_on_the_sending_side() {
    // A "receiver" that answers every request with a hostile error message.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let body = serde_json::json!({"message": "nope\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}1A\u{202e}\nferry: fake second line"}).to_string();
        for (n, conn) in listener.incoming().enumerate() {
            let Ok(mut s) = conn else { break };
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut head = Vec::new();
            let mut b = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && head.len() < 65536 && s.read(&mut b).map(|n| n == 1).unwrap_or(false) {
                head.push(b[0]);
            }
            let _ = write!(s, "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            if n > 50 {
                break;
            }
        }
    });
    let (sc, src) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::write(src.path().join("a.txt"), b"abc").unwrap();
    let out = ferry(sc.path())
        .arg("send")
        .arg(src.path().join("a.txt"))
        .args(["--http", "--to", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    let mut all = out.stdout.clone();
    all.extend(&out.stderr);
    assert_inert(&all, "sender output");
    assert!(stderr.contains("nope\\x1b]0;pwned\\x07\\x1b[2J\\u{9b}1A\\u{202e}\\nferry: fake second line"), "{stderr}");
    assert!(!stderr.lines().any(|l| l.starts_with("ferry: fake")), "{stderr}");
}
