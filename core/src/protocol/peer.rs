//! Where a peer listens: host, port and protocol.

use super::Protocol;
use crate::error::{Error, Result};

/// Where a peer listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerAddr {
    pub host: String,
    pub port: u16,
    pub protocol: Protocol,
}

impl PeerAddr {
    /// Parses `host`, `host:port`, `[v6]:port`; the default port is 53317.
    pub fn parse(s: &str, protocol: Protocol) -> Result<PeerAddr> {
        let s = s.trim();
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (h, tail) = rest.split_once(']').ok_or_else(|| Error::invalid(format!("bad address {s:?}")))?;
            let port = match tail.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| Error::invalid(format!("bad port in {s:?}")))?,
                None => crate::protocol::DEFAULT_PORT,
            };
            (h.to_string(), port)
        } else if s.matches(':').count() == 1 {
            let (h, p) = s.split_once(':').expect("one colon");
            (h.to_string(), p.parse().map_err(|_| Error::invalid(format!("bad port in {s:?}")))?)
        } else {
            (s.to_string(), crate::protocol::DEFAULT_PORT)
        };
        if host.is_empty() {
            return Err(Error::invalid(format!("bad address {s:?}")));
        }
        Ok(PeerAddr { host, port, protocol })
    }

    /// The socket address when the host is an IP literal, including `fe80::1%3` (a link-local
    /// IPv6 address with its interface index).
    pub fn socket_addr(&self) -> Option<std::net::SocketAddr> {
        if let Ok(ip) = self.host.parse::<std::net::IpAddr>() {
            return Some(std::net::SocketAddr::new(ip, self.port));
        }
        let (ip, scope) = self.host.split_once('%')?;
        let ip: std::net::Ipv6Addr = ip.parse().ok()?;
        let scope: u32 = scope.parse().ok()?;
        Some(std::net::SocketAddr::V6(std::net::SocketAddrV6::new(ip, self.port, 0, scope)))
    }

    /// `host:port`, IPv6 hosts in brackets.
    pub(crate) fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl std::fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}", self.protocol.scheme(), self.authority())
    }
}
