//! Pinning and identity, as users and scripts run `ferry`: real processes, real TLS, loopback.
//! A pinned receiver (`--fingerprint`) is never reached over plain HTTP and never through a
//! certificate other than its own; processes starting at once share one identity.

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

use common::{ferry, run, JsonReceiver};

struct Recorder {
    port: u16,
    connections: Arc<AtomicUsize>,
    bytes: Arc<std::sync::Mutex<Vec<u8>>>,
}

impl Recorder {
    fn start() -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (connections, bytes) = (Arc::new(AtomicUsize::new(0)), Arc::new(std::sync::Mutex::new(Vec::new())));
        let (c, b) = (connections.clone(), bytes.clone());
        std::thread::spawn(move || {
            for s in listener.incoming() {
                let Ok(mut s) = s else { continue };
                c.fetch_add(1, Ordering::SeqCst);
                let b = b.clone();
                std::thread::spawn(move || {
                    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = s.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        b.lock().unwrap().extend_from_slice(&buf[..n]);
                    }
                });
            }
        });
        Recorder { port, connections, bytes }
    }
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
}

#[test]
fn a_fingerprint_over_plain_http_is_refused_before_anything_is_sent() {
    let (rc, sc, out, src) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let file = src.path().join("secret.txt");
    std::fs::write(&file, b"secret").unwrap();
    // Whatever listens at the address (here something that takes any connection) gets nothing.
    let any = Recorder::start();
    let at = format!("127.0.0.1:{}", any.port);
    let fp = "AB".repeat(32);
    for args in [vec!["send", file.to_str().unwrap()], vec!["text", "secret"]] {
        let (c, stdout, err) = run(ferry(sc.path()).args(&args).args(["--http", "--to", &at, "--fingerprint", &fp]));
        assert_eq!(c, 4, "{args:?}: {stdout} {err}");
        assert_eq!(err.trim().lines().count(), 1, "one clear line: {err}");
        assert!(err.contains("HTTP") && err.contains("refusing"), "{err}");
    }
    // A real Ferry receiver over HTTP, given its own fingerprint: refused the same way.
    let r = JsonReceiver::try_start(rc.path(), out.path(), 0, &["--yes", "--http"], Stdio::null()).unwrap();
    let (c, _, err) = run(ferry(sc.path()).arg("send").arg(&file).args(["--http", "--to", &r.addr(), "--fingerprint", &r.fingerprint]));
    assert_eq!(c, 4, "{err}");
    let (c, _, err) =
        run(ferry(sc.path()).args(["--json", "text", "secret", "--http", "--to", &r.addr(), "--fingerprint", &r.fingerprint]));
    assert_eq!(c, 4, "{err}");
    assert!(err.contains("refusing"), "{err}");
    assert_eq!(any.connections.load(Ordering::SeqCst), 0, "nothing connected: {:?}", String::from_utf8_lossy(&any.bytes.lock().unwrap()));
    let seen = r.events(Duration::from_millis(300));
    assert!(!seen.iter().any(|e| e.starts_with("session") || e == "text" || e == "request"), "{seen:?}");
    assert!(entries(out.path()).is_empty());
    // Without the fingerprint, HTTP still works (an address is no more than an address).
    let (c, _, err) = run(ferry(sc.path()).arg("send").arg(&file).args(["--http", "--to", &r.addr()]));
    assert_eq!(c, 0, "{err}");
    assert_eq!(std::fs::read(out.path().join("secret.txt")).unwrap(), b"secret");
}

#[test]
fn a_certificate_swapped_at_the_same_address_exits_4_before_any_file_data() {
    let (c1, c2, sc) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (out1, out2, src) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let file = src.path().join("payload.bin");
    std::fs::write(&file, vec![7u8; 100_000]).unwrap();
    // The honest receiver, on a port the impostor takes over afterwards.
    let honest = JsonReceiver::try_start(c1.path(), out1.path(), 0, &["--yes"], Stdio::null()).unwrap();
    let (port, pinned) = (honest.port, honest.fingerprint.clone());
    let to = format!("127.0.0.1:{port}");
    let (c, _, err) = run(ferry(sc.path()).arg("send").arg(&file).args(["--to", &to, "--fingerprint", &pinned]));
    assert_eq!(c, 0, "the pinned send works while the right device is there: {err}");
    drop(honest);
    // Another identity at the same address and port (the port may take a moment to free).
    let deadline = Instant::now() + Duration::from_secs(20);
    let impostor = loop {
        match JsonReceiver::try_start(c2.path(), out2.path(), port, &["--yes"], Stdio::null()) {
            Ok(r) => break r,
            Err(e) => {
                assert!(Instant::now() < deadline, "{e}");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    };
    assert_ne!(impostor.fingerprint, pinned);
    for args in [vec!["send", file.to_str().unwrap()], vec!["text", "secret"]] {
        let (c, _, err) = run(ferry(sc.path()).args(&args).args(["--to", &to, "--fingerprint", &pinned]));
        assert_eq!(c, 4, "{args:?}: {err}");
        assert!(err.contains("fingerprint"), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    let seen = impostor.events(Duration::from_millis(300));
    assert!(!seen.iter().any(|e| e.starts_with("session") || e == "text" || e == "request"), "the impostor saw a request: {seen:?}");
    assert!(entries(out2.path()).is_empty(), "nothing written: {:?}", entries(out2.path()));
}

#[test]
fn identities_made_at_once_agree_and_a_receiver_starts() {
    const ROUNDS: usize = 4;
    const PROCESSES: usize = 24;
    for round in 0..ROUNDS {
        let base = tempfile::tempdir().unwrap();
        let cfg = base.path().join("fresh");
        let children: Vec<Child> = (0..PROCESSES)
            .map(|_| ferry(&cfg).arg("identity").stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap())
            .collect();
        let results: Vec<(i32, String, String)> = children
            .into_iter()
            .map(|c| {
                let o = c.wait_with_output().unwrap();
                (
                    o.status.code().unwrap_or(-1),
                    String::from_utf8_lossy(&o.stdout).trim().to_string(),
                    String::from_utf8_lossy(&o.stderr).into(),
                )
            })
            .collect();
        for (c, _, err) in &results {
            assert_eq!(*c, 0, "round {round}: {err}");
        }
        let first = &results[0].1;
        assert_eq!(first.len(), 64, "{first}");
        assert!(results.iter().all(|(_, fp, _)| fp == first), "round {round}: {:?}", results.iter().map(|r| &r.1).collect::<Vec<_>>());
        let out = tempfile::tempdir().unwrap();
        let r = JsonReceiver::try_start(&cfg, out.path(), 0, &["--yes"], Stdio::null()).unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_eq!(&r.fingerprint, first);
    }
}

#[test]
fn a_key_that_does_not_match_the_certificate_is_reported_with_the_way_out() {
    let (a, b, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    assert_eq!(run(ferry(a.path()).arg("identity")).0, 0);
    assert_eq!(run(ferry(b.path()).arg("identity")).0, 0);
    std::fs::copy(b.path().join("key.pem"), a.path().join("key.pem")).unwrap();
    let (c, stdout, err) = run(ferry(a.path()).arg("identity"));
    assert_ne!(c, 0, "{stdout}");
    assert!(stdout.trim().is_empty(), "no fingerprint for a broken identity: {stdout}");
    assert!(err.contains("do not belong together") && err.contains("ferry identity --reset"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let e = JsonReceiver::try_start(a.path(), out.path(), 0, &["--yes"], Stdio::null()).err().expect("the receiver must not start");
    assert!(e.contains("ferry identity --reset"), "{e}");
    let (c, stdout, err) = run(ferry(a.path()).args(["identity", "--reset"]));
    assert_eq!(c, 0, "{err}");
    let fp = stdout.lines().last().unwrap().trim().to_string();
    let r = JsonReceiver::try_start(a.path(), out.path(), 0, &["--yes"], Stdio::null()).unwrap();
    assert_eq!(r.fingerprint, fp);
}
