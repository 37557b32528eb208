//! Byte progress over one transfer's files, the same accounting for every front end (the CLI's
//! bar, the apps' totals).

use crate::protocol::{total_size, FileDto};
use std::collections::HashMap;

/// The bytes each file of a transfer has reached, and their total. A file that fails and is
/// retried starts again from zero, and the total goes back with it (through [`Self::rewind`], or
/// when its next progress is lower than before).
#[derive(Debug, Clone, Default)]
pub struct TransferProgress {
    reached: HashMap<String, u64>,
    total: u64,
    total_size: u64,
}

impl TransferProgress {
    /// A transfer of `files`, nothing moved yet.
    pub fn new(files: &[FileDto]) -> TransferProgress {
        TransferProgress { reached: HashMap::with_capacity(files.len()), total: 0, total_size: total_size(files.iter()) }
    }

    /// The files' sizes added up.
    pub fn total_size(&self) -> u64 {
        self.total_size
    }

    /// The bytes all files have reached together.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// `file_id` has reached `bytes`. Returns what it had reached before.
    pub fn advance(&mut self, file_id: &str, bytes: u64) -> u64 {
        let before = self.reached.insert(file_id.to_string(), bytes).unwrap_or(0);
        self.total = self.total.saturating_add(bytes).saturating_sub(before);
        before
    }

    /// `file_id` failed: its bytes come off the total (a retry starts from zero). Returns them.
    pub fn rewind(&mut self, file_id: &str) -> u64 {
        let before = self.reached.remove(file_id).unwrap_or(0);
        self.total = self.total.saturating_sub(before);
        before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(id: &str, size: u64) -> FileDto {
        FileDto {
            id: id.into(),
            file_name: id.into(),
            size,
            file_type: "application/octet-stream".into(),
            sha256: None,
            hash: None,
            preview: None,
            metadata: None,
            checksum_after: None,
        }
    }

    #[test]
    fn totals_follow_files_and_retries() {
        let mut p = TransferProgress::new(&[file("a", 100), file("b", 50)]);
        assert_eq!(p.total_size(), 150);
        assert_eq!(p.advance("a", 60), 0);
        assert_eq!(p.advance("b", 50), 0);
        assert_eq!(p.total(), 110);
        // A retried file reports from zero again: the total goes back.
        assert_eq!(p.advance("a", 10), 60);
        assert_eq!(p.total(), 60);
        assert_eq!(p.rewind("a"), 10);
        assert_eq!(p.total(), 50);
        assert_eq!(p.rewind("a"), 0);
        assert_eq!(p.total(), 50);
    }
}
