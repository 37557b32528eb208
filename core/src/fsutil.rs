//! Small file-system helpers: atomic private files for the config stores, and the checked `*at` layer received
//! files go through (see [`SafeName`]).

use crate::error::{Error, Result};
use std::fs;
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

/// Creates `dir` (and parents) readable by the owner only.
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))
}

/// Writes `data` to `path` atomically (a temporary file with a random name in the same folder, synced, then renamed over
/// `path`), mode 0600. Concurrent writers (threads or processes) each get their own temporary file; the last rename wins.
pub fn write_private_atomic(path: &Path, data: &[u8]) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = path.parent().ok_or_else(|| Error::invalid("path has no parent"))?;
    ensure_private_dir(dir)?;
    let prefix = format!(".{}.", path.file_name().and_then(|n| n.to_str()).unwrap_or("file"));
    let res = (|| -> std::io::Result<()> {
        let mut tmp =
            tempfile::Builder::new().prefix(&prefix).suffix(".tmp").permissions(fs::Permissions::from_mode(0o600)).tempfile_in(dir)?;
        tmp.write_all(data)?;
        tmp.as_file().sync_all()?;
        // On failure the temporary file is removed when dropped.
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    })();
    res.map_err(|e| Error::io(format!("cannot write {}", path.display()), e))
}

// ---------------------------------------------------------------------------------------------------------------------
// The `*at` layer received files go through.
//
// Every call below takes a [`SafeName`]: one path component that was checked when it was made and is checked again on
// every call, so `.`, `..`, an empty name or a name with `/` never reaches the kernel, whatever the sanitiser above did.
// Nothing here follows a symlink: folders are opened with `O_NOFOLLOW | O_DIRECTORY`, files are created with
// `O_CREAT | O_EXCL | O_NOFOLLOW`, `linkat` is called without `AT_SYMLINK_FOLLOW` and `fstatat` with
// `AT_SYMLINK_NOFOLLOW`. There is no `unsafe` here: the calls go through `rustix`.

use rustix::fs::{AtFlags, FlockOperation, Mode, OFlags};
use rustix::io::Errno;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// Longest single file name (one path component) Ferry writes, in bytes.
pub const MAX_NAME_BYTES: usize = 255;

/// One file name (a single path component) that is safe to hand to an `*at` call below the destination: not empty, not
/// `.`, `..` or any other name made only of dots, no `/`, `\` or NUL, at most 255 bytes.
///
/// The only way to make one is [`SafeName::new`], which checks all of this.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SafeName(String);

/// Why `name` is not a safe single file name, if it is not.
fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("empty name")
    } else if name.bytes().all(|b| b == b'.') {
        Some("name made only of dots (path traversal)")
    } else if name.contains(['/', '\\']) {
        Some("path separator in a name (path traversal)")
    } else if name.contains('\0') {
        Some("NUL character")
    } else if name.len() > MAX_NAME_BYTES {
        Some("name longer than 255 bytes")
    } else {
        None
    }
}

impl SafeName {
    /// Checks `name` and wraps it; refuses empty, dot-only, separator- or NUL-containing and over-long names.
    pub fn new(name: &str) -> io::Result<SafeName> {
        match name_problem(name) {
            None => Ok(SafeName(name.to_string())),
            Some(why) => Err(io::Error::new(io::ErrorKind::InvalidInput, format!("refused file name {name:?}: {why}"))),
        }
    }

    /// Whether [`SafeName::new`] would accept `name`.
    pub fn is_valid(name: &str) -> bool {
        name_problem(name).is_none()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name, checked once more: every `*at` call goes through this, so the layer refuses a bad name on its own.
    fn checked(&self) -> io::Result<&str> {
        match name_problem(&self.0) {
            None => Ok(&self.0),
            Some(why) => Err(io::Error::new(io::ErrorKind::InvalidInput, format!("refused file name {:?}: {why}", self.0))),
        }
    }
}

impl std::fmt::Display for SafeName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for SafeName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl AsRef<std::path::Path> for SafeName {
    fn as_ref(&self) -> &std::path::Path {
        std::path::Path::new(&self.0)
    }
}

/// Opens an absolute folder (the destination itself) for the `*at` calls below it.
pub(crate) fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    Ok(rustix::fs::open(path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?)
}

/// Opens the sub-folder `name` of `parent`; a symlink (`ELOOP`) or a non-folder (`ENOTDIR`) is an error.
pub(crate) fn open_dir_at(parent: BorrowedFd<'_>, name: &SafeName) -> io::Result<OwnedFd> {
    let name = name.checked()?;
    Ok(rustix::fs::openat(parent, name, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?)
}

/// Creates the folder `name` in `parent` (mode 0755 before umask); an existing entry of any kind is `AlreadyExists`.
pub(crate) fn mkdir_at(parent: BorrowedFd<'_>, name: &SafeName) -> io::Result<()> {
    let name = name.checked()?;
    Ok(rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o755))?)
}

/// Opens (creating if needed) the sub-folder `name` of `parent`, never following a symlink.
pub(crate) fn open_or_create_dir_at(parent: BorrowedFd<'_>, name: &SafeName) -> io::Result<OwnedFd> {
    match open_dir_at(parent, name) {
        Ok(fd) => Ok(fd),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            match mkdir_at(parent, name) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
            open_dir_at(parent, name)
        }
        Err(e) if e.raw_os_error() == Some(Errno::LOOP.raw_os_error()) || e.raw_os_error() == Some(Errno::NOTDIR.raw_os_error()) => {
            Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{:?} exists and is not a folder (or is a symlink)", name.as_str())))
        }
        Err(e) => Err(e),
    }
}

/// Creates the new file `name` in `parent` for writing (mode 0644 before umask); never opens an existing entry.
pub(crate) fn create_new_file_at(parent: BorrowedFd<'_>, name: &SafeName) -> io::Result<File> {
    let name = name.checked()?;
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    Ok(File::from(rustix::fs::openat(parent, name, flags, Mode::from_raw_mode(0o644))?))
}

/// Opens the existing entry `name` in `parent` for reading without following a symlink and without blocking (a FIFO
/// planted under the destination does not hang the caller).
pub(crate) fn open_existing_nofollow_at(parent: BorrowedFd<'_>, name: &SafeName) -> io::Result<File> {
    let name = name.checked()?;
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
    Ok(File::from(rustix::fs::openat(parent, name, flags, Mode::empty())?))
}

/// Opens the regular file `name` in `parent` for reading and writing, creating it when missing (mode 0644 before
/// umask); never follows a symlink and never blocks on a FIFO. Anything but a regular file with one name is refused.
pub(crate) fn open_or_create_rw_at(parent: BorrowedFd<'_>, name: &SafeName) -> io::Result<File> {
    let name = name.checked()?;
    let flags = OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
    let file = File::from(rustix::fs::openat(parent, name, flags, Mode::from_raw_mode(0o644))?);
    let st = fstat(&file)?;
    if !is_regular(&st) || st.st_nlink != 1 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{name:?} is not a plain file")));
    }
    Ok(file)
}

/// Replaces the content of the regular file `name` in `parent` with `data` (created when missing), never following a
/// symlink.
pub(crate) fn write_file_at(parent: BorrowedFd<'_>, name: &SafeName, data: &[u8]) -> io::Result<()> {
    let mut file = open_or_create_rw_at(parent, name)?;
    file.set_len(0)?;
    file.write_all(data)
}

/// Opens the entry at `rel` (path components) below the folder `root` for reading: each folder is opened with `openat`
/// and `O_NOFOLLOW | O_DIRECTORY` from the one before and the last component with `O_NOFOLLOW | O_NONBLOCK`, so no
/// symlink anywhere below `root` is followed. Empty, `.`, `..` and components holding `/` or NUL are refused.
pub(crate) fn open_beneath_nofollow(root: &Path, rel: &[std::ffi::OsString]) -> io::Result<File> {
    use std::os::unix::ffi::OsStrExt;
    let check = |n: &std::ffi::OsString| {
        let b = n.as_bytes();
        if b.is_empty() || b == b"." || b == b".." || b.contains(&b'/') || b.contains(&0) {
            Err(io::Error::new(io::ErrorKind::InvalidInput, format!("refused path component {n:?}")))
        } else {
            Ok(n.clone())
        }
    };
    let (last, dirs) = rel.split_last().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty path"))?;
    let mut dir = open_dir(root)?;
    for d in dirs {
        dir = rustix::fs::openat(&dir, check(d)?, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?;
    }
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
    Ok(File::from(rustix::fs::openat(&dir, check(last)?, flags, Mode::empty())?))
}

/// Gives the entry `old` of `dir` the additional name `new` in the same folder; never replaces an existing `new` and
/// never follows a symlink named `old`.
pub(crate) fn link_at(dir: BorrowedFd<'_>, old: &SafeName, new: &SafeName) -> io::Result<()> {
    let (old, new) = (old.checked()?, new.checked()?);
    Ok(rustix::fs::linkat(dir, old, dir, new, AtFlags::empty())?)
}

/// Renames `old` to `new` in `dir`. This replaces an existing `new`: callers check first (see [`exists_at`]).
pub(crate) fn rename_at(dir: BorrowedFd<'_>, old: &SafeName, new: &SafeName) -> io::Result<()> {
    let (old, new) = (old.checked()?, new.checked()?);
    Ok(rustix::fs::renameat(dir, old, dir, new)?)
}

/// Removes the file (or symlink, never its target) `name` from `dir`.
pub(crate) fn unlink_file_at(dir: BorrowedFd<'_>, name: &SafeName) -> io::Result<()> {
    let name = name.checked()?;
    Ok(rustix::fs::unlinkat(dir, name, AtFlags::empty())?)
}

/// The status of the entry `name` in `dir` itself (a symlink is not followed).
pub(crate) fn stat_at_nofollow(dir: BorrowedFd<'_>, name: &SafeName) -> io::Result<rustix::fs::Stat> {
    let name = name.checked()?;
    Ok(rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?)
}

/// Whether `dir` has an entry `name` of any kind (a dangling symlink counts).
pub(crate) fn exists_at(dir: BorrowedFd<'_>, name: &SafeName) -> io::Result<bool> {
    match stat_at_nofollow(dir, name) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Takes an exclusive `flock` on `file` without waiting: `Ok(false)` when another open file holds it.
pub(crate) fn try_lock_exclusive(file: impl AsFd) -> io::Result<bool> {
    match rustix::fs::flock(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(e) if e == Errno::WOULDBLOCK || e == Errno::AGAIN => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Whether `a` and `b` are the same file (device and inode).
pub(crate) fn same_file(a: &rustix::fs::Stat, b: &rustix::fs::Stat) -> bool {
    a.st_dev == b.st_dev && a.st_ino == b.st_ino
}

/// The status of an open file.
pub(crate) fn fstat(file: impl AsFd) -> io::Result<rustix::fs::Stat> {
    Ok(rustix::fs::fstat(file)?)
}

/// Whether a status is that of a regular file.
pub(crate) fn is_regular(st: &rustix::fs::Stat) -> bool {
    rustix::fs::FileType::from_raw_mode(st.st_mode as _) == rustix::fs::FileType::RegularFile
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_names_refuse_traversal_and_odd_names() {
        let long = "x".repeat(256);
        for bad in ["", ".", "..", "...", "a/b", "/", "../x", "a\\b", "\\", "a\0b", long.as_str()] {
            assert!(SafeName::new(bad).is_err(), "{bad:?} must be refused");
            assert!(!SafeName::is_valid(bad));
        }
        for good in ["a", ".bashrc", "..a", "a..", "x".repeat(255).as_str(), "é"] {
            assert_eq!(SafeName::new(good).unwrap().as_str(), good);
        }
    }

    /// The `*at` layer checks the name on every call on its own: a bad name that got into a `SafeName` some other way
    /// (here: built directly, as only this module can) never reaches the kernel.
    #[test]
    fn every_at_call_refuses_a_bad_name_by_itself() {
        let tmp = tempfile::tempdir().unwrap();
        let inner = tmp.path().join("inner");
        std::fs::create_dir(&inner).unwrap();
        std::fs::write(inner.join("f"), b"f").unwrap();
        let dir = open_dir(&inner).unwrap();
        let d = dir.as_fd();
        let good = SafeName::new("f").unwrap();
        for raw in ["", ".", "..", "...", "../escaped", "a/b", "/tmp", "a\\b", "a\0b"] {
            let bad = SafeName(raw.to_string());
            let refused = |r: io::Result<()>| matches!(r, Err(e) if e.kind() == io::ErrorKind::InvalidInput);
            assert!(refused(open_dir_at(d, &bad).map(drop)), "openat {raw:?}");
            assert!(refused(mkdir_at(d, &bad)), "mkdirat {raw:?}");
            assert!(refused(open_or_create_dir_at(d, &bad).map(drop)), "open or mkdir {raw:?}");
            assert!(refused(create_new_file_at(d, &bad).map(drop)), "create {raw:?}");
            assert!(refused(open_existing_nofollow_at(d, &bad).map(drop)), "open {raw:?}");
            assert!(refused(link_at(d, &good, &bad)), "linkat to {raw:?}");
            assert!(refused(link_at(d, &bad, &good)), "linkat from {raw:?}");
            assert!(refused(rename_at(d, &good, &bad)), "renameat to {raw:?}");
            assert!(refused(rename_at(d, &bad, &good)), "renameat from {raw:?}");
            assert!(refused(unlink_file_at(d, &bad)), "unlinkat {raw:?}");
            assert!(refused(stat_at_nofollow(d, &bad).map(drop)), "fstatat {raw:?}");
            assert!(refused(exists_at(d, &bad).map(drop)), "exists {raw:?}");
        }
        // Nothing was made or moved anywhere.
        let names = |p: &Path| {
            let mut v: Vec<_> = fs::read_dir(p).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
            v.sort();
            v
        };
        assert_eq!(names(tmp.path()), ["inner"]);
        assert_eq!(names(&inner), ["f"]);
        // Good names work.
        let sub = SafeName::new("sub").unwrap();
        open_or_create_dir_at(d, &sub).unwrap();
        create_new_file_at(d, &SafeName::new("g").unwrap()).unwrap();
        assert!(create_new_file_at(d, &good).is_err(), "an existing file is never opened for writing");
        assert!(exists_at(d, &sub).unwrap());
    }

    /// Many threads write the same file at once: each write is whole (never a mix or a truncation), the file stays
    /// 0600 and no temporary file is left behind. With one temporary name per process, the threads wrote into the same
    /// temporary file and renamed each other's half-written data.
    #[test]
    fn atomic_writes_from_many_threads_stay_whole_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("cfg").join("settings.json");
        let payloads: Vec<Vec<u8>> = (0..8u8).map(|i| vec![b'a' + i; 64 * 1024 + i as usize]).collect();
        std::thread::scope(|s| {
            let all = &payloads;
            for data in all {
                let p = &p;
                s.spawn(move || {
                    for _ in 0..20 {
                        write_private_atomic(p, data).unwrap();
                        let now = fs::read(p).unwrap();
                        assert!(all.contains(&now), "a torn write of {} bytes", now.len());
                    }
                });
            }
        });
        assert_eq!(fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::metadata(p.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
        let left: Vec<_> = fs::read_dir(p.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, ["settings.json"]);
    }

    #[test]
    fn a_lock_is_seen_from_another_open_file() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("l");
        let a = File::create(&p).unwrap();
        let b = File::open(&p).unwrap();
        assert!(try_lock_exclusive(&a).unwrap());
        assert!(!try_lock_exclusive(&b).unwrap());
        drop(a);
        assert!(try_lock_exclusive(&b).unwrap());
    }
}
