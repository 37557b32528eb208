//! Asking one address who is there: `POST v2/register` with our info, falling back to
//! `GET v1/info` for apps of protocol 1. Used to answer announcements, for subnet scans,
//! manual addresses, favorites and liveness checks.

use crate::client::{self, RemoteDevice};
use crate::error::{Error, ErrorKind};
use crate::identity::Identity;
use crate::protocol::PeerAddr;
use crate::protocol::{DeviceInfo, Protocol};
use std::time::Duration;

/// Why a probe failed.
#[derive(Debug)]
pub enum ProbeError {
    /// Nothing listens there (connection refused).
    Refused,
    /// No TCP connection within the time limit, or the network is unreachable.
    Unreachable,
    /// TCP connected, but the TLS or HTTP exchange failed (perhaps the other protocol).
    Exchange(Error),
}

impl ProbeError {
    pub(crate) fn into_error(self, peer: &PeerAddr) -> Error {
        match self {
            ProbeError::Refused => {
                Error::new(ErrorKind::Network, format!("{peer}: connection refused (is Ferry or LocalSend running there?)"))
            }
            ProbeError::Unreachable => Error::new(ErrorKind::Timeout, format!("{peer}: no answer")),
            ProbeError::Exchange(e) => e,
        }
    }
}

/// Probes `peer` with its protocol; the whole exchange is bounded by `timeout`.
/// `expected` pins the certificate (HTTPS). No TCP connection within the time is
/// `Unreachable` (so that callers do not try the other protocol on a host that is not there).
pub async fn probe(
    identity: &Identity,
    ours: &DeviceInfo,
    peer: &PeerAddr,
    expected: Option<&str>,
    timeout: Duration,
) -> Result<RemoteDevice, ProbeError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let tcp = match client::tcp_connect(peer, timeout).await {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return Err(ProbeError::Refused),
        Err(_) => return Err(ProbeError::Unreachable),
    };
    match tokio::time::timeout_at(deadline, exchange(tcp, identity, ours, peer, expected)).await {
        Ok(r) => r,
        Err(_) => Err(ProbeError::Exchange(Error::new(ErrorKind::Timeout, format!("{peer}: no answer in time")))),
    }
}

async fn exchange(
    tcp: tokio::net::TcpStream,
    identity: &Identity,
    ours: &DeviceInfo,
    peer: &PeerAddr,
    expected: Option<&str>,
) -> Result<RemoteDevice, ProbeError> {
    let mut conn = client::connect_over(tcp, identity, peer, expected).await.map_err(ProbeError::Exchange)?;
    let mut ours = ours.clone();
    ours.announce = None;
    ours.announcement = None;
    match conn.register(&ours).await {
        Ok(d) => Ok(d),
        Err(e) if e.kind == ErrorKind::Protocol => {
            // Protocol 1 apps have no v2/register.
            if !conn.is_open() {
                let tcp = client::tcp_connect(peer, Duration::from_secs(5)).await.map_err(|_| ProbeError::Exchange(e))?;
                conn = client::connect_over(tcp, identity, peer, expected).await.map_err(ProbeError::Exchange)?;
            }
            conn.info_v1(&ours.fingerprint).await.map_err(ProbeError::Exchange)
        }
        Err(e) => Err(ProbeError::Exchange(e)),
    }
}

/// Probes `host:port` trying `first` and, when TCP connects but that protocol's exchange
/// fails, the other one (a LocalSend device may run with encryption off). Returns the device
/// and the protocol it answered on. A pinned probe (`expected`) never falls back to plain
/// HTTP, which cannot prove the fingerprint: a failed handshake there is a mismatch.
pub(crate) async fn probe_any(
    identity: &Identity,
    ours: &DeviceInfo,
    peer: &PeerAddr,
    expected: Option<&str>,
    timeout: Duration,
) -> Result<(RemoteDevice, Protocol), ProbeError> {
    match probe(identity, ours, peer, expected, timeout).await {
        Ok(d) => Ok((d, peer.protocol)),
        Err(ProbeError::Exchange(e)) if e.kind != ErrorKind::FingerprintMismatch => {
            let other = match peer.protocol {
                Protocol::Https => Protocol::Http,
                Protocol::Http => Protocol::Https,
            };
            if let (Some(fp), Protocol::Http) = (expected, other) {
                if e.kind == ErrorKind::Tls {
                    return Err(ProbeError::Exchange(Error::new(
                        ErrorKind::FingerprintMismatch,
                        format!(
                            "{peer}: no TLS handshake proving fingerprint {} ({}); a pinned device is reached only over HTTPS",
                            crate::identity::short_fingerprint(fp),
                            e.message
                        ),
                    )));
                }
                return Err(ProbeError::Exchange(e));
            }
            let alt = PeerAddr { protocol: other, ..peer.clone() };
            match probe(identity, ours, &alt, expected, timeout).await {
                Ok(d) => Ok((d, other)),
                // Report the first protocol's failure: it is the one the user expects.
                Err(_) => Err(ProbeError::Exchange(e)),
            }
        }
        Err(e) => Err(e),
    }
}
