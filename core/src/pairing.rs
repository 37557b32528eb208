//! Pairing codes: what one device shows (as text and as a QR code) so that another trusts it
//! without typing a fingerprint.
//!
//! The text form is `ferry://pair?v=1&fp=<64 hex>&a=<alias>&p=<port>&s=<https|http>&ip=<addr>...`
//! (query components percent-encoded, one `ip` per address). A code is hostile input: the parser
//! is strict and bounded ([`PairingCode::parse`]), and a code only says where to look and which
//! certificate to expect. [`crate::node::Node::pair`] trusts the device only after it proved that
//! certificate over HTTPS, whatever `s` says; the alias is a claim, shown through
//! [`crate::display`] escaping like every peer string.

use crate::error::{Error, Result};
use crate::identity::normalize_fingerprint;
use crate::protocol::Protocol;
use crate::util::percent_encode;
use std::net::IpAddr;

/// The scheme, host and query mark every pairing code starts with.
pub const PREFIX: &str = "ferry://pair?";
/// The longest pairing code text accepted, in bytes.
pub const MAX_CODE_LEN: usize = 2048;
/// The most addresses a pairing code carries.
pub const MAX_ADDRESSES: usize = 8;
/// The longest alias a pairing code carries, in characters (a longer one is shortened when made
/// and refused when parsed).
pub const MAX_ALIAS_CHARS: usize = 64;
/// The most query parameters read (known and unknown together).
const MAX_PARAMS: usize = 32;
/// The version of the form this build makes and reads.
const VERSION: &str = "1";

/// A pairing code: the device's fingerprint, its alias (a claim), and where it listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairingCode {
    /// 64 uppercase hex characters.
    pub fingerprint: String,
    /// The name the device calls itself (unverified; escape before showing).
    pub alias: String,
    pub port: u16,
    /// What the device serves; pairing probes HTTPS whatever this says.
    pub protocol: Protocol,
    /// IP addresses to try, in order (1..=[`MAX_ADDRESSES`], no duplicates).
    pub addresses: Vec<IpAddr>,
}

impl PairingCode {
    /// The code of a device with this fingerprint and alias listening on `port` at `addresses`
    /// (the first [`MAX_ADDRESSES`] usable ones: unspecified and multicast addresses and
    /// duplicates are left out; an alias longer than [`MAX_ALIAS_CHARS`] is shortened).
    pub fn for_node(
        fingerprint: &str,
        alias: &str,
        port: u16,
        protocol: Protocol,
        addresses: impl IntoIterator<Item = IpAddr>,
    ) -> Result<PairingCode> {
        let fingerprint = normalize_fingerprint(fingerprint)?;
        if port == 0 {
            return Err(Error::invalid("a pairing code needs the port the device listens on"));
        }
        let mut list: Vec<IpAddr> = Vec::new();
        for a in addresses {
            if usable(&a) && !list.contains(&a) && list.len() < MAX_ADDRESSES {
                list.push(a);
            }
        }
        if list.is_empty() {
            return Err(Error::invalid("a pairing code needs an address (this device has no network address)"));
        }
        let alias = alias.chars().take(MAX_ALIAS_CHARS).collect();
        Ok(PairingCode { fingerprint, alias, port, protocol, addresses: list })
    }

    /// Reads a pairing code's text form. Strict: the exact prefix [`PREFIX`], at most
    /// [`MAX_CODE_LEN`] bytes, `v=1`, a 64 hex `fp`, a `p` of 1..=65535, 1..=[`MAX_ADDRESSES`]
    /// `ip` values that are IP literals (never host names), an `a` of at most [`MAX_ALIAS_CHARS`]
    /// characters, `s` `https` or `http` (default `https`); a parameter given twice (or an address)
    /// is refused; unknown parameters are ignored. Surrounding white space is ignored.
    pub fn parse(text: &str) -> Result<PairingCode> {
        let text = text.trim();
        if text.len() > MAX_CODE_LEN {
            return Err(Error::invalid(format!("pairing code too long (over {MAX_CODE_LEN} bytes)")));
        }
        let query = text.strip_prefix(PREFIX).ok_or_else(|| Error::invalid(format!("not a pairing code (it starts with {PREFIX})")))?;
        let (mut version, mut fp, mut alias, mut port, mut protocol) = (None, None, None, None, None);
        let mut addresses: Vec<IpAddr> = Vec::new();
        fn once<T>(slot: &mut Option<T>, key: &str, value: T) -> Result<()> {
            if slot.is_some() {
                return Err(Error::invalid(format!("pairing code: {key} given twice")));
            }
            *slot = Some(value);
            Ok(())
        }
        for (n, (key, value)) in form_urlencoded::parse(query.as_bytes()).enumerate() {
            if n >= MAX_PARAMS {
                return Err(Error::invalid("pairing code: too many parameters"));
            }
            match key.as_ref() {
                "v" => once(&mut version, "v", value.into_owned())?,
                "fp" => {
                    let f = normalize_fingerprint(&value).map_err(|_| Error::invalid("pairing code: fp is not a fingerprint"))?;
                    once(&mut fp, "fp", f)?
                }
                "a" => {
                    if value.chars().count() > MAX_ALIAS_CHARS {
                        return Err(Error::invalid(format!("pairing code: alias longer than {MAX_ALIAS_CHARS} characters")));
                    }
                    once(&mut alias, "a", value.into_owned())?
                }
                "p" => {
                    let p = (!value.is_empty() && value.len() <= 5 && value.bytes().all(|b| b.is_ascii_digit()))
                        .then(|| value.parse::<u16>().ok())
                        .flatten()
                        .filter(|p| *p != 0)
                        .ok_or_else(|| Error::invalid("pairing code: p is not a port (1 to 65535)"))?;
                    once(&mut port, "p", p)?
                }
                "s" => {
                    let s = match value.as_ref() {
                        "https" => Protocol::Https,
                        "http" => Protocol::Http,
                        _ => return Err(Error::invalid("pairing code: s is neither https nor http")),
                    };
                    once(&mut protocol, "s", s)?
                }
                "ip" => {
                    let ip: IpAddr = value.parse().map_err(|_| Error::invalid("pairing code: ip is not an IP address"))?;
                    if !usable(&ip) {
                        return Err(Error::invalid("pairing code: ip is not a device's address"));
                    }
                    if addresses.contains(&ip) {
                        return Err(Error::invalid("pairing code: an address given twice"));
                    }
                    if addresses.len() >= MAX_ADDRESSES {
                        return Err(Error::invalid(format!("pairing code: more than {MAX_ADDRESSES} addresses")));
                    }
                    addresses.push(ip);
                }
                _ => {}
            }
        }
        match version.as_deref() {
            Some(VERSION) => {}
            Some(_) => return Err(Error::invalid("pairing code of another version (update Ferry)")),
            None => return Err(Error::invalid("pairing code: v missing")),
        }
        let fingerprint = fp.ok_or_else(|| Error::invalid("pairing code: fp missing"))?;
        let port = port.ok_or_else(|| Error::invalid("pairing code: p missing"))?;
        if addresses.is_empty() {
            return Err(Error::invalid("pairing code: no address"));
        }
        Ok(PairingCode { fingerprint, alias: alias.unwrap_or_default(), port, protocol: protocol.unwrap_or(Protocol::Https), addresses })
    }

    /// True when `text` looks like a pairing code (starts with [`PREFIX`]), valid or not.
    pub fn looks_like(text: &str) -> bool {
        text.trim_start().starts_with(PREFIX)
    }

    /// Where to probe each address: `HOST:PORT` (`[v6]:PORT`), in order.
    pub fn peer_addresses(&self) -> Vec<String> {
        self.addresses.iter().map(|ip| std::net::SocketAddr::new(*ip, self.port).to_string()).collect()
    }
}

impl std::fmt::Display for PairingCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{PREFIX}v={VERSION}&fp={}&a={}&p={}&s={}",
            self.fingerprint,
            percent_encode(&self.alias),
            self.port,
            self.protocol.scheme()
        )?;
        for ip in &self.addresses {
            write!(f, "&ip={}", percent_encode(&ip.to_string()))?;
        }
        Ok(())
    }
}

/// An address a device can be reached at (not `0.0.0.0`, `::` or a multicast group).
fn usable(ip: &IpAddr) -> bool {
    !ip.is_unspecified() && !ip.is_multicast()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: &str = "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789";

    fn code() -> PairingCode {
        let addrs = ["192.168.1.20".parse().unwrap(), "fd00::1".parse().unwrap()];
        PairingCode::for_node(&FP.to_lowercase(), "Anna's phone & co", 53317, Protocol::Https, addrs).unwrap()
    }

    fn refused(text: &str) -> String {
        match PairingCode::parse(text) {
            Ok(c) => panic!("accepted {text:?}: {c:?}"),
            Err(e) => e.message,
        }
    }

    fn base() -> String {
        format!("ferry://pair?v=1&fp={FP}&p=53317&ip=10.0.0.2")
    }

    #[test]
    fn pairing_code_round_trips() {
        let c = code();
        assert_eq!(c.fingerprint, FP);
        let text = c.to_string();
        assert!(text.starts_with("ferry://pair?v=1&fp=ABCDEF"), "{text}");
        assert!(text.contains("&ip=fd00%3A%3A1"), "{text}");
        assert!(!text.contains(' ') && !text.contains('\''), "{text}");
        assert_eq!(PairingCode::parse(&text).unwrap(), c);
        assert_eq!(c.peer_addresses(), vec!["192.168.1.20:53317".to_string(), "[fd00::1]:53317".to_string()]);
    }

    #[test]
    fn pairing_code_for_node_bounds_what_it_puts_in() {
        let many = (1..=20u8).map(|i| IpAddr::from([10, 0, 0, i]));
        let lots = std::iter::once(IpAddr::from([0, 0, 0, 0])).chain(std::iter::once(IpAddr::from([10, 0, 0, 1]))).chain(many);
        let c = PairingCode::for_node(FP, &"x".repeat(500), 1, Protocol::Http, lots).unwrap();
        assert_eq!(c.addresses.len(), MAX_ADDRESSES);
        assert_eq!(c.addresses[0], IpAddr::from([10, 0, 0, 1]));
        assert_eq!(c.alias.chars().count(), MAX_ALIAS_CHARS);
        assert_eq!(PairingCode::parse(&c.to_string()).unwrap(), c);
        assert!(PairingCode::for_node(FP, "a", 0, Protocol::Https, [IpAddr::from([10, 0, 0, 1])]).is_err());
        assert!(PairingCode::for_node(FP, "a", 1, Protocol::Https, []).is_err());
        assert!(PairingCode::for_node("abc", "a", 1, Protocol::Https, [IpAddr::from([10, 0, 0, 1])]).is_err());
    }

    #[test]
    fn pairing_code_parse_defaults_normalises_and_ignores_unknown() {
        let spaced = FP.as_bytes().chunks(4).map(|c| std::str::from_utf8(c).unwrap().to_lowercase()).collect::<Vec<_>>().join("+");
        let c = PairingCode::parse(&format!("  ferry://pair?v=1&future=x&fp={spaced}&p=80&ip=%3A%3A1\n")).unwrap();
        assert_eq!(c.fingerprint, FP);
        assert_eq!((c.port, c.protocol, c.alias.as_str()), (80, Protocol::Https, ""));
        assert_eq!(c.addresses, vec![IpAddr::from(std::net::Ipv6Addr::LOCALHOST)]);
        assert!(PairingCode::looks_like(" ferry://pair?x"));
        assert!(!PairingCode::looks_like(FP));
    }

    #[test]
    fn pairing_code_hostile_input_is_refused() {
        assert!(PairingCode::parse(&base()).is_ok());
        // Scheme and host exact.
        for bad in ["FERRY://pair?", "ferry://pair/?", "ferry://pairx?", "https://pair?", "ferry:pair?", "ferry://evil?"] {
            refused(&base().replacen("ferry://pair?", bad, 1));
        }
        // Required parts.
        refused(&base().replace("v=1&", ""));
        refused(&base().replace("v=1", "v=2"));
        refused(&base().replace(&format!("fp={FP}&"), ""));
        refused(&base().replace("p=53317&", ""));
        refused(&base().replace("&ip=10.0.0.2", ""));
        // Fingerprint exactly 64 hex.
        refused(&base().replace(FP, &FP[1..]));
        refused(&base().replace(FP, &format!("{FP}0")));
        refused(&base().replace(FP, &FP.replace('A', "G")));
        // Ports.
        for p in ["0", "65536", "-1", "+1", "1e3", "", "080808", " 1"] {
            refused(&base().replace("p=53317", &format!("p={p}")));
        }
        // Addresses: IP literals only, bounded, no duplicates.
        for ip in ["example.com", "localhost", "10.0.0.2:80", "[::1]", "0.0.0.0", "%3A%3A", "224.0.0.167", "fe80::1%25eth0", "10.0.0"] {
            refused(&base().replace("ip=10.0.0.2", &format!("ip={ip}")));
        }
        refused(&format!("{}&ip=10.0.0.2", base()));
        let nine: String = (1..=9).map(|i| format!("&ip=10.0.1.{i}")).collect();
        refused(&format!("{}{nine}", base().replace("&ip=10.0.0.2", "")));
        let eight: String = (1..=8).map(|i| format!("&ip=10.0.1.{i}")).collect();
        assert!(PairingCode::parse(&format!("{}{eight}", base().replace("&ip=10.0.0.2", ""))).is_ok());
        // Duplicated parameters.
        for dup in ["&v=1", &format!("&fp={FP}"), "&p=53317", "&s=https&s=https", "&a=x&a=y"] {
            refused(&format!("{}{dup}", base()));
        }
        refused(&format!("{}&s=ftp", base()));
        // Alias bounded (by characters, after decoding).
        assert!(PairingCode::parse(&format!("{}&a={}", base(), "%C3%A9".repeat(MAX_ALIAS_CHARS))).is_ok());
        refused(&format!("{}&a={}", base(), "x".repeat(MAX_ALIAS_CHARS + 1)));
        // Length and parameter count.
        refused(&format!("{}&x={}", base(), "y".repeat(MAX_CODE_LEN)));
        refused(&format!("{}{}", base(), "&x=1".repeat(MAX_PARAMS)));
    }

    #[test]
    fn pairing_code_alias_is_a_claim_kept_verbatim_for_escaping() {
        let c = PairingCode::parse(&format!("{}&a=%1B%5B31mEvil%0A%E2%80%AE", base())).unwrap();
        assert_eq!(c.alias, "\u{1b}[31mEvil\n\u{202e}");
        let shown = crate::display::escape(&c.alias);
        assert!(!shown.contains('\u{1b}') && !shown.contains('\n') && !shown.contains('\u{202e}'), "{shown}");
    }
}
