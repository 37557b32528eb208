//! Records and enums that cross the FFI, and their translation from ferry-core's types.

use ferry_core::discovery;
use ferry_core::protocol::{DeviceType, Protocol};
use ferry_core::server::{self, ReceivePolicy, SessionOutcome};

/// What kind of device a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum DeviceKind {
    Mobile,
    Desktop,
    Web,
    Headless,
    Server,
}

impl From<DeviceKind> for DeviceType {
    fn from(k: DeviceKind) -> Self {
        match k {
            DeviceKind::Mobile => DeviceType::Mobile,
            DeviceKind::Desktop => DeviceType::Desktop,
            DeviceKind::Web => DeviceType::Web,
            DeviceKind::Headless => DeviceType::Headless,
            DeviceKind::Server => DeviceType::Server,
        }
    }
}

impl From<DeviceType> for DeviceKind {
    fn from(t: DeviceType) -> Self {
        match t {
            DeviceType::Mobile => DeviceKind::Mobile,
            DeviceType::Desktop => DeviceKind::Desktop,
            DeviceType::Web => DeviceKind::Web,
            DeviceType::Headless => DeviceKind::Headless,
            DeviceType::Server => DeviceKind::Server,
        }
    }
}

/// Who decides about incoming transfers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ReceiveMode {
    /// Trusted devices are accepted; everyone else is asked about (`NodeListener.onRequest`).
    Ask,
    /// Everything is accepted ("quick save").
    AcceptAll,
    /// Trusted devices are accepted; everyone else is declined.
    TrustedOnly,
    /// Everyone is asked about, trusted devices too (quick save off).
    AskAll,
}

impl From<ReceiveMode> for ReceivePolicy {
    fn from(m: ReceiveMode) -> Self {
        match m {
            ReceiveMode::Ask => ReceivePolicy::Ask,
            ReceiveMode::AcceptAll => ReceivePolicy::AcceptAll,
            ReceiveMode::TrustedOnly => ReceivePolicy::TrustedOnly,
            ReceiveMode::AskAll => ReceivePolicy::AskAll,
        }
    }
}

/// How a node runs.
#[derive(Debug, Clone, uniffi::Record)]
pub struct NodeConfig {
    /// The name others see.
    pub alias: String,
    pub device_kind: DeviceKind,
    /// e.g. "Pixel 8", "iPhone".
    pub device_model: String,
    /// TCP port (53317 is LocalSend's; 0 takes any free port).
    pub port: u16,
    /// Where the identity (key and certificate), settings and trusted devices live.
    pub config_dir: String,
    /// Where received files go.
    pub receive_dir: String,
    /// A PIN senders must give; `None` for none.
    pub pin: Option<String>,
    /// HTTPS (true, the default of LocalSend) or plain HTTP.
    pub encryption: bool,
    /// Announce, answer and scan on the local network.
    pub discovery: bool,
    /// Only these interfaces (names with `*`/`?`, addresses or networks); empty: all.
    pub interfaces_include: Vec<String>,
    /// Leave out these interfaces.
    pub interfaces_exclude: Vec<String>,
    pub receive_mode: ReceiveMode,
    /// Listen on this address only (e.g. "127.0.0.1"); `None`: every address.
    pub bind_address: Option<String>,
    /// Leave out of what is accepted the files the receive folder already has (same path, same
    /// size, same checksum or modified time); their senders see them as skipped.
    #[uniffi(default = false)]
    pub skip_existing: bool,
}

/// A device found nearby.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Device {
    /// Its certificate fingerprint (64 hex characters) or, with encryption off, its claimed id.
    pub fingerprint: String,
    pub alias: String,
    pub device_model: Option<String>,
    pub device_kind: DeviceKind,
    /// Where it was seen, best first.
    pub addresses: Vec<String>,
    pub port: u16,
    pub encryption: bool,
    /// A TLS handshake proved the fingerprint.
    pub verified: bool,
    /// It speaks Ferry's additions.
    pub ferry: bool,
    /// Milliseconds since the Unix epoch.
    pub last_seen_ms: u64,
}

impl From<discovery::Device> for Device {
    fn from(d: discovery::Device) -> Self {
        Device {
            fingerprint: d.fingerprint,
            alias: d.alias,
            device_model: d.device_model,
            device_kind: d.device_type.into(),
            addresses: d.addresses,
            port: d.port,
            encryption: d.protocol == Protocol::Https,
            verified: d.verified,
            ferry: d.ferry,
            last_seen_ms: d.last_seen_ms,
        }
    }
}

/// Who is sending to us.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Sender {
    pub alias: String,
    pub device_model: Option<String>,
    pub device_kind: DeviceKind,
    pub fingerprint: String,
    /// The fingerprint comes from the sender's TLS certificate.
    pub verified: bool,
    /// Verified and in the trusted devices.
    pub trusted: bool,
    pub address: String,
}

impl From<server::SenderInfo> for Sender {
    fn from(s: server::SenderInfo) -> Self {
        Sender {
            alias: s.alias,
            device_model: s.device_model,
            device_kind: s.device_type.into(),
            fingerprint: s.fingerprint,
            verified: s.verified,
            trusted: s.trusted,
            address: s.ip.to_string(),
        }
    }
}

/// A file offered to us.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct OfferedFile {
    pub id: String,
    /// May contain `/` (a file inside a folder).
    pub name: String,
    pub size: u64,
    pub mime_type: String,
}

/// A transfer waiting for an answer (`FerryNode.answer`).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct IncomingRequest {
    pub session_id: String,
    pub sender: Sender,
    pub files: Vec<OfferedFile>,
    /// Empty folders that come with the files (counted with them in what is shown).
    pub empty_folders: u32,
    pub total_size: u64,
    /// The code both users compare to check the sender's identity.
    pub verification_code: String,
}

/// The answer to a request.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum Decision {
    AcceptAll,
    /// Only these file ids.
    Accept {
        file_ids: Vec<String>,
    },
    Decline,
}

impl From<Decision> for server::Decision {
    fn from(d: Decision) -> Self {
        match d {
            Decision::AcceptAll => server::Decision::AcceptAll,
            Decision::Accept { file_ids } => server::Decision::Accept(file_ids.into_iter().collect()),
            Decision::Decline => server::Decision::Decline,
        }
    }
}

/// How a transfer ended.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum TransferOutcome {
    /// Every accepted file was handled; `failed` could not be saved or sent.
    Finished {
        done: u32,
        failed: u32,
    },
    CancelledBySender,
    CancelledByReceiver,
    TimedOut,
}

impl From<SessionOutcome> for TransferOutcome {
    fn from(o: SessionOutcome) -> Self {
        match o {
            SessionOutcome::Finished { saved, failed } => TransferOutcome::Finished { done: saved as u32, failed: failed as u32 },
            SessionOutcome::CancelledBySender => TransferOutcome::CancelledBySender,
            SessionOutcome::CancelledByReceiver => TransferOutcome::CancelledByReceiver,
            SessionOutcome::TimedOut => TransferOutcome::TimedOut,
            // An outcome this FFI does not know yet: the session ended without finishing here.
            _ => TransferOutcome::CancelledByReceiver,
        }
    }
}

/// What happens while receiving.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum ReceiveUpdate {
    Started {
        session_id: String,
        sender: Sender,
        files: Vec<OfferedFile>,
    },
    Declined {
        sender: Sender,
    },
    Progress {
        session_id: String,
        file_id: String,
        received: u64,
        size: u64,
    },
    /// A file arrived whole: saved at `path`, or (`path` is `None`) written to the descriptor
    /// that `FileSink.openFile` supplied.
    FileSaved {
        session_id: String,
        file_id: String,
        path: Option<String>,
    },
    FileFailed {
        session_id: String,
        file_id: String,
        message: String,
        will_retry: bool,
    },
    FoldersCreated {
        session_id: String,
        paths: Vec<String>,
    },
    /// A file continues from `offset` (kept from an interrupted transfer of the same sender).
    FileResumed {
        session_id: String,
        file_id: String,
        offset: u64,
    },
    /// Files left out because the receive folder already has them.
    FilesSkipped {
        session_id: String,
        file_ids: Vec<String>,
    },
    Finished {
        session_id: String,
        outcome: TransferOutcome,
    },
    /// A request from `NodeListener.onRequest` is over without being accepted (declined,
    /// cancelled or abandoned by its sender): close its prompt.
    RequestClosed {
        session_id: String,
    },
    /// Someone sent a wrong PIN (few of these, however many guesses): `failures` recently from
    /// every address together; `locked_seconds` when PIN checks are now locked for everyone but
    /// trusted devices.
    PinFailed {
        ip: String,
        failures: u32,
        locked_seconds: Option<u64>,
    },
}

pub(crate) fn offered(f: &ferry_core::protocol::FileDto) -> OfferedFile {
    OfferedFile { id: f.id.clone(), name: f.file_name.clone(), size: f.size, mime_type: f.file_type.clone() }
}

impl ReceiveUpdate {
    /// The update for a core event; `None` for an event this FFI does not pass on (yet).
    pub(crate) fn of(e: server::ReceiveEvent) -> Option<Self> {
        use server::ReceiveEvent as E;
        Some(match e {
            E::SessionStarted { session_id, sender, files } => {
                ReceiveUpdate::Started { session_id, sender: sender.into(), files: files.iter().map(offered).collect() }
            }
            E::Declined { sender } => ReceiveUpdate::Declined { sender: sender.into() },
            E::FileProgress { session_id, file_id, received, size } => ReceiveUpdate::Progress { session_id, file_id, received, size },
            E::FileCompleted { session_id, file_id, path } => {
                ReceiveUpdate::FileSaved { session_id, file_id, path: path.map(|p| p.to_string_lossy().into_owned()) }
            }
            E::FileFailed { session_id, file_id, error, retry } => {
                ReceiveUpdate::FileFailed { session_id, file_id, message: error, will_retry: retry }
            }
            E::FoldersCreated { session_id, paths } => {
                ReceiveUpdate::FoldersCreated { session_id, paths: paths.iter().map(|p| p.to_string_lossy().into_owned()).collect() }
            }
            E::SessionFinished { session_id, outcome } => ReceiveUpdate::Finished { session_id, outcome: outcome.into() },
            E::RequestClosed { session_id } => ReceiveUpdate::RequestClosed { session_id },
            E::FileResumed { session_id, file_id, offset } => ReceiveUpdate::FileResumed { session_id, file_id, offset },
            E::FilesSkipped { session_id, file_ids } => ReceiveUpdate::FilesSkipped { session_id, file_ids },
            E::PinFailed { ip, failures_total, locked_for } => ReceiveUpdate::PinFailed {
                ip: ip.to_string(),
                failures: failures_total,
                locked_seconds: locked_for.map(|d| d.as_secs_f64().ceil() as u64),
            },
            _ => return None,
        })
    }
}

/// What happens while sending.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum SendUpdate {
    /// Connected to the receiver; `verified` when its certificate proved `fingerprint`.
    Connected {
        alias: String,
        fingerprint: String,
        verified: bool,
    },
    /// The receiver's user is deciding.
    Waiting,
    /// These files were accepted.
    Accepted {
        file_ids: Vec<String>,
        total_size: u64,
    },
    /// Bytes of one file, and of all accepted files together.
    Progress {
        file_id: String,
        sent: u64,
        size: u64,
        total_sent: u64,
        total_size: u64,
    },
    FileSent {
        file_id: String,
    },
    /// The receiver held the first `offset` bytes of the file from an interrupted transfer: only
    /// the rest is sent (progress continues from there).
    FileResumed {
        file_id: String,
        offset: u64,
        size: u64,
    },
    /// Files the receiver did not take (it has them already, or its user left them out):
    /// skipped, not failed.
    FilesSkipped {
        file_ids: Vec<String>,
    },
    FileFailed {
        file_id: String,
        message: String,
        will_retry: bool,
    },
    /// Something left out because the receiver does not support it.
    Notice {
        message: String,
    },
    /// The end: everything accepted was sent (`skipped`: not accepted).
    Finished {
        sent: u32,
        skipped: u32,
        bytes: u64,
    },
    /// The end: it failed; `kind` says why (declined, cancelled, storage full...), `error` is
    /// the message for people.
    Failed {
        error: String,
        kind: ferry_core::ErrorKind,
    },
}

/// The code both users compare.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VerificationCode {
    /// 16 digits in four groups: "1234 5678 9012 3456".
    pub digits: String,
    /// The first 128 bits of the hash (LocalSend shows them as 16 icons).
    pub bytes: Vec<u8>,
}

/// A QR code's modules, for an app to draw (a pairing code, a share link) without a QR library.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct QrCode {
    /// Modules per side (21 to 177), without the quiet zone: draw 4 light modules around it.
    pub size: u32,
    /// `size * size` modules, row by row from the top left: true is dark.
    pub dark: Vec<bool>,
}

/// A file or folder to send.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum SendItem {
    /// A file or folder on disk (folders are sent with their contents).
    Path { path: String },
    /// An open, readable file descriptor, e.g. an Android document (`content://`) opened with
    /// `ContentResolver.openFileDescriptor(uri, "r")`. Ferry takes ownership and closes it when
    /// the send ends (on Android pass `ParcelFileDescriptor.detachFd()`).
    /// `name` is what the receiver sees. A regular file's size comes from the descriptor; a
    /// pipe (some providers stream their documents) needs `size`, is sent without a checksum
    /// and is not retried. `mime_type`: `None` guesses it from the name.
    Fd { fd: i32, name: String, size: Option<u64>, mime_type: Option<String> },
}

/// Where an incoming file goes, answered by `FileSink.openFile`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum FileDestination {
    /// The receive directory, as without a sink.
    ReceiveDirectory,
    /// This open, writable file descriptor (e.g. a new MediaStore entry or SAF document opened
    /// with mode "w"). Ferry takes ownership, writes from its start (a regular file is
    /// truncated first) and closes it before `FileSink.closeFile`. On Android pass
    /// `ParcelFileDescriptor.detachFd()`.
    Descriptor { fd: i32 },
    /// Do not take this file (no space, no permission); it fails with `reason`.
    Refuse { reason: String },
}

/// Where to send.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum SendTarget {
    /// A device from the list, pinned to its fingerprint.
    Device { fingerprint: String },
    /// An address (`host[:port]`), optionally pinned.
    Address { address: String, encryption: bool, fingerprint: Option<String> },
}

/// A trusted device.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TrustedDevice {
    pub fingerprint: String,
    pub alias: Option<String>,
    pub address: Option<String>,
}

impl From<ferry_core::trust::TrustedDevice> for TrustedDevice {
    fn from(t: ferry_core::trust::TrustedDevice) -> Self {
        TrustedDevice { fingerprint: t.fingerprint, alias: t.alias, address: t.address }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::discovery::{DeviceRegistry, Sighting, Source};

    #[test]
    fn decisions_and_outcomes_translate() {
        assert_eq!(server::Decision::from(Decision::AcceptAll), server::Decision::AcceptAll);
        assert_eq!(server::Decision::from(Decision::Decline), server::Decision::Decline);
        let d = server::Decision::from(Decision::Accept { file_ids: vec!["a".into(), "b".into(), "a".into()] });
        assert_eq!(d, server::Decision::Accept(["a".to_string(), "b".to_string()].into_iter().collect()));
        assert_eq!(
            TransferOutcome::from(SessionOutcome::Finished { saved: 2, failed: 1 }),
            TransferOutcome::Finished { done: 2, failed: 1 }
        );
        assert_eq!(TransferOutcome::from(SessionOutcome::CancelledBySender), TransferOutcome::CancelledBySender);
        for k in [DeviceKind::Mobile, DeviceKind::Desktop, DeviceKind::Web, DeviceKind::Headless, DeviceKind::Server] {
            assert_eq!(DeviceKind::from(DeviceType::from(k)), k);
        }
        assert_eq!(ReceivePolicy::from(ReceiveMode::TrustedOnly), ReceivePolicy::TrustedOnly);
    }

    #[test]
    fn devices_translate() {
        let r = DeviceRegistry::new("OWN");
        let info = ferry_core::protocol::device_info("Pixel", DeviceType::Mobile, "Pixel 8", &"AB".repeat(32), 53317, Protocol::Http);
        r.observe(Sighting {
            info,
            host: "10.0.0.2".into(),
            ip: "10.0.0.2".parse().unwrap(),
            port: 53317,
            protocol: Protocol::Http,
            verified: false,
            source: Source::Scan,
        });
        let d: Device = r.list().remove(0).into();
        assert_eq!((d.alias.as_str(), d.device_kind, d.encryption, d.verified, d.ferry), ("Pixel", DeviceKind::Mobile, false, false, true));
        assert_eq!((d.addresses, d.port, d.device_model), (vec!["10.0.0.2".to_string()], 53317, Some("Pixel 8".to_string())));
    }

    #[test]
    fn receive_events_translate() {
        let u = ReceiveUpdate::of(server::ReceiveEvent::FileFailed {
            session_id: "s".into(),
            file_id: "f".into(),
            error: "bad".into(),
            retry: true,
        })
        .unwrap();
        assert_eq!(u, ReceiveUpdate::FileFailed { session_id: "s".into(), file_id: "f".into(), message: "bad".into(), will_retry: true });
        let u = ReceiveUpdate::of(server::ReceiveEvent::FileCompleted {
            session_id: "s".into(),
            file_id: "f".into(),
            path: Some("/in/a.txt".into()),
        })
        .unwrap();
        assert_eq!(u, ReceiveUpdate::FileSaved { session_id: "s".into(), file_id: "f".into(), path: Some("/in/a.txt".into()) });
        let u = ReceiveUpdate::of(server::ReceiveEvent::FileCompleted { session_id: "s".into(), file_id: "f".into(), path: None }).unwrap();
        assert_eq!(u, ReceiveUpdate::FileSaved { session_id: "s".into(), file_id: "f".into(), path: None });
    }
}
