//! Ferry's protocol engine: LocalSend v2 (HTTP/1.1 over mutual TLS) for sending and receiving
//! files and text between nearby devices. Pure Rust; knows nothing of any FFI.

pub mod client;
pub mod discovery;
pub mod display;
pub mod error;
mod fsutil;
pub mod identity;
pub mod net;
pub mod node;
pub mod pairing;
pub mod progress;
pub mod protocol;
pub mod resume;
pub mod send;
pub mod server;
pub mod share;
pub mod storage;
pub mod tls;
pub mod trust;
mod util;
pub use util::random_id;

pub use error::{Error, ErrorKind, Result};

pub use tokio_util::sync::CancellationToken;

/// Private helpers exposed for Ferry's fuzz targets and their replay tests only.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::protocol::parse_content_range;
    pub use crate::util::{percent_decode, percent_encode, query_param};
}
