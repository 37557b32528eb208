//! Discovery in the CLI: the options every networked command shares, and `ferry devices`.
//! Finding the device that `--to NAME` means is [`Node::target`].

use crate::output::Output;
use clap::Args;
use ferry_core::discovery::{DiscoveryEvent, InterfaceFilter};
use ferry_core::node::{Node, NodeConfig, NodeListener, Role};
use ferry_core::protocol::DEFAULT_PORT;
use ferry_core::{Error, ErrorKind};
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
    /// Puts these options into a node's configuration.
    pub fn apply(&self, cfg: &mut NodeConfig) -> Result<(), Error> {
        cfg.interfaces = InterfaceFilter::new(&self.interface, &self.exclude_interface)?;
        cfg.discovery = !self.no_discovery;
        cfg.multicast_port = self.discovery_port;
        cfg.scan_port = self.scan_port;
        cfg.auto_scan = !self.no_scan;
        cfg.ipv6 = !self.no_ipv6;
        cfg.refresh_interval = Some(Duration::from_secs(self.refresh_secs.max(1)));
        cfg.manual = self.peer.clone();
        Ok(())
    }
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

/// Passes device events on to the command.
struct Events(tokio::sync::mpsc::UnboundedSender<DiscoveryEvent>);

impl NodeListener for Events {
    fn on_device(&self, event: DiscoveryEvent) {
        let _ = self.0.send(event);
    }
}

/// `ferry devices`: a lookup node (see [`Role::Lookup`]) that lists what it finds.
/// `full`: whole fingerprints in the list (`--verbose`).
pub async fn devices_cmd(mut cfg: NodeConfig, args: DevicesArgs, out: Output, full: bool) -> Result<u8, Error> {
    if !(args.timeout > 0.0 && args.timeout <= 3600.0) {
        return Err(Error::invalid("--timeout must be between 0 and 3600 seconds"));
    }
    args.discovery.apply(&mut cfg)?;
    if args.discovery.no_discovery {
        return Err(Error::invalid("--no-discovery leaves no way to find devices; give an address instead"));
    }
    cfg.role = Role::Lookup;
    cfg.https = !args.http;
    let started = Instant::now();
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let node = Node::start(cfg, Arc::new(Events(tx))).await?;
    out.discovering(&node.interfaces(), node.port(), args.timeout);
    let scan = async {
        if args.scan {
            let _ = node.scan().await;
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
                Some(ev) => {
                    out.device_event(&ev, started.elapsed());
                    if let Some(q) = &args.until {
                        if node.registry().find(q).is_ok() {
                            found_target = true;
                            break;
                        }
                    }
                }
                None => break,
            },
        }
    }
    node.stop();
    out.devices(&node.devices(), full);
    if let Some(q) = &args.until {
        if !found_target {
            let e = node.registry().find(q).err().unwrap_or_else(|| Error::invalid("not found"));
            return Err(Error::new(ErrorKind::Timeout, e.message));
        }
    }
    Ok(0)
}
