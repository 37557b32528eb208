//! Pairing by code between real nodes on loopback: the code's device is trusted only after it
//! proved the code's fingerprint over HTTPS.

use ferry_core::identity::Identity;
use ferry_core::node::{Node, NodeConfig, NodeListener};
use ferry_core::pairing::PairingCode;
use ferry_core::protocol::Protocol;
use ferry_core::trust::TrustStore;
use ferry_core::ErrorKind;
use std::net::IpAddr;
use std::sync::Arc;

struct Quiet;
impl NodeListener for Quiet {}

const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

async fn start(alias: &str, https: bool, dir: &tempfile::TempDir) -> Node {
    let mut cfg = NodeConfig::new(Identity::generate().unwrap(), Arc::new(TrustStore::in_memory()), alias, dir.path());
    (cfg.port, cfg.bind, cfg.https, cfg.discovery) = (0, Some(LOOPBACK), https, false);
    Node::start(cfg, Arc::new(Quiet)).await.unwrap()
}

#[tokio::test]
async fn pairing_trusts_the_device_that_proves_the_code() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (start("Anna", true, &da).await, start("Ben", true, &db).await);
    let code = b.pairing_code().unwrap();
    assert_eq!((code.addresses.as_slice(), code.port, code.protocol), ([LOOPBACK].as_slice(), b.port(), Protocol::Https));
    // The text form is what travels (QR code, paste).
    let code = PairingCode::parse(&code.to_string()).unwrap();
    // A first address where nothing listens (Ben is bound to 127.0.0.1 only) is skipped.
    let mut code = code;
    code.addresses.insert(0, "127.0.0.2".parse().unwrap());
    let dev = a.pair(&code).await.unwrap();
    assert_eq!((dev.fingerprint.as_str(), dev.alias.as_str(), dev.verified), (b.fingerprint(), "Ben", true));
    let trusted = a.trusted_devices();
    assert_eq!(trusted.len(), 1);
    assert_eq!(trusted[0].fingerprint, b.fingerprint());
    assert_eq!(trusted[0].alias.as_deref(), Some("Ben"));
    assert_eq!(trusted[0].address.as_deref(), Some(format!("127.0.0.1:{}", b.port()).as_str()));
    // Its own code is not something to pair with.
    assert_eq!(a.pair(&a.pairing_code().unwrap()).await.unwrap_err().kind, ErrorKind::InvalidInput);
    a.stop();
    b.stop();
}

#[tokio::test]
async fn pairing_with_a_wrong_fingerprint_trusts_nothing() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (start("Anna", true, &da).await, start("Ben", true, &db).await);
    let other = Identity::generate().unwrap();
    let mut code = b.pairing_code().unwrap();
    code.fingerprint = other.fingerprint().to_string();
    let e = a.pair(&code).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::FingerprintMismatch, "{e}");
    assert!(a.trusted_devices().is_empty());
    assert!(a.device(other.fingerprint()).is_none() && a.device(b.fingerprint()).is_none());
    // Nothing listening: a network error, nothing trusted.
    let port = b.port();
    b.stop();
    let code = PairingCode::for_node(other.fingerprint(), "Gone", port, Protocol::Https, [LOOPBACK]).unwrap();
    let e = a.pair(&code).await.unwrap_err();
    assert!(matches!(e.kind, ErrorKind::Network | ErrorKind::Timeout), "{e}");
    assert!(a.trusted_devices().is_empty());
    a.stop();
}

#[tokio::test]
async fn pairing_probes_https_pinned_even_when_the_code_says_http() {
    let (da, db, dc) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (start("Anna", true, &da).await, start("Ben", true, &db).await);
    // An HTTPS device whose code says http: reached over HTTPS, pinned, and trusted.
    let mut code = b.pairing_code().unwrap();
    code.protocol = Protocol::Http;
    let code = PairingCode::parse(&code.to_string()).unwrap();
    assert_eq!(code.protocol, Protocol::Http);
    let dev = a.pair(&code).await.unwrap();
    assert!(dev.verified && dev.fingerprint == b.fingerprint());
    assert!(a.is_trusted(b.fingerprint()));
    // A device serving plain HTTP only proves nothing: refused, not trusted.
    let plain = start("Plain", false, &dc).await;
    let code = plain.pairing_code().unwrap();
    assert_eq!(code.protocol, Protocol::Http);
    let e = a.pair(&code).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::FingerprintMismatch, "{e}");
    assert!(!a.is_trusted(plain.fingerprint()));
    a.stop();
    b.stop();
    plain.stop();
}
