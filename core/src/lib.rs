//! Ferry's protocol engine: LocalSend v2 (HTTP/1.1 over mutual TLS) for sending and receiving
//! files and text between nearby devices. Pure Rust; knows nothing of any FFI.

pub mod client;
pub mod config;
pub mod error;
mod fsutil;
pub mod identity;
pub mod protocol;
pub mod send;
pub mod server;
pub mod storage;
pub mod tls;
mod util;
pub use util::random_id;

pub use error::{Error, ErrorKind, Result};
