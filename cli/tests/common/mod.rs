//! Helpers shared by the `ferry` binary's integration tests: the binary itself, run hermetically
//! (no discovery, no outside config or log settings), an output follower, and receivers started on
//! 127.0.0.1 with port 0 (or a given one) that wait for their port and are killed on drop.

// Every test file is its own crate and compiles this module on its own; each uses only some of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

/// `ferry --config-dir <config>`, never discovering on this machine's real interfaces.
pub fn ferry(config: &Path) -> Command {
    let mut c = Command::new(FERRY);
    // Never discover on this machine's real interfaces.
    c.arg("--config-dir").arg(config).env_remove("FERRY_CONFIG_DIR").env("FERRY_NO_DISCOVERY", "1").env_remove("RUST_LOG");
    c
}

/// Runs `cmd` to its end with nothing on its standard input: (exit code, stdout, stderr).
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// Everything a child wrote on one stream so far, and whether the stream has ended.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>, Arc<AtomicBool>);

impl Captured {
    pub fn follow(mut r: impl Read + Send + 'static) -> Captured {
        let c = Captured::default();
        let (buf, ended) = (c.0.clone(), c.1.clone());
        std::thread::spawn(move || {
            let mut chunk = [0u8; 65536];
            while let Ok(n) = r.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                buf.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
            ended.store(true, Ordering::SeqCst);
        });
        c
    }
    /// Waits (bounded) until the stream ended (the child exited and everything it wrote was read).
    pub fn wait_ended(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.1.load(Ordering::SeqCst) {
            assert!(Instant::now() < deadline, "the stream never ended: {:?}", self.text());
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    pub fn bytes(&self) -> Vec<u8> {
        self.0.lock().unwrap().clone()
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
    pub fn count(&self, needle: &str) -> usize {
        self.text().matches(needle).count()
    }
    /// Waits (bounded) until `needle` was written at least `n` times.
    pub fn wait_count(&self, needle: &str, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.count(needle) < n {
            assert!(Instant::now() < deadline, "no {n}x {needle:?} in {:?}", self.text());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A `ferry --json receive` on 127.0.0.1 whose events are read one by one; killed on drop.
pub struct JsonReceiver {
    pub child: Child,
    lines: std::sync::mpsc::Receiver<serde_json::Value>,
    pub port: u16,
    pub fingerprint: String,
}

impl JsonReceiver {
    /// Starts on port 0 (any) with `extra` arguments and `stdin`; panics if it does not get ready.
    pub fn start(config: &Path, dir: &Path, extra: &[&str], stdin: Stdio) -> JsonReceiver {
        JsonReceiver::try_start(config, dir, 0, extra, stdin).unwrap_or_else(|e| panic!("{e}"))
    }
    /// Starts on `port` (0: any); the error names what went wrong and what the receiver said.
    pub fn try_start(config: &Path, dir: &Path, port: u16, extra: &[&str], stdin: Stdio) -> Result<JsonReceiver, String> {
        let mut child = ferry(config)
            .args(["--json", "receive", "--no-discovery", "--port", &port.to_string(), "--bind", "127.0.0.1", "--dir"])
            .arg(dir)
            .args(extra)
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let err = Captured::follow(child.stderr.take().unwrap());
        let out = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                    let _ = tx.send(v);
                }
            }
        });
        match lines.recv_timeout(Duration::from_secs(30)) {
            Ok(ready) if ready["event"] == "ready" => Ok(JsonReceiver {
                port: ready["port"].as_u64().unwrap() as u16,
                fingerprint: ready["fingerprint"].as_str().unwrap().into(),
                child,
                lines,
            }),
            other => {
                let _ = child.kill();
                let _ = child.wait();
                err.wait_ended();
                Err(format!("receiver did not start ({other:?}): {}", err.text()))
            }
        }
    }
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
    /// Waits (bounded) for the next `event`, skipping others.
    pub fn wait_for(&self, event: &str) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(v) = self.lines.recv_timeout(Duration::from_millis(100)) {
                if v["event"] == event {
                    return v;
                }
            }
        }
        panic!("no {event} event");
    }
    /// Every event the receiver printed within `within` (after the ones already read).
    pub fn events(&self, within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        let mut out = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(v) => out.push(v["event"].as_str().unwrap_or("?").to_string()),
                Err(_) => break,
            }
        }
        out
    }
    /// Waits (bounded) for the receiver to exit: its exit code.
    pub fn wait_exit(&mut self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code().unwrap_or(-1);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("receiver did not exit");
    }
}

impl Drop for JsonReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `ferry receive --http --port 0 --bind 127.0.0.1` (`--json` or for people), stdin piped, stdout
/// and stderr captured; killed on drop.
pub struct HttpReceiver {
    pub child: Child,
    stdin: Option<ChildStdin>,
    pub out: Captured,
    pub err: Captured,
    pub port: u16,
}

impl HttpReceiver {
    /// Starts and waits for its port: the `ready` event in JSON mode, the `addresses` line for people.
    pub fn start(config: &Path, dir: &Path, json: bool, extra: &[&str]) -> HttpReceiver {
        let mut cmd = ferry(config);
        if json {
            cmd.arg("--json");
        }
        cmd.args(["receive", "--no-discovery", "--http", "--port", "0", "--bind", "127.0.0.1", "--dir"]).arg(dir).args(extra);
        HttpReceiver::spawn(cmd, json)
    }
    /// Starts `cmd` (a `ferry receive --http` on 127.0.0.1, perhaps behind a wrapper) and waits
    /// for its port, as [`HttpReceiver::start`].
    pub fn spawn(mut cmd: Command, json: bool) -> HttpReceiver {
        let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let stdin = child.stdin.take();
        let out = Captured::follow(child.stdout.take().unwrap());
        let err = Captured::follow(child.stderr.take().unwrap());
        let deadline = Instant::now() + Duration::from_secs(30);
        let port = loop {
            let text = out.text();
            let found = if json {
                text.lines()
                    .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                    .find(|v| v["event"] == "ready")
                    .map(|v| v["port"].as_u64().unwrap() as u16)
            } else {
                text.lines()
                    .find(|l| l.trim_start().starts_with("addresses") && l.contains(" (http)"))
                    .and_then(|l| l.split(" (http)").next()?.split_whitespace().last()?.rsplit(':').next()?.parse().ok())
            };
            if let Some(p) = found {
                break p;
            }
            assert!(Instant::now() < deadline, "receiver not ready: {text} {}", err.text());
            std::thread::sleep(Duration::from_millis(20));
        };
        HttpReceiver { child, stdin, out, err, port }
    }
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
    /// Types `line` and Enter at the receiver's prompt.
    pub fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }
    /// Everything written so far on stdout and stderr.
    pub fn all_bytes(&self) -> Vec<u8> {
        let mut b = self.out.bytes();
        b.extend(self.err.bytes());
        b
    }
}

impl Drop for HttpReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
