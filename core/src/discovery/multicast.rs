//! Multicast sockets and datagrams.
//!
//! One UDP socket per chosen interface (IPv4: per address; IPv6: per interface), bound to the
//! discovery port on the wildcard address with address and port reuse (so LocalSend and other
//! Ferry processes on the same machine can share it), joined to the group on that interface,
//! TTL 1, loopback on (two apps on one machine find each other; our own datagrams are dropped
//! by fingerprint).

use super::interfaces::ChosenInterface;
use crate::protocol::DeviceInfo;
use socket2::{Domain, Protocol as SockProtocol, Socket, Type};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use tokio::net::UdpSocket;

/// Datagrams larger than this are dropped unread (LocalSend's are about 300 bytes).
pub const MAX_DATAGRAM: usize = 8 * 1024;

/// Opens and joins the socket for one interface; returns it and the group address to send to.
pub fn open(iface: &ChosenInterface, group_v4: Ipv4Addr, group_v6: Ipv6Addr, port: u16) -> io::Result<(UdpSocket, SocketAddr)> {
    match iface.addr {
        IpAddr::V4(addr) => {
            let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(SockProtocol::UDP))?;
            s.set_reuse_address(true)?;
            #[cfg(all(unix, not(any(target_os = "solaris", target_os = "illumos"))))]
            s.set_reuse_port(true)?;
            // Only the memberships of this socket (that is, this interface) are delivered to it.
            #[cfg(target_os = "linux")]
            s.set_multicast_all_v4(false)?;
            s.set_nonblocking(true)?;
            s.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into())?;
            s.join_multicast_v4(&group_v4, &addr)?;
            s.set_multicast_if_v4(&addr)?;
            s.set_multicast_ttl_v4(1)?;
            s.set_multicast_loop_v4(true)?;
            Ok((UdpSocket::from_std(s.into())?, SocketAddr::from((group_v4, port))))
        }
        IpAddr::V6(_) => {
            let s = Socket::new(Domain::IPV6, Type::DGRAM, Some(SockProtocol::UDP))?;
            s.set_only_v6(true)?;
            s.set_reuse_address(true)?;
            #[cfg(all(unix, not(any(target_os = "solaris", target_os = "illumos"))))]
            s.set_reuse_port(true)?;
            #[cfg(target_os = "linux")]
            s.set_multicast_all_v6(false)?;
            s.set_nonblocking(true)?;
            s.bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)).into())?;
            s.join_multicast_v6(&group_v6, iface.index)?;
            s.set_multicast_if_v6(iface.index)?;
            s.set_multicast_hops_v6(1)?;
            s.set_multicast_loop_v6(true)?;
            Ok((UdpSocket::from_std(s.into())?, SocketAddr::V6(SocketAddrV6::new(group_v6, port, 0, iface.index))))
        }
    }
}

/// Our announcement (`announce: true`) or answer (`announce: false`). Both the v2 and the v1
/// flag are set, as LocalSend 1.17 does.
pub fn datagram(ours: &DeviceInfo, announce: bool) -> Vec<u8> {
    let mut info = ours.clone();
    info.announce = Some(announce);
    info.announcement = Some(announce);
    serde_json::to_vec(&info).expect("serialisable")
}

/// A datagram from a peer.
#[derive(Debug, Clone, PartialEq)]
pub struct Heard {
    pub info: DeviceInfo,
    /// It asks to be answered.
    pub announce: bool,
}

/// Parses a datagram; anything malformed or oversized is `None`.
pub fn parse(data: &[u8]) -> Option<Heard> {
    if data.len() > MAX_DATAGRAM {
        return None;
    }
    let info: DeviceInfo = serde_json::from_slice(data).ok()?;
    if info.fingerprint.trim().is_empty() {
        return None;
    }
    let announce = info.announce.or(info.announcement).unwrap_or(false);
    Some(Heard { info, announce })
}

/// The text form of a source address: IPv6 link-local addresses keep their interface index.
pub(crate) fn host_of(addr: &SocketAddr) -> String {
    match addr {
        SocketAddr::V6(v6) if super::interfaces::is_link_local_v6(&IpAddr::V6(*v6.ip())) && v6.scope_id() != 0 => {
            format!("{}%{}", v6.ip(), v6.scope_id())
        }
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.ip().to_string(),
        },
        SocketAddr::V4(v4) => v4.ip().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{DeviceType, Protocol};

    #[test]
    fn our_datagrams_carry_both_flags() {
        let ours = crate::protocol::device_info("A", DeviceType::Desktop, "Linux", "AB", 53317, Protocol::Https);
        let v: serde_json::Value = serde_json::from_slice(&datagram(&ours, true)).unwrap();
        assert_eq!((v["announce"].as_bool(), v["announcement"].as_bool()), (Some(true), Some(true)));
        assert_eq!((v["port"].as_u64(), v["protocol"].as_str()), (Some(53317), Some("https")));
        let h = parse(&datagram(&ours, false)).unwrap();
        assert!(!h.announce);
    }

    #[test]
    fn v1_and_v2_flags_and_bad_input() {
        let h = parse(br#"{"alias":"Old","fingerprint":"x1","announcement":true}"#).unwrap();
        assert!(h.announce);
        let h = parse(
            br#"{"alias":"New","fingerprint":"x2","announce":true,"port":1234,"protocol":"http","deviceType":"toaster","extra":[1,2]}"#,
        )
        .unwrap();
        assert!(h.announce && h.info.port == Some(1234));
        assert_eq!(h.info.device_type_or_default(), DeviceType::Desktop);
        assert!(parse(br#"{"alias":"NoFp"}"#).is_none());
        assert!(parse(b"\xff\xfe garbage").is_none());
        assert!(parse(br#"{"alias":1,"fingerprint":"x"}"#).is_none());
        let big = format!(r#"{{"alias":"{}","fingerprint":"x"}}"#, "a".repeat(MAX_DATAGRAM));
        assert!(parse(big.as_bytes()).is_none());
    }

    #[test]
    fn hosts_keep_link_local_scopes() {
        assert_eq!(host_of(&"10.0.0.2:1".parse().unwrap()), "10.0.0.2");
        assert_eq!(host_of(&SocketAddr::V6(SocketAddrV6::new("fe80::1".parse().unwrap(), 1, 0, 7))), "fe80::1%7");
        assert_eq!(host_of(&"[fd00::1]:1".parse().unwrap()), "fd00::1");
    }
}
