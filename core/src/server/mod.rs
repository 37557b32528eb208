//! The receiving side: a LocalSend v2 server (HTTP/1.1, HTTPS by default).
//!
//! One receive session at a time. A session is *pending* while the user decides and *active*
//! while files arrive. Uploads must match session id, file id, token and the sender's IP. Bodies
//! are streamed to a hidden temporary file by a blocking writer that also hashes them; the file
//! gets its name only when the declared size arrived and the checksum (when given) matched.
//!
//! Hostile peers are bounded by [`ServerLimits`]: a global PIN failure budget with doubling locks,
//! a share of the connections per address (a full table makes room for whoever holds least),
//! deadlines on every request head and body (a minimum rate), a minimum progress rate on uploads
//! and an idle timeout on sessions counted from the last real progress, a deadline on unanswered
//! requests, one memory budget for JSON bodies (a share per address and a reserve for trusted
//! devices) plus caps on what a parsed file list may take (files and empty folders counted
//! together), and caps on text messages.

use crate::config::TrustStore;
use crate::error::{Error, ErrorKind, Result};
use crate::identity::Identity;
use crate::protocol::{DeviceInfo, DeviceType, ErrorBody, FileDto, IncomingPrepare};
use crate::storage::{parse_time, sanitize_relative_path, PartFile, ReceiveDir};
use crate::util::{canonical_ip, constant_time_eq, format_id, query_param, random_id, random_id_bytes};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

/// Largest prepare-upload body accepted. Together with [`JSON_BYTES_BUDGET`], the parsing caps of
/// `protocol` (at most 12 MiB of parsed file list, one list at a time) and small connection
/// buffers, this keeps the receiver's memory under 64 MiB whatever peers send (measured with
/// `ferry receive`: at most 61 MB, with an accepted 45,000-file session and 250 connections
/// holding 60 KB request heads). A request of about 35,000 files with checksums (45,000 without)
/// fits; bigger ones are refused (400/413) before anyone is asked.
///
/// Only a verified trusted sender may send that much; a body from anyone else may be at most
/// [`JSON_SHARE_PER_ADDRESS`] (about 17,000 files with checksums).
const MAX_JSON_BODY: usize = 12 * 1024 * 1024;
/// Largest register body (a device description is well under 2 KiB).
const MAX_SMALL_BODY: usize = 16 * 1024;
/// Bytes of JSON bodies being read, counted together over every connection. A body that would
/// take more is answered 503 at once, so hostile bodies cannot add up to unbounded memory (and a
/// slow body only holds the bytes it actually sent).
const JSON_BYTES_BUDGET: usize = 12 * 1024 * 1024;
/// What one address (an IPv6 /64) that is not a trusted device may hold of [`JSON_BYTES_BUDGET`]
/// at once, so that one stranger never holds it all.
const JSON_SHARE_PER_ADDRESS: usize = 6 * 1024 * 1024;
/// The part of [`JSON_BYTES_BUDGET`] only verified trusted senders (known by their TLS
/// certificate before the body is read) may use: strangers together hold at most the rest.
const JSON_TRUSTED_RESERVE: usize = 3 * 1024 * 1024;
/// The same for small bodies (register), which are read even while a session runs.
const SMALL_BYTES_BUDGET: usize = 2 * 1024 * 1024;
const SMALL_SHARE_PER_ADDRESS: usize = 128 * 1024;
const SMALL_TRUSTED_RESERVE: usize = 256 * 1024;
/// Largest text message (its `preview`, in bytes of UTF-8). Longer texts are answered 413; a
/// sender with more to say sends a file. LocalSend's apps send texts of a few KiB.
pub const MAX_TEXT_BYTES: usize = 256 * 1024;
/// Files plus empty folders in one request.
const MAX_ITEMS_PER_REQUEST: usize = crate::protocol::MAX_PREPARE_FILES;
/// Empty folders in one request (also counted in [`MAX_ITEMS_PER_REQUEST`]).
const MAX_EMPTY_DIRS: usize = crate::protocol::MAX_PREPARE_EMPTY_DIRS;
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Wrong PINs from one address before that address is refused (until
/// [`ServerLimits::pin_forget_after`] passes without a wrong PIN from it).
const PIN_MAX_FAILURES: u32 = 3;
const CHECKSUM_TRIES: u32 = 3;
const WRITER_QUEUE: usize = 32;
const PROGRESS_STEP: u64 = 256 * 1024;
/// At most one [`ReceiveEvent::PinFailed`] in this time, except when a lock starts.
const PIN_EVENT_GAP: Duration = Duration::from_secs(2);

/// Limits and timeouts of a running server. The defaults are what Ferry uses; tests shorten them.
///
/// PIN guessing: every wrong PIN counts against its address (refused after 3) and against one
/// budget shared by all addresses. After `pin_free_failures` wrong PINs, each further wrong PIN
/// locks PIN checks for everyone for `pin_lock_base`, doubling with every further wrong PIN up to
/// `pin_lock_max`; while locked, prepare-upload with a PIN is answered 429 without looking at the
/// PIN, so exactly one guess fits into each lock. The count is forgotten after `pin_forget_after`
/// without a wrong PIN. With the defaults (5 free, 1 s doubling to 120 s, forgotten after an hour)
/// an attacker with any number of addresses gets at most 5 + 7 (locks of 1..64 s, 127 s together)
/// + 29 (120 s locks in the rest of the hour) = 41 guesses in the first hour and 30 in every
/// further one: a 4-digit PIN (10,000 values) has a 0.41 % chance to fall in an hour and needs
/// about 166 hours for even odds. Trusted devices (verified by their TLS certificate) are not held
/// by the lock, so a stranger guessing PINs cannot stop a trusted device from sending.
///
/// The price of that: a 4-digit PIN cannot resist guessing from many addresses *and* stay
/// available to honest strangers. One stranger who sends 6 wrong PINs and then one every 120 s
/// keeps PIN checks locked for every sender that is not a trusted device, for as long as it keeps
/// going (each honest attempt is answered 429 "try again later"). Ferry chooses the PIN's
/// strength; pair with the sender (trust its certificate) to be unaffected. An address refused
/// after 3 wrong PINs is forgotten, like the global count, after `pin_forget_after` without a
/// wrong PIN from it.
///
/// Fairness: when every connection is taken, a new connection from an address (IPv6: a /64)
/// holding fewer than the address holding most closes that address's oldest connection, so a
/// device with few connections always gets in. Bodies: a body must arrive at `min_body_rate`
/// (after `body_grace`), one address holds at most a share of the JSON byte budget, and a
/// reserve of it is kept for trusted devices. An upload that brings less than `min_progress`
/// bytes in a `body_stall_timeout` fails, and only such progress keeps a session alive. A request
/// nobody answers is declined after `request_timeout`; a trusted device arriving meanwhile
/// closes a stranger's unanswered request and goes first. Texts: at most [`MAX_TEXT_BYTES`],
/// `text_burst` at once from one address and then one per `text_interval` (else 429).
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// An upload that brings fewer than `min_progress` bytes in this long fails (the sender may
    /// retry it).
    pub body_stall_timeout: Duration,
    /// See `body_stall_timeout`; also what an upload must bring to count as activity of its session.
    pub min_progress: u64,
    /// Slowest accepted request body (bytes per second), after `body_grace`: a body's deadline is
    /// `body_grace + length / min_body_rate`, at most `small_body_timeout`/`large_body_timeout`.
    pub min_body_rate: u64,
    pub body_grace: Duration,
    /// A request nobody answers is declined after this long.
    pub request_timeout: Duration,
    /// Text messages one address may send at once; then one more per `text_interval`.
    pub text_burst: u32,
    pub text_interval: Duration,
    /// An accepted session without progress (see `min_progress`, or a file saved) for this long
    /// ends as timed out, whether a file is being received or not.
    pub session_idle_timeout: Duration,
    /// Longest deadline for a register body (see `min_body_rate`).
    pub small_body_timeout: Duration,
    /// Longest deadline for a prepare-upload body, text messages included (see `min_body_rate`).
    pub large_body_timeout: Duration,
    /// Time to send a request head, and the longest a kept-alive connection may sit idle.
    pub header_timeout: Duration,
    /// Connections open at once, from everyone.
    pub max_connections: usize,
    /// Connections open at once from one address (IPv6: one /64); more are closed at once.
    pub max_connections_per_ip: usize,
    /// Wrong PINs (all addresses together) before wrong PINs lock PIN checks.
    pub pin_free_failures: u32,
    pub pin_lock_base: Duration,
    pub pin_lock_max: Duration,
    pub pin_forget_after: Duration,
    /// Addresses remembered with their wrong PINs. When full, addresses that are not refused
    /// are forgotten; refused ones never are, and a new address then counts only globally.
    pub pin_table_max: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            body_stall_timeout: Duration::from_secs(30),
            min_progress: 64 * 1024,
            min_body_rate: 256 * 1024,
            body_grace: Duration::from_secs(5),
            request_timeout: Duration::from_secs(120),
            text_burst: 5,
            text_interval: Duration::from_secs(1),
            session_idle_timeout: Duration::from_secs(120),
            small_body_timeout: Duration::from_secs(10),
            large_body_timeout: Duration::from_secs(60),
            header_timeout: Duration::from_secs(30),
            max_connections: 256,
            max_connections_per_ip: 24,
            pin_free_failures: 5,
            pin_lock_base: Duration::from_secs(1),
            pin_lock_max: Duration::from_secs(120),
            pin_forget_after: Duration::from_secs(3600),
            pin_table_max: 4096,
        }
    }
}

/// Who decides about incoming transfers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceivePolicy {
    /// Accept senders whose certificate is trusted; ask the handler about everyone else.
    Ask,
    /// Accept everything without asking.
    AcceptAll,
    /// Accept senders whose certificate is trusted; decline everyone else.
    TrustedOnly,
    /// Decline everything (a node that only lists devices, such as `ferry devices`).
    DeclineAll,
    /// Ask the handler about every sender, trusted or not ("quick save" off).
    AskAll,
}

/// Who is sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderInfo {
    pub alias: String,
    pub device_model: Option<String>,
    pub device_type: DeviceType,
    /// The certificate fingerprint when `verified`, else whatever the body claimed.
    pub fingerprint: String,
    /// True when the fingerprint comes from the client certificate of this TLS connection.
    pub verified: bool,
    /// True when `verified` and the fingerprint is in the trust store.
    pub trusted: bool,
    pub ip: IpAddr,
}

/// A transfer request waiting for a decision.
#[derive(Debug, Clone)]
pub struct IncomingRequest {
    pub session_id: String,
    pub sender: SenderInfo,
    /// Files sorted by name (shared, as a request may list many).
    pub files: Arc<Vec<FileDto>>,
    /// Empty folders the sender also wants to create (Ferry senders only).
    pub empty_dirs: Vec<String>,
}

impl IncomingRequest {
    pub fn total_size(&self) -> u64 {
        crate::protocol::total_size(self.files.iter())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    AcceptAll,
    /// Accept only these file ids (an empty set answers 204).
    Accept(HashSet<String>),
    Decline,
}

/// The answer to an [`IncomingRequest`]; dropping it unanswered declines.
#[derive(Debug)]
pub struct DecisionReply(oneshot::Sender<Decision>);

impl DecisionReply {
    pub fn send(self, decision: Decision) {
        let _ = self.0.send(decision);
    }
    /// The request is gone (withdrawn by its sender, or its session ended).
    pub fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionOutcome {
    /// Every accepted file was handled; `failed` counts the ones that could not be saved.
    Finished { saved: usize, failed: usize },
    CancelledBySender,
    CancelledByReceiver,
    /// Nothing arrived for too long.
    TimedOut,
}

#[derive(Debug, Clone)]
pub enum ReceiveEvent {
    /// An accepted session starts (after the decision).
    SessionStarted { session_id: String, sender: SenderInfo, files: Arc<Vec<FileDto>> },
    /// A request was declined (by the user or the policy).
    Declined { sender: SenderInfo },
    FileProgress { session_id: String, file_id: String, received: u64, size: u64 },
    /// A file arrived whole. `path` is where it was saved, `None` when it went to a file the
    /// handler supplied ([`ReceiveHandler::open_destination`]).
    FileCompleted { session_id: String, file_id: String, path: Option<PathBuf> },
    /// A file failed; `retry` is true when the sender may send it again with the same token.
    FileFailed { session_id: String, file_id: String, error: String, retry: bool },
    SessionFinished { session_id: String, outcome: SessionOutcome },
    /// Folders created for an accepted request.
    FoldersCreated { session_id: String, paths: Vec<PathBuf> },
    /// A request the handler was asked about is over without being accepted: declined,
    /// cancelled or abandoned by its sender. Nothing is left to answer (an app closes its
    /// prompt).
    RequestClosed { session_id: String },
    /// Someone sent a wrong PIN (at most one event per attempt, and few of them: see
    /// [`ServerLimits`]). `failures_total` counts recent wrong PINs from every address;
    /// `locked_for` is set when PIN checks are now locked for everyone but trusted devices.
    PinFailed { ip: IpAddr, failures_total: u32, locked_for: Option<Duration> },
}

/// The application's side of a running server. All methods are called from the server's tasks
/// and must not block for long.
pub trait ReceiveHandler: Send + Sync + 'static {
    /// Decide about a request (only asked when the policy says to ask).
    fn on_request(&self, request: IncomingRequest, reply: DecisionReply);
    /// A text message arrived (answered 204).
    fn on_text(&self, sender: &SenderInfo, text: &str);
    fn on_event(&self, event: ReceiveEvent);
    /// A device registered with us (discovery answer or scan).
    /// `from` is the caller's address (the port is 0; an IPv6 link-local address carries
    /// its scope id).
    fn on_register(&self, _device: &DeviceInfo, _verified: bool, _from: SocketAddr) {}
    /// Where an accepted file goes, asked on a blocking thread when its upload starts: an open,
    /// writable file (an app's document, so that nothing is stored twice) or `None` for the
    /// receive directory. An error fails this upload.
    fn open_destination(&self, _session_id: &str, _file: &FileDto) -> Result<Option<File>> {
        Ok(None)
    }
    /// A file from [`ReceiveHandler::open_destination`] ended and is closed. When `complete`
    /// is false it failed or was cancelled: remove what was written (the sender may try again,
    /// with a new `open_destination`).
    fn destination_closed(&self, _session_id: &str, _file_id: &str, _complete: bool) {}
}

/// A file supplied by the handler, being written.
struct AppFile {
    file: Option<File>,
    handler: Arc<dyn ReceiveHandler>,
    session_id: String,
    file_id: String,
    complete: bool,
}

impl AppFile {
    fn new(mut file: File, handler: Arc<dyn ReceiveHandler>, session_id: String, file_id: String) -> Result<AppFile> {
        // Made before anything can fail, so that its drop tells the handler about a failure too.
        let mut app = AppFile { file: None, handler, session_id, file_id, complete: false };
        // A document opened without truncation ("w" on some Android providers) may hold old bytes.
        let regular = file.metadata().map(|m| m.is_file()).unwrap_or(false);
        if regular {
            file.set_len(0).and_then(|_| file.seek(SeekFrom::Start(0))).map_err(|e| Error::io("cannot reset the supplied file", e))?;
        }
        app.file = Some(file);
        Ok(app)
    }

    fn file(&mut self) -> &mut File {
        self.file.as_mut().expect("open until finished")
    }

    fn finish(mut self, modified: Option<std::time::SystemTime>) {
        let file = self.file.take().expect("open until finished");
        if let Some(m) = modified {
            // Not every document provider keeps times; that is no failure.
            let _ = file.set_times(std::fs::FileTimes::new().set_modified(m));
        }
        drop(file);
        self.complete = true;
    }
}

impl Drop for AppFile {
    fn drop(&mut self) {
        self.file.take();
        self.handler.destination_closed(&self.session_id, &self.file_id, self.complete);
    }
}

enum Sink {
    Part(PartFile),
    App(AppFile),
}

impl Sink {
    fn file(&mut self) -> &mut File {
        match self {
            Sink::Part(p) => p.file(),
            Sink::App(a) => a.file(),
        }
    }

    fn commit(self, modified: Option<std::time::SystemTime>, accessed: Option<std::time::SystemTime>) -> Result<Option<PathBuf>> {
        match self {
            Sink::Part(p) => p.commit(modified, accessed).map(Some),
            Sink::App(a) => {
                a.finish(modified);
                Ok(None)
            }
        }
    }
}

#[derive(Clone)]
pub struct ServerOptions {
    pub identity: Identity,
    /// Our DeviceInfo (alias, type, model, version, port, protocol).
    pub info: DeviceInfo,
    /// Where to listen. `[::]:port` (every address, both IP versions) falls back to
    /// `0.0.0.0:port` on hosts without IPv6.
    pub bind: SocketAddr,
    pub https: bool,
    pub receive_dir: ReceiveDir,
    pub pin: Option<String>,
    pub policy: ReceivePolicy,
    pub trust: Arc<TrustStore>,
    /// Verify `sha256` when the sender gives one (default true).
    pub verify_checksums: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileState {
    Pending,
    Receiving,
    Done,
    Failed,
}

/// The state of one accepted file; `Session::files` holds its description at the same index.
struct SessionFile {
    token: [u8; 16],
    state: FileState,
    tries: u8,
}

#[derive(PartialEq, Eq)]
enum Phase {
    Pending,
    Active,
}

struct Session {
    id: String,
    sender: SenderInfo,
    phase: Phase,
    /// The accepted files (shared with the event that announced them, never copied).
    files: Arc<Vec<FileDto>>,
    slots: Vec<SessionFile>,
    /// Indexes into `files`, sorted by file id.
    by_id: Vec<u32>,
    /// Files saved and files given up, kept as counts so that ending a file costs the same
    /// however many the session has.
    saved: usize,
    failed: usize,
    cancel: CancellationToken,
    last_activity: Arc<AtomicU64>,
}

impl Session {
    fn all_ended(&self) -> bool {
        self.saved + self.failed == self.files.len()
    }
    /// The index of file `id`.
    fn find(&self, id: &str) -> Option<usize> {
        self.by_id.binary_search_by(|&i| self.files[i as usize].id.as_str().cmp(id)).ok().map(|k| self.by_id[k] as usize)
    }
}

struct Shared {
    opts: ServerOptions,
    info_json: Bytes,
    handler: Arc<dyn ReceiveHandler>,
    session: Mutex<Option<Session>>,
    pin: Mutex<PinState>,
    /// Held from parsing a prepare-upload body until its session exists (or the request is
    /// refused), so that one parsed file list exists at a time.
    parse_lock: tokio::sync::Mutex<()>,
    /// Bytes of JSON bodies being read, see [`JSON_BYTES_BUDGET`].
    json_budget: Arc<ByteBudget>,
    /// Bytes of small bodies being read, see [`SMALL_BYTES_BUDGET`].
    small_budget: Arc<ByteBudget>,
    /// Text messages per address: (allowance left, when it was last counted).
    texts: Mutex<HashMap<IpAddr, (f64, Instant)>>,
    limits: ServerLimits,
    epoch: Instant,
}

/// The address a share is counted for: IPv4 addresses one by one, IPv6 ones per /64 (what one
/// device can easily hold).
fn share_key(ip: IpAddr) -> IpAddr {
    match canonical_ip(ip) {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// Bytes of bodies being read: all together at most `total`, strangers together at most
/// `total - reserve`, and one stranger's address at most `per_address`.
struct ByteBudget {
    total: usize,
    per_address: usize,
    reserve: usize,
    used: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

impl ByteBudget {
    fn new(total: usize, per_address: usize, reserve: usize) -> Arc<ByteBudget> {
        Arc::new(ByteBudget { total, per_address, reserve, used: Mutex::new((0, HashMap::new())) })
    }
}

/// Bytes held in a [`ByteBudget`] by one body; given back when dropped.
struct BudgetHold {
    budget: Arc<ByteBudget>,
    key: IpAddr,
    trusted: bool,
    held: usize,
}

impl BudgetHold {
    fn try_add(&mut self, n: usize) -> bool {
        let b = &self.budget;
        let mut used = b.used.lock().unwrap();
        let mine = used.1.get(&self.key).copied().unwrap_or(0);
        let cap = if self.trusted { b.total } else { b.total - b.reserve };
        if used.0 + n > cap || (!self.trusted && mine + n > b.per_address) {
            return false;
        }
        used.0 += n;
        *used.1.entry(self.key).or_insert(0) += n;
        self.held += n;
        true
    }
}

impl Drop for BudgetHold {
    fn drop(&mut self) {
        if self.held == 0 {
            return;
        }
        let mut used = self.budget.used.lock().unwrap();
        used.0 -= self.held;
        if let Some(n) = used.1.get_mut(&self.key) {
            *n -= self.held;
            if *n == 0 {
                used.1.remove(&self.key);
            }
        }
    }
}

/// Wrong PINs, per address and all together (see [`ServerLimits`]).
#[derive(Default)]
struct PinState {
    /// Wrong PINs per address, and when the last one came.
    per_ip: HashMap<IpAddr, (u32, Instant)>,
    failures: u32,
    last_failure: Option<Instant>,
    locked_until: Option<Instant>,
    last_event: Option<Instant>,
}

impl Shared {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }
}

/// A running server. Dropping it does not stop it; call [`ServerHandle::shutdown`].
#[derive(Clone)]
pub struct ServerHandle {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    stop: CancellationToken,
}

impl ServerHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
    pub fn fingerprint(&self) -> &str {
        self.shared.opts.identity.fingerprint()
    }
    pub fn info(&self) -> &DeviceInfo {
        &self.shared.opts.info
    }
    /// Stops accepting connections and closes open ones; a running session is cancelled.
    pub fn shutdown(&self) {
        self.cancel_session();
        self.stop.cancel();
    }
    /// Ends the current session (pending or active) as cancelled by the receiver. Returns
    /// whether there was one.
    pub fn cancel_session(&self) -> bool {
        end_session(&self.shared, None, SessionOutcome::CancelledByReceiver)
    }
    /// True while a session is pending or active.
    pub fn busy(&self) -> bool {
        self.shared.session.lock().unwrap().is_some()
    }
    /// Waits until the server stops.
    pub async fn stopped(&self) {
        self.stop.cancelled().await
    }
}

/// Binds the listener and starts serving in the background, with the default [`ServerLimits`].
pub async fn start(opts: ServerOptions, handler: Arc<dyn ReceiveHandler>) -> Result<ServerHandle> {
    start_with_limits(opts, ServerLimits::default(), handler).await
}

/// [`start`] with other limits and timeouts.
pub async fn start_with_limits(opts: ServerOptions, limits: ServerLimits, handler: Arc<dyn ReceiveHandler>) -> Result<ServerHandle> {
    let listener = match TcpListener::bind(opts.bind).await {
        Ok(l) => l,
        Err(e) if opts.bind.ip() == IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED) => {
            tracing::debug!("dual-stack bind failed ({e}); trying IPv4");
            let v4 = SocketAddr::from(([0, 0, 0, 0], opts.bind.port()));
            TcpListener::bind(v4).await.map_err(|e| Error::new(ErrorKind::Network, format!("cannot listen on {v4}: {e}")))?
        }
        Err(e) => return Err(Error::new(ErrorKind::Network, format!("cannot listen on {}: {e}", opts.bind))),
    };
    let local_addr = listener.local_addr()?;
    let mut info = opts.info.as_response();
    info.fingerprint = opts.identity.fingerprint().to_string();
    let info_json = Bytes::from(serde_json::to_vec(&info).expect("serialisable"));
    let tls = if opts.https { Some(tokio_rustls::TlsAcceptor::from(crate::tls::server_config(&opts.identity)?)) } else { None };
    let shared = Arc::new(Shared {
        opts,
        info_json,
        handler,
        session: Mutex::new(None),
        pin: Mutex::new(PinState::default()),
        parse_lock: tokio::sync::Mutex::new(()),
        json_budget: ByteBudget::new(JSON_BYTES_BUDGET, JSON_SHARE_PER_ADDRESS, JSON_TRUSTED_RESERVE),
        small_budget: ByteBudget::new(SMALL_BYTES_BUDGET, SMALL_SHARE_PER_ADDRESS, SMALL_TRUSTED_RESERVE),
        texts: Mutex::new(HashMap::new()),
        limits,
        epoch: Instant::now(),
    });
    let stop = CancellationToken::new();
    tokio::spawn(accept_loop(listener, tls, shared.clone(), stop.clone()));
    tokio::spawn(idle_watchdog(shared.clone(), stop.clone()));
    Ok(ServerHandle { shared, local_addr, stop })
}

/// Open connections, per address (see [`share_key`]), oldest first, each with a token that
/// closes it.
#[derive(Default)]
struct ConnTable {
    total: usize,
    next_id: u64,
    by_key: HashMap<IpAddr, std::collections::VecDeque<(u64, CancellationToken)>>,
}

/// One admitted connection; its place is given back when the guard drops.
struct ConnSlot {
    table: Arc<Mutex<ConnTable>>,
    key: IpAddr,
    id: u64,
}

impl ConnSlot {
    /// Admits a connection from `key`, or refuses it (`None`). An address never holds more than
    /// `per_key`; when `max` are open, a connection from an address holding fewer than the address
    /// holding most closes that one's oldest connection and takes its place, so a device with few
    /// connections always gets in however many addresses flood.
    fn take(table: &Arc<Mutex<ConnTable>>, key: IpAddr, max: usize, per_key: usize) -> Option<(ConnSlot, CancellationToken)> {
        let mut t = table.lock().unwrap();
        let mine = t.by_key.get(&key).map_or(0, |v| v.len());
        if mine >= per_key {
            return None;
        }
        if t.total >= max {
            let (victim, most) = t.by_key.iter().map(|(k, v)| (*k, v.len())).max_by_key(|(_, n)| *n)?;
            if most <= mine + 1 {
                return None;
            }
            let list = t.by_key.get_mut(&victim).expect("present");
            let (_, stop) = list.pop_front().expect("not empty");
            if list.is_empty() {
                t.by_key.remove(&victim);
            }
            stop.cancel();
            t.total -= 1;
            tracing::debug!("all connections taken; closed the oldest of {victim} ({most} open)");
        }
        let id = t.next_id;
        t.next_id += 1;
        let stop = CancellationToken::new();
        t.by_key.entry(key).or_default().push_back((id, stop.clone()));
        t.total += 1;
        Some((ConnSlot { table: table.clone(), key, id }, stop))
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let mut t = self.table.lock().unwrap();
        let Some(list) = t.by_key.get_mut(&self.key) else { return };
        let Some(pos) = list.iter().position(|(id, _)| *id == self.id) else { return };
        list.remove(pos);
        if list.is_empty() {
            t.by_key.remove(&self.key);
        }
        t.total -= 1;
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shared: Arc<Shared>,
    stop: CancellationToken,
) {
    // Every address gets a bounded share, and a full table makes room for whoever holds least.
    let table: Arc<Mutex<ConnTable>> = Arc::new(Mutex::new(ConnTable::default()));
    let (max, per_key) = (shared.limits.max_connections.max(1), shared.limits.max_connections_per_ip.max(1));
    loop {
        let (tcp, addr) = tokio::select! {
            _ = stop.cancelled() => return,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let ip = canonical_ip(addr.ip());
        let Some((slot, evicted)) = ConnSlot::take(&table, share_key(ip), max, per_key) else {
            tracing::debug!("too many connections from {ip}; closing a new one");
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let shared = shared.clone();
        let tls = tls.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let scope = match addr {
                SocketAddr::V6(v6) => v6.scope_id(),
                SocketAddr::V4(_) => 0,
            };
            let work = async {
                match tls {
                    Some(acceptor) => {
                        let stream = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                            Ok(Ok(s)) => s,
                            Ok(Err(e)) => {
                                tracing::debug!("TLS handshake with {addr} failed: {e}");
                                return;
                            }
                            Err(_) => return,
                        };
                        let peer_fp = crate::tls::peer_fingerprint(stream.get_ref().1.peer_certificates());
                        serve(stream, shared, ip, scope, peer_fp).await
                    }
                    None => serve(tcp, shared, ip, scope, None).await,
                }
            };
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = evicted.cancelled() => {}
                _ = work => {}
            }
        });
    }
}

async fn serve<S>(stream: S, shared: Arc<Shared>, ip: IpAddr, scope: u32, peer_fp: Option<String>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let peer_fp = Arc::new(peer_fp);
    // Also closes a kept-alive connection on which no new request starts in this time.
    let shared_timeout = shared.limits.header_timeout;
    let service = hyper::service::service_fn(move |req| {
        let shared = shared.clone();
        let peer_fp = peer_fp.clone();
        async move { Ok::<_, std::convert::Infallible>(route(shared, ip, scope, peer_fp.as_deref(), req).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(shared_timeout)
        .keep_alive(true)
        // Bounds what one connection buffers (a request head, a piece of body).
        .max_buf_size(64 * 1024)
        .serve_connection(TokioIo::new(stream), service);
    if let Err(e) = conn.await {
        tracing::debug!("connection from {ip} ended: {e}");
    }
}

async fn idle_watchdog(shared: Arc<Shared>, stop: CancellationToken) {
    let idle_limit = shared.limits.session_idle_timeout;
    let mut tick = tokio::time::interval((idle_limit / 4).clamp(Duration::from_millis(100), Duration::from_secs(5)));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = shared.now_ms();
        // Counted from the last byte that arrived: a file being received that stopped arriving
        // does not keep the session (and so every other sender) waiting.
        let stale = {
            let guard = shared.session.lock().unwrap();
            guard.as_ref().and_then(|s| {
                let idle = now.saturating_sub(s.last_activity.load(Ordering::Relaxed));
                (s.phase == Phase::Active && idle > idle_limit.as_millis() as u64).then(|| s.id.clone())
            })
        };
        if let Some(id) = stale {
            end_session(&shared, Some(&id), SessionOutcome::TimedOut);
        }
    }
}

type Resp = Response<Full<Bytes>>;

fn empty(status: StatusCode) -> Resp {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = status;
    r
}

fn json_bytes(status: StatusCode, body: Bytes) -> Resp {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    r.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    r
}

fn message(status: StatusCode, msg: &str) -> Resp {
    let body = serde_json::to_vec(&ErrorBody { message: msg.to_string() }).expect("serialisable");
    json_bytes(status, Bytes::from(body))
}

async fn route(shared: Arc<Shared>, ip: IpAddr, scope: u32, peer_fp: Option<&str>, req: Request<Incoming>) -> Resp {
    let path = req.uri().path().trim_end_matches('/').to_string();
    let Some(endpoint) = path.strip_prefix("/api/localsend/") else {
        return message(StatusCode::NOT_FOUND, "Not found");
    };
    match (req.method(), endpoint) {
        (&Method::POST, "v2/register") | (&Method::POST, "v1/register") => register(&shared, ip, scope, peer_fp, req).await,
        (&Method::GET, "v2/info") | (&Method::GET, "v1/info") => json_bytes(StatusCode::OK, shared.info_json.clone()),
        (&Method::POST, "v2/prepare-upload") => prepare_upload(&shared, ip, peer_fp, req).await,
        (&Method::POST, "v2/upload") => upload(&shared, ip, req).await,
        (&Method::POST, "v2/cancel") => cancel(&shared, ip, req),
        (_, "v2/register" | "v1/register" | "v2/info" | "v1/info" | "v2/prepare-upload" | "v2/upload" | "v2/cancel") => {
            message(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed")
        }
        _ => message(StatusCode::NOT_FOUND, "Not found"),
    }
}

/// Reads a whole body into chunks, counting its bytes against a shared budget (the returned hold
/// keeps them until it is dropped): the small one for bodies up to [`MAX_SMALL_BODY`], else the
/// JSON one. `trusted`: the connection's certificate is a trusted device's (it may use the whole
/// budget and its reserve). The body must arrive at [`ServerLimits::min_body_rate`] (its
/// deadline follows from its length), never later than `cap`.
async fn read_body(shared: &Shared, req: Request<Incoming>, ip: IpAddr, trusted: bool, limit: usize, cap: Duration) -> std::result::Result<(BodyChunks, BudgetHold), Resp> {
    let declared = req.headers().get(hyper::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    let budget = if limit <= MAX_SMALL_BODY { shared.small_budget.clone() } else { shared.json_budget.clone() };
    // A stranger's body may never be bigger than one address's share.
    let limit = if trusted { limit } else { limit.min(budget.per_address) };
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(message(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large"));
    }
    let length = declared.unwrap_or(limit as u64);
    let rate = shared.limits.min_body_rate.max(1);
    let deadline = (shared.limits.body_grace + Duration::from_millis(length.saturating_mul(1000) / rate)).min(cap);
    let mut body = req.into_body();
    let read = async move {
        let mut held = BudgetHold { budget, key: share_key(ip), trusted, held: 0 };
        let mut chunks = std::collections::VecDeque::new();
        let mut total = 0usize;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| message(StatusCode::BAD_REQUEST, "Request body incomplete"))?;
            let Ok(data) = frame.into_data() else { continue };
            total += data.len();
            if total > limit {
                return Err(message(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large"));
            }
            if !held.try_add(data.len()) {
                return Err(message(StatusCode::SERVICE_UNAVAILABLE, "Busy; try again later"));
            }
            chunks.push_back(data);
        }
        Ok((BodyChunks(chunks), held))
    };
    match tokio::time::timeout(deadline, read).await {
        Ok(r) => r,
        Err(_) => Err(message(StatusCode::REQUEST_TIMEOUT, "Request body too slow")),
    }
}

/// A body as received, read (and freed) front to back.
struct BodyChunks(std::collections::VecDeque<Bytes>);

impl std::io::Read for BodyChunks {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while let Some(front) = self.0.front_mut() {
            if front.is_empty() {
                self.0.pop_front();
                continue;
            }
            let n = front.len().min(buf.len());
            buf[..n].copy_from_slice(&front[..n]);
            bytes::Buf::advance(front, n);
            return Ok(n);
        }
        Ok(0)
    }
}

async fn read_json<T: serde::de::DeserializeOwned>(shared: &Shared, req: Request<Incoming>, ip: IpAddr, trusted: bool, limit: usize, deadline: Duration) -> std::result::Result<T, Resp> {
    let (chunks, _hold) = read_body(shared, req, ip, trusted, limit, deadline).await?;
    parse_chunks(chunks)
}

fn parse_chunks<T: serde::de::DeserializeOwned>(mut chunks: BodyChunks) -> std::result::Result<T, Resp> {
    let parsed = if chunks.0.len() <= 1 {
        serde_json::from_slice(chunks.0.front().map(|b| &b[..]).unwrap_or_default())
    } else {
        // Parsed straight from the chunks, never copied into one buffer.
        serde_json::from_reader(std::io::BufReader::with_capacity(64 * 1024, &mut chunks))
    };
    parsed.map_err(|e| message(StatusCode::BAD_REQUEST, &format!("Invalid body: {e}")))
}

async fn register(shared: &Arc<Shared>, ip: IpAddr, scope: u32, peer_fp: Option<&str>, req: Request<Incoming>) -> Resp {
    let trusted = peer_fp.is_some_and(|fp| shared.opts.trust.is_trusted(fp));
    let mut info: DeviceInfo = match read_json(shared, req, ip, trusted, MAX_SMALL_BODY, shared.limits.small_body_timeout).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    // Over TLS a register only counts when the body fingerprint is the certificate's.
    let verified = match peer_fp {
        Some(fp) => {
            if !info.fingerprint.eq_ignore_ascii_case(fp) {
                tracing::debug!("register from {ip}: body fingerprint does not match its certificate; not counted");
                return json_bytes(StatusCode::OK, shared.info_json.clone());
            }
            info.fingerprint = fp.to_string();
            true
        }
        None => false,
    };
    if !info.fingerprint.eq_ignore_ascii_case(shared.opts.identity.fingerprint()) {
        let from = match ip {
            IpAddr::V6(v6) => SocketAddr::V6(std::net::SocketAddrV6::new(v6, 0, 0, scope)),
            IpAddr::V4(v4) => SocketAddr::from((v4, 0)),
        };
        shared.handler.on_register(&info, verified, from);
    }
    json_bytes(StatusCode::OK, shared.info_json.clone())
}

/// Checks the PIN (before the body is parsed). `None` means go on. `trusted`: the connection's
/// certificate is a trusted device's, which the global lock does not hold (see [`ServerLimits`]).
fn check_pin(shared: &Shared, ip: IpAddr, trusted: bool, query: Option<&str>) -> Option<Resp> {
    let pin = shared.opts.pin.as_deref()?;
    let limits = &shared.limits;
    let now = Instant::now();
    let event = {
        let mut st = shared.pin.lock().unwrap();
        let key = share_key(ip);
        if let Some(&(n, last)) = st.per_ip.get(&key) {
            if now.duration_since(last) >= limits.pin_forget_after {
                // Forgotten like the global count: a person who mistyped is not shut out for ever.
                st.per_ip.remove(&key);
            } else if n >= PIN_MAX_FAILURES {
                return Some(message(StatusCode::TOO_MANY_REQUESTS, "Too many attempts"));
            }
        }
        let locked = st.locked_until.is_some_and(|t| now < t);
        if !locked && st.last_failure.is_some_and(|t| now.duration_since(t) >= limits.pin_forget_after) {
            st.failures = 0;
        }
        if locked && !trusted {
            // Not even looked at: one guess per lock, from any number of addresses.
            return Some(message(StatusCode::TOO_MANY_REQUESTS, "Too many wrong PINs; try again later"));
        }
        match query_param(query, "pin") {
            None => return Some(message(StatusCode::UNAUTHORIZED, "PIN required")),
            Some(given) if constant_time_eq(&given, pin) => {
                st.per_ip.remove(&key);
                return None;
            }
            Some(_) => {}
        }
        st.failures = st.failures.saturating_add(1);
        st.last_failure = Some(now);
        if let Some((n, last)) = st.per_ip.get_mut(&key) {
            *n += 1;
            *last = now;
        } else {
            if st.per_ip.len() >= limits.pin_table_max {
                // Make room by forgetting addresses that are not refused (or whose refusal is
                // over); refused ones stay refused, and when none can go the new address counts
                // only globally.
                let forget = limits.pin_forget_after;
                st.per_ip.retain(|_, (n, last)| *n >= PIN_MAX_FAILURES && now.duration_since(*last) < forget);
            }
            if st.per_ip.len() < limits.pin_table_max {
                st.per_ip.insert(key, (1, now));
            }
        }
        let locked_for = (st.failures > limits.pin_free_failures).then(|| {
            let doublings = (st.failures - limits.pin_free_failures - 1).min(30);
            limits.pin_lock_base.saturating_mul(1u32 << doublings).min(limits.pin_lock_max)
        });
        if let Some(d) = locked_for {
            let until = now + d;
            st.locked_until = Some(st.locked_until.map_or(until, |t| t.max(until)));
        }
        let tell = locked_for.is_some() || st.last_event.is_none_or(|t| now.duration_since(t) >= PIN_EVENT_GAP);
        if tell {
            st.last_event = Some(now);
        }
        tell.then(|| ReceiveEvent::PinFailed { ip, failures_total: st.failures, locked_for })
    };
    if let Some(e) = event {
        shared.handler.on_event(e);
    }
    Some(message(StatusCode::UNAUTHORIZED, "Invalid PIN"))
}

/// Clears the pending session `id` if the prepare-upload request that opened it goes away.
struct PendingGuard<'a> {
    shared: &'a Shared,
    id: String,
    armed: bool,
    /// The handler was asked about it (and is told when it closes unanswered).
    asked: bool,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            {
                let mut guard = self.shared.session.lock().unwrap();
                if guard.as_ref().is_some_and(|s| s.id == self.id && s.phase == Phase::Pending) {
                    *guard = None;
                }
            }
            if self.asked {
                self.shared.handler.on_event(ReceiveEvent::RequestClosed { session_id: std::mem::take(&mut self.id) });
            }
        }
    }
}

async fn prepare_upload(shared: &Arc<Shared>, ip: IpAddr, peer_fp: Option<&str>, req: Request<Incoming>) -> Resp {
    let trusted_cert = peer_fp.is_some_and(|fp| shared.opts.trust.is_trusted(fp));
    if let Some(r) = check_pin(shared, ip, trusted_cert, req.uri().query()) {
        return r;
    }
    // A receiver that takes only trusted devices (or nobody) does not read a stranger's body:
    // whatever it holds, files or a text, it would be declined.
    let refuse_unread = match shared.opts.policy {
        ReceivePolicy::DeclineAll => true,
        ReceivePolicy::TrustedOnly => !trusted_cert,
        _ => false,
    };
    if refuse_unread {
        let sender = SenderInfo {
            alias: String::new(),
            device_model: None,
            device_type: DeviceType::Desktop,
            fingerprint: peer_fp.unwrap_or_default().to_string(),
            verified: peer_fp.is_some(),
            trusted: trusted_cert,
            ip,
        };
        shared.handler.on_event(ReceiveEvent::Declined { sender });
        return message(StatusCode::FORBIDDEN, "Declined");
    }
    if blocked(shared, trusted_cert) {
        return message(StatusCode::CONFLICT, "Blocked by another session");
    }
    let (chunks, budget) = match read_body(shared, req, ip, trusted_cert, MAX_JSON_BODY, shared.limits.large_body_timeout).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    // One file list at a time: parsed under the lock, which is held until the session exists.
    let Ok(parse_guard) = tokio::time::timeout(shared.limits.large_body_timeout, shared.parse_lock.lock()).await else {
        return message(StatusCode::SERVICE_UNAVAILABLE, "Busy; try again later");
    };
    if blocked(shared, trusted_cert) {
        return message(StatusCode::CONFLICT, "Blocked by another session");
    }
    // Parsing stops at the caps of `protocol` (files, folders, memory), off the async threads.
    let parsed = tokio::task::spawn_blocking(move || parse_chunks::<IncomingPrepare>(chunks)).await;
    drop(budget);
    let body = match parsed {
        Ok(Ok(b)) => b,
        Ok(Err(r)) => return r,
        Err(_) => return message(StatusCode::INTERNAL_SERVER_ERROR, "Parsing failed"),
    };
    let dir_count = body.ferry.as_ref().map_or(0, |f| f.empty_dirs.len());
    if body.files.is_empty() && dir_count == 0 {
        return message(StatusCode::BAD_REQUEST, "Request must contain at least one file");
    }
    // One budget for files and folders, checked before anything is created or anyone is asked.
    if dir_count > MAX_EMPTY_DIRS || body.files.len() + dir_count > MAX_ITEMS_PER_REQUEST {
        return message(StatusCode::BAD_REQUEST, "Too many files and folders in one request");
    }
    let (fingerprint, verified) = match peer_fp {
        Some(fp) => (fp.to_string(), true),
        None => (body.info.fingerprint.clone(), false),
    };
    let trusted = verified && shared.opts.trust.is_trusted(&fingerprint);
    let sender = SenderInfo {
        alias: body.info.alias.chars().take(128).collect(),
        device_model: body.info.device_model.clone().map(|m| m.chars().take(128).collect()),
        device_type: body.info.device_type_or_default(),
        fingerprint,
        verified,
        trusted,
        ip,
    };

    // A text message is shown and answered 204; it never opens a session.
    if body.files.len() == 1 {
        let file = &body.files[0];
        if file.is_text_message() {
            let refuse = match shared.opts.policy {
                ReceivePolicy::DeclineAll => true,
                ReceivePolicy::TrustedOnly => !trusted,
                _ => false,
            };
            if refuse {
                shared.handler.on_event(ReceiveEvent::Declined { sender });
                return message(StatusCode::FORBIDDEN, "Declined");
            }
            let text = file.preview.as_deref().unwrap_or("");
            if text.len() > MAX_TEXT_BYTES {
                return message(StatusCode::PAYLOAD_TOO_LARGE, "Text message too long; send it as a file");
            }
            if !text_allowed(shared, ip) {
                return message(StatusCode::TOO_MANY_REQUESTS, "Too many text messages; try again later");
            }
            shared.handler.on_text(&sender, text);
            return empty(StatusCode::NO_CONTENT);
        }
    }

    let mut files = body.files;
    for dto in &files {
        if let Err(e) = sanitize_relative_path(&dto.file_name) {
            return message(StatusCode::BAD_REQUEST, &e.message);
        }
    }
    // Ids are the keys of a JSON object: one file per id.
    if index_by_id(&files).windows(2).any(|w| files[w[0] as usize].id == files[w[1] as usize].id) {
        return message(StatusCode::BAD_REQUEST, "Duplicate file id");
    }
    // Sizes are added up for the person asked and for progress: a total that does not fit is a lie.
    if files.iter().try_fold(0u64, |sum, f| sum.checked_add(f.size)).is_none() {
        return message(StatusCode::BAD_REQUEST, "File sizes add up to more than any device holds");
    }
    files.sort_by(|a, b| a.file_name.cmp(&b.file_name));
    let files = Arc::new(files);
    let empty_dirs = body.ferry.map(|f| f.empty_dirs).unwrap_or_default();
    for d in &empty_dirs {
        if let Err(e) = sanitize_relative_path(d) {
            return message(StatusCode::BAD_REQUEST, &e.message);
        }
    }

    let id = random_id();
    let cancel = CancellationToken::new();
    let preempted = {
        let mut guard = shared.session.lock().unwrap();
        let preempted = match guard.as_ref() {
            None => None,
            Some(s) if preemptible(s, trusted_cert) => guard.take(),
            Some(_) => return message(StatusCode::CONFLICT, "Blocked by another session"),
        };
        *guard = Some(Session {
            id: id.clone(),
            sender: sender.clone(),
            phase: Phase::Pending,
            files: Arc::new(Vec::new()),
            slots: Vec::new(),
            by_id: Vec::new(),
            saved: 0,
            failed: 0,
            cancel: cancel.clone(),
            last_activity: Arc::new(AtomicU64::new(shared.now_ms())),
        });
        preempted
    };
    if let Some(old) = preempted {
        // Its own request answers the stranger and tells the handler it closed.
        tracing::debug!("a trusted device goes before the unanswered request from {}", old.sender.ip);
        old.cancel.cancel();
    }
    drop(parse_guard);
    let mut pending = PendingGuard { shared, id: id.clone(), armed: true, asked: false };

    let decision = match shared.opts.policy {
        ReceivePolicy::DeclineAll => Decision::Decline,
        ReceivePolicy::AcceptAll => Decision::AcceptAll,
        ReceivePolicy::Ask | ReceivePolicy::TrustedOnly if trusted => Decision::AcceptAll,
        ReceivePolicy::TrustedOnly => Decision::Decline,
        ReceivePolicy::Ask | ReceivePolicy::AskAll => {
            let (tx, rx) = oneshot::channel();
            pending.asked = true;
            let request = IncomingRequest { session_id: id.clone(), sender: sender.clone(), files: files.clone(), empty_dirs: empty_dirs.clone() };
            shared.handler.on_request(request, DecisionReply(tx));
            tokio::select! {
                d = rx => d.unwrap_or(Decision::Decline),
                _ = cancel.cancelled() => return message(StatusCode::FORBIDDEN, "Cancelled"),
                // Nobody answered: declined, and the handler is told that the request closed.
                _ = tokio::time::sleep(shared.limits.request_timeout) => return message(StatusCode::FORBIDDEN, "Not answered in time"),
            }
        }
    };
    let accepted: Arc<Vec<FileDto>> = match &decision {
        Decision::AcceptAll => files,
        Decision::Accept(ids) => Arc::new(files.iter().filter(|f| ids.contains(&f.id)).cloned().collect()),
        Decision::Decline => Arc::new(Vec::new()),
    };
    if decision == Decision::Decline {
        // The guard clears the pending session.
        shared.handler.on_event(ReceiveEvent::Declined { sender });
        return message(StatusCode::FORBIDDEN, "Declined");
    }
    // Empty folders come with an accepted request.
    let mut made = Vec::new();
    for d in &empty_dirs {
        match shared.opts.receive_dir.create_dir(d) {
            Ok(p) => made.push(p),
            Err(e) => tracing::warn!("cannot create folder {d:?}: {e}"),
        }
    }
    if accepted.is_empty() {
        if !made.is_empty() {
            shared.handler.on_event(ReceiveEvent::FoldersCreated { session_id: id.clone(), paths: made });
        }
        return empty(StatusCode::NO_CONTENT);
    }
    let slots: Vec<SessionFile> = accepted.iter().map(|_| SessionFile { token: random_id_bytes(), state: FileState::Pending, tries: 0 }).collect();
    let tokens: Vec<[u8; 16]> = slots.iter().map(|s| s.token).collect();
    let by_id = index_by_id(&accepted);
    {
        let mut guard = shared.session.lock().unwrap();
        let Some(session) = guard.as_mut().filter(|s| s.id == id && s.phase == Phase::Pending) else {
            return message(StatusCode::FORBIDDEN, "Cancelled");
        };
        session.files = accepted.clone();
        session.slots = slots;
        session.by_id = by_id;
        session.phase = Phase::Active;
        session.last_activity.store(shared.now_ms(), Ordering::Relaxed);
        pending.armed = false;
    }
    // The answer is written straight from the lists (no map of every id and token).
    let mut out = Vec::with_capacity(64 + accepted.len() * 84);
    out.extend_from_slice(b"{\"sessionId\":");
    serde_json::to_writer(&mut out, &id).expect("serialisable");
    out.extend_from_slice(b",\"files\":{");
    for (i, (dto, token)) in accepted.iter().zip(&tokens).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, &dto.id).expect("serialisable");
        out.push(b':');
        serde_json::to_writer(&mut out, &format_id(*token)).expect("serialisable");
    }
    out.extend_from_slice(b"}}");
    drop(tokens);
    shared.handler.on_event(ReceiveEvent::SessionStarted { session_id: id.clone(), sender, files: accepted });
    if !made.is_empty() {
        shared.handler.on_event(ReceiveEvent::FoldersCreated { session_id: id.clone(), paths: made });
    }
    json_bytes(StatusCode::OK, Bytes::from(out))
}

/// A session is there and a request from a sender (`trusted`: by its certificate) cannot go
/// before it.
fn blocked(shared: &Shared, trusted: bool) -> bool {
    shared.session.lock().unwrap().as_ref().is_some_and(|s| !preemptible(s, trusted))
}

/// A trusted device goes before a stranger's request that nobody answered yet.
fn preemptible(s: &Session, trusted: bool) -> bool {
    trusted && s.phase == Phase::Pending && !s.sender.trusted
}

/// Counts a text message from `ip` against its allowance ([`ServerLimits::text_burst`], one
/// more every [`ServerLimits::text_interval`]).
fn text_allowed(shared: &Shared, ip: IpAddr) -> bool {
    let limits = &shared.limits;
    let (burst, every) = (f64::from(limits.text_burst.max(1)), limits.text_interval.as_secs_f64().max(1e-3));
    let now = Instant::now();
    let mut texts = shared.texts.lock().unwrap();
    if texts.len() >= 4096 {
        texts.retain(|_, (left, at)| *left + now.duration_since(*at).as_secs_f64() / every < burst);
        if texts.len() >= 4096 {
            texts.clear();
        }
    }
    let (left, at) = texts.entry(share_key(ip)).or_insert((burst, now));
    *left = (*left + now.duration_since(*at).as_secs_f64() / every).min(burst);
    *at = now;
    if *left < 1.0 {
        return false;
    }
    *left -= 1.0;
    true
}

/// Indexes of `files` sorted by file id.
fn index_by_id(files: &[FileDto]) -> Vec<u32> {
    let mut by_id: Vec<u32> = (0..files.len() as u32).collect();
    by_id.sort_unstable_by(|&a, &b| files[a as usize].id.cmp(&files[b as usize].id));
    by_id
}

/// Ends the session (`id`, or whichever is current) with `outcome`. Returns whether one ended.
fn end_session(shared: &Shared, id: Option<&str>, outcome: SessionOutcome) -> bool {
    let session = {
        let mut guard = shared.session.lock().unwrap();
        match guard.as_ref() {
            Some(s) if id.is_none_or(|id| s.id == id) => guard.take(),
            _ => None,
        }
    };
    match session {
        Some(s) => {
            s.cancel.cancel();
            if s.phase == Phase::Active {
                shared.handler.on_event(ReceiveEvent::SessionFinished { session_id: s.id, outcome });
            }
            true
        }
        None => false,
    }
}

fn cancel(shared: &Arc<Shared>, ip: IpAddr, req: Request<Incoming>) -> Resp {
    let session_id = query_param(req.uri().query(), "sessionId");
    let target = {
        let guard = shared.session.lock().unwrap();
        match guard.as_ref() {
            None => return empty(StatusCode::OK),
            Some(s) if s.sender.ip != ip => return message(StatusCode::FORBIDDEN, "Not the sender of this session"),
            // Without a session id (a pending request, or older senders) the IP decides.
            Some(s) => match &session_id {
                Some(sid) if *sid != s.id => return message(StatusCode::FORBIDDEN, "Invalid session id"),
                _ => s.id.clone(),
            },
        }
    };
    end_session(shared, Some(&target), SessionOutcome::CancelledBySender);
    empty(StatusCode::OK)
}

/// Writes every chunk, with as few system calls as the kernel allows.
fn write_all_vectored(file: &mut File, chunks: &[Bytes]) -> std::io::Result<()> {
    let mut slices: Vec<std::io::IoSlice<'_>> = chunks.iter().filter(|c| !c.is_empty()).map(|c| std::io::IoSlice::new(c)).collect();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        match file.write_vectored(rest) {
            Ok(0) => return Err(std::io::Error::new(std::io::ErrorKind::WriteZero, "wrote nothing")),
            Ok(n) => std::io::IoSlice::advance_slices(&mut rest, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

enum WriterMsg {
    Data(Bytes),
    Finish,
}

enum UploadFailure {
    Size { received: u64, declared: u64 },
    Checksum,
    Io(Error),
    Aborted,
    /// Less than [`ServerLimits::min_progress`] arrived in a [`ServerLimits::body_stall_timeout`].
    Stalled,
}

/// Resets a file to pending if its upload request goes away before it ends.
struct UploadGuard {
    shared: Arc<Shared>,
    session_id: String,
    file_id: String,
    armed: bool,
}

impl Drop for UploadGuard {
    fn drop(&mut self) {
        if self.armed {
            let mut guard = self.shared.session.lock().unwrap();
            if let Some(s) = guard.as_mut().filter(|s| s.id == self.session_id) {
                if let Some(f) = s.find(&self.file_id).map(|i| &mut s.slots[i]).filter(|f| f.state == FileState::Receiving) {
                    f.state = FileState::Pending;
                }
            }
        }
    }
}

async fn upload(shared: &Arc<Shared>, ip: IpAddr, req: Request<Incoming>) -> Resp {
    let q = req.uri().query();
    let (Some(session_id), Some(file_id), Some(token)) =
        (query_param(q, "sessionId"), query_param(q, "fileId"), query_param(q, "token"))
    else {
        return message(StatusCode::BAD_REQUEST, "Missing parameters");
    };
    let (dto, cancel, activity) = {
        let mut guard = shared.session.lock().unwrap();
        let Some(s) = guard.as_mut().filter(|s| s.id == session_id) else {
            return message(StatusCode::FORBIDDEN, "Invalid session id");
        };
        if s.sender.ip != ip {
            return message(StatusCode::FORBIDDEN, "Invalid IP address");
        }
        if s.phase != Phase::Active {
            return message(StatusCode::CONFLICT, "Session not accepted yet");
        }
        let Some(i) = s.find(&file_id).filter(|&i| constant_time_eq(&format_id(s.slots[i].token), &token)) else {
            return message(StatusCode::FORBIDDEN, "Invalid token");
        };
        let dto = s.files[i].clone();
        let f = &mut s.slots[i];
        match f.state {
            FileState::Pending => {}
            FileState::Receiving => return message(StatusCode::CONFLICT, "File is already being received"),
            FileState::Done => return message(StatusCode::CONFLICT, "File already received"),
            FileState::Failed => return message(StatusCode::FORBIDDEN, "File failed"),
        }
        // Starting an upload is not progress (only bytes are): a sender that starts and stalls
        // uploads over and over does not keep the session.
        f.state = FileState::Receiving;
        (dto, s.cancel.clone(), s.last_activity.clone())
    };
    let mut guard = UploadGuard { shared: shared.clone(), session_id: session_id.clone(), file_id: file_id.clone(), armed: true };

    let result = receive_body(shared, &session_id, &dto, req.into_body(), &cancel, &activity).await;
    guard.armed = false;
    finish_upload(shared, &session_id, &dto, result)
}

async fn receive_body(
    shared: &Arc<Shared>,
    session_id: &str,
    dto: &FileDto,
    mut body: Incoming,
    cancel: &CancellationToken,
    activity: &AtomicU64,
) -> std::result::Result<Option<PathBuf>, UploadFailure> {
    let receive_dir = shared.opts.receive_dir.clone();
    let (handler, sid, offered) = (shared.handler.clone(), session_id.to_string(), dto.clone());
    let name = dto.file_name.clone();
    let declared = dto.size;
    let expected = if shared.opts.verify_checksums { dto.checksum() } else { None };
    let modified = dto.metadata.as_ref().and_then(|m| m.modified.as_deref()).and_then(parse_time);
    let accessed = dto.metadata.as_ref().and_then(|m| m.accessed.as_deref()).and_then(parse_time);

    let (tx, mut rx) = tokio::sync::mpsc::channel::<WriterMsg>(WRITER_QUEUE);
    let writer = tokio::task::spawn_blocking(move || -> std::result::Result<Option<PathBuf>, UploadFailure> {
        let mut part = match handler.open_destination(&sid, &offered).map_err(UploadFailure::Io)? {
            Some(file) => Sink::App(AppFile::new(file, handler, sid, offered.id).map_err(UploadFailure::Io)?),
            None => Sink::Part(receive_dir.begin_file(&name).map_err(UploadFailure::Io)?),
        };
        let mut hasher = expected.as_ref().map(|_| Sha256::new());
        let mut written = 0u64;
        let mut msgs: Vec<WriterMsg> = Vec::with_capacity(WRITER_QUEUE);
        let mut batch: Vec<Bytes> = Vec::with_capacity(WRITER_QUEUE);
        let mut finished = false;
        while !finished {
            // Everything that is waiting goes out in one vectored write.
            if rx.blocking_recv_many(&mut msgs, WRITER_QUEUE) == 0 {
                return Err(UploadFailure::Aborted);
            }
            for m in msgs.drain(..) {
                match m {
                    WriterMsg::Data(chunk) => batch.push(chunk),
                    WriterMsg::Finish => finished = true,
                }
            }
            if let Some(h) = hasher.as_mut() {
                batch.iter().for_each(|c| h.update(c));
            }
            written += batch.iter().map(|c| c.len() as u64).sum::<u64>();
            write_all_vectored(part.file(), &batch).map_err(|e| UploadFailure::Io(Error::io("cannot write received file", e)))?;
            batch.clear();
        }
        if written != declared {
            return Err(UploadFailure::Size { received: written, declared });
        }
        if let (Some(h), Some(want)) = (hasher, expected) {
            if hex::encode(h.finalize()) != want {
                return Err(UploadFailure::Checksum);
            }
        }
        part.commit(modified, accessed).map_err(UploadFailure::Io)
    });

    let mut received = 0u64;
    let mut reported = 0u64;
    // Progress is counted over windows of `body_stall_timeout`: fewer than `min_progress` bytes
    // in one (a trickle, or nothing) fails the file; only such progress keeps the session alive.
    let stall = shared.limits.body_stall_timeout;
    let min_progress = shared.limits.min_progress;
    let mut window_end = tokio::time::Instant::now() + stall;
    let mut in_window = 0u64;
    let mut unmarked = 0u64;
    let outcome: std::result::Result<(), UploadFailure> = loop {
        let frame = tokio::select! {
            _ = cancel.cancelled() => break Err(UploadFailure::Aborted),
            f = tokio::time::timeout_at(window_end, body.frame()) => match f {
                Ok(f) => f,
                Err(_) if in_window < min_progress => break Err(UploadFailure::Stalled),
                Err(_) => {
                    window_end = tokio::time::Instant::now() + stall;
                    in_window = 0;
                    continue;
                }
            },
        };
        match frame {
            None => break Ok(()),
            Some(Err(e)) => {
                tracing::debug!("upload of {:?} broke off: {e}", dto.file_name);
                break Err(UploadFailure::Aborted);
            }
            Some(Ok(frame)) => {
                let Ok(data) = frame.into_data() else { continue };
                received += data.len() as u64;
                in_window += data.len() as u64;
                unmarked += data.len() as u64;
                // The session's idle time counts from the last real progress (one relaxed store).
                if unmarked >= min_progress {
                    unmarked = 0;
                    activity.store(shared.now_ms(), Ordering::Relaxed);
                }
                if received > declared {
                    break Err(UploadFailure::Size { received, declared });
                }
                if tx.send(WriterMsg::Data(data)).await.is_err() {
                    break Ok(()); // the writer failed; its error is reported below
                }
                if received - reported >= PROGRESS_STEP {
                    reported = received;
                    shared.handler.on_event(ReceiveEvent::FileProgress {
                        session_id: session_id.to_string(),
                        file_id: dto.id.clone(),
                        received,
                        size: declared,
                    });
                }
            }
        }
    };
    match outcome {
        Ok(()) => {
            let _ = tx.send(WriterMsg::Finish).await;
            drop(tx);
        }
        Err(e) => {
            drop(tx); // the writer sees the channel close and drops (removes) the temporary file
            let _ = writer.await;
            return Err(e);
        }
    }
    let result = writer.await.unwrap_or_else(|_| Err(UploadFailure::Io(Error::new(ErrorKind::Internal, "writer panicked"))));
    if result.is_ok() && received != reported {
        shared.handler.on_event(ReceiveEvent::FileProgress {
            session_id: session_id.to_string(),
            file_id: dto.id.clone(),
            received,
            size: declared,
        });
    }
    result
}

fn finish_upload(shared: &Arc<Shared>, session_id: &str, dto: &FileDto, result: std::result::Result<Option<PathBuf>, UploadFailure>) -> Resp {
    let mut events = Vec::new();
    let mut finished = None;
    let resp = {
        let mut guard = shared.session.lock().unwrap();
        let Some(s) = guard.as_mut().filter(|s| s.id == session_id) else {
            // Cancelled meanwhile; the temporary file is already gone.
            return message(StatusCode::FORBIDDEN, "Session cancelled");
        };
        if result.is_ok() {
            s.last_activity.store(shared.now_ms(), Ordering::Relaxed);
        }
        let i = s.find(&dto.id).expect("file of this session");
        let f = &mut s.slots[i];
        let (resp, failure) = match result {
            Ok(path) => {
                f.state = FileState::Done;
                s.saved += 1;
                events.push(ReceiveEvent::FileCompleted { session_id: session_id.to_string(), file_id: dto.id.clone(), path });
                (empty(StatusCode::OK), None)
            }
            Err(UploadFailure::Checksum) => {
                (message(StatusCode::UNPROCESSABLE_ENTITY, "Checksum mismatch"), Some("checksum mismatch".to_string()))
            }
            Err(UploadFailure::Size { received, declared }) => {
                let m = if received > declared {
                    format!("Body longer than the declared {declared} bytes")
                } else {
                    format!("Received {received} of the declared {declared} bytes")
                };
                (message(StatusCode::BAD_REQUEST, &m), Some(m))
            }
            Err(UploadFailure::Aborted) => (message(StatusCode::BAD_REQUEST, "Upload aborted"), Some("upload aborted".into())),
            Err(UploadFailure::Stalled) => (message(StatusCode::REQUEST_TIMEOUT, "Upload stalled"), Some("too little arrived for too long".into())),
            Err(UploadFailure::Io(e)) => (message(StatusCode::INTERNAL_SERVER_ERROR, &e.message), Some(e.message)),
        };
        if let Some(error) = failure {
            f.tries += 1;
            let retry = u32::from(f.tries) < CHECKSUM_TRIES;
            f.state = if retry { FileState::Pending } else { FileState::Failed };
            s.failed += usize::from(!retry);
            events.push(ReceiveEvent::FileFailed { session_id: session_id.to_string(), file_id: dto.id.clone(), error, retry });
        }
        if s.all_ended() {
            let s = guard.take().expect("session present");
            finished = Some(SessionOutcome::Finished { saved: s.saved, failed: s.failed });
        }
        resp
    };
    for e in events {
        shared.handler.on_event(e);
    }
    if let Some(outcome) = finished {
        shared.handler.on_event(ReceiveEvent::SessionFinished { session_id: session_id.to_string(), outcome });
    }
    resp
}
