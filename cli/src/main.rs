//! `ferry`: send and receive files and text with Ferry and LocalSend devices nearby.

mod config;
mod discover;
mod events;
mod output;
mod share;

use clap::{Args, Parser, Subcommand};
use config::{default_config_dir, default_receive_dir, Settings};
use ferry_core::discovery::interfaces::is_link_local_v6;
use ferry_core::display::escape;
use ferry_core::error::Detail;
use ferry_core::identity::{normalize_fingerprint, Identity};
use ferry_core::node::{is_address, pairing_addresses, Node, NodeConfig, Role, Target};
use ferry_core::pairing::PairingCode;
use ferry_core::protocol::PeerAddr;
use ferry_core::protocol::{DeviceType, Protocol, DEFAULT_PORT};
use ferry_core::send::{self, Selection, SendOptions};
use ferry_core::server::ReceivePolicy;
use ferry_core::trust::TrustStore;
use ferry_core::{Error, ErrorKind};
use output::Output;
use std::io::IsTerminal;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(name = "ferry", version, about = "Send files and text to nearby devices (LocalSend compatible)")]
struct Cli {
    /// Where Ferry keeps its identity, settings and trusted devices (default: the system's configuration folder, ferry/).
    #[arg(long, global = true, env = "FERRY_CONFIG_DIR", value_name = "DIR", help_heading = "Global options")]
    config_dir: Option<PathBuf>,
    /// Print one JSON event per line instead of progress bars.
    #[arg(long, global = true, help_heading = "Global options")]
    json: bool,
    /// More detail: whole fingerprints in `ferry devices`, more logging (-v, -vv).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, help_heading = "Global options")]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Receive files and text.
    Receive(ReceiveArgs),
    /// Send files and folders.
    Send(SendArgs),
    /// Send a text message.
    Text(TextArgs),
    /// Share files and folders with browsers through a link (and a QR code).
    Share(share::ShareArgs),
    /// List the devices nearby.
    Devices(discover::DevicesArgs),
    /// Print this device's fingerprint (or make a new identity with --reset, or a pairing code with --qr).
    Identity {
        /// Make a new key and certificate; peers that trusted the old one must trust the new one.
        #[arg(long, conflicts_with = "qr")]
        reset: bool,
        /// Print a pairing code (text and QR code) that another device trusts this one by
        /// (`ferry trust add ferry://pair?...`) while `ferry receive` runs on the port it names.
        #[arg(long)]
        qr: bool,
        /// With --qr: the port `ferry receive` listens on.
        #[arg(long, default_value_t = DEFAULT_PORT, requires = "qr")]
        port: u16,
        /// With --qr: the address `ferry receive --bind` listens on (default: every address of this machine).
        #[arg(long, value_name = "ADDR", requires = "qr")]
        bind: Option<IpAddr>,
        /// With --qr: the receiver serves plain HTTP (`ferry receive --http`); pairing still needs HTTPS.
        #[arg(long, requires = "qr")]
        http: bool,
    },
    /// Manage trusted devices (their transfers are accepted without asking).
    #[command(subcommand)]
    Trust(TrustCommand),
}

#[derive(Args)]
struct ReceiveArgs {
    /// Folder to save into, made when missing (default: ~/Downloads/Ferry, in the system's Downloads folder).
    #[arg(long, short, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Accept every transfer without asking.
    #[arg(long, short, conflicts_with = "trusted_only")]
    yes: bool,
    /// Accept trusted devices only; decline everyone else without asking.
    #[arg(long)]
    trusted_only: bool,
    /// Require this PIN from senders (default: none).
    #[arg(long)]
    pin: Option<String>,
    /// TCP port to listen on (0: any free port).
    #[arg(long, default_value_t = DEFAULT_PORT)]
    port: u16,
    /// Address to listen on (default: every address of this machine).
    #[arg(long, value_name = "ADDR")]
    bind: Option<IpAddr>,
    /// Plain HTTP instead of HTTPS (no encryption).
    #[arg(long)]
    http: bool,
    /// Also serve a page where any browser on the network uploads files (over plain HTTP, which
    /// browsers open without a warning, unless --https).
    #[arg(long)]
    web: bool,
    /// With --web: serve over HTTPS (browsers warn about the self-signed certificate).
    #[arg(long, requires = "web", conflicts_with = "http")]
    https: bool,
    /// The name others see (saved for next time; default: the saved one, first a made-up name).
    #[arg(long)]
    alias: Option<String>,
    /// Exit after the first transfer (or text) ends.
    #[arg(long)]
    once: bool,
    /// Skip checksum verification of received files.
    #[arg(long, hide = true)]
    no_verify: bool,
    /// Leave out files this folder already has (same path and size, and the same checksum or modified time); the
    /// sender sees them as skipped.
    #[arg(long)]
    skip_existing: bool,
    #[command(flatten)]
    discovery: discover::DiscoveryArgs,
}

#[derive(Args, Clone)]
struct TargetArgs {
    /// The receiver: a device's alias or fingerprint prefix (found nearby), or HOST[:PORT].
    #[arg(long, value_name = "NAME|HOST[:PORT]")]
    to: String,
    /// The receiver's certificate fingerprint; anything else is refused before sending.
    #[arg(long, value_name = "FP")]
    fingerprint: Option<String>,
    /// The receiver's PIN (asked for on a terminal when the receiver wants one).
    #[arg(long)]
    pin: Option<String>,
    /// Plain HTTP instead of HTTPS.
    #[arg(long)]
    http: bool,
    /// The name the receiver sees (saved for next time; default: the saved one, first a made-up name).
    #[arg(long)]
    alias: Option<String>,
    /// How long to look for the device named by --to, in seconds.
    #[arg(long, default_value_t = 4.0, value_name = "SECS")]
    find_timeout: f64,
    #[command(flatten)]
    discovery: discover::DiscoveryArgs,
}

#[derive(Args)]
struct SendArgs {
    /// Files and folders to send.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    target: TargetArgs,
    /// Files uploaded at the same time.
    #[arg(long, default_value_t = 4)]
    parallel: usize,
    /// Send SHA-256 checksums for the receiver to verify also over HTTPS (where TLS already
    /// protects every byte; over HTTP they are always sent).
    #[arg(long)]
    checksum: bool,
}

#[derive(Args)]
struct TextArgs {
    /// The message; `-` reads it from standard input.
    message: String,
    #[command(flatten)]
    target: TargetArgs,
}

#[derive(Subcommand)]
enum TrustCommand {
    /// Trust a device by its certificate fingerprint, or by its pairing code (`ferry identity --qr`).
    Add {
        /// Its fingerprint as Ferry prints it (64 hex characters; spaces, colons and any case accepted),
        /// or its pairing code `ferry://pair?...`: the device is trusted once it proves that fingerprint
        /// over HTTPS at an address the code gives.
        fingerprint: String,
        /// A name to list it under (default: the alias it announces).
        #[arg(long)]
        alias: Option<String>,
        /// Its address (HOST[:PORT]), probed directly when discovery does not find it.
        #[arg(long, value_name = "HOST[:PORT]")]
        address: Option<String>,
    },
    /// List trusted devices.
    List,
    /// Stop trusting a device.
    Remove {
        /// Its fingerprint, as `ferry trust list` shows it.
        fingerprint: String,
    },
}

/// Exit codes (stable, documented in the README).
fn exit_code(e: &Error) -> u8 {
    if e.detail == Some(Detail::ReceiverStorage) {
        return 10;
    }
    match e.kind {
        ErrorKind::InvalidInput => 2,
        ErrorKind::Network | ErrorKind::Timeout | ErrorKind::Tls => 3,
        ErrorKind::FingerprintMismatch => 4,
        ErrorKind::Declined => 5,
        ErrorKind::PinRequired | ErrorKind::InvalidPin | ErrorKind::TooManyAttempts => 6,
        ErrorKind::Busy => 7,
        ErrorKind::Cancelled => 8,
        ErrorKind::ChecksumMismatch | ErrorKind::Protocol => 9,
        // Local failures (Io, StorageFull, PermissionDenied, Internal) and kinds added later.
        _ => 1,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = match cli.verbose {
        0 => "warn",
        1 => "info,ferry_core=debug",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("FERRY_LOG").unwrap_or_else(|_| filter.into()))
        .with_writer(output::LogLine::default)
        .init();
    let out = Output::new(cli.json);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            out.error(&Error::new(ErrorKind::Internal, format!("cannot start: {e}")));
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli, out.clone())) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            out.error(&e);
            ExitCode::from(exit_code(&e))
        }
    }
}

/// This device as the configuration folder describes it (identity, trusted devices, the alias,
/// saved when `alias` is given), as a receiver into `receive_dir`.
fn node_config(config_dir: Option<PathBuf>, alias: Option<&str>, receive_dir: PathBuf) -> Result<NodeConfig, Error> {
    let dir = config_dir.unwrap_or_else(default_config_dir);
    let identity = Identity::load_or_create(&dir)?;
    let mut settings = Settings::load_or_create(&dir)?;
    if let Some(a) = alias.map(str::trim).filter(|a| !a.is_empty()) {
        if a != settings.alias {
            settings.alias = a.to_string();
            settings.save(&dir)?;
        }
    }
    let trust = Arc::new(TrustStore::open(&dir)?);
    let mut cfg = NodeConfig::new(identity, trust, settings.alias, receive_dir);
    cfg.device_type = device_type();
    cfg.device_model = device_model();
    Ok(cfg)
}

/// `desktop` where a display exists, else `headless`.
fn device_type() -> DeviceType {
    if std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some() || cfg!(target_os = "macos") {
        DeviceType::Desktop
    } else {
        DeviceType::Headless
    }
}

fn device_model() -> String {
    match std::env::consts::OS {
        "linux" => "Linux".into(),
        "macos" => "macOS".into(),
        "windows" => "Windows".into(),
        other => other.into(),
    }
}

async fn run(cli: Cli, out: Output) -> Result<u8, Error> {
    match cli.command {
        Command::Identity { reset, qr, port, bind, http } => {
            let dir = cli.config_dir.unwrap_or_else(default_config_dir);
            let id = if reset { Identity::reset(&dir)? } else { Identity::load_or_create(&dir)? };
            if qr {
                let alias = Settings::load_or_create(&dir)?.alias;
                let protocol = if http { Protocol::Http } else { Protocol::Https };
                let code = PairingCode::for_node(id.fingerprint(), &alias, port, protocol, pairing_addresses(bind))?;
                print_pairing_code(&out, cli.json, &code);
            } else {
                out.identity(id.fingerprint(), reset);
            }
            Ok(0)
        }
        Command::Trust(TrustCommand::Add { fingerprint, alias, address }) if PairingCode::looks_like(&fingerprint) => {
            if alias.is_some() || address.is_some() {
                return Err(Error::invalid("--alias and --address do not go with a pairing code (it names both)"));
            }
            let code = PairingCode::parse(&fingerprint)?;
            let mut cfg = node_config(cli.config_dir, None, std::env::temp_dir())?;
            (cfg.role, cfg.discovery) = (Role::Sender, false);
            let node = Node::start(cfg, Arc::new(NoListener)).await?;
            let paired = node.pair(&code).await;
            node.stop();
            let dev = paired?;
            let address = node.trusted_devices().into_iter().find(|d| d.fingerprint == dev.fingerprint).and_then(|d| d.address);
            if cli.json {
                out.event(events::Event::Paired { fingerprint: dev.fingerprint.clone(), alias: dev.alias.clone(), address });
            } else {
                let at = address.map(|a| format!(" at {a}")).unwrap_or_default();
                out.line(&format!("Trusted \"{}\" ({}){}", escape(&dev.alias), output::grouped_fingerprint(&dev.fingerprint), escape(&at)));
            }
            Ok(0)
        }
        Command::Trust(cmd) => {
            let dir = cli.config_dir.unwrap_or_else(default_config_dir);
            let store = TrustStore::open(&dir)?;
            match cmd {
                TrustCommand::Add { fingerprint, alias, address } => {
                    let fp = normalize_fingerprint(&fingerprint)?;
                    if let Some(a) = &address {
                        PeerAddr::parse(a, Protocol::Https)?;
                    }
                    let added = store.add(&fp, alias)?;
                    if address.is_some() {
                        store.set_address(&fp, address)?;
                    }
                    out.line(&format!("{} {}", if added { "Trusted" } else { "Already trusted:" }, fp));
                }
                TrustCommand::List => out.trust_list(&store.list()),
                TrustCommand::Remove { fingerprint } => {
                    if !store.remove(&fingerprint)? {
                        return Err(Error::invalid(format!("not trusted: {fingerprint}")));
                    }
                    out.line(&format!("No longer trusted: {}", normalize_fingerprint(&fingerprint)?));
                }
            }
            Ok(0)
        }
        Command::Receive(args) => receive(cli.config_dir, args, out).await,
        Command::Send(args) => send_cmd(cli.config_dir, args, out).await,
        Command::Text(args) => text_cmd(cli.config_dir, args, out).await,
        Command::Share(args) => {
            let cfg = node_config(cli.config_dir, args.alias.as_deref(), std::env::temp_dir())?;
            share::share_cmd(cfg, args, out, cli.json).await
        }
        Command::Devices(args) => {
            discover::devices_cmd(node_config(cli.config_dir, None, std::env::temp_dir())?, args, out, cli.verbose > 0).await
        }
    }
}

/// Listens to nothing: a node that only probes.
struct NoListener;
impl ferry_core::node::NodeListener for NoListener {}

/// `ferry identity --qr`: the pairing code as text and as a QR code (or one `pairingCode` event).
fn print_pairing_code(out: &Output, json: bool, code: &PairingCode) {
    let text = code.to_string();
    if json {
        let addresses = code.addresses.iter().map(|a| a.to_string()).collect();
        out.event(events::Event::PairingCode { code: text, fingerprint: code.fingerprint.clone(), port: code.port, addresses });
        return;
    }
    out.line("Pairing code (on the other device: ferry trust add '<code>', or scan it):");
    out.line(&format!("  {text}"));
    if let Some(qr) = share::qr_lines(&text) {
        out.line(&qr);
    }
    out.line(&format!(
        "It works while `ferry receive` runs here on port {}; the other device trusts this one only once it proves this fingerprint.",
        code.port
    ));
}

/// Checks the receive folder before anything listens: it must be a folder (or not exist yet).
fn check_receive_dir(dir: &std::path::Path) -> Result<(), Error> {
    match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => Err(Error::invalid(format!("cannot receive into {}: it is a file, not a folder", dir.display()))),
        _ => Ok(()),
    }
}

/// Checks that files can be created in the receive folder (made by the node when missing).
fn check_writable(dir: &std::path::Path) -> Result<(), Error> {
    let probe = dir.join(format!(".ferry-write-check-{}", std::process::id()));
    match std::fs::OpenOptions::new().write(true).create_new(true).open(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => Err(Error::new(ErrorKind::PermissionDenied, format!("cannot write into the receive folder {}: {e}", dir.display()))),
    }
}

/// How long a receiver stopped with Ctrl+C keeps answering the running uploads that it cancelled.
const CANCEL_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

async fn receive(config_dir: Option<PathBuf>, args: ReceiveArgs, out: Output) -> Result<u8, Error> {
    let dir = args.dir.clone().unwrap_or_else(default_receive_dir);
    check_receive_dir(&dir)?;
    let existed = dir.exists();
    let mut cfg = node_config(config_dir, args.alias.as_deref(), dir.clone())?;
    args.discovery.apply(&mut cfg)?;
    cfg.policy = if args.yes {
        ReceivePolicy::AcceptAll
    } else if args.trusted_only {
        ReceivePolicy::TrustedOnly
    } else {
        ReceivePolicy::Ask
    };
    let https = if args.web { args.https } else { !args.http };
    (cfg.port, cfg.bind, cfg.https, cfg.pin, cfg.verify_checksums) = (args.port, args.bind, https, args.pin.clone(), !args.no_verify);
    cfg.skip_existing = args.skip_existing;
    let interactive = cfg.policy != ReceivePolicy::AcceptAll && std::io::stdin().is_terminal();
    // Device events are shown while discovery runs (it does not for a receiver bound to loopback).
    let show_devices = cfg.discovery && !args.bind.is_some_and(|ip| ip.is_loopback());
    let (answers_tx, mut answers) = tokio::sync::mpsc::unbounded_channel();
    let ui =
        Arc::new(output::ReceiveUi::new(out.clone(), args.once, interactive, show_devices, answers_tx).trusted_only(args.trusted_only));
    let (alias, protocol) = (cfg.alias.clone(), if https { Protocol::Https } else { Protocol::Http });
    let node = match Node::start(cfg, ui.clone()).await {
        Ok(node) => node,
        Err(e) => {
            // A receiver that could not start leaves no new folder behind (only an empty one it made is removed).
            if !existed {
                let _ = std::fs::remove_dir(&dir);
            }
            return Err(e);
        }
    };
    check_writable(node.receive_dir())?;
    // A receiver bound to one address is reachable there only.
    let addrs: Vec<IpAddr> = match args.bind {
        Some(ip) if !ip.is_unspecified() => vec![ip],
        _ => ferry_core::net::interface_addrs().into_iter().filter(|a| !a.loopback && !is_link_local_v6(&a.addr)).map(|a| a.addr).collect(),
    };
    out.receiving(&alias, node.fingerprint(), node.port(), protocol, &addrs, node.receive_dir(), args.pin.is_some());
    if args.web {
        node.set_receive_page(true)?;
        share::print_links(&out, "Browsers can send files from:", &node.links(), true);
    }
    if let Some(mut changes) = node.watch_interfaces() {
        let (out, port) = (out.clone(), node.port());
        out.discovering(&node.interfaces(), port, 0.0);
        changes.mark_unchanged();
        tokio::spawn(async move {
            while changes.changed().await.is_ok() {
                let now = changes.borrow_and_update().clone();
                out.discovering(&now, port, 0.0);
            }
        });
    }
    let code = loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {
                if node.busy() {
                    out.line("Cancelling the running transfer.");
                    node.cancel_receive();
                    // The running uploads are answered "cancelled" (so that the sender stops and does
                    // not retry) before the server goes away.
                    tokio::time::sleep(CANCEL_GRACE).await;
                }
                break 130;
            }
            _ = ui.done() => break 0,
            Some((session_id, decision)) = answers.recv() => {
                // An answer to a request that closed meanwhile has nobody to go to.
                let _ = node.answer(&session_id, decision);
            }
        }
    };
    node.stop();
    Ok(code)
}

/// Where `--to` (and `--fingerprint`) lead, by [`Node::target`] and [`Node::send_options`]: a
/// name is looked for by a lookup node, an address needs none; a pinned receiver is reached
/// only over HTTPS with its certificate checked, whatever a sighting or `--http` says.
async fn send_options(config_dir: Option<PathBuf>, target: &TargetArgs, out: &Output) -> Result<SendOptions, Error> {
    let expected = target.fingerprint.as_deref().map(normalize_fingerprint).transpose()?;
    if target.http && expected.is_some() {
        return Err(Error::new(
            ErrorKind::FingerprintMismatch,
            "refusing to send: --fingerprint pins the receiver's certificate, and plain HTTP (--http) has none to check; leave out --http",
        ));
    }
    let mut cfg = node_config(config_dir, target.alias.as_deref(), std::env::temp_dir())?;
    target.discovery.apply(&mut cfg)?;
    cfg.https = !target.http;
    let by_name = !is_address(&target.to) && !target.discovery.no_discovery;
    cfg.role = if by_name { Role::Lookup } else { Role::Sender };
    if by_name && !(target.find_timeout > 0.0 && target.find_timeout <= 600.0) {
        return Err(Error::invalid("--find-timeout must be between 0 and 600 seconds"));
    }
    let node = Node::start(cfg, Arc::new(())).await?;
    if by_name {
        out.looking_for(&target.to);
    }
    let to = node.target(&target.to, expected.as_deref(), std::time::Duration::from_secs_f64(target.find_timeout)).await?;
    let opts = node.send_options(&to, target.pin.clone())?;
    if let Target::Device { fingerprint } | Target::PinnedDevice { fingerprint } = &to {
        if let Some(d) = node.device(fingerprint) {
            out.target_found(&d);
        }
    }
    node.stop();
    Ok(opts)
}

/// Says which protocol the receiver speaks when the sender used the other one: plain HTTP against
/// HTTPS fails parsing a TLS answer, HTTPS against plain HTTP fails the handshake.
fn explain_protocol(e: Error, http: bool) -> Error {
    if http && e.message.contains("invalid HTTP version") {
        Error::new(e.kind, "the receiver speaks HTTPS, not plain HTTP: leave out --http")
    } else if !http && e.kind == ErrorKind::Tls && e.message.contains("InvalidContentType") {
        Error::new(e.kind, "the receiver speaks plain HTTP, not HTTPS: add --http (nothing is encrypted then)")
    } else {
        e
    }
}

/// Runs `attempt`, asking for a PIN on a terminal when the receiver wants one (3 tries).
async fn with_pin_prompt<T, F, Fut>(mut opts: SendOptions, out: &Output, mut attempt: F) -> Result<T, Error>
where
    F: FnMut(SendOptions) -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    let mut tries = 0;
    loop {
        let result = attempt(opts.clone()).await;
        out.settle();
        match result {
            Err(e) if matches!(e.kind, ErrorKind::PinRequired | ErrorKind::InvalidPin) && std::io::stdin().is_terminal() && tries < 3 => {
                tries += 1;
                let prompt = if e.kind == ErrorKind::PinRequired { "The receiver requires a PIN: " } else { "Wrong PIN, try again: " };
                match out.prompt_hidden(prompt, true) {
                    Some(pin) if !pin.is_empty() => opts.pin = Some(pin),
                    _ => return Err(e),
                }
            }
            r => return r,
        }
    }
}

async fn send_cmd(config_dir: Option<PathBuf>, args: SendArgs, out: Output) -> Result<u8, Error> {
    // The files are checked before the receiver is looked for: a typo is reported at once.
    let selection = Selection::from_paths(&args.paths)?;
    let mut opts = send_options(config_dir, &args.target, &out).await?;
    opts.parallel = args.parallel;
    if args.checksum {
        opts.checksums = send::Checksums::Always;
    }
    let ui = Arc::new(output::SendUi::new(out.clone(), &selection));
    let cancel = ferry_core::CancellationToken::new();
    let c2 = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            c2.cancel();
        }
    });
    let report = with_pin_prompt(opts, &out, |o| {
        let (sel, ui, cancel) = (&selection, ui.clone(), cancel.clone());
        async move { send::send_files(&o, sel, ui, cancel).await }
    })
    .await
    .map_err(|e| explain_protocol(e, args.target.http));
    ui.finish();
    match report {
        Ok(r) => {
            out.send_done(&r, selection.empty_dirs.len(), ui.elapsed());
            Ok(0)
        }
        Err(e) if e.kind == ErrorKind::Cancelled && cancel.is_cancelled() => {
            out.line("Cancelled.");
            Ok(130)
        }
        Err(e) if e.kind == ErrorKind::Cancelled && e.message.contains("Session cancelled") => {
            Err(Error::new(ErrorKind::Cancelled, "the receiver cancelled the transfer"))
        }
        Err(e) => Err(e),
    }
}

/// The message `ferry text` sends: the argument, or standard input for `-` (without the one line
/// end that `echo` adds); an empty message is refused.
fn text_message(arg: &str) -> Result<String, Error> {
    let message = if arg == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| Error::invalid(format!("cannot read the message from standard input: {e}")))?;
        let trimmed = s.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&s);
        trimmed.to_string()
    } else {
        arg.to_string()
    };
    if message.is_empty() {
        return Err(Error::invalid("the message is empty; nothing to send"));
    }
    Ok(message)
}

async fn text_cmd(config_dir: Option<PathBuf>, args: TextArgs, out: Output) -> Result<u8, Error> {
    let message = text_message(&args.message)?;
    let opts = send_options(config_dir, &args.target, &out).await?;
    let shown = with_pin_prompt(opts, &out, |o| {
        let (msg, out) = (message.clone(), out.clone());
        async move { send::send_text(&o, &msg, &move |e| out.text_event_line(&e)).await }
    })
    .await
    .map_err(|e| explain_protocol(e, args.target.http))?;
    out.text_sent(shown);
    Ok(0)
}
