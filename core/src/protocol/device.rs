//! The DeviceInfo Ferry announces about itself.

use super::{DeviceInfo, DeviceType, FerryExt, Protocol, PROTOCOL_VERSION};

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
