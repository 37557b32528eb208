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
//! requests, one memory budget for the file lists of prepare-upload bodies, parsed as they arrive
//! (a share per address and a reserve for trusted devices), caps on files and empty folders
//! counted together and on each entry's size, and caps on text messages.
//!
//! By concern: this module holds the public API ([`start`], [`ServerOptions`], the handler and
//! its events) and the shared state; `accept` takes connections (fair shares, TLS, the idle
//! watchdog), `route` dispatches requests and reads bounded bodies, `limits` holds
//! [`ServerLimits`], the byte budgets, the PIN table and the text allowance, `prepare` answers
//! prepare-upload, `session` ends sessions and handles cancel, `upload` reads bodies into the
//! writer, and `sink` is where a file's bytes go (a part file or a file the app supplied).

// Request steps fail with the response that answers the request: built once per request, never
// worth a box.
#![allow(clippy::result_large_err)]

use crate::error::{Error, ErrorKind, Result};
use crate::identity::Identity;
use crate::protocol::parse_time;
use crate::protocol::{DeviceInfo, DeviceType, ErrorBody, FileDto, IncomingPrepare, PrepareExt, ResumeOffer, FEATURE_RESUME};
use crate::resume::{HashBudget, ResumeRecord, MAX_HASHED_PER_REQUEST, MAX_HASHING_TIME};
use crate::storage::{sanitize_relative_path, PartFile, ReceiveDir};
use crate::trust::TrustStore;
use crate::util::{canonical_ip, constant_time_eq, format_id, query_param, random_id, random_id_bytes};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

mod accept;
mod download;
mod file_list;
mod limits;
mod prepare;
mod route;
mod session;
mod sink;
mod upload;

use accept::*;
use download::*;
use file_list::*;
pub use file_list::{parse_file_list_capped, ListError, MAX_ENTRY_BYTES};
pub use limits::ServerLimits;
use limits::*;
use prepare::*;
use route::*;
use session::*;
use sink::*;
use upload::*;

/// Largest prepare-upload body accepted (from anyone). The body is parsed as it arrives and never
/// held whole (`file_list`): what it costs in memory is its parsed file list, counted against
/// [`ServerLimits::file_list_memory`], and a few frames waiting for the parser. 64 MiB holds
/// 100,000 files of LocalSend's apps (about 250 bytes each) with room for checksums.
const MAX_PREPARE_BODY: usize = 64 * 1024 * 1024;
/// Default of [`ServerLimits::file_list_memory`]: with the receiver's own 10 MiB and the
/// session's tokens and answer, a request of 100,000 files keeps it under 64 MiB.
const FILE_LIST_MEMORY: usize = 40 * 1024 * 1024;
/// Default of [`ServerLimits::file_list_memory_per_address`]: 100,000 files as LocalSend's apps
/// describe them (about 330 bytes each in memory) fit.
const FILE_LIST_MEMORY_PER_ADDRESS: usize = 36 * 1024 * 1024;
/// Default of [`ServerLimits::file_list_trusted_reserve`].
const FILE_LIST_TRUSTED_RESERVE: usize = 4 * 1024 * 1024;
/// Largest register body (a device description is well under 2 KiB).
const MAX_SMALL_BODY: usize = 16 * 1024;
/// Bytes of small bodies (register) being read, counted together over every connection (they are
/// read even while a session runs); over it 503 at once.
const SMALL_BYTES_BUDGET: usize = 2 * 1024 * 1024;
const SMALL_SHARE_PER_ADDRESS: usize = 128 * 1024;
const SMALL_TRUSTED_RESERVE: usize = 256 * 1024;
/// Largest text message (its `preview`, in bytes of UTF-8). Longer texts are answered 413; a
/// sender with more to say sends a file. LocalSend's apps send texts of a few KiB.
pub(crate) const MAX_TEXT_BYTES: usize = 256 * 1024;
/// Empty folders in one request (also counted in [`ServerLimits::max_files_per_request`]).
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

/// How a receive session ended. More outcomes may be added.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionOutcome {
    /// Every accepted file was handled; `failed` counts the ones that could not be saved.
    Finished {
        saved: usize,
        failed: usize,
    },
    CancelledBySender,
    CancelledByReceiver,
    /// Nothing arrived for too long.
    TimedOut,
}

/// What happens on the receiving side, for the handler. More events may be added.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub enum ReceiveEvent {
    /// An accepted session starts (after the decision).
    SessionStarted {
        session_id: String,
        sender: SenderInfo,
        files: Arc<Vec<FileDto>>,
    },
    /// A request was declined (by the user or the policy).
    Declined {
        sender: SenderInfo,
    },
    FileProgress {
        session_id: String,
        file_id: String,
        received: u64,
        size: u64,
    },
    /// A file arrived whole. `path` is where it was saved, `None` when it went to a file the
    /// handler supplied ([`ReceiveHandler::open_destination`]).
    FileCompleted {
        session_id: String,
        file_id: String,
        path: Option<PathBuf>,
    },
    /// A file failed; `retry` is true when the sender may send it again with the same token.
    FileFailed {
        session_id: String,
        file_id: String,
        error: String,
        retry: bool,
    },
    SessionFinished {
        session_id: String,
        outcome: SessionOutcome,
    },
    /// An upload continues a file from `offset` (bytes kept from an earlier, interrupted upload of
    /// the same verified sender).
    FileResumed {
        session_id: String,
        file_id: String,
        offset: u64,
    },
    /// Files of an accepted request that were left out because the receive folder already has
    /// them (same path, size and checksum or modified time; see
    /// [`crate::storage::ReceiveDir::with_skip_existing`]).
    FilesSkipped {
        session_id: String,
        file_ids: Vec<String>,
    },
    /// Folders created for an accepted request.
    FoldersCreated {
        session_id: String,
        paths: Vec<PathBuf>,
    },
    /// A request the handler was asked about is over without being accepted: declined,
    /// cancelled or abandoned by its sender. Nothing is left to answer (an app closes its
    /// prompt).
    RequestClosed {
        session_id: String,
    },
    /// Someone sent a wrong PIN (at most one event per attempt, and few of them: see
    /// [`ServerLimits`]). `failures_total` counts recent wrong PINs from every address;
    /// `locked_for` is set when PIN checks are now locked for everyone but trusted devices.
    PinFailed {
        ip: IpAddr,
        failures_total: u32,
        locked_for: Option<Duration>,
    },
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

struct Shared {
    opts: ServerOptions,
    info_json: Bytes,
    /// `info_json` with `download: true`, answered while a share is open.
    info_json_download: Bytes,
    /// The open share and the receive page (share via link, receive via link).
    web: Mutex<WebState>,
    handler: Arc<dyn ReceiveHandler>,
    session: Mutex<Option<Session>>,
    pin: Mutex<PinState>,
    /// Memory of file lists, see [`ServerLimits::file_list_memory`].
    json_budget: Arc<ByteBudget>,
    /// Bytes of small bodies being read, see [`SMALL_BYTES_BUDGET`].
    small_budget: Arc<ByteBudget>,
    /// Text messages per address: (allowance left, when it was last counted).
    texts: Mutex<HashMap<IpAddr, (f64, Instant)>>,
    limits: ServerLimits,
    epoch: Instant,
    /// The last session this receiver cancelled: its uploads still arriving are answered
    /// "Session cancelled" (not "Invalid session id") so that the sender says what happened.
    cancelled: Mutex<Option<String>>,
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
    /// Stops as a receiver that is killed would: connections close, the session ends without a
    /// cancel, so what arrived of interrupted files stays for a resume.
    pub fn stop_abruptly(&self) {
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
    info.download = false;
    let info_json = Bytes::from(serde_json::to_vec(&info).expect("serialisable"));
    info.download = true;
    let info_json_download = Bytes::from(serde_json::to_vec(&info).expect("serialisable"));
    let tls = if opts.https { Some(tokio_rustls::TlsAcceptor::from(crate::tls::server_config(&opts.identity)?)) } else { None };
    let shared = Arc::new(Shared {
        opts,
        info_json,
        info_json_download,
        web: Mutex::new(WebState::default()),
        handler,
        session: Mutex::new(None),
        pin: Mutex::new(PinState::default()),
        json_budget: ByteBudget::new(limits.file_list_memory, limits.file_list_memory_per_address, limits.file_list_trusted_reserve),
        small_budget: ByteBudget::new(SMALL_BYTES_BUDGET, SMALL_SHARE_PER_ADDRESS, SMALL_TRUSTED_RESERVE),
        texts: Mutex::new(HashMap::new()),
        limits,
        epoch: Instant::now(),
        cancelled: Mutex::new(None),
    });
    let stop = CancellationToken::new();
    tokio::spawn(accept_loop(listener, tls, shared.clone(), stop.clone()));
    tokio::spawn(idle_watchdog(shared.clone(), stop.clone()));
    Ok(ServerHandle { shared, local_addr, stop })
}
