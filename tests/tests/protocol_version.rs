//! The protocol version Ferry announces, and the behaviour it stands for: 2.1, because a Ferry
//! receiver takes senders without a client certificate (LocalSend 2.2 requires one); what 2.2
//! adds that a peer relies on (client certificates presented by Ferry senders, 422 on a checksum
//! mismatch) Ferry does too. docs/ARCHITECTURE.md gives the reasoning.

use ferry_core::identity::Identity;
use ferry_core::protocol::PROTOCOL_VERSION;
use ferry_tests::*;

const P: &str = "/api/localsend/v2/prepare-upload";

#[tokio::test]
async fn announces_2_1_and_takes_senders_without_a_certificate() {
    assert_eq!(PROTOCOL_VERSION, "2.1");
    let n = Node::start(NodeConfig::default()).await;
    let me = Identity::generate().unwrap();
    let raw = Raw::https(n.addr(), Some(me.clone()));
    assert_eq!(raw.send("GET", "/api/localsend/v2/info", b"").await.json()["version"], "2.1");
    let body = serde_json::json!({"alias": "Other", "version": "2.2", "fingerprint": me.fingerprint(), "port": 53317, "protocol": "https"});
    assert_eq!(raw.post_json("/api/localsend/v2/register", &body).await.json()["version"], "2.1");
    // 2.1: a sender without a client certificate is taken (unverified), not refused as 2.2 does.
    let anon = Raw::https(n.addr(), None);
    let r = anon.post_json(P, &prepare_body("CLAIMED", &[("a", b"a")])).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let req = n.handler.requests().pop().unwrap();
    assert!(!req.sender.verified);
}
