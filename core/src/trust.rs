//! The trust store: fingerprints of the devices the user trusts, with their names and saved
//! addresses (`trusted.json`).

use crate::error::{Error, Result};
use crate::fsutil::write_private_atomic;
use crate::identity::{normalize_fingerprint, same_fingerprint};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::RwLock;

/// A device the user trusts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TrustedDevice {
    pub fingerprint: String,
    #[serde(default)]
    pub alias: Option<String>,
    /// Where to find it (`host[:port]`) when discovery does not: a favorite, probed directly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// Fingerprints of devices the user trusts (`trusted.json`). Only *certificate* fingerprints
/// are ever checked against it.
#[derive(Debug)]
pub struct TrustStore {
    path: PathBuf,
    devices: RwLock<Vec<TrustedDevice>>,
}

impl TrustStore {
    pub fn open(dir: &Path) -> Result<TrustStore> {
        let path = dir.join("trusted.json");
        let devices = match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| Error::invalid(format!("{} is damaged: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Error::io(format!("cannot read {}", path.display()), e)),
        };
        Ok(TrustStore { path, devices: RwLock::new(devices) })
    }

    /// An empty store that lives in memory only (tests, embedders without a config dir).
    pub fn in_memory() -> TrustStore {
        TrustStore { path: PathBuf::new(), devices: RwLock::new(Vec::new()) }
    }

    pub fn list(&self) -> Vec<TrustedDevice> {
        self.devices.read().unwrap().clone()
    }

    pub fn is_trusted(&self, fingerprint: &str) -> bool {
        self.devices.read().unwrap().iter().any(|d| same_fingerprint(&d.fingerprint, fingerprint))
    }

    /// Adds a fingerprint; returns false if it was already there.
    pub fn add(&self, fingerprint: &str, alias: Option<String>) -> Result<bool> {
        let fp = normalize_fingerprint(fingerprint)?;
        let mut devices = self.devices.write().unwrap();
        if devices.iter().any(|d| same_fingerprint(&d.fingerprint, &fp)) {
            return Ok(false);
        }
        devices.push(TrustedDevice { fingerprint: fp, alias, address: None });
        self.persist(&devices)?;
        Ok(true)
    }

    /// Sets (or clears) the saved address of a trusted device; false if it is not trusted.
    pub fn set_address(&self, fingerprint: &str, address: Option<String>) -> Result<bool> {
        let fp = normalize_fingerprint(fingerprint)?;
        let mut devices = self.devices.write().unwrap();
        let Some(d) = devices.iter_mut().find(|d| same_fingerprint(&d.fingerprint, &fp)) else { return Ok(false) };
        if d.address == address {
            return Ok(true);
        }
        d.address = address;
        self.persist(&devices)?;
        Ok(true)
    }

    /// Removes a fingerprint; returns false if it was not there.
    pub fn remove(&self, fingerprint: &str) -> Result<bool> {
        let fp = normalize_fingerprint(fingerprint)?;
        let mut devices = self.devices.write().unwrap();
        let before = devices.len();
        devices.retain(|d| !same_fingerprint(&d.fingerprint, &fp));
        if devices.len() == before {
            return Ok(false);
        }
        self.persist(&devices)?;
        Ok(true)
    }

    fn persist(&self, devices: &[TrustedDevice]) -> Result<()> {
        if self.path.as_os_str().is_empty() {
            return Ok(());
        }
        let text = serde_json::to_vec_pretty(devices).map_err(|e| Error::invalid(e.to_string()))?;
        write_private_atomic(&self.path, &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_store_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let fp = "0a".repeat(32);
        let store = TrustStore::open(dir.path()).unwrap();
        assert!(store.add(&fp, Some("Laptop".into())).unwrap());
        assert!(!store.add(&fp.to_uppercase(), None).unwrap());
        let again = TrustStore::open(dir.path()).unwrap();
        assert!(again.is_trusted(&fp.to_uppercase()));
        assert!(again.set_address(&fp, Some("10.0.0.2:53317".into())).unwrap());
        assert_eq!(TrustStore::open(dir.path()).unwrap().list()[0].address.as_deref(), Some("10.0.0.2:53317"));
        assert!(!again.set_address(&"0b".repeat(32), None).unwrap());
        assert!(again.remove(&fp).unwrap());
        assert!(!TrustStore::open(dir.path()).unwrap().is_trusted(&fp));
        assert!(store.add("nope", None).is_err());
    }
}
