//! What the CLI prints: progress bars and sentences for people, or one JSON object per line.

use crate::events::{DeviceEntry, Event, Interface, SenderEntry};
use ferry_core::client::RemoteDevice;
use ferry_core::discovery::{ChosenInterface, Device, DiscoveryEvent};
use ferry_core::display::{escape, escape_text, is_format};
use ferry_core::identity::short_fingerprint;
use ferry_core::node::NodeListener;
use ferry_core::protocol::{FileDto, Protocol};
use ferry_core::send::{Selection, SendEvent, SendObserver, SendReport};
use ferry_core::server::{Decision, IncomingRequest, ReceiveEvent, SenderInfo, SessionOutcome};
use ferry_core::trust::TrustedDevice;
use ferry_core::Error;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::VecDeque;
use std::io::{BufRead, Write};
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone)]
pub struct Output {
    json: bool,
    /// "Connected to" and "Waiting for the receiver" already printed: a send tried again (with a
    /// PIN) does not repeat them.
    shown: Arc<[std::sync::atomic::AtomicBool; 2]>,
    /// Bumped by every send event and answer: a "Waiting for the receiver" line due meanwhile
    /// is not printed (the receiver answered at once, or asked for a PIN first).
    waiting: Arc<std::sync::atomic::AtomicU64>,
}

/// How long a request must stay unanswered before "Waiting for the receiver to accept..." shows:
/// a receiver that wants a PIN or accepts by itself answers sooner, and no such line comes
/// before its PIN prompt.
const WAITING_AFTER: Duration = Duration::from_millis(400);

/// A peer-supplied name shown between double quotes: escaped, and its own quotes escaped too,
/// so that it cannot seem to end early and be followed by words Ferry did not write.
fn quoted(s: &str) -> String {
    format!("\"{}\"", escape(s).replace('"', "\\\""))
}

fn address_of(d: &Device) -> String {
    let host = d.addresses.first().map(String::as_str).unwrap_or("?");
    let host = if host.contains(':') { format!("[{host}]") } else { host.to_string() };
    format!("{host}:{}{}", d.port, if d.protocol == Protocol::Http { " (http)" } else { "" })
}

fn device_line(d: &Device) -> String {
    format!(
        "{} at {} ({}, {}, {})",
        escape(&d.alias),
        address_of(d),
        d.device_type.as_str(),
        d.short_fingerprint(),
        if d.verified { "verified" } else { "not verified" }
    )
}

/// A JSON line with the characters serde leaves raw inside strings that a terminal or a text
/// viewer would act on (DEL, C1 controls such as U+009B, format characters such as U+202E, line
/// and paragraph separators) written as `\uXXXX` escapes: the same JSON value, safe to print.
fn json_terminal_safe(line: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() || is_format(c) || c == '\u{2028}' || c == '\u{2029}';
    if !line.contains(unsafe_char) {
        return line.into();
    }
    let mut out = String::with_capacity(line.len() + 16);
    for c in line.chars() {
        if unsafe_char(c) {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    out.into()
}

/// A whole fingerprint as a person copies or compares it: uppercase, in groups of four
/// (`4B9E A7A9 ... 8471`); the short fingerprint is its first four groups. A peer's claimed
/// fingerprint (plain HTTP) may hold anything: it is escaped.
pub fn grouped_fingerprint(fp: &str) -> String {
    let chars: Vec<char> = fp.chars().map(|c| c.to_ascii_uppercase()).collect();
    escape(&chars.chunks(4).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join(" ")).into_owned()
}

/// `storage_full` as `storageFull`: the JSON events' one naming style.
fn camel_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut upper = false;
    for c in s.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// "1 empty folder", "3 empty folders".
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// " in 2.5 s (40.0 MB/s)": how long `bytes` took, in the units of [`human_size`].
pub fn time_and_speed(bytes: u64, t: std::time::Duration) -> String {
    let secs = t.as_secs_f64().max(0.001);
    let shown = if secs < 1.0 { format!("{secs:.2}") } else { format!("{secs:.1}") };
    format!(" in {shown} s ({}/s)", human_size((bytes as f64 / secs) as u64))
}

/// The progress bars' layout: sizes and speeds in decimal units, as [`human_size`] writes them.
const BAR_TEMPLATE: &str = "{msg:30!} [{bar:30}] {done}/{total} {speed} {eta}";

/// A size in decimal units (kB, MB, GB), as the progress bars show them.
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

/// A progress bar on a terminal; `None` elsewhere, so that lines are printed plainly.
fn bar(total: u64) -> Option<ProgressBar> {
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return None;
    }
    let pb = ProgressBar::new(total);
    // Sizes written by `human_size`, exactly as the summaries write them.
    let style = ProgressStyle::with_template(BAR_TEMPLATE)
        .expect("valid template")
        .with_key("done", |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = w.write_str(&human_size(s.pos()));
        })
        .with_key("total", |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = w.write_str(&human_size(s.len().unwrap_or(0)));
        })
        .with_key("speed", |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{}/s", human_size(s.per_sec() as u64));
        })
        .progress_chars("=> ");
    pb.set_style(style);
    Some(pb)
}

/// The progress bar on screen, if any: log lines are written above it (see [`LogLine`]).
static SHOWN_BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// One log line (the `tracing` writer): written to standard error when dropped, above the
/// progress bar on screen (never into it, leaving no frozen copy of the bar behind).
#[derive(Default)]
pub struct LogLine(Vec<u8>);

impl Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        let write = || {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(&self.0);
            let _ = err.flush();
        };
        match SHOWN_BAR.lock().unwrap().as_ref() {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    }
}

/// Byte progress over one transfer's files, shared by sending and receiving: the files' names,
/// the bytes each file has reached, and a bar on a terminal.
#[derive(Default)]
struct Progress {
    state: Mutex<ProgressState>,
}

#[derive(Default)]
struct ProgressState {
    bar: Option<ProgressBar>,
    /// The transfer's files (shared with the event that announced them, never copied: a transfer
    /// may have 100,000) and their indexes sorted by id. Names are as the peer gave them
    /// (escaped when shown).
    files: Arc<Vec<FileDto>>,
    by_id: Vec<u32>,
    /// The bytes each file has reached, by index; a retried file starts again from zero.
    reached: Vec<u64>,
    total: u64,
    total_size: u64,
    /// When the transfer started.
    started: Option<Instant>,
}

impl ProgressState {
    fn index(&self, file_id: &str) -> Option<usize> {
        let files = &self.files;
        self.by_id.binary_search_by(|&i| files[i as usize].id.as_str().cmp(file_id)).ok().map(|k| self.by_id[k] as usize)
    }
    /// `file_id` has reached `bytes`; returns what it had reached before.
    fn reach(&mut self, file_id: &str, bytes: u64) -> u64 {
        let Some(i) = self.index(file_id) else { return 0 };
        let before = std::mem::replace(&mut self.reached[i], bytes);
        self.total = self.total.saturating_add(bytes).saturating_sub(before);
        before
    }
}

impl Progress {
    /// A new transfer of `files`; `show_bar` draws a bar (where there is a terminal).
    fn start(&self, files: Arc<Vec<FileDto>>, show_bar: bool) {
        let mut st = self.state.lock().unwrap();
        let mut by_id: Vec<u32> = (0..files.len() as u32).collect();
        by_id.sort_unstable_by(|&a, &b| files[a as usize].id.cmp(&files[b as usize].id));
        st.total_size = ferry_core::protocol::total_size(files.iter());
        st.total = 0;
        st.reached = vec![0; files.len()];
        st.by_id = by_id;
        st.files = files;
        st.started = Some(Instant::now());
        st.bar = if show_bar { bar(st.total_size) } else { None };
        *SHOWN_BAR.lock().unwrap() = st.bar.clone();
    }

    /// The name of `file_id`, escaped for a terminal.
    fn name(&self, file_id: &str) -> Option<String> {
        self.raw_name(file_id).map(|n| escape(&n).into_owned())
    }

    /// The name of `file_id` as the peer gave it (for JSON, which escapes by itself).
    fn raw_name(&self, file_id: &str) -> Option<String> {
        let st = self.state.lock().unwrap();
        st.index(file_id).map(|i| st.files[i].file_name.clone())
    }

    /// The bytes transferred so far and the time since the start (none before a start).
    fn totals(&self) -> (u64, Option<Duration>) {
        let st = self.state.lock().unwrap();
        (st.total, st.started.map(|t| t.elapsed()))
    }

    /// `file_id` has reached `bytes`; the bar moves by the difference.
    fn advance(&self, file_id: &str, bytes: u64) {
        let mut st = self.state.lock().unwrap();
        let prev = st.reach(file_id, bytes);
        let name = st.index(file_id).map(|i| escape(&st.files[i].file_name).into_owned());
        if let Some(b) = st.bar.as_ref() {
            b.inc(bytes.saturating_sub(prev));
            if let Some(n) = name {
                b.set_message(n);
            }
        }
    }

    /// `file_id` arrived whole: all its bytes count.
    fn complete(&self, file_id: &str) {
        let size = {
            let st = self.state.lock().unwrap();
            st.index(file_id).map(|i| st.files[i].size)
        };
        if let Some(size) = size {
            self.advance(file_id, size);
        }
    }

    /// `file_id` failed: its bytes come off the bar (a retry starts from zero).
    fn rewind(&self, file_id: &str) {
        let mut st = self.state.lock().unwrap();
        let prev = st.reach(file_id, 0);
        if let Some(b) = st.bar.as_ref() {
            b.set_position(b.position().saturating_sub(prev));
        }
    }

    /// Prints `msg` above the bar, or with `plain` where there is none.
    fn println(&self, msg: String, plain: fn(&str)) {
        match self.state.lock().unwrap().bar.as_ref() {
            Some(b) => b.println(msg),
            None => plain(&msg),
        }
    }

    fn finish(&self) {
        if let Some(b) = self.state.lock().unwrap().bar.take() {
            *SHOWN_BAR.lock().unwrap() = None;
            b.finish_and_clear();
        }
    }
}

fn stdout_line(msg: &str) {
    println!("{msg}");
}

fn stderr_line(msg: &str) {
    eprintln!("{msg}");
}

fn verified_word(verified: bool) -> &'static str {
    if verified {
        "verified"
    } else {
        "UNVERIFIED"
    }
}

impl Output {
    pub fn new(json: bool) -> Output {
        Output { json, shown: Arc::default(), waiting: Arc::default() }
    }

    /// True the first time for `line` (0: connected, 1: waiting).
    fn first(&self, line: usize) -> bool {
        !self.shown[line].swap(true, std::sync::atomic::Ordering::Relaxed)
    }

    /// Prints one `--json` event line.
    /// [`Output::event`] for an event whose `files` is left empty: the list is written entry by
    /// entry from `files` (a transfer may list 100,000 files; neither the list nor the whole line
    /// is copied first).
    pub fn event_with_files(&self, e: Event, files: &[FileDto]) {
        const EMPTY: &str = "\"files\":[]";
        let Ok(text) = serde_json::to_string(&e) else { return };
        // Peer strings before the list are escaped JSON: an unescaped `"files":[]` is the field itself.
        let Some(at) = text.find(EMPTY) else { return self.event(e) };
        let (head, tail) = text.split_at(at + EMPTY.len() - 1);
        let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
        let _ = out.write_all(json_terminal_safe(head).as_bytes());
        for (i, f) in files.iter().enumerate() {
            if i > 0 {
                let _ = out.write_all(b",");
            }
            let Ok(entry) = serde_json::to_string(&FileEntryRef { id: &f.id, name: &f.file_name, size: f.size }) else { return };
            let _ = out.write_all(json_terminal_safe(&entry).as_bytes());
        }
        let _ = writeln!(out, "{}", json_terminal_safe(tail));
        let _ = out.flush();
    }

    pub fn event(&self, e: Event) {
        let Ok(text) = serde_json::to_string(&e) else { return };
        let line = json_terminal_safe(&text).into_owned();
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    pub fn line(&self, text: &str) {
        if self.json {
            self.event(Event::Info { message: text.to_string() });
        } else {
            println!("{text}");
        }
    }

    pub fn error(&self, e: &Error) {
        if self.json {
            self.event(Event::Error { kind: camel_case(e.kind.as_str()), message: e.message.clone() });
        }
        eprintln!("ferry: {}", escape(&e.message));
    }

    /// Asks a question on the terminal; `None` on end of input.
    /// Asks `question` on standard error and reads one line, without echoing what is typed when
    /// `hidden` (a PIN) on a terminal.
    pub fn prompt_hidden(&self, question: &str, hidden: bool) -> Option<String> {
        // Echo goes off before the question shows: nothing typed after it is echoed.
        let stty = |arg: &str| std::process::Command::new("stty").arg(arg).stdin(std::process::Stdio::inherit()).status();
        let hidden = hidden && std::io::IsTerminal::is_terminal(&std::io::stdin()) && stty("-echo").is_ok_and(|s| s.success());
        eprint!("{question}");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        let read = std::io::stdin().lock().read_line(&mut line);
        if hidden {
            let _ = stty("echo");
            eprintln!();
        }
        match read {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line.trim().to_string()),
        }
    }

    pub fn identity(&self, fp: &str, reset: bool) {
        if self.json {
            self.event(Event::Identity { fingerprint: fp.to_string(), reset });
        } else {
            if reset {
                println!("New identity made. Devices that trusted the old one must trust this one again.");
            }
            println!("{fp}");
        }
    }

    pub fn trust_list(&self, devices: &[TrustedDevice]) {
        if self.json {
            for d in devices {
                self.event(Event::Trusted { fingerprint: d.fingerprint.clone(), alias: d.alias.clone(), address: d.address.clone() });
            }
        } else if devices.is_empty() {
            println!("No trusted devices.");
        } else {
            for d in devices {
                let addr = d.address.as_deref().map(|a| format!("  at {a}")).unwrap_or_default();
                println!("{}  {}{}", grouped_fingerprint(&d.fingerprint), escape(d.alias.as_deref().unwrap_or("")), escape(&addr));
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn receiving(&self, alias: &str, fp: &str, port: u16, protocol: Protocol, addrs: &[IpAddr], dir: &Path, pin: bool) {
        if self.json {
            self.event(Event::Ready {
                alias: alias.to_string(),
                fingerprint: fp.to_string(),
                port,
                protocol: protocol.scheme().to_string(),
                addresses: addrs.iter().map(IpAddr::to_string).collect(),
                dir: dir.display().to_string(),
                pin,
            });
            return;
        }
        println!("Ferry is receiving as \"{alias}\"");
        println!("  fingerprint  {}", grouped_fingerprint(fp));
        let list = if addrs.is_empty() {
            format!("none but loopback: 127.0.0.1:{port}")
        } else {
            addrs
                .iter()
                .map(|a| match a {
                    IpAddr::V6(_) => format!("[{a}]:{port}"),
                    IpAddr::V4(_) => format!("{a}:{port}"),
                })
                .collect::<Vec<_>>()
                .join("  ")
        };
        println!("  addresses    {list} ({})", protocol.scheme());
        println!("  saving to    {}", dir.display());
        if pin {
            println!("  PIN          required");
        }
        println!("Press Ctrl+C to stop.");
    }

    /// Discovery started on these interfaces.
    pub fn discovering(&self, interfaces: &[ChosenInterface], port: u16, seconds: f64) {
        if self.json {
            let interfaces =
                interfaces.iter().map(|i| Interface { name: i.name.clone(), addr: i.addr.to_string(), multicast: i.multicast }).collect();
            self.event(Event::Discovering { interfaces, port });
            return;
        }
        let list = if interfaces.is_empty() {
            "no usable network interface (see --interface)".to_string()
        } else {
            interfaces.iter().map(|i| format!("{} {}", i.name, i.addr)).collect::<Vec<_>>().join(", ")
        };
        if seconds > 0.0 {
            eprintln!("Looking for devices for {seconds} s on {list}");
        } else {
            println!("  discovery    {list}");
        }
    }

    fn device_json(d: &Device) -> DeviceEntry {
        let word = |v: serde_json::Result<serde_json::Value>| v.ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        DeviceEntry {
            fingerprint: d.fingerprint.clone(),
            short_fingerprint: d.short_fingerprint(),
            alias: d.alias.clone(),
            device_model: d.device_model.clone(),
            device_type: d.device_type.as_str().to_string(),
            version: d.version.clone(),
            addresses: d.addresses.clone(),
            port: d.port,
            protocol: d.protocol.scheme().to_string(),
            download: d.download,
            verified: d.verified,
            ferry: d.ferry,
            source: word(serde_json::to_value(d.source)),
            last_seen_ms: d.last_seen_ms,
        }
    }

    pub fn device_event(&self, e: &DiscoveryEvent, elapsed: std::time::Duration) {
        if self.json {
            let elapsed_ms = elapsed.as_millis() as u64;
            self.event(match e {
                DiscoveryEvent::Found(d) => Event::DeviceFound { device: Output::device_json(d), elapsed_ms },
                DiscoveryEvent::Updated(d) => Event::DeviceUpdated { device: Output::device_json(d), elapsed_ms },
                DiscoveryEvent::Lost(d) => Event::DeviceLost { device: Output::device_json(d), elapsed_ms },
                _ => return,
            });
        } else if let Some(line) = Output::device_text(e) {
            eprintln!("{line}");
        }
    }

    /// The line a person reads for a device event (none for an update).
    fn device_text(e: &DiscoveryEvent) -> Option<String> {
        match e {
            DiscoveryEvent::Found(d) => Some(format!("Found {}", device_line(d))),
            DiscoveryEvent::Lost(d) => Some(format!("Gone  {} ({})", escape(&d.alias), d.short_fingerprint())),
            _ => None,
        }
    }

    /// The final list of `ferry devices`; `full`: whole fingerprints (`--verbose`).
    pub fn devices(&self, list: &[Device], full: bool) {
        if self.json {
            self.event(Event::Devices { devices: list.iter().map(Output::device_json).collect() });
            return;
        }
        if list.is_empty() {
            println!("No devices found.");
            return;
        }
        let id = |d: &Device| if full { grouped_fingerprint(&d.fingerprint) } else { d.short_fingerprint() };
        let width = list.iter().map(|d| id(d).chars().count()).max().unwrap_or(0).max(11);
        println!("{:<24} {:<26} {:<9} {:<width$} VERIFIED", "ALIAS", "ADDRESS", "TYPE", "FINGERPRINT");
        for d in list {
            println!(
                "{:<24} {:<26} {:<9} {:<width$} {}",
                escape(&d.alias),
                address_of(d),
                d.device_type.as_str(),
                id(d),
                if d.verified { "yes" } else { "no" }
            );
        }
    }

    pub fn looking_for(&self, name: &str) {
        if !self.json {
            eprintln!("Looking for {name:?} nearby...");
        }
    }

    pub fn target_found(&self, d: &Device) {
        if self.json {
            self.event(Event::Target { device: Output::device_json(d) });
        } else {
            eprintln!("Sending to {}", device_line(d));
        }
    }

    /// The receiver answered (or the send ended): a "Waiting" line not printed yet never is.
    pub fn settle(&self) {
        self.waiting.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn send_event_line(&self, e: &SendEvent) {
        if !matches!(e, SendEvent::WaitingForAcceptance) {
            self.settle();
        }
        match e {
            SendEvent::Connected { device } if self.json || self.first(0) => self.connected(device),
            SendEvent::WaitingForAcceptance => {
                if self.json {
                    self.event(Event::Waiting);
                } else {
                    let due = self.waiting.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    let me = self.clone();
                    std::thread::spawn(move || {
                        std::thread::sleep(WAITING_AFTER);
                        if me.waiting.load(std::sync::atomic::Ordering::SeqCst) == due && me.first(1) {
                            println!("Waiting for the receiver to accept...");
                        }
                    });
                }
            }
            SendEvent::Notice { message } => self.line(&format!("Note: {}", escape(message))),
            _ => {}
        }
    }

    /// [`Output::send_event_line`] for a text, which a receiver never asks about: no "Waiting" line.
    pub fn text_event_line(&self, e: &SendEvent) {
        if self.json || !matches!(e, SendEvent::WaitingForAcceptance) {
            self.send_event_line(e);
        }
    }

    fn connected(&self, d: &RemoteDevice) {
        if self.json {
            self.event(Event::Connected {
                alias: d.info.alias.clone(),
                fingerprint: d.fingerprint.clone(),
                verified: d.verified,
                device_type: d.info.device_type_or_default().as_str().to_string(),
            });
        } else {
            println!(
                "Connected to {} ({}, fingerprint {} {})",
                quoted(&d.info.alias),
                d.info.device_type_or_default().as_str(),
                short_fingerprint(&d.fingerprint),
                if d.verified { "from its certificate" } else { "claimed, not verified: plain HTTP" }
            );
        }
    }

    /// The sender's summary; `empty_folders`: how many empty folders the selection had (made by
    /// the receiver with the request, no upload needed).
    pub fn send_done(&self, r: &SendReport, empty_folders: usize, elapsed: Option<std::time::Duration>) {
        if self.json {
            self.event(Event::SendDone {
                session_id: r.session_id.clone(),
                sent: r.sent,
                skipped: r.skipped,
                empty_folders,
                bytes: r.bytes,
                seconds: elapsed.map(|t| t.as_secs_f64()),
            });
        } else if r.sent == 0 && r.skipped == 0 && empty_folders > 0 {
            println!("Sent {}.", count(empty_folders, "empty folder", "empty folders"));
        } else if r.sent == 0 && r.session_id.is_none() {
            println!("Nothing was transferred (the receiver accepted no file).");
        } else {
            let skipped = if r.skipped > 0 { format!(" ({} not accepted by the receiver)", r.skipped) } else { String::new() };
            println!(
                "Sent {} file(s), {}{}{skipped}.",
                r.sent,
                human_size(r.bytes),
                elapsed.map(|t| time_and_speed(r.bytes, t)).unwrap_or_default()
            );
        }
    }

    pub fn text_sent(&self, shown: bool) {
        if self.json {
            self.event(Event::TextDone { shown });
        } else if shown {
            println!("Message delivered.");
        } else {
            println!("Message delivered (saved as a text file by the receiver).");
        }
    }
}

/// Progress for `ferry send`.
pub struct SendUi {
    out: Output,
    progress: Progress,
    offered: usize,
    /// When the receiver accepted: the transfer's time counts from here.
    accepted_at: std::sync::Mutex<Option<Instant>>,
}

impl SendUi {
    pub fn new(out: Output, sel: &Selection) -> SendUi {
        SendUi { out, progress: Progress::default(), offered: sel.files.len(), accepted_at: std::sync::Mutex::new(None) }
    }
    /// The time since the receiver accepted (none before).
    pub fn elapsed(&self) -> Option<std::time::Duration> {
        self.accepted_at.lock().unwrap().map(|t| t.elapsed())
    }
    pub fn finish(&self) {
        self.progress.finish();
    }
}

impl SendObserver for SendUi {
    fn on_event(&self, e: SendEvent) {
        let json = self.out.json;
        if !matches!(e, SendEvent::WaitingForAcceptance) {
            self.out.settle();
        }
        let e = match e {
            SendEvent::Accepted { session_id, files } => {
                *self.accepted_at.lock().unwrap() = Some(Instant::now());
                let total: u64 = ferry_core::protocol::total_size(files.iter());
                if json {
                    let event = Event::Accepted { session_id, files: Vec::new(), offered_count: self.offered, bytes: total };
                    self.out.event_with_files(event, &files);
                } else {
                    println!("Accepted: {} of {} file(s), {}", files.len(), self.offered, human_size(total));
                }
                self.progress.start(Arc::new(files), !json);
                return;
            }
            e => e,
        };
        match &e {
            SendEvent::FileProgress { file_id, sent, size } => {
                self.progress.advance(file_id, *sent);
                if json {
                    self.out.event(Event::FileProgress { file_id: file_id.clone(), bytes: *sent, size: *size });
                }
            }
            SendEvent::FileCompleted { file_id } => {
                if json {
                    self.out.event(Event::FileDone { file_id: file_id.clone(), name: self.progress.raw_name(file_id), path: None });
                }
            }
            SendEvent::FileResumed { file_id, offset, size } => {
                self.progress.advance(file_id, *offset);
                if json {
                    self.out.event(Event::FileResumed { file_id: file_id.clone(), offset: *offset, size: Some(*size) });
                } else {
                    let name = self.progress.name(file_id).unwrap_or_default();
                    self.progress.println(format!("{name}: resumed at {}", human_size(*offset)), stderr_line);
                }
            }
            SendEvent::FilesSkipped { file_ids } => {
                if json {
                    self.out.event(Event::FilesSkipped { file_ids: file_ids.clone() });
                } else {
                    self.progress.println(format!("Skipped {} file(s) the receiver already has or left out", file_ids.len()), stderr_line);
                }
            }
            SendEvent::FileFailed { file_id, error, retry } => {
                self.progress.rewind(file_id);
                let name = self.progress.name(file_id).unwrap_or_default();
                if json {
                    self.out.event(Event::FileFailed {
                        file_id: file_id.clone(),
                        name: self.progress.raw_name(file_id).unwrap_or_default(),
                        error: error.clone(),
                        retry: *retry,
                    });
                } else if *retry {
                    self.progress.println(format!("{name}: {} (retrying)", escape(error)), stderr_line);
                }
                // A file that is not tried again ends the send: its error is the command's last line.
            }
            _ => self.out.send_event_line(&e),
        }
    }
}

/// The receiver's side of the CLI: prompts, progress, summaries, the devices found. Answers go
/// to `answers` (session id and decision), for the node to take.
pub struct ReceiveUi {
    out: Output,
    once: bool,
    interactive: bool,
    done: tokio::sync::Notify,
    progress: Arc<Progress>,
    prompter: Arc<Prompter>,
    answers: tokio::sync::mpsc::UnboundedSender<(String, Decision)>,
    /// Print device events (discovery runs); with the time since the start.
    devices: Option<Instant>,
    /// `--trusted-only`: a stranger declined without asking does not end `--once`.
    trusted_only: bool,
    /// Files of the running session that could not be saved (and are not sent again).
    unsaved: std::sync::atomic::AtomicUsize,
    /// The id of the last session that started.
    current: Mutex<Option<String>>,
}

/// How a request prompt ended.
enum PromptEnd {
    Answer(String),
    /// The request closed (its sender withdrew it, or it ended) before an answer.
    Withdrawn,
    /// End of input: nobody can answer.
    NoInput,
}

/// The request prompt. One thread reads standard input; a line answers only the prompt that was
/// on screen when the line was read, never a request shown after it: a line typed for a request
/// that was then withdrawn, or before any prompt, is dropped.
#[derive(Default)]
struct Prompter {
    state: Mutex<PromptState>,
    changed: Condvar,
}

#[derive(Default)]
struct PromptState {
    reader: bool,
    eof: bool,
    /// The session id of the prompt on screen, and when it was shown.
    shown: Option<(String, Instant)>,
    answer: Option<String>,
    /// The request on screen closed.
    closed: bool,
    /// Requests that closed recently, perhaps before their prompt was shown.
    closed_ids: VecDeque<String>,
    /// Lines that came while a prompt was on screen (and whether for standard error): printed
    /// once it closes, so that nothing breaks into the question.
    held: VecDeque<(String, bool)>,
}

/// How many lines [`PromptState::held`] keeps (the oldest go first).
const HELD_LINES: usize = 256;

/// How many closed requests [`PromptState::closed_ids`] remembers.
const CLOSED_REMEMBERED: usize = 32;

impl Prompter {
    /// Shows the request (`show` prints it and the question) and waits for its answer, for the
    /// end of input, or for the request to close ([`Prompter::close`], now or before).
    fn ask(self: &Arc<Self>, session_id: &str, show: impl FnOnce()) -> PromptEnd {
        self.start_reader();
        let mut st = self.state.lock().unwrap();
        // Stamped before printing: a line read once the prompt is (being) shown answers it.
        let shown_at = Instant::now();
        show();
        if st.eof {
            return PromptEnd::NoInput;
        }
        st.shown = Some((session_id.to_string(), shown_at));
        st.answer = None;
        st.closed = false;
        loop {
            if st.shown.as_ref().is_none_or(|(id, _)| id != session_id) {
                // Another prompt took the screen: this one is no longer answerable.
                return PromptEnd::Withdrawn;
            }
            if st.closed || st.closed_ids.iter().any(|id| id == session_id) {
                st.closed_ids.retain(|id| id != session_id);
                st.shown = None;
                return PromptEnd::Withdrawn;
            }
            if let Some(a) = st.answer.take() {
                st.shown = None;
                return PromptEnd::Answer(a);
            }
            if st.eof {
                st.shown = None;
                return PromptEnd::NoInput;
            }
            st = self.changed.wait_timeout(st, Duration::from_millis(100)).unwrap().0;
        }
    }

    /// Prints `line` (above the progress bar, if one runs), or holds it while a prompt is on
    /// screen; [`Prompter::flush`] prints what was held.
    fn print_or_hold(&self, line: String, stderr: bool, progress: &Progress) {
        let mut st = self.state.lock().unwrap();
        if st.shown.is_some() {
            if st.held.len() >= HELD_LINES {
                st.held.pop_front();
            }
            st.held.push_back((line, stderr));
        } else {
            // Printed under the lock: a prompt cannot start in the middle of it.
            progress.println(line, if stderr { stderr_line } else { stdout_line });
        }
    }

    /// Prints the lines held while a prompt was on screen.
    fn flush(&self, progress: &Progress) {
        let mut st = self.state.lock().unwrap();
        if st.shown.is_none() {
            for (line, stderr) in std::mem::take(&mut st.held) {
                progress.println(line, if stderr { stderr_line } else { stdout_line });
            }
        }
    }

    fn start_reader(self: &Arc<Self>) {
        let mut st = self.state.lock().unwrap();
        if !st.reader {
            st.reader = true;
            let me = self.clone();
            std::thread::spawn(move || me.read_lines());
        }
    }

    /// The request `session_id` closed: its prompt, if on screen, ends.
    fn close(&self, session_id: &str) {
        let mut st = self.state.lock().unwrap();
        if st.closed_ids.len() >= CLOSED_REMEMBERED {
            st.closed_ids.pop_front();
        }
        st.closed_ids.push_back(session_id.to_string());
        if st.shown.as_ref().is_some_and(|(id, _)| id == session_id) {
            st.closed = true;
            self.changed.notify_all();
        }
    }

    fn read_lines(&self) {
        let stdin = std::io::stdin();
        loop {
            let mut line = String::new();
            let n = stdin.lock().read_line(&mut line);
            let read_at = Instant::now();
            let mut st = self.state.lock().unwrap();
            if matches!(n, Ok(0) | Err(_)) {
                st.eof = true;
                self.changed.notify_all();
                return;
            }
            let answerable = st.answer.is_none() && !st.closed && st.shown.as_ref().is_some_and(|(_, at)| read_at >= *at);
            if answerable {
                st.answer = Some(line.trim().to_string());
                self.changed.notify_all();
            } else if !line.trim().is_empty() {
                eprintln!("(ignored \"{}\": no request is waiting for an answer)", escape(line.trim()));
            }
        }
    }
}

impl ReceiveUi {
    /// `devices`: whether device events are printed (discovery runs).
    pub fn new(
        out: Output,
        once: bool,
        interactive: bool,
        devices: bool,
        answers: tokio::sync::mpsc::UnboundedSender<(String, Decision)>,
    ) -> ReceiveUi {
        let prompter: Arc<Prompter> = Arc::default();
        // Read standard input from the start when requests may be asked there, so that what was
        // typed (or piped) before a prompt is seen as such and answers nothing.
        if interactive || !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            prompter.start_reader();
        }
        let devices = devices.then(Instant::now);
        ReceiveUi {
            out,
            once,
            interactive,
            done: tokio::sync::Notify::new(),
            progress: Arc::default(),
            prompter,
            answers,
            devices,
            trusted_only: false,
            unsaved: Default::default(),
            current: Mutex::default(),
        }
    }

    /// `--trusted-only`: declining a stranger (nobody was asked) is not the transfer `--once` waits for.
    pub fn trusted_only(mut self, on: bool) -> ReceiveUi {
        self.trusted_only = on;
        self
    }

    /// Resolves when `--once` is set and the first transfer ended.
    pub async fn done(&self) {
        if self.once {
            self.done.notified().await
        } else {
            std::future::pending().await
        }
    }

    fn ended(&self) {
        if self.once {
            self.done.notify_one();
        }
    }

    fn sender_json(s: &SenderInfo) -> SenderEntry {
        SenderEntry {
            alias: s.alias.clone(),
            fingerprint: s.fingerprint.clone(),
            verified: s.verified,
            trusted: s.trusted,
            ip: s.ip.to_string(),
            device_type: s.device_type.as_str().to_string(),
            device_model: s.device_model.clone(),
        }
    }

    fn sender_line(s: &SenderInfo) -> String {
        format!(
            "{} at {} ({}, fingerprint {}{})",
            // A request declined before its body was read has no alias.
            if s.alias.is_empty() { "a device".to_string() } else { quoted(&s.alias) },
            s.ip,
            verified_word(s.verified),
            short_fingerprint(&s.fingerprint),
            if s.trusted { ", trusted" } else { "" }
        )
    }
}

/// Files as the JSON events list them.
/// A [`crate::events::FileEntry`] written from a file description without copying it (the same JSON).
#[derive(serde::Serialize)]
struct FileEntryRef<'a> {
    id: &'a str,
    name: &'a str,
    size: u64,
}

fn describe_files(files: &[FileDto]) -> String {
    let mut lines = Vec::new();
    for f in files.iter().take(20) {
        lines.push(format!("    {}  ({})", escape(&f.file_name), human_size(f.size)));
    }
    if files.len() > 20 {
        lines.push(format!("    ... and {} more", files.len() - 20));
    }
    lines.join("\n")
}

/// What starts every printed line of a text message, so that no line of it can pass for one of
/// Ferry's own (a fake request block, a fake "Received" line).
pub const MESSAGE_PREFIX: &str = "  \u{2502} ";
/// The most of a text message shown on the terminal (in bytes of the message, before escaping).
const MESSAGE_SHOWN: usize = 64 * 1024;

/// A text message as printed for a person: escaped, every line behind [`MESSAGE_PREFIX`], and a
/// long one cut after [`MESSAGE_SHOWN`] bytes with a last line saying how much was left out.
fn message_lines(text: &str) -> String {
    let mut cut = text.len().min(MESSAGE_SHOWN);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let (shown, rest) = text.split_at(cut);
    let mut out: Vec<String> = escape_text(shown).split('\n').map(|l| format!("{MESSAGE_PREFIX}{l}")).collect();
    if !rest.is_empty() {
        out.push(format!("{MESSAGE_PREFIX}... ({} more characters)", rest.chars().count()));
    }
    out.join("\n")
}

impl ReceiveUi {
    fn on_request(&self, request: IncomingRequest) {
        let out = self.out.clone();
        let ask = self.interactive || !std::io::IsTerminal::is_terminal(&std::io::stdin());
        let prompter = self.prompter.clone();
        let progress = self.progress.clone();
        let answers = self.answers.clone();
        let id = request.session_id.clone();
        let reply = move |decision| {
            let _ = answers.send((id.clone(), decision));
        };
        std::thread::spawn(move || {
            let show = || {
                if out.json {
                    let event = Event::Request {
                        session_id: request.session_id.clone(),
                        sender: ReceiveUi::sender_json(&request.sender),
                        files: Vec::new(),
                        empty_folders: request.empty_dirs.clone(),
                        bytes: request.total_size(),
                    };
                    out.event_with_files(event, &request.files);
                } else {
                    let s = &request.sender;
                    // A request declined before its body was read has no alias.
                    let who = if s.alias.is_empty() { "a device".to_string() } else { quoted(&s.alias) };
                    let trusted = if s.trusted { ", trusted" } else { "" };
                    println!("Incoming transfer from {who} at {} ({}{trusted})", s.ip, verified_word(s.verified));
                    // The whole fingerprint, for `ferry trust add` or to compare with the sender's.
                    let how = if s.verified { "from its certificate" } else { "claimed, not verified" };
                    println!("  fingerprint {} ({how})", grouped_fingerprint(&s.fingerprint));
                    if !request.files.is_empty() {
                        println!("  {} file(s), {}:", request.files.len(), human_size(request.total_size()));
                        println!("{}", describe_files(&request.files));
                    }
                    if !request.empty_dirs.is_empty() {
                        let also = if request.files.is_empty() { "" } else { "and " };
                        println!("  {also}{} empty folder(s):", request.empty_dirs.len());
                        let dirs: Vec<String> = request.empty_dirs.iter().take(20).map(|d| format!("    {}/", escape(d))).collect();
                        println!("{}", dirs.join("\n"));
                        if request.empty_dirs.len() > 20 {
                            println!("    ... and {} more", request.empty_dirs.len() - 20);
                        }
                    }
                }
                let _ = std::io::stdout().flush();
                if ask {
                    eprint!("Accept? [y/N] ");
                    let _ = std::io::stderr().flush();
                }
            };
            if !ask {
                show();
                reply(Decision::Decline);
                return;
            }
            match prompter.ask(&request.session_id, show) {
                PromptEnd::Answer(a) if matches!(a.to_ascii_lowercase().as_str(), "y" | "yes") => reply(Decision::AcceptAll),
                PromptEnd::Answer(_) | PromptEnd::NoInput => reply(Decision::Decline),
                PromptEnd::Withdrawn => {
                    if out.json {
                        out.event(Event::RequestWithdrawn { session_id: request.session_id.clone() });
                    } else {
                        eprintln!();
                        println!("{} withdrew the request", escape(&request.sender.alias));
                    }
                }
            }
            prompter.flush(&progress);
        });
    }

    fn on_text(&self, sender: &SenderInfo, text: &str) {
        if self.out.json {
            self.out.event(Event::Text { sender: ReceiveUi::sender_json(sender), text: text.to_string() });
        } else {
            let line = format!("Message from {}:\n{}", ReceiveUi::sender_line(sender), message_lines(text));
            self.prompter.print_or_hold(line, false, &self.progress);
        }
        self.ended();
    }

    fn on_event(&self, event: ReceiveEvent) {
        let json = self.out.json;
        match event {
            ReceiveEvent::SessionStarted { session_id, sender, files } => {
                *self.current.lock().unwrap() = Some(session_id.clone());
                self.unsaved.store(0, std::sync::atomic::Ordering::Relaxed);
                let total: u64 = ferry_core::protocol::total_size(files.iter());
                if json {
                    let event =
                        Event::SessionStarted { session_id, sender: ReceiveUi::sender_json(&sender), files: Vec::new(), bytes: total };
                    self.out.event_with_files(event, &files);
                } else {
                    println!("Receiving {} file(s), {} from {}", files.len(), human_size(total), ReceiveUi::sender_line(&sender));
                }
                self.progress.start(files, !json);
            }
            ReceiveEvent::Declined { sender } => {
                if json {
                    self.out.event(Event::Declined { sender: ReceiveUi::sender_json(&sender) });
                } else {
                    println!("Declined the transfer from {}", ReceiveUi::sender_line(&sender));
                }
                if !self.trusted_only || sender.trusted {
                    self.ended();
                }
            }
            ReceiveEvent::FileProgress { session_id: _, file_id, received, size } => {
                self.progress.advance(&file_id, received);
                if json {
                    self.out.event(Event::FileProgress { file_id, bytes: received, size });
                }
            }
            ReceiveEvent::FileCompleted { session_id: _, file_id, path } => {
                self.progress.complete(&file_id);
                if json {
                    let name = self.progress.raw_name(&file_id);
                    self.out.event(Event::FileDone { file_id, name, path: path.map(|p| p.display().to_string()) });
                } else {
                    let to =
                        path.map(|p| escape(&p.display().to_string()).into_owned()).unwrap_or_else(|| "the file supplied for it".into());
                    self.progress.println(format!("Saved {to}"), stdout_line);
                }
            }
            ReceiveEvent::FileFailed { session_id: _, file_id, error, retry } => {
                self.progress.rewind(&file_id);
                let name = self.progress.name(&file_id).unwrap_or_default();
                if json {
                    let name = self.progress.raw_name(&file_id).unwrap_or_default();
                    self.out.event(Event::FileFailed { file_id, name, error, retry });
                } else if retry {
                    self.progress.println(format!("{name}: {} (the sender may send it again)", escape(&error)), stdout_line);
                } else {
                    self.unsaved.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    self.progress.println(format!("Could not save {name}: {}", escape(&error)), stderr_line);
                }
            }
            ReceiveEvent::FoldersCreated { session_id, paths } => {
                // Folders alone (no file to upload) are the whole transfer: no session starts.
                let alone = self.current.lock().unwrap().as_deref() != Some(session_id.as_str());
                let n = paths.len();
                if json {
                    self.out.event(Event::FoldersCreated { paths: paths.iter().map(|p| p.display().to_string()).collect() });
                    if alone {
                        let outcome = "finished".to_string();
                        self.out.event(Event::SessionFinished { session_id, outcome, saved: 0, failed: 0, bytes: 0, seconds: 0.0 });
                    }
                } else {
                    for p in paths {
                        println!("Created folder {}", escape(&p.display().to_string()));
                    }
                    if alone {
                        println!("Received {}.", count(n, "empty folder", "empty folders"));
                    }
                }
                if alone {
                    self.ended();
                }
            }
            ReceiveEvent::SessionFinished { session_id, outcome } => {
                self.progress.finish();
                let (bytes, elapsed) = self.progress.totals();
                let elapsed = elapsed.unwrap_or_default();
                let (word, saved, failed) = match outcome {
                    SessionOutcome::Finished { saved, failed } => ("finished", saved, failed),
                    SessionOutcome::CancelledBySender => ("cancelledBySender", 0, 0),
                    SessionOutcome::CancelledByReceiver => ("cancelledByReceiver", 0, 0),
                    SessionOutcome::TimedOut => ("timedOut", 0, 0),
                    _ => ("ended", 0, 0),
                };
                if json {
                    self.out.event(Event::SessionFinished {
                        session_id,
                        outcome: word.to_string(),
                        saved,
                        failed,
                        bytes,
                        seconds: elapsed.as_secs_f64(),
                    });
                } else {
                    let failed_part = if failed > 0 { format!("; {failed} could not be saved") } else { String::new() };
                    let unsaved = self.unsaved.swap(0, std::sync::atomic::Ordering::Relaxed);
                    match word {
                        "finished" if saved == 0 && failed > 0 => println!("Nothing was saved: {failed} file(s) could not be saved."),
                        // A Ferry sender cancels once a file could not be saved: that is why it ended.
                        "cancelledBySender" if unsaved > 0 => println!("The transfer stopped: {unsaved} file(s) could not be saved."),
                        "finished" => {
                            println!("Received {saved} file(s), {}{}{failed_part}.", human_size(bytes), time_and_speed(bytes, elapsed))
                        }
                        "cancelledBySender" => println!("The sender cancelled the transfer."),
                        "cancelledByReceiver" => println!("Transfer cancelled."),
                        "timedOut" => println!("The transfer stopped: nothing arrived for too long."),
                        _ => println!("The transfer ended."),
                    }
                }
                self.ended();
            }
            ReceiveEvent::FileResumed { session_id: _, file_id, offset } => {
                self.progress.advance(&file_id, offset);
                if json {
                    self.out.event(Event::FileResumed { file_id, offset, size: None });
                } else {
                    let name = self.progress.name(&file_id).unwrap_or_default();
                    self.progress.println(format!("{name}: resumed at {}", human_size(offset)), stdout_line);
                }
            }
            ReceiveEvent::FilesSkipped { session_id: _, file_ids } => {
                if json {
                    self.out.event(Event::FilesSkipped { file_ids });
                } else {
                    println!("Skipped {} file(s) already here", file_ids.len());
                }
            }
            ReceiveEvent::RequestClosed { session_id } => {
                self.prompter.close(&session_id);
                if json {
                    self.out.event(Event::RequestClosed { session_id });
                }
            }
            ReceiveEvent::PinFailed { ip, failures_total, locked_for } => {
                // Only an address and numbers: nothing a peer chose, nothing to escape.
                let locked = locked_for.map(|d| d.as_secs_f64().ceil() as u64);
                if json {
                    self.out.event(Event::PinFailed { ip: ip.to_string(), failures: failures_total, locked_seconds: locked });
                } else {
                    let lock = locked.map(|s| format!("; PIN checks locked for {s} s")).unwrap_or_default();
                    self.progress.println(format!("Warning: wrong PIN from {ip} ({failures_total} recently){lock}"), stderr_line);
                }
            }
            _ => {}
        }
    }
}

impl NodeListener for ReceiveUi {
    fn on_device(&self, event: DiscoveryEvent) {
        let Some(started) = self.devices else { return };
        if self.out.json {
            self.out.device_event(&event, started.elapsed());
        } else if let Some(line) = Output::device_text(&event) {
            // Above the progress bar, and never into an open prompt.
            self.prompter.print_or_hold(line, true, &self.progress);
        }
    }
    fn on_request(&self, request: IncomingRequest) {
        ReceiveUi::on_request(self, request)
    }
    fn on_text(&self, sender: SenderInfo, text: String) {
        ReceiveUi::on_text(self, &sender, &text)
    }
    fn on_receive(&self, event: ReceiveEvent) {
        ReceiveUi::on_event(self, event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One size unit style: the summaries' and the bars' units are the same decimal ones.
    #[test]
    fn bars_and_summaries_share_units() {
        assert_eq!(human_size(1_500), "1.5 kB");
        assert_eq!(human_size(5_000_000), "5.0 MB");
        assert!(BAR_TEMPLATE.contains("{done}/{total} {speed}"), "the bar's sizes are human_size's (keys set in bar())");
        assert_eq!(time_and_speed(5_000_000, Duration::from_secs(2)), " in 2.0 s (2.5 MB/s)");
    }

    #[test]
    fn error_kinds_in_camel_case() {
        assert_eq!(camel_case(ferry_core::ErrorKind::StorageFull.as_str()), "storageFull");
        assert_eq!(camel_case("io"), "io");
    }
}
