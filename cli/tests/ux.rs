//! The `ferry` command line as a person meets it: the exit code and the line a person reads, on the
//! real binary over loopback.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{ferry, JsonReceiver, FERRY};

/// Runs `cmd` to its end (bounded: killed after 60 s), with `input` on its standard input.
fn run(mut cmd: Command, input: &str) -> Output {
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    drop(stdin);
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("ferry did not end within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn text_empty_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = ferry(&tmp.path().join("s"));
    cmd.args(["text", "", "--to", "127.0.0.1:9"]);
    let o = run(cmd, "");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("ferry: the message is empty; nothing to send"), "{}", stderr(&o));
    let mut cmd = ferry(&tmp.path().join("s"));
    cmd.args(["text", "-", "--to", "127.0.0.1:9"]);
    let o = run(cmd, "\n");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("the message is empty"), "{}", stderr(&o));
}

/// Item 8: `ferry text -` sends standard input (without echo's line end), and a text is never
/// announced as waiting for an answer.
#[test]
fn text_from_stdin_without_waiting_line() {
    let tmp = tempfile::tempdir().unwrap();
    let r = JsonReceiver::start(&tmp.path().join("r"), &tmp.path().join("in"), &["--yes"], Stdio::null());
    let mut cmd = ferry(&tmp.path().join("s"));
    cmd.args(["text", "-", "--to", &r.addr()]);
    let o = run(cmd, "line one\nline two\n");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("Message delivered."), "{}", stdout(&o));
    assert!(!stdout(&o).contains("Waiting for the receiver"), "{}", stdout(&o));
    assert_eq!(r.wait_for("text")["text"], "line one\nline two");
}

/// Item 7: plain HTTP against an HTTPS receiver says what the receiver speaks.
#[test]
fn http_against_https_says_https() {
    let tmp = tempfile::tempdir().unwrap();
    let r = JsonReceiver::start(&tmp.path().join("r"), &tmp.path().join("in"), &["--yes"], Stdio::null());
    let mut cmd = ferry(&tmp.path().join("s"));
    cmd.args(["text", "hi", "--http", "--to", &r.addr()]);
    let o = run(cmd, "");
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("ferry: the receiver speaks HTTPS, not plain HTTP: leave out --http"), "{}", stderr(&o));
}

/// Item 7, the reverse: HTTPS against a plain HTTP receiver.
#[test]
fn https_against_http_says_http() {
    let tmp = tempfile::tempdir().unwrap();
    let r = JsonReceiver::start(&tmp.path().join("r"), &tmp.path().join("in"), &["--yes", "--http"], Stdio::null());
    let file = tmp.path().join("a.txt");
    std::fs::write(&file, "a").unwrap();
    let mut cmd = ferry(&tmp.path().join("s"));
    cmd.arg("send").arg(&file).args(["--to", &r.addr()]);
    let o = run(cmd, "");
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("ferry: the receiver speaks plain HTTP, not HTTPS: add --http"), "{}", stderr(&o));
}

/// Item 11: a missing file is reported before the receiver is looked for.
#[test]
fn missing_file_before_device_search() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = ferry(&tmp.path().join("s"));
    // A device search on loopback only (without the fix it prints "Looking for" and waits 30 s).
    cmd.env("FERRY_NO_DISCOVERY", "0").arg("send").arg(tmp.path().join("nope.txt"));
    cmd.args(["--to", "Somebody", "--find-timeout", "30", "--interface", "lo", "--no-scan", "--no-ipv6", "--discovery-port", "53987"]);
    let started = Instant::now();
    let o = run(cmd, "");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("nope.txt: No such file"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("Looking for"), "{}", stderr(&o));
    assert!(started.elapsed() < Duration::from_secs(20));
}

/// Item 11: `--dir` naming a file says so.
#[test]
fn receive_dir_is_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("hi.txt");
    std::fs::write(&file, "x").unwrap();
    let mut cmd = ferry(&tmp.path().join("r"));
    cmd.args(["receive", "--no-discovery", "--port", "0", "--bind", "127.0.0.1", "--dir"]).arg(&file);
    let o = run(cmd, "");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("hi.txt: it is a file, not a folder"), "{}", stderr(&o));
}

/// Item 11: a receiver that cannot listen leaves no new folder behind.
#[test]
fn bind_failure_leaves_no_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = tmp.path().join("new-folder");
    let mut cmd = ferry(&tmp.path().join("r"));
    cmd.args(["receive", "--no-discovery", "--port", &port, "--bind", "127.0.0.1", "--dir"]).arg(&dir);
    let o = run(cmd, "");
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("cannot listen on 127.0.0.1"), "{}", stderr(&o));
    assert!(!dir.exists(), "the folder was left behind");
}

/// Item 1: the receiver stopped with Ctrl+C mid-transfer tells the running upload, and the sender
/// ends with exit 8 ("cancelled by the peer") without retrying.
#[test]
fn receiver_ctrl_c_cancels_the_sender() {
    let tmp = tempfile::tempdir().unwrap();
    let r = JsonReceiver::start(&tmp.path().join("r"), &tmp.path().join("in"), &["--yes"], Stdio::null());
    // Several files, large enough to be running when the receiver stops (sparse: nothing is written here).
    let file = tmp.path().join("big");
    std::fs::create_dir(&file).unwrap();
    for i in 0..6 {
        std::fs::File::create(file.join(format!("f{i}.bin"))).unwrap().set_len(4 << 30).unwrap();
    }
    let mut cmd = ferry(&tmp.path().join("s"));
    cmd.arg("send").arg(&file).args(["--to", &r.addr()]);
    let sender = std::thread::spawn(move || run(cmd, ""));
    r.wait_for("fileProgress");
    let status = Command::new("kill").args(["-INT", &r.child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let o = sender.join().unwrap();
    assert_eq!(o.status.code(), Some(8), "{}", stderr(&o));
    assert!(stderr(&o).contains("ferry: the receiver cancelled the transfer"), "{}", stderr(&o));
    // A connection can still break under the answer (then one more try hears "cancelled"), but the
    // transfer is never started over: every file's last word is the receiver's.
    assert!(!stderr(&o).contains("Invalid session id"), "{}", stderr(&o));
}

/// Item 12: `--trusted-only --once` declines a stranger and keeps waiting for the trusted device.
#[test]
fn trusted_only_once_survives_a_stranger() {
    let tmp = tempfile::tempdir().unwrap();
    let (rconf, trusted) = (tmp.path().join("r"), tmp.path().join("trusted"));
    let o = run(
        {
            let mut c = ferry(&trusted);
            c.args(["--json", "identity"]);
            c
        },
        "",
    );
    let fp = serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["fingerprint"].as_str().unwrap().to_string();
    let mut add = ferry(&rconf);
    add.args(["trust", "add", &fp]);
    assert!(run(add, "").status.success());
    let mut r = JsonReceiver::start(&rconf, &tmp.path().join("in"), &["--trusted-only", "--once"], Stdio::null());
    let mut stranger = ferry(&tmp.path().join("stranger"));
    stranger.args(["text", "hello", "--to", &r.addr()]);
    let o = run(stranger, "");
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    r.wait_for("declined");
    assert!(r.child.try_wait().unwrap().is_none(), "the receiver ended after declining a stranger");
    let mut friend = ferry(&trusted);
    friend.args(["text", "hi from a friend", "--to", &r.addr()]);
    let o = run(friend, "");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(r.wait_for("text")["text"], "hi from a friend");
    let deadline = Instant::now() + Duration::from_secs(20);
    while r.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "--once did not end after the trusted text");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Item 6: `make run` stopped with Ctrl+C (SIGINT to the whole foreground group, as a terminal
/// sends it) ends without make's "Error 130".
#[test]
fn make_run_ctrl_c_is_no_error() {
    let tmp = tempfile::tempdir().unwrap();
    let makefile = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Makefile");
    let mut cmd = Command::new("setsid");
    // `-o release`: the binary under test stands in for the release build.
    cmd.current_dir(tmp.path()).arg("make").arg("-f").arg(&makefile).args(["-o", "release", "run"]);
    cmd.arg(format!("FERRY_RELEASE={FERRY}"))
        .arg(format!("ARGS=--config-dir {} --port 0 --bind 127.0.0.1", tmp.path().join("c").display()));
    cmd.env("FERRY_NO_DISCOVERY", "1").env_remove("MAKEFLAGS").env_remove("MFLAGS");
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !line.contains("Press Ctrl+C to stop.") {
        assert!(Instant::now() < deadline, "no banner");
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "make ended early");
    }
    let group = format!("-{}", child.id());
    assert!(Command::new("kill").args(["-INT", "--", &group]).status().unwrap().success());
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!err.contains("Error 130"), "{err}");
    // make itself got the SIGINT too: it ends by it (as after any Ctrl+C), not with an error of its own (2).
    assert_ne!(status.code(), Some(2), "{err}");
}

/// Item 3: a receiver bound to 127.0.0.1 shows that address only.
#[test]
fn bind_shows_only_that_address() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = ferry(&tmp.path().join("r"))
        .args(["receive", "--no-discovery", "--port", "0", "--bind", "127.0.0.1", "--dir"])
        .arg(tmp.path().join("in"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let (mut line, mut addresses) = (String::new(), None);
    while !line.contains("Press Ctrl+C to stop.") {
        line.clear();
        if out.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if line.starts_with("  addresses") {
            addresses = Some(line.clone());
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let addresses = addresses.expect("an addresses line");
    let words: Vec<&str> = addresses.split_whitespace().collect();
    assert_eq!(words.len(), 3, "{addresses}");
    assert!(words[1].starts_with("127.0.0.1:") && words[2] == "(https)", "{addresses}");
}

/// "Expected and missing": `--help` describes every flag and argument of every command.
#[test]
fn help_describes_every_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let commands: [&[&str]; 9] =
        [&[], &["receive"], &["send"], &["text"], &["devices"], &["identity"], &["trust", "add"], &["trust", "list"], &["trust", "remove"]];
    for command in commands {
        let mut cmd = ferry(&tmp.path().join("c"));
        cmd.args(command).arg("--help");
        let o = run(cmd, "");
        assert_eq!(o.status.code(), Some(0));
        for line in stdout(&o).lines().filter(|l| l.starts_with("  ") && matches!(l.trim_start().chars().next(), Some('-' | '<'))) {
            let described = line.trim().split("  ").filter(|p| !p.trim().is_empty()).nth(1).is_some_and(|d| !d.trim().starts_with('['));
            assert!(described, "ferry {}: undescribed: {line}", command.join(" "));
        }
    }
    let mut cmd = ferry(&tmp.path().join("c"));
    cmd.args(["receive", "--help"]);
    let help = stdout(&run(cmd, ""));
    assert!(help.contains("default: ~/Downloads/Ferry"), "{help}");
    assert!(help.contains("Global options:"), "{help}");
}

/// "Expected and missing": the sender ends with one line naming the files, size, time and speed.
#[test]
fn send_summary_has_size_time_and_speed() {
    let tmp = tempfile::tempdir().unwrap();
    let r = JsonReceiver::start(&tmp.path().join("r"), &tmp.path().join("in"), &["--yes"], Stdio::null());
    let file = tmp.path().join("a.bin");
    std::fs::write(&file, vec![7u8; 1_000_000]).unwrap();
    let mut cmd = ferry(&tmp.path().join("s"));
    cmd.arg("send").arg(&file).args(["--to", &r.addr()]);
    let o = run(cmd, "");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let line = out.lines().find(|l| l.starts_with("Sent ")).unwrap_or_else(|| panic!("no summary: {out}"));
    assert!(line.starts_with("Sent 1 file(s), 1.0 MB in ") && line.ends_with("/s)."), "{line}");
}

/// Item 2 (at start): a receive folder that cannot be written is refused before anything listens.
/// (Tests run as root here, which writes through permission bits: sysfs refuses even root.)
#[test]
fn unwritable_receive_folder_is_refused_at_start() {
    let unwritable = Path::new("/sys/kernel");
    if !unwritable.is_dir() {
        eprintln!("no /sys/kernel: skipped");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = ferry(&tmp.path().join("r"));
    cmd.args(["receive", "--no-discovery", "--port", "0", "--bind", "127.0.0.1", "--dir"]).arg(unwritable);
    let o = run(cmd, "");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("ferry: cannot write into the receive folder /sys/kernel: Permission denied"), "{}", stderr(&o));
}

/// Item 9: on a terminal the PIN is asked without echo, and "Connected to" is not repeated on
/// each try (a text never says it waits for acceptance). `script` gives the sender a terminal.
#[test]
fn pin_prompt_on_a_terminal() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("no script(1): skipped");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let r = JsonReceiver::start(&tmp.path().join("r"), &tmp.path().join("in"), &["--yes", "--pin", "4711"], Stdio::null());
    let line = format!("{FERRY} --config-dir {} text hello --to {}", tmp.path().join("s").display(), r.addr());
    let mut child = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("FERRY_NO_DISCOVERY", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (mut stdin, stdout) = (child.stdin.take().unwrap(), child.stdout.take().unwrap());
    let (tx, lines) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut buf = Vec::new();
        // The prompts end without a line end: read byte by byte and pass on what came so far.
        let mut byte = [0u8; 1];
        while std::io::Read::read(&mut reader, &mut byte).unwrap_or(0) == 1 {
            buf.push(byte[0]);
            let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
        }
    });
    let wait_for = |what: &str| -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let seen = lines.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|_| panic!("no {what:?}"));
            if seen.contains(what) {
                return seen;
            }
            assert!(Instant::now() < deadline, "no {what:?} in {seen}");
        }
    };
    wait_for("The receiver requires a PIN: ");
    stdin.write_all(b"1111\r").unwrap();
    wait_for("Wrong PIN, try again: ");
    stdin.write_all(b"4711\r").unwrap();
    let all = wait_for("Message delivered.");
    drop(stdin);
    let _ = child.wait();
    assert!(!all.contains("1111") && !all.contains("4711"), "the PIN was echoed: {all}");
    assert_eq!(all.matches("Connected to").count(), 1, "{all}");
    assert!(!all.contains("Waiting for the receiver"), "{all}");
}

/// Item 2 (mid-transfer): a receiver whose disk fills up says so once ("Could not save NAME: the
/// disk is full", no "may retry", no false "the sender cancelled"), and the sender hears that the
/// receiver could not write (exit 10), not a protocol failure. The receiver runs in a private
/// mount namespace on a 2 MB tmpfs (`unshare -m`, as root).
#[test]
fn full_disk_is_said_on_both_sides() {
    if !Command::new("unshare").args(["-m", "true"]).status().is_ok_and(|s| s.success()) {
        eprintln!("cannot make a mount namespace (unshare -m): skipped");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("in");
    std::fs::create_dir_all(&dir).unwrap();
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "--propagation", "private", "sh", "-c", "mount -t tmpfs -o size=2m ferry-full \"$0\" && exec \"$@\""])
        .arg(&dir)
        .arg(FERRY)
        .arg("--config-dir")
        .arg(tmp.path().join("r"))
        .env("FERRY_NO_DISCOVERY", "1")
        .args(["receive", "--no-discovery", "--http", "--port", "0", "--bind", "127.0.0.1", "--yes", "--once", "--dir"])
        .arg(&dir);
    let mut r = common::HttpReceiver::spawn(cmd, false);
    let file = tmp.path().join("big.bin");
    std::fs::write(&file, vec![7u8; 5_000_000]).unwrap();
    let mut s = ferry(&tmp.path().join("s"));
    s.arg("send").arg(&file).args(["--http", "--to", &r.addr()]);
    let o = run(s, "");
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(10), "{err}");
    assert!(err.contains("ferry: big.bin: the receiver could not save it: the disk is full"), "{err}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while r.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the --once receiver did not end: {}", r.out.text());
        std::thread::sleep(Duration::from_millis(20));
    }
    r.out.wait_ended();
    r.err.wait_ended();
    let (out, rerr) = (r.out.text(), r.err.text());
    assert_eq!(rerr.matches("Could not save big.bin: the disk is full").count(), 1, "{rerr}");
    let all = format!("{out}{rerr}");
    for wrong in ["may retry", "may send it again", "The sender cancelled", "WARN", "ERROR"] {
        assert!(!all.contains(wrong), "{wrong:?} in {all}");
    }
    assert!(out.contains("Nothing was saved: 1 file(s) could not be saved.") && !out.contains("Received 0"), "{out}");
}

/// Item 8: `ferry text` to a receiver that closes the connection after every answer (HTTP/1.0
/// without keep-alive, as some LocalSend implementations answer): each request goes on a
/// connection that is open, never on the closed one. The receiver is a tiny raw HTTP server here.
#[test]
fn text_to_a_receiver_that_closes_after_each_answer() {
    use std::io::Read;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, paths) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(8) {
            let Ok(mut conn) = conn else { continue };
            conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            // One request: the head, then as many body bytes as it says.
            let mut buf = Vec::new();
            let mut byte = [0u8; 1];
            while !buf.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap_or(0) == 1 {
                buf.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&buf).into_owned();
            let len: usize = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
                .unwrap_or(0);
            let mut body = vec![0u8; len];
            let _ = conn.read_exact(&mut body);
            let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
            let answer = if path.contains("register") || path.contains("info") {
                let info = r#"{"alias":"Closer","version":"2.1","deviceModel":"raw","deviceType":"headless","fingerprint":"c1c1","download":false}"#;
                format!("HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{info}", info.len())
            } else {
                // prepare-upload of a text: shown, nothing to upload.
                "HTTP/1.0 204 No Content\r\n\r\n".to_string()
            };
            let _ = conn.write_all(answer.as_bytes());
            let _ = tx.send(path);
            // Closed a little after the answer (as a busy server would), without reading more.
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = ferry(&tmp.path().join("s"));
    cmd.args(["text", "hello closer", "--http", "--to", &format!("127.0.0.1:{port}")]);
    let o = run(cmd, "");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("Message delivered."), "{}", stdout(&o));
    let seen: Vec<String> = paths.try_iter().collect();
    assert!(seen.iter().any(|p| p.contains("register")) && seen.iter().any(|p| p.contains("prepare-upload")), "{seen:?}");
}

/// Items 4 and 9: sending only an empty folder says so on both sides (not "Nothing was
/// transferred"), and a receiver ends a transfer with one summary line: files, size, time, speed.
#[test]
fn summaries_for_empty_folders_and_files() {
    let tmp = tempfile::tempdir().unwrap();
    let r = common::HttpReceiver::start(&tmp.path().join("r"), &tmp.path().join("in"), false, &["--yes"]);
    std::fs::create_dir_all(tmp.path().join("src/proj")).unwrap();
    let mut cmd = ferry(&tmp.path().join("s"));
    cmd.arg("send").arg(tmp.path().join("src/proj")).args(["--http", "--to", &r.addr()]);
    let o = run(cmd, "");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).lines().any(|l| l == "Sent 1 empty folder."), "{}", stdout(&o));
    r.out.wait_count("Received 1 empty folder.", 1);
    assert!(tmp.path().join("in/proj").is_dir());
    std::fs::write(tmp.path().join("src/a.txt"), vec![1u8; 2_500]).unwrap();
    let mut cmd = ferry(&tmp.path().join("s"));
    cmd.arg("send").arg(tmp.path().join("src/a.txt")).args(["--http", "--to", &r.addr()]);
    assert_eq!(run(cmd, "").status.code(), Some(0));
    r.out.wait_count("Received 1 file(s), 2.5 kB in ", 1);
    let text = r.out.text();
    let line = text.lines().find(|l| l.starts_with("Received 1 file(s)")).unwrap();
    assert!(line.ends_with("/s)."), "{line}");
}

/// Item 5: the request prompt shows the sender's whole fingerprint, grouped, and that is what
/// `ferry trust add` takes back; `ferry devices -v` lists whole fingerprints.
#[test]
fn whole_fingerprint_in_the_prompt_and_devices_verbose() {
    let tmp = tempfile::tempdir().unwrap();
    let mut r = common::HttpReceiver::start(&tmp.path().join("r"), &tmp.path().join("in"), false, &["--alias", "Desk"]);
    let (c, sender_fp, _) = common::run(ferry(&tmp.path().join("s")).arg("identity"));
    assert_eq!(c, 0);
    std::fs::write(tmp.path().join("a.txt"), b"x").unwrap();
    let mut s = ferry(&tmp.path().join("s"));
    s.arg("send").arg(tmp.path().join("a.txt")).args(["--http", "--to", &r.addr()]).stdin(Stdio::null()).stdout(Stdio::null());
    let mut child = s.stderr(Stdio::null()).spawn().unwrap();
    r.out.wait_count("  fingerprint ", 2);
    r.type_line("n");
    let _ = child.wait();
    let text = r.out.text();
    let shown = text.lines().filter(|l| l.starts_with("  fingerprint ")).nth(1).unwrap();
    let grouped = shown.trim_start_matches("  fingerprint ").trim_end_matches(" (claimed, not verified)");
    assert_eq!(grouped.replace(' ', ""), sender_fp.trim(), "{shown}");
    assert_eq!(grouped.split(' ').count(), 16, "{shown}");
    let (c, out, err) = common::run(ferry(&tmp.path().join("r2")).args(["trust", "add", grouped]));
    assert_eq!(c, 0, "{out}{err}");
    // devices -v (a probe of the receiver's address; discovery kept to 127.0.0.1).
    let (c, out, err) = common::run(ferry(&tmp.path().join("s")).env_remove("FERRY_NO_DISCOVERY").args([
        "devices",
        "-v",
        "--http",
        "--no-scan",
        "--interface",
        "127.0.0.1",
        "--timeout",
        "30",
        "--until",
        "Desk",
        "--peer",
        &r.addr(),
    ]));
    assert_eq!(c, 0, "{err}");
    let (_, receiver_fp, _) = common::run(ferry(&tmp.path().join("r")).arg("identity"));
    let row = out.lines().find(|l| l.starts_with("Desk")).unwrap_or_else(|| panic!("{out}"));
    let groups: Vec<String> = receiver_fp.trim().as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
    assert!(row.contains(&groups.join(" ")), "{row}");
}

/// Item 9: for files too, "Waiting for the receiver to accept..." never comes before the PIN
/// prompt (a terminal through script(1)).
#[test]
fn no_waiting_line_before_the_pin_prompt() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("no script(1): skipped");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let r = JsonReceiver::start(&tmp.path().join("r"), &tmp.path().join("in"), &["--yes", "--pin", "4711"], Stdio::null());
    std::fs::write(tmp.path().join("a.txt"), b"x").unwrap();
    let line =
        format!("{FERRY} --config-dir {} send {} --to {}", tmp.path().join("s").display(), tmp.path().join("a.txt").display(), r.addr());
    let mut child = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("FERRY_NO_DISCOVERY", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (mut stdin, out) = (child.stdin.take().unwrap(), common::Captured::follow(child.stdout.take().unwrap()));
    out.wait_count("The receiver requires a PIN: ", 1);
    let before = out.text();
    stdin.write_all(b"4711\r").unwrap();
    out.wait_count("Sent 1 file(s)", 1);
    drop(stdin);
    let _ = child.wait();
    assert!(!before.contains("Waiting for the receiver"), "{before}");
}

/// Item 13: a second copy of a folder arrives as `proj (2)/` (all its files inside), a second copy
/// of a single file as `name (2).ext`.
#[test]
fn a_second_copy_of_a_folder_arrives_beside_the_first() {
    let tmp = tempfile::tempdir().unwrap();
    let r = common::HttpReceiver::start(&tmp.path().join("r"), &tmp.path().join("in"), false, &["--yes"]);
    std::fs::create_dir_all(tmp.path().join("src/proj/sub")).unwrap();
    std::fs::write(tmp.path().join("src/proj/README.txt"), b"r").unwrap();
    std::fs::write(tmp.path().join("src/proj/sub/b.txt"), b"b").unwrap();
    std::fs::write(tmp.path().join("src/note.txt"), b"n").unwrap();
    for n in 1..=2 {
        let mut cmd = ferry(&tmp.path().join("s"));
        cmd.arg("send").arg(tmp.path().join("src/proj")).arg(tmp.path().join("src/note.txt")).args(["--http", "--to", &r.addr()]);
        let o = run(cmd, "");
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        r.out.wait_count("Received 3 file(s)", n);
    }
    let inbox = tmp.path().join("in");
    for p in ["proj/README.txt", "proj/sub/b.txt", "proj (2)/README.txt", "proj (2)/sub/b.txt", "note.txt", "note (2).txt"] {
        assert!(inbox.join(p).is_file(), "no {p}: {}", r.out.text());
    }
    assert!(!inbox.join("proj/README (2).txt").exists(), "merged into the first copy");
    assert!(r.out.text().contains("proj (2)/sub/b.txt"), "{}", r.out.text());
}
