//! `ferry share`: offer files and folders to any browser (or LocalSend app) on the network through
//! a link, with a QR code of it; the owner lets each new browser in (or `--yes`).

use crate::discover::DiscoveryArgs;
use crate::events::{Event, FileEntry, ZipEntry};
use crate::output::{human_size, Output};
use clap::Args;
use ferry_core::display::escape;
use ferry_core::node::{Node, NodeConfig};
use ferry_core::protocol::DEFAULT_PORT;
use ferry_core::server::ReceivePolicy;
use ferry_core::share::{BrowserReply, BrowserRequest, ShareEvent, ShareListener, ShareOptions};
use ferry_core::Error;
use std::collections::HashMap;
use std::io::BufRead;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Args)]
pub struct ShareArgs {
    /// Files and folders to share (a folder is offered as its files and as one .zip).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Require this PIN from browsers.
    #[arg(long)]
    pub pin: Option<String>,
    /// Let every browser in without asking.
    #[arg(long, short)]
    pub yes: bool,
    /// Serve over HTTPS (browsers then warn about the device's self-signed certificate).
    #[arg(long)]
    pub https: bool,
    /// TCP port to listen on (0: any free port).
    #[arg(long, default_value_t = DEFAULT_PORT)]
    pub port: u16,
    /// Address to listen on (default: every address of this machine).
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<IpAddr>,
    /// The name browsers see (saved for next time).
    #[arg(long)]
    pub alias: Option<String>,
    /// Do not print QR codes of the links.
    #[arg(long)]
    pub no_qr: bool,
    #[command(flatten)]
    pub discovery: DiscoveryArgs,
}

/// The terminal's side of the share: questions about browsers and download lines.
struct ShareUi {
    out: Output,
    json: bool,
    yes: bool,
    /// Browsers waiting for an answer, in the order they asked.
    asks: std::sync::mpsc::Sender<(BrowserRequest, BrowserReply)>,
    /// Downloads started: (address, file id) → name.
    started: Mutex<HashMap<(IpAddr, String), String>>,
}

impl ShareListener for ShareUi {
    fn on_browser(&self, request: BrowserRequest, reply: BrowserReply) {
        if self.yes {
            reply.send(true);
            return;
        }
        let _ = self.asks.send((request, reply));
    }

    fn on_event(&self, event: ShareEvent) {
        match event {
            ShareEvent::BrowserApproved { ip } => self.say(Event::BrowserApproved { ip: ip.to_string() }, &format!("Browser {ip} let in.")),
            ShareEvent::BrowserDeclined { ip } => {
                self.say(Event::BrowserDeclined { ip: ip.to_string() }, &format!("Browser {ip} declined."))
            }
            ShareEvent::DownloadStarted { ip, file_id, name, offset, size } => {
                let shown = name;
                self.started.lock().unwrap().insert((ip, file_id.clone()), shown.clone());
                let from = if offset > 0 { format!(" from byte {offset}") } else { String::new() };
                self.say(
                    Event::DownloadStarted { ip: ip.to_string(), file_id: file_id.clone(), name: shown.clone(), offset, size },
                    &format!("{ip} downloads {}{from}", escape(&shown)),
                );
            }
            ShareEvent::DownloadProgress { ip, file_id, sent, size } if self.json => {
                self.out.event(Event::DownloadProgress { ip: ip.to_string(), file_id, sent, size });
            }
            ShareEvent::DownloadFinished { ip, file_id, sent, complete } => {
                let name = self.started.lock().unwrap().remove(&(ip, file_id.clone())).unwrap_or_default();
                let text = if complete {
                    format!("{ip} downloaded {} ({})", escape(&name), human_size(sent))
                } else {
                    format!("{ip} stopped downloading {} after {}", escape(&name), human_size(sent))
                };
                self.say(Event::DownloadFinished { ip: ip.to_string(), file_id, sent, complete }, &text);
            }
            ShareEvent::PinFailed { ip, locked_for } => self.say(
                Event::SharePinFailed { ip: ip.to_string(), locked_seconds: locked_for.map(|d| d.as_secs()) },
                &format!("Wrong PIN from {ip}."),
            ),
            _ => {}
        }
    }
}

impl ShareUi {
    fn say(&self, v: Event, text: &str) {
        if self.json {
            self.out.event(v);
        } else {
            self.out.line(text);
        }
    }
}

/// Reads answers (`y`/`yes` lets in, anything else declines) from standard input, one line per
/// browser, in the order browsers asked. Without input every browser is declined. A browser that
/// goes away while asked about (its question withdrawn) is said to be gone and the next one is
/// asked; the line typed next answers that next one.
fn answer_browsers(out: Output, json: bool, asks: std::sync::mpsc::Receiver<(BrowserRequest, BrowserReply)>) {
    use std::sync::mpsc::RecvTimeoutError;
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        loop {
            let mut line = String::new();
            match stdin.lock().read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if lines_tx.send(line).is_err() => return,
                Ok(_) => {}
            }
        }
    });
    let mut eof = false;
    while let Ok((req, reply)) = asks.recv() {
        if reply.is_closed() {
            continue;
        }
        let agent = escape(&req.user_agent).into_owned();
        if json {
            out.event(Event::BrowserRequest { id: req.id.clone(), ip: req.ip.to_string(), user_agent: req.user_agent.clone() });
        } else {
            let agent = if agent.is_empty() { String::new() } else { format!(" ({agent})") };
            eprint!("A browser at {}{agent} wants to see the shared files. Let it in? [y/N] ", req.ip);
        }
        // `None`: the browser went away before an answer.
        let line = loop {
            if eof {
                break Some(String::new());
            }
            match lines.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => break Some(line),
                Err(RecvTimeoutError::Disconnected) => eof = true,
                Err(RecvTimeoutError::Timeout) if reply.is_closed() => break None,
                Err(RecvTimeoutError::Timeout) => {}
            }
        };
        let Some(line) = line else {
            if json {
                out.event(Event::BrowserGone { ip: req.ip.to_string() });
            } else {
                eprintln!();
                out.line(&format!("The browser at {} went away.", req.ip));
            }
            continue;
        };
        let yes = matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes");
        reply.send(yes);
    }
}

/// Prints `heading`, the links and (when `qr`) a QR code of the first link other devices can
/// open.
pub fn print_links(out: &Output, heading: &str, links: &[String], qr: bool) {
    out.line(heading);
    for l in links {
        out.line(&format!("  {l}"));
    }
    if !qr {
        return;
    }
    if let Some(first) = links.iter().find(|l| !l.contains("://127.") && !l.contains("://[::1]")).or(links.first()) {
        if let Some(code) = qr_lines(first) {
            out.line(&format!("QR code of {first}:"));
            out.line(&code);
        }
    }
}

/// A QR code of `text` drawn with Unicode half blocks (two rows per line), dark on light.
pub fn qr_lines(text: &str) -> Option<String> {
    use qrcode::render::unicode::Dense1x2;
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    Some(code.render::<Dense1x2>().dark_color(Dense1x2::Light).light_color(Dense1x2::Dark).quiet_zone(true).build())
}

pub async fn share_cmd(mut cfg: NodeConfig, args: ShareArgs, out: Output, json: bool) -> Result<u8, Error> {
    if args.pin.as_deref() == Some("") {
        return Err(Error::invalid("the PIN must not be empty"));
    }
    args.discovery.apply(&mut cfg)?;
    // A share only offers: uploads are declined.
    cfg.policy = ReceivePolicy::DeclineAll;
    (cfg.port, cfg.bind, cfg.https, cfg.download) = (args.port, args.bind, args.https, true);
    let (tx, rx) = std::sync::mpsc::channel();
    let node = Node::start(cfg, Arc::new(())).await?;
    let alias = node.info().alias.clone();
    let opts = ShareOptions { pin: args.pin.clone(), auto_accept: args.yes };
    let ui = Arc::new(ShareUi { out: out.clone(), json, yes: args.yes, asks: tx, started: Mutex::new(HashMap::new()) });
    let list = node.open_share(&args.paths, opts, ui)?;
    let links = node.links();
    if json {
        let files = list.files.iter().map(|f| FileEntry { id: f.id.clone(), name: f.name.clone(), size: f.size }).collect();
        let zips = list.folders.iter().map(|f| ZipEntry { id: f.id.clone(), name: f.zip_name(), file_count: f.files.len() }).collect();
        let fingerprint = node.fingerprint().to_string();
        out.event(Event::Sharing { alias: alias.clone(), fingerprint, links: links.clone(), files, zips, pin: args.pin.is_some() });
    } else {
        let n = list.files.len();
        let mut what = format!("{n} file{}", if n == 1 { "" } else { "s" });
        match list.folders.len() {
            0 => {}
            1 => what.push_str(", 1 folder also as a .zip"),
            z => what.push_str(&format!(", {z} folders also as .zip files")),
        }
        what.push_str(&format!(" ({})", human_size(list.total_size())));
        out.line(&format!("Sharing {what} as \"{}\" ({}).", escape(&alias), ferry_core::identity::short_fingerprint(node.fingerprint())));
        print_links(&out, "Open one of these links in a browser on the same network:", &links, !args.no_qr);
        if !args.https {
            out.line(
                "Served over plain HTTP (browsers refuse a self-signed HTTPS certificate without a click-through; --https to encrypt).",
            );
        }
        if let Some(pin) = &args.pin {
            out.line(&format!("Browsers must enter the PIN {}.", escape(pin)));
        }
        out.line(if args.yes {
            "Every browser is let in. Ctrl+C ends the share."
        } else {
            "You will be asked about each new browser. Ctrl+C ends the share."
        });
    }
    if !args.yes {
        let out = out.clone();
        std::thread::spawn(move || answer_browsers(out, json, rx));
    }
    let _ = tokio::signal::ctrl_c().await;
    node.close_share();
    if json {
        out.event(Event::ShareClosed);
    } else {
        out.line("Share closed.");
    }
    node.stop();
    // Ctrl+C is how a share ends.
    Ok(0)
}
