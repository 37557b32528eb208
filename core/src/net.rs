//! Local network interfaces.

use std::net::IpAddr;

/// An address of an interface that is up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceAddr {
    pub name: String,
    pub addr: IpAddr,
    pub loopback: bool,
    /// The interface can send and receive multicast.
    pub multicast: bool,
    /// The interface index (IPv6 scope id, multicast interface).
    pub index: u32,
}

/// The addresses of every interface that is up (IPv4 and IPv6).
pub fn interface_addrs() -> Vec<InterfaceAddr> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return out;
    }
    let mut cur = head;
    while !cur.is_null() {
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_flags & (libc::IFF_UP as libc::c_uint) == 0 {
            continue;
        }
        let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) }.to_string_lossy().into_owned();
        let family = unsafe { (*ifa.ifa_addr).sa_family } as i32;
        let addr = match family {
            libc::AF_INET => {
                let sa = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                IpAddr::from(u32::from_be(sa.sin_addr.s_addr).to_be_bytes())
            }
            libc::AF_INET6 => {
                let sa = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
                IpAddr::from(sa.sin6_addr.s6_addr)
            }
            _ => continue,
        };
        let loopback = ifa.ifa_flags & (libc::IFF_LOOPBACK as libc::c_uint) != 0;
        let multicast = ifa.ifa_flags & (libc::IFF_MULTICAST as libc::c_uint) != 0;
        let index = unsafe { libc::if_nametoindex(ifa.ifa_name) };
        out.push(InterfaceAddr { name, addr, loopback, multicast, index });
    }
    unsafe { libc::freeifaddrs(head) };
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_is_listed() {
        let addrs = super::interface_addrs();
        assert!(addrs.iter().any(|a| a.loopback && a.addr.is_loopback()), "{addrs:?}");
    }
}
