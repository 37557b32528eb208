//! Discovery in the CLI: the options every networked command shares, `ferry devices`, and
//! finding the device that `--to NAME` means.

use crate::output::Output;
use crate::Node;
use clap::Args;
use ferry_core::client::PeerAddr;
use ferry_core::config::TrustStore;
use ferry_core::discovery::{self, Device, DeviceRegistry, Discovery, DiscoveryEvent, DiscoveryOptions, InterfaceFilter, RegisteringHandler};
use ferry_core::protocol::{DeviceInfo, Protocol, DEFAULT_PORT};
use ferry_core::server::{self, ReceiveEvent, ReceiveHandler, ReceivePolicy, ServerHandle, ServerOptions};
use ferry_core::storage::ReceiveDir;
use ferry_core::{Error, ErrorKind};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Args, Clone, Debug)]
pub struct DiscoveryArgs {
    /// Do not announce, answer announcements or scan.
    #[arg(long, env = "FERRY_NO_DISCOVERY", value_parser = clap::builder::FalseyValueParser::new())]
    pub no_discovery: bool,
    /// Use only interfaces matching PATTERN: a name with * and ? wildcards, an address or a
    /// network such as 192.168.1.0/24 (repeatable).
    #[arg(long = "interface", value_name = "PATTERN")]
    pub interface: Vec<String>,
    /// Leave out interfaces matching PATTERN (repeatable).
    #[arg(long = "exclude-interface", value_name = "PATTERN")]
    pub exclude_interface: Vec<String>,
    /// Also look for a device at this address (repeatable).
    #[arg(long = "peer", value_name = "HOST[:PORT]")]
    pub peer: Vec<String>,
    /// Do not scan the local network when multicast finds nothing.
    #[arg(long)]
    pub no_scan: bool,
    /// Multicast UDP port.
    #[arg(long, default_value_t = DEFAULT_PORT, hide = true)]
    pub discovery_port: u16,
    /// TCP port that scans probe.
    #[arg(long, default_value_t = DEFAULT_PORT, hide = true)]
    pub scan_port: u16,
    /// IPv4 only.
    #[arg(long, hide = true)]
    pub no_ipv6: bool,
    /// Seconds without news before a device gets a liveness check.
    #[arg(long, default_value_t = 10, hide = true)]
    pub refresh_secs: u64,
}

impl DiscoveryArgs {
    /// Discovery options for a node announcing `info`, or `None` with `--no-discovery`.
    pub fn options(&self, node: &Node, info: &DeviceInfo, trust: &TrustStore) -> Result<Option<DiscoveryOptions>, Error> {
        let filter = InterfaceFilter::new(&self.interface, &self.exclude_interface)?;
        if self.no_discovery {
            return Ok(None);
        }
        let protocol = info.protocol.unwrap_or(Protocol::Https);
        let mut o = DiscoveryOptions::new(node.identity.clone(), info.clone());
        o.interfaces = filter;
        o.multicast_port = self.discovery_port;
        o.scan_port = self.scan_port;
        o.auto_scan = !self.no_scan;
        o.ipv6 = !self.no_ipv6;
        o.refresh_interval = Some(Duration::from_secs(self.refresh_secs.max(1)));
        o.manual = self.peer.iter().map(|p| PeerAddr::parse(p, protocol)).collect::<Result<_, _>>()?;
        o.favorites = discovery::favorites(trust);
        Ok(Some(o))
    }
}

/// A short-lived node that only finds devices: a server that answers registers (and declines
/// transfers), announcements, scans.
pub struct Lookup {
    pub server: ServerHandle,
    pub discovery: Discovery,
    pub started: Instant,
}

impl Lookup {
    pub fn stop(&self) {
        self.discovery.stop();
        self.server.shutdown();
    }
}

struct Quiet;
impl ReceiveHandler for Quiet {
    fn on_request(&self, _: server::IncomingRequest, reply: server::DecisionReply) {
        reply.send(server::Decision::Decline);
    }
    fn on_text(&self, _: &server::SenderInfo, _: &str) {}
    fn on_event(&self, _: ReceiveEvent) {}
}

/// Starts a lookup node. Its listener takes the usual port when it is free (so what peers
/// learn stays true for a receiver started later), else any port.
pub async fn start_lookup(node: &Node, args: &DiscoveryArgs, protocol: Protocol, registry: Arc<DeviceRegistry>) -> Result<Lookup, Error> {
    let started = Instant::now();
    let trust = Arc::new(TrustStore::open(&node.dir)?);
    let scratch = std::env::temp_dir();
    let mut opts = ServerOptions {
        identity: node.identity.clone(),
        info: ferry_core::device_info(&node.settings.alias, crate::device_type(), &crate::device_model(), node.identity.fingerprint(), DEFAULT_PORT, protocol),
        bind: SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), DEFAULT_PORT),
        https: protocol == Protocol::Https,
        receive_dir: ReceiveDir::new(&scratch)?,
        pin: None,
        policy: ReceivePolicy::DeclineAll,
        trust: trust.clone(),
        verify_checksums: true,
    };
    let handler: Arc<dyn ReceiveHandler> = Arc::new(RegisteringHandler { inner: Arc::new(Quiet), registry: registry.clone() });
    let mut server = None;
    for port in [DEFAULT_PORT, 0] {
        opts.bind = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port);
        if let Ok(s) = server::start(opts.clone(), handler.clone()).await {
            server = Some(s);
            break;
        }
    }
    let server = server.ok_or_else(|| Error::new(ErrorKind::Network, "cannot listen for answers on any port"))?;
    let mut info = opts.info.clone();
    info.port = Some(server.local_addr().port());
    let Some(dopts) = args.options(node, &info, &trust)? else {
        server.shutdown();
        return Err(Error::invalid("--no-discovery leaves no way to find devices; give an address instead"));
    };
    Ok(Lookup { server, discovery: discovery::start(dopts, registry), started })
}

#[derive(Args)]
pub struct DevicesArgs {
    /// How long to look, in seconds.
    #[arg(long, default_value_t = 3.0)]
    pub timeout: f64,
    /// Stop as soon as this device (alias or fingerprint prefix) is found.
    #[arg(long, value_name = "NAME")]
    pub until: Option<String>,
    /// Scan the local network right away, not only when multicast finds nothing.
    #[arg(long)]
    pub scan: bool,
    /// Announce a plain HTTP listener (for devices with encryption off).
    #[arg(long)]
    pub http: bool,
    #[command(flatten)]
    pub discovery: DiscoveryArgs,
}

/// `ferry devices`.
pub async fn devices_cmd(node: Node, args: DevicesArgs, out: Output) -> Result<u8, Error> {
    if !(args.timeout > 0.0 && args.timeout <= 3600.0) {
        return Err(Error::invalid("--timeout must be between 0 and 3600 seconds"));
    }
    let protocol = if args.http { Protocol::Http } else { Protocol::Https };
    let registry = Arc::new(DeviceRegistry::new(node.identity.fingerprint()));
    let mut events = registry.subscribe();
    let lookup = start_lookup(&node, &args.discovery, protocol, registry.clone()).await?;
    out.discovering(&lookup.discovery.interfaces(), lookup.server.local_addr().port(), args.timeout);
    let scan = async {
        if args.scan {
            lookup.discovery.scan().await;
        }
        std::future::pending::<()>().await
    };
    tokio::pin!(scan);
    let deadline = tokio::time::sleep(Duration::from_secs_f64(args.timeout));
    tokio::pin!(deadline);
    let mut found_target = false;
    loop {
        tokio::select! {
            _ = &mut deadline => break,
            _ = &mut scan => {}
            _ = tokio::signal::ctrl_c() => break,
            ev = events.recv() => match ev {
                Ok(ev) => {
                    out.device_event(&ev, lookup.started.elapsed());
                    if let Some(q) = &args.until {
                        if registry.find(q).is_ok() {
                            found_target = true;
                            break;
                        }
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => break,
            },
        }
    }
    lookup.stop();
    let list = registry.list();
    out.devices(&list);
    if let Some(q) = &args.until {
        if !found_target {
            let e = registry.find(q).err().unwrap_or_else(|| Error::invalid("not found"));
            return Err(Error::new(ErrorKind::Timeout, e.message));
        }
    }
    Ok(0)
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

/// Finds the device `to` names (an alias or a fingerprint prefix) with a short lookup. A
/// match that must be pinned (`expected` given, or trusted) but is not verified yet is only a
/// claim: the lookup goes on until TLS proves it or the time is up.
#[allow(clippy::too_many_arguments)]
pub async fn find_device(
    node: &Node,
    to: &str,
    args: &DiscoveryArgs,
    protocol: Protocol,
    wait: Duration,
    expected: Option<&str>,
    trust: &TrustStore,
    out: &Output,
) -> Result<Device, Error> {
    let registry = Arc::new(DeviceRegistry::new(node.identity.fingerprint()));
    let mut events = registry.subscribe();
    let lookup = start_lookup(node, args, protocol, registry.clone()).await?;
    out.looking_for(to);
    let deadline = tokio::time::sleep(wait);
    tokio::pin!(deadline);
    // A unique match ends the search; a short grace lets a second device of the same name
    // show up, so that ambiguity is reported rather than guessed. An unverified match is only a
    // claim (anyone can announce any fingerprint): it ends the search no sooner than
    // UNVERIFIED_SETTLE after the start, so that the real device, proved by TLS meanwhile (it
    // answers our first announcement), takes its place. A match that must be pinned (trusted,
    // or its fingerprint given) waits for that proof until the time is up.
    const UNVERIFIED_SETTLE: Duration = Duration::from_millis(1500);
    let grace = Duration::from_millis(300);
    let mut end_at: Option<tokio::time::Instant> = None;
    loop {
        let end = end_at.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            _ = &mut deadline => break,
            _ = tokio::time::sleep_until(end) => break,
            ev = events.recv() => match ev {
                Ok(DiscoveryEvent::Found(_)) | Ok(DiscoveryEvent::Updated(_)) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    let now = tokio::time::Instant::now();
                    let candidate = match registry.find(to) {
                        Ok(d) if d.verified => Some(now + grace),
                        Ok(d) if !ferry_core::node::is_pinned(&d, expected, trust) => {
                            Some((now + grace).max(tokio::time::Instant::from_std(lookup.started + UNVERIFIED_SETTLE)))
                        }
                        _ => None,
                    };
                    if let Some(c) = candidate {
                        end_at = Some(end_at.map_or(c, |e| e.min(c)));
                    }
                }
                Ok(DiscoveryEvent::Lost(_)) => {}
                Err(_) => break,
            },
        }
    }
    lookup.stop();
    registry.find(to)
}
