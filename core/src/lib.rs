//! Ferry's protocol engine: LocalSend v2 (HTTP/1.1 over mutual TLS) for sending and receiving
//! files and text between nearby devices. Pure Rust; knows nothing of any FFI.

pub mod client;
pub mod config;
pub mod discovery;
pub mod display;
pub mod error;
mod fsutil;
pub mod identity;
pub mod net;
pub mod node;
pub mod progress;
pub mod protocol;
pub mod send;
pub mod server;
pub mod storage;
pub mod tls;
mod util;
pub use util::random_id;

pub use error::{Error, ErrorKind, Result};

use protocol::{DeviceInfo, DeviceType, FerryExt, Protocol, PROTOCOL_VERSION};

/// Our own DeviceInfo. Every key is present, as strict receivers require.
pub fn device_info(alias: &str, device_type: DeviceType, model: &str, fingerprint: &str, port: u16, protocol: Protocol) -> DeviceInfo {
    DeviceInfo {
        alias: alias.to_string(),
        version: PROTOCOL_VERSION.to_string(),
        device_model: Some(model.to_string()),
        device_type: Some(device_type),
        fingerprint: fingerprint.to_string(),
        port: Some(port),
        protocol: Some(protocol),
        download: false,
        announce: None,
        announcement: None,
        ferry: Some(FerryExt::current()),
    }
}

pub use tokio_util::sync::CancellationToken;
/// Private helpers exposed for Ferry's fuzz targets and their replay tests only.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::util::{percent_decode, percent_encode, query_param};
}
