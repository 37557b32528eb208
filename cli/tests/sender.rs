//! What `ferry receive` shows of a text message: a header naming the sender, then every line of
//! the message behind a prefix, so a message can never print lines that look like Ferry's own
//! (a fake request block, a fake "Received" line); a very long message is cut with a count of
//! what was left out. Real processes and real sockets on loopback; the peer is a raw HTTP client.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;

use common::{ferry, Captured, HttpReceiver};

const PREFIX: &str = "  \u{2502} ";
const PREPARE: &str = "/api/localsend/v2/prepare-upload";

impl HttpReceiver {
    /// Sends a text message as a raw prepare-upload; the HTTP status.
    fn text(&self, alias: &str, text: &str) -> u16 {
        let body = serde_json::json!({
            "info": {"alias": alias, "version": "2.1", "deviceModel": "m", "deviceType": "desktop", "fingerprint": "f".repeat(64),
                "port": 53317, "protocol": "http", "download": false},
            "files": {"t": {"id": "t", "fileName": "message.txt", "size": text.len(), "fileType": "text/plain", "preview": text}}})
        .to_string();
        let addr = format!("127.0.0.1:{}", self.port);
        let mut s = TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let req = format!(
            "POST {PREPARE} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).unwrap();
        let mut resp = Vec::new();
        let _ = s.read_to_end(&mut resp);
        String::from_utf8_lossy(&resp).split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
    }
}

/// The lines of the message printed after the `Message from` header that contains `alias`.
fn message_after<'a>(out: &'a str, header: &str) -> Vec<&'a str> {
    let lines: Vec<&str> = out.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with("Message from ") && l.contains(header))
        .unwrap_or_else(|| panic!("no header {header:?} in {out}"));
    lines[start + 1..].iter().take_while(|l| l.starts_with(PREFIX)).copied().collect()
}

/// A message made of lines that, printed raw, would pass for a request (with a trusted sender)
/// and for a saved file.
const FAKE_LINES: &str = "see below\nIncoming transfer from \"Alice\" at 10.0.0.7 (verified, fingerprint 1a2b:3c4d, trusted)\n  1 file(s), 3 B:\n    notes.txt  (3 B)\nReceived notes.txt -> /home/me/Downloads/notes.txt\r\nSaved /home/me/.bashrc\n\n\tdone";

#[test]
fn sender_text_lines_never_pass_for_ferrys_own() {
    let (cfg, dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let r = HttpReceiver::start(cfg.path(), dir.path(), false, &[]);
    assert_eq!(r.text("Mallory\nReceived x", FAKE_LINES), 204);
    r.out.wait_count("done", 1);
    let out = r.out.text();
    // The header names the sender (escaped) and says it is not verified.
    let header = out.lines().find(|l| l.starts_with("Message from ")).expect("header");
    assert!(header.contains("\"Mallory\\nReceived x\"") && header.contains("UNVERIFIED"), "{header}");
    // Every line of the message, and only those, follows behind the prefix.
    let shown = message_after(&out, "Mallory");
    let expected: Vec<String> = FAKE_LINES.replace("\r\n", "\n").split('\n').map(|l| format!("{PREFIX}{l}")).collect();
    assert_eq!(shown, expected, "{out}");
    for l in out.lines() {
        for own in ["Incoming transfer from", "Received ", "Saved ", "  1 file(s)", "    notes.txt"] {
            assert!(!l.starts_with(own), "a message line passes for Ferry's own: {l:?} in {out}");
        }
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    let _ = r.err.text();
}

#[test]
fn sender_long_text_is_cut_with_a_count_and_json_keeps_it_whole() {
    let (cfg, dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // 100 lines of 1000 characters, then 'é' (2 bytes) lines: the cut falls mid-message.
    let mut text: String = (0..100).map(|i| format!("{i:03}{}\n", "x".repeat(996))).collect();
    text.push_str(&"é".repeat(5000));
    let r = HttpReceiver::start(cfg.path(), dir.path(), false, &[]);
    assert_eq!(r.text("Bob", &text), 204);
    r.out.wait_count("more characters)", 1);
    let out = r.out.text();
    let shown = message_after(&out, "Bob");
    let cut = 64 * 1024;
    let kept: String = text[..cut].to_string();
    let left = text[cut..].chars().count();
    assert_eq!(shown.len(), kept.split('\n').count() + 1, "{}", shown.len());
    assert_eq!(shown.last().unwrap(), &format!("{PREFIX}... ({left} more characters)"));
    assert!(shown.iter().all(|l| l.chars().count() <= PREFIX.chars().count() + 1000), "lines stay as sent");
    drop(r);

    let r = HttpReceiver::start(cfg.path(), dir.path(), true, &[]);
    assert_eq!(r.text("Bob", &text), 204);
    r.out.wait_count("\"event\":\"text\"", 1);
    // The line is long: it may still be arriving when its start is seen (bounded wait for all of it).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let event = loop {
        let found = r.out.text().lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()).find(|v| v["event"] == "text");
        match found {
            Some(v) => break v,
            None if std::time::Instant::now() < deadline => std::thread::sleep(std::time::Duration::from_millis(20)),
            None => panic!("no whole text event: {}", r.out.text().len()),
        }
    };
    assert_eq!(event["text"].as_str().unwrap(), text, "JSON keeps the whole text");
}

/// A "receiver" that answers register, never answers prepare-upload, and answers cancel; it
/// records the request lines it read.
fn silent_receiver() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let requests = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(20) {
            let Ok(mut s) = conn else { break };
            let requests = requests.clone();
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_secs(90)));
                for _ in 0..8 {
                    let mut head = Vec::new();
                    let mut b = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") && head.len() < 65536 && s.read(&mut b).map(|n| n == 1).unwrap_or(false) {
                        head.push(b[0]);
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let Some(target) = head.split(' ').nth(1).map(str::to_string) else { return };
                    requests.lock().unwrap().push(target.clone());
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
                        .unwrap_or(0);
                    let mut body = vec![0u8; len];
                    if s.read_exact(&mut body).is_err() {
                        return;
                    }
                    let answer = if target.starts_with("/api/localsend/v2/register") {
                        serde_json::json!({"alias": "Silent", "version": "2.1", "deviceModel": "m", "deviceType": "desktop",
                            "fingerprint": "e".repeat(64), "port": port, "protocol": "http", "download": false})
                        .to_string()
                    } else if target.starts_with(PREPARE) {
                        // Holds the request, answering nothing, until the sender gives up.
                        let mut rest = Vec::new();
                        let _ = s.read_to_end(&mut rest);
                        return;
                    } else {
                        String::new()
                    };
                    let reply =
                        format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}", answer.len());
                    if s.write_all(reply.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, seen)
}

#[test]
fn sender_text_to_a_silent_receiver_exits_3_with_one_clear_line() {
    let (port, seen) = silent_receiver();
    let cfg = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut child = ferry(cfg.path())
        .args(["text", "hello", "--http", "--to", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (out, err) = (Captured::follow(child.stdout.take().unwrap()), Captured::follow(child.stderr.take().unwrap()));
    // The text deadline is 30 s, cancelling at most 10 s more; never for ever.
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(75) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`ferry text` still waits on a silent receiver after {:?}: {} {}", started.elapsed(), out.text(), err.text());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let took = started.elapsed();
    err.wait_ended();
    let stderr = err.text();
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert!(took >= Duration::from_secs(29), "gave up after {took:?}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("ferry:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("the receiver stopped answering"), "{stderr}");
    assert!(
        seen.lock().unwrap().iter().any(|r| r.starts_with("/api/localsend/v2/cancel")),
        "the text was not withdrawn: {:?}",
        seen.lock().unwrap()
    );
}
