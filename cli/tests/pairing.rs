//! Pairing codes as users and scripts run `ferry`: `ferry identity --qr` prints the code of a
//! device, `ferry trust add ferry://pair?...` trusts it once it proved the code's fingerprint over
//! HTTPS. Real processes, real TLS, loopback.

use std::process::Stdio;

mod common;

use common::{ferry, run, JsonReceiver};

fn json_lines(out: &str) -> Vec<serde_json::Value> {
    out.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

/// The receiver's own pairing code, as `ferry identity --qr --json` prints it.
fn code_of(config: &std::path::Path, port: u16) -> serde_json::Value {
    let (c, out, err) = run(ferry(config).args(["--json", "identity", "--qr", "--bind", "127.0.0.1", "--port", &port.to_string()]));
    assert_eq!(c, 0, "{err}");
    let events = json_lines(&out);
    assert_eq!(events.len(), 1, "{out}");
    assert_eq!(events[0]["event"], "pairingCode", "{out}");
    events[0].clone()
}

fn trusted(config: &std::path::Path) -> Vec<serde_json::Value> {
    let (c, out, err) = run(ferry(config).args(["--json", "trust", "list"]));
    assert_eq!(c, 0, "{err}");
    json_lines(&out).into_iter().filter(|e| e["event"] == "trusted").collect()
}

#[test]
fn trust_add_with_a_pairing_code_trusts_the_device_that_proves_it() {
    let (rc, sc, dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let recv = JsonReceiver::start(rc.path(), dir.path(), &["--alias", "Ben\u{1b}[31m"], Stdio::null());
    let ev = code_of(rc.path(), recv.port);
    assert_eq!(ev["fingerprint"], recv.fingerprint.as_str());
    assert_eq!(ev["addresses"], serde_json::json!(["127.0.0.1"]));
    let code = ev["code"].as_str().unwrap();
    assert!(code.starts_with("ferry://pair?v=1&fp="), "{code}");

    // For people: the code, its QR code, and when it works.
    let (c, out, _) = run(ferry(rc.path()).args(["identity", "--qr", "--bind", "127.0.0.1", "--port", &recv.port.to_string()]));
    assert_eq!(c, 0);
    assert!(out.contains(code) && out.contains('▀') && out.contains("ferry receive"), "{out}");

    let (c, out, err) = run(ferry(sc.path()).args(["--json", "trust", "add", code]));
    assert_eq!(c, 0, "{out} {err}");
    let events = json_lines(&out);
    assert_eq!(events[0]["event"], "paired", "{out}");
    assert_eq!(events[0]["fingerprint"], recv.fingerprint.as_str());
    assert_eq!(events[0]["address"], recv.addr().as_str());
    let list = trusted(sc.path());
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["fingerprint"], recv.fingerprint.as_str());
    assert_eq!(list[0]["address"], recv.addr().as_str());

    // For people: the alias it announced, escaped.
    let (c, out, err) = run(ferry(sc.path()).args(["trust", "add", code]));
    assert_eq!(c, 0, "{err}");
    assert!(out.contains("Trusted \"Ben") && !out.contains('\u{1b}'), "{out}");
}

#[test]
fn trust_add_with_a_pairing_code_refuses_what_does_not_prove_it() {
    let (rc, sc, dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let recv = JsonReceiver::start(rc.path(), dir.path(), &[], Stdio::null());
    let code = code_of(rc.path(), recv.port)["code"].as_str().unwrap().to_string();

    // Another fingerprint than the one that answers: exit 4, nothing trusted.
    let other = "AB".repeat(32);
    let wrong = code.replace(&recv.fingerprint, &other);
    assert_ne!(wrong, code);
    let (c, _, err) = run(ferry(sc.path()).args(["trust", "add", &wrong]));
    assert_eq!(c, 4, "{err}");
    assert!(trusted(sc.path()).is_empty());

    // A code saying http: still probed over HTTPS, pinned (this receiver serves HTTPS).
    let http = code.replace("&s=https", "&s=http");
    assert_ne!(http, code);
    let (c, _, err) = run(ferry(sc.path()).args(["trust", "add", &http]));
    assert_eq!(c, 0, "{err}");
    assert_eq!(trusted(sc.path()).len(), 1);

    // Nothing listening: exit 3; malformed codes: exit 2.
    let port = recv.port;
    drop(recv);
    let (c, _, err) = run(ferry(sc.path()).args(["trust", "add", &code]));
    assert_eq!(c, 3, "{err} (port {port})");
    for bad in ["ferry://pair?v=1", &code.replace("ip=127.0.0.1", "ip=localhost"), &format!("{code}&p=1")] {
        let (c, _, err) = run(ferry(sc.path()).args(["trust", "add", bad]));
        assert_eq!(c, 2, "{bad}: {err}");
    }
    assert_eq!(trusted(sc.path()).len(), 1);
}
