//! Resuming interrupted uploads: what a receiver keeps of a file whose upload broke, and how it
//! recognises the same file when its sender comes back.
//!
//! When an upload from a *verified* sender (its TLS client certificate) breaks (the connection
//! is lost, the sender or the receiver is killed, the disk is full), the receiver keeps the hidden
//! partial file (`.ferry-<16 hex>.partial`) next to its final name, with a small record
//! (`.ferry-<16 hex>.resume`, JSON): the sender's certificate fingerprint, the relative path, the
//! declared size, the modified time and the checksum the sender gave. The bytes held are the
//! partial file's length. A cancel is not a break: it removes both.
//!
//! The 16 hex digits are derived from the record, so the receiver finds a kept partial by the
//! file's description alone; it is used only when the whole record matches again (same
//! fingerprint, path, size, modified time, checksum). A partial file is never visible as a
//! finished file; kept partials expire [`KEPT_MAX_AGE`] after their last write and are bounded in
//! number ([`KEPT_MAX_COUNT`]) and total size ([`KEPT_MAX_BYTES`], and half of the space that
//! would be free without them): the oldest go first, the newest always stays. This is enforced
//! when a receiver starts on the folder ([`crate::storage::ReceiveDir::new`]), whenever an upload
//! keeps a file and when a session ends ([`crate::storage::ReceiveDir::trim_kept`]).

use crate::protocol::{ChecksumAlgo, FileHasher};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::time::Duration;

/// A kept partial file unused (not written) for this long is removed.
pub const KEPT_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// Most kept partial files in one receive folder; the oldest beyond are removed.
pub const KEPT_MAX_COUNT: usize = 1000;
/// Most bytes of kept partial files in one receive folder; the oldest beyond are removed.
pub const KEPT_MAX_BYTES: u64 = 64 * 1024 * 1024 * 1024;
/// Files smaller than this are not kept on a break (sending them again costs less than keeping
/// them), so sessions of many small files pay nothing for resume.
pub const MIN_RESUMABLE_SIZE: u64 = 1024 * 1024;
/// Suffix of a kept partial file's data.
pub(crate) const DATA_SUFFIX: &str = ".partial";
/// Suffix of a kept partial file's record.
pub(crate) const RECORD_SUFFIX: &str = ".resume";
/// Largest record file read (a record is a few hundred bytes; paths are at most 4 KiB).
pub(crate) const MAX_RECORD_BYTES: u64 = 16 * 1024;

/// Who sent a file and what it was, as recorded next to its kept partial.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResumeRecord {
    /// The sender's certificate fingerprint (only ever a verified one).
    pub fingerprint: String,
    /// The relative path the sender gave (`fileName`).
    pub file_name: String,
    /// The declared size.
    pub size: u64,
    /// The modified time the sender gave, as it gave it.
    #[serde(default)]
    pub modified: Option<String>,
    /// The checksum the sender gave (lowercase hex).
    #[serde(default)]
    pub sha256: Option<String>,
}

impl ResumeRecord {
    /// The record of `dto` sent by the verified sender `fingerprint`, when the file is big
    /// enough to be kept ([`MIN_RESUMABLE_SIZE`]).
    pub(crate) fn for_file(fingerprint: &str, dto: &crate::protocol::FileDto) -> Option<ResumeRecord> {
        (dto.size >= MIN_RESUMABLE_SIZE).then(|| ResumeRecord::of(fingerprint, dto))
    }

    /// The record of `dto` sent by the verified sender `fingerprint`.
    pub(crate) fn of(fingerprint: &str, dto: &crate::protocol::FileDto) -> ResumeRecord {
        ResumeRecord {
            fingerprint: fingerprint.to_string(),
            file_name: dto.file_name.clone(),
            size: dto.size,
            modified: dto.metadata.as_ref().and_then(|m| m.modified.clone()),
            sha256: dto.checksum(),
        }
    }

    /// The 16 hex digits naming this record's files (from a SHA-256 of every field).
    pub(crate) fn stem(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"ferry-resume-v1\0");
        for part in [&self.fingerprint, &self.file_name, self.modified.as_deref().unwrap_or(""), self.sha256.as_deref().unwrap_or("")] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        h.update(self.size.to_be_bytes());
        hex::encode(&h.finalize()[..8])
    }

    #[cfg(test)]
    pub(crate) fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("serialisable")
    }

    #[cfg(test)]
    pub(crate) fn from_json(data: &[u8]) -> Option<ResumeRecord> {
        serde_json::from_slice(data).ok()
    }
}

/// What a record file holds: the record, and the SHA-256 of the bytes held when the receiver
/// knew it at the break (it hashed them as they arrived), so that an offer needs no reading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredRecord {
    #[serde(flatten)]
    pub(crate) record: ResumeRecord,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) held: Option<HeldPrefix>,
}

/// The first `length` bytes of a kept partial file and their SHA-256 (lowercase hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct HeldPrefix {
    pub(crate) length: u64,
    pub(crate) sha256: String,
}

impl StoredRecord {
    pub(crate) fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("serialisable")
    }

    pub(crate) fn from_json(data: &[u8]) -> Option<StoredRecord> {
        serde_json::from_slice(data).ok()
    }
}

/// Most bytes of existing files one prepare-upload request makes the receiver hash (files the
/// receiver may already have with skip-existing, kept partial files whose hash is not recorded).
/// Beyond it, a file that needs hashing is neither skipped nor offered for resuming.
pub const MAX_HASHED_PER_REQUEST: u64 = 4 * 1024 * 1024 * 1024;

/// How long one prepare-upload request may spend hashing existing files, at most.
pub const MAX_HASHING_TIME: Duration = Duration::from_secs(20);

/// What one request may still hash: bytes left, and when to stop (its session was cancelled, or
/// the time is up); and what it hashed already (a path named twice is hashed once).
pub(crate) struct HashBudget<'a> {
    pub(crate) bytes: u64,
    pub(crate) stop: &'a (dyn Fn() -> bool + Sync),
    /// SHA-256 of whole existing files by their path below the receive folder (`None`: unreadable).
    pub(crate) hashed: std::collections::HashMap<String, Option<String>>,
}

impl<'a> HashBudget<'a> {
    pub(crate) fn new(bytes: u64, stop: &'a (dyn Fn() -> bool + Sync)) -> HashBudget<'a> {
        HashBudget { bytes, stop, hashed: Default::default() }
    }

    /// Takes `len` bytes from the budget; `false` (nothing taken) when they are not there.
    pub(crate) fn take(&mut self, len: u64) -> bool {
        if len > self.bytes || (self.stop)() {
            return false;
        }
        self.bytes -= len;
        true
    }
}

/// SHA-256 (lowercase hex) of the first `len` bytes `r` gives; an error when it ends sooner.
pub fn prefix_sha256(r: impl Read, len: u64) -> std::io::Result<String> {
    prefix_sha256_until(r, len, &|| false)
}

/// [`prefix_sha256`], giving up (an `Interrupted` error) as soon as `stop` says so (checked every
/// 256 KiB).
pub(crate) fn prefix_sha256_until(r: impl Read, len: u64, stop: &dyn Fn() -> bool) -> std::io::Result<String> {
    let mut h = ChecksumAlgo::Sha256.hasher();
    hash_next(r, len, &mut h, stop)?;
    Ok(h.finalize_hex())
}

/// Adds the next `len` bytes `r` gives to `h`; an `UnexpectedEof` error when it ends sooner, an
/// `Interrupted` one as soon as `stop` says so (checked every 256 KiB). The one loop behind the
/// prefix hashes: a resume offer's, a resumed upload's on the sender, the held bytes on the receiver.
pub(crate) fn hash_next(mut r: impl Read, len: u64, h: &mut FileHasher, stop: &dyn Fn() -> bool) -> std::io::Result<()> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut left = len;
    while left > 0 {
        if stop() {
            return Err(std::io::Error::new(std::io::ErrorKind::Interrupted, "hashing stopped"));
        }
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        let n = match r.read(&mut buf[..want]) {
            Ok(0) => return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the file is shorter than the bytes held")),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec() -> ResumeRecord {
        ResumeRecord { fingerprint: "ab".into(), file_name: "a/b.bin".into(), size: 10, modified: Some("2020".into()), sha256: None }
    }

    #[test]
    fn stems_differ_by_every_field() {
        let base = rec().stem();
        assert_eq!(base.len(), 16);
        assert_eq!(rec().stem(), base);
        let changes: [fn(&mut ResumeRecord); 5] = [
            |r| r.fingerprint.push('c'),
            |r| r.file_name.push('x'),
            |r| r.size += 1,
            |r| r.modified = None,
            |r| r.sha256 = Some("00".into()),
        ];
        for change in changes {
            let mut r = rec();
            change(&mut r);
            assert_ne!(r.stem(), base);
        }
        assert_eq!(ResumeRecord::from_json(&rec().to_json()), Some(rec()));
        assert_eq!(ResumeRecord::from_json(br#"{"x":1}"#), None);
    }

    #[test]
    fn prefix_hashes() {
        let data = vec![7u8; 600_000];
        assert_eq!(prefix_sha256(&data[..], 300_000).unwrap(), hex::encode(Sha256::digest(&data[..300_000])));
        assert_eq!(prefix_sha256(&data[..], 0).unwrap(), hex::encode(Sha256::digest(b"")));
        assert!(prefix_sha256(&data[..10], 11).is_err());
        assert!(prefix_sha256_until(&data[..], 300_000, &|| true).is_err(), "a stop ends the hashing");
    }

    #[test]
    fn a_stored_record_keeps_its_prefix_apart() {
        let held = Some(HeldPrefix { length: 4, sha256: "ab".repeat(32) });
        let stored = StoredRecord { record: rec(), held };
        let back = StoredRecord::from_json(&stored.to_json()).unwrap();
        assert_eq!(back, stored);
        // A record written without a prefix reads as one without.
        assert_eq!(StoredRecord::from_json(&rec().to_json()).unwrap(), StoredRecord { record: rec(), held: None });
        let stop = || false;
        let mut budget = HashBudget::new(10, &stop);
        assert!(budget.take(6) && !budget.take(5) && budget.take(4) && !budget.take(1));
    }
}
