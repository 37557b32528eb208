//! Local network interfaces.

use std::net::IpAddr;

/// An address of an interface that is up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceAddr {
    pub name: String,
    pub addr: IpAddr,
    /// The network prefix length of the address (24 for a 255.255.255.0 netmask).
    pub prefix: u8,
    pub loopback: bool,
    /// The interface can send and receive multicast.
    pub multicast: bool,
    /// The interface index (IPv6 scope id, multicast interface).
    pub index: u32,
}

/// The addresses of every interface that is up (IPv4 and IPv6), with their netmasks.
///
/// "Up" is the interface's operational state (running). Multicast is assumed on every interface that is neither
/// loopback nor point-to-point (tunnels and VPNs), which is what the interface flags say on the systems Ferry runs on.
pub fn interface_addrs() -> Vec<InterfaceAddr> {
    let Ok(all) = if_addrs::get_if_addrs() else { return Vec::new() };
    all.into_iter()
        .filter(|i| i.is_oper_up())
        .map(|i| {
            let (addr, prefix) = match &i.addr {
                if_addrs::IfAddr::V4(a) => (IpAddr::V4(a.ip), a.prefixlen),
                if_addrs::IfAddr::V6(a) => (IpAddr::V6(a.ip), a.prefixlen),
            };
            let loopback = i.is_loopback();
            let multicast = !loopback && !i.is_p2p();
            InterfaceAddr { name: i.name, addr, prefix, loopback, multicast, index: i.index.unwrap_or(0) }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_is_listed() {
        let addrs = super::interface_addrs();
        assert!(addrs.iter().any(|a| a.loopback && a.addr.is_loopback() && !a.multicast), "{addrs:?}");
        // 127.0.0.1/8 and ::1/128, with their real prefixes and an interface index.
        let v4 = addrs.iter().find(|a| a.addr == std::net::IpAddr::from([127, 0, 0, 1])).expect("127.0.0.1 is listed");
        assert_eq!(v4.prefix, 8, "{v4:?}");
        assert!(v4.index > 0, "{v4:?}");
        if let Some(v6) = addrs.iter().find(|a| a.addr == std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST)) {
            assert_eq!(v6.prefix, 128, "{v6:?}");
        }
    }
}
