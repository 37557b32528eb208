//! Which interfaces discovery uses.
//!
//! By default: every interface that is up, except loopback and the bridges that container and
//! VM software create (announcing or scanning there only finds containers). Users narrow or
//! widen that with include and exclude patterns: an interface name with `*` and `?`
//! wildcards (`wlan0`, `docker*`), an address (`192.168.1.20`) or a network (`10.0.0.0/8`,
//! `fd00::/8`). An include pattern also brings back a default-excluded interface.

use crate::error::{Error, Result};
use crate::net::InterfaceAddr;
use serde::Serialize;
use std::net::IpAddr;

/// Name prefixes of container and VM bridges, left out unless included by name.
const VIRTUAL_PREFIXES: &[&str] =
    &["docker", "br-", "veth", "virbr", "vboxnet", "vmnet", "podman", "cni", "lxcbr", "lxdbr", "flannel", "cali"];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Name(String),
    Net(IpAddr, u8),
}

impl Pattern {
    fn parse(s: &str) -> Result<Pattern> {
        let s = s.trim();
        if s.is_empty() {
            return Err(Error::invalid("empty interface pattern"));
        }
        if let Some((a, p)) = s.split_once('/') {
            let addr: IpAddr = a.parse().map_err(|_| Error::invalid(format!("bad network in interface pattern {s:?}")))?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let prefix: u8 = p.parse().ok().filter(|p| *p <= max).ok_or_else(|| Error::invalid(format!("bad prefix length in {s:?}")))?;
            return Ok(Pattern::Net(addr, prefix));
        }
        if let Ok(addr) = s.parse::<IpAddr>() {
            return Ok(Pattern::Net(addr, if addr.is_ipv4() { 32 } else { 128 }));
        }
        Ok(Pattern::Name(s.to_string()))
    }

    fn matches(&self, i: &InterfaceAddr) -> bool {
        match self {
            Pattern::Name(p) => glob(p.as_bytes(), i.name.as_bytes()),
            Pattern::Net(net, prefix) => in_network(i.addr, *net, *prefix),
        }
    }
}

fn glob(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => glob(&p[1..], s) || (!s.is_empty() && glob(p, &s[1..])),
        (Some(b'?'), Some(_)) => glob(&p[1..], &s[1..]),
        (Some(a), Some(b)) if a == b => glob(&p[1..], &s[1..]),
        _ => false,
    }
}

fn in_network(addr: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (addr, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix as u32) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if prefix == 0 { 0 } else { u128::MAX << (128 - prefix as u32) };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// Include and exclude patterns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterfaceFilter {
    include: Vec<Pattern>,
    exclude: Vec<Pattern>,
}

/// An interface address discovery uses.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ChosenInterface {
    pub name: String,
    pub addr: IpAddr,
    /// The network prefix length of the address (the subnet scan covers that network, bounded).
    #[serde(skip)]
    pub prefix: u8,
    #[serde(skip)]
    pub index: u32,
    /// Multicast works on it (the interface supports it).
    pub multicast: bool,
}

impl InterfaceFilter {
    /// Parses the patterns; a bad one is an error that names it.
    pub fn new(include: &[String], exclude: &[String]) -> Result<InterfaceFilter> {
        Ok(InterfaceFilter {
            include: include.iter().map(|s| Pattern::parse(s)).collect::<Result<_>>()?,
            exclude: exclude.iter().map(|s| Pattern::parse(s)).collect::<Result<_>>()?,
        })
    }

    /// The same filter with its includes replaced by one address (a node bound to it).
    pub fn only(&self, addr: IpAddr) -> InterfaceFilter {
        InterfaceFilter { include: vec![Pattern::Net(addr, if addr.is_ipv4() { 32 } else { 128 })], exclude: self.exclude.clone() }
    }

    /// The addresses to use, in a stable order (IPv4 first).
    pub fn choose(&self, all: &[InterfaceAddr]) -> Vec<ChosenInterface> {
        let mut out: Vec<ChosenInterface> = all
            .iter()
            .filter(|i| self.wants(i))
            .map(|i| ChosenInterface { name: i.name.clone(), addr: i.addr, prefix: i.prefix, index: i.index, multicast: i.multicast })
            .collect();
        out.sort_by(|a, b| (a.addr.is_ipv6(), &a.name, a.addr).cmp(&(b.addr.is_ipv6(), &b.name, b.addr)));
        out.dedup();
        out
    }

    fn wants(&self, i: &InterfaceAddr) -> bool {
        if self.exclude.iter().any(|p| p.matches(i)) {
            return false;
        }
        if !self.include.is_empty() {
            return self.include.iter().any(|p| p.matches(i));
        }
        !i.loopback && !VIRTUAL_PREFIXES.iter().any(|p| i.name.starts_with(p))
    }
}

/// IPv6 link-local (fe80::/10).
pub fn is_link_local_v6(addr: &IpAddr) -> bool {
    matches!(addr, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface(name: &str, addr: &str) -> InterfaceAddr {
        InterfaceAddr {
            name: name.into(),
            addr: addr.parse().unwrap(),
            prefix: 24,
            loopback: name == "lo",
            multicast: name != "lo",
            index: 1,
        }
    }

    fn names(f: &InterfaceFilter, all: &[InterfaceAddr]) -> Vec<String> {
        f.choose(all).into_iter().map(|c| format!("{}={}", c.name, c.addr)).collect()
    }

    #[test]
    fn defaults_leave_out_loopback_and_container_bridges() {
        let all = [
            iface("lo", "127.0.0.1"),
            iface("wlan0", "192.168.1.5"),
            iface("docker0", "172.17.0.1"),
            iface("veth12", "169.254.1.1"),
            iface("wlan0", "fe80::1"),
        ];
        let f = InterfaceFilter::default();
        assert_eq!(names(&f, &all), ["wlan0=192.168.1.5", "wlan0=fe80::1"]);
    }

    #[test]
    fn include_and_exclude_by_name_address_and_network() {
        let all = [iface("eth0", "10.1.2.3"), iface("wlan0", "192.168.1.5"), iface("docker0", "172.17.0.1"), iface("tun0", "10.8.0.2")];
        let f = InterfaceFilter::new(&["docker*".into()], &[]).unwrap();
        assert_eq!(names(&f, &all), ["docker0=172.17.0.1"]);
        let f = InterfaceFilter::new(&[], &["tun?".into(), "192.168.0.0/16".into()]).unwrap();
        assert_eq!(names(&f, &all), ["eth0=10.1.2.3"]);
        let f = InterfaceFilter::new(&["10.0.0.0/8".into()], &["10.8.0.2".into()]).unwrap();
        assert_eq!(names(&f, &all), ["eth0=10.1.2.3"]);
        assert!(InterfaceFilter::new(&["10.0.0.0/33".into()], &[]).is_err());
        assert!(InterfaceFilter::new(&["".into()], &[]).is_err());
    }

    #[test]
    fn globs() {
        assert!(glob(b"en*", b"en0"));
        assert!(glob(b"*", b""));
        assert!(glob(b"w?an*", b"wlan0"));
        assert!(!glob(b"eth", b"eth0"));
    }
}
