//! Discovery's unicast parts against real servers on loopback: probes (HTTPS, HTTP fallback,
//! pinning), registers feeding the device list, liveness checks. Multicast and scans are off
//! here (no interface is chosen); they are tested across network namespaces by
//! tests/discovery/discovery.sh.

use ferry_core::client;
use ferry_core::discovery::{self, DeviceRegistry, DiscoveryEvent, DiscoveryOptions, InterfaceFilter, Source};
use ferry_core::identity::Identity;
use ferry_core::node::{Node as CoreNode, NodeConfig as CoreConfig, Role};
use ferry_core::protocol::PeerAddr;
use ferry_core::protocol::{DeviceType, Protocol};
use ferry_core::ErrorKind;
use ferry_tests::*;
use std::sync::Arc;
use std::time::Duration;

/// Discovery that never touches an interface: no multicast, no scan.
fn offline(identity: &Identity, refresh: Option<Duration>) -> (discovery::Discovery, Arc<DeviceRegistry>) {
    let info = ferry_core::protocol::device_info("Looker", DeviceType::Desktop, "Linux", identity.fingerprint(), 1, Protocol::Https);
    let mut o = DiscoveryOptions::new(identity.clone(), info);
    o.interfaces = InterfaceFilter::new(&["no-such-interface".into()], &[]).unwrap();
    o.auto_scan = false;
    o.refresh_interval = refresh;
    let registry = Arc::new(DeviceRegistry::new(identity.fingerprint()));
    let d = discovery::start(o, registry.clone());
    assert!(d.interfaces().is_empty() && d.multicast_interfaces().is_empty());
    (d, registry)
}

fn peer(node: &Node, protocol: Protocol) -> PeerAddr {
    PeerAddr { host: "127.0.0.1".into(), port: node.addr().port(), protocol }
}

#[tokio::test]
async fn probes_verify_https_fall_back_to_http_and_pin() {
    let me = Identity::generate().unwrap();
    let (d, registry) = offline(&me, None);
    let https = Node::start(NodeConfig::default()).await;
    let http = Node::start(NodeConfig { https: false, ..Default::default() }).await;

    let dev = d.probe(&peer(&https, Protocol::Https), None).await.unwrap();
    assert_eq!(dev.fingerprint, https.identity.fingerprint());
    assert!(dev.verified && dev.protocol == Protocol::Https && dev.source == Source::Manual);

    // An HTTP-only device probed as HTTPS: found over HTTP, not verified.
    let dev = d.probe(&peer(&http, Protocol::Https), None).await.unwrap();
    assert_eq!((dev.protocol, dev.verified), (Protocol::Http, false));
    assert_eq!(registry.len(), 2);

    // Pinned to another fingerprint: refused during the handshake, nothing added.
    let other = Identity::generate().unwrap();
    let e = d.probe(&peer(&https, Protocol::Https), Some(other.fingerprint())).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::FingerprintMismatch, "{e}");
    // Pinned, but the device there speaks HTTP and claims another identity: refused too.
    let e = d.probe(&peer(&http, Protocol::Https), Some(other.fingerprint())).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::FingerprintMismatch, "{e}");

    // Nothing listening: a clear error, quickly.
    let port = https.addr().port();
    https.handle.shutdown();
    // `stopped()` resolves at the request to stop; the listener closes just after: wait for that.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
        assert!(std::time::Instant::now() < deadline, "the listener never closed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let t = std::time::Instant::now();
    let e = d.probe(&PeerAddr { host: "127.0.0.1".into(), port, protocol: Protocol::Https }, None).await.unwrap_err();
    assert!(e.message.contains("refused") && t.elapsed() < Duration::from_secs(2), "{e}");
}

#[tokio::test]
async fn registers_feed_the_list_only_when_the_certificate_agrees() {
    let me = Identity::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // A lookup node: its server is there for registers only.
    let mut cfg = CoreConfig::new(me.clone(), Arc::new(ferry_core::trust::TrustStore::in_memory()), "Me", dir.path());
    (cfg.role, cfg.port, cfg.bind, cfg.discovery) = (Role::Lookup, 0, Some("127.0.0.1".parse().unwrap()), false);
    let server = CoreNode::start(cfg, Arc::new(())).await.unwrap();
    let registry = server.registry().clone();
    let mut events = registry.subscribe();
    let target = PeerAddr { host: "127.0.0.1".into(), port: server.port(), protocol: Protocol::Https };

    let honest = Identity::generate().unwrap();
    let info = ferry_core::protocol::device_info("Honest", DeviceType::Mobile, "Phone", honest.fingerprint(), 4242, Protocol::Https);
    let mut c = client::connect(&honest, &target, Some(me.fingerprint())).await.unwrap();
    c.register(&info).await.unwrap();
    match events.recv().await.unwrap() {
        DiscoveryEvent::Found(d) => {
            assert_eq!((d.alias.as_str(), d.port, d.verified, d.source), ("Honest", 4242, true, Source::Register));
            assert_eq!(d.addresses, ["127.0.0.1"]);
        }
        e => panic!("{e:?}"),
    }

    // A body that claims another fingerprint than its certificate is not counted.
    let liar = Identity::generate().unwrap();
    let victim = Identity::generate().unwrap();
    let claim = ferry_core::protocol::device_info("Liar", DeviceType::Mobile, "Phone", victim.fingerprint(), 1, Protocol::Https);
    let mut c = client::connect(&liar, &target, None).await.unwrap();
    c.register(&claim).await.unwrap();
    assert!(registry.get(victim.fingerprint()).is_none() && registry.get(liar.fingerprint()).is_none());
    assert_eq!(registry.len(), 1);

    // A register carrying our own fingerprint is ignored too.
    let me_again = ferry_core::protocol::device_info("Echo", DeviceType::Mobile, "Phone", me.fingerprint(), 1, Protocol::Https);
    let mut c = client::connect(&me, &target, None).await.unwrap();
    c.register(&me_again).await.unwrap();
    assert_eq!(registry.len(), 1);
    server.stop();
}

#[tokio::test]
async fn a_device_that_stops_answering_is_lost() {
    let me = Identity::generate().unwrap();
    let (d, registry) = offline(&me, Some(Duration::from_millis(200)));
    let node = Node::start(NodeConfig::default()).await;
    let mut events = registry.subscribe();
    d.probe(&peer(&node, Protocol::Https), None).await.unwrap();
    assert!(matches!(events.recv().await.unwrap(), DiscoveryEvent::Found(_)));
    // Still answering: still listed after several checks. Letting the checks (every 200 ms) run is
    // the point of this wait; there is no event for "not lost".
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(registry.len(), 1);
    node.handle.shutdown();
    let lost = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let DiscoveryEvent::Lost(d) = events.recv().await.unwrap() {
                return d;
            }
        }
    })
    .await
    .expect("lost within 5 s");
    assert_eq!(lost.fingerprint, node.identity.fingerprint());
    assert!(registry.is_empty());
}
