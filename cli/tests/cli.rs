//! The `ferry` binary as users and scripts run it: real processes on loopback.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{ferry, run, JsonReceiver, FERRY};

#[test]
fn identity_is_stable_and_reset_changes_it() {
    let cfg = tempfile::tempdir().unwrap();
    let (c, a, _) = run(ferry(cfg.path()).arg("identity"));
    assert_eq!(c, 0);
    let (_, b, _) = run(ferry(cfg.path()).arg("identity"));
    assert_eq!(a, b);
    assert_eq!(a.trim().len(), 64);
    let (c, r, _) = run(ferry(cfg.path()).args(["identity", "--reset"]));
    assert_eq!(c, 0);
    assert!(!r.contains(a.trim()));
    // FERRY_CONFIG_DIR works like --config-dir.
    let (_, d, _) = run(Command::new(FERRY).arg("identity").env("FERRY_CONFIG_DIR", cfg.path()));
    assert_eq!(d.trim(), r.lines().last().unwrap().trim());
}

#[test]
fn trust_add_list_remove() {
    let cfg = tempfile::tempdir().unwrap();
    let fp = "ab".repeat(32);
    assert_eq!(run(ferry(cfg.path()).args(["trust", "add", &fp, "--alias", "Laptop"])).0, 0);
    let (_, list, _) = run(ferry(cfg.path()).args(["trust", "list"]));
    // Listed grouped, as people compare it; that form is taken back.
    let grouped = ["ABAB"; 16].join(" ");
    assert!(list.contains(&grouped) && list.contains("Laptop"), "{list}");
    assert_eq!(run(ferry(cfg.path()).args(["trust", "remove", &grouped])).0, 0);
    let (c, _, err) = run(ferry(cfg.path()).args(["trust", "remove", &fp]));
    assert_eq!(c, 2, "{err}");
    let (c, _, err) = run(ferry(cfg.path()).args(["trust", "add", "not-a-fingerprint"]));
    assert_eq!(c, 2);
    assert_eq!(err.lines().count(), 1, "one-line reason: {err}");
}

#[test]
fn send_and_receive_once_with_json_events() {
    let (rc, sc, out, src) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::write(src.path().join("note.txt"), b"from the cli").unwrap();
    let mut r = JsonReceiver::start(rc.path(), out.path(), &["--yes", "--once"], Stdio::null());
    let (c, stdout, err) = run(ferry(sc.path()).args(["--json", "send"]).arg(src.path().join("note.txt")).args([
        "--to",
        &r.addr(),
        "--fingerprint",
        &r.fingerprint,
    ]));
    assert_eq!(c, 0, "{err}");
    let events: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events.first().unwrap()["event"], "connected");
    assert_eq!(events.first().unwrap()["verified"], true);
    assert_eq!(events.last().unwrap()["event"], "sendDone");
    let started = r.wait_for("sessionStarted");
    assert_eq!(started["sender"]["verified"], true);
    let finished = r.wait_for("sessionFinished");
    assert_eq!(finished["outcome"], "finished");
    assert_eq!(r.wait_exit(), 0, "--once exits after the transfer");
    assert_eq!(std::fs::read(out.path().join("note.txt")).unwrap(), b"from the cli");
}

#[test]
fn text_message_over_http() {
    let (rc, sc, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut r = JsonReceiver::start(rc.path(), out.path(), &["--http", "--once"], Stdio::null());
    let (c, stdout, err) = run(ferry(sc.path()).args(["text", "hello there", "--http", "--to", &r.addr()]));
    assert_eq!(c, 0, "{err}");
    assert!(stdout.contains("Message delivered"), "{stdout}");
    let t = r.wait_for("text");
    assert_eq!(t["text"], "hello there");
    assert_eq!(t["sender"]["verified"], false);
    assert_eq!(r.wait_exit(), 0);
}

#[test]
fn wrong_fingerprint_refuses_before_sending() {
    let (rc, sc, out, src) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::write(src.path().join("secret.txt"), b"secret").unwrap();
    let r = JsonReceiver::start(rc.path(), out.path(), &["--yes"], Stdio::null());
    let wrong = "0".repeat(64);
    let (c, _, err) =
        run(ferry(sc.path()).arg("send").arg(src.path().join("secret.txt")).args(["--to", &r.addr(), "--fingerprint", &wrong]));
    assert_eq!(c, 4, "{err}");
    assert!(err.contains("fingerprint"), "{err}");
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
}

#[test]
fn pin_and_decline_exit_codes() {
    let (rc, sc, out, src) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::write(src.path().join("a.txt"), b"a").unwrap();
    let r = JsonReceiver::start(rc.path(), out.path(), &["--yes", "--pin", "1357"], Stdio::null());
    let file = src.path().join("a.txt");
    let (c, _, err) = run(ferry(sc.path()).arg("send").arg(&file).args(["--to", &r.addr()]));
    assert_eq!(c, 6, "{err}");
    let (c, _, err) = run(ferry(sc.path()).arg("send").arg(&file).args(["--to", &r.addr(), "--pin", "1357"]));
    assert_eq!(c, 0, "{err}");
    drop(r);

    // The receiver's user answers "n" on standard input.
    let r = JsonReceiver::start(rc.path(), out.path(), &[], Stdio::piped());
    let mut r = r;
    r.child.stdin.take().unwrap().write_all(b"n\n").unwrap();
    let (c, _, err) = run(ferry(sc.path()).arg("send").arg(&file).args(["--to", &r.addr()]));
    assert_eq!(c, 5, "{err}");
    r.wait_for("declined");
}

#[test]
fn unreachable_receiver_is_a_one_line_error() {
    let sc = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("a.txt"), b"a").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (c, _, err) = run(ferry(sc.path()).arg("send").arg(src.path().join("a.txt")).args(["--to", &format!("127.0.0.1:{port}")]));
    assert_eq!(c, 3, "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let (c, _, _) = run(ferry(sc.path()).args(["send", "/does/not/exist", "--to", "127.0.0.1:1"]));
    assert_eq!(c, 2);
}

#[test]
fn ctrl_c_on_the_sender_cancels_the_receivers_session() {
    let (rc, sc, out, src) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // Big enough that the transfer is still running when the signal comes.
    let f = std::fs::File::create(src.path().join("big.bin")).unwrap();
    f.set_len(512 << 20).unwrap();
    let r = JsonReceiver::start(rc.path(), out.path(), &["--yes", "--http"], Stdio::null());
    let mut sender = ferry(sc.path())
        .args(["--json", "send"])
        .arg(src.path().join("big.bin"))
        .args(["--http", "--to", &r.addr()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = sender.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    // Wait until bytes are flowing, then interrupt.
    loop {
        let line = lines.next().expect("sender output").unwrap();
        if line.contains("\"fileProgress\"") {
            break;
        }
    }
    // SAFETY: kill(2) on our own child's pid with SIGINT touches no memory of this process.
    unsafe { libc_kill(sender.id() as i32, 2) };
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = sender.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "sender did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130));
    let finished = r.wait_for("sessionFinished");
    assert_eq!(finished["outcome"], "cancelledBySender");
    // The receiver reports the session's end when the cancel arrives; the upload still running
    // then stops and removes its temporary file just after, with no event of its own. So wait
    // (bounded) for the file to go instead of looking at one moment that may come too early.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left: Vec<_> = std::fs::read_dir(out.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "left behind 20 s after the session ended: {left:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}
