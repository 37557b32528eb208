//! The list of nearby devices, keyed by certificate fingerprint.
//!
//! Anything can claim a fingerprint in a datagram; only a TLS handshake proves one. So a
//! verified entry (its identity proved by TLS) is never changed by unverified claims, and
//! unverified entries are the first to go when the list is full. Every part of the list is
//! bounded: devices, addresses per device, unverified devices per source address, text sizes.

use crate::error::{Error, Result};
use crate::protocol::PeerAddr;
use crate::protocol::{DeviceInfo, DeviceType, Protocol, DEFAULT_PORT};
use serde::Serialize;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::broadcast;

/// At most this many devices are listed.
pub(crate) const MAX_DEVICES: usize = 256;
/// One source address can place at most this many unverified devices in the list.
const MAX_UNVERIFIED_PER_SOURCE: usize = 4;
const MAX_ADDRESSES: usize = 4;
const MAX_ALIAS_CHARS: usize = 64;
const MAX_MODEL_CHARS: usize = 64;
const MAX_FINGERPRINT_CHARS: usize = 128;

/// How a device was last heard of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Source {
    /// Its multicast announcement or answer.
    Multicast,
    /// It registered with our server.
    Register,
    /// It answered our subnet scan.
    Scan,
    /// It answered a probe of an address the user gave.
    Manual,
    /// It answered a probe of a trusted device's saved address.
    Favorite,
    /// It answered a liveness check.
    Refresh,
}

/// A device found nearby.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    /// Certificate fingerprint (HTTPS) or the claimed one (HTTP), uppercase when hex.
    pub fingerprint: String,
    pub alias: String,
    pub device_model: Option<String>,
    pub device_type: DeviceType,
    /// Protocol version the device speaks ("2.1", "2.2", ...).
    pub version: String,
    /// Addresses it was seen at, most recent first. IPv6 link-local ones carry `%scope`.
    pub addresses: Vec<String>,
    pub port: u16,
    pub protocol: Protocol,
    /// It serves downloads (share via link).
    pub download: bool,
    /// A TLS handshake proved that this device holds the fingerprint's certificate.
    pub verified: bool,
    /// It speaks Ferry's extensions.
    pub ferry: bool,
    pub source: Source,
    /// Milliseconds since the Unix epoch.
    pub last_seen_ms: u64,
    #[serde(skip)]
    seen_at: Instant,
    #[serde(skip)]
    sources: Vec<IpAddr>,
}

impl Device {
    /// Where to reach it (its most recent address).
    pub fn peer(&self) -> PeerAddr {
        PeerAddr { host: self.addresses.first().cloned().unwrap_or_default(), port: self.port, protocol: self.protocol }
    }
    /// Every address it was seen at, most recent first.
    pub fn peers(&self) -> Vec<PeerAddr> {
        self.addresses.iter().map(|h| PeerAddr { host: h.clone(), port: self.port, protocol: self.protocol }).collect()
    }
    /// The short fingerprint people compare ([`crate::identity::short_fingerprint`]).
    pub fn short_fingerprint(&self) -> String {
        crate::identity::short_fingerprint(&self.fingerprint)
    }
}

/// One piece of evidence that a device exists.
#[derive(Debug, Clone)]
pub struct Sighting {
    pub info: DeviceInfo,
    /// The address it was seen at (text form, with `%scope` for link-local IPv6).
    pub host: String,
    /// The source address, for bounding unverified entries per source.
    pub ip: IpAddr,
    pub port: u16,
    pub protocol: Protocol,
    /// The fingerprint in `info` was proved by TLS.
    pub verified: bool,
    pub source: Source,
}

impl Sighting {
    /// A device that answered a probe of `peer` (with `protocol`, which may differ from the
    /// one `peer` was first tried with).
    pub fn answered(remote: crate::client::RemoteDevice, peer: &PeerAddr, protocol: Protocol, source: Source) -> Sighting {
        let mut info = remote.info;
        info.fingerprint = remote.fingerprint;
        Sighting {
            info,
            host: peer.host.clone(),
            ip: peer.socket_addr().map(|a| a.ip()).unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)),
            port: peer.port,
            protocol,
            verified: remote.verified,
            source,
        }
    }

    /// A device that registered with our server from `from`. Its client certificate
    /// (`verified`) proves who registered, but a device that says it listens with plain HTTP is
    /// listed unverified: what would be reached there proves nothing.
    pub fn register(info: &DeviceInfo, verified: bool, from: std::net::SocketAddr) -> Sighting {
        let protocol = info.protocol.unwrap_or(Protocol::Https);
        Sighting {
            info: info.clone(),
            host: super::multicast::host_of(&from),
            ip: from.ip(),
            port: info.port.unwrap_or(DEFAULT_PORT),
            protocol,
            verified: verified && protocol == Protocol::Https,
            source: Source::Register,
        }
    }
}

/// A change in the device list.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub enum DiscoveryEvent {
    Found(Device),
    Updated(Device),
    Lost(Device),
}

/// The device list. Share it (`Arc`) between the discovery service and the server's
/// register handler.
pub struct DeviceRegistry {
    own_fingerprint: String,
    devices: Mutex<HashMap<String, Device>>,
    events: broadcast::Sender<DiscoveryEvent>,
}

/// Fingerprints are compared case-insensitively; hex ones are keyed in uppercase.
fn key_of(fp: &str) -> String {
    fp.to_ascii_uppercase()
}

fn clean_text(s: &str, max: usize) -> String {
    s.chars().filter(|c| !c.is_control()).take(max).collect::<String>().trim().to_string()
}

fn valid_fingerprint(fp: &str) -> bool {
    !fp.is_empty() && fp.len() <= MAX_FINGERPRINT_CHARS && fp.bytes().all(|b| b.is_ascii_graphic())
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl DeviceRegistry {
    pub fn new(own_fingerprint: &str) -> DeviceRegistry {
        let (events, _) = broadcast::channel(256);
        DeviceRegistry { own_fingerprint: key_of(own_fingerprint), devices: Mutex::new(HashMap::new()), events }
    }

    /// Found / updated / lost events from now on. A receiver that falls more than 256 events
    /// behind loses the oldest ones (`RecvError::Lagged`); [`DeviceRegistry::list`] is always
    /// complete.
    pub fn subscribe(&self) -> broadcast::Receiver<DiscoveryEvent> {
        self.events.subscribe()
    }

    /// Every device, by alias.
    pub fn list(&self) -> Vec<Device> {
        let mut v: Vec<Device> = self.devices.lock().unwrap().values().cloned().collect();
        v.sort_by(|a, b| a.alias.to_lowercase().cmp(&b.alias.to_lowercase()).then(a.fingerprint.cmp(&b.fingerprint)));
        v
    }

    pub fn len(&self) -> usize {
        self.devices.lock().unwrap().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, fingerprint: &str) -> Option<Device> {
        self.devices.lock().unwrap().get(&key_of(fingerprint)).cloned()
    }

    fn emit(&self, event: DiscoveryEvent) {
        let _ = self.events.send(event);
    }

    /// Adds or refreshes a device from one sighting. Returns the event it caused, if any.
    pub fn observe(&self, s: Sighting) -> Option<DiscoveryEvent> {
        let fp = s.info.fingerprint.trim();
        // A process that only looks up or sends is no device to list.
        if !valid_fingerprint(fp) || s.info.ferry_has(super::FEATURE_LOOKUP) {
            return None;
        }
        let key = key_of(fp);
        if key == self.own_fingerprint {
            return None;
        }
        let now = Instant::now();
        let mut devices = self.devices.lock().unwrap();
        let mut evicted = Vec::new();
        let event = if let Some(old) = devices.get_mut(&key) {
            if old.verified && !s.verified {
                // An unproved claim about a proved device: it may only confirm what we know.
                if old.addresses.contains(&s.host) && old.port == s.port && old.protocol == s.protocol {
                    old.seen_at = now;
                    old.last_seen_ms = now_ms();
                }
                return None;
            }
            let mut new = device_from(&key, &s, now);
            if old.verified == s.verified {
                // Same standing: keep the other addresses it was seen at.
                for a in &old.addresses {
                    if !new.addresses.contains(a) && new.addresses.len() < MAX_ADDRESSES {
                        new.addresses.push(a.clone());
                    }
                }
                for ip in &old.sources {
                    if !new.sources.contains(ip) && new.sources.len() < MAX_ADDRESSES {
                        new.sources.push(*ip);
                    }
                }
            }
            new.addresses.sort_by_key(|h| address_rank(h));
            let changed = visible_change(old, &new);
            *old = new;
            changed.then(|| DiscoveryEvent::Updated(old.clone()))
        } else {
            if !s.verified {
                let from_source: Vec<(String, Instant)> =
                    devices.iter().filter(|(_, d)| !d.verified && d.sources.contains(&s.ip)).map(|(k, d)| (k.clone(), d.seen_at)).collect();
                if from_source.len() >= MAX_UNVERIFIED_PER_SOURCE {
                    if let Some((k, _)) = from_source.iter().min_by_key(|(_, t)| *t) {
                        evicted.extend(devices.remove(k));
                    }
                }
            }
            if devices.len() >= MAX_DEVICES {
                // The oldest unverified entry goes first; a verified sighting may push out the
                // oldest verified one; an unverified one never does.
                let victim = devices
                    .iter()
                    .filter(|(_, d)| !d.verified)
                    .min_by_key(|(_, d)| d.seen_at)
                    .or_else(|| if s.verified { devices.iter().min_by_key(|(_, d)| d.seen_at) } else { None })
                    .map(|(k, _)| k.clone());
                match victim {
                    Some(k) => evicted.extend(devices.remove(&k)),
                    None => return None,
                }
            }
            let d = device_from(&key, &s, now);
            devices.insert(key, d.clone());
            Some(DiscoveryEvent::Found(d))
        };
        drop(devices);
        for d in evicted {
            self.emit(DiscoveryEvent::Lost(d));
        }
        if let Some(e) = &event {
            self.emit(e.clone());
        }
        event
    }

    /// Drops a device (it stopped answering). Emits `Lost`.
    pub fn remove(&self, fingerprint: &str) -> Option<Device> {
        let d = self.devices.lock().unwrap().remove(&key_of(fingerprint));
        if let Some(d) = &d {
            self.emit(DiscoveryEvent::Lost(d.clone()));
        }
        d
    }

    /// Devices not heard of for longer than `age`.
    pub(crate) fn older_than(&self, age: Duration) -> Vec<Device> {
        self.devices.lock().unwrap().values().filter(|d| d.seen_at.elapsed() > age).cloned().collect()
    }

    /// Finds one device by alias (case-insensitive, exact) or by a fingerprint prefix of at
    /// least 4 characters. No match or several matches are errors that say what was found.
    pub fn find(&self, query: &str) -> Result<Device> {
        let q = query.trim();
        let devices = self.list();
        let by_alias: Vec<&Device> =
            devices.iter().filter(|d| d.alias.eq_ignore_ascii_case(q) || d.alias.to_lowercase() == q.to_lowercase()).collect();
        let matches: Vec<&Device> = if !by_alias.is_empty() {
            by_alias
        } else if q.len() >= 4 {
            // Typed as Ferry prints it: grouped with spaces or colons, any case.
            let qk = crate::identity::fingerprint_key(q);
            devices.iter().filter(|d| key_of(&d.fingerprint).starts_with(&qk)).collect()
        } else {
            Vec::new()
        };
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => {
                let seen = if devices.is_empty() {
                    "no devices were found".to_string()
                } else {
                    format!("found: {}", devices.iter().map(describe).collect::<Vec<_>>().join(", "))
                };
                Err(Error::no_such_device(format!("no device named {q:?} ({seen})")))
            }
            many => Err(Error::ambiguous_device(format!(
                "{q:?} matches {} devices; use a longer fingerprint prefix: {}",
                many.len(),
                // The whole fingerprint of each, to take a longer prefix from.
                many.iter()
                    .map(|d| format!("{} ({}, {})", d.alias, d.fingerprint, d.addresses.first().map(String::as_str).unwrap_or("?")))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }
}

/// Addresses in order of preference: IPv4, routable IPv6, link-local IPv6 with its scope, and
/// last a link-local one without (only reachable if the system guesses the interface).
fn address_rank(host: &str) -> u8 {
    let (ip, scoped) = match host.split_once('%') {
        Some((ip, _)) => (ip, true),
        None => (host, false),
    };
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => 0,
        Ok(ip @ IpAddr::V6(_)) if !super::interfaces::is_link_local_v6(&ip) => 1,
        Ok(IpAddr::V6(_)) if scoped => 2,
        Ok(IpAddr::V6(_)) => 3,
        Err(_) => 1,
    }
}

fn describe(d: &Device) -> String {
    format!("{} ({}, {})", d.alias, d.short_fingerprint(), d.addresses.first().map(String::as_str).unwrap_or("?"))
}

fn device_from(key: &str, s: &Sighting, now: Instant) -> Device {
    let alias = clean_text(&s.info.alias, MAX_ALIAS_CHARS);
    Device {
        fingerprint: if key.bytes().all(|b| b.is_ascii_hexdigit()) { key.to_string() } else { s.info.fingerprint.trim().to_string() },
        alias: if alias.is_empty() { "Unnamed device".to_string() } else { alias },
        device_model: s.info.device_model.as_deref().map(|m| clean_text(m, MAX_MODEL_CHARS)).filter(|m| !m.is_empty()),
        device_type: s.info.device_type_or_default(),
        version: clean_text(&s.info.version, 16),
        addresses: vec![s.host.clone()],
        port: s.port,
        protocol: s.protocol,
        download: s.info.download,
        verified: s.verified,
        ferry: s.info.ferry.is_some(),
        source: s.source,
        last_seen_ms: now_ms(),
        seen_at: now,
        sources: vec![s.ip],
    }
}

fn visible_change(a: &Device, b: &Device) -> bool {
    a.alias != b.alias
        || a.device_model != b.device_model
        || a.device_type != b.device_type
        || a.addresses != b.addresses
        || a.port != b.port
        || a.protocol != b.protocol
        || a.download != b.download
        || a.verified != b.verified
        || a.ferry != b.ferry
        || a.version != b.version
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(alias: &str, fp: &str) -> DeviceInfo {
        crate::protocol::device_info(alias, DeviceType::Desktop, "Linux", fp, 53317, Protocol::Https)
    }

    fn sighting(alias: &str, fp: &str, ip: &str, verified: bool) -> Sighting {
        let ip: IpAddr = ip.parse().unwrap();
        Sighting {
            info: info(alias, fp),
            host: ip.to_string(),
            ip,
            port: 53317,
            protocol: Protocol::Https,
            verified,
            source: Source::Multicast,
        }
    }

    #[test]
    fn found_updated_lost() {
        let r = DeviceRegistry::new("OWN");
        let mut rx = r.subscribe();
        assert!(matches!(r.observe(sighting("A", "aa11", "10.0.0.2", false)), Some(DiscoveryEvent::Found(_))));
        // the same again changes nothing visible
        assert_eq!(r.observe(sighting("A", "AA11", "10.0.0.2", false)), None);
        assert!(
            matches!(r.observe(sighting("A2", "aa11", "10.0.0.2", true)), Some(DiscoveryEvent::Updated(d)) if d.verified && d.alias == "A2")
        );
        assert!(r.remove("aa11").is_some());
        let kinds: Vec<&str> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|e| match e {
                DiscoveryEvent::Found(_) => "found",
                DiscoveryEvent::Updated(_) => "updated",
                DiscoveryEvent::Lost(_) => "lost",
            })
            .collect();
        assert_eq!(kinds, ["found", "updated", "lost"]);
    }

    #[test]
    fn lookups_are_not_listed() {
        let r = DeviceRegistry::new("OWN");
        let mut s = sighting("ferry devices", "bb22", "10.0.0.3", true);
        super::super::mark_lookup(&mut s.info);
        assert_eq!(r.observe(s), None);
        assert!(r.list().is_empty());
        assert!(r.observe(sighting("Desk", "bb22", "10.0.0.3", true)).is_some(), "the same key as a device is listed");
    }

    #[test]
    fn own_and_invalid_fingerprints_are_ignored() {
        let r = DeviceRegistry::new("own1");
        assert_eq!(r.observe(sighting("me", "OWN1", "10.0.0.2", false)), None);
        assert_eq!(r.observe(sighting("x", "", "10.0.0.2", false)), None);
        assert_eq!(r.observe(sighting("x", "a b", "10.0.0.2", false)), None);
        assert_eq!(r.observe(sighting("x", &"A".repeat(200), "10.0.0.2", false)), None);
        assert!(r.is_empty());
    }

    #[test]
    fn unverified_claims_do_not_change_verified_devices() {
        let r = DeviceRegistry::new("OWN");
        r.observe(sighting("Real", "F00D", "10.0.0.2", true));
        assert_eq!(r.observe(sighting("Spoof", "F00D", "10.0.0.66", false)), None);
        let d = r.get("f00d").unwrap();
        assert_eq!((d.alias.as_str(), d.addresses.as_slice(), d.verified), ("Real", &["10.0.0.2".to_string()][..], true));
    }

    #[test]
    fn one_source_cannot_fill_the_list() {
        let r = DeviceRegistry::new("OWN");
        for i in 0..1000 {
            r.observe(sighting("junk", &format!("{i:04X}"), "10.0.0.66", false));
        }
        assert_eq!(r.len(), MAX_UNVERIFIED_PER_SOURCE);
        assert!(matches!(r.observe(sighting("honest", "BEEF", "10.0.0.3", false)), Some(DiscoveryEvent::Found(_))));
    }

    #[test]
    fn the_list_is_bounded_and_unverified_entries_go_first() {
        let r = DeviceRegistry::new("OWN");
        r.observe(sighting("verified", "ABCD", "10.0.1.1", true));
        for i in 0..(MAX_DEVICES * 3) {
            let ip = format!("10.{}.{}.{}", 1 + i / 65536, (i / 256) % 256, i % 256);
            r.observe(sighting("many", &format!("1{i:05X}"), &ip, false));
        }
        assert_eq!(r.len(), MAX_DEVICES);
        assert!(r.get("ABCD").is_some(), "the verified device stays");
    }

    #[test]
    fn aliases_are_cleaned_and_bounded() {
        let r = DeviceRegistry::new("OWN");
        let long = format!("a\u{7}b{}", "x".repeat(500));
        r.observe(sighting(&long, "AB12", "10.0.0.2", false));
        let d = r.get("AB12").unwrap();
        assert!(d.alias.starts_with("abx") && d.alias.chars().count() == MAX_ALIAS_CHARS, "{}", d.alias);
    }

    #[test]
    fn find_by_alias_or_fingerprint_prefix() {
        let r = DeviceRegistry::new("OWN");
        r.observe(sighting("Laptop", "ABCD1111", "10.0.0.2", true));
        r.observe(sighting("Phone", "ABCD2222", "10.0.0.3", true));
        r.observe(sighting("Phone", "EEEE3333", "10.0.0.4", true));
        assert_eq!(r.find("laptop").unwrap().fingerprint, "ABCD1111");
        assert_eq!(r.find("abcd2").unwrap().alias, "Phone");
        assert_eq!(r.find("abcd 2222").unwrap().alias, "Phone", "grouped as printed");
        assert_eq!(r.find("AB:CD:22").unwrap().alias, "Phone", "with colons");
        let e = r.find("phone").unwrap_err().to_string();
        assert!(e.contains("matches 2 devices") && e.contains("ABCD2222") && e.contains("EEEE3333"), "{e}");
        let e = r.find("ABCD").unwrap_err().to_string();
        assert!(e.contains("matches 2"), "{e}");
        let e = r.find("tablet").unwrap_err().to_string();
        assert!(e.contains("no device named") && e.contains("Laptop"), "{e}");
        assert!(r.find("abc").is_err(), "prefixes shorter than 4 are not fingerprints");
    }

    #[test]
    fn ipv4_addresses_come_first() {
        let r = DeviceRegistry::new("OWN");
        r.observe(sighting("A", "AB12", "10.0.0.2", true));
        let mut s = sighting("A", "AB12", "fe80::1", true);
        s.host = "fe80::1%2".into();
        r.observe(s);
        r.observe(sighting("A", "AB12", "fd00::2", true));
        assert_eq!(r.get("AB12").unwrap().addresses, ["10.0.0.2", "fd00::2", "fe80::1%2"]);
        assert_eq!(r.get("AB12").unwrap().peer().host, "10.0.0.2");
    }
}
