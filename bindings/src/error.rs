//! The one public error type. Its variants are stable kinds (apps switch on them); the message
//! is for people and may change. It crosses the FFI "flat": Kotlin and Swift see the variant
//! and its message (`FerryException.PinRequired`, `FerryError.PinRequired(message:)`).

use ferry_core::ErrorKind;

#[derive(Debug, thiserror::Error, uniffi::Error)]
#[uniffi(flat_error)]
pub enum FerryError {
    /// Something passed in is unusable (a bad address, path, fingerprint, an unknown session).
    #[error("{message}")]
    InvalidInput { message: String },
    /// A local file could not be read or written (for a reason other than the two below).
    #[error("{message}")]
    Io { message: String },
    /// The disk (or the user's quota) is full.
    #[error("{message}")]
    StorageFull { message: String },
    /// The file system refused access (permissions, a read-only file system).
    #[error("{message}")]
    PermissionDenied { message: String },
    /// The device could not be reached.
    #[error("{message}")]
    Network { message: String },
    /// The device did not answer in time.
    #[error("{message}")]
    Timeout { message: String },
    /// The TLS handshake or a certificate failed.
    #[error("{message}")]
    Tls { message: String },
    /// Another device answered than the one expected (its certificate fingerprint differs).
    #[error("{message}")]
    FingerprintMismatch { message: String },
    /// The receiver requires a PIN.
    #[error("{message}")]
    PinRequired { message: String },
    /// The PIN was wrong.
    #[error("{message}")]
    InvalidPin { message: String },
    /// Too many wrong PINs: the receiver blocks this device for a while.
    #[error("{message}")]
    TooManyAttempts { message: String },
    /// The receiver declined.
    #[error("{message}")]
    Declined { message: String },
    /// The receiver is busy with another transfer.
    #[error("{message}")]
    Busy { message: String },
    /// A file arrived damaged, even after retries.
    #[error("{message}")]
    ChecksumMismatch { message: String },
    /// The other side broke the protocol.
    #[error("{message}")]
    Protocol { message: String },
    /// The transfer was cancelled, by this device or the other.
    #[error("{message}")]
    Cancelled { message: String },
    /// A bug or an unexpected state.
    #[error("{message}")]
    Internal { message: String },
}

/// ferry-core's error kinds, exported as they are (one definition: `uniffi::remote` checks this
/// list against core's enum at compile time). Kotlin: `ErrorKind.STORAGE_FULL`; Swift: `.storageFull`.
#[uniffi::remote(Enum)]
#[non_exhaustive]
pub enum ErrorKind {
    InvalidInput,
    Io,
    StorageFull,
    PermissionDenied,
    Network,
    Timeout,
    Tls,
    FingerprintMismatch,
    PinRequired,
    InvalidPin,
    TooManyAttempts,
    Declined,
    Busy,
    ChecksumMismatch,
    Protocol,
    Cancelled,
    Internal,
}

/// The short stable name of an error kind ("storage_full", "declined"...), as the CLI's JSON
/// output has it.
#[uniffi::export]
pub fn error_kind_code(kind: ErrorKind) -> String {
    kind.as_str().to_string()
}

/// What a listener or sink implemented by the app may throw. Any exception it throws (of this
/// type or not) is caught: it is logged and the next event is delivered as usual.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum ListenerError {
    #[error("{reason}")]
    Failed { reason: String },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for ListenerError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        ListenerError::Failed { reason: e.reason }
    }
}

impl From<ferry_core::Error> for FerryError {
    fn from(e: ferry_core::Error) -> Self {
        let message = e.message;
        match e.kind {
            ErrorKind::InvalidInput => FerryError::InvalidInput { message },
            ErrorKind::Io => FerryError::Io { message },
            ErrorKind::StorageFull => FerryError::StorageFull { message },
            ErrorKind::PermissionDenied => FerryError::PermissionDenied { message },
            ErrorKind::Network => FerryError::Network { message },
            ErrorKind::Timeout => FerryError::Timeout { message },
            ErrorKind::Tls => FerryError::Tls { message },
            ErrorKind::FingerprintMismatch => FerryError::FingerprintMismatch { message },
            ErrorKind::PinRequired => FerryError::PinRequired { message },
            ErrorKind::InvalidPin => FerryError::InvalidPin { message },
            ErrorKind::TooManyAttempts => FerryError::TooManyAttempts { message },
            ErrorKind::Declined => FerryError::Declined { message },
            ErrorKind::Busy => FerryError::Busy { message },
            ErrorKind::ChecksumMismatch => FerryError::ChecksumMismatch { message },
            ErrorKind::Protocol => FerryError::Protocol { message },
            ErrorKind::Cancelled => FerryError::Cancelled { message },
            ErrorKind::Internal => FerryError::Internal { message },
            _ => FerryError::Internal { message },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_keeps_its_variant_and_message() {
        let cases = [
            (ErrorKind::InvalidInput, "InvalidInput"),
            (ErrorKind::Io, "Io"),
            (ErrorKind::StorageFull, "StorageFull"),
            (ErrorKind::PermissionDenied, "PermissionDenied"),
            (ErrorKind::Network, "Network"),
            (ErrorKind::Timeout, "Timeout"),
            (ErrorKind::Tls, "Tls"),
            (ErrorKind::FingerprintMismatch, "FingerprintMismatch"),
            (ErrorKind::PinRequired, "PinRequired"),
            (ErrorKind::InvalidPin, "InvalidPin"),
            (ErrorKind::TooManyAttempts, "TooManyAttempts"),
            (ErrorKind::Declined, "Declined"),
            (ErrorKind::Busy, "Busy"),
            (ErrorKind::ChecksumMismatch, "ChecksumMismatch"),
            (ErrorKind::Protocol, "Protocol"),
            (ErrorKind::Cancelled, "Cancelled"),
            (ErrorKind::Internal, "Internal"),
        ];
        for (kind, name) in cases {
            let e: FerryError = ferry_core::Error::new(kind, "msg").into();
            assert!(format!("{e:?}").starts_with(name), "{kind:?} -> {e:?}");
            assert_eq!(e.to_string(), "msg");
        }
    }
}
