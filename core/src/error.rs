//! One error type for the whole engine: a stable [`ErrorKind`] plus a human message.
//!
//! The kind is what callers (the CLI's exit codes, the FFI layer's public enum) match on;
//! the message is for people and may change.

use std::fmt;

/// Stable error categories. New kinds may be added; existing ones keep their meaning.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The caller passed something unusable (bad path, bad fingerprint, empty selection).
    InvalidInput,
    /// Local file system failure (other than the two below).
    Io,
    /// The disk (or the user's quota) is full.
    StorageFull,
    /// The file system refused access (permissions, a read-only file system).
    PermissionDenied,
    /// Could not reach the peer (refused, unreachable, reset).
    Network,
    /// The peer did not answer in time.
    Timeout,
    /// TLS handshake or certificate failure.
    Tls,
    /// The peer's certificate is not the one we expected.
    FingerprintMismatch,
    /// The receiver wants a PIN and none was given.
    PinRequired,
    /// The PIN was wrong.
    InvalidPin,
    /// Too many attempts (PIN) from this address.
    TooManyAttempts,
    /// The receiver declined the transfer.
    Declined,
    /// The receiver is busy with another session.
    Busy,
    /// A file's content did not match its checksum, even after retries.
    ChecksumMismatch,
    /// The peer spoke something we did not understand or broke the protocol.
    Protocol,
    /// The transfer was cancelled (by us or by the peer).
    Cancelled,
    /// Something that should not happen.
    Internal,
}

impl ErrorKind {
    /// A short stable identifier, used in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::Io => "io",
            ErrorKind::StorageFull => "storage_full",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::Network => "network",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Tls => "tls",
            ErrorKind::FingerprintMismatch => "fingerprint_mismatch",
            ErrorKind::PinRequired => "pin_required",
            ErrorKind::InvalidPin => "invalid_pin",
            ErrorKind::TooManyAttempts => "too_many_attempts",
            ErrorKind::Declined => "declined",
            ErrorKind::Busy => "busy",
            ErrorKind::ChecksumMismatch => "checksum_mismatch",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What exactly went wrong, for a caller that acts on it; the [`ErrorKind`] stays the category.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Detail {
    /// A local I/O error of this kind (the source of an `Io`, `StorageFull` or `PermissionDenied`).
    Io(std::io::ErrorKind),
    /// A device name or fingerprint prefix matched no device.
    NoSuchDevice,
    /// A device name or fingerprint prefix matched several devices.
    AmbiguousDevice,
    /// The receiver could not save a file it was sent (its disk is full, its folder refuses it):
    /// the kind is `StorageFull`, `PermissionDenied` or `Io`, as the receiver said.
    ReceiverStorage,
}

/// An error: its stable [`ErrorKind`], a message for people, and (when known) a typed [`Detail`].
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    /// The typed cause, when there is one to act on (never parsed from `message`).
    pub detail: Option<Detail>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The kind of a local I/O error: a full disk and a denied permission are told apart (by the
/// OS error number as well, so that it holds whatever the Rust version maps them to).
pub(crate) fn io_error_kind(err: &std::io::Error) -> ErrorKind {
    match err.raw_os_error() {
        Some(libc::ENOSPC) | Some(libc::EDQUOT) => return ErrorKind::StorageFull,
        Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EROFS) => return ErrorKind::PermissionDenied,
        _ => {}
    }
    match err.kind() {
        std::io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
        _ => ErrorKind::Io,
    }
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into(), detail: None }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }
    pub fn protocol(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Protocol, message)
    }
    /// A local I/O failure: the kind tells a full disk and a denied permission from other
    /// failures, and the I/O error's own kind is kept ([`Error::io_kind`]).
    pub fn io(context: impl fmt::Display, err: std::io::Error) -> Self {
        Error { kind: io_error_kind(&err), message: format!("{context}: {err}"), detail: Some(Detail::Io(err.kind())) }
    }
    /// A device name or prefix matched no device ([`ErrorKind::InvalidInput`], [`Detail::NoSuchDevice`]).
    pub(crate) fn no_such_device(message: impl Into<String>) -> Self {
        Self::invalid(message).with_detail(Detail::NoSuchDevice)
    }
    /// A device name or prefix matched several devices ([`ErrorKind::InvalidInput`], [`Detail::AmbiguousDevice`]).
    pub(crate) fn ambiguous_device(message: impl Into<String>) -> Self {
        Self::invalid(message).with_detail(Detail::AmbiguousDevice)
    }
    /// This error with a typed detail.
    pub fn with_detail(mut self, detail: Detail) -> Self {
        self.detail = Some(detail);
        self
    }
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    /// The kind of the local I/O error behind this one, if it came from one.
    pub fn io_kind(&self) -> Option<std::io::ErrorKind> {
        match self.detail {
            Some(Detail::Io(k)) => Some(k),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        Error { kind: io_error_kind(&err), message: err.to_string(), detail: Some(Detail::Io(err.kind())) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_full_disk_and_a_denied_permission_are_told_apart() {
        // /dev/full answers every write with ENOSPC.
        let mut full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
        let e = Error::io("writing", full.write_all(b"x").and_then(|_| full.flush()).unwrap_err());
        assert_eq!((e.kind, e.io_kind()), (ErrorKind::StorageFull, Some(std::io::ErrorKind::StorageFull)), "{e}");
        let e: Error = std::io::Error::from_raw_os_error(libc::EACCES).into();
        assert_eq!((e.kind, e.io_kind()), (ErrorKind::PermissionDenied, Some(std::io::ErrorKind::PermissionDenied)), "{e}");
        let e = Error::io("reading", std::io::Error::from(std::io::ErrorKind::NotFound));
        assert_eq!((e.kind, e.io_kind()), (ErrorKind::Io, Some(std::io::ErrorKind::NotFound)));
        assert_eq!(Error::new(ErrorKind::Io, "x").io_kind(), None);
        assert_eq!(Error::ambiguous_device("x").detail, Some(Detail::AmbiguousDevice));
    }
}
