//! Saving received files safely.
//!
//! * A file name from a peer is split on `/` (and `\`) into components; `..`, `.`, empty
//!   components, absolute paths, drive letters and NUL are refused, every other component is
//!   sanitised (control and reserved characters replaced, Unicode format characters such as
//!   U+202E dropped, shortened to 255 bytes, numbered on collision), and the result of every
//!   transformation is checked again: a saved component is never empty, never made only of dots,
//!   never contains `/`, `\` or NUL (see [`SafeName`]).
//! * The file-system layer itself only takes [`SafeName`]s and checks them again on every `*at`
//!   call, independent of the sanitiser.
//! * Folders are opened one component at a time with `openat(O_NOFOLLOW | O_DIRECTORY)` starting
//!   from the destination's descriptor, so nothing is ever written outside the destination, also
//!   not through a symlink that already sits in it.
//! * Data goes into a hidden temporary file next to the final name, created with `O_EXCL` and held
//!   under an exclusive `flock` for its whole life; it gets its final name only on
//!   [`PartFile::commit`], without replacing anything (`name (2).ext` on collision). A [`PartFile`]
//!   dropped without commit removes its temporary file; one left by a receiver that was killed is
//!   removed by [`ReceiveDir::clean_stale_parts`] when the next receiver starts.

use crate::display::is_format;
use crate::error::{Error, ErrorKind, Result};
use crate::fsutil;
pub use crate::fsutil::SafeName;
use crate::resume::{
    HashBudget, HeldPrefix, ResumeRecord, StoredRecord, DATA_SUFFIX, KEPT_MAX_AGE, KEPT_MAX_BYTES, KEPT_MAX_COUNT, MAX_RECORD_BYTES,
    RECORD_SUFFIX,
};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::io;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

const MAX_COMPONENT_BYTES: usize = fsutil::MAX_NAME_BYTES;
const MAX_DEPTH: usize = 64;
const MAX_PATH_BYTES: usize = 4096;
/// A kept extension is at most this long (bytes, with its dot) when a name must be shortened.
const MAX_KEPT_EXT_BYTES: usize = 16;
pub const TEMP_PREFIX: &str = ".ferry-";
pub const TEMP_SUFFIX: &str = ".part";
/// How deep [`ReceiveDir::clean_stale_parts`] looks below the destination.
pub(crate) const STALE_SCAN_MAX_DEPTH: usize = 16;
/// How many folder entries [`ReceiveDir::clean_stale_parts`] looks at, at most.
pub(crate) const STALE_SCAN_MAX_ENTRIES: usize = 100_000;

fn path_error(name: &str, why: &str) -> Error {
    Error::new(ErrorKind::InvalidInput, format!("refused file name {name:?}: {why}"))
}

/// Splits and sanitises a peer-supplied relative path (`fileName`); every returned component is a valid
/// [`SafeName`].
pub fn sanitize_relative_path(name: &str) -> Result<Vec<String>> {
    Ok(safe_components(name)?.into_iter().map(|c| c.as_str().to_string()).collect())
}

/// [`sanitize_relative_path`] as checked names, for the file-system layer.
pub(crate) fn safe_components(name: &str) -> Result<Vec<SafeName>> {
    if name.is_empty() {
        return Err(path_error(name, "empty name"));
    }
    if name.len() > MAX_PATH_BYTES {
        return Err(path_error(name, "name too long"));
    }
    if name.contains('\0') {
        return Err(path_error(name, "NUL character"));
    }
    if name.starts_with('/') || name.starts_with('\\') {
        return Err(path_error(name, "absolute path (path traversal)"));
    }
    let b = name.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        return Err(path_error(name, "drive letter (path traversal)"));
    }
    let parts: Vec<&str> = name.split(['/', '\\']).collect();
    if parts.len() > MAX_DEPTH {
        return Err(path_error(name, "too many folders"));
    }
    let mut out = Vec::with_capacity(parts.len());
    for part in parts {
        match part {
            "" => return Err(path_error(name, "empty path component")),
            "." | ".." => return Err(path_error(name, "path traversal")),
            _ => {}
        }
        // Checked again after sanitising: the sanitised form is what reaches the file system.
        let clean = sanitize_component(part);
        out.push(SafeName::new(&clean).map_err(|e| path_error(name, &e.to_string()))?);
    }
    Ok(out)
}

/// Whether `s` is a name made only of dots (`.`, `..`, `...`), or empty.
fn dot_only(s: &str) -> bool {
    s.bytes().all(|b| b == b'.')
}

/// Whether a sanitised name would be taken for one of Ferry's own temporary files (a part file, a kept partial file
/// or its resume record): a peer never names a file so.
fn looks_like_temp(s: &str) -> bool {
    s.starts_with(TEMP_PREFIX) && (s.ends_with(TEMP_SUFFIX) || s.ends_with(DATA_SUFFIX) || s.ends_with(RECORD_SUFFIX))
}

/// Whether a name is reserved on Windows (`CON`, `com1.txt`, ...).
fn reserved_on_windows(s: &str) -> bool {
    let stem_upper = s.split('.').next().unwrap_or("").trim_end().to_ascii_uppercase();
    matches!(stem_upper.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || ((stem_upper.starts_with("COM") || stem_upper.starts_with("LPT"))
            && stem_upper.len() == 4
            && stem_upper.as_bytes()[3].is_ascii_digit())
}

/// Makes one path component safe on every platform Ferry runs on. The result is always a valid [`SafeName`]:
/// not empty, not made only of dots, without `/`, `\`, NUL, control or format characters, at most 255 bytes.
pub fn sanitize_component(part: &str) -> String {
    let mut s: String = part
        .chars()
        .filter(|&c| !is_format(c))
        .map(|c| {
            let odd = c.is_control() || matches!(c, '<' | '>' | ':' | '"' | '|' | '?' | '*' | '/' | '\\' | '\u{2028}' | '\u{2029}');
            if odd {
                '_'
            } else {
                c
            }
        })
        .collect();
    // Each step below may undo what an earlier one ensured (shortening can leave trailing dots, trimming can make a
    // reserved name, a prefix can make it too long): repeat until nothing changes. Three rounds always suffice.
    for _ in 0..4 {
        // Windows drops trailing dots and spaces.
        let trimmed = s.trim_end_matches(['.', ' ']).len();
        s.truncate(trimmed);
        if s.is_empty() {
            return "untitled".to_string();
        }
        if reserved_on_windows(&s) || looks_like_temp(&s) {
            s.insert(0, '_');
        }
        if s.len() <= MAX_COMPONENT_BYTES {
            break;
        }
        s = truncate_component(&s, MAX_COMPONENT_BYTES);
    }
    // The last line: whatever the steps above did, never hand out an invalid name.
    if SafeName::is_valid(&s) && s.len() <= MAX_COMPONENT_BYTES && !s.ends_with(['.', ' ']) {
        s
    } else {
        "untitled".to_string()
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn floor_chars(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    &s[..cut]
}

/// Shortens a name to at most `max` bytes, keeping a short extension when the rest keeps more than dots.
/// The result may be empty or dot-only only when `s` itself starts with `max` dots; callers check.
fn truncate_component(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let (stem, ext) = split_ext(s);
    if !ext.is_empty() && ext.len() <= MAX_KEPT_EXT_BYTES && ext.len() < max {
        let kept = floor_chars(stem, max - ext.len());
        if !dot_only(kept) {
            return format!("{kept}{ext}");
        }
    }
    floor_chars(s, max).to_string()
}

/// `("photo", ".jpg")`. The stem always keeps something other than dots: `.bashrc` and `...x` have no extension.
fn split_ext(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(i) if !dot_only(&name[..i]) => (&name[..i], &name[i..]),
        _ => (name, ""),
    }
}

/// The n-th collision alternative of a name: `name (n).ext` (n = 1 is the name itself).
///
/// `name` is sanitised first ([`sanitize_component`]; a sanitised name is kept as it is), and the result is always a
/// valid [`SafeName`] of at most 255 bytes: the stem is shortened for the suffix and, when the extension alone leaves
/// no room, the extension too.
pub fn numbered_name(name: &str, n: u32) -> String {
    let base = sanitize_component(name);
    if n <= 1 {
        return base;
    }
    let suffix = format!(" ({n})");
    let (stem, ext) = split_ext(&base);
    let first_char = stem.chars().next().map_or(0, char::len_utf8);
    let room = MAX_COMPONENT_BYTES.saturating_sub(suffix.len() + ext.len());
    let (stem, ext) = if room >= first_char {
        (floor_chars(stem, room), ext)
    } else {
        // The extension alone leaves no room: keep the stem's first character and cut the extension.
        let stem = floor_chars(stem, first_char);
        let ext = floor_chars(ext, MAX_COMPONENT_BYTES - stem.len() - suffix.len()).trim_end_matches(['.', ' ']);
        (stem, ext)
    };
    let out = format!("{stem}{suffix}{ext}");
    debug_assert!(out.len() <= MAX_COMPONENT_BYTES && SafeName::is_valid(&out), "{out:?}");
    out
}

/// The most copies of one folder [`ReceiveDir::fresh_folder_names`] numbers (`name (2)` up to this).
const MAX_FOLDER_COPIES: u32 = 1000;
/// The most names [`ReceiveDir::fresh_folder_names`] looks up for one transfer; past it, the
/// remaining folders keep their names (and merge, as files there still never replace anything).
const MAX_FOLDER_PROBES: u32 = 20_000;

/// `name (n)` for a folder (no extension split: `v1.2 (2)`), at most 255 bytes.
fn numbered_folder(name: &str, n: u32) -> String {
    let suffix = format!(" ({n})");
    format!("{}{suffix}", floor_chars(name, MAX_COMPONENT_BYTES - suffix.len()).trim_end_matches(['.', ' ']))
}

/// `path` (a folder when `is_dir`, else a file) with its first folder renamed as `renamed`
/// ([`ReceiveDir::fresh_folder_names`]) says; `None` when it is not in a renamed folder (a
/// top-level file keeps its name).
pub fn renamed_path(renamed: &HashMap<String, String>, path: &str, is_dir: bool) -> Option<String> {
    let (top, rest) = match path.split_once(['/', '\\']) {
        Some((top, rest)) => (top, Some(rest)),
        None if is_dir => (path, None),
        None => return None,
    };
    let new = renamed.get(top)?;
    Some(match rest {
        Some(rest) => format!("{new}/{rest}"),
        None => new.clone(),
    })
}

/// The name of a temporary file: `.ferry-` + 16 hex digits + `.part`.
fn temp_file_name() -> String {
    format!("{TEMP_PREFIX}{:016x}{TEMP_SUFFIX}", rand::random::<u64>())
}

/// Whether `name` is `.ferry-` + 16 hex digits + `suffix`.
fn is_ferry_name(name: &str, suffix: &str) -> bool {
    name.strip_prefix(TEMP_PREFIX)
        .and_then(|r| r.strip_suffix(suffix))
        .is_some_and(|hex| hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The names of a kept partial file and of its record.
fn kept_names(stem: &str) -> Result<(SafeName, SafeName)> {
    Ok((SafeName::new(&format!("{TEMP_PREFIX}{stem}{DATA_SUFFIX}"))?, SafeName::new(&format!("{TEMP_PREFIX}{stem}{RECORD_SUFFIX}"))?))
}

/// How long a receiver waits for another upload of the same file (which it replaces) to let go of a kept partial.
const KEPT_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Takes the exclusive lock on `file`, waiting for at most `limit` (polled). A file system without locks counts as
/// locked by us.
fn lock_within(file: &File, limit: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + limit;
    loop {
        match fsutil::try_lock_exclusive(file) {
            Ok(true) | Err(_) => return true,
            Ok(false) if std::time::Instant::now() >= deadline => return false,
            Ok(false) => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    }
}

/// The record `name` in `dir`, if it is a small regular file holding one.
fn read_record(dir: BorrowedFd<'_>, name: &SafeName) -> Option<StoredRecord> {
    let file = fsutil::open_existing_nofollow_at(dir, name).ok()?;
    let st = fsutil::fstat(&file).ok()?;
    if !fsutil::is_regular(&st) || st.st_size as u64 > MAX_RECORD_BYTES {
        return None;
    }
    let mut data = Vec::new();
    file.take(MAX_RECORD_BYTES).read_to_end(&mut data).ok()?;
    StoredRecord::from_json(&data)
}

/// Whether `name` is exactly the form of [`temp_file_name`].
fn is_temp_file_name(name: &str) -> bool {
    name.strip_prefix(TEMP_PREFIX)
        .and_then(|r| r.strip_suffix(TEMP_SUFFIX))
        .is_some_and(|hex| hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The folder received files go to.
#[derive(Debug, Clone)]
pub struct ReceiveDir {
    root: PathBuf,
    skip_existing: bool,
    /// Held while the bounds of kept partial files are applied ([`ReceiveDir::trim_kept`]); the flag asks the one
    /// applying them for another round.
    trimming: std::sync::Arc<(std::sync::Mutex<()>, std::sync::atomic::AtomicBool)>,
}

/// What kept partial files may hold in all: [`KEPT_MAX_BYTES`], and never more than half of the space that would be
/// free without them (`available` bytes free now, `kept` bytes held by them).
fn kept_bytes_limit(available: u64, kept: u64) -> u64 {
    KEPT_MAX_BYTES.min(available.saturating_add(kept) / 2)
}

impl ReceiveDir {
    /// Uses `root` (created if missing) as the destination, and removes the temporary files that receivers which
    /// were killed left in it ([`ReceiveDir::clean_stale_parts`]).
    pub fn new(root: &Path) -> Result<ReceiveDir> {
        let dir = ReceiveDir::unswept(root)?;
        let removed = dir.clean_stale_parts();
        if removed > 0 {
            tracing::info!("removed {removed} unfinished file(s) left in {} by an earlier receiver", dir.root.display());
        }
        Ok(dir)
    }

    /// Uses `root` (created if missing) without walking it for what earlier receivers left: for a node that takes no
    /// files (a sender, a lookup), whose folder may be any big one, such as the system's temporary folder.
    pub fn unswept(root: &Path) -> Result<ReceiveDir> {
        std::fs::create_dir_all(root).map_err(|e| Error::io(format!("cannot create {}", root.display()), e))?;
        let root = root.canonicalize().map_err(|e| Error::io(format!("cannot open {}", root.display()), e))?;
        Ok(ReceiveDir { root, skip_existing: false, trimming: Default::default() })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether files this folder already has (same path, same size, same checksum or modified time) are left out of
    /// what is accepted ([`ReceiveDir::has_same`]).
    pub fn with_skip_existing(mut self, skip: bool) -> ReceiveDir {
        self.skip_existing = skip;
        self
    }

    pub fn skip_existing(&self) -> bool {
        self.skip_existing
    }

    /// Whether the file `rel` (a peer-supplied relative path) exists as a regular file (not a symlink) of `size` bytes
    /// with the SHA-256 `sha256` when one is given, else with the modified time `modified` (to the second). Without
    /// either, nothing counts as the same.
    pub fn has_same(&self, rel: &str, size: u64, modified: Option<std::time::SystemTime>, sha256: Option<&str>) -> bool {
        self.has_same_within(rel, size, modified, sha256, &mut HashBudget::new(u64::MAX, &|| false))
    }

    /// [`ReceiveDir::has_same`], hashing only within `budget`, and each file once (the same path named again with
    /// another checksum reads nothing): a file whose hash is beyond the budget counts as the same by its size and
    /// modified time (when the sender gave one), else as not the same.
    pub(crate) fn has_same_within(
        &self,
        rel: &str,
        size: u64,
        modified: Option<std::time::SystemTime>,
        sha256: Option<&str>,
        budget: &mut HashBudget<'_>,
    ) -> bool {
        let Ok(mut comps) = safe_components(rel) else { return false };
        let name = comps.pop().expect("at least one component");
        let Ok(mut fd) = self.open_root() else { return false };
        for d in &comps {
            match fsutil::open_dir_at(fd.as_fd(), d) {
                Ok(sub) => fd = sub,
                Err(_) => return false,
            }
        }
        let Ok(file) = fsutil::open_existing_nofollow_at(fd.as_fd(), &name) else { return false };
        let Ok(st) = fsutil::fstat(&file) else { return false };
        if !fsutil::is_regular(&st) || st.st_size as u64 != size {
            return false;
        }
        let key = comps.iter().chain(std::iter::once(&name)).map(|c| c.as_str()).collect::<Vec<_>>().join("/");
        if let (Some(want), Some(have)) = (sha256, budget.hashed.get(&key)) {
            return have.as_deref().is_some_and(|h| h.eq_ignore_ascii_case(want));
        }
        let sha256 = sha256.filter(|_| budget.take(size));
        match (sha256, modified) {
            (Some(want), _) => {
                let have = crate::resume::prefix_sha256_until(&file, size, budget.stop).ok();
                let same = have.as_deref().is_some_and(|h| h.eq_ignore_ascii_case(want));
                // A stopped hashing is not remembered (it is no answer); nothing is hashed after a stop anyway.
                if !(budget.stop)() {
                    budget.hashed.insert(key, have);
                }
                same
            }
            (None, Some(m)) => {
                let have = file.metadata().and_then(|m| m.modified()).ok();
                let secs = |t: std::time::SystemTime| t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).ok();
                have.and_then(secs).is_some_and(|h| Some(h) == secs(m))
            }
            (None, None) => false,
        }
    }

    /// What this folder holds of a file from an earlier upload described by `rec`: the length of the kept partial
    /// file (more than 0, less than the declared size) and, when `hash` is given, the SHA-256 of those bytes: the one
    /// recorded at the break, else hashed within the budget (`None` beyond it). `None` when there is none, its record
    /// does not match `rec` in every field, or another upload holds it beyond a short wait.
    pub(crate) fn held(&self, rel: &str, rec: &ResumeRecord, hash: Option<&mut HashBudget<'_>>) -> Option<(u64, Option<String>)> {
        let mut comps = safe_components(rel).ok()?;
        if comps.len() > STALE_SCAN_MAX_DEPTH {
            return None;
        }
        comps.pop();
        let mut fd = self.open_root().ok()?;
        for d in &comps {
            fd = fsutil::open_dir_at(fd.as_fd(), d).ok()?;
        }
        let (data, record) = kept_names(&rec.stem()).ok()?;
        let file = fsutil::open_existing_nofollow_at(fd.as_fd(), &data).ok()?;
        if !lock_within(&file, KEPT_LOCK_WAIT) || !still_named(fd.as_fd(), &data, &file) {
            return None;
        }
        let st = fsutil::fstat(&file).ok()?;
        let len = st.st_size as u64;
        if !fsutil::is_regular(&st) || st.st_nlink != 1 || len == 0 || len >= rec.size {
            return None;
        }
        let stored = read_record(fd.as_fd(), &record)?;
        if stored.record != *rec {
            return None;
        }
        let sha = match (hash, stored.held) {
            (None, _) => None,
            (Some(_), Some(h)) if h.length == len => Some(h.sha256),
            (Some(budget), _) => {
                if !budget.take(len) {
                    return None;
                }
                Some(crate::resume::prefix_sha256_until(&file, len, budget.stop).ok()?)
            }
        };
        Some((len, sha))
    }

    /// Removes the kept partial file of `rel` from the sender of `rec` (a cancelled session), waiting a moment for an
    /// upload that still writes it. Returns whether one was removed.
    pub(crate) fn discard_kept(&self, rel: &str, rec: &ResumeRecord) -> bool {
        let Ok(mut comps) = safe_components(rel) else { return false };
        comps.pop();
        let Ok(mut fd) = self.open_root() else { return false };
        for d in &comps {
            match fsutil::open_dir_at(fd.as_fd(), d) {
                Ok(sub) => fd = sub,
                Err(_) => return false,
            }
        }
        let Ok((data, _)) = kept_names(&rec.stem()) else { return false };
        let Ok(file) = fsutil::open_existing_nofollow_at(fd.as_fd(), &data) else { return false };
        if !lock_within(&file, KEPT_LOCK_WAIT) {
            return false;
        }
        drop(file);
        remove_kept(fd.as_fd(), &data)
    }

    /// Starts (or, from `offset`, continues) receiving the file `rel` from the verified sender of `rec` into a kept
    /// partial file: on a break it stays (see [`PartFile::keep`]). From `offset` > 0, the kept partial must match `rec`
    /// and hold at least `offset` bytes (what it holds beyond is dropped). A path too deep for the cleaner falls back
    /// to [`ReceiveDir::begin_file`] (from the start only).
    pub(crate) fn begin_resumable(&self, rel: &str, rec: &ResumeRecord, offset: u64) -> Result<PartFile> {
        let mut comps = safe_components(rel)?;
        if comps.len() > STALE_SCAN_MAX_DEPTH {
            return if offset == 0 { self.begin_file(rel) } else { Err(Error::invalid("nothing held to resume from")) };
        }
        let name = comps.pop().expect("at least one component");
        let dir_fd = self.open_subdir(&comps).map_err(|e| Error::io(format!("cannot create folder for {rel:?}"), e))?;
        let dir_path = comps.iter().fold(self.root.clone(), |p, c| p.join(c));
        let (data, record) = kept_names(&rec.stem())?;
        let cannot = |e| Error::io(format!("cannot open the partial file of {rel:?}"), e);
        if offset > 0 && !fsutil::exists_at(dir_fd.as_fd(), &data).map_err(cannot)? {
            return Err(Error::invalid(format!("{offset} bytes of {rel:?} are not held")));
        }
        let mut file = fsutil::open_or_create_rw_at(dir_fd.as_fd(), &data).map_err(cannot)?;
        if !lock_within(&file, KEPT_LOCK_WAIT) {
            return Err(Error::new(ErrorKind::Busy, format!("the partial file of {rel:?} is being written")));
        }
        if !still_named(dir_fd.as_fd(), &data, &file) {
            return Err(Error::new(ErrorKind::Io, format!("the partial file of {rel:?} was removed")));
        }
        let stored = read_record(dir_fd.as_fd(), &record);
        let matches = stored.as_ref().is_some_and(|s| s.record == *rec);
        let len = file.metadata().map_err(cannot)?.len();
        if offset > 0 && (!matches || len < offset) {
            return Err(Error::invalid(format!("{offset} bytes of {rel:?} are not held")));
        }
        file.set_len(offset).map_err(cannot)?;
        file.seek(SeekFrom::Start(offset)).map_err(cannot)?;
        // A recorded prefix hash holds only until the file is written again.
        if !matches || stored.is_some_and(|s| s.held.is_some()) {
            let fresh = StoredRecord { record: rec.clone(), held: None };
            fsutil::write_file_at(dir_fd.as_fd(), &record, &fresh.to_json()).map_err(cannot)?;
        }
        Ok(PartFile {
            dir_fd,
            dir_path,
            final_name: name,
            temp_name: data,
            file: Some(file),
            committed: false,
            record: Some((record, rec.clone())),
            keep: false,
        })
    }

    fn open_root(&self) -> io::Result<OwnedFd> {
        fsutil::open_dir(&self.root)
    }

    /// Opens the folder made of `dirs` below the destination, creating what is missing.
    fn open_subdir(&self, dirs: &[SafeName]) -> io::Result<OwnedFd> {
        let mut fd = self.open_root()?;
        for d in dirs {
            fd = fsutil::open_or_create_dir_at(fd.as_fd(), d)?;
        }
        Ok(fd)
    }

    /// Creates a (possibly empty) folder given as a peer-supplied relative path.
    pub fn create_dir(&self, rel: &str) -> Result<PathBuf> {
        let comps = safe_components(rel)?;
        self.open_subdir(&comps).map_err(|e| Error::io(format!("cannot create folder {rel:?}"), e))?;
        Ok(comps.iter().fold(self.root.clone(), |p, c| p.join(c)))
    }

    /// The top-level folders of one transfer (`files`: peer-supplied relative paths whose first
    /// component is a folder when more follow; `dirs`: empty folders) that the destination
    /// already has, each mapped to the first free `name (n)`: a second copy of a folder arrives
    /// beside the first (`proj (2)/`), as file managers do, instead of merging into it. Computed
    /// once per transfer; single files keep their own collision rule (`name (2).ext`). Keys are
    /// the peer's raw first components; every new name is a valid [`SafeName`], and the paths
    /// made with it ([`renamed_path`]) are checked again like any peer path when saved.
    pub fn fresh_folder_names<'a>(&self, files: impl IntoIterator<Item = &'a str>, dirs: &[String]) -> HashMap<String, String> {
        let firsts = files.into_iter().filter_map(|f| f.split_once(['/', '\\']).map(|(top, _)| top));
        let tops: BTreeSet<&str> = firsts.chain(dirs.iter().map(|d| d.split(['/', '\\']).next().unwrap_or(""))).collect();
        let mut out = HashMap::new();
        let mut taken = HashSet::new();
        // Every look at the destination counts: a peer that planted many copies costs a bounded time.
        let budget = std::cell::Cell::new(MAX_FOLDER_PROBES);
        let exists = |name: &str| {
            budget.set(budget.get().saturating_sub(1));
            !matches!(std::fs::symlink_metadata(self.root.join(name)), Err(e) if e.kind() == io::ErrorKind::NotFound)
        };
        for top in tops {
            let clean = sanitize_component(top);
            if !SafeName::is_valid(&clean) || !exists(&clean) {
                continue;
            }
            let free = (2..=MAX_FOLDER_COPIES)
                .map(|n| numbered_folder(&clean, n))
                .take_while(|_| budget.get() > 0)
                .find(|name| SafeName::is_valid(name) && !taken.contains(name) && !exists(name));
            if let Some(name) = free {
                taken.insert(name.clone());
                out.insert(top.to_string(), name);
            }
        }
        out
    }

    /// Starts receiving the file `rel` (a peer-supplied relative path).
    pub fn begin_file(&self, rel: &str) -> Result<PartFile> {
        let mut comps = safe_components(rel)?;
        let name = comps.pop().expect("at least one component");
        let dir_fd = self.open_subdir(&comps).map_err(|e| Error::io(format!("cannot create folder for {rel:?}"), e))?;
        let dir_path = comps.iter().fold(self.root.clone(), |p, c| p.join(c));
        for _ in 0..16 {
            let temp_name = SafeName::new(&temp_file_name())?;
            let file = match fsutil::create_new_file_at(dir_fd.as_fd(), &temp_name) {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io(format!("cannot create a file for {rel:?}"), e)),
            };
            // The lock says "a live receiver writes this" for as long as the file is open. A cleaner in another
            // receiver that got to the fresh file first has removed (or is removing) its name: pick another.
            match fsutil::try_lock_exclusive(&file) {
                Ok(true) => {}
                Ok(false) => continue,
                // A file system without locks: the file is received all the same; no cleaner ever takes it for stale.
                Err(e) => tracing::debug!("cannot lock {}: {e}", dir_path.join(&temp_name).display()),
            }
            if !still_named(dir_fd.as_fd(), &temp_name, &file) {
                continue;
            }
            return Ok(PartFile {
                dir_fd,
                dir_path,
                final_name: name,
                temp_name,
                file: Some(file),
                committed: false,
                record: None,
                keep: false,
            });
        }
        Err(Error::new(ErrorKind::Io, "cannot pick a temporary file name"))
    }

    /// Removes the temporary files (`.ferry-*.part`) that receivers which are gone left below the destination, and
    /// returns how many. A temporary file is removed only when its exclusive lock can be taken at once, so the files a
    /// live receiver (also another process on the same folder) is writing stay. The walk never follows a symlink, and
    /// is bounded: [`STALE_SCAN_MAX_DEPTH`] folders deep, [`STALE_SCAN_MAX_ENTRIES`] entries in all.
    pub(crate) fn clean_stale_parts(&self) -> usize {
        self.clean_stale_parts_within(STALE_SCAN_MAX_DEPTH, STALE_SCAN_MAX_ENTRIES)
    }

    /// Applies the bounds of kept partial files (expiry, count, bytes, free space) now, as when a receiver starts:
    /// called when an upload keeps a file and when a session ends. One at a time per folder: a call while another runs
    /// asks it for one more round and returns at once. Returns how many files were removed.
    pub(crate) fn trim_kept(&self) -> usize {
        let (lock, again) = &*self.trimming;
        again.store(true, std::sync::atomic::Ordering::SeqCst);
        let Ok(_held) = lock.try_lock() else { return 0 };
        let mut removed = 0;
        // Bounded: a round that others keep asking for ends after a few.
        for _ in 0..4 {
            if !again.swap(false, std::sync::atomic::Ordering::SeqCst) {
                break;
            }
            removed += self.clean_stale_parts();
        }
        removed
    }

    /// [`ReceiveDir::clean_stale_parts`] with other bounds: `max_depth` folders deep, `max_entries` entries in all.
    pub(crate) fn clean_stale_parts_within(&self, max_depth: usize, max_entries: usize) -> usize {
        let Ok(root) = self.open_root() else { return 0 };
        let mut walk = Walk { budget: max_entries, max_depth, path: Vec::new(), kept: Vec::new() };
        let mut removed = clean_dir(root.as_fd(), 0, &mut walk);
        // The newest kept partial files stay, within the bounds in count and bytes; the newest one always stays (a
        // disk that a transfer filled keeps what it has, for a resume once space is freed).
        walk.kept.sort_by_key(|k| std::cmp::Reverse(k.modified));
        let held: u64 = walk.kept.iter().map(|k| k.size).fold(0, u64::saturating_add);
        let available = rustix::fs::fstatvfs(&root).map(|v| v.f_bavail.saturating_mul(v.f_frsize)).unwrap_or(u64::MAX);
        let limit = kept_bytes_limit(available, held);
        let mut total = 0u64;
        for (i, k) in walk.kept.iter().enumerate() {
            total = total.saturating_add(k.size);
            if i == 0 || (i < KEPT_MAX_COUNT && total <= limit) {
                continue;
            }
            let Ok(mut fd) = self.open_root() else { break };
            let (dirs, name) = k.path.split_at(k.path.len() - 1);
            if dirs.iter().try_for_each(|d| fsutil::open_dir_at(fd.as_fd(), d).map(|sub| fd = sub)).is_ok() {
                removed += usize::from(remove_kept(fd.as_fd(), &name[0]));
            }
        }
        removed
    }
}

/// A kept partial file seen by the cleaner.
struct KeptPart {
    path: Vec<SafeName>,
    size: u64,
    modified: u64,
}

/// The state of one cleaning walk.
struct Walk {
    budget: usize,
    max_depth: usize,
    /// The folder being looked at, below the destination.
    path: Vec<SafeName>,
    kept: Vec<KeptPart>,
}

/// Whether `name` in `dir` is still the open `file`.
fn still_named(dir: BorrowedFd<'_>, name: &SafeName, file: &File) -> bool {
    match (fsutil::stat_at_nofollow(dir, name), fsutil::fstat(file)) {
        (Ok(a), Ok(b)) => fsutil::same_file(&a, &b),
        _ => false,
    }
}

fn clean_dir(dir: BorrowedFd<'_>, depth: usize, walk: &mut Walk) -> usize {
    let Ok(entries) = rustix::fs::Dir::read_from(dir) else { return 0 };
    let mut removed = 0;
    for entry in entries {
        if walk.budget == 0 {
            break;
        }
        walk.budget -= 1;
        let Ok(entry) = entry else { break };
        // Names Ferry never writes (not UTF-8, `.`, `..`, ...) are passed over.
        let Ok(name) = entry.file_name().to_str() else { continue };
        let Ok(name) = SafeName::new(name) else { continue };
        let mut file_type = entry.file_type();
        if file_type == rustix::fs::FileType::Unknown {
            match fsutil::stat_at_nofollow(dir, &name) {
                Ok(st) => file_type = rustix::fs::FileType::from_raw_mode(st.st_mode as _),
                Err(_) => continue,
            }
        }
        match file_type {
            rustix::fs::FileType::Directory if depth + 1 < walk.max_depth => {
                if let Ok(sub) = fsutil::open_dir_at(dir, &name) {
                    walk.path.push(name);
                    removed += clean_dir(sub.as_fd(), depth + 1, walk);
                    walk.path.pop();
                }
            }
            rustix::fs::FileType::RegularFile if is_temp_file_name(name.as_str()) => {
                removed += usize::from(remove_if_stale(dir, &name));
            }
            rustix::fs::FileType::RegularFile if is_ferry_name(name.as_str(), DATA_SUFFIX) => match examine_kept(dir, &name) {
                Kept::Removed => removed += 1,
                Kept::Live => {}
                Kept::Held { size, modified } => {
                    let mut path = walk.path.clone();
                    path.push(name);
                    walk.kept.push(KeptPart { path, size, modified });
                }
            },
            rustix::fs::FileType::RegularFile if is_ferry_name(name.as_str(), RECORD_SUFFIX) => {
                // A record without its partial file (removed between the two unlinks).
                let data = name.as_str().strip_suffix(RECORD_SUFFIX).map(|stem| format!("{stem}{DATA_SUFFIX}"));
                if let Some(data) = data.and_then(|d| SafeName::new(&d).ok()) {
                    if matches!(fsutil::exists_at(dir, &data), Ok(false)) {
                        let _ = fsutil::unlink_file_at(dir, &name);
                    }
                }
            }
            _ => {}
        }
    }
    removed
}

/// What the cleaner found of a kept partial file.
enum Kept {
    /// An upload writes it.
    Live,
    /// Expired, without a valid record, or not a plain file: removed.
    Removed,
    Held {
        size: u64,
        modified: u64,
    },
}

fn examine_kept(dir: BorrowedFd<'_>, name: &SafeName) -> Kept {
    let Ok(file) = fsutil::open_existing_nofollow_at(dir, name) else { return Kept::Live };
    let Ok(st) = fsutil::fstat(&file) else { return Kept::Live };
    if !fsutil::is_regular(&st) || !matches!(fsutil::try_lock_exclusive(&file), Ok(true)) || !still_named(dir, name, &file) {
        return Kept::Live;
    }
    let record = name.as_str().strip_suffix(DATA_SUFFIX).and_then(|stem| SafeName::new(&format!("{stem}{RECORD_SUFFIX}")).ok());
    let valid = record.as_ref().and_then(|r| read_record(dir, r)).is_some_and(|r| r.record.size > st.st_size as u64);
    let age = file.metadata().and_then(|m| m.modified()).ok().and_then(|m| m.elapsed().ok());
    if valid && age.is_some_and(|a| a < KEPT_MAX_AGE) {
        return Kept::Held { size: st.st_size as u64, modified: st.st_mtime.max(0) as u64 };
    }
    drop(file);
    if remove_kept(dir, name) {
        Kept::Removed
    } else {
        Kept::Live
    }
}

/// Removes the kept partial file `name` (and its record) from `dir` unless an upload holds it.
fn remove_kept(dir: BorrowedFd<'_>, name: &SafeName) -> bool {
    let Ok(file) = fsutil::open_existing_nofollow_at(dir, name) else { return false };
    if !matches!(fsutil::try_lock_exclusive(&file), Ok(true)) || !still_named(dir, name, &file) {
        return false;
    }
    let removed = fsutil::unlink_file_at(dir, name).is_ok();
    if let Some(record) = name.as_str().strip_suffix(DATA_SUFFIX).and_then(|stem| SafeName::new(&format!("{stem}{RECORD_SUFFIX}")).ok()) {
        let _ = fsutil::unlink_file_at(dir, &record);
    }
    removed
}

/// Removes the temporary file `name` from `dir` if it is a regular file no live receiver holds locked.
fn remove_if_stale(dir: BorrowedFd<'_>, name: &SafeName) -> bool {
    let Ok(file) = fsutil::open_existing_nofollow_at(dir, name) else { return false };
    match fsutil::fstat(&file) {
        Ok(st) if fsutil::is_regular(&st) => {}
        _ => return false,
    }
    if !matches!(fsutil::try_lock_exclusive(&file), Ok(true)) {
        return false;
    }
    // Only if the name still is the file this lock is on.
    still_named(dir, name, &file) && fsutil::unlink_file_at(dir, name).is_ok()
}

/// A file being received: a hidden temporary file that becomes visible only on commit.
#[derive(Debug)]
pub struct PartFile {
    dir_fd: OwnedFd,
    dir_path: PathBuf,
    final_name: SafeName,
    temp_name: SafeName,
    /// Open, and so holding the exclusive lock, until the file has its final name (or is removed).
    file: Option<File>,
    committed: bool,
    /// The resume record of a resumable file ([`ReceiveDir::begin_resumable`]): its file's name and what it holds.
    record: Option<(SafeName, ResumeRecord)>,
    /// Kept (with its record) when dropped without commit.
    keep: bool,
}

impl PartFile {
    pub fn file(&mut self) -> &mut File {
        self.file.as_mut().expect("file open until commit")
    }

    /// Keeps a resumable file when it is dropped without commit (an upload that broke); a plain part file is removed
    /// all the same. `prefix`: the length and SHA-256 of the bytes written from the start, when the writer hashed them
    /// all; the file is cut to that length and the hash recorded, so that an offer needs no reading. Returns whether
    /// it will be kept.
    pub(crate) fn keep(&mut self, prefix: Option<(u64, String)>) -> bool {
        self.keep = self.record.is_some();
        if !self.keep {
            return false;
        }
        // What was written counts as held from now on; a later write's time ages it.
        let file = self.file.as_mut().expect("file open until commit");
        let len = file.metadata().map(|m| m.len()).ok();
        let prefix = prefix.filter(|(n, _)| len.is_some_and(|len| len >= *n) && (len == Some(*n) || file.set_len(*n).is_ok()));
        let _ = file.sync_data();
        if let (Some((length, sha256)), Some((name, rec))) = (prefix, &self.record) {
            let stored = StoredRecord { record: rec.clone(), held: Some(HeldPrefix { length, sha256 }) };
            if fsutil::write_file_at(self.dir_fd.as_fd(), name, &stored.to_json()).is_err() {
                // A half-written record would lose the file at the next clean: write it plain again.
                let plain = StoredRecord { record: rec.clone(), held: None };
                let _ = fsutil::write_file_at(self.dir_fd.as_fd(), name, &plain.to_json());
            }
        }
        true
    }

    /// Path of the temporary file (for diagnostics and tests).
    #[cfg(test)]
    pub(crate) fn temp_path(&self) -> PathBuf {
        self.dir_path.join(&self.temp_name)
    }

    /// Applies times, gives the file its final name (numbered on collision) and closes it.
    /// Returns the final path.
    pub fn commit(mut self, modified: Option<std::time::SystemTime>, accessed: Option<std::time::SystemTime>) -> Result<PathBuf> {
        let mut times = std::fs::FileTimes::new();
        if let Some(m) = modified {
            times = times.set_modified(m);
        }
        if let Some(a) = accessed {
            times = times.set_accessed(a);
        }
        if modified.is_some() || accessed.is_some() {
            self.file().set_times(times).map_err(|e| Error::io("cannot set file times", e))?;
        }
        // The file stays open (locked) while it is named, so no cleaner takes it in between.
        let dir = self.dir_fd.as_fd();
        for n in 1..=10_000u32 {
            let candidate =
                SafeName::new(&numbered_name(self.final_name.as_str(), n)).map_err(|e| Error::io("cannot name received file", e))?;
            // A hard link never replaces an existing entry; then drop the temporary name.
            match fsutil::link_at(dir, &self.temp_name, &candidate) {
                Ok(()) => {
                    let _ = fsutil::unlink_file_at(dir, &self.temp_name);
                    if let Some((record, _)) = &self.record {
                        let _ = fsutil::unlink_file_at(dir, record);
                    }
                    self.committed = true;
                    self.file.take();
                    return Ok(self.dir_path.join(candidate));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e)
                    if [rustix::io::Errno::PERM, rustix::io::Errno::OPNOTSUPP, rustix::io::Errno::XDEV]
                        .iter()
                        .any(|c| e.raw_os_error() == Some(c.raw_os_error())) =>
                {
                    // File systems without hard links (FAT, some Android storage): check, then rename.
                    if fsutil::exists_at(dir, &candidate).map_err(|e| Error::io("cannot name received file", e))? {
                        continue;
                    }
                    fsutil::rename_at(dir, &self.temp_name, &candidate).map_err(|e| Error::io("cannot rename received file", e))?;
                    if let Some((record, _)) = &self.record {
                        let _ = fsutil::unlink_file_at(dir, record);
                    }
                    self.committed = true;
                    self.file.take();
                    return Ok(self.dir_path.join(candidate));
                }
                Err(e) => return Err(Error::io("cannot name received file", e)),
            }
        }
        Err(Error::new(ErrorKind::Io, format!("too many files named {:?}", self.final_name.as_str())))
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if !self.committed && !self.keep {
            // Removed while still locked, then closed.
            let _ = fsutil::unlink_file_at(self.dir_fd.as_fd(), &self.temp_name);
            if let Some((record, _)) = &self.record {
                let _ = fsutil::unlink_file_at(self.dir_fd.as_fd(), record);
            }
        }
        self.file.take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_copy_of_a_folder_gets_a_free_name() {
        let tmp = tempfile::tempdir().unwrap();
        let rd = ReceiveDir::new(tmp.path()).unwrap();
        let files = ["proj/a.txt", "proj/sub/b.txt", "single.txt", "other/c.txt"];
        let dirs = vec!["proj/empty".to_string(), "fresh".to_string()];
        assert!(rd.fresh_folder_names(files, &dirs).is_empty(), "nothing to rename in an empty destination");
        std::fs::create_dir(tmp.path().join("proj")).unwrap();
        std::fs::write(tmp.path().join("single.txt"), b"x").unwrap();
        std::fs::write(tmp.path().join("fresh"), b"a file, not a folder").unwrap();
        let m = rd.fresh_folder_names(files, &dirs);
        assert_eq!(m.len(), 2, "{m:?}");
        assert_eq!(m["proj"], "proj (2)");
        assert_eq!(m["fresh"], "fresh (2)");
        assert_eq!(renamed_path(&m, "proj/sub/b.txt", false).as_deref(), Some("proj (2)/sub/b.txt"));
        assert_eq!(renamed_path(&m, "proj", true).as_deref(), Some("proj (2)"));
        assert_eq!(renamed_path(&m, "single.txt", false), None, "a single file keeps its name (and its own rule)");
        assert_eq!(renamed_path(&m, "other/c.txt", false), None);
        std::fs::create_dir(tmp.path().join("proj (2)")).unwrap();
        assert_eq!(rd.fresh_folder_names(["proj/a.txt"], &[])["proj"], "proj (3)");
        assert_eq!(rd.fresh_folder_names(["proj\\a.txt"], &[])["proj"], "proj (3)", "a backslash separates too");
        // Many planted copies cost a bounded number of looks: past the budget, no rename.
        for n in 3..=MAX_FOLDER_COPIES {
            std::fs::create_dir(tmp.path().join(format!("proj ({n})"))).unwrap();
        }
        assert!(!rd.fresh_folder_names(["proj/a.txt"], &[]).contains_key("proj"), "all 1000 names taken");
    }

    #[test]
    fn renamed_folders_are_safe_names() {
        let tmp = tempfile::tempdir().unwrap();
        let rd = ReceiveDir::new(tmp.path()).unwrap();
        let long = "d".repeat(255);
        let odd = "v1.2\u{202e}x";
        for name in [long.as_str(), odd, "v1.2"] {
            std::fs::create_dir(tmp.path().join(sanitize_component(name))).unwrap();
        }
        let files = [format!("{long}/a"), format!("{odd}/b"), "v1.2/c".to_string(), "../x/d".to_string(), "./e".to_string()];
        let m = rd.fresh_folder_names(files.iter().map(String::as_str), &[]);
        assert_eq!(m["v1.2"], "v1.2 (2)", "no extension split for folders");
        assert!(!m.contains_key("..") && !m.contains_key("."), "{m:?}");
        for f in &files[..3] {
            let new = renamed_path(&m, f, false).unwrap();
            assert!(new.split('/').next().unwrap().len() <= 255);
            safe_components(&new).unwrap_or_else(|e| panic!("{new:?}: {e}"));
            assert!(!tmp.path().join(new.split('/').next().unwrap()).exists());
        }
    }
    use crate::protocol::parse_time;
    use sha2::Digest;
    use std::io::Write;

    #[test]
    fn refuses_traversal_and_odd_paths() {
        for bad in ["", "../x", "a/../../x", "/etc/passwd", "\\x", "C:\\x", "c:x", "a//b", "a/", "./a", "a\0b", "..", "a\\..\\b"] {
            assert!(sanitize_relative_path(bad).is_err(), "{bad:?} must be refused");
        }
        assert_eq!(sanitize_relative_path("a/b/c.txt").unwrap(), vec!["a", "b", "c.txt"]);
        assert_eq!(sanitize_relative_path("a\\b.txt").unwrap(), vec!["a", "b.txt"]);
    }

    #[test]
    fn sanitises_components() {
        assert_eq!(sanitize_component("a<b>c:d\"e|f?g*h"), "a_b_c_d_e_f_g_h");
        assert_eq!(sanitize_component("tab\there"), "tab_here");
        assert_eq!(sanitize_component("CON"), "_CON");
        assert_eq!(sanitize_component("com1.txt"), "_com1.txt");
        assert_eq!(sanitize_component("console.txt"), "console.txt");
        assert_eq!(sanitize_component("name. . "), "name");
        assert_eq!(sanitize_component("..."), "untitled");
        let long = format!("{}.jpg", "é".repeat(200));
        let s = sanitize_component(&long);
        assert!(s.len() <= 255 && s.ends_with(".jpg"), "{}", s.len());
    }

    #[test]
    fn numbered_names() {
        assert_eq!(numbered_name("photo.jpg", 2), "photo (2).jpg");
        assert_eq!(numbered_name(".bashrc", 3), ".bashrc (3)");
        assert_eq!(numbered_name("README", 2), "README (2)");
        assert_eq!(numbered_name("a.tar.gz", 2), "a.tar (2).gz");
    }

    #[test]
    fn commit_numbers_collisions_and_drop_cleans_up() {
        let tmp = tempfile::tempdir().unwrap();
        let rd = ReceiveDir::new(tmp.path()).unwrap();
        for expected in ["x.txt", "x (2).txt", "x (3).txt"] {
            let mut p = rd.begin_file("sub/x.txt").unwrap();
            p.file().write_all(b"hi").unwrap();
            let path = p.commit(None, None).unwrap();
            assert_eq!(path, rd.root().join("sub").join(expected));
        }
        let mut p = rd.begin_file("sub/y.txt").unwrap();
        p.file().write_all(b"partial").unwrap();
        let temp = p.temp_path();
        assert!(temp.exists());
        drop(p);
        assert!(!temp.exists());
        let names: Vec<_> = std::fs::read_dir(rd.root().join("sub")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names.len(), 3);
    }

    #[test]
    fn never_follows_a_symlink_inside_the_destination() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let rd = ReceiveDir::new(tmp.path()).unwrap();
        std::os::unix::fs::symlink(outside.path(), rd.root().join("link")).unwrap();
        assert!(rd.begin_file("link/evil.txt").is_err());
        assert!(rd.create_dir("link/sub").is_err());
        // A symlink as the final name is never overwritten: the file gets a numbered name.
        std::os::unix::fs::symlink(outside.path().join("target.txt"), rd.root().join("t.txt")).unwrap();
        let mut p = rd.begin_file("t.txt").unwrap();
        p.file().write_all(b"x").unwrap();
        assert_eq!(p.commit(None, None).unwrap(), rd.root().join("t (2).txt"));
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    }

    /// A destination a few folders deep inside a temporary tree, so a climb out of it lands somewhere a scan sees.
    struct Tree {
        tmp: tempfile::TempDir,
        base: PathBuf,
        dest: PathBuf,
        outside: PathBuf,
    }

    fn tree() -> Tree {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().canonicalize().unwrap();
        let dest = base.join("a/b/c/dest");
        let outside = base.join("outside");
        std::fs::create_dir_all(&dest).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("target.txt"), b"original").unwrap();
        Tree { tmp, base, dest, outside }
    }

    impl Tree {
        /// Every entry of the whole temporary tree (symlinks not followed) is the destination's chain of folders, the
        /// untouched `outside` folder, or below the destination.
        fn assert_nothing_outside(&self) {
            let chain: Vec<PathBuf> =
                ["a", "a/b", "a/b/c", "a/b/c/dest", "outside", "outside/target.txt"].iter().map(|p| self.base.join(p)).collect();
            let mut stack = vec![self.base.clone()];
            let mut seen = 0usize;
            while let Some(dir) = stack.pop() {
                for e in std::fs::read_dir(&dir).unwrap() {
                    let path = e.unwrap().path();
                    seen += 1;
                    assert!(path.starts_with(&self.dest) || chain.contains(&path), "written outside the destination: {}", path.display());
                    if std::fs::symlink_metadata(&path).unwrap().is_dir() {
                        stack.push(path);
                    }
                }
            }
            assert!(seen >= chain.len());
            assert_eq!(std::fs::read(self.outside.join("target.txt")).unwrap(), b"original");
            let _ = &self.tmp;
        }
    }

    /// Every component of `p` below `root` is a valid saved name.
    fn assert_valid_below(root: &Path, p: &Path) {
        let rel = p.strip_prefix(root).unwrap_or_else(|_| panic!("{} is not below {}", p.display(), root.display()));
        for c in rel.components() {
            let std::path::Component::Normal(c) = c else { panic!("odd component in {}", p.display()) };
            assert_valid_name(c.to_str().unwrap());
        }
    }

    fn assert_valid_name(c: &str) {
        assert!(SafeName::is_valid(c), "invalid component {c:?}");
        assert!(c.len() <= 255, "{} bytes: {c:?}", c.len());
        assert!(!c.chars().any(|ch| ch.is_control() || is_format(ch)), "control or format character in {c:?}");
        assert!(!c.ends_with(['.', ' ']), "trailing dot or space in {c:?}");
    }

    fn save(rd: &ReceiveDir, name: &str) -> Result<PathBuf> {
        let mut p = rd.begin_file(name)?;
        p.file().write_all(b"data").unwrap();
        p.commit(None, None)
    }

    /// Components that shortening used to turn into `..` or `.`, or into nothing, some with multibyte characters at the
    /// 255-byte boundary.
    fn shortening_attacks() -> Vec<String> {
        let x = |n| "x".repeat(n);
        vec![
            format!("...{}", x(300)),
            format!(".{}", x(300)),
            format!("..{}", x(300)),
            format!("...{}", "é".repeat(150)),
            format!("..{}", "€".repeat(100)),
            format!("...{}", "😀".repeat(70)),
            format!("..{}é", x(252)),
            format!("..{}😀", x(251)),
            format!("{}.{}", ".".repeat(254), x(20)),
            format!("{}.jpg", ".".repeat(300)),
            ".".repeat(300),
            format!("{}{}", ".".repeat(250), "é".repeat(10)),
            format!(". . .{}", x(300)),
            format!("..\u{202e}{}", x(300)),
            "..\u{202e}".to_string(),
            ".\u{200b}.".to_string(),
            "\u{feff}..\u{2066}".to_string(),
            format!("{}.{}", "é".repeat(127), x(300)),
        ]
    }

    #[test]
    fn traversal_through_shortening_never_leaves_the_destination() {
        let t = tree();
        let rd = ReceiveDir::new(&t.dest).unwrap();
        for attack in shortening_attacks() {
            let clean = sanitize_component(&attack);
            assert_valid_name(&clean);
            // Several such components in a row used to climb out; then ordinary ones walk down elsewhere.
            for depth in [1, 2, 4, 6] {
                let mut path = vec![attack.as_str(); depth].join("/");
                path.push_str("/evil.txt");
                if let Ok(saved) = save(&rd, &path) {
                    assert_valid_below(rd.root(), &saved);
                }
                let dir = format!("{}/outside/made", vec![attack.as_str(); depth].join("/"));
                if let Ok(made) = rd.create_dir(&dir) {
                    assert_valid_below(rd.root(), &made);
                    assert!(made.is_dir());
                }
            }
            if let Ok(saved) = save(&rd, &attack) {
                assert_valid_below(rd.root(), &saved);
            }
        }
        assert!(!t.base.join("a/b/c/evil.txt").exists() && !t.base.join("a/evil.txt").exists());
        t.assert_nothing_outside();
    }

    #[test]
    fn shortening_keeps_a_real_name() {
        assert_eq!(sanitize_component(&format!("...{}", "x".repeat(300))), format!("...{}", "x".repeat(252)));
        assert_eq!(sanitize_component(&format!(".{}", "x".repeat(300))), format!(".{}", "x".repeat(254)));
        assert_eq!(sanitize_component(&".".repeat(300)), "untitled");
        // Only dots before the last one: no extension to keep, and the cut leaves only dots.
        assert_eq!(sanitize_component(&format!("{}.jpg", ".".repeat(300))), "untitled");
        // A short extension is kept, the stem cut on a character boundary.
        let s = sanitize_component(&format!("{}.jpg", "é".repeat(200)));
        assert_eq!(s, format!("{}.jpg", "é".repeat(125)));
        // Trimming after shortening can make a reserved name: it is caught after the last step too.
        assert_eq!(sanitize_component(&format!("CON{}x", " ".repeat(300))), "_CON");
        // A received file never looks like one of Ferry's temporary files.
        assert_eq!(sanitize_component(".ferry-0123456789abcdef.part"), "_.ferry-0123456789abcdef.part");
        // A separator given to the component sanitiser directly does not survive.
        assert_eq!(sanitize_component("a/../b\\c"), "a_.._b_c");
    }

    #[test]
    fn format_characters_are_dropped_from_saved_names() {
        assert_eq!(sanitize_component("invoice\u{202e}fdp.exe"), "invoicefdp.exe");
        assert_eq!(sanitize_component("a\u{200b}b\u{200c}c\u{200d}d\u{200e}e\u{200f}f"), "abcdef");
        assert_eq!(sanitize_component("\u{2066}x\u{2067}y\u{2068}z\u{2069}"), "xyz");
        assert_eq!(sanitize_component("\u{feff}bom.txt\u{00ad}"), "bom.txt");
        assert_eq!(sanitize_component("tag\u{e0001}\u{e0041}s"), "tags");
        assert_eq!(sanitize_component("\u{202a}\u{202b}\u{202c}\u{202d}\u{202e}\u{2060}\u{2061}\u{2062}\u{2063}\u{2064}"), "untitled");
        assert_eq!(sanitize_component("line\u{2028}sep\u{0085}x"), "line_sep_x");
        assert!(is_format('\u{202e}') && is_format('\u{feff}') && is_format('\u{600}') && !is_format('a'));
        assert_eq!(sanitize_relative_path("dir\u{202e}/\u{200b}/f\u{2066}.txt").unwrap(), vec!["dir", "untitled", "f.txt"]);
        let t = tree();
        let rd = ReceiveDir::new(&t.dest).unwrap();
        assert_eq!(save(&rd, "invoice\u{202e}fdp.exe").unwrap(), rd.root().join("invoicefdp.exe"));
        assert_eq!(save(&rd, "\u{202e}\u{202e}").unwrap(), rd.root().join("untitled"));
        assert_eq!(rd.create_dir("d\u{200b}/\u{feff}..").unwrap(), rd.root().join("d/untitled"));
        t.assert_nothing_outside();
    }

    #[test]
    fn numbered_names_stay_within_255_bytes() {
        let cases = [
            format!("{}.{}", "s".repeat(54), "e".repeat(200)),
            format!("a.{}", "e".repeat(253)),
            format!("é.{}", "e".repeat(252)),
            format!("😀.{}", "€".repeat(83)),
            format!("{}.{}", "é".repeat(27), "é".repeat(100)),
            "x".repeat(255),
            format!("{}.txt", "é".repeat(125)),
            format!(".{}", "x".repeat(254)),
            format!("..{}.{}", "x".repeat(10), "y".repeat(242)),
        ];
        for name in &cases {
            assert!(name.len() <= 255, "{}", name.len());
            assert_eq!(&numbered_name(name, 1), name);
            for n in [2, 3, 10, 99_999, u32::MAX] {
                let numbered = numbered_name(name, n);
                assert_valid_name(&numbered);
                assert!(numbered.contains(&format!(" ({n})")), "{numbered:?}");
            }
        }
        assert_eq!(
            numbered_name(&format!("{}.{}", "s".repeat(54), "e".repeat(200)), 2),
            format!("{} (2).{}", "s".repeat(50), "e".repeat(200))
        );
        assert_eq!(numbered_name(&format!("a.{}", "e".repeat(253)), 2), format!("a (2).{}", "e".repeat(249)));
        // Anything handed in comes out valid.
        for odd in ["", ".", "..", "a/b", "...", "\u{202e}"] {
            assert_valid_name(&numbered_name(odd, 1));
            assert_valid_name(&numbered_name(odd, 7));
        }
    }

    #[test]
    fn same_long_name_three_times_gets_three_files() {
        let t = tree();
        let rd = ReceiveDir::new(&t.dest).unwrap();
        for name in [format!("{}.{}", "s".repeat(54), "e".repeat(200)), format!("a.{}", "e".repeat(253)), format!("😀.{}", "€".repeat(83))]
        {
            let mut saved = Vec::new();
            for _ in 0..3 {
                let p = save(&rd, &name).unwrap_or_else(|e| panic!("{} bytes: {e}", name.len()));
                assert_valid_below(rd.root(), &p);
                saved.push(p);
            }
            saved.dedup();
            assert_eq!(saved.len(), 3);
            assert!(saved.iter().all(|p| std::fs::read(p).unwrap() == b"data"));
        }
        t.assert_nothing_outside();
    }

    #[test]
    fn planted_symlinks_and_hard_links_are_never_followed_or_overwritten() {
        let t = tree();
        let rd = ReceiveDir::new(&t.dest).unwrap();
        let target = t.outside.join("target.txt");
        // A hard link to a file outside, at the final name: a new name is picked, the outside file keeps its bytes.
        std::fs::hard_link(&target, rd.root().join("h.txt")).unwrap();
        assert_eq!(save(&rd, "h.txt").unwrap(), rd.root().join("h (2).txt"));
        // A dangling symlink at the final name counts as taken.
        std::os::unix::fs::symlink(t.outside.join("nothing"), rd.root().join("d.txt")).unwrap();
        assert_eq!(save(&rd, "d.txt").unwrap(), rd.root().join("d (2).txt"));
        assert!(!t.outside.join("nothing").exists());
        // A symlink where the shortened form of a long component lands is not followed.
        let long = format!("...{}", "x".repeat(300));
        std::os::unix::fs::symlink(&t.outside, rd.root().join(sanitize_component(&long))).unwrap();
        assert!(rd.begin_file(&format!("{long}/evil.txt")).is_err());
        assert!(rd.create_dir(&format!("{long}/evil")).is_err());
        // A symlink to a folder outside, in the middle and at the end of a folder path.
        std::os::unix::fs::symlink(&t.outside, rd.root().join("up")).unwrap();
        assert!(rd.begin_file("up/evil.txt").is_err());
        assert!(rd.create_dir("up").is_err());
        assert!(rd.create_dir("up/x").is_err());
        // A symlink at the final name of a file: a new name.
        std::os::unix::fs::symlink(&target, rd.root().join("t.txt")).unwrap();
        assert_eq!(save(&rd, "t.txt").unwrap(), rd.root().join("t (2).txt"));
        t.assert_nothing_outside();
        assert_eq!(std::fs::read_dir(&t.outside).unwrap().count(), 1);
    }

    /// Hostile names built from pieces, deterministic.
    fn hostile_names(count: usize, seed: u64) -> Vec<String> {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let pieces: &[&str] = &[
            "..",
            ".",
            "/",
            "\\",
            "...",
            "a",
            "x",
            " ",
            ":",
            "*",
            "é",
            "€",
            "😀",
            "\u{202e}",
            "\u{200b}",
            "\u{feff}",
            "\u{2066}",
            "\u{e0001}",
            "\u{00ad}",
            "\n",
            "\u{7f}",
            "CON",
            "com1",
            ".ferry-",
            ".part",
            "0123456789abcdef",
            ".txt",
            ". ",
            "\u{301}",
        ];
        (0..count)
            .map(|_| {
                let mut s = String::new();
                for _ in 0..rng.random_range(1..10) {
                    match rng.random_range(0..10) {
                        0 => s.push_str(&".".repeat(rng.random_range(1..300))),
                        1 => s.push_str(&"x".repeat(rng.random_range(1..300))),
                        2 => s.push_str(&"é".repeat(rng.random_range(1..150))),
                        3 => s.push_str(&"😀".repeat(rng.random_range(1..80))),
                        _ => s.push_str(pieces[rng.random_range(0..pieces.len())]),
                    }
                }
                s
            })
            .collect()
    }

    #[test]
    fn randomized_hostile_names_stay_valid_and_inside() {
        let t = tree();
        let rd = ReceiveDir::new(&t.dest).unwrap();
        let names = hostile_names(3000, 0x5eed_f0e5);
        let (mut saved, mut refused) = (0, 0);
        for (i, name) in names.iter().enumerate() {
            let clean = sanitize_component(name);
            assert_valid_name(&clean);
            assert_eq!(sanitize_component(&clean), clean, "sanitising twice changes {name:?}");
            assert_eq!(numbered_name(&clean, 1), clean);
            assert_valid_name(&numbered_name(name, 1 + (i as u32 % 5) * 1000));
            match sanitize_relative_path(name) {
                Ok(comps) => comps.iter().for_each(|c| assert_valid_name(c)),
                Err(_) => refused += 1,
            }
            // The file system: every third name as a file, every fifth as a folder.
            if i % 3 == 0 {
                if let Ok(p) = save(&rd, name) {
                    assert_valid_below(rd.root(), &p);
                    saved += 1;
                }
            }
            if i % 5 == 0 {
                if let Ok(p) = rd.create_dir(name) {
                    assert_valid_below(rd.root(), &p);
                }
            }
        }
        assert!(saved > 300 && refused > 100, "saved {saved}, refused {refused}");
        t.assert_nothing_outside();
    }

    fn plant_part(dir: &Path, hex: &str) -> PathBuf {
        let p = dir.join(format!("{TEMP_PREFIX}{hex}{TEMP_SUFFIX}"));
        std::fs::write(&p, b"half").unwrap();
        p
    }

    #[test]
    fn stale_parts_are_removed_at_start_live_ones_stay() {
        let t = tree();
        std::fs::create_dir_all(t.dest.join("sub/deeper")).unwrap();
        let stale = [plant_part(&t.dest, "0123456789abcdef"), plant_part(&t.dest.join("sub/deeper"), "00000000000000ff")];
        // Not Ferry's: other names, a folder, a symlink with the name of a part, a part behind a symlinked folder.
        let keep =
            [t.dest.join(".ferry-notes.part"), t.dest.join("x.part"), t.dest.join(format!("{TEMP_PREFIX}1111111111111111{TEMP_SUFFIX}"))];
        std::fs::write(&keep[0], b"k").unwrap();
        std::fs::write(&keep[1], b"k").unwrap();
        std::fs::create_dir(&keep[2]).unwrap();
        let outside_part = plant_part(&t.outside, "2222222222222222");
        std::os::unix::fs::symlink(&outside_part, t.dest.join(format!("{TEMP_PREFIX}3333333333333333{TEMP_SUFFIX}"))).unwrap();
        std::os::unix::fs::symlink(&t.outside, t.dest.join("link")).unwrap();

        // A file being written by a live receiver in this process (its own open file, its own lock).
        let other = ReceiveDir::new(&t.dest).unwrap();
        assert!(stale.iter().all(|p| !p.exists()), "stale parts are removed when a receiver starts");
        let mut live = other.begin_file("sub/live.bin").unwrap();
        live.file().write_all(b"live").unwrap();
        let rd = ReceiveDir::new(&t.dest).unwrap();
        assert_eq!(rd.clean_stale_parts(), 0);
        assert!(live.temp_path().exists());
        assert_eq!(live.commit(None, None).unwrap(), t.dest.join("sub/live.bin"));
        assert!(keep.iter().all(|p| p.symlink_metadata().is_ok()));
        assert!(outside_part.exists(), "nothing behind a symlink is touched");
        std::fs::remove_file(&outside_part).unwrap();
        std::fs::remove_file(t.dest.join("link")).unwrap();
        std::fs::remove_file(t.dest.join(format!("{TEMP_PREFIX}3333333333333333{TEMP_SUFFIX}"))).unwrap();
        t.assert_nothing_outside();
    }

    /// Whether some other open file holds the lock on `path` (polled, bounded).
    fn wait_locked_elsewhere(path: &Path) -> bool {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            if let Ok(f) = File::open(path) {
                if !crate::fsutil::try_lock_exclusive(&f).unwrap() {
                    return true;
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        false
    }

    #[test]
    fn a_part_locked_by_another_process_stays_until_it_dies() {
        let t = tree();
        let rd = ReceiveDir::new(&t.dest).unwrap();
        let part = plant_part(&t.dest, "abcdefabcdef0123");
        // flock(1) holds the lock as a live receiver in another process would; skipped where it is missing.
        // The shell becomes `sleep` holding the locked descriptor, so killing that one process frees the lock.
        if std::process::Command::new("flock").arg("--version").output().is_err() {
            eprintln!("flock(1) not found: cross-process part skipped");
            return;
        }
        let mut child =
            std::process::Command::new("sh").args(["-c", "exec 9<\"$0\" && flock -x 9 && exec sleep 60"]).arg(&part).spawn().unwrap();
        let locked = wait_locked_elsewhere(&part);
        let kept = rd.clean_stale_parts();
        let still_there = part.exists();
        // Killed like a receiver by SIGKILL: its lock goes with it.
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(locked, "flock(1) did not take the lock in time");
        assert_eq!(kept, 0);
        assert!(still_there, "a part a live process holds locked is kept");
        assert_eq!(rd.clean_stale_parts(), 1);
        assert!(!part.exists());
        t.assert_nothing_outside();
    }

    #[test]
    fn cleanup_is_bounded_in_depth() {
        let t = tree();
        let mut deep = t.dest.clone();
        for i in 0..STALE_SCAN_MAX_DEPTH + 2 {
            deep.push(format!("d{i}"));
        }
        std::fs::create_dir_all(&deep).unwrap();
        let too_deep = plant_part(&deep, "4444444444444444");
        let shallow = plant_part(&t.dest.join("d0/d1"), "5555555555555555");
        let rd = ReceiveDir::new(&t.dest).unwrap();
        assert!(!shallow.exists() && too_deep.exists());
        assert_eq!(rd.clean_stale_parts(), 0);
    }

    #[test]
    fn cleanup_is_bounded_in_entries() {
        let t = tree();
        let rd = ReceiveDir::new(&t.dest).unwrap();
        for i in 0..50 {
            std::fs::write(t.dest.join(format!("f{i}")), b"").unwrap();
        }
        let part = plant_part(&t.dest, "6666666666666666");
        // Two entries of 51 seen: the part is (almost surely) not among them.
        let first = rd.clean_stale_parts_within(STALE_SCAN_MAX_DEPTH, 2);
        assert_eq!(usize::from(!part.exists()), first);
        assert_eq!(rd.clean_stale_parts_within(STALE_SCAN_MAX_DEPTH, 1000) + first, 1);
        assert!(!part.exists());
    }

    /// A receiver starting (cleaning) while another one writes never takes a file being written. (It may take a
    /// temporary file in the instant between its creation and its lock; the writer sees that and picks another.)
    #[test]
    fn cleaning_races_writing_without_losing_a_file() {
        let t = tree();
        let rd = ReceiveDir::new(&t.dest).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let cleaner = {
            let (rd, stop) = (rd.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut rounds = 0u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && rounds < 100_000 {
                    rd.clean_stale_parts();
                    rounds += 1;
                }
                rounds
            })
        };
        for i in 0..300 {
            let mut p = rd.begin_file(&format!("race/{i}.bin")).unwrap();
            p.file().write_all(&[i as u8; 64]).unwrap();
            let saved = p.commit(None, None).unwrap();
            assert_eq!(std::fs::read(&saved).unwrap(), [i as u8; 64]);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(cleaner.join().unwrap() > 0);
        assert_eq!(std::fs::read_dir(t.dest.join("race")).unwrap().count(), 300);
    }

    fn record(fp: &str) -> ResumeRecord {
        ResumeRecord { fingerprint: fp.into(), file_name: "sub/big.bin".into(), size: 100, modified: Some("2020".into()), sha256: None }
    }

    /// Writes `n` bytes of a resumable file and lets it break (kept).
    fn keep_partial(rd: &ReceiveDir, rec: &ResumeRecord, n: usize) {
        let mut p = rd.begin_resumable(&rec.file_name, rec, 0).unwrap();
        p.file().write_all(&vec![7u8; n]).unwrap();
        assert!(p.keep(None));
    }

    #[test]
    fn kept_files_take_at_most_half_the_space_they_would_leave_free() {
        let gib = 1024 * 1024 * 1024;
        assert_eq!(kept_bytes_limit(10 * gib, 0), 5 * gib);
        assert_eq!(kept_bytes_limit(2 * gib, 6 * gib), 4 * gib);
        assert_eq!(kept_bytes_limit(u64::MAX, 1), KEPT_MAX_BYTES);
        assert_eq!(kept_bytes_limit(0, 0), 0);
    }

    #[test]
    fn the_bounds_of_kept_files_apply_while_running() {
        let t = tree();
        let rd = ReceiveDir::new(&t.dest).unwrap();
        for i in 0..KEPT_MAX_COUNT + 5 {
            keep_partial(&rd, &ResumeRecord { file_name: format!("k/{i}.bin"), ..record("aa") }, 1);
        }
        assert_eq!(std::fs::read_dir(t.dest.join("k")).unwrap().count(), 2 * (KEPT_MAX_COUNT + 5));
        assert_eq!(rd.trim_kept(), 5);
        assert_eq!(std::fs::read_dir(t.dest.join("k")).unwrap().count(), 2 * KEPT_MAX_COUNT);
        // A second call finds nothing more to do.
        assert_eq!(rd.trim_kept(), 0);
    }

    fn unlimited() -> HashBudget<'static> {
        HashBudget::new(u64::MAX, &|| false)
    }

    #[test]
    fn a_prefix_hashed_at_the_break_is_offered_without_reading_and_only_while_it_holds() {
        let t = tree();
        let rd = ReceiveDir::new(&t.dest).unwrap();
        let rec = record("aa");
        let nothing = || false;
        let none_left = || HashBudget::new(0, &nothing);
        // Without a recorded hash, an offer needs reading: nothing within an empty budget.
        keep_partial(&rd, &rec, 40);
        assert_eq!(rd.held("sub/big.bin", &rec, Some(&mut none_left())), None);
        // With one (the writer cuts the file to what it hashed), the offer costs no reading.
        let want = hex::encode(sha2::Sha256::digest([7u8; 30]));
        let mut p = rd.begin_resumable("sub/big.bin", &rec, 0).unwrap();
        p.file().write_all(&[7u8; 35]).unwrap();
        assert!(p.keep(Some((30, want.clone()))));
        drop(p);
        assert_eq!(rd.held("sub/big.bin", &rec, Some(&mut none_left())), Some((30, Some(want.clone()))));
        // Continued (and broken without a hash): the recorded hash is gone with the first write.
        let mut p = rd.begin_resumable("sub/big.bin", &rec, 20).unwrap();
        p.file().write_all(&[8u8; 10]).unwrap();
        assert!(p.keep(None));
        drop(p);
        assert_eq!(rd.held("sub/big.bin", &rec, Some(&mut none_left())), None);
        let mut both = [7u8; 30];
        both[20..].fill(8);
        assert_eq!(rd.held("sub/big.bin", &rec, Some(&mut unlimited())), Some((30, Some(hex::encode(sha2::Sha256::digest(both))))));
        // A stop ends the hashing: no offer.
        let stop = || true;
        assert_eq!(rd.held("sub/big.bin", &rec, Some(&mut HashBudget::new(u64::MAX, &stop))), None);
    }

    #[test]
    fn skip_existing_hashes_within_its_budget_then_goes_by_time() {
        let t = tree();
        let rd = ReceiveDir::new(&t.dest).unwrap();
        std::fs::write(t.dest.join("a.bin"), [1u8; 100]).unwrap();
        let (sha, other) = (hex::encode(sha2::Sha256::digest([1u8; 100])), "00".repeat(32));
        let nothing = || false;
        let mut budget = HashBudget::new(150, &nothing);
        assert!(rd.has_same_within("a.bin", 100, None, Some(&sha), &mut budget));
        assert_eq!(budget.bytes, 50);
        // The same file named again, with any checksum: not read again.
        assert!(!rd.has_same_within("a.bin", 100, None, Some(&other), &mut budget));
        assert!(rd.has_same_within("a.bin", 100, None, Some(&sha), &mut budget));
        assert_eq!(budget.bytes, 50);
        std::fs::write(t.dest.join("b.bin"), [1u8; 100]).unwrap();
        // Beyond the budget: by size and time when the sender gave one (so the wrong checksum is not read), else not.
        let mtime = std::fs::metadata(t.dest.join("b.bin")).unwrap().modified().unwrap();
        assert!(rd.has_same_within("b.bin", 100, Some(mtime), Some(&other), &mut budget));
        assert!(!rd.has_same_within("b.bin", 100, None, Some(&sha), &mut budget));
        assert_eq!(budget.bytes, 50);
    }

    fn kept_files(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        v.retain(|n| n.ends_with(DATA_SUFFIX) || n.ends_with(RECORD_SUFFIX));
        v.sort();
        v
    }

    #[test]
    fn a_broken_file_is_kept_hidden_and_found_only_by_its_own_sender() {
        let t = tree();
        let rd = ReceiveDir::new(&t.dest).unwrap();
        let rec = record("aa");
        keep_partial(&rd, &rec, 40);
        assert_eq!(kept_files(&t.dest.join("sub")).len(), 2);
        assert!(!t.dest.join("sub/big.bin").exists(), "never visible under its name");
        // A receiver starting again keeps it; only the same record finds it.
        let rd = ReceiveDir::new(&t.dest).unwrap();
        let (held, sha) = rd.held("sub/big.bin", &rec, Some(&mut unlimited())).unwrap();
        assert_eq!((held, sha.unwrap()), (40, hex::encode(sha2::Sha256::digest([7u8; 40]))));
        for other in [record("bb"), ResumeRecord { size: 101, ..rec.clone() }, ResumeRecord { modified: None, ..rec.clone() }] {
            assert!(rd.held("sub/big.bin", &other, None).is_none());
            assert!(rd.begin_resumable("sub/big.bin", &other, 40).is_err(), "nobody else continues it");
        }
        // Beyond what is held: refused; from the offset: continued and committed, the record goes.
        assert!(rd.begin_resumable("sub/big.bin", &rec, 41).is_err());
        let mut p = rd.begin_resumable("sub/big.bin", &rec, 30).unwrap();
        p.file().write_all(&[9u8; 70]).unwrap();
        let saved = p.commit(None, None).unwrap();
        let mut want = vec![7u8; 30];
        want.extend([9u8; 70]);
        assert_eq!(std::fs::read(saved).unwrap(), want);
        assert!(kept_files(&t.dest.join("sub")).is_empty());
        // Dropped without keep (a cancel): removed with its record.
        drop(rd.begin_resumable("sub/big.bin", &rec, 0).unwrap());
        assert!(kept_files(&t.dest.join("sub")).is_empty());
        // A peer can never name a file like a partial file or its record.
        for name in [format!("{TEMP_PREFIX}0123456789abcdef{DATA_SUFFIX}"), format!("{TEMP_PREFIX}0123456789abcdef{RECORD_SUFFIX}")] {
            assert!(sanitize_component(&name).starts_with('_'));
        }
        t.assert_nothing_outside();
    }

    #[test]
    fn expired_or_unrecorded_partials_are_removed_at_start() {
        let t = tree();
        let rd = ReceiveDir::new(&t.dest).unwrap();
        keep_partial(&rd, &record("old"), 10);
        keep_partial(&rd, &record("norecord"), 10);
        keep_partial(&rd, &record("fresh"), 10);
        let sub = t.dest.join("sub");
        let name = |fp: &str, suffix: &str| sub.join(format!("{TEMP_PREFIX}{}{suffix}", record(fp).stem()));
        let old = std::time::SystemTime::now() - KEPT_MAX_AGE - std::time::Duration::from_secs(60);
        File::options().write(true).open(name("old", DATA_SUFFIX)).unwrap().set_modified(old).unwrap();
        std::fs::remove_file(name("norecord", RECORD_SUFFIX)).unwrap();
        // A record whose partial file is gone.
        std::fs::write(sub.join(format!("{TEMP_PREFIX}00000000000000aa{RECORD_SUFFIX}")), record("x").to_json()).unwrap();
        assert_eq!(kept_files(&sub).len(), 6);
        let rd = ReceiveDir::new(&t.dest).unwrap();
        assert_eq!(kept_files(&sub), {
            let mut v = vec![
                format!("{TEMP_PREFIX}{}{DATA_SUFFIX}", record("fresh").stem()),
                format!("{TEMP_PREFIX}{}{RECORD_SUFFIX}", record("fresh").stem()),
            ];
            v.sort();
            v
        });
        // One being written (locked) is never taken.
        let live = rd.begin_resumable("sub/big.bin", &record("live"), 0).unwrap();
        assert_eq!(rd.clean_stale_parts(), 0);
        assert_eq!(kept_files(&sub).len(), 4);
        drop(live);
    }

    #[test]
    fn times_are_applied() {
        let tmp = tempfile::tempdir().unwrap();
        let rd = ReceiveDir::new(tmp.path()).unwrap();
        let m = parse_time("2020-01-02T03:04:05.678+02:00").unwrap();
        let p = rd.begin_file("t.bin").unwrap();
        let path = p.commit(Some(m), None).unwrap();
        assert_eq!(std::fs::metadata(path).unwrap().modified().unwrap(), m);
        assert!(parse_time("yesterday").is_none());
    }
}
