//! The events `ferry --json` prints, one JSON object per line: `{"event": "<name>", ...fields}`.
//! Every event name and field is camelCase; `files` is always a list of [`FileEntry`], counts
//! have their own names. docs/CLI-JSON.md documents each event; this enum is the only place
//! that makes them (and the tests read them back into it).

use serde::{Deserialize, Serialize};

/// One line of `ferry --json` output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Event {
    /// A sentence for a person that has no event of its own.
    Info { message: String },
    /// The command failed; `kind` is a stable error kind (see the README's exit codes).
    Error { kind: String, message: String },
    /// `ferry identity`: this device's fingerprint.
    Identity { fingerprint: String, reset: bool },
    /// `ferry trust list`: one trusted device.
    Trusted { fingerprint: String, alias: Option<String>, address: Option<String> },
    /// `ferry receive` listens.
    Ready { alias: String, fingerprint: String, port: u16, protocol: String, addresses: Vec<String>, dir: String, pin: bool },
    /// Discovery runs on these interfaces (again when they change).
    Discovering { interfaces: Vec<Interface>, port: u16 },
    /// A device was found nearby.
    DeviceFound { device: DeviceEntry, elapsed_ms: u64 },
    /// A device already found changed (a new address, verified by TLS, ...).
    DeviceUpdated { device: DeviceEntry, elapsed_ms: u64 },
    /// A device is gone (stopped answering).
    DeviceLost { device: DeviceEntry, elapsed_ms: u64 },
    /// `ferry devices`: the final list.
    Devices { devices: Vec<DeviceEntry> },
    /// `--to NAME` found this device.
    Target { device: DeviceEntry },
    /// The sender reached the receiver.
    Connected { alias: String, fingerprint: String, verified: bool, device_type: String },
    /// The request is with the receiver, waiting for its user (files only, never a text).
    Waiting,
    /// The receiver accepted `files` of the `offeredCount` offered.
    Accepted { session_id: String, files: Vec<FileEntry>, offered_count: usize, bytes: u64 },
    /// Bytes of one file sent (sender) or received (receiver) so far.
    FileProgress { file_id: String, bytes: u64, size: u64 },
    /// One file arrived whole; `path` is where the receiver saved it (receiver only).
    FileDone { file_id: String, name: Option<String>, path: Option<String> },
    /// One file failed; `retry` when it is tried (sender) or may be sent (receiver) again.
    FileFailed { file_id: String, name: String, error: String, retry: bool },
    /// `ferry send` finished.
    SendDone { session_id: Option<String>, sent: usize, skipped: usize, empty_folders: usize, bytes: u64, seconds: Option<f64> },
    /// `ferry text` delivered the message; `shown` when the receiver showed it (not saved as a file).
    TextDone { shown: bool },
    /// A transfer request waits for this receiver's answer.
    Request { session_id: String, sender: SenderEntry, files: Vec<FileEntry>, empty_folders: Vec<String>, bytes: u64 },
    /// The request's sender withdrew it while it was asked about.
    RequestWithdrawn { session_id: String },
    /// A request is over without being accepted (declined, cancelled or abandoned).
    RequestClosed { session_id: String },
    /// A text message arrived.
    Text { sender: SenderEntry, text: String },
    /// An accepted transfer starts.
    SessionStarted { session_id: String, sender: SenderEntry, files: Vec<FileEntry>, bytes: u64 },
    /// A request was declined (by the person or the policy).
    Declined { sender: SenderEntry },
    /// Folders made for an accepted request (its empty folders).
    FoldersCreated { paths: Vec<String> },
    /// A transfer ended: `outcome` is `finished`, `cancelledBySender`, `cancelledByReceiver`,
    /// `timedOut` or `ended`; `saved`, `failed` count files; `bytes` the bytes saved.
    SessionFinished { session_id: String, outcome: String, saved: usize, failed: usize, bytes: u64, seconds: f64 },
    /// Someone sent a wrong PIN; `lockedSeconds` when PIN checks are now locked.
    PinFailed { ip: String, failures: u32, locked_seconds: Option<u64> },
    /// A file continues where an interrupted transfer stopped: `offset` bytes were already there
    /// (`size` on the sender only).
    FileResumed { file_id: String, offset: u64, size: Option<u64> },
    /// The receiver already has these files (`--skip-existing`): they are not sent.
    FilesSkipped { file_ids: Vec<String> },
    /// `ferry share` is open: the links to give, the files (and folders as zips) offered.
    Sharing { alias: String, fingerprint: String, links: Vec<String>, files: Vec<FileEntry>, zips: Vec<ZipEntry>, pin: bool },
    /// A browser asks to see the shared files (not sent with `--yes`).
    BrowserRequest { id: String, ip: String, user_agent: String },
    /// A browser was let in.
    BrowserApproved { ip: String },
    /// A browser was refused.
    BrowserDeclined { ip: String },
    /// A browser that asked went away before it was answered (the question is dropped).
    BrowserGone { ip: String },
    /// A browser started downloading a file (or a folder's zip), from byte `offset`.
    DownloadStarted { ip: String, file_id: String, name: String, offset: u64, size: u64 },
    /// Bytes of a download sent so far.
    DownloadProgress { ip: String, file_id: String, sent: u64, size: u64 },
    /// A download ended; `complete` when the browser got all of it.
    DownloadFinished { ip: String, file_id: String, sent: u64, complete: bool },
    /// A browser gave a wrong share PIN; `lockedSeconds` when PIN checks are now locked.
    SharePinFailed { ip: String, locked_seconds: Option<u64> },
    /// `ferry share` ended.
    ShareClosed,
}

/// A shared folder offered as one zip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ZipEntry {
    pub id: String,
    pub name: String,
    pub file_count: usize,
}

/// A file of a request or transfer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileEntry {
    pub id: String,
    pub name: String,
    pub size: u64,
}

/// The sender of a request, a transfer or a text, as the receiver knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SenderEntry {
    pub alias: String,
    pub fingerprint: String,
    pub verified: bool,
    pub trusted: bool,
    pub ip: String,
    pub device_type: String,
    pub device_model: Option<String>,
}

/// A device found nearby.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceEntry {
    pub fingerprint: String,
    pub short_fingerprint: String,
    pub alias: String,
    pub device_model: Option<String>,
    pub device_type: String,
    pub version: String,
    pub addresses: Vec<String>,
    pub port: u16,
    pub protocol: String,
    pub download: bool,
    pub verified: bool,
    pub ferry: bool,
    pub source: String,
    pub last_seen_ms: u64,
}

/// An interface discovery uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Interface {
    pub name: String,
    pub addr: String,
    pub multicast: bool,
}
