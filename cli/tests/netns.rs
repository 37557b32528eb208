//! The `ferry` binary with discovery on, inside a network namespace each test makes (two veth
//! pairs, no link to the outside): what a receiver bound to one address announces on, and
//! which processes a receiver lists. Needs root (`ip netns`); skipped without it.

mod common;

use common::{Captured, FERRY};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A network namespace `cli15-<name>-<pid>` with `eth0` 10.77.1.1/24 and `eth1` 10.77.2.1/24
/// (each one end of a veth pair whose other end stays in the namespace too); deleted on drop.
struct Netns(String);

impl Netns {
    fn new(name: &str) -> Option<Netns> {
        let ns = format!("cli15-{name}-{}", std::process::id());
        let ok = |args: &[&str]| Command::new("ip").args(args).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
        if !ok(&["netns", "add", &ns]) {
            eprintln!("cannot make a network namespace: skipped");
            return None;
        }
        let n = Netns(ns);
        for (dev, addr) in [("eth0", "10.77.1.1/24"), ("eth1", "10.77.2.1/24")] {
            let peer = format!("{dev}p");
            assert!(ok(&["-n", &n.0, "link", "add", dev, "type", "veth", "peer", "name", &peer]));
            assert!(ok(&["-n", &n.0, "link", "set", &peer, "up"]));
            assert!(ok(&["-n", &n.0, "link", "set", dev, "multicast", "on", "up"]));
            assert!(ok(&["-n", &n.0, "addr", "add", addr, "dev", dev]));
        }
        assert!(ok(&["-n", &n.0, "link", "set", "lo", "up"]));
        Some(n)
    }

    /// `ferry --json --config-dir <config> ARGS` in the namespace, discovery allowed.
    fn ferry(&self, config: &std::path::Path, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0, FERRY, "--json", "--config-dir"]).arg(config).args(args);
        c.env_remove("FERRY_NO_DISCOVERY").env_remove("FERRY_CONFIG_DIR").env_remove("RUST_LOG");
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// A process whose JSON lines are followed; killed on drop.
struct Running(Child, Captured);

impl Running {
    fn start(mut cmd: Command) -> Running {
        let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
        let out = Captured::follow(child.stdout.take().unwrap());
        Running(child, out)
    }
    fn events(&self) -> Vec<serde_json::Value> {
        self.1.text().lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }
    fn wait_event(&self, what: &str, pred: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(e) = self.events().into_iter().find(&pred) {
                return e;
            }
            assert!(Instant::now() < deadline, "no {what} in {}", self.1.text());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The interfaces a receiver's `discovering` event lists, as `name=addr`.
fn discovering(ns: &Netns, config: &std::path::Path, dir: &std::path::Path, extra: &[&str]) -> (Vec<String>, Vec<String>) {
    let mut args = vec!["receive", "--yes", "--no-scan", "--no-ipv6", "--port", "0", "--dir", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    let r = Running::start(ns.ferry(config, &args));
    let ready = r.wait_event("ready", |e| e["event"] == "ready");
    let d = r.wait_event("discovering", |e| e["event"] == "discovering");
    let addrs = ready["addresses"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect();
    let ifaces = d["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| format!("{}={}", i["name"].as_str().unwrap(), i["addr"].as_str().unwrap()))
        .collect();
    (addrs, ifaces)
}

/// `--bind ADDR` limits what is announced (and where) to that address's interface.
#[test]
fn bind_limits_announcements_to_its_interface() {
    let Some(ns) = Netns::new("bind") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (cfg, dir) = (tmp.path().join("cfg"), tmp.path().join("in"));
    let (addrs, ifaces) = discovering(&ns, &cfg, &dir, &[]);
    assert_eq!(ifaces, ["eth0=10.77.1.1", "eth1=10.77.2.1"], "without --bind, both interfaces");
    assert_eq!(addrs, ["10.77.1.1", "10.77.2.1"]);
    let (addrs, ifaces) = discovering(&ns, &cfg, &dir, &["--bind", "10.77.2.1"]);
    assert_eq!(ifaces, ["eth1=10.77.2.1"], "with --bind, only its interface announces");
    assert_eq!(addrs, ["10.77.2.1"]);
}

/// `ferry devices` (a lookup) finds a receiver, and the receiver does not list it: no phantom
/// device for a process that only looks.
#[test]
fn a_receiver_does_not_list_a_lookup() {
    let Some(ns) = Netns::new("look") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let disc = ["--no-scan", "--no-ipv6", "--interface", "eth0"];
    let dir = tmp.path().join("in");
    let mut rargs = vec!["receive", "--yes", "--alias", "Desk", "--port", "0", "--dir", dir.to_str().unwrap()];
    rargs.extend_from_slice(&disc);
    let r = Running::start(ns.ferry(&tmp.path().join("r"), &rargs));
    r.wait_event("discovering", |e| e["event"] == "discovering");
    let mut largs = vec!["devices", "--timeout", "20", "--until", "Desk"];
    largs.extend_from_slice(&disc);
    let o = ns.ferry(&tmp.path().join("l"), &largs).stdin(Stdio::null()).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "the lookup found the receiver: {out}");
    // The receiver heard the lookup's announcements (and its register, had it answered one) in
    // this time; give a late event a moment, then look.
    std::thread::sleep(Duration::from_secs(2));
    let found: Vec<_> = r.events().into_iter().filter(|e| e["event"] == "deviceFound").collect();
    assert!(found.is_empty(), "the receiver listed a lookup: {found:?}");
}

/// A device found while `Accept? [y/N]` waits for an answer is not printed into the question: it
/// is held and printed once the prompt closed.
#[test]
fn found_lines_never_break_into_the_prompt() {
    let Some(ns) = Netns::new("prompt") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let disc = ["--no-scan", "--no-ipv6", "--interface", "eth0"];
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &ns.0, FERRY, "--config-dir"])
        .arg(tmp.path().join("a"))
        .args(["receive", "--http", "--alias", "Alpha", "--port", "0", "--dir"])
        .arg(tmp.path().join("in"))
        .args(disc)
        .env_remove("FERRY_NO_DISCOVERY");
    let mut alpha = common::HttpReceiver::spawn(cmd, false);
    std::fs::write(tmp.path().join("note.txt"), b"hello").unwrap();
    let to = format!("10.77.1.1:{}", alpha.port);
    let sender = Running::start({
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &ns.0, FERRY, "--config-dir"]).arg(tmp.path().join("s")).arg("send").arg(tmp.path().join("note.txt"));
        c.args(["--http", "--no-discovery", "--to", &to]);
        c
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while !alpha.err.text().ends_with("Accept? [y/N] ") {
        assert!(Instant::now() < deadline, "no prompt: {}", alpha.err.text());
        std::thread::sleep(Duration::from_millis(20));
    }
    // Another device appears while the question is open.
    let mut bargs = vec!["receive", "--yes", "--alias", "Bravo", "--port", "0", "--dir"];
    let bdir = tmp.path().join("b.in");
    bargs.push(bdir.to_str().unwrap());
    bargs.extend_from_slice(&disc);
    let bravo = Running::start(ns.ferry(&tmp.path().join("b"), &bargs));
    // Bravo lists Alpha once Alpha answered its announcement, which Alpha had heard (and listed) first.
    bravo.wait_event("Alpha found", |e| e["event"] == "deviceFound" && e["device"]["alias"] == "Alpha");
    std::thread::sleep(Duration::from_secs(1));
    let during = alpha.err.text();
    assert!(during.ends_with("Accept? [y/N] ") && !during.contains("Found"), "a line broke into the prompt: {during:?}");
    alpha.type_line("n");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !alpha.err.text().contains("Found Bravo") {
        assert!(Instant::now() < deadline, "the held line never came: {}", alpha.err.text());
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(sender);
}
