//! Ferry for Kotlin and Swift: a thin, stable API over ferry-core, exported with UniFFI
//! proc-macros. This crate only translates: types (`types`), errors (`error`) and events
//! (foreign listener traits). The engine, its rules and its tests live in ferry-core.
//!
//! One multi-threaded tokio runtime, owned here, runs every node. Long work (sending) returns a
//! [`TransferHandle`] that cancels on `cancel()` and when it is dropped (closed).

mod dispatch;
mod error;
mod logging;
mod share;
mod types;

pub use error::{error_kind_code, FerryError, ListenerError};
pub use logging::{init_logging, LogLevel, LogListener};
pub use share::{BrowserRequest, ShareInfo, ShareListener, ShareUpdate};
pub use types::*;

use dispatch::{logged, Coalesce, Dispatcher};
use ferry_core::discovery::{DiscoveryEvent, InterfaceFilter};
use ferry_core::identity::Identity;
use ferry_core::node::{self, Node, Target};
use ferry_core::progress::TransferProgress;
use ferry_core::send::{LocalFile, Selection};
use ferry_core::send::{SendEvent, SendObserver};
use ferry_core::server;
use ferry_core::trust::TrustStore;
use ferry_core::CancellationToken;
pub use ferry_core::ErrorKind;
use std::collections::HashMap;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

uniffi::setup_scaffolding!();

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        ignore_sigpipe();
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .thread_name("ferry")
            .enable_all()
            .build()
            .expect("the tokio runtime starts")
    })
}

/// A write to a socket whose peer has gone raises SIGPIPE on Linux, which kills a process that left
/// it at its default. Rust programs ignore it before `main`, the JVM handles it and Android's
/// runtime blocks it, and on Apple platforms every socket has SO_NOSIGPIPE; single writes use
/// MSG_NOSIGNAL, but vectored writes (`writev`, which TLS and HTTP use) have no such flag. So in a
/// process that did not choose (a Swift or C program on Linux), Ferry ignores SIGPIPE: a gone
/// peer is then an EPIPE error for the transfer, as everywhere else. A handler the host set stays.
fn ignore_sigpipe() {
    #[cfg(all(unix, not(target_vendor = "apple")))]
    {
        // SAFETY: sigaction with a null new action only reads the current disposition into `old`, a zeroed
        // (valid) sigaction; signal(SIGPIPE, SIG_IGN) installs no handler code, it only tells the kernel to
        // drop the signal, which is safe at any time on any thread.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_DFL {
                libc::signal(libc::SIGPIPE, libc::SIG_IGN);
            }
        }
    }
}

/// The library version.
#[uniffi::export]
pub fn ferry_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// A peer-supplied string (an alias, a device model, a file name, a text message, an error from
/// a peer) made safe to show a person: control characters and invisible format characters (such
/// as U+202E, which reverses the text after it) are shown visibly as `\x1b` / `\u{202e}`, a
/// backslash as `\\`. With `multiline` (a text message) line breaks and tabs stay real; without
/// it (a name shown on one line) they are escaped too. Ordinary text of any script is unchanged.
#[uniffi::export]
pub fn display_safe(text: String, multiline: bool) -> String {
    if multiline {
        ferry_core::display::escape_text(&text).into_owned()
    } else {
        ferry_core::display::escape(&text).into_owned()
    }
}

/// The code two users compare to check each other's identity (both fingerprints sorted,
/// joined, SHA-256).
#[uniffi::export]
pub fn verification_code(fingerprint_a: String, fingerprint_b: String) -> VerificationCode {
    let c = ferry_core::identity::verification_code(&fingerprint_a, &fingerprint_b);
    VerificationCode { digits: c.digits, bytes: c.bytes.to_vec() }
}

/// The QR code of `text` (a pairing code from `pairingCode()`, a link from `links()`), at the
/// error correction level that fits (medium when it can), or None when the text is too long
/// for a QR code (over about 2,300 bytes).
#[uniffi::export]
pub fn qr_code(text: String) -> Option<QrCode> {
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
        .or_else(|_| qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::L))
        .ok()?;
    let size = u32::try_from(code.width()).ok()?;
    let dark = code.to_colors().into_iter().map(|c| c == qrcode::Color::Dark).collect();
    Some(QrCode { size, dark })
}

/// Closes the descriptors among `items` (`SendItem.Fd`), for an app that took them over and
/// then does not send after all (`sendFiles` closes them itself, whatever happens).
#[uniffi::export]
pub fn release_send_items(items: Vec<SendItem>) {
    for item in items {
        if let SendItem::Fd { fd, .. } = item {
            drop(take_fd(fd));
        }
    }
}

/// Events of a node, implemented by the app. Called one at a time, in order, on a thread of
/// their own (one per node): a slow method delays only the node's later events (progress
/// updates waiting meanwhile are merged into the latest), never the transfer itself. A method
/// that throws loses only that call.
#[uniffi::export(with_foreign)]
pub trait NodeListener: Send + Sync {
    fn on_device_found(&self, device: Device) -> Result<(), ListenerError>;
    fn on_device_updated(&self, device: Device) -> Result<(), ListenerError>;
    fn on_device_lost(&self, device: Device) -> Result<(), ListenerError>;
    /// Answer with `FerryNode.answer(request.sessionId, ...)`, now or later.
    fn on_request(&self, request: IncomingRequest) -> Result<(), ListenerError>;
    fn on_text(&self, sender: Sender, text: String) -> Result<(), ListenerError>;
    fn on_receive(&self, update: ReceiveUpdate) -> Result<(), ListenerError>;
}

/// Where incoming files go, implemented by the app so that a file lands straight in its final
/// place (Android: MediaStore or a SAF document; iOS: a file the app created) and nothing is
/// stored twice. Set with `FerryNode.setFileSink`. Called on Ferry's blocking threads; may
/// take a moment (creating a document), must not throw.
#[uniffi::export(with_foreign)]
pub trait FileSink: Send + Sync {
    /// An accepted file starts arriving (again after a failed try).
    fn open_file(&self, session_id: String, file: OfferedFile) -> FileDestination;
    /// A file given a descriptor ended; the descriptor is closed. `complete`: every byte
    /// arrived and the checksum matched (publish it, e.g. clear MediaStore's IS_PENDING).
    /// Otherwise remove it: it failed or was cancelled (the sender may try again, with a new
    /// `openFile`).
    fn close_file(&self, session_id: String, file_id: String, complete: bool);
}

/// Events of one send, implemented by the app. Called one at a time, in order, on a thread of
/// their own (one per send): a slow listener never slows the upload (progress updates waiting
/// meanwhile are merged into the latest), and one that throws loses only that update.
#[uniffi::export(with_foreign)]
pub trait TransferListener: Send + Sync {
    fn on_update(&self, update: SendUpdate) -> Result<(), ListenerError>;
}

/// A node's events on their way to its [`NodeListener`].
enum NodeEvent {
    Found(Device),
    Updated(Device),
    Lost(Device),
    Request(IncomingRequest),
    Text(Sender, String),
    Receive(ReceiveUpdate),
}

impl Coalesce for NodeEvent {
    fn replaces(&self, older: &Self) -> bool {
        match (self, older) {
            (
                NodeEvent::Receive(ReceiveUpdate::Progress { session_id: s, file_id: f, .. }),
                NodeEvent::Receive(ReceiveUpdate::Progress { session_id: os, file_id: of, .. }),
            ) => s == os && f == of,
            (NodeEvent::Updated(d), NodeEvent::Updated(od)) => d.fingerprint == od.fingerprint,
            _ => false,
        }
    }
}

fn node_dispatcher(listener: Arc<dyn NodeListener>) -> Dispatcher<NodeEvent> {
    Dispatcher::new("ferry-node-events", move |event| match event {
        NodeEvent::Found(d) => logged("onDeviceFound", listener.on_device_found(d)),
        NodeEvent::Updated(d) => logged("onDeviceUpdated", listener.on_device_updated(d)),
        NodeEvent::Lost(d) => logged("onDeviceLost", listener.on_device_lost(d)),
        NodeEvent::Request(r) => logged("onRequest", listener.on_request(r)),
        NodeEvent::Text(s, t) => logged("onText", listener.on_text(s, t)),
        NodeEvent::Receive(u) => logged("onReceive", listener.on_receive(u)),
    })
}

impl Coalesce for SendUpdate {
    fn replaces(&self, older: &Self) -> bool {
        matches!((self, older), (SendUpdate::Progress { file_id: f, .. }, SendUpdate::Progress { file_id: of, .. }) if f == of)
    }
}

fn send_dispatcher(listener: Arc<dyn TransferListener>) -> Dispatcher<SendUpdate> {
    Dispatcher::new("ferry-send-events", move |update| logged("onUpdate", listener.on_update(update)))
}

type SinkSlot = Arc<Mutex<Option<Arc<dyn FileSink>>>>;

struct ListenerBridge {
    events: Dispatcher<NodeEvent>,
    fingerprint: String,
    sink: SinkSlot,
    /// The sink that opened each (session, file), which is the one told when it closes.
    opened: Mutex<HashMap<(String, String), Arc<dyn FileSink>>>,
}

/// Takes ownership of a descriptor handed over by the app.
fn take_fd(fd: i32) -> ferry_core::Result<OwnedFd> {
    // SAFETY: F_GETFD only reads the descriptor flags of `fd`; on a number that is not an open descriptor it fails
    // with EBADF and touches nothing.
    if fd < 0 || unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(ferry_core::Error::invalid(format!("{fd} is not an open file descriptor")));
    }
    // SAFETY: `fd` is open (checked above) and the FFI contract hands its ownership to Ferry: the app passed it in
    // (detached, e.g. `ParcelFileDescriptor.detachFd()`) and never uses or closes it again, so this is its only owner.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

impl node::NodeListener for ListenerBridge {
    fn on_device(&self, event: DiscoveryEvent) {
        match event {
            DiscoveryEvent::Found(d) => self.events.send(NodeEvent::Found(d.into())),
            DiscoveryEvent::Updated(d) => self.events.send(NodeEvent::Updated(d.into())),
            DiscoveryEvent::Lost(d) => self.events.send(NodeEvent::Lost(d.into())),
            _ => {}
        }
    }
    fn on_request(&self, r: server::IncomingRequest) {
        let code = ferry_core::identity::verification_code(&self.fingerprint, &r.sender.fingerprint);
        self.events.send(NodeEvent::Request(IncomingRequest {
            total_size: r.total_size(),
            files: r.files.iter().map(types::offered).collect(),
            empty_folders: r.empty_dirs.len() as u32,
            session_id: r.session_id,
            sender: r.sender.into(),
            verification_code: code.digits,
        }));
    }
    fn on_text(&self, sender: server::SenderInfo, text: String) {
        self.events.send(NodeEvent::Text(sender.into(), text));
    }
    fn on_receive(&self, event: server::ReceiveEvent) {
        if let Some(update) = types::ReceiveUpdate::of(event) {
            self.events.send(NodeEvent::Receive(update));
        }
    }
    fn open_destination(&self, session_id: &str, file: &ferry_core::protocol::FileDto) -> ferry_core::Result<Option<File>> {
        let Some(sink) = self.sink.lock().unwrap_or_else(|p| p.into_inner()).clone() else { return Ok(None) };
        let asked = std::panic::catch_unwind(AssertUnwindSafe(|| sink.open_file(session_id.to_string(), types::offered(file))));
        let dest = asked.map_err(|_| ferry_core::Error::new(ErrorKind::Internal, "FileSink.openFile failed"))?;
        let fd = match dest {
            FileDestination::ReceiveDirectory => return Ok(None),
            FileDestination::Refuse { reason } => return Err(ferry_core::Error::new(ErrorKind::Io, reason)),
            FileDestination::Descriptor { fd } => fd,
        };
        let writable = take_fd(fd).and_then(|fd| {
            // SAFETY: F_GETFL only reads the status flags of a descriptor that `fd` owns and keeps open for this call.
            let mode = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) } & libc::O_ACCMODE;
            if mode == libc::O_RDONLY {
                return Err(ferry_core::Error::invalid(format!("descriptor {} is not open for writing", fd.as_raw_fd())));
            }
            Ok(File::from(fd))
        });
        match writable {
            Ok(out) => {
                self.opened.lock().unwrap_or_else(|p| p.into_inner()).insert((session_id.to_string(), file.id.clone()), sink);
                Ok(Some(out))
            }
            Err(e) => {
                // Whatever the app created for it is of no use: let it clean up.
                let _ = std::panic::catch_unwind(AssertUnwindSafe(|| sink.close_file(session_id.to_string(), file.id.clone(), false)));
                Err(e)
            }
        }
    }
    fn destination_closed(&self, session_id: &str, file_id: &str, complete: bool) {
        let sink = self.opened.lock().unwrap_or_else(|p| p.into_inner()).remove(&(session_id.to_string(), file_id.to_string()));
        if let Some(sink) = sink {
            let _ = std::panic::catch_unwind(AssertUnwindSafe(|| sink.close_file(session_id.to_string(), file_id.to_string(), complete)));
        }
    }
}

/// The selection of `items`. Every descriptor is taken (and so closed in the end) even when
/// another item is bad.
fn selection(items: Vec<SendItem>) -> Result<Selection, FerryError> {
    let mut paths = Vec::new();
    let mut fds = Vec::new();
    let mut bad = None;
    for item in items {
        match item {
            SendItem::Path { path } => paths.push(PathBuf::from(path)),
            SendItem::Fd { fd, name, size, mime_type } => match take_fd(fd) {
                Ok(fd) => fds.push((fd, name, size, mime_type)),
                Err(e) => {
                    bad.get_or_insert(e);
                }
            },
        }
    }
    if let Some(e) = bad {
        return Err(e.into());
    }
    let mut sel = if paths.is_empty() { Selection::default() } else { Selection::from_paths(&paths)? };
    for (fd, name, size, mime) in fds {
        sel.files.push(LocalFile::from_descriptor(fd, &name, size, mime)?);
    }
    if sel.files.is_empty() && sel.empty_dirs.is_empty() {
        return Err(FerryError::InvalidInput { message: "nothing to send".into() });
    }
    Ok(sel)
}

/// A Ferry device: receives, finds others, sends. Close it (or call `stop`) when done.
#[derive(uniffi::Object)]
pub struct FerryNode {
    node: Arc<Node>,
    sink: SinkSlot,
    /// Browsers waiting for `answerBrowser`.
    browsers: share::Waiting,
}

#[uniffi::export(async_runtime = "tokio")]
impl FerryNode {
    /// Starts a node: loads (or makes) the identity in `config.configDir`, starts the server
    /// and, if enabled, discovery. Asynchronous (Kotlin: `suspend`; Swift: `async`): the
    /// caller's thread never waits for the disk or the network.
    #[uniffi::constructor]
    pub async fn start(config: NodeConfig, listener: Arc<dyn NodeListener>) -> Result<Arc<FerryNode>, FerryError> {
        // On Ferry's runtime, whatever runs the caller's future: the server's tasks live there.
        runtime()
            .spawn(Self::start_on_runtime(config, listener))
            .await
            .map_err(|e| FerryError::Internal { message: format!("starting failed: {e}") })?
    }

    /// This device's certificate fingerprint.
    pub fn fingerprint(&self) -> String {
        self.node.fingerprint().to_string()
    }

    /// The TCP port the node listens on.
    pub fn port(&self) -> u16 {
        self.node.port()
    }

    /// The devices found so far.
    pub fn devices(&self) -> Vec<Device> {
        self.node.devices().into_iter().map(Device::from).collect()
    }

    /// Announces and scans the local network; returns how many devices answered the scan.
    pub async fn scan(&self) -> Result<u32, FerryError> {
        Ok(self.node.scan().await? as u32)
    }

    /// Looks for a device at `address` (`host[:port]`) and lists it.
    pub async fn add_address(&self, address: String) -> Result<Device, FerryError> {
        Ok(self.node.add_address(&address).await?.into())
    }

    /// Looks for the device with `fingerprint` at `address` (a favorite's last address) and
    /// lists it. Pinned: the device must prove that fingerprint over HTTPS; another device at
    /// that address, or one speaking only plain HTTP, is refused (`FingerprintMismatch`).
    pub async fn probe_favorite(&self, fingerprint: String, address: String) -> Result<Device, FerryError> {
        Ok(self.node.probe_pinned(&address, &fingerprint).await?.into())
    }

    /// This device's pairing code (`ferry://pair?v=1&fp=...&ip=...`): show it as a QR code (or
    /// text) for another device to pair with ([`FerryNode::pair`]). Fails when this device has no
    /// network address.
    pub fn pairing_code(&self) -> Result<String, FerryError> {
        Ok(self.node.pairing_code()?.to_string())
    }

    /// Pairs with the device a pairing code (scanned or pasted; hostile input, checked strictly)
    /// describes: probes its addresses over HTTPS pinned to the code's fingerprint, never plain
    /// HTTP, and trusts the first that proves it (with its alias and that address). Nothing is
    /// trusted otherwise: `FingerprintMismatch` when another device answered, `Network` when
    /// nothing did, `InvalidInput` for a malformed code. The alias is the device's claim: escape
    /// it before showing.
    pub async fn pair(&self, code: String) -> Result<Device, FerryError> {
        let code = ferry_core::pairing::PairingCode::parse(&code)?;
        Ok(self.node.pair(&code).await?.into())
    }

    /// Answers a request from `NodeListener.onRequest`.
    pub fn answer(&self, session_id: String, decision: Decision) -> Result<(), FerryError> {
        Ok(self.node.answer(&session_id, decision.into())?)
    }

    /// Cancels what is being received. Returns whether something was.
    pub fn cancel_receive(&self) -> bool {
        self.node.cancel_receive()
    }

    /// Where incoming files go: `None` (the default) saves them in the receive directory.
    pub fn set_file_sink(&self, sink: Option<Arc<dyn FileSink>>) {
        *self.sink.lock().unwrap_or_else(|p| p.into_inner()) = sink;
    }

    /// Sends files, folders and descriptors. Progress and the end go to `listener`; the
    /// handle cancels. Bad input (no such device, unreadable path) fails here, before anything
    /// starts; descriptors are closed either way.
    pub fn send_files(
        &self,
        target: SendTarget,
        items: Vec<SendItem>,
        pin: Option<String>,
        listener: Arc<dyn TransferListener>,
    ) -> Result<Arc<TransferHandle>, FerryError> {
        // The selection first: it takes the descriptors, so that they are closed on any error.
        let selection = selection(items)?;
        let target = to_target(target)?;
        self.node.send_options(&target, None)?;
        let handle = Arc::new(TransferHandle {
            cancel: CancellationToken::new(),
            finished: Arc::new(AtomicBool::new(false)),
            retry: Arc::new(tokio::sync::Notify::new()),
        });
        let (node, cancel, finished, retry) = (self.node.clone(), handle.cancel.clone(), handle.finished.clone(), handle.retry.clone());
        let events = Arc::new(send_dispatcher(listener));
        runtime().spawn(async move {
            let progress = Arc::new(Progress { events: events.clone(), state: Mutex::new(TransferProgress::default()) });
            let result = match node.send_options(&target, pin) {
                Ok(mut opts) => {
                    opts.retry_now = Some(retry);
                    ferry_core::send::send_files(&opts, &selection, progress, cancel).await
                }
                Err(e) => Err(e),
            };
            finished.store(true, Ordering::SeqCst);
            events.send(match result {
                Ok(r) => SendUpdate::Finished { sent: r.sent as u32, skipped: r.skipped as u32, bytes: r.bytes },
                Err(e) => SendUpdate::Failed { kind: e.kind, error: e.message },
            });
            events.close();
        });
        Ok(handle)
    }

    /// Sends a text message; true when the receiver showed it.
    pub async fn send_text(&self, target: SendTarget, text: String, pin: Option<String>) -> Result<bool, FerryError> {
        let target = to_target(target)?;
        Ok(self.node.send_text(&target, &text, pin, &|_| {}).await?)
    }

    /// Trusts a device (its transfers are accepted without asking). False if it already was.
    pub fn trust(&self, fingerprint: String, alias: Option<String>) -> Result<bool, FerryError> {
        Ok(self.node.trust(&fingerprint, alias)?)
    }

    /// Stops trusting a device. False if it was not trusted.
    pub fn untrust(&self, fingerprint: String) -> Result<bool, FerryError> {
        Ok(self.node.untrust(&fingerprint)?)
    }

    /// Saves (or with `None` forgets) the last address (`host[:port]`) of a trusted device; the
    /// node probes it, pinned, when it starts. False if the device is not trusted.
    pub fn set_address(&self, fingerprint: String, address: Option<String>) -> Result<bool, FerryError> {
        Ok(self.node.set_address(&fingerprint, address)?)
    }

    pub fn is_trusted(&self, fingerprint: String) -> bool {
        self.node.is_trusted(&fingerprint)
    }

    /// The trusted devices, in the order they were added.
    pub fn trusted_devices(&self) -> Vec<TrustedDevice> {
        self.node.trusted_devices().into_iter().map(TrustedDevice::from).collect()
    }

    /// The code to compare with the user of `fingerprint`.
    pub fn verification_code(&self, fingerprint: String) -> VerificationCode {
        let c = self.node.verification_code(&fingerprint);
        VerificationCode { digits: c.digits, bytes: c.bytes.to_vec() }
    }

    /// Stops receiving and discovery; a running receive is cancelled.
    pub fn stop(&self) {
        self.node.stop();
    }
}

impl FerryNode {
    /// [`FerryNode::start`]'s work, on Ferry's runtime; the identity and the trusted devices are
    /// read on a blocking thread.
    async fn start_on_runtime(config: NodeConfig, listener: Arc<dyn NodeListener>) -> Result<Arc<FerryNode>, FerryError> {
        let dir = PathBuf::from(&config.config_dir);
        let (identity, trust) = tokio::task::spawn_blocking(move || -> ferry_core::Result<_> {
            Ok((Identity::load_or_create(&dir)?, Arc::new(TrustStore::open(&dir)?)))
        })
        .await
        .map_err(|e| FerryError::Internal { message: format!("loading the identity failed: {e}") })??;
        let bind = match &config.bind_address {
            Some(a) => Some(a.parse().map_err(|_| FerryError::InvalidInput { message: format!("not an IP address: {a}") })?),
            None => None,
        };
        let cfg = node::NodeConfig {
            device_type: config.device_kind.into(),
            device_model: config.device_model,
            port: config.port,
            bind,
            https: config.encryption,
            pin: config.pin,
            policy: config.receive_mode.into(),
            discovery: config.discovery,
            interfaces: InterfaceFilter::new(&config.interfaces_include, &config.interfaces_exclude)?,
            skip_existing: config.skip_existing,
            ..node::NodeConfig::new(identity.clone(), trust, config.alias, PathBuf::from(config.receive_dir))
        };
        let sink = SinkSlot::default();
        let bridge = Arc::new(ListenerBridge {
            events: node_dispatcher(listener),
            fingerprint: identity.fingerprint().to_string(),
            sink: sink.clone(),
            opened: Mutex::new(HashMap::new()),
        });
        let node = Node::start(cfg, bridge).await?;
        Ok(Arc::new(FerryNode { node: Arc::new(node), sink, browsers: Default::default() }))
    }
}

fn to_target(t: SendTarget) -> Result<Target, FerryError> {
    Ok(match t {
        SendTarget::Device { fingerprint } => Target::Device { fingerprint },
        SendTarget::Address { address, encryption, fingerprint } => {
            let protocol = if encryption { ferry_core::protocol::Protocol::Https } else { ferry_core::protocol::Protocol::Http };
            let expected = match fingerprint {
                Some(f) => Some(ferry_core::identity::normalize_fingerprint(&f)?),
                None => None,
            };
            Target::Address { peer: ferry_core::protocol::PeerAddr::parse(&address, protocol)?, expected_fingerprint: expected }
        }
    })
}

/// A running send. `cancel()` stops it (the receiver is told); closing the handle does too.
#[derive(uniffi::Object)]
pub struct TransferHandle {
    cancel: CancellationToken,
    finished: Arc<AtomicBool>,
    retry: Arc<tokio::sync::Notify>,
}

#[uniffi::export]
impl TransferHandle {
    pub fn cancel(&self) {
        self.cancel.cancel();
    }
    /// Tries again at once after a break instead of waiting out the back-off (e.g. when the
    /// network came back); the send must still be reconnecting (or reconnect later) for it to act.
    pub fn retry_now(&self) {
        self.retry.notify_one();
    }
    /// True once the final update (finished or failed) was sent.
    pub fn is_finished(&self) -> bool {
        self.finished.load(Ordering::SeqCst)
    }
}

impl Drop for TransferHandle {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Turns ferry-core's send events into `SendUpdate`s with running totals, queued for the app's
/// listener (which runs on the dispatcher's thread, never under this lock).
struct Progress {
    events: Arc<Dispatcher<SendUpdate>>,
    state: Mutex<TransferProgress>,
}

impl SendObserver for Progress {
    fn on_event(&self, event: SendEvent) {
        // The update is queued under the lock, so that updates from parallel uploads reach the
        // listener in the order their totals were counted; queuing never waits for the listener.
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let update = match event {
            SendEvent::Connected { device } => {
                SendUpdate::Connected { alias: device.info.alias, fingerprint: device.fingerprint, verified: device.verified }
            }
            SendEvent::WaitingForAcceptance => SendUpdate::Waiting,
            SendEvent::Accepted { files, .. } => {
                *s = TransferProgress::new(&files);
                SendUpdate::Accepted { file_ids: files.into_iter().map(|f| f.id).collect(), total_size: s.total_size() }
            }
            SendEvent::FileProgress { file_id, sent, size } => {
                // A retried file starts again from zero, and the total goes back with it.
                s.advance(&file_id, sent);
                SendUpdate::Progress { file_id, sent, size, total_sent: s.total(), total_size: s.total_size() }
            }
            SendEvent::FileCompleted { file_id } => SendUpdate::FileSent { file_id },
            SendEvent::FileResumed { file_id, offset, size } => {
                s.advance(&file_id, offset);
                SendUpdate::FileResumed { file_id, offset, size }
            }
            SendEvent::FilesSkipped { file_ids } => SendUpdate::FilesSkipped { file_ids },
            SendEvent::FileFailed { file_id, error, retry } => SendUpdate::FileFailed { file_id, message: error, will_retry: retry },
            SendEvent::Notice { message } => SendUpdate::Notice { message },
            _ => return,
        };
        self.events.send(update);
        drop(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::IntoRawFd;

    #[test]
    fn qr_code_has_the_finder_patterns_and_refuses_what_does_not_fit() {
        let code = format!("ferry://pair?v=1&fp={}&a=Phone&p=53317&s=https&ip=192.168.1.20", "ab".repeat(32));
        let qr = qr_code(code).unwrap();
        let n = qr.size as usize;
        assert!((21..=177).contains(&n) && (n - 21).is_multiple_of(4), "size {n}");
        assert_eq!(qr.dark.len(), n * n);
        let at = |x: usize, y: usize| qr.dark[y * n + x];
        // The three 7x7 finder squares: a dark ring, a light ring, a dark 3x3 centre.
        for (ox, oy) in [(0, 0), (n - 7, 0), (0, n - 7)] {
            for i in 0..7 {
                assert!(at(ox + i, oy) && at(ox + i, oy + 6) && at(ox, oy + i) && at(ox + 6, oy + i));
            }
            assert!(!at(ox + 1, oy + 1) && at(ox + 3, oy + 3));
        }
        assert!(qr_code("x".repeat(4000)).is_none());
    }

    struct Quiet;
    impl NodeListener for Quiet {
        fn on_device_found(&self, _: Device) -> Result<(), ListenerError> {
            Ok(())
        }
        fn on_device_updated(&self, _: Device) -> Result<(), ListenerError> {
            Ok(())
        }
        fn on_device_lost(&self, _: Device) -> Result<(), ListenerError> {
            Ok(())
        }
        fn on_request(&self, _: IncomingRequest) -> Result<(), ListenerError> {
            Ok(())
        }
        fn on_text(&self, _: Sender, _: String) -> Result<(), ListenerError> {
            Ok(())
        }
        fn on_receive(&self, _: ReceiveUpdate) -> Result<(), ListenerError> {
            Ok(())
        }
    }

    fn loopback_config(alias: &str, dir: &std::path::Path) -> NodeConfig {
        NodeConfig {
            alias: alias.into(),
            device_kind: DeviceKind::Mobile,
            device_model: "Test".into(),
            port: 0,
            config_dir: dir.join("config").to_string_lossy().into_owned(),
            receive_dir: dir.join("in").to_string_lossy().into_owned(),
            pin: None,
            encryption: true,
            discovery: false,
            interfaces_include: vec![],
            interfaces_exclude: vec![],
            receive_mode: ReceiveMode::Ask,
            bind_address: Some("127.0.0.1".into()),
            skip_existing: false,
        }
    }

    #[test]
    fn pairing_by_code_trusts_the_device_that_proves_it() {
        let dir = std::env::temp_dir().join(format!("ferry-ffi-pair-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        runtime().block_on(async {
            let a = FerryNode::start(loopback_config("Anna", &dir.join("a")), Arc::new(Quiet)).await.unwrap();
            let b = FerryNode::start(loopback_config("Ben", &dir.join("b")), Arc::new(Quiet)).await.unwrap();
            let code = b.pairing_code().unwrap();
            assert!(code.starts_with("ferry://pair?v=1&fp=") && code.contains("&ip=127.0.0.1"), "{code}");
            // A code naming another certificate: refused, nothing trusted.
            let wrong = code.replace(&b.fingerprint(), &"AB".repeat(32));
            assert!(matches!(a.pair(wrong).await, Err(FerryError::FingerprintMismatch { .. })));
            assert!(matches!(a.pair("ferry://pair?v=1".into()).await, Err(FerryError::InvalidInput { .. })));
            assert!(a.trusted_devices().is_empty());
            let dev = a.pair(code).await.unwrap();
            assert_eq!((dev.fingerprint.as_str(), dev.alias.as_str(), dev.verified), (b.fingerprint().as_str(), "Ben", true));
            assert!(a.is_trusted(b.fingerprint()));
            assert_eq!(a.trusted_devices()[0].address, Some(format!("127.0.0.1:{}", b.port())));
            a.stop();
            b.stop();
        });
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn descriptors_are_taken_and_closed_even_when_another_item_is_bad() {
        let (r, mut w) = std::io::pipe().unwrap();
        let items = vec![
            SendItem::Fd { fd: r.into_raw_fd(), name: "a.bin".into(), size: Some(1), mime_type: None },
            SendItem::Fd { fd: -1, name: "b.bin".into(), size: Some(1), mime_type: None },
        ];
        let e = selection(items).unwrap_err();
        assert!(matches!(e, FerryError::InvalidInput { .. }), "{e:?}");
        // The read end was closed: writing fails with a broken pipe.
        assert_eq!(w.write(b"x").unwrap_err().kind(), std::io::ErrorKind::BrokenPipe);
    }

    #[test]
    fn a_selection_of_descriptors_and_paths() {
        let dir = std::env::temp_dir().join(format!("ferry-ffi-sel-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("p.txt"), b"path").unwrap();
        let fd = File::open(dir.join("p.txt")).unwrap().into_raw_fd();
        let items = vec![
            SendItem::Path { path: dir.join("p.txt").to_string_lossy().into_owned() },
            SendItem::Fd { fd, name: "from-fd.txt".into(), size: None, mime_type: Some("text/x-test".into()) },
        ];
        let sel = selection(items).unwrap();
        let names: Vec<_> = sel.files.iter().map(|f| (f.name.as_str(), f.size, f.mime.as_deref())).collect();
        assert_eq!(names, vec![("p.txt", 4, None), ("from-fd.txt", 4, Some("text/x-test"))]);
        assert!(matches!(selection(vec![]), Err(FerryError::InvalidInput { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
