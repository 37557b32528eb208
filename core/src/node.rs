//! A whole Ferry device in one object: the server (receiving), discovery and the device list,
//! sending, trust, and how a target is reached ([`Node::target`], [`resolve_device`]). The CLI
//! and the apps (through the FFI crate) assemble devices only through it ([`Role`]). It reports
//! through one listener and takes decisions back by session id, so the answer to a request may
//! come much later from a UI.

use crate::discovery::{self, Device, DeviceRegistry, Discovery, DiscoveryEvent, DiscoveryOptions, InterfaceFilter, Sighting, Source};
use crate::error::{Error, ErrorKind, Result};
use crate::identity::{same_fingerprint, short_fingerprint, verification_code, Identity, VerificationCode};
use crate::protocol::PeerAddr;
use crate::protocol::{DeviceInfo, DeviceType, FileDto, Protocol, DEFAULT_PORT};
use crate::send::{self, Selection, SendObserver, SendOptions, SendReport};
use crate::server::{
    self, Decision, DecisionReply, IncomingRequest, ReceiveEvent, ReceiveHandler, ReceivePolicy, SenderInfo, ServerHandle, ServerOptions,
};
use crate::storage::ReceiveDir;
use crate::trust::TrustStore;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// At most this many requests wait for an answer at once (the server takes one session at a
/// time, so more than one only happens with text messages racing).
const MAX_PENDING: usize = 16;

/// What a node is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A device others send to: the server takes requests (answered through the listener) and,
    /// with discovery on, announces and answers announcements.
    Receiver,
    /// Only finds devices (a device list, a send to a name): the server is there only so that
    /// devices answering our announcement can register, it declines every request and text
    /// message without telling the listener; it takes `port` when free, else any port. It
    /// announces and answers like a receiver (LocalSend devices only answer an announcement,
    /// and only an answer proves a device by TLS), marked as a lookup
    /// ([`discovery::FEATURE_LOOKUP`]): Ferry devices do not list it; LocalSend devices list it
    /// while it runs and drop it at their next liveness check once it stopped.
    Lookup,
    /// Only sends: no server and no discovery (a send to an address).
    Sender,
}

/// How a node runs. [`NodeConfig::new`] gives the defaults.
#[derive(Clone)]
pub struct NodeConfig {
    pub identity: Identity,
    pub trust: Arc<TrustStore>,
    pub alias: String,
    pub device_type: DeviceType,
    pub device_model: String,
    pub role: Role,
    /// TCP port of the server (0: any free port).
    pub port: u16,
    /// Address to listen on (default: every address). A node bound to one address announces
    /// only there; one bound to loopback cannot be reached from other devices, so it runs
    /// without discovery.
    pub bind: Option<IpAddr>,
    /// HTTPS (default) or plain HTTP.
    pub https: bool,
    pub receive_dir: PathBuf,
    pub pin: Option<String>,
    pub policy: ReceivePolicy,
    /// Check the checksums senders give for received files (default on).
    pub verify_checksums: bool,
    /// Leave out of what is accepted the files the receive folder already has (same path and
    /// size, and the same checksum or modified time); default off.
    pub skip_existing: bool,
    /// Announce, answer and scan; with `false` only addresses given to `add_address` are found.
    pub discovery: bool,
    pub interfaces: InterfaceFilter,
    /// Multicast UDP port (LocalSend's 53317 by default).
    pub multicast_port: u16,
    /// Addresses (`host[:port]`) to probe at start, as the user gave them.
    pub manual: Vec<String>,
    /// Scan the local network when multicast finds nothing.
    pub auto_scan: bool,
    /// TCP port that scans probe.
    pub scan_port: u16,
    /// Also use IPv6 for discovery.
    pub ipv6: bool,
    /// Devices not heard of for this long get a liveness check; `None` turns checks off.
    pub refresh_interval: Option<Duration>,
    /// Announce `download: true` (a node started to share via link, see [`Node::open_share`]).
    pub download: bool,
}

impl NodeConfig {
    /// A receiver on LocalSend's port with HTTPS, discovery on, asking about every request.
    pub fn new(identity: Identity, trust: Arc<TrustStore>, alias: impl Into<String>, receive_dir: impl Into<PathBuf>) -> NodeConfig {
        NodeConfig {
            identity,
            trust,
            alias: alias.into(),
            device_type: DeviceType::Desktop,
            device_model: String::new(),
            role: Role::Receiver,
            port: DEFAULT_PORT,
            bind: None,
            https: true,
            receive_dir: receive_dir.into(),
            pin: None,
            policy: ReceivePolicy::Ask,
            verify_checksums: true,
            skip_existing: false,
            discovery: true,
            interfaces: InterfaceFilter::default(),
            multicast_port: DEFAULT_PORT,
            manual: Vec::new(),
            auto_scan: true,
            scan_port: DEFAULT_PORT,
            ipv6: true,
            refresh_interval: Some(Duration::from_secs(10)),
            download: false,
        }
    }

    fn protocol(&self) -> Protocol {
        if self.https {
            Protocol::Https
        } else {
            Protocol::Http
        }
    }
}

/// What a node tells its app.
pub trait NodeListener: Send + Sync + 'static {
    /// A device was found, changed, or went away.
    fn on_device(&self, _event: DiscoveryEvent) {}
    /// Someone wants to send files: answer with [`Node::answer`] (now or later).
    fn on_request(&self, _request: IncomingRequest) {}
    /// A text message arrived (it was shown; nothing to answer).
    fn on_text(&self, _sender: SenderInfo, _text: String) {}
    /// Progress and outcome of receiving.
    fn on_receive(&self, _event: ReceiveEvent) {}
    /// See [`ReceiveHandler::open_destination`]: an app's own file for an accepted file, or
    /// `None` for the receive directory.
    fn open_destination(&self, _session_id: &str, _file: &FileDto) -> Result<Option<std::fs::File>> {
        Ok(None)
    }
    /// See [`ReceiveHandler::destination_closed`].
    fn destination_closed(&self, _session_id: &str, _file_id: &str, _complete: bool) {}
}

/// A listener that hears nothing (a node that only looks up or sends).
impl NodeListener for () {}

/// Where to send: a device from the list or an address (see [`Node::resolve`]).
#[derive(Debug, Clone)]
pub enum Target {
    Device {
        fingerprint: String,
    },
    /// A device from the list that the user named together with its fingerprint: reached only
    /// pinned to it, whatever a sighting says.
    PinnedDevice {
        fingerprint: String,
    },
    Address {
        peer: PeerAddr,
        expected_fingerprint: Option<String>,
    },
}

/// Where a send goes and how: the address, and the fingerprint its certificate must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub peer: PeerAddr,
    /// Pinned during the TLS handshake; always set for a pinned receiver (which is only ever
    /// reached over HTTPS).
    pub expected_fingerprint: Option<String>,
}

/// Why a device is pinned (reached only over HTTPS, its certificate checked), if it is.
fn pinned_because(device: &Device, expected: Option<&str>, trust: &TrustStore) -> Option<&'static str> {
    if expected.is_some() {
        Some("pinned to the fingerprint given")
    } else if trust.is_trusted(&device.fingerprint) {
        Some("a trusted device")
    } else if device.verified {
        Some("verified by its certificate")
    } else {
        None
    }
}

/// True when `device` may only be reached over HTTPS with its certificate pinned: a
/// fingerprint was given for it (`expected`), it is trusted, or TLS proved its identity.
pub(crate) fn is_pinned(device: &Device, expected: Option<&str>, trust: &TrustStore) -> bool {
    pinned_because(device, expected, trust).is_some()
}

/// The one rule for reaching a device from the list. A pinned device (see [`is_pinned`]) is
/// reached only over HTTPS with its certificate pinned: a sighting that says it speaks plain
/// HTTP (which anyone can send: announcements and registers are not authenticated) is refused
/// before anything is sent, with [`ErrorKind::FingerprintMismatch`]. An unpinned device that
/// says HTTP is reached over HTTP, as its address would be; one that says HTTPS is pinned to
/// the fingerprint it claims.
pub(crate) fn resolve_device(device: &Device, expected: Option<&str>, trust: &TrustStore) -> Result<Route> {
    if let Some(fp) = expected {
        if !same_fingerprint(fp, &device.fingerprint) {
            return Err(Error::new(
                ErrorKind::FingerprintMismatch,
                format!("{} has fingerprint {}, not the one given; refusing to send", device.alias, short_fingerprint(&device.fingerprint)),
            ));
        }
    }
    let peer = device.peer();
    match (pinned_because(device, expected, trust), peer.protocol) {
        (Some(why), Protocol::Http) => Err(Error::new(
            ErrorKind::FingerprintMismatch,
            format!(
                "refusing to send: {} ({}) is {why}, but a sighting says it speaks plain HTTP ({}); a pinned device is reached only over HTTPS with its certificate checked (the sighting may be forged)",
                device.alias,
                short_fingerprint(&device.fingerprint),
                peer
            ),
        )),
        (_, Protocol::Https) => Ok(Route { peer, expected_fingerprint: Some(device.fingerprint.clone()) }),
        (None, Protocol::Http) => Ok(Route { peer, expected_fingerprint: None }),
    }
}

/// The same rule for an address: with a fingerprint it is reached only over HTTPS, so plain
/// HTTP together with a fingerprint is refused before anything is sent.
pub(crate) fn resolve_address(peer: PeerAddr, expected: Option<String>) -> Result<Route> {
    match &expected {
        Some(fp) if peer.protocol == Protocol::Http => Err(crate::client::pinned_over_http(&peer, fp)),
        _ => Ok(Route { peer, expected_fingerprint: expected }),
    }
}

/// Discovery for a node announcing `info`: `None` when bound to loopback (nobody else could
/// reach it); a node bound to one address uses only that address.
fn discovery_options(cfg: &NodeConfig, info: &DeviceInfo, manual: Vec<PeerAddr>) -> Option<DiscoveryOptions> {
    let mut o = DiscoveryOptions::new(cfg.identity.clone(), info.clone());
    o.interfaces = cfg.interfaces.clone();
    match cfg.bind {
        Some(ip) if ip.is_loopback() => return None,
        Some(ip) if !ip.is_unspecified() => o.interfaces = cfg.interfaces.only(ip),
        _ => {}
    }
    o.multicast_port = cfg.multicast_port;
    o.scan_port = cfg.scan_port;
    o.auto_scan = cfg.auto_scan;
    o.ipv6 = cfg.ipv6;
    o.refresh_interval = cfg.refresh_interval.map(|d| d.max(Duration::from_secs(1)));
    o.manual = manual;
    o.favorites = discovery::favorites(&cfg.trust);
    Some(o)
}

/// True when `to` names an address (an IP literal, `localhost`, or anything with a port)
/// rather than a device.
pub fn is_address(to: &str) -> bool {
    let t = to.trim();
    if t.parse::<IpAddr>().is_ok() || t.starts_with('[') || t.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match t.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok(),
        None => false,
    }
}

struct Handler {
    /// A lookup's server: every request and text message is declined, the listener not told.
    lookup: bool,
    registry: Arc<DeviceRegistry>,
    pending: Arc<Mutex<HashMap<String, DecisionReply>>>,
    listener: Arc<dyn NodeListener>,
}

impl ReceiveHandler for Handler {
    fn on_request(&self, request: IncomingRequest, reply: DecisionReply) {
        if self.lookup {
            reply.send(Decision::Decline);
            return;
        }
        {
            let mut pending = self.pending.lock().unwrap();
            if pending.len() >= MAX_PENDING {
                reply.send(Decision::Decline);
                return;
            }
            pending.insert(request.session_id.clone(), reply);
        }
        self.listener.on_request(request);
    }
    fn on_text(&self, sender: &SenderInfo, text: &str) {
        if !self.lookup {
            self.listener.on_text(sender.clone(), text.to_string());
        }
    }
    fn on_event(&self, event: ReceiveEvent) {
        match &event {
            ReceiveEvent::SessionFinished { session_id, .. } => {
                self.pending.lock().unwrap().remove(session_id);
            }
            ReceiveEvent::RequestClosed { session_id } => {
                // Declined, or withdrawn by its sender: nothing left to answer.
                self.pending.lock().unwrap().remove(session_id);
            }
            _ => {}
        }
        if !self.lookup {
            self.listener.on_receive(event);
        }
    }
    fn on_register(&self, device: &DeviceInfo, verified: bool, from: SocketAddr) {
        self.registry.observe(Sighting::register(device, verified, from));
    }
    fn open_destination(&self, session_id: &str, file: &FileDto) -> Result<Option<std::fs::File>> {
        self.listener.open_destination(session_id, file)
    }
    fn destination_closed(&self, session_id: &str, file_id: &str, complete: bool) {
        self.listener.destination_closed(session_id, file_id, complete)
    }
}

/// A running node. Stops on [`Node::stop`] or when dropped.
pub struct Node {
    cfg: NodeConfig,
    info: DeviceInfo,
    /// `None` for a [`Role::Sender`].
    server: Option<ServerHandle>,
    receive_root: PathBuf,
    discovery: Option<Discovery>,
    registry: Arc<DeviceRegistry>,
    pending: Arc<Mutex<HashMap<String, DecisionReply>>>,
    started: std::time::Instant,
    stop: CancellationToken,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Node {
    /// Starts the server and (if enabled) discovery. Must run inside a tokio runtime.
    pub async fn start(cfg: NodeConfig, listener: Arc<dyn NodeListener>) -> Result<Node> {
        let started = std::time::Instant::now();
        if cfg.alias.trim().is_empty() {
            return Err(Error::invalid("the alias must not be empty"));
        }
        if cfg.pin.as_deref() == Some("") {
            return Err(Error::invalid("the PIN must not be empty"));
        }
        let protocol = cfg.protocol();
        let manual = cfg.manual.iter().map(|p| PeerAddr::parse(p, protocol)).collect::<Result<Vec<_>>>()?;
        let fp = cfg.identity.fingerprint().to_string();
        let mut info = crate::protocol::device_info(cfg.alias.trim(), cfg.device_type, &cfg.device_model, &fp, cfg.port, protocol);
        info.download = cfg.download;
        if cfg.role != Role::Receiver {
            discovery::mark_lookup(&mut info);
        }
        let registry = Arc::new(DeviceRegistry::new(&fp));
        let pending = Arc::new(Mutex::new(HashMap::new()));
        let lookup = cfg.role == Role::Lookup;
        let handler = Arc::new(Handler { lookup, registry: registry.clone(), pending: pending.clone(), listener: listener.clone() });
        // Only a receiver takes files: a sender's or a lookup's folder (the CLI gives them the system's temporary
        // folder) is not walked for what earlier receivers left, which took a send 0.2 s and more with a full /tmp.
        let receive_dir = match cfg.role {
            Role::Receiver => ReceiveDir::new(&cfg.receive_dir)?,
            Role::Lookup | Role::Sender => ReceiveDir::unswept(&cfg.receive_dir)?,
        }
        .with_skip_existing(cfg.skip_existing);
        let receive_root = receive_dir.root().to_path_buf();
        let server = match cfg.role {
            Role::Sender => None,
            role => {
                let mut opts = ServerOptions {
                    identity: cfg.identity.clone(),
                    info: info.clone(),
                    bind: SocketAddr::new(cfg.bind.unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED)), cfg.port),
                    https: cfg.https,
                    receive_dir,
                    pin: if lookup { None } else { cfg.pin.clone() },
                    policy: if lookup { ReceivePolicy::DeclineAll } else { cfg.policy },
                    trust: cfg.trust.clone(),
                    verify_checksums: cfg.verify_checksums,
                };
                let started = server::start(opts.clone(), handler.clone()).await;
                Some(match started {
                    // A lookup takes the usual port when it is free (so that what devices learn
                    // stays true for a receiver started later), else any port.
                    Err(e) if role == Role::Lookup && cfg.port != 0 => {
                        tracing::debug!("port {} is taken ({e}); listening on any port", cfg.port);
                        opts.bind.set_port(0);
                        server::start(opts, handler).await?
                    }
                    r => r?,
                })
            }
        };
        if let Some(s) = &server {
            info.port = Some(s.local_addr().port());
        }
        let stop = CancellationToken::new();
        // Device events go to the listener in order, from one task.
        let mut events = registry.subscribe();
        let (l, s) = (listener.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = s.cancelled() => break,
                    e = events.recv() => match e {
                        Ok(e) => l.on_device(e),
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(_) => break,
                    },
                }
            }
        });
        let discovery = (cfg.discovery && server.is_some())
            .then(|| discovery_options(&cfg, &info, manual))
            .flatten()
            .map(|o| discovery::start(o, registry.clone()));
        Ok(Node { cfg, info, server, receive_root, discovery, registry, pending, started, stop })
    }

    /// Opens a share of `paths` (files and folders) for browsers and LocalSend apps to download
    /// (see [`crate::share`]), closing any open one. Returns what is shared.
    pub fn open_share(
        &self,
        paths: &[PathBuf],
        opts: crate::share::ShareOptions,
        listener: Arc<dyn crate::share::ShareListener>,
    ) -> Result<crate::share::ShareList> {
        let server = self.server.as_ref().ok_or_else(|| Error::invalid("this node has no server"))?;
        let list = crate::share::ShareList::collect(paths)?;
        server.open_share(list.clone(), opts, listener)?;
        Ok(list)
    }

    /// [`Node::open_share`] of a list made by the caller (with files the app opened, say).
    pub fn open_share_list(
        &self,
        list: crate::share::ShareList,
        opts: crate::share::ShareOptions,
        listener: Arc<dyn crate::share::ShareListener>,
    ) -> Result<()> {
        if list.files.is_empty() && list.folders.is_empty() {
            return Err(Error::invalid("nothing to share"));
        }
        let server = self.server.as_ref().ok_or_else(|| Error::invalid("this node has no server"))?;
        server.open_share(list, opts, listener)
    }

    /// Closes the open share; returns whether one was open.
    pub fn close_share(&self) -> bool {
        self.server.as_ref().is_some_and(|s| s.close_share())
    }

    /// Serves the receive page for browsers at `/` (while no share is open).
    pub fn set_receive_page(&self, on: bool) -> Result<()> {
        let server = self.server.as_ref().ok_or_else(|| Error::invalid("this node has no server"))?;
        server.set_receive_page(on);
        Ok(())
    }

    /// The links a browser opens to reach this node's pages, one per address.
    pub fn links(&self) -> Vec<String> {
        crate::share::links(self.cfg.bind, self.port(), self.cfg.https)
    }

    pub fn fingerprint(&self) -> &str {
        self.cfg.identity.fingerprint()
    }

    /// The port the server listens on (a [`Role::Sender`]: the configured port).
    pub fn port(&self) -> u16 {
        self.server.as_ref().map_or(self.cfg.port, |s| s.local_addr().port())
    }

    /// The folder received files go to.
    pub fn receive_dir(&self) -> &std::path::Path {
        &self.receive_root
    }

    /// True while a session is pending or running.
    pub fn busy(&self) -> bool {
        self.server.as_ref().is_some_and(|s| s.busy())
    }

    /// Changes of the interface addresses discovery uses (`None` with discovery off).
    pub fn watch_interfaces(&self) -> Option<tokio::sync::watch::Receiver<Vec<discovery::ChosenInterface>>> {
        self.discovery.as_ref().map(|d| d.watch_interfaces())
    }

    /// The device with this fingerprint, if listed.
    pub fn device(&self, fingerprint: &str) -> Option<Device> {
        self.registry.get(fingerprint)
    }

    /// True while discovery runs (it is off when configured off, for a node bound to loopback,
    /// and for a [`Role::Sender`]).
    pub fn discovering(&self) -> bool {
        self.discovery.is_some()
    }

    /// Our DeviceInfo as others see it.
    pub fn info(&self) -> &DeviceInfo {
        &self.info
    }

    pub fn devices(&self) -> Vec<Device> {
        self.registry.list()
    }

    pub fn registry(&self) -> &Arc<DeviceRegistry> {
        &self.registry
    }

    /// The interface addresses discovery uses (empty with discovery off).
    pub fn interfaces(&self) -> Vec<discovery::ChosenInterface> {
        self.discovery.as_ref().map(|d| d.interfaces()).unwrap_or_default()
    }

    /// Announces and scans the local network; returns how many devices answered the scan.
    pub async fn scan(&self) -> Result<usize> {
        match &self.discovery {
            Some(d) => Ok(d.scan().await),
            None => Err(Error::invalid("discovery is off")),
        }
    }

    /// Looks for a device at `address` (`host[:port]`), trying HTTPS then HTTP, and lists it.
    pub async fn add_address(&self, address: &str) -> Result<Device> {
        let peer = PeerAddr::parse(address, if self.cfg.https { Protocol::Https } else { Protocol::Http })?;
        discovery::probe_and_list(&self.cfg.identity, &self.info, &self.registry, &peer, None, Source::Manual, Duration::from_secs(3)).await
    }

    /// Answers a pending request. Unknown (or already answered) session ids are an error.
    pub fn answer(&self, session_id: &str, decision: Decision) -> Result<()> {
        let reply = self.pending.lock().unwrap().remove(session_id);
        match reply {
            Some(r) if !r.is_closed() => {
                r.send(decision);
                Ok(())
            }
            _ => Err(Error::invalid(format!("no request {session_id} is waiting for an answer"))),
        }
    }

    /// Cancels the session being received (pending or active). Returns whether there was one.
    pub fn cancel_receive(&self) -> bool {
        self.server.as_ref().is_some_and(|s| s.cancel_session())
    }

    pub fn trust(&self, fingerprint: &str, alias: Option<String>) -> Result<bool> {
        self.cfg.trust.add(fingerprint, alias)
    }

    pub fn untrust(&self, fingerprint: &str) -> Result<bool> {
        self.cfg.trust.remove(fingerprint)
    }

    pub fn is_trusted(&self, fingerprint: &str) -> bool {
        self.cfg.trust.is_trusted(fingerprint)
    }

    pub fn trusted_devices(&self) -> Vec<crate::trust::TrustedDevice> {
        self.cfg.trust.list()
    }

    /// Saves (or with `None` forgets) the last address of a trusted device, a favorite: probed
    /// pinned to its fingerprint at start and by [`Node::probe_favorite`]. False when the device
    /// is not trusted.
    pub fn set_address(&self, fingerprint: &str, address: Option<String>) -> Result<bool> {
        if let Some(a) = &address {
            PeerAddr::parse(a, Protocol::Https)?;
        }
        self.cfg.trust.set_address(fingerprint, address)
    }

    /// Probes a trusted device's saved address ([`Node::set_address`]), pinned to its
    /// fingerprint (see [`Node::probe_pinned`]), and lists it.
    pub async fn probe_favorite(&self, fingerprint: &str) -> Result<Device> {
        let d = self.cfg.trust.list().into_iter().find(|d| same_fingerprint(&d.fingerprint, fingerprint));
        let d = d.ok_or_else(|| Error::invalid(format!("not trusted: {fingerprint}")))?;
        let address = d.address.ok_or_else(|| Error::invalid(format!("no address saved for {}", short_fingerprint(&d.fingerprint))))?;
        self.probe_pinned(&address, &d.fingerprint).await
    }

    /// Probes `address` (`host[:port]`, a favorite's last address) for the device with
    /// `fingerprint` and lists it: the device must prove that fingerprint over HTTPS; another
    /// device at that address, or one that only speaks plain HTTP, is refused with
    /// [`ErrorKind::FingerprintMismatch`] and not listed.
    pub async fn probe_pinned(&self, address: &str, fingerprint: &str) -> Result<Device> {
        let fp = crate::identity::normalize_fingerprint(fingerprint)?;
        let peer = PeerAddr::parse(address, Protocol::Https)?;
        discovery::probe_and_list(
            &self.cfg.identity,
            &self.info,
            &self.registry,
            &peer,
            Some(&fp),
            Source::Favorite,
            Duration::from_secs(3),
        )
        .await
    }

    /// This node's pairing code: its fingerprint, alias, port and protocol, and the addresses it
    /// is reached at (the bound address, or every interface's but loopback and IPv6 link-local).
    pub fn pairing_code(&self) -> Result<crate::pairing::PairingCode> {
        let addresses = pairing_addresses(self.cfg.bind);
        crate::pairing::PairingCode::for_node(self.fingerprint(), &self.info.alias, self.port(), self.cfg.protocol(), addresses)
    }

    /// Pairs with the device a [`PairingCode`](crate::pairing::PairingCode) describes: probes its
    /// addresses in order over HTTPS pinned to its fingerprint (never plain HTTP, whatever the code
    /// says; see [`Node::probe_pinned`]) and, at the first that proves it, trusts the device (with
    /// the alias its verified answer gave) and saves that address. Nothing is trusted when no
    /// address proves the fingerprint: [`ErrorKind::FingerprintMismatch`] when another device
    /// answered, else the last error (e.g. [`ErrorKind::Network`]).
    pub async fn pair(&self, code: &crate::pairing::PairingCode) -> Result<Device> {
        if same_fingerprint(&code.fingerprint, self.fingerprint()) {
            return Err(Error::invalid("that pairing code is this device's own"));
        }
        let mut last: Option<Error> = None;
        for address in code.peer_addresses() {
            match self.probe_pinned(&address, &code.fingerprint).await {
                Ok(d) => {
                    self.cfg.trust.add(&code.fingerprint, Some(d.alias.clone()))?;
                    self.cfg.trust.set_address(&code.fingerprint, Some(address))?;
                    return Ok(d);
                }
                Err(e) => {
                    tracing::debug!("pairing: {address}: {e}");
                    if last.as_ref().is_none_or(|l| l.kind != ErrorKind::FingerprintMismatch) {
                        last = Some(e);
                    }
                }
            }
        }
        Err(last.unwrap_or_else(|| Error::invalid("pairing code: no address")))
    }

    /// Finds the device `to` names (an alias or a fingerprint prefix, see
    /// [`DeviceRegistry::find`]) in the list, waiting up to `wait` for discovery. A unique match
    /// ends the search after a short grace, so that a second device of the same name is
    /// reported as ambiguous rather than guessed. An unverified match is only a claim (anyone
    /// can announce any fingerprint): it ends the search no sooner than 1.5 s after the start,
    /// so that the real device, proved by TLS meanwhile, takes its place; a match that must be
    /// pinned ([`is_pinned`] with `expected`) waits for that proof until the time is up.
    pub async fn find(&self, to: &str, expected: Option<&str>, wait: Duration) -> Result<Device> {
        const UNVERIFIED_SETTLE: Duration = Duration::from_millis(1500);
        const GRACE: Duration = Duration::from_millis(300);
        let mut events = self.registry.subscribe();
        let deadline = tokio::time::sleep(wait);
        tokio::pin!(deadline);
        let settled = tokio::time::Instant::from_std(self.started + UNVERIFIED_SETTLE);
        let mut end_at: Option<tokio::time::Instant> = None;
        let check = |end_at: &mut Option<tokio::time::Instant>| {
            let now = tokio::time::Instant::now();
            let candidate = match self.registry.find(to) {
                Ok(d) if d.verified => Some(now + GRACE),
                Ok(d) if !is_pinned(&d, expected, &self.cfg.trust) => Some((now + GRACE).max(settled)),
                _ => None,
            };
            if let Some(c) = candidate {
                *end_at = Some(end_at.map_or(c, |e| e.min(c)));
            }
        };
        check(&mut end_at);
        loop {
            let end = end_at.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                _ = &mut deadline => break,
                _ = tokio::time::sleep_until(end) => break,
                ev = events.recv() => match ev {
                    Ok(DiscoveryEvent::Found(_)) | Ok(DiscoveryEvent::Updated(_)) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => check(&mut end_at),
                    Ok(DiscoveryEvent::Lost(_)) => {}
                    Err(_) => break,
                },
            }
        }
        self.registry.find(to)
    }

    /// Where `to` (a device's alias or fingerprint prefix, or `HOST[:PORT]`) is, with
    /// `expected` the fingerprint the receiver must prove. An address (see [`is_address`]), or
    /// anything with discovery configured off, is reached as an address; a name is looked for up to
    /// `wait` ([`Node::find`]), and when no device has it but it resolves as a host name, it is
    /// that host. With `expected`, a device found is reached only pinned to it.
    pub async fn target(&self, to: &str, expected: Option<&str>, wait: Duration) -> Result<Target> {
        let expected = expected.map(crate::identity::normalize_fingerprint).transpose()?;
        let address = |to: &str| -> Result<Target> {
            let peer = PeerAddr::parse(to, self.cfg.protocol())?;
            Ok(Target::Address { peer, expected_fingerprint: expected.clone() })
        };
        if is_address(to) || !self.cfg.discovery {
            return address(to);
        }
        match self.find(to, expected.as_deref(), wait).await {
            Ok(d) if expected.is_some() => {
                // The device found must have the fingerprint given (and be reachable pinned).
                resolve_device(&d, expected.as_deref(), &self.cfg.trust)?;
                Ok(Target::PinnedDevice { fingerprint: d.fingerprint })
            }
            Ok(d) => Ok(Target::Device { fingerprint: d.fingerprint }),
            // Not a device nearby; perhaps a host name.
            Err(e) if e.kind == ErrorKind::InvalidInput && e.detail != Some(crate::error::Detail::AmbiguousDevice) => {
                let candidate = PeerAddr::parse(to, self.cfg.protocol())?;
                let found = tokio::net::lookup_host((candidate.host.as_str(), candidate.port)).await.is_ok();
                if found {
                    address(to)
                } else {
                    Err(e)
                }
            }
            Err(e) => Err(e),
        }
    }

    /// The code both users compare to verify `peer_fingerprint`.
    pub fn verification_code(&self, peer_fingerprint: &str) -> VerificationCode {
        verification_code(self.fingerprint(), peer_fingerprint)
    }

    /// How to reach `target`, by [`resolve_device`] and [`resolve_address`]: a trusted or
    /// verified device, or one given with a fingerprint, only over HTTPS with its certificate
    /// pinned.
    pub(crate) fn resolve(&self, target: &Target) -> Result<Route> {
        match target {
            Target::Device { fingerprint } | Target::PinnedDevice { fingerprint } => {
                let d = self.registry.get(fingerprint).ok_or_else(|| Error::invalid(format!("no device {fingerprint} in the list")))?;
                let expected = matches!(target, Target::PinnedDevice { .. }).then_some(fingerprint.as_str());
                resolve_device(&d, expected, &self.cfg.trust)
            }
            Target::Address { peer, expected_fingerprint } => resolve_address(peer.clone(), expected_fingerprint.clone()),
        }
    }

    /// How to reach `target` (see [`Node::resolve`]), as options for [`send`].
    pub fn send_options(&self, target: &Target, pin: Option<String>) -> Result<SendOptions> {
        let Route { peer, expected_fingerprint } = self.resolve(target)?;
        let mut info = crate::protocol::device_info(
            &self.cfg.alias,
            self.cfg.device_type,
            &self.cfg.device_model,
            self.fingerprint(),
            self.port(),
            peer.protocol,
        );
        if self.cfg.role != Role::Receiver {
            discovery::mark_lookup(&mut info);
        }
        let mut opts = SendOptions::new(self.cfg.identity.clone(), info, peer, expected_fingerprint, pin);
        if let Target::Device { fingerprint } | Target::PinnedDevice { fingerprint } = target {
            // A transfer that breaks finds the device again at its latest address.
            let (registry, fingerprint) = (self.registry.clone(), fingerprint.clone());
            opts.relocate = Some(Arc::new(move || registry.get(&fingerprint).map(|d| d.peer())));
        }
        Ok(opts)
    }

    /// Sends files and folders ([`Selection::from_paths`], or files from descriptors).
    /// `cancel` stops it (and cancels the session on the receiver).
    pub async fn send_files(
        &self,
        target: &Target,
        selection: &Selection,
        pin: Option<String>,
        observer: Arc<dyn SendObserver>,
        cancel: CancellationToken,
    ) -> Result<SendReport> {
        let opts = self.send_options(target, pin)?;
        send::send_files(&opts, selection, observer, cancel).await
    }

    /// Sends a text message; true when the receiver showed it.
    pub async fn send_text(&self, target: &Target, text: &str, pin: Option<String>, observer: &dyn SendObserver) -> Result<bool> {
        let opts = self.send_options(target, pin)?;
        send::send_text(&opts, text, observer).await
    }

    /// Stops discovery and the server (a running session is cancelled); pending requests are
    /// declined.
    pub fn stop(&self) {
        self.stop.cancel();
        if let Some(d) = &self.discovery {
            d.stop();
        }
        if let Some(s) = &self.server {
            s.shutdown();
        }
        self.pending.lock().unwrap().clear();
    }
}

/// The addresses a device listening on `bind` (`None`: every address) is reached at, as a
/// pairing code lists them: the bound address, or every interface address that is neither
/// loopback nor IPv6 link-local (those need a scope a code cannot carry).
pub fn pairing_addresses(bind: Option<IpAddr>) -> Vec<IpAddr> {
    match bind {
        Some(ip) if !ip.is_unspecified() => vec![ip],
        _ => crate::net::interface_addrs()
            .into_iter()
            .filter(|a| !a.loopback && !crate::discovery::interfaces::is_link_local_v6(&a.addr))
            .map(|a| a.addr)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::Source;
    use std::net::Ipv4Addr;

    fn sighting(fp: &str, protocol: Protocol, port: u16, verified: bool) -> Sighting {
        let info = crate::protocol::device_info("Laptop", DeviceType::Desktop, "Linux", fp, port, protocol);
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        Sighting { info, host: ip.to_string(), ip, port, protocol, verified, source: Source::Multicast }
    }

    fn listed(s: Sighting) -> Device {
        let r = DeviceRegistry::new("OWN");
        let fp = s.info.fingerprint.clone();
        r.observe(s);
        r.get(&fp).unwrap()
    }

    #[test]
    fn a_pinned_device_is_never_reached_over_http() {
        let fp = "AB".repeat(32);
        let trust = TrustStore::in_memory();
        let forged = listed(sighting(&fp, Protocol::Http, 8080, false));
        // Unpinned and unverified: reached like an address, over HTTP, with nothing pinned.
        let r = resolve_device(&forged, None, &trust).unwrap();
        assert_eq!((r.peer.protocol, r.expected_fingerprint), (Protocol::Http, None));
        // Given a fingerprint, or trusted: refused, with the mismatch kind (exit 4).
        let e = resolve_device(&forged, Some(&fp), &trust).unwrap_err();
        assert_eq!(e.kind, ErrorKind::FingerprintMismatch, "{e}");
        assert!(e.message.contains("plain HTTP") && e.message.contains("refusing"), "{e}");
        trust.add(&fp, None).unwrap();
        let e = resolve_device(&forged, None, &trust).unwrap_err();
        assert!(e.kind == ErrorKind::FingerprintMismatch && e.message.contains("trusted"), "{e}");
        // Over HTTPS a trusted or claimed fingerprint is pinned in the handshake.
        let https = listed(sighting(&fp, Protocol::Https, 53317, false));
        assert_eq!(resolve_device(&https, None, &trust).unwrap().expected_fingerprint, Some(fp.clone()));
        let e = resolve_device(&https, Some(&"CD".repeat(32)), &trust).unwrap_err();
        assert_eq!(e.kind, ErrorKind::FingerprintMismatch);
    }

    #[test]
    fn an_address_with_a_fingerprint_is_reached_over_https_only() {
        let fp = "AB".repeat(32);
        let http = PeerAddr::parse("127.0.0.1:9", Protocol::Http).unwrap();
        assert_eq!(resolve_address(http.clone(), Some(fp.clone())).unwrap_err().kind, ErrorKind::FingerprintMismatch);
        assert_eq!(resolve_address(http.clone(), None).unwrap().expected_fingerprint, None);
        let https = PeerAddr { protocol: Protocol::Https, ..http };
        assert_eq!(resolve_address(https, Some(fp.clone())).unwrap().expected_fingerprint, Some(fp));
    }

    #[test]
    fn a_register_that_says_http_is_not_listed_as_verified() {
        let fp = "AB".repeat(32);
        let info = crate::protocol::device_info("Laptop", DeviceType::Desktop, "Linux", &fp, 8080, Protocol::Http);
        let d = listed(Sighting::register(&info, true, "127.0.0.1:1".parse().unwrap()));
        assert!(!d.verified && d.protocol == Protocol::Http);
        assert!(resolve_device(&d, None, &TrustStore::in_memory()).is_ok(), "unpinned: like an address");
    }

    /// The apps' path: a node whose list holds a forged sighting of a trusted device (its
    /// fingerprint, plain HTTP, another address) sends nothing there, text or files.
    #[tokio::test]
    async fn only_a_receiver_walks_its_folder_for_what_earlier_receivers_left() {
        struct Quiet;
        impl NodeListener for Quiet {}
        let dir = tempfile::tempdir().unwrap();
        // What a killed receiver leaves: a temporary file with Ferry's name that no process holds.
        let stale = dir.path().join(format!("{}0123456789abcdef{}", crate::storage::TEMP_PREFIX, crate::storage::TEMP_SUFFIX));
        std::fs::write(&stale, b"left").unwrap();
        for role in [Role::Sender, Role::Lookup, Role::Receiver] {
            let cfg = NodeConfig {
                port: 0,
                bind: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
                policy: ReceivePolicy::DeclineAll,
                discovery: false,
                role,
                ..NodeConfig::new(Identity::generate().unwrap(), Arc::new(TrustStore::in_memory()), "Me", dir.path())
            };
            let node = Node::start(cfg, Arc::new(Quiet)).await.unwrap();
            assert_eq!(stale.exists(), role != Role::Receiver, "{role:?}");
            drop(node);
        }
    }

    #[tokio::test]
    async fn a_node_sends_nothing_to_a_forged_sighting_of_a_trusted_device() {
        let dir = tempfile::tempdir().unwrap();
        let trusted = Identity::generate().unwrap();
        let trust = Arc::new(TrustStore::in_memory());
        trust.add(trusted.fingerprint(), Some("Laptop".into())).unwrap();
        let cfg = NodeConfig {
            port: 0,
            bind: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            policy: ReceivePolicy::DeclineAll,
            discovery: false,
            ..NodeConfig::new(Identity::generate().unwrap(), trust, "Me", dir.path())
        };
        struct Quiet;
        impl NodeListener for Quiet {}
        let node = Node::start(cfg, Arc::new(Quiet)).await.unwrap();
        // The "attacker": a plain TCP listener that counts connections.
        let attacker = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = attacker.local_addr().unwrap().port();
        let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let c2 = connections.clone();
        tokio::spawn(async move {
            while let Ok((s, _)) = attacker.accept().await {
                c2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                drop(s);
            }
        });
        node.registry().observe(sighting(trusted.fingerprint(), Protocol::Http, port, false));
        let target = Target::Device { fingerprint: trusted.fingerprint().to_string() };
        let e = node.send_text(&target, "secret", None, &|_| {}).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::FingerprintMismatch, "{e}");
        let file = dir.path().join("secret.txt");
        std::fs::write(&file, b"secret").unwrap();
        let sel = Selection::from_paths(&[file]).unwrap();
        let e = node.send_files(&target, &sel, None, Arc::new(|_| {}), CancellationToken::new()).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::FingerprintMismatch, "{e}");
        // An address with a fingerprint over HTTP: refused too.
        let peer = PeerAddr::parse(&format!("127.0.0.1:{port}"), Protocol::Http).unwrap();
        let addr = Target::Address { peer, expected_fingerprint: Some(trusted.fingerprint().to_string()) };
        let e = node.send_text(&addr, "secret", None, &|_| {}).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::FingerprintMismatch, "{e}");
        // Kept as a sleep: this checks that nothing connects, so it gives a stray connection a
        // moment to arrive; there is nothing to wait for.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 0, "nothing may reach the forged address");
        node.stop();
    }
}
