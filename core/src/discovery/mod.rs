//! Finding devices nearby and being found: multicast announcements and answers, registers,
//! a subnet scan where multicast does not get through, manual addresses and favorites, and
//! liveness checks that drop devices which stopped answering.
//!
//! The wire behaviour follows LocalSend: announce a burst of three datagrams (at start, on a
//! manual scan and when the interfaces change), answer an announcement with `POST v2/register`
//! to its sender (pinned to the announced fingerprint), fall back to a UDP answer, and scan
//! the /24 by HTTP when multicast finds nothing within a second.

pub mod devices;
pub mod interfaces;
mod limiter;
pub mod multicast;
pub mod probe;

pub use devices::{Device, DeviceRegistry, DiscoveryEvent, Sighting, Source};
pub use interfaces::{ChosenInterface, InterfaceFilter};

use crate::error::{Error, Result};
use crate::identity::{same_fingerprint, Identity};
use crate::protocol::PeerAddr;
use crate::protocol::{DeviceInfo, Protocol, DEFAULT_PORT};
use futures_util::StreamExt;
use limiter::AnswerLimiter;
use probe::ProbeError;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::{watch, Semaphore};
use tokio_util::sync::CancellationToken;

/// LocalSend's IPv4 group. It must stay inside 224.0.0.0/24 (some Android devices receive
/// nothing else).
/// Ferry feature (in `ferry.features`) of a process that only looks up devices or sends (`ferry
/// devices`, `ferry send`): it announces and registers so that devices answer it, but it is no
/// device anyone can send to, so Ferry devices do not list it (LocalSend ones do, until their
/// next liveness check).
pub const FEATURE_LOOKUP: &str = "lookup";

/// Marks `info` as a lookup's ([`FEATURE_LOOKUP`]).
pub(crate) fn mark_lookup(info: &mut DeviceInfo) {
    let ext = info.ferry.get_or_insert_with(crate::protocol::FerryExt::current);
    if !ext.has(FEATURE_LOOKUP) {
        ext.features.push(FEATURE_LOOKUP.to_string());
    }
}

pub(crate) const MULTICAST_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 167);
/// LocalSend's IPv6 group (link-local scope).
pub(crate) const MULTICAST_V6: Ipv6Addr = Ipv6Addr::new(0xff12, 0, 0, 0, 0, 0, 0xfd3a, 0xe420);

/// When the bursts go out, after the start of the burst.
const BURST: [u64; 3] = [100, 500, 2000];
/// At most this many answers (HTTP registers) in flight.
const MAX_ANSWERS_IN_FLIGHT: usize = 8;
const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);
/// At most this many probes of a subnet scan in flight.
const SCAN_IN_FLIGHT: usize = 50;
/// Interfaces whose /24 a scan covers.
const SCAN_INTERFACES: usize = 3;
/// A device whose liveness check fails this many times in a row (without a refusal) is lost.
const REFRESH_FAILURES: u32 = 2;

/// How discovery runs.
#[derive(Clone)]
pub struct DiscoveryOptions {
    pub identity: Identity,
    /// Our DeviceInfo as announced: the port and protocol our server listens with.
    pub info: DeviceInfo,
    pub multicast_v4: Ipv4Addr,
    pub multicast_v6: Ipv6Addr,
    pub multicast_port: u16,
    /// Also announce and listen on IPv6 where an interface has it.
    pub ipv6: bool,
    pub interfaces: InterfaceFilter,
    /// Scan when multicast found nothing within `scan_after` of the start.
    pub auto_scan: bool,
    pub scan_after: Duration,
    /// The TCP port that scans and manual addresses without a port are probed on.
    pub scan_port: u16,
    /// Time limit of one scan probe.
    pub probe_timeout: Duration,
    /// Addresses the user gave, probed at start.
    pub manual: Vec<PeerAddr>,
    /// Favorites: a fingerprint and its last address, probed (pinned) at start.
    pub favorites: Vec<(String, PeerAddr)>,
    /// Devices not heard of for this long get a liveness check; `None` turns checks off.
    pub refresh_interval: Option<Duration>,
    /// How often the interface list is read for changes.
    pub watch_interval: Duration,
}

impl DiscoveryOptions {
    /// LocalSend's defaults: 224.0.0.167 and ff12::fd3a:e420 on port 53317, scans after 1 s,
    /// 500 ms probes; liveness checks every 10 s.
    pub fn new(identity: Identity, info: DeviceInfo) -> DiscoveryOptions {
        DiscoveryOptions {
            identity,
            info,
            multicast_v4: MULTICAST_V4,
            multicast_v6: MULTICAST_V6,
            multicast_port: DEFAULT_PORT,
            ipv6: true,
            interfaces: InterfaceFilter::default(),
            auto_scan: true,
            scan_after: Duration::from_secs(1),
            scan_port: DEFAULT_PORT,
            probe_timeout: Duration::from_millis(500),
            manual: Vec::new(),
            favorites: Vec::new(),
            refresh_interval: Some(Duration::from_secs(10)),
            watch_interval: Duration::from_secs(2),
        }
    }
}

struct McastSocket {
    iface: ChosenInterface,
    socket: Arc<UdpSocket>,
    group: SocketAddr,
    stop: CancellationToken,
}

struct Inner {
    opts: DiscoveryOptions,
    registry: Arc<DeviceRegistry>,
    announce_datagram: Vec<u8>,
    answer_datagram: Vec<u8>,
    sockets: Mutex<BTreeMap<ChosenInterface, Arc<McastSocket>>>,
    interfaces: watch::Sender<Vec<ChosenInterface>>,
    limiter: Mutex<AnswerLimiter>,
    answering: Arc<Semaphore>,
    scanning: tokio::sync::Mutex<()>,
    burst_generation: AtomicU64,
    stop: CancellationToken,
}

/// Running discovery. Dropping it stops it.
pub struct Discovery {
    inner: Arc<Inner>,
}

impl Drop for Discovery {
    fn drop(&mut self) {
        self.inner.stop.cancel();
    }
}

/// Starts discovery in the background: opens the multicast sockets, announces, probes manual
/// addresses and favorites, scans if multicast finds nothing, and keeps the list fresh.
/// Devices go into `registry`, which the server's register handler should share (as
/// [`crate::node::Node`] does).
pub fn start(opts: DiscoveryOptions, registry: Arc<DeviceRegistry>) -> Discovery {
    let inner = Arc::new(Inner {
        announce_datagram: multicast::datagram(&opts.info, true),
        answer_datagram: multicast::datagram(&opts.info, false),
        registry,
        sockets: Mutex::new(BTreeMap::new()),
        interfaces: watch::channel(Vec::new()).0,
        limiter: Mutex::new(AnswerLimiter::new(Duration::from_secs(1), 20, 1024)),
        answering: Arc::new(Semaphore::new(MAX_ANSWERS_IN_FLIGHT)),
        scanning: tokio::sync::Mutex::new(()),
        burst_generation: AtomicU64::new(0),
        stop: CancellationToken::new(),
        opts,
    });
    // Interfaces first, so that the caller can report them right away.
    sync_interfaces(&inner, &mut BTreeSet::new());
    tokio::spawn(watch_interfaces(inner.clone()));
    burst(&inner);
    for peer in inner.opts.manual.clone() {
        let inner = inner.clone();
        tokio::spawn(async move {
            if let Err(e) = probe_address(&inner, &peer, None, Source::Manual).await {
                tracing::info!("{peer}: {}", crate::display::escape(&e.to_string()));
            }
        });
    }
    for (fp, peer) in inner.opts.favorites.clone() {
        let inner = inner.clone();
        tokio::spawn(async move {
            if let Err(e) = probe_address(&inner, &peer, Some(&fp), Source::Favorite).await {
                tracing::info!("favorite {peer}: {}", crate::display::escape(&e.to_string()));
            }
        });
    }
    if inner.opts.auto_scan {
        let inner = inner.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = inner.stop.cancelled() => return,
                _ = tokio::time::sleep(inner.opts.scan_after) => {}
            }
            if inner.registry.is_empty() {
                tracing::info!("multicast found nothing; scanning the local network");
                scan_subnets(&inner).await;
            }
        });
    }
    if let Some(every) = inner.opts.refresh_interval {
        tokio::spawn(refresh(inner.clone(), every));
    }
    Discovery { inner }
}

impl Discovery {
    pub fn registry(&self) -> &Arc<DeviceRegistry> {
        &self.inner.registry
    }

    /// The interface addresses in use now.
    pub fn interfaces(&self) -> Vec<ChosenInterface> {
        self.inner.interfaces.borrow().clone()
    }

    /// Changes of the interface addresses in use.
    pub fn watch_interfaces(&self) -> watch::Receiver<Vec<ChosenInterface>> {
        self.inner.interfaces.subscribe()
    }

    /// Interfaces whose multicast socket is open.
    pub fn multicast_interfaces(&self) -> Vec<ChosenInterface> {
        self.inner.sockets.lock().unwrap().keys().cloned().collect()
    }

    /// Sends an announcement burst now.
    pub fn announce(&self) {
        burst(&self.inner);
    }

    /// A manual scan: announces, then probes every address of the /24 of up to three
    /// interfaces. Returns how many devices answered the probes.
    pub async fn scan(&self) -> usize {
        burst(&self.inner);
        scan_subnets(&self.inner).await
    }

    /// Probes one address (a device the user typed in). With `expected`, the device must
    /// prove that fingerprint.
    pub async fn probe(&self, peer: &PeerAddr, expected: Option<&str>) -> Result<Device> {
        probe_address(&self.inner, peer, expected, Source::Manual).await
    }

    /// Stops every task and closes the sockets.
    pub fn stop(&self) {
        self.inner.stop.cancel();
    }
}

/// Trusted devices with a saved address (favorites), to probe pinned at start.
pub(crate) fn favorites(trust: &crate::trust::TrustStore) -> Vec<(String, PeerAddr)> {
    trust
        .list()
        .into_iter()
        .filter_map(|d| {
            let peer = PeerAddr::parse(d.address.as_deref()?, Protocol::Https).ok()?;
            Some((d.fingerprint, peer))
        })
        .collect()
}

/// Opens sockets for new interfaces, closes those of vanished ones. Returns whether the set
/// of interfaces changed. `failed` remembers sockets that could not be opened (logged once).
fn sync_interfaces(inner: &Arc<Inner>, failed: &mut BTreeSet<ChosenInterface>) -> bool {
    let chosen: Vec<ChosenInterface> =
        inner.opts.interfaces.choose(&crate::net::interface_addrs()).into_iter().filter(|c| inner.opts.ipv6 || c.addr.is_ipv4()).collect();
    let changed = *inner.interfaces.borrow() != chosen;
    if changed {
        tracing::info!(
            "discovery interfaces: {}",
            if chosen.is_empty() {
                "none".to_string()
            } else {
                chosen.iter().map(|c| format!("{} {}", c.name, c.addr)).collect::<Vec<_>>().join(", ")
            }
        );
        inner.interfaces.send_replace(chosen.clone());
    }
    // One IPv4 socket per address, one IPv6 socket per interface.
    let mut wanted: Vec<ChosenInterface> = Vec::new();
    for c in chosen.iter().filter(|c| c.multicast) {
        if c.addr.is_ipv6() && wanted.iter().any(|w| w.addr.is_ipv6() && w.index == c.index) {
            continue;
        }
        wanted.push(c.clone());
    }
    let mut sockets = inner.sockets.lock().unwrap();
    sockets.retain(|k, s| {
        let keep = wanted.contains(k);
        if !keep {
            s.stop.cancel();
        }
        keep
    });
    failed.retain(|f| wanted.contains(f));
    for c in wanted {
        if sockets.contains_key(&c) {
            continue;
        }
        match multicast::open(&c, inner.opts.multicast_v4, inner.opts.multicast_v6, inner.opts.multicast_port) {
            Ok((socket, group)) => {
                failed.remove(&c);
                let s = Arc::new(McastSocket { iface: c.clone(), socket: Arc::new(socket), group, stop: inner.stop.child_token() });
                tokio::spawn(listen(inner.clone(), s.clone()));
                sockets.insert(c, s);
            }
            Err(e) => {
                if failed.insert(c.clone()) {
                    tracing::warn!("multicast on {} ({}) is unavailable: {e}", c.name, c.addr);
                }
            }
        }
    }
    changed
}

async fn watch_interfaces(inner: Arc<Inner>) {
    let mut failed = BTreeSet::new();
    loop {
        tokio::select! {
            _ = inner.stop.cancelled() => break,
            _ = tokio::time::sleep(inner.opts.watch_interval) => {}
        }
        if sync_interfaces(&inner, &mut failed) {
            burst(&inner);
        }
    }
    for s in inner.sockets.lock().unwrap().values() {
        s.stop.cancel();
    }
}

/// Starts an announcement burst; a newer burst replaces a running one.
fn burst(inner: &Arc<Inner>) {
    let generation = inner.burst_generation.fetch_add(1, Ordering::SeqCst) + 1;
    let inner = inner.clone();
    tokio::spawn(async move {
        let mut at = 0;
        for t in BURST {
            tokio::select! {
                _ = inner.stop.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_millis(t - at)) => {}
            }
            at = t;
            if inner.burst_generation.load(Ordering::SeqCst) != generation {
                return;
            }
            let sockets: Vec<Arc<McastSocket>> = inner.sockets.lock().unwrap().values().cloned().collect();
            for s in sockets {
                if let Err(e) = s.socket.send_to(&inner.announce_datagram, s.group).await {
                    tracing::debug!("announce on {}: {e}", s.iface.name);
                }
            }
        }
    });
}

async fn listen(inner: Arc<Inner>, s: Arc<McastSocket>) {
    let mut buf = vec![0u8; multicast::MAX_DATAGRAM + 1];
    loop {
        let (n, from) = tokio::select! {
            _ = s.stop.cancelled() => return,
            r = s.socket.recv_from(&mut buf) => match r {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!("multicast receive on {}: {e}", s.iface.name);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // A full buffer means the datagram was larger than we read: drop it.
        if n > multicast::MAX_DATAGRAM {
            continue;
        }
        let Some(heard) = multicast::parse(&buf[..n]) else { continue };
        if same_fingerprint(&heard.info.fingerprint, inner.opts.identity.fingerprint()) {
            continue;
        }
        let host = multicast::host_of(&from);
        let port = heard.info.port.unwrap_or(DEFAULT_PORT);
        let protocol = heard.info.protocol.unwrap_or(Protocol::Https);
        inner.registry.observe(Sighting {
            info: heard.info.clone(),
            host: host.clone(),
            ip: from.ip(),
            port,
            protocol,
            verified: false,
            source: Source::Multicast,
        });
        if !heard.announce || port == 0 {
            continue;
        }
        if !inner.limiter.lock().unwrap().allow(from.ip()) {
            continue;
        }
        let Ok(permit) = inner.answering.clone().try_acquire_owned() else { continue };
        let (inner, s) = (inner.clone(), s.clone());
        tokio::spawn(async move {
            let _permit = permit;
            answer(&inner, &s, heard.info, host, port, protocol).await;
        });
    }
}

/// Answers an announcement: register with the sender (pinned to its fingerprint over HTTPS);
/// if that fails, a UDP answer to the group.
async fn answer(inner: &Arc<Inner>, s: &McastSocket, info: DeviceInfo, host: String, port: u16, protocol: Protocol) {
    let peer = PeerAddr { host, port, protocol };
    let expected = (protocol == Protocol::Https).then_some(info.fingerprint.as_str());
    match probe::probe(&inner.opts.identity, &inner.opts.info, &peer, expected, ANSWER_TIMEOUT).await {
        Ok(remote) => {
            inner.registry.observe(Sighting::answered(remote, &peer, protocol, Source::Multicast));
        }
        Err(e) => {
            tracing::debug!("{peer}: register answer failed ({e:?}); answering by UDP");
            if let Err(e) = s.socket.send_to(&inner.answer_datagram, s.group).await {
                tracing::debug!("UDP answer on {}: {e}", s.iface.name);
            }
        }
    }
}

/// Probes one address (manual or favorite), trying the other protocol when the first does
/// not speak, and adds what answers.
async fn probe_address(inner: &Arc<Inner>, peer: &PeerAddr, expected: Option<&str>, source: Source) -> Result<Device> {
    let timeout = inner.opts.probe_timeout.max(Duration::from_secs(2));
    probe_and_list(&inner.opts.identity, &inner.opts.info, &inner.registry, peer, expected, source, timeout).await
}

/// Probes `peer` (the other protocol too, when the first does not speak) and puts the device
/// that answers into `registry`. With `expected`, the device must prove that fingerprint.
pub(crate) async fn probe_and_list(
    identity: &Identity,
    ours: &DeviceInfo,
    registry: &DeviceRegistry,
    peer: &PeerAddr,
    expected: Option<&str>,
    source: Source,
    timeout: Duration,
) -> Result<Device> {
    let (remote, protocol) = probe::probe_any(identity, ours, peer, expected, timeout).await.map_err(|e| e.into_error(peer))?;
    if let Some(fp) = expected {
        if !remote.verified {
            // Plain HTTP proves nothing: a claimed fingerprint never stands for a pinned one.
            return Err(crate::client::pinned_over_http(&PeerAddr { protocol, ..peer.clone() }, fp));
        }
        if !same_fingerprint(fp, &remote.fingerprint) {
            return Err(Error::new(
                crate::ErrorKind::FingerprintMismatch,
                format!("{peer}: another device answered (fingerprint {})", crate::identity::short_fingerprint(&remote.fingerprint)),
            ));
        }
    }
    if same_fingerprint(&remote.fingerprint, identity.fingerprint()) {
        return Err(Error::invalid(format!("{peer} is this device")));
    }
    if remote.info.ferry_has(FEATURE_LOOKUP) {
        return Err(Error::invalid(format!("{peer} only looks up devices (`ferry devices` or a send by name): it takes no transfers")));
    }
    let fingerprint = remote.fingerprint.clone();
    registry.observe(Sighting::answered(remote, peer, protocol, source));
    registry.get(&fingerprint).ok_or_else(|| Error::new(crate::ErrorKind::Internal, "the device list is full"))
}

/// The hosts to scan: the IPv4 networks of up to three interfaces, each at its real prefix, without our own addresses
/// and without the network and broadcast addresses. A network larger than a /22 is cut to the /22 around our address
/// (at most 1,022 hosts each), and the /24 around our address comes first. Link-local (169.254/16) is never scanned.
fn scan_targets(chosen: &[ChosenInterface]) -> Vec<Ipv4Addr> {
    /// The widest network scanned around an address (a /22: four /24s).
    const SCAN_WIDEST_PREFIX: u8 = 22;
    let mask = |prefix: u8| if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix.min(32))) };
    let v4: Vec<(Ipv4Addr, u8)> =
        chosen.iter().filter_map(|c| if let IpAddr::V4(a) = c.addr { Some((a, c.prefix.min(32))) } else { None }).collect();
    let own: Vec<Ipv4Addr> = v4.iter().map(|(a, _)| *a).collect();
    // (our address, its real network prefix, the scanned range), one per distinct range.
    let mut nets: Vec<(u32, u8, u32, u32)> = Vec::new();
    for &(a, prefix) in &v4 {
        if a.is_link_local() || a.is_unspecified() || a.is_loopback() {
            continue;
        }
        let ip = u32::from(a);
        let scanned = prefix.max(SCAN_WIDEST_PREFIX);
        let (first, last) = (ip & mask(scanned), ip | !mask(scanned));
        if !nets.iter().any(|n| (n.2, n.3) == (first, last)) && nets.len() < SCAN_INTERFACES {
            nets.push((ip, prefix, first, last));
        }
    }
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (ip, prefix, first, last) in nets {
        let (network, broadcast) = (ip & mask(prefix), ip | !mask(prefix));
        // /31 (RFC 3021) has no network or broadcast address; /32 has no other host.
        let host = |h: u32| prefix >= 31 || (h != network && h != broadcast);
        // The /24 around our address first (or the whole network when it is smaller), then the rest of the range.
        let near = (first.max(ip & mask(24)), last.min(ip | !mask(24)));
        let rest = (first..=last).filter(|h| !(near.0..=near.1).contains(h));
        for h in (near.0..=near.1).chain(rest) {
            let addr = Ipv4Addr::from(h);
            if host(h) && !own.contains(&addr) && seen.insert(h) {
                out.push(addr);
            }
        }
    }
    out
}

async fn scan_subnets(inner: &Arc<Inner>) -> usize {
    // One scan at a time; a scan asked for while one runs waits for it and returns nothing new.
    let Ok(_guard) = inner.scanning.try_lock() else {
        let _ = inner.scanning.lock().await;
        return 0;
    };
    let targets = scan_targets(&inner.interfaces.borrow());
    let first = inner.opts.info.protocol.unwrap_or(Protocol::Https);
    let port = inner.opts.scan_port;
    let scan = futures_util::stream::iter(targets)
        .map(|ip| {
            let inner = inner.clone();
            async move {
                let peer = PeerAddr { host: ip.to_string(), port, protocol: first };
                let (remote, protocol) =
                    probe::probe_any(&inner.opts.identity, &inner.opts.info, &peer, None, inner.opts.probe_timeout).await.ok()?;
                inner.registry.observe(Sighting::answered(remote, &peer, protocol, Source::Scan));
                Some(())
            }
        })
        .buffer_unordered(SCAN_IN_FLIGHT)
        .filter_map(|r| async move { r })
        .count();
    tokio::select! {
        n = scan => n,
        _ = inner.stop.cancelled() => 0,
    }
}

/// Liveness checks: devices not heard of for `every` are asked again (pinned); one that
/// refuses the connection, or fails twice, is dropped.
async fn refresh(inner: Arc<Inner>, every: Duration) {
    let mut failures: HashMap<String, u32> = HashMap::new();
    loop {
        tokio::select! {
            _ = inner.stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let stale = inner.registry.older_than(every);
        failures.retain(|fp, _| inner.registry.get(fp).is_some());
        let results: Vec<(Device, std::result::Result<(), bool>)> = futures_util::stream::iter(stale)
            .map(|d| {
                let inner = inner.clone();
                async move {
                    let r = check(&inner, &d).await;
                    (d, r)
                }
            })
            .buffer_unordered(8)
            .collect()
            .await;
        for (d, r) in results {
            match r {
                Ok(()) => {
                    failures.remove(&d.fingerprint);
                }
                Err(refused) => {
                    let n = failures.entry(d.fingerprint.clone()).or_insert(0);
                    *n += 1;
                    if refused || *n >= REFRESH_FAILURES {
                        tracing::info!("{} ({}) stopped answering", crate::display::escape(&d.alias), d.short_fingerprint());
                        failures.remove(&d.fingerprint);
                        inner.registry.remove(&d.fingerprint);
                    }
                }
            }
        }
    }
}

/// Checks one device on each of its addresses. `Err(true)` when every address refused.
async fn check(inner: &Arc<Inner>, d: &Device) -> std::result::Result<(), bool> {
    let expected = (d.protocol == Protocol::Https).then_some(d.fingerprint.as_str());
    let mut all_refused = true;
    for peer in d.peers() {
        match probe::probe(&inner.opts.identity, &inner.opts.info, &peer, expected, ANSWER_TIMEOUT).await {
            Ok(remote) if same_fingerprint(&remote.fingerprint, &d.fingerprint) => {
                // A fresh sighting also marks the device as just heard of.
                inner.registry.observe(Sighting::answered(remote, &peer, d.protocol, Source::Refresh));
                return Ok(());
            }
            Ok(_) => all_refused = false,
            Err(ProbeError::Refused) => {}
            Err(_) => all_refused = false,
        }
    }
    Err(all_refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_targets_cover_up_to_three_slash_24s() {
        let c = |name: &str, addr: &str| ChosenInterface {
            name: name.into(),
            addr: addr.parse().unwrap(),
            prefix: 24,
            index: 1,
            multicast: true,
        };
        let t = scan_targets(&[
            c("a", "10.0.0.5"),
            c("a", "fe80::1"),
            c("b", "10.0.0.9"),
            c("c", "169.254.3.3"),
            c("d", "192.168.1.2"),
            c("e", "172.16.0.1"),
            c("f", "172.17.0.1"),
        ]);
        assert_eq!(t.len(), 254 * 3 - 4);
        assert!(!t.contains(&"10.0.0.5".parse().unwrap()) && !t.contains(&"10.0.0.9".parse().unwrap()));
        assert!(t.contains(&"10.0.0.1".parse().unwrap()) && t.contains(&"172.16.0.254".parse().unwrap()));
        assert!(!t.iter().any(|a| a.octets()[..3] == [172, 17, 0] || a.octets()[3] == 0 || a.octets()[3] == 255));
    }

    /// The scan follows the interface's real prefix: a small network is scanned whole and nothing beyond it, a large
    /// one is cut to the /22 around our address with our own /24 first, and /31 and /32 behave as RFC 3021 says.
    #[test]
    fn scan_targets_follow_the_real_prefix() {
        let c =
            |addr: &str, prefix: u8| ChosenInterface { name: "a".into(), addr: addr.parse().unwrap(), prefix, index: 1, multicast: true };
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        // A /28: 14 hosts minus ours, not the 253 of a /24.
        let t = scan_targets(&[c("192.168.7.20", 28)]);
        assert_eq!(t.len(), 13, "{t:?}");
        assert_eq!((t[0], t[12]), (ip("192.168.7.17"), ip("192.168.7.30")));
        // A /16 (a campus or home mesh): the /22 around us, 1,022 hosts, ours first, nothing outside the /22.
        let t = scan_targets(&[c("10.20.130.7", 16)]);
        assert_eq!(t.len(), 1024 - 1);
        assert!(t[..253].iter().all(|a| a.octets()[..3] == [10, 20, 130]), "our own /24 comes first");
        assert!(t.iter().all(|a| a.octets()[..2] == [10, 20] && (128..=131).contains(&a.octets()[2])));
        assert!(t.contains(&ip("10.20.128.0")) && t.contains(&ip("10.20.131.255")), "inside a /16 these are hosts");
        // A /23: both /24s, without the network and broadcast addresses of the /23.
        let t = scan_targets(&[c("10.1.3.9", 23)]);
        assert_eq!(t.len(), 510 - 1);
        assert!(t[..254].iter().all(|a| a.octets()[2] == 3) && !t.contains(&ip("10.1.2.0")) && !t.contains(&ip("10.1.3.255")));
        // A /31 has two hosts (the other is the peer); a /32 has no other host.
        assert_eq!(scan_targets(&[c("10.9.9.0", 31)]), [ip("10.9.9.1")]);
        assert!(scan_targets(&[c("10.9.9.9", 32)]).is_empty());
        // Never more than three networks, and the bound holds for huge prefixes too.
        let t = scan_targets(&[c("10.0.0.1", 8), c("172.16.0.1", 12), c("192.168.0.1", 16), c("100.64.0.1", 10)]);
        assert_eq!(t.len(), 3 * 1022, "each /22 starts at its network address, which is not scanned");
    }
}
