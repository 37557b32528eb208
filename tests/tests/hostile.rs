//! Ferry's hostile-input suite: one table of attacks against a real receiver over loopback
//! (real sockets, real TLS), each run against its own receiver whose destination sits three
//! folders deep in a temporary tree. Every attack makes its own assertions, then the harness
//! checks (ferry_tests::hostile::Target::verify) that the receiver is alive, that nothing
//! appeared or changed anywhere in the tree outside the destination, that no `.ferry-*.part`
//! file is left once the session ended, and that an honest transfer succeeds afterwards.
//!
//! `HOSTILE_ONLY=name1,name2` runs only those attacks; the summary line counts what ran.

use ferry_core::identity::Identity;
use ferry_core::server::{ReceiveEvent, ReceivePolicy};
use ferry_tests::hostile::*;
use ferry_tests::{prepare_body, Answer};
use serde_json::json;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

type Outcome = Result<(), String>;
type Fut = Pin<Box<dyn Future<Output = Outcome> + Send>>;

struct Attack {
    name: &'static str,
    family: &'static str,
    cfg: fn() -> TargetConfig,
    run: fn(Arc<Target>) -> Fut,
}

macro_rules! check {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

macro_rules! attacks {
    ($( $name:ident [$family:literal] $cfg:expr => |$t:ident| $body:block )*) => {
        vec![ $( Attack { name: stringify!($name), family: $family, cfg: $cfg, run: |$t: Arc<Target>| -> Fut { Box::pin(async move $body) } }, )* ]
    };
}

fn plain() -> TargetConfig {
    TargetConfig::default()
}
fn asking() -> TargetConfig {
    TargetConfig { policy: ReceivePolicy::Ask, answer: Answer::Hold, ..Default::default() }
}
fn pin_http() -> TargetConfig {
    TargetConfig { https: false, pin: Some("4711".into()), ..Default::default() }
}

const ATTACKER: &str = "127.66.0.2";
const LONG: usize = 300;

fn shortening() -> String {
    format!("...{}", "x".repeat(LONG))
}

/// Sends files with hostile names (content: the name's own bytes) and uploads what is accepted.
/// Whatever the receiver answers is fine as long as the end-of-attack checks hold; returns the
/// prepare status and upload statuses.
async fn names(t: &Target, names: &[String]) -> Result<(u16, Vec<u16>), String> {
    let data: Vec<Vec<u8>> = names.iter().map(|n| format!("data of {n:?}").into_bytes()).collect();
    let files: Vec<(&str, &[u8])> = names.iter().zip(&data).map(|(n, d)| (n.as_str(), d.as_slice())).collect();
    send_files(&t.raw(ATTACKER), &prepare_body("HOSTILE", &files), &files).await
}

/// Every saved entry's last component obeys the name rules.
fn saved_names_clean(t: &Target) -> Outcome {
    for p in t.inside() {
        for c in p.split('/') {
            check!(
                !c.chars().any(|ch| ch.is_control() || ferry_tests::fuzz_checks::is_format_char(ch)),
                "saved name {p:?} keeps a control or format character"
            );
            check!(c.len() <= 255 && c != "." && c != ".." && !c.is_empty(), "saved component {c:?}");
        }
    }
    Ok(())
}

/// Prepare-upload with `v` as the body, returns the status (errors are values).
async fn prepare_status(t: &Target, v: &serde_json::Value) -> Result<u16, String> {
    Ok(post_json(&t.raw(ATTACKER), PREPARE, v).await?.status)
}

async fn prepare_raw(t: &Target, body: &[u8]) -> Result<u16, String> {
    Ok(exchange(&t.raw(ATTACKER), "POST", PREPARE, "", body).await?.status)
}

/// Opens an accepted session from `source` for `files`: (session id, tokens).
async fn open(t: &Target, source: &str, files: &[(&str, &[u8])]) -> Result<(String, serde_json::Value), String> {
    let r = post_json(&t.raw(source), PREPARE, &prepare_body("HOSTILE", files)).await?;
    check!(r.status == 200, "prepare-upload answered {}: {}", r.status, String::from_utf8_lossy(&r.body));
    let v: serde_json::Value = serde_json::from_slice(&r.body).map_err(|e| e.to_string())?;
    Ok((v["sessionId"].as_str().unwrap_or("").to_string(), v["files"].clone()))
}

fn tok(v: &serde_json::Value, id: &str) -> String {
    v[id].as_str().unwrap_or("").to_string()
}

fn emptydirs_body(dirs: Vec<String>) -> serde_json::Value {
    let mut v = prepare_body("HOSTILE", &[("carrier.txt", b"c")]);
    v["ferry"] = json!({ "emptyDirs": dirs });
    v
}

/// Sends a request head announcing `declared` bytes and then only `sent` of them, keeping the
/// connection open; returns the open connection.
async fn stall_upload(t: &Target, source: &str, path: &str, declared: usize, sent: &[u8]) -> Result<Box<dyn ferry_tests::Io>, String> {
    let mut s = connect(&t.raw(source)).await?;
    let head = format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {declared}\r\n\r\n");
    s.write_all(head.as_bytes()).await.map_err(|e| e.to_string())?;
    s.write_all(sent).await.map_err(|e| e.to_string())?;
    s.flush().await.map_err(|e| e.to_string())?;
    Ok(s)
}

/// A second sender (its own address) gets a session within `limit`.
async fn other_sender_gets_in(t: &Target, source: &str, limit: Duration) -> Outcome {
    let start = Instant::now();
    loop {
        let r = post_json(&t.raw(source), PREPARE, &prepare_body("OTHER", &[("other.txt", b"o")])).await?;
        if r.status == 200 {
            t.handle.cancel_session();
            return Ok(());
        }
        check!(r.status == 409, "second sender answered {}", r.status);
        check!(start.elapsed() < limit, "second sender still refused (409) after {:?}", start.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Connections from one address that finish the TLS handshake (or just TCP) and then idle.
async fn flood(t: &Target, source: &str, n: usize, tls: bool) -> Vec<Box<dyn ferry_tests::Io>> {
    let mut raw = t.raw(source);
    if !tls {
        raw.tls = None;
    }
    let mut held = Vec::new();
    for _ in 0..n {
        if let Ok(c) = connect_within(&raw, Duration::from_millis(500)).await {
            held.push(c);
        }
    }
    held
}

/// True when the server closes `s` within `limit` (reads end or fail).
async fn closed_within(s: &mut Box<dyn ferry_tests::Io>, limit: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 1024];
    let fut = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(limit, fut).await.is_ok()
}

/// The ferry binary as a receiver (`receive --yes --bind 127.0.0.1`), in its own temporary
/// tree, its output collected.
struct CliReceiver {
    child: std::process::Child,
    port: u16,
    root: tempfile::TempDir,
    dest: std::path::PathBuf,
    out: Arc<std::sync::Mutex<Vec<u8>>>,
}

impl CliReceiver {
    fn start(extra: &[&str]) -> Result<CliReceiver, String> {
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join(DEST_REL);
        std::fs::create_dir_all(&dest).unwrap();
        std::fs::create_dir_all(root.path().join("outside")).unwrap();
        let (child, port, out) = tokio::task::block_in_place(|| Self::launch(root.path(), &dest, extra))?;
        let dest = dest.canonicalize().unwrap();
        Ok(CliReceiver { child, port, root, dest, out })
    }

    /// Starts `ferry receive` again on the same folders (after the last one was killed).
    fn restart(&mut self) -> Result<(), String> {
        let (child, port, out) = tokio::task::block_in_place(|| Self::launch(self.root.path(), &self.dest, &[]))?;
        let _ = self.child.kill();
        let _ = self.child.wait();
        (self.child, self.port, self.out) = (child, port, out);
        Ok(())
    }

    #[allow(clippy::type_complexity)]
    fn launch(
        root: &std::path::Path,
        dest: &std::path::Path,
        extra: &[&str],
    ) -> Result<(std::process::Child, u16, Arc<std::sync::Mutex<Vec<u8>>>), String> {
        use std::io::Read;
        let bin = ferry_bin().ok_or("the ferry binary is not built (cargo build -p ferry-cli, or set FERRY_BIN)")?;
        let mut child = std::process::Command::new(bin)
            .arg("--config-dir")
            .arg(root.join("config"))
            .args(["receive", "--yes", "--bind", "127.0.0.1", "--port", "0", "--alias", "CliTarget", "--dir"])
            .arg(dest)
            .args(extra)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        let out = Arc::new(std::sync::Mutex::new(Vec::new()));
        for mut pipe in [Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>, Box::new(child.stderr.take().unwrap())] {
            let out = out.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    out.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            });
        }
        let start = Instant::now();
        let port = loop {
            let text = String::from_utf8_lossy(&out.lock().unwrap()).to_string();
            if let Some(line) = text.lines().find(|l| l.contains("addresses")) {
                let p = line.rsplit(':').next().and_then(|s| s.split_whitespace().next()).and_then(|s| s.parse::<u16>().ok());
                if let Some(p) = p {
                    break p;
                }
            }
            if start.elapsed() > Duration::from_secs(15) {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("ferry receive did not start: {text}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Ok((child, port, out))
    }

    fn raw(&self, source: &str) -> ferry_tests::Raw {
        ferry_tests::Raw { addr: format!("127.0.0.1:{}", self.port).parse().unwrap(), tls: Some(None), source: source.parse().unwrap() }
    }

    fn output(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).to_string()
    }

    /// Alive, nothing outside the destination, no partial file, an honest file arrives.
    async fn verify(&mut self) -> Outcome {
        let before = snapshot(self.root.path(), Some(&self.dest));
        let r = exchange(&self.raw(HONEST_IP), "GET", INFO, "", b"").await?;
        check!(r.status == 200, "CLI receiver info answered {}; output:\n{}", r.status, self.output());
        check!(self.child.try_wait().map(|s| s.is_none()).unwrap_or(false), "CLI receiver exited; output:\n{}", self.output());
        let me = Identity::generate().unwrap();
        let raw = ferry_tests::Raw { tls: Some(Some(me.clone())), ..self.raw(HONEST_IP) };
        let deadline = Instant::now() + Duration::from_secs(10);
        let name = format!("honest-{}.txt", ferry_core::random_id());
        loop {
            let (st, ups) = send_files(&raw, &prepare_body(me.fingerprint(), &[(&name, b"honest")]), &[(&name, b"honest")]).await?;
            if st == 409 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            check!(st == 200 && ups == vec![200], "honest transfer to the CLI receiver: {st} {ups:?}");
            break;
        }
        check!(std::fs::read(self.dest.join(&name)).ok().as_deref() == Some(&b"honest"[..]), "honest file not saved by the CLI receiver");
        let dest = self.dest.clone();
        wait_until(Duration::from_secs(10), || part_files(&dest).is_empty())
            .await
            .map_err(|_| format!("partial files: {:?}", part_files(&self.dest)))?;
        let after = snapshot(self.root.path(), Some(&self.dest));
        let after: std::collections::BTreeMap<_, _> = after.into_iter().filter(|(k, _)| !k.starts_with("config")).collect();
        let before: std::collections::BTreeMap<_, _> = before.into_iter().filter(|(k, _)| !k.starts_with("config")).collect();
        check!(after == before, "outside the CLI receiver's destination: {after:?}");
        Ok(())
    }
}

impl Drop for CliReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a terminal acts on: ESC, BEL, C1 controls (as UTF-8), and bidirectional overrides.
fn terminal_controls(out: &str) -> Vec<String> {
    out.char_indices()
        .filter(|(_, c)| (c.is_control() && *c != '\n' && *c != '\t' && *c != '\r') || ferry_tests::fuzz_checks::is_format_char(*c))
        .map(|(i, c)| format!("{c:?} at {i}: {:?}", &out[out.floor_char_boundary_compat(i.saturating_sub(20))..i]))
        .collect()
}

trait FloorBoundary {
    fn floor_char_boundary_compat(&self, i: usize) -> usize;
}
impl FloorBoundary for str {
    fn floor_char_boundary_compat(&self, mut i: usize) -> usize {
        while !self.is_char_boundary(i) {
            i -= 1;
        }
        i
    }
}

const OSC_TITLE: &str = "\u{1b}]0;pwned\u{7}";
const CLEAR: &str = "\u{1b}[2J\u{1b}[H";
const OSC52: &str = "\u{1b}]52;c;ZWNobyBwd25lZA==\u{7}";
const FAKE: &str = "\nIncoming transfer from \"Mum's phone\" (verified, trusted)\nFAKE-BLOCK";

fn all_attacks() -> Vec<Attack> {
    attacks! {
    // ---- path names ----------------------------------------------------------------------
    traversal_dotdot_slash ["path names"] plain => |t| {
        names(&t, &["../escape.txt".into(), "../../outside/escape.txt".into()]).await?;
        Ok(())
    }
    traversal_dotdot_backslash ["path names"] plain => |t| {
        names(&t, &["..\\escape.txt".into(), "..\\..\\..\\outside\\escape.txt".into()]).await?;
        Ok(())
    }
    traversal_inside_then_up ["path names"] plain => |t| {
        names(&t, &["a/../../escape.txt".into(), "a/b/../../../../outside/x".into()]).await?;
        Ok(())
    }
    traversal_absolute_path ["path names"] plain => |t| {
        let abs = t.root.path().canonicalize().unwrap().join("outside/abs.txt").display().to_string();
        let (st, _) = names(&t, &[abs]).await?;
        check!(st == 400, "absolute path answered {st}");
        Ok(())
    }
    traversal_drive_letters ["path names"] plain => |t| {
        names(&t, &["C:\\escape.txt".into(), "c:escape.txt".into(), "\\\\server\\share\\x".into()]).await?;
        Ok(())
    }
    traversal_percent_encoded ["path names"] plain => |t| {
        names(&t, &["%2e%2e%2fescape.txt".into(), "..%2f..%2foutside%2fx".into(), "%2e%2e/escape2.txt".into()]).await?;
        check!(!t.inside().iter().any(|p| p == "escape.txt"), "a percent-encoded name was decoded into a path");
        Ok(())
    }
    traversal_nul_byte ["path names"] plain => |t| {
        let (st, _) = names(&t, &["safe.txt\u{0}/../../escape.txt".into()]).await?;
        check!(st == 400, "a NUL in a name answered {st}");
        Ok(())
    }
    traversal_by_shortening_one_level ["path names"] plain => |t| {
        names(&t, &[format!("{}/escape.txt", shortening())]).await?;
        saved_names_clean(&t)
    }
    traversal_by_shortening_to_outside ["path names"] plain => |t| {
        let s = shortening();
        names(&t, &[format!("{s}/{s}/{s}/outside/pwned.txt")]).await?;
        saved_names_clean(&t)
    }
    shortening_to_dot_only ["path names"] plain => |t| {
        names(&t, &[format!("....{}", "x".repeat(LONG)), format!("..{}", ".".repeat(LONG)), format!(". .{}", "y".repeat(LONG))]).await?;
        saved_names_clean(&t)
    }
    dot_only_long_names ["path names"] plain => |t| {
        names(&t, &[".".repeat(LONG), format!("{}/x.txt", ".".repeat(LONG)), ". . .".into(), ".. ".into()]).await?;
        saved_names_clean(&t)
    }
    traversal_with_format_chars ["path names"] plain => |t| {
        names(&t, &[".\u{200b}./escape.txt".into(), "..\u{202e}/escape2.txt".into(), "\u{feff}../escape3.txt".into()]).await?;
        saved_names_clean(&t)
    }
    long_extension_numbered_twice ["path names"] plain => |t| {
        let name = format!("a.{}", "e".repeat(253));
        let (st, ups) = names(&t, std::slice::from_ref(&name)).await?;
        check!(st == 200 && ups == vec![200], "first long-extension file: {st} {ups:?}");
        let (st, ups) = names(&t, &[name]).await?;
        check!(st == 200 && ups == vec![200], "second long-extension file (numbered): {st} {ups:?}");
        check!(t.inside().len() == 2, "both files saved: {:?}", t.inside());
        saved_names_clean(&t)
    }
    numbering_past_255_bytes ["path names"] plain => |t| {
        let name = "n".repeat(255);
        std::fs::write(t.dest.join(&name), b"existing").unwrap();
        let (st, ups) = names(&t, &[name.clone(), name.clone(), name.clone()]).await?;
        check!(st == 200 && ups == vec![200, 200, 200], "numbered 255-byte names: {st} {ups:?}");
        check!(std::fs::read(t.dest.join(&name)).unwrap() == b"existing", "existing file replaced");
        saved_names_clean(&t)
    }
    multibyte_name_shortened_on_char_boundary ["path names"] plain => |t| {
        let (st, ups) = names(&t, &[format!("{}.txt", "é".repeat(200)), "😀".repeat(100)]).await?;
        check!(st == 200 && ups == vec![200, 200], "{st} {ups:?}");
        saved_names_clean(&t)
    }
    reserved_device_names ["path names"] plain => |t| {
        let list = ["CON", "nul", "Aux.txt", "COM1", "lpt9.log", "PRN.tar.gz", "con/inner.txt"];
        names(&t, &list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).await?;
        for p in t.inside() {
            for c in p.split('/') {
                let stem = c.split('.').next().unwrap().to_ascii_uppercase();
                check!(!["CON", "NUL", "AUX", "PRN", "COM1", "LPT9"].contains(&stem.as_str()), "reserved name saved as {p:?}");
            }
        }
        Ok(())
    }
    rlo_override_in_name ["path names"] plain => |t| {
        names(&t, &["invoice\u{202e}fdp.exe".into(), "a\u{2066}b\u{2069}/c\u{200f}.txt".into()]).await?;
        check!(t.inside().iter().any(|p| p.starts_with("invoice")), "the file was not saved: {:?}", t.inside());
        saved_names_clean(&t)
    }
    control_chars_in_name ["path names"] plain => |t| {
        names(&t, &[format!("x{CLEAR}y.txt"), "line\nbreak.txt".into(), "tab\there\u{7f}.txt".into(), "c1\u{9b}31m.txt".into()]).await?;
        saved_names_clean(&t)
    }
    windows_forbidden_chars ["path names"] plain => |t| {
        names(&t, &["a<b>c:d\"e|f?g*h.txt".into(), "trailing. . .".into(), " lead and trail ".into()]).await?;
        saved_names_clean(&t)
    }
    too_deep_and_too_long_paths ["path names"] plain => |t| {
        let deep = format!("{}x.txt", "d/".repeat(70));
        let long = format!("{}/x", "p".repeat(5000));
        let (a, _) = names(&t, &[deep]).await?;
        let (b, _) = names(&t, &[long]).await?;
        check!(a == 400 && b == 400, "deep {a}, long {b}");
        Ok(())
    }
    planted_symlink_to_outside_folder ["path names"] plain => |t| {
        let outside = t.root.path().join("outside");
        std::os::unix::fs::symlink(&outside, t.dest.join("link")).unwrap();
        names(&t, &["link/evil.txt".into(), "link/sub/evil.txt".into()]).await?;
        Ok(())
    }
    planted_symlink_to_outside_file ["path names"] plain => |t| {
        std::os::unix::fs::symlink(t.root.path().join("outside/keep.txt"), t.dest.join("keep.txt")).unwrap();
        let (st, ups) = names(&t, &["keep.txt".into()]).await?;
        check!(st == 200 && ups == vec![200], "{st} {ups:?}");
        check!(t.inside().iter().any(|p| p == "keep (2).txt"), "not saved under a numbered name: {:?}", t.inside());
        Ok(())
    }
    planted_relative_symlink_up ["path names"] plain => |t| {
        std::fs::create_dir(t.dest.join("sub")).unwrap();
        std::os::unix::fs::symlink("../../..", t.dest.join("sub/up")).unwrap();
        names(&t, &["sub/up/outside/evil.txt".into(), "sub/up".into()]).await?;
        Ok(())
    }
    planted_hard_link ["path names"] plain => |t| {
        std::fs::hard_link(t.root.path().join("outside/keep.txt"), t.dest.join("hard.txt")).unwrap();
        let (st, ups) = names(&t, &["hard.txt".into()]).await?;
        check!(st == 200 && ups == vec![200], "{st} {ups:?}");
        check!(std::fs::read(t.root.path().join("outside/keep.txt")).unwrap() == b"keep", "wrote through a hard link");
        Ok(())
    }
    folder_name_collides_with_file ["path names"] plain => |t| {
        std::fs::write(t.dest.join("taken"), b"a file").unwrap();
        names(&t, &["taken/inner.txt".into()]).await?;
        check!(std::fs::read(t.dest.join("taken")).unwrap() == b"a file", "the existing file changed");
        Ok(())
    }
    file_name_collides_with_folder ["path names"] plain => |t| {
        std::fs::create_dir(t.dest.join("folder")).unwrap();
        let (st, ups) = names(&t, &["folder".into()]).await?;
        check!(st == 200 && ups == vec![200], "{st} {ups:?}");
        check!(t.dest.join("folder").is_dir() && t.dest.join("folder (2)").is_file(), "{:?}", t.inside());
        Ok(())
    }
    same_name_twice_in_one_request ["path names"] plain => |t| {
        let files: &[(&str, &[u8])] = &[("same.txt", b"one"), ("same.txt", b"two")];
        let (st, ups) = send_files(&t.raw(ATTACKER), &prepare_body("H", files), files).await?;
        check!(st == 200 && ups == vec![200, 200], "{st} {ups:?}");
        let mut got: Vec<Vec<u8>> = ["same.txt", "same (2).txt"].iter().map(|n| std::fs::read(t.dest.join(n)).unwrap_or_default()).collect();
        got.sort();
        check!(got == vec![b"one".to_vec(), b"two".to_vec()], "one file replaced the other: {:?}", t.inside());
        Ok(())
    }
    emptydirs_traversal ["path names"] plain => |t| {
        let st = prepare_status(&t, &emptydirs_body(vec!["../made".into(), "../../../outside/made".into()])).await?;
        check!(st == 400, "traversal in emptyDirs answered {st}");
        Ok(())
    }
    emptydirs_traversal_by_shortening ["path names"] plain => |t| {
        let s = shortening();
        prepare_status(&t, &emptydirs_body(vec![format!("{s}/{s}/{s}/outside/made"), format!("{s}/made")])).await?;
        saved_names_clean(&t)
    }
    emptydirs_through_planted_symlink ["path names"] plain => |t| {
        std::os::unix::fs::symlink(t.root.path().join("outside"), t.dest.join("link")).unwrap();
        prepare_status(&t, &emptydirs_body(vec!["link/made".into(), "link".into()])).await?;
        Ok(())
    }
    // ---- size lies -------------------------------------------------------------------------
    body_longer_than_declared ["size lies"] plain => |t| {
        let (sid, toks) = open(&t, ATTACKER, &[("f.bin", b"0123")]).await?;
        let r = exchange(&t.raw(ATTACKER), "POST", &upload_path(&sid, "f0", &tok(&toks, "f0")), "", b"0123456789").await?;
        check!(r.status != 200, "a longer body was accepted");
        check!(!t.dest.join("f.bin").exists(), "a file was saved from a longer body");
        Ok(())
    }
    body_shorter_than_declared ["size lies"] plain => |t| {
        let (sid, toks) = open(&t, ATTACKER, &[("f.bin", b"0123456789")]).await?;
        let r = exchange(&t.raw(ATTACKER), "POST", &upload_path(&sid, "f0", &tok(&toks, "f0")), "", b"0123").await?;
        check!(r.status == 400, "a shorter body answered {}", r.status);
        check!(!t.dest.join("f.bin").exists(), "a file was saved from a shorter body");
        Ok(())
    }
    content_length_lies_then_close ["size lies"] plain => |t| {
        let (sid, toks) = open(&t, ATTACKER, &[("f.bin", &[7u8; 100_000])]).await?;
        let s = stall_upload(&t, ATTACKER, &upload_path(&sid, "f0", &tok(&toks, "f0")), 100_000, &[7u8; 1000]).await?;
        drop(s);
        let dest = t.dest.clone();
        wait_until(Duration::from_secs(5), || part_files(&dest).is_empty()).await.map_err(|_| "partial file after a dropped body".to_string())?;
        check!(!t.dest.join("f.bin").exists(), "saved from a cut body");
        Ok(())
    }
    declared_huge_size ["size lies"] plain => |t| {
        let mut v = prepare_body("H", &[("huge.bin", b"tiny")]);
        v["files"]["f0"]["size"] = json!(u64::MAX);
        let r = post_json(&t.raw(ATTACKER), PREPARE, &v).await?;
        if r.status == 200 {
            let j: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            let up = exchange(&t.raw(ATTACKER), "POST", &upload_path(j["sessionId"].as_str().unwrap(), "f0", j["files"]["f0"].as_str().unwrap()), "", b"tiny").await?;
            check!(up.status != 200, "a body shorter than a huge size was accepted");
        }
        check!(!t.dest.join("huge.bin").exists(), "saved");
        Ok(())
    }
    total_size_overflows ["size lies"] asking => |t| {
        let mut v = prepare_body("H", &[("a.bin", b"a"), ("b.bin", b"b"), ("c.bin", b"c")]);
        for f in ["f0", "f1", "f2"] {
            v["files"][f]["size"] = json!(u64::MAX / 2 + 7);
        }
        // Sizes whose sum does not fit in 64 bits are a lie: refused before anyone is asked.
        let st = prepare_status(&t, &v).await?;
        check!(st == 400, "overflowing sizes answered {st}");
        check!(t.handler.requests().is_empty(), "the person was asked about an impossible total");
        Ok(())
    }
    size_zero_with_body ["size lies"] plain => |t| {
        let (sid, toks) = open(&t, ATTACKER, &[("zero.bin", b"")]).await?;
        let r = exchange(&t.raw(ATTACKER), "POST", &upload_path(&sid, "f0", &tok(&toks, "f0")), "", b"not empty").await?;
        check!(r.status != 200 || std::fs::read(t.dest.join("zero.bin")).map(|d| d.is_empty()).unwrap_or(true), "a size-0 file was saved with content");
        Ok(())
    }
    negative_and_fractional_sizes ["size lies"] plain => |t| {
        for size in [json!(-1), json!(1.5), json!("12"), json!(1e30)] {
            let mut v = prepare_body("H", &[("s.bin", b"s")]);
            v["files"]["f0"]["size"] = size.clone();
            let st = prepare_status(&t, &v).await?;
            check!(st == 400, "size {size} answered {st}");
        }
        Ok(())
    }
    chunked_body_over_declared_size ["size lies"] plain => |t| {
        let (sid, toks) = open(&t, ATTACKER, &[("c.txt", b"12345")]).await?;
        let head = format!("POST {} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n", upload_path(&sid, "f0", &tok(&toks, "f0")));
        let r = exchange_raw(&t.raw(ATTACKER), head.as_bytes(), b"5\r\n12345\r\n5\r\n67890\r\n0\r\n\r\n").await?;
        check!(r.status != 200, "10 chunked bytes accepted for a 5-byte file");
        Ok(())
    }
    checksum_mismatch_repeated ["size lies"] plain => |t| {
        let (sid, toks) = open(&t, ATTACKER, &[("h.txt", b"right")]).await?;
        let mut last = 0;
        for _ in 0..5 {
            last = exchange(&t.raw(ATTACKER), "POST", &upload_path(&sid, "f0", &tok(&toks, "f0")), "", b"wrong").await?.status;
        }
        check!(last != 200 && !t.dest.join("h.txt").exists(), "a wrong checksum was saved");
        Ok(())
    }
    // ---- JSON shape and size ---------------------------------------------------------------
    json_wrong_types ["json"] plain => |t| {
        for body in [json!({"info": "x", "files": {}}), json!({"info": {"alias": 1}, "files": []}), json!([1, 2]), json!("s"), json!(null)] {
            let st = prepare_status(&t, &body).await?;
            check!(st == 400, "{body} answered {st}");
        }
        Ok(())
    }
    json_missing_fields ["json"] plain => |t| {
        let mut v = prepare_body("H", &[("m.txt", b"m")]);
        v["files"]["f0"].as_object_mut().unwrap().remove("size");
        check!(prepare_status(&t, &v).await? == 400, "a file without size");
        let mut v = prepare_body("H", &[("m.txt", b"m")]);
        v.as_object_mut().unwrap().remove("info");
        check!(prepare_status(&t, &v).await? == 400, "no info");
        Ok(())
    }
    json_deep_nesting ["json"] plain => |t| {
        let deep = format!("{{\"info\":{},\"files\":{{}}}}", "[".repeat(200_000));
        check!(prepare_raw(&t, deep.as_bytes()).await? == 400, "deep nesting");
        let deep_obj = format!("{}1{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
        check!(prepare_raw(&t, deep_obj.as_bytes()).await? == 400, "deep objects");
        Ok(())
    }
    json_huge_strings ["json"] plain => |t| {
        let v = prepare_as(&"A".repeat(8 * 1024 * 1024), &[("big-alias.txt", b"x")]);
        let st = prepare_status(&t, &v).await?;
        check!(st != 500, "huge alias answered 500");
        t.handle.cancel_session();
        let st = prepare_status(&t, &prepare_body("H", &[(&"n".repeat(1024 * 1024), b"x")])).await?;
        check!(st == 400, "a 1 MiB file name answered {st}");
        Ok(())
    }
    json_duplicate_keys ["json"] plain => |t| {
        let body = br#"{"info":{"alias":"A","fingerprint":"F","fingerprint":"G"},"files":{"a":{"id":"a","fileName":"dup.txt","size":1,"fileType":"t"},"a":{"id":"a","fileName":"../dup.txt","size":1,"fileType":"t"}}}"#;
        let st = prepare_raw(&t, body).await?;
        // A repeated field of the request is refused as malformed.
        check!(st == 400, "duplicate keys answered {st}");
        Ok(())
    }
    json_id_mismatch ["json"] plain => |t| {
        let mut v = prepare_body("H", &[("i.txt", b"i")]);
        v["files"]["f0"]["id"] = json!("other");
        let r = post_json(&t.raw(ATTACKER), PREPARE, &v).await?;
        if r.status == 200 {
            let j: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            let files = j["files"].as_object().cloned().unwrap_or_default();
            check!(files.len() == 1, "one token per file: {j}");
        }
        Ok(())
    }
    json_invalid_utf8_and_garbage ["json"] plain => |t| {
        for body in [&b"\xff\xfe{\"info\":"[..], b"{\"info\":{\"alias\":\"\xc3\x28\"}}", b"", b"\0\0\0\0", b"{\"info\":{},\"files\":{\"a\":{\"id\":\"a\",\"fileName\":\"\\ud800\",\"size\":1,\"fileType\":\"t\"}}}"] {
            let st = prepare_raw(&t, body).await?;
            check!(st == 400, "{:?} answered {st}", String::from_utf8_lossy(body));
        }
        Ok(())
    }
    json_100k_files ["json"] plain => |t| {
        let n: usize = std::env::var("HOSTILE_MANY_FILES").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
        let mut body = String::from("{\"info\":{\"alias\":\"Many\",\"fingerprint\":\"F\"},\"files\":{");
        for i in 0..n {
            if i > 0 {
                body.push(',');
            }
            body.push_str(&format!("\"{i}\":{{\"id\":\"{i}\",\"fileName\":\"d{}/f{i}\",\"size\":1,\"fileType\":\"t\"}}", i % 100));
        }
        body.push_str("}}");
        let t0 = Instant::now();
        let head = format!("POST {PREPARE} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
        let st = exchange_raw_within(&t.raw(ATTACKER), head.as_bytes(), body.as_bytes(), Duration::from_secs(35)).await?.status;
        println!("json_100k_files: {n} files answered {st} after {:?}", t0.elapsed());
        // The answer depends on HOSTILE_MANY_FILES and the limits (100,000 such files fit a
        // stranger's share of the file-list budget; the body is parsed as it arrives, within the
        // harness's 3 s body deadline, which a debug build under load may miss: 408), so any
        // refusal or acceptance is fine; time is what is tested.
        check!(st == 200 || st == 400 || st == 408 || st == 413, "{n} files answered {st}");
        t.handle.cancel_session();
        Ok(())
    }
    json_over_the_file_cap ["json"] plain => |t| {
        let mut s = String::from("{\"info\":{\"alias\":\"A\",\"fingerprint\":\"F\"},\"files\":{");
        for i in 0..100_001 {
            if i > 0 {
                s.push(',');
            }
            s.push_str(&format!("\"{i}\":{{\"id\":\"{i}\",\"fileName\":\"{i}\",\"size\":0,\"fileType\":\"t\"}}"));
        }
        s.push_str("}}");
        let st = prepare_raw(&t, s.as_bytes()).await?;
        // The file cap is counted while the list is parsed: 400 at the 100,001st file.
        check!(st == 400, "100,001 files answered {st}");
        check!(t.inside().is_empty(), "files made from a refused request");
        Ok(())
    }
    json_over_cap_body ["json"] plain => |t| {
        let body = vec![b' '; 65 * 1024 * 1024];
        let r = exchange(&t.raw(ATTACKER), "POST", PREPARE, "", &body).await;
        if let Ok(r) = r {
            // Its declared length is over the body cap (64 MiB): refused unread.
            check!(r.status == 413, "a 65 MiB body answered {}", r.status);
        }
        Ok(())
    }
    json_concurrent_big_bodies ["json"] plain => |t| {
        let mut tasks = Vec::new();
        for i in 0..6 {
            let raw = t.raw(&attacker_ip(100 + i));
            tasks.push(tokio::spawn(async move {
                let body = format!("{{\"info\":{{\"alias\":\"{}\",\"fingerprint\":\"F\"}},\"files\":{{}}}}", "a".repeat(20 * 1024 * 1024));
                exchange(&raw, "POST", PREPARE, "", body.as_bytes()).await.map(|r| r.status)
            }));
        }
        for task in tasks {
            if let Ok(Ok(st)) = task.await {
                check!(st != 200 && st != 500, "a 20 MiB body answered {st}");
            }
        }
        Ok(())
    }
    register_oversized_and_garbage ["json"] plain => |t| {
        let r = exchange(&t.raw(ATTACKER), "POST", "/api/localsend/v2/register", "", &vec![b'{'; 1024 * 1024]).await;
        if let Ok(r) = r {
            // Its declared length is over the small-body limit: refused unread.
            check!(r.status == 413, "1 MiB register answered {}", r.status);
        }
        let r = exchange(&t.raw(ATTACKER), "POST", "/api/localsend/v2/register", "", br#"{"alias":"\u001b]0;x\u0007","fingerprint":""}"#).await?;
        check!(r.status != 500, "register answered 500");
        Ok(())
    }
    // ---- tokens, sessions, source addresses ------------------------------------------------
    wrong_token ["tokens"] plain => |t| {
        let (sid, _) = open(&t, ATTACKER, &[("w.txt", b"w")]).await?;
        for token in ["", "x", &"0".repeat(36), "%00", "../../etc"] {
            let r = exchange(&t.raw(ATTACKER), "POST", &upload_path(&sid, "f0", token), "", b"w").await?;
            check!(r.status == 403, "token {token:?} answered {}", r.status);
        }
        check!(!t.dest.join("w.txt").exists(), "saved with a wrong token");
        Ok(())
    }
    token_of_another_file ["tokens"] plain => |t| {
        let (sid, toks) = open(&t, ATTACKER, &[("a.txt", b"a"), ("b.txt", b"b")]).await?;
        let r = exchange(&t.raw(ATTACKER), "POST", &upload_path(&sid, "f0", &tok(&toks, "f1")), "", b"a").await?;
        check!(r.status == 403, "token of f1 for f0 answered {}", r.status);
        Ok(())
    }
    session_id_guessing ["tokens"] plain => |t| {
        let (_sid, toks) = open(&t, ATTACKER, &[("g.txt", b"g")]).await?;
        for _ in 0..50 {
            let r = exchange(&t.raw(ATTACKER), "POST", &upload_path(&ferry_core::random_id(), "f0", &tok(&toks, "f0")), "", b"g").await?;
            check!(r.status == 403, "a guessed session id answered {}", r.status);
        }
        Ok(())
    }
    upload_from_another_address ["tokens"] plain => |t| {
        let (sid, toks) = open(&t, "127.0.0.2", &[("ip.txt", b"ip")]).await?;
        let r = exchange(&t.raw("127.0.0.3"), "POST", &upload_path(&sid, "f0", &tok(&toks, "f0")), "", b"ip").await?;
        check!(r.status == 403, "upload from another address answered {}", r.status);
        check!(!t.dest.join("ip.txt").exists(), "saved from another address");
        Ok(())
    }
    cancel_from_another_address ["tokens"] plain => |t| {
        let (sid, _) = open(&t, "127.0.0.2", &[("c.txt", b"c")]).await?;
        let r = exchange(&t.raw("127.0.0.3"), "POST", &format!("/api/localsend/v2/cancel?sessionId={sid}"), "", b"").await?;
        check!(r.status == 403, "cancel from another address answered {}", r.status);
        check!(t.handle.busy(), "the session was ended by another address");
        Ok(())
    }
    upload_before_accept ["tokens"] asking => |t| {
        let raw = t.raw(ATTACKER);
        let pending = tokio::spawn(async move { post_json(&raw, PREPARE, &prepare_body("H", &[("early.txt", b"e")])).await });
        let h = t.handler.clone();
        wait_until(Duration::from_secs(5), || !h.requests().is_empty()).await.map_err(|_| "no request".to_string())?;
        let sid = t.handler.requests()[0].session_id.clone();
        for token in ["", "x", &ferry_core::random_id()] {
            let r = exchange(&t.raw(ATTACKER), "POST", &upload_path(&sid, "f0", token), "", b"e").await?;
            // From the session's own sender: not accepted yet (409), whatever the token.
            check!(r.status == 409, "upload before the decision answered {}", r.status);
        }
        check!(!t.dest.join("early.txt").exists(), "saved before accepted");
        t.handle.cancel_session();
        let _ = pending.await;
        Ok(())
    }
    token_reused_after_done ["tokens"] plain => |t| {
        let (sid, toks) = open(&t, ATTACKER, &[("once.txt", b"once"), ("two.txt", b"two")]).await?;
        let path = upload_path(&sid, "f0", &tok(&toks, "f0"));
        check!(exchange(&t.raw(ATTACKER), "POST", &path, "", b"once").await?.status == 200, "first upload");
        let r = exchange(&t.raw(ATTACKER), "POST", &path, "", b"ONCE").await?;
        check!(r.status == 409, "second upload answered {}", r.status);
        check!(std::fs::read(t.dest.join("once.txt")).unwrap() == b"once", "overwritten");
        Ok(())
    }
    upload_after_receiver_cancelled ["tokens"] plain => |t| {
        let (sid, toks) = open(&t, ATTACKER, &[("late.txt", b"late")]).await?;
        t.handle.cancel_session();
        let r = exchange(&t.raw(ATTACKER), "POST", &upload_path(&sid, "f0", &tok(&toks, "f0")), "", b"late").await?;
        check!(r.status == 403, "upload after cancel answered {}", r.status);
        Ok(())
    }
    duplicate_query_parameters ["tokens"] plain => |t| {
        let (sid, toks) = open(&t, "127.0.0.2", &[("q.txt", b"q")]).await?;
        let path = format!("/api/localsend/v2/upload?sessionId=nope&sessionId={sid}&fileId=f0&token=bad&token={}", tok(&toks, "f0"));
        let r = exchange(&t.raw("127.0.0.3"), "POST", &path, "", b"q").await?;
        // The first of each parameter counts: no such session (403).
        check!(r.status == 403, "duplicated parameters from another address answered {}", r.status);
        Ok(())
    }
    trusted_fingerprint_claimed_in_body ["tokens"] || TargetConfig { policy: ReceivePolicy::TrustedOnly, ..Default::default() } => |t| {
        let friend = Identity::generate().unwrap();
        t.trust.add(friend.fingerprint(), None).unwrap();
        let st = prepare_status(&t, &prepare_body(friend.fingerprint(), &[("claim.txt", b"c")])).await?;
        check!(st == 403, "a body claiming a trusted fingerprint answered {st}");
        t.trust.remove(friend.fingerprint()).unwrap();
        Ok(())
    }
    // ---- PIN guessing ----------------------------------------------------------------------
    pin_guessing_from_many_addresses ["pin"] pin_http => |t| {
        // 3 wrong PINs from each of 150 addresses, 32 at a time, for at most 6 s.
        let start = Instant::now();
        let evaluated = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut set = tokio::task::JoinSet::new();
        let sem = Arc::new(tokio::sync::Semaphore::new(32));
        for a in 0..150u32 {
            let (raw, ev, sem) = (t.raw(&attacker_ip(1000 + a)), evaluated.clone(), sem.clone());
            set.spawn(async move {
                let _p = sem.acquire_owned().await.unwrap();
                for g in 0..3u32 {
                    if start.elapsed() > Duration::from_secs(6) {
                        return;
                    }
                    let pin = format!("{:04}", (a * 3 + g) % 10_000);
                    if pin == "4711" {
                        continue;
                    }
                    if let Ok(r) = post_json(&raw, &format!("{PREPARE}?pin={pin}"), &prepare_body("G", &[("g", b"g")])).await {
                        if r.status == 401 {
                            ev.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                }
            });
        }
        while set.join_next().await.is_some() {}
        let n = evaluated.load(std::sync::atomic::Ordering::Relaxed);
        // With a global budget (5 free, then doubling locks) a handful are checked; without one all 450.
        check!(n <= 20, "{n} PIN guesses were checked in {:?} from 150 addresses", start.elapsed());
        check!(t.handler.events().iter().any(|e| matches!(e, ReceiveEvent::PinFailed { .. })), "the receiver was not told about wrong PINs");
        Ok(())
    }
    pin_block_survives_a_full_table ["pin"] || TargetConfig { limits: ferry_core::server::ServerLimits { pin_table_max: 64, pin_free_failures: 1000, ..test_limits() }, ..pin_http() } => |t| {
        let blocked = t.raw("127.66.9.9");
        for _ in 0..3 {
            post_json(&blocked, &format!("{PREPARE}?pin=0000"), &prepare_body("B", &[("b", b"b")])).await?;
        }
        for a in 0..100u32 {
            let _ = post_json(&t.raw(&attacker_ip(3000 + a)), &format!("{PREPARE}?pin=1111"), &prepare_body("F", &[("f", b"f")])).await;
        }
        let r = post_json(&blocked, &format!("{PREPARE}?pin=4711"), &prepare_body("B", &[("b", b"b")])).await?;
        check!(r.status == 429, "a blocked address got {} with the right PIN after the table filled", r.status);
        Ok(())
    }
    pin_parameter_tricks ["pin"] pin_http => |t| {
        for q in ["?pin=0000&pin=4711", "?pin=4711%00", "?pin=%204711", "?PIN=4711", "?pin[]=4711"] {
            let r = post_json(&t.raw(&attacker_ip(5000 + q.len() as u32)), &format!("{PREPARE}{q}"), &prepare_body("P", &[("p", b"p")])).await?;
            check!(r.status != 200, "{q} was accepted");
        }
        Ok(())
    }
    // ---- slow and stalled bodies -----------------------------------------------------------
    stalled_upload_frees_the_session ["slow"] plain => |t| {
        let (sid, toks) = open(&t, ATTACKER, &[("s.bin", b"0123456789")]).await?;
        let _held = stall_upload(&t, ATTACKER, &upload_path(&sid, "f0", &tok(&toks, "f0")), 10, b"0").await?;
        other_sender_gets_in(&t, "127.66.0.3", Duration::from_secs(12)).await
    }
    accepted_session_left_idle ["slow"] plain => |t| {
        open(&t, ATTACKER, &[("idle.bin", b"0123456789")]).await?;
        other_sender_gets_in(&t, "127.66.0.3", Duration::from_secs(12)).await
    }
    slow_prepare_bodies_do_not_block_others ["slow"] plain => |t| {
        let mut held = Vec::new();
        for i in 0..4 {
            let mut s = connect(&t.raw(&attacker_ip(200 + i))).await?;
            let head = format!("POST {PREPARE} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{{\"info\":", 30 * 1024 * 1024);
            s.write_all(head.as_bytes()).await.map_err(|e| e.to_string())?;
            s.flush().await.map_err(|e| e.to_string())?;
            held.push(s);
        }
        let r = post_json(&t.raw("127.66.0.3"), PREPARE, &prepare_body("O", &[("o.txt", b"o")])).await?;
        check!(r.status == 200, "an honest prepare-upload beside slow bodies answered {}", r.status);
        t.handle.cancel_session();
        Ok(())
    }
    slowloris_headers ["slow"] plain => |t| {
        let mut held = Vec::new();
        for i in 0..20u32 {
            if let Ok(mut s) = connect(&t.raw(&attacker_ip(300 + i))).await {
                let _ = s.write_all(b"POST /api/localsend/v2/prepare-upload HTTP/1.1\r\nHost: x\r\n").await;
                let _ = s.flush().await;
                held.push(s);
            }
        }
        let r = exchange(&t.raw("127.66.0.3"), "GET", INFO, "", b"").await?;
        check!(r.status == 200, "info beside slowloris answered {}", r.status);
        check!(!held.is_empty(), "no slowloris connection opened");
        // The unfinished heads are closed by the head deadline (2 s in these tests).
        let limit = t.cfg.limits.header_timeout + Duration::from_secs(4);
        let closed = closed_within(&mut held[0], limit).await;
        check!(closed, "an unfinished request head still open after {limit:?}");
        Ok(())
    }
    slow_text_message_body ["slow"] plain => |t| {
        let mut s = connect(&t.raw(ATTACKER)).await?;
        s.write_all(b"POST /api/localsend/v2/register HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n{").await.map_err(|e| e.to_string())?;
        s.flush().await.map_err(|e| e.to_string())?;
        // The body deadline (2 s in these tests) answers or closes it; it is never accepted.
        let limit = t.cfg.limits.small_body_timeout + Duration::from_secs(4);
        match read_response_within(&mut s, limit).await {
            Ok(r) => check!(r.status != 200, "a stalled register body was answered 200"),
            Err(e) => check!(!e.contains("in time"), "a stalled register body still open after {limit:?}"),
        }
        Ok(())
    }
    // ---- connection floods -----------------------------------------------------------------
    idle_tls_connection_flood ["flood"] plain => |t| {
        let held = flood(&t, ATTACKER, 300, true).await;
        let t0 = Instant::now();
        let r = exchange(&t.raw("127.66.0.3"), "GET", INFO, "", b"").await?;
        check!(t0.elapsed() < Duration::from_secs(3), "info beside the flood took {:?}", t0.elapsed());
        check!(r.status == 200, "info with {} idle TLS connections from one address answered {}", held.len(), r.status);
        let (st, ups) = send_files(&t.raw("127.66.0.3"), &prepare_body("O", &[("o.txt", b"o")]), &[("o.txt", b"o")]).await?;
        check!(st == 200 && ups == vec![200], "a transfer beside the flood: {st} {ups:?}");
        Ok(())
    }
    raw_tcp_connection_flood ["flood"] plain => |t| {
        let held = flood(&t, ATTACKER, 300, false).await;
        let t0 = Instant::now();
        let r = exchange(&t.raw("127.66.0.3"), "GET", INFO, "", b"").await?;
        check!(t0.elapsed() < Duration::from_secs(3), "info beside the flood took {:?}", t0.elapsed());
        check!(r.status == 200, "info with {} raw TCP connections from one address answered {}", held.len(), r.status);
        Ok(())
    }
    reconnect_storm ["flood"] plain => |t| {
        let mut tasks = Vec::new();
        for i in 0..8u32 {
            let raw = t.raw(&attacker_ip(400 + i));
            tasks.push(tokio::spawn(async move {
                for _ in 0..40 {
                    let _ = exchange(&raw, "GET", INFO, "", b"").await;
                }
            }));
        }
        let r = exchange(&t.raw("127.66.0.3"), "GET", INFO, "", b"").await?;
        for task in tasks {
            let _ = task.await;
        }
        check!(r.status == 200, "info during a reconnect storm answered {}", r.status);
        Ok(())
    }
    // ---- HTTP and TLS framing -------------------------------------------------------------
    http_smuggling_length_and_chunked ["http"] plain => |t| {
        let (sid, toks) = open(&t, ATTACKER, &[("smug.txt", b"12345")]).await?;
        let head = format!("POST {} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", upload_path(&sid, "f0", &tok(&toks, "f0")));
        let r = exchange_raw(&t.raw(ATTACKER), head.as_bytes(), b"5\r\n12345\r\n0\r\n\r\nPOST /api/localsend/v2/cancel HTTP/1.1\r\nHost: x\r\n\r\n").await;
        if let Ok(r) = r {
            // Transfer-Encoding overrides Content-Length (RFC 9112, 6.3): the chunked body is the
            // body, and the cancel behind it is a second request, not part of the file.
            check!(r.status == 200, "Content-Length with chunked answered {}", r.status);
            check!(std::fs::read(t.dest.join("smug.txt")).ok().as_deref() == Some(&b"12345"[..]), "saved something else than the chunked body");
        }
        Ok(())
    }
    http_header_flood ["http"] plain => |t| {
        let mut head = format!("GET {INFO} HTTP/1.1\r\nHost: x\r\n");
        for i in 0..20_000 {
            head.push_str(&format!("X-H{i}: {}\r\n", "v".repeat(40)));
        }
        head.push_str("\r\n");
        let r = exchange_raw(&t.raw(ATTACKER), head.as_bytes(), b"").await;
        if let Ok(r) = r {
            check!(r.status != 200, "a 1 MB request head was served");
        }
        Ok(())
    }
    http_pipelined_requests ["http"] plain => |t| {
        let one = format!("GET {INFO} HTTP/1.1\r\nHost: x\r\n\r\n");
        let many = one.repeat(2000);
        let r = exchange_raw(&t.raw(ATTACKER), many.as_bytes(), b"").await?;
        check!(r.status == 200, "the first of 2000 pipelined requests answered {}", r.status);
        Ok(())
    }
    http_odd_paths_and_methods ["http"] plain => |t| {
        let raw = t.raw(ATTACKER);
        for (m, p) in [("GET", "/api/localsend/v2/../v2/prepare-upload"), ("GET", "/api/localsend/v2/upload"), ("PUT", PREPARE), ("DELETE", "/api/localsend/v2/cancel"),
                       ("POST", "/api/localsend/v1/send-request"), ("POST", "/api/localsend/v2/prepare-download"), ("GET", "/api/localsend/v2/info/../../../etc/passwd"),
                       ("POST", "http://evil/api/localsend/v2/prepare-upload"), ("GET", "/%2e%2e/%2e%2e/etc/passwd")] {
            let r = exchange(&raw, m, p, "", b"{}").await?;
            check!(r.status != 200 && r.status != 500, "{m} {p} answered {}", r.status);
        }
        check!(!t.handle.busy(), "an odd request opened a session");
        Ok(())
    }
    tls_garbage_instead_of_hello ["http"] plain => |t| {
        let mut raw = t.raw(ATTACKER);
        raw.tls = None;
        for junk in [&b"GET /api/localsend/v2/info HTTP/1.1\r\n\r\n"[..], &[0x16, 0x03, 0x01, 0xff, 0xff][..], &[0u8; 4096][..], &[0x16, 0x03, 0x03, 0x00, 0x05, 1, 0, 0, 1, 0][..]] {
            let mut s = connect(&raw).await?;
            let _ = s.write_all(junk).await;
            let _ = s.flush().await;
            let closed = closed_within(&mut s, Duration::from_secs(12)).await;
            check!(closed, "a connection with {} garbage bytes instead of a TLS hello stayed open", junk.len());
        }
        Ok(())
    }
    // ---- folder bombs ----------------------------------------------------------------------
    emptydirs_million ["folder bomb"] plain => |t| {
        let dirs: Vec<String> = (0..1_000_000).map(|i| format!("b{i}")).collect();
        let st = prepare_status(&t, &emptydirs_body(dirs)).await.unwrap_or(0);
        check!(st != 200, "1,000,000 folders were accepted");
        let n = std::fs::read_dir(&t.dest).map(|r| r.count()).unwrap_or(0);
        check!(n <= 1, "{n} entries made in the destination");
        Ok(())
    }
    emptydirs_with_files_over_the_cap ["folder bomb"] plain => |t| {
        let dirs: Vec<String> = (0..60_000).map(|i| format!("d{i}")).collect();
        let mut v = emptydirs_body(dirs);
        let mut files = serde_json::Map::new();
        for i in 0..50_000 {
            let id = format!("{i}");
            files.insert(id.clone(), json!({"id": id, "fileName": format!("f{i}"), "size": 0, "fileType": "t"}));
        }
        v["files"] = serde_json::Value::Object(files);
        let st = prepare_status(&t, &v).await.unwrap_or(0);
        check!(st != 200, "60,000 folders + 50,000 files were accepted");
        check!(std::fs::read_dir(&t.dest).map(|r| r.count()).unwrap_or(0) == 0, "folders made for a refused request");
        Ok(())
    }
    emptydirs_deep_chains ["folder bomb"] plain => |t| {
        let deep = format!("{}x", "d/".repeat(70));
        let st = prepare_status(&t, &emptydirs_body(vec![deep])).await?;
        check!(st == 400, "a 70-level folder answered {st}");
        Ok(())
    }
    // ---- terminal escapes (the ferry binary as receiver) ----------------------------------
    terminal_escapes_in_alias ["terminal"] plain => |_t| {
        let mut cli = CliReceiver::start(&[])?;
        let alias = format!("Evil{OSC_TITLE}{CLEAR}{FAKE}");
        let files: &[(&str, &[u8])] = &[("a.txt", b"a")];
        send_files(&cli.raw(ATTACKER), &prepare_as(&alias, files), files).await?;
        wait_until(Duration::from_secs(5), || cli.output().contains("Evil")).await.map_err(|_| format!("alias never shown: {}", cli.output()))?;
        let out = cli.output();
        check!(terminal_controls(&out).is_empty(), "terminal controls reach the output: {:?}", terminal_controls(&out));
        check!(!out.lines().any(|l| l.starts_with("FAKE-BLOCK") || l.starts_with("Incoming transfer from \"Mum")), "a newline in the alias forged lines:\n{out}");
        cli.verify().await
    }
    terminal_escapes_in_file_names ["terminal"] plain => |_t| {
        let mut cli = CliReceiver::start(&[])?;
        let n1 = format!("name{OSC_TITLE}.txt");
        let n2 = "invoice\u{202e}fdp.exe".to_string();
        let n3 = format!("dir{CLEAR}/x.txt");
        let files: Vec<(&str, &[u8])> = vec![(n1.as_str(), b"1"), (n2.as_str(), b"2"), (n3.as_str(), b"3")];
        send_files(&cli.raw(ATTACKER), &prepare_as("Names", &files), &files).await?;
        // The receiver prints the session's end after every name it printed.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cli.output().contains("Received 3 file(s)") {
            check!(Instant::now() < deadline, "the CLI receiver never printed the session's end:\n{}", cli.output());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let out = cli.output();
        check!(terminal_controls(&out).is_empty(), "terminal controls reach the output: {:?}", terminal_controls(&out));
        cli.verify().await
    }
    terminal_escapes_in_text_message ["terminal"] plain => |_t| {
        let mut cli = CliReceiver::start(&[])?;
        let text = format!("hello{OSC52}{OSC_TITLE}\u{9b}31mred{FAKE}");
        let body = json!({
            "info": {"alias": format!("Texter{CLEAR}"), "version": "2.1", "deviceType": "mobile", "fingerprint": "F", "port": 53317, "protocol": "https", "download": false},
            "files": {"m": {"id": "m", "fileName": "m.txt", "size": text.len(), "fileType": "text/plain", "preview": text}}
        });
        let r = post_json(&cli.raw(ATTACKER), PREPARE, &body).await?;
        check!(r.status == 204, "text answered {}", r.status);
        wait_until(Duration::from_secs(5), || cli.output().contains("hello")).await.map_err(|_| format!("text never shown: {}", cli.output()))?;
        let out = cli.output();
        check!(terminal_controls(&out).is_empty(), "terminal controls reach the output: {:?}", terminal_controls(&out));
        cli.verify().await
    }
    cli_total_size_overflow ["terminal"] plain => |_t| {
        let mut cli = CliReceiver::start(&[])?;
        let mut v = prepare_as("Overflow", &[("a.bin", b"a"), ("b.bin", b"b")]);
        for f in ["f0", "f1"] {
            v["files"][f]["size"] = json!(u64::MAX - 1);
        }
        let r = post_json(&cli.raw(ATTACKER), PREPARE, &v).await;
        check!(!cli.output().contains("panicked"), "the CLI receiver panicked on sizes whose sum overflows: {}", cli.output());
        if let Ok(r) = r {
            // The sender withdraws (an accepted session that is never used would otherwise hold
            // the receiver until its idle timeout).
            if r.status == 200 {
                let sid = serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["sessionId"].as_str().unwrap_or("").to_string();
                exchange(&cli.raw(ATTACKER), "POST", &format!("/api/localsend/v2/cancel?sessionId={sid}"), "", b"").await?;
            }
        }
        cli.verify().await
    }
    terminal_escapes_in_receiver_alias_on_sender ["terminal"] || TargetConfig { alias: format!("Printer{OSC_TITLE}{CLEAR}\u{202e}{FAKE}"), ..Default::default() } => |t| {
        let bin = ferry_bin().ok_or("the ferry binary is not built (cargo build -p ferry-cli, or set FERRY_BIN)")?;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("doc.txt");
        std::fs::write(&file, b"doc").unwrap();
        let port = t.addr().port();
        let out = tokio::task::spawn_blocking({
            let cfgdir = dir.path().join("c");
            move || std::process::Command::new(bin).arg("--config-dir").arg(cfgdir).args(["send", "--to", &format!("127.0.0.1:{port}")]).arg(&file).output()
        }).await.unwrap().map_err(|e| e.to_string())?;
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        check!(out.status.success(), "ferry send to a receiver with a hostile alias failed: {text}");
        check!(terminal_controls(&text).is_empty(), "terminal controls from the receiver's alias reach the sender's output: {:?}", terminal_controls(&text));
        check!(!text.lines().any(|l| l.starts_with("FAKE-BLOCK")), "a newline in the receiver's alias forged lines:\n{text}");
        Ok(())
    }
    receiver_killed_mid_upload_leaves_no_part ["crash"] plain => |_t| {
        let mut cli = CliReceiver::start(&[])?;
        let data = vec![5u8; 1 << 20];
        let files: &[(&str, &[u8])] = &[("big.bin", &data)];
        let r = post_json(&cli.raw(ATTACKER), PREPARE, &prepare_body("K", files)).await?;
        check!(r.status == 200, "prepare answered {}", r.status);
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        let mut s = connect(&cli.raw(ATTACKER)).await?;
        let head = format!("POST {} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", upload_path(v["sessionId"].as_str().unwrap(), "f0", v["files"]["f0"].as_str().unwrap()), data.len());
        s.write_all(head.as_bytes()).await.map_err(|e| e.to_string())?;
        s.write_all(&data[..300_000]).await.map_err(|e| e.to_string())?;
        s.flush().await.map_err(|e| e.to_string())?;
        let dest = cli.dest.clone();
        wait_until(Duration::from_secs(5), || !part_files(&dest).is_empty()).await.map_err(|_| "no partial file while receiving".to_string())?;
        // SIGKILL: nothing of the receiver runs to clean up.
        cli.child.kill().map_err(|e| e.to_string())?;
        let _ = cli.child.wait();
        drop(s);
        check!(!part_files(&cli.dest).is_empty(), "the partial file vanished with the killed receiver (nothing to test)");
        cli.restart()?;
        let dest = cli.dest.clone();
        wait_until(Duration::from_secs(5), || part_files(&dest).is_empty()).await.map_err(|_| format!("a stale partial file survived a restart: {:?}", part_files(&dest)))?;
        check!(!cli.dest.join("big.bin").exists(), "the cut file was saved");
        cli.verify().await
    }
    // ---- identity: certificate swap, pinning over HTTP ------------------------------------
    certificate_swap_at_the_same_address ["identity"] plain => |_t| {
        let victim = Target::start(TargetConfig::default()).await;
        let addr = victim.addr();
        let pinned = victim.identity.fingerprint().to_string();
        victim.handle.shutdown();
        victim.handle.stopped().await;
        // The impostor takes over the same port with another certificate (bounded: 10 s of tries).
        let deadline = Instant::now() + Duration::from_secs(10);
        let impostor = loop {
            let id = Identity::generate().unwrap();
            let info = ferry_core::protocol::device_info("Target", ferry_core::protocol::DeviceType::Headless, "Linux", id.fingerprint(), addr.port(), ferry_core::protocol::Protocol::Https);
            let dir = tempfile::tempdir().unwrap();
            let opts = ferry_core::server::ServerOptions {
                identity: id, info, bind: addr, https: true,
                receive_dir: ferry_core::storage::ReceiveDir::new(dir.path()).unwrap(),
                pin: None, policy: ReceivePolicy::AcceptAll, trust: Arc::new(ferry_core::trust::TrustStore::in_memory()), verify_checksums: true,
            };
            match ferry_core::server::start(opts, ferry_tests::Scripted::new(Answer::AcceptAll)).await {
                Ok(h) => break (h, dir),
                Err(e) if Instant::now() >= deadline => return Err(format!("the impostor could not take the port: {e}")),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        let me = Identity::generate().unwrap();
        let peer = ferry_core::protocol::PeerAddr { host: "127.0.0.1".into(), port: addr.port(), protocol: ferry_core::protocol::Protocol::Https };
        let err = ferry_core::client::connect(&me, &peer, Some(&pinned)).await.err();
        check!(err.as_ref().map(|e| e.kind) == Some(ferry_core::ErrorKind::FingerprintMismatch), "a pinned connection to a swapped certificate: {err:?}");
        // The CLI, when built: --fingerprint refuses the impostor, exit 4, nothing delivered.
        if let Some(bin) = ferry_bin() {
            let cfgdir = tempfile::tempdir().unwrap();
            let file = cfgdir.path().join("secret.txt");
            std::fs::write(&file, b"secret").unwrap();
            let out = tokio::task::spawn_blocking({
                let file = file.clone();
                let cfgdir = cfgdir.path().to_path_buf();
                move || std::process::Command::new(bin).arg("--config-dir").arg(cfgdir.join("c")).args(["send", "--to", &format!("127.0.0.1:{}", addr.port()), "--fingerprint", &pinned]).arg(&file).output()
            }).await.unwrap().map_err(|e| e.to_string())?;
            check!(out.status.code() == Some(4), "ferry send --fingerprint to a swapped certificate exited {:?}: {}", out.status.code(), String::from_utf8_lossy(&out.stderr));
            check!(std::fs::read_dir(impostor.1.path()).map(|r| r.count()).unwrap_or(0) == 0, "the impostor received a file");
        }
        impostor.0.shutdown();
        Ok(())
    }
    fingerprint_over_plain_http ["identity"] || TargetConfig { https: false, ..Default::default() } => |t| {
        let bin = ferry_bin().ok_or("the ferry binary is not built (cargo build -p ferry-cli, or set FERRY_BIN)")?;
        let cfgdir = tempfile::tempdir().unwrap();
        let file = cfgdir.path().join("secret.txt");
        std::fs::write(&file, b"secret").unwrap();
        let fp = "AB".repeat(32);
        let port = t.addr().port();
        let out = tokio::task::spawn_blocking({
            let cfgdir = cfgdir.path().to_path_buf();
            move || std::process::Command::new(bin).arg("--config-dir").arg(cfgdir.join("c")).args(["send", "--http", "--to", &format!("127.0.0.1:{port}"), "--fingerprint", &fp]).arg(&file).output()
        }).await.unwrap().map_err(|e| e.to_string())?;
        check!(out.status.code() == Some(4), "ferry send --http --fingerprint exited {:?}: {}", out.status.code(), String::from_utf8_lossy(&out.stderr));
        check!(!t.inside().iter().any(|p| p.contains("secret")), "the file went over plain HTTP to an unverifiable receiver");
        Ok(())
    }
    trusted_device_reached_over_http_only ["identity"] || TargetConfig { https: false, ..Default::default() } => |t| {
        // The address a trusted device was saved with now answers plain HTTP and claims the
        // device's fingerprint (its info is all an unverified probe sees). A pinned send must
        // not fall back to HTTP: nothing may arrive.
        let bin = ferry_bin().ok_or("the ferry binary is not built (cargo build -p ferry-cli, or set FERRY_BIN)")?;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret.txt");
        std::fs::write(&file, b"secret").unwrap();
        let (cfgdir, fp, addr) = (dir.path().join("c"), t.identity.fingerprint().to_string(), format!("127.0.0.1:{}", t.addr().port()));
        let out = tokio::task::spawn_blocking(move || {
            let add = std::process::Command::new(&bin).arg("--config-dir").arg(&cfgdir).args(["trust", "add", &fp, "--alias", "Friend", "--address", &addr]).output()?;
            assert!(add.status.success(), "trust add: {}", String::from_utf8_lossy(&add.stderr));
            std::process::Command::new(&bin).arg("--config-dir").arg(&cfgdir)
                .args(["send", "--to", "Friend", "--interface", "lo", "--no-scan", "--discovery-port", "53999", "--find-timeout", "2"]).arg(&file).output()
        }).await.unwrap().map_err(|e| e.to_string())?;
        check!(!out.status.success(), "ferry send to a trusted device found only over HTTP succeeded: {}", String::from_utf8_lossy(&out.stdout));
        check!(!t.inside().iter().any(|p| p.contains("secret")), "the file went over plain HTTP to an unverified device");
        check!(t.handler.requests().is_empty() && t.handler.events().is_empty(), "the HTTP impostor was asked: {:?}", t.handler.events());
        Ok(())
    }
    announcement_with_http_downgrades_nothing ["identity"] plain => |_t| {
        // Two network namespaces joined by a veth pair. In one, a trusted device's fingerprint
        // and alias are announced by multicast with "protocol":"http" (a receiver running
        // --http: nothing over HTTP can prove the fingerprint). In the other, `ferry send --to
        // Friend` must not send over plain HTTP.
        let Some(net) = Netns::new()? else {
            println!("  (announcement_with_http_downgrades_nothing: skipped, needs root and ip netns)");
            return Ok(());
        };
        let bin = ferry_bin().ok_or("the ferry binary is not built (cargo build -p ferry-cli, or set FERRY_BIN)")?;
        let dir = tempfile::tempdir().unwrap();
        let (icfg, scfg, idest) = (dir.path().join("impostor"), dir.path().join("sender"), dir.path().join("received"));
        std::fs::create_dir_all(&idest).unwrap();
        let fp = String::from_utf8_lossy(&std::process::Command::new(&bin).arg("--config-dir").arg(&icfg).arg("identity").output().map_err(|e| e.to_string())?.stdout).trim().to_string();
        let mut impostor = std::process::Command::new("ip")
            .args(["netns", "exec", &net.b, bin.to_str().unwrap(), "--config-dir", icfg.to_str().unwrap(), "receive", "--http", "--yes", "--alias", "Friend", "--bind", &net.ip_b, "--dir", idest.to_str().unwrap()])
            .stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null())
            .spawn().map_err(|e| e.to_string())?;
        let file = dir.path().join("secret.txt");
        std::fs::write(&file, b"secret").unwrap();
        let (a, b, bin2) = (net.a.clone(), net.b.clone(), bin.clone());
        let out = tokio::task::spawn_blocking(move || {
            // Wait until the impostor listens (TCP) and hears announcements (UDP) on 53317 in its namespace.
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                let ss = std::process::Command::new("ip").args(["netns", "exec", &b, "ss", "-Hltun", "sport = :53317"]).output()?;
                let text = String::from_utf8_lossy(&ss.stdout);
                if text.lines().any(|l| l.starts_with("tcp")) && text.lines().any(|l| l.starts_with("udp")) {
                    break;
                }
                assert!(Instant::now() < deadline, "the impostor never listened: {text}");
                std::thread::sleep(Duration::from_millis(20));
            }
            let add = std::process::Command::new(&bin2).arg("--config-dir").arg(&scfg).args(["trust", "add", &fp, "--alias", "Friend"]).output()?;
            assert!(add.status.success(), "trust add: {}", String::from_utf8_lossy(&add.stderr));
            std::process::Command::new("ip").args(["netns", "exec", &a]).arg(&bin2).arg("--config-dir").arg(&scfg)
                .args(["send", "--to", "Friend", "--find-timeout", "4"]).arg(&file).output()
        }).await.unwrap().map_err(|e| e.to_string());
        let _ = impostor.kill();
        let _ = impostor.wait();
        let out = out?;
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        check!(!out.status.success(), "ferry send to a trusted device announced with http succeeded:\n{text}");
        check!(std::fs::read_dir(&idest).map(|r| r.count()).unwrap_or(0) == 0, "the file went over plain HTTP:\n{text}");
        drop(net);
        Ok(())
    }
    }
}

/// Two network namespaces `a` and `b` joined by a veth pair (10.177.N.1 and 10.177.N.2),
/// removed on drop. `None` where they cannot be made (not root, no `ip`).
struct Netns {
    a: String,
    b: String,
    ip_b: String,
}

impl Netns {
    fn new() -> Result<Option<Netns>, String> {
        if unsafe_geteuid() != 0 || !std::path::Path::new("/usr/sbin/ip").exists() && !std::path::Path::new("/sbin/ip").exists() {
            return Ok(None);
        }
        let id = std::process::id() % 200 + 20;
        let (a, b) = (format!("ferryhs{id}a"), format!("ferryhs{id}b"));
        let ip = |args: &[&str]| -> Result<(), String> {
            let o = std::process::Command::new("ip").args(args).output().map_err(|e| e.to_string())?;
            if o.status.success() {
                Ok(())
            } else {
                Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&o.stderr)))
            }
        };
        let _ = ip(&["netns", "del", &a]);
        let _ = ip(&["netns", "del", &b]);
        let net = Netns { a: a.clone(), b: b.clone(), ip_b: format!("10.177.{id}.2") };
        let (va, vb) = (format!("fh{id}a"), format!("fh{id}b"));
        ip(&["netns", "add", &a])?;
        ip(&["netns", "add", &b])?;
        ip(&["link", "add", &va, "netns", &a, "type", "veth", "peer", "name", &vb, "netns", &b])?;
        for (ns, dev, addr) in [(&a, &va, format!("10.177.{id}.1/24")), (&b, &vb, format!("10.177.{id}.2/24"))] {
            ip(&["-n", ns, "addr", "add", &addr, "dev", dev])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            ip(&["-n", ns, "route", "add", "224.0.0.0/4", "dev", dev])?;
        }
        Ok(Some(net))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = std::process::Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

fn unsafe_geteuid() -> u32 {
    // The owner of /proc/self is the effective user.
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(u32::MAX)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_suite() {
    let only: Option<Vec<String>> = std::env::var("HOSTILE_ONLY").ok().map(|s| s.split(',').map(|x| x.trim().to_string()).collect());
    let all = all_attacks();
    let mut names: Vec<&str> = all.iter().map(|a| a.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), all.len(), "attack names are distinct");
    assert!(source_ok("127.66.0.2"), "loopback sources 127.x.y.z are needed");
    let chosen: Vec<Attack> = all.into_iter().filter(|a| only.as_ref().is_none_or(|o| o.iter().any(|n| n == a.name))).collect();
    let started = Instant::now();
    // A few attacks at a time: each has its own receiver, so they do not disturb each other.
    let sem = Arc::new(tokio::sync::Semaphore::new(3));
    let mut set = tokio::task::JoinSet::new();
    for (i, a) in chosen.iter().enumerate() {
        let (name, family, cfg, run) = (a.name, a.family, a.cfg, a.run);
        let sem = sem.clone();
        set.spawn(async move {
            let _p = sem.acquire_owned().await.unwrap();
            let t0 = Instant::now();
            let t = Arc::new(Target::start(cfg()).await);
            let before = t.outside();
            let attack = tokio::spawn(run(t.clone()));
            let result = match tokio::time::timeout(Duration::from_secs(40), attack).await {
                Err(_) => Err("attack did not end within 40 s".to_string()),
                Ok(Err(e)) => Err(format!("attack panicked: {e}")),
                Ok(Ok(r)) => r,
            };
            let result = match result {
                Ok(()) => match tokio::time::timeout(Duration::from_secs(40), t.verify(&before)).await {
                    Ok(r) => r.map_err(|e| format!("after the attack: {e}")),
                    Err(_) => Err("after the attack: checks did not end within 40 s".to_string()),
                },
                Err(e) => {
                    // Still run the end checks, to report them too.
                    let after = tokio::time::timeout(Duration::from_secs(40), t.verify(&before)).await;
                    match after {
                        Ok(Ok(())) => Err(e),
                        Ok(Err(e2)) => Err(format!("{e}; after the attack: {e2}")),
                        Err(_) => Err(format!("{e}; after the attack: checks timed out")),
                    }
                }
            };
            t.handle.shutdown();
            (i, name, family, result, t0.elapsed())
        });
    }
    let mut results = Vec::new();
    while let Some(r) = set.join_next().await {
        results.push(r.expect("runner task"));
    }
    results.sort_by_key(|r| r.0);
    let mut failed = Vec::new();
    for (_, name, family, result, took) in &results {
        match result {
            Ok(()) => println!("  pass  {family:<12} {name} ({:.1} s)", took.as_secs_f64()),
            Err(e) => {
                let e: String = e.chars().take(600).collect();
                println!("  FAIL  {family:<12} {name} ({:.1} s): {e}", took.as_secs_f64());
                failed.push(*name);
            }
        }
    }
    println!("hostile: {} attacks, {} passed ({:.1} s)", results.len(), results.len() - failed.len(), started.elapsed().as_secs_f64());
    assert!(failed.is_empty(), "hostile attacks that succeeded or broke the receiver: {failed:?}");
}

#[test]
fn at_least_sixty_distinct_attacks() {
    let all = all_attacks();
    assert!(all.len() >= 60, "{} attacks", all.len());
    let fams: std::collections::BTreeSet<&str> = all.iter().map(|a| a.family).collect();
    assert!(fams.len() >= 9, "{fams:?}");
}
