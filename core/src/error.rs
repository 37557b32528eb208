//! One error type for the whole engine: a stable [`ErrorKind`] plus a human message.
//!
//! The kind is what callers (the CLI's exit codes, the FFI layer's public enum) match on;
//! the message is for people and may change.

use std::fmt;

/// Stable error categories. New kinds may be added; existing ones keep their meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The caller passed something unusable (bad path, bad fingerprint, empty selection).
    InvalidInput,
    /// Local file system failure.
    Io,
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

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into() }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }
    pub fn protocol(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Protocol, message)
    }
    pub fn io(context: impl fmt::Display, err: std::io::Error) -> Self {
        Self::new(ErrorKind::Io, format!("{context}: {err}"))
    }
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        Error::new(ErrorKind::Io, err.to_string())
    }
}
