//! Saving received files safely.
//!
//! * A file name from a peer is split on `/` (and `\`) into components; `..`, `.`, empty
//!   components, absolute paths, drive letters and NUL are refused, every other component is
//!   sanitised.
//! * Folders are opened one component at a time with `openat(O_NOFOLLOW | O_DIRECTORY)` starting
//!   from the destination's descriptor, so nothing is ever written outside the destination, also
//!   not through a symlink that already sits in it.
//! * Data goes into a hidden temporary file next to the final name, created with `O_EXCL`; it
//!   gets its final name only on [`PartFile::commit`], without replacing anything (`name (2).ext`
//!   on collision). A [`PartFile`] dropped without commit removes its temporary file.

use crate::error::{Error, ErrorKind, Result};
use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

const MAX_COMPONENT_BYTES: usize = 255;
const MAX_DEPTH: usize = 64;
const MAX_PATH_BYTES: usize = 4096;
pub const TEMP_PREFIX: &str = ".ferry-";
pub const TEMP_SUFFIX: &str = ".part";

fn path_error(name: &str, why: &str) -> Error {
    Error::new(ErrorKind::InvalidInput, format!("refused file name {name:?}: {why}"))
}

/// Splits and sanitises a peer-supplied relative path (`fileName`).
pub fn sanitize_relative_path(name: &str) -> Result<Vec<String>> {
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
            _ => out.push(sanitize_component(part)),
        }
    }
    Ok(out)
}

/// Makes one path component safe on every platform Ferry runs on.
pub fn sanitize_component(part: &str) -> String {
    let mut s: String = part
        .chars()
        .map(|c| if c.is_control() || matches!(c, '<' | '>' | ':' | '"' | '|' | '?' | '*') { '_' } else { c })
        .collect();
    // Windows drops trailing dots and spaces.
    while s.ends_with('.') || s.ends_with(' ') {
        s.pop();
    }
    if s.is_empty() {
        return "untitled".to_string();
    }
    let stem_upper = s.split('.').next().unwrap_or("").trim_end().to_ascii_uppercase();
    let reserved = matches!(stem_upper.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || ((stem_upper.starts_with("COM") || stem_upper.starts_with("LPT"))
            && stem_upper.len() == 4
            && stem_upper.as_bytes()[3].is_ascii_digit());
    if reserved {
        s.insert(0, '_');
    }
    truncate_component(&s, MAX_COMPONENT_BYTES)
}

/// Shortens a name to at most `max` bytes, keeping a short extension.
fn truncate_component(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let (stem, ext) = split_ext(s);
    let ext = if ext.len() <= 16 { ext } else { "" };
    let mut cut = max - ext.len();
    while !stem.is_char_boundary(cut.min(stem.len())) {
        cut -= 1;
    }
    format!("{}{}", &stem[..cut.min(stem.len())], ext)
}

/// `("photo", ".jpg")`; a leading dot is part of the stem (`.bashrc` has no extension).
fn split_ext(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], &name[i..]),
        _ => (name, ""),
    }
}

/// The n-th collision alternative: `name (n).ext`.
pub fn numbered_name(name: &str, n: u32) -> String {
    if n <= 1 {
        return name.to_string();
    }
    let (stem, ext) = split_ext(name);
    let suffix = format!(" ({n})");
    let stem = truncate_component(stem, MAX_COMPONENT_BYTES.saturating_sub(suffix.len() + ext.len()));
    format!("{stem}{suffix}{ext}")
}

fn cstr(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in name"))
}

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn open_dir_at(parent: RawFd, name: &str) -> io::Result<OwnedFd> {
    let c = cstr(name)?;
    let fd = cvt(unsafe {
        libc::openat(parent, c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
    })?;
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens (creating if needed) the sub-folder `name` of `parent`, never following a symlink.
fn open_or_create_dir_at(parent: RawFd, name: &str) -> io::Result<OwnedFd> {
    match open_dir_at(parent, name) {
        Ok(fd) => Ok(fd),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let c = cstr(name)?;
            match cvt(unsafe { libc::mkdirat(parent, c.as_ptr(), 0o755) }) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
            open_dir_at(parent, name)
        }
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) || e.raw_os_error() == Some(libc::ENOTDIR) => Err(
            io::Error::new(io::ErrorKind::InvalidInput, format!("{name:?} exists and is not a folder (or is a symlink)")),
        ),
        Err(e) => Err(e),
    }
}

/// The folder received files go to.
#[derive(Debug, Clone)]
pub struct ReceiveDir {
    root: PathBuf,
}

impl ReceiveDir {
    /// Uses `root` (created if missing) as the destination.
    pub fn new(root: &Path) -> Result<ReceiveDir> {
        std::fs::create_dir_all(root).map_err(|e| Error::io(format!("cannot create {}", root.display()), e))?;
        let root = root.canonicalize().map_err(|e| Error::io(format!("cannot open {}", root.display()), e))?;
        Ok(ReceiveDir { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn open_root(&self) -> io::Result<OwnedFd> {
        let c = CString::new(self.root.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in destination"))?;
        let fd = cvt(unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) })?;
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// Opens the folder made of `dirs` below the destination, creating what is missing.
    fn open_subdir(&self, dirs: &[String]) -> io::Result<OwnedFd> {
        let mut fd = self.open_root()?;
        for d in dirs {
            fd = open_or_create_dir_at(fd.as_raw_fd(), d)?;
        }
        Ok(fd)
    }

    /// Creates a (possibly empty) folder given as a peer-supplied relative path.
    pub fn create_dir(&self, rel: &str) -> Result<PathBuf> {
        let comps = sanitize_relative_path(rel)?;
        self.open_subdir(&comps).map_err(|e| Error::io(format!("cannot create folder {rel:?}"), e))?;
        Ok(comps.iter().fold(self.root.clone(), |p, c| p.join(c)))
    }

    /// Starts receiving the file `rel` (a peer-supplied relative path).
    pub fn begin_file(&self, rel: &str) -> Result<PartFile> {
        let mut comps = sanitize_relative_path(rel)?;
        let name = comps.pop().expect("at least one component");
        let dir_fd = self.open_subdir(&comps).map_err(|e| Error::io(format!("cannot create folder for {rel:?}"), e))?;
        let dir_path = comps.iter().fold(self.root.clone(), |p, c| p.join(c));
        for _ in 0..16 {
            let temp_name = format!("{TEMP_PREFIX}{:016x}{TEMP_SUFFIX}", rand::random::<u64>());
            let c = cstr(&temp_name)?;
            let res = cvt(unsafe {
                libc::openat(
                    dir_fd.as_raw_fd(),
                    c.as_ptr(),
                    libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                    0o644 as libc::c_uint,
                )
            });
            match res {
                Ok(fd) => {
                    return Ok(PartFile {
                        dir_fd,
                        dir_path,
                        final_name: name,
                        temp_name,
                        file: Some(unsafe { File::from_raw_fd(fd) }),
                        committed: false,
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io(format!("cannot create a file for {rel:?}"), e)),
            }
        }
        Err(Error::new(ErrorKind::Io, "cannot pick a temporary file name"))
    }
}

/// A file being received: a hidden temporary file that becomes visible only on commit.
#[derive(Debug)]
pub struct PartFile {
    dir_fd: OwnedFd,
    dir_path: PathBuf,
    final_name: String,
    temp_name: String,
    file: Option<File>,
    committed: bool,
}

impl PartFile {
    pub fn file(&mut self) -> &mut File {
        self.file.as_mut().expect("file open until commit")
    }

    /// Path of the temporary file (for diagnostics and tests).
    pub fn temp_path(&self) -> PathBuf {
        self.dir_path.join(&self.temp_name)
    }

    /// Applies times, closes the file and gives it its final name (numbered on collision).
    /// Returns the final path.
    pub fn commit(mut self, modified: Option<std::time::SystemTime>, accessed: Option<std::time::SystemTime>) -> Result<PathBuf> {
        let file = self.file.take().expect("file open until commit");
        let mut times = std::fs::FileTimes::new();
        if let Some(m) = modified {
            times = times.set_modified(m);
        }
        if let Some(a) = accessed {
            times = times.set_accessed(a);
        }
        if modified.is_some() || accessed.is_some() {
            file.set_times(times).map_err(|e| Error::io("cannot set file times", e))?;
        }
        drop(file);
        let temp = cstr(&self.temp_name)?;
        let dir = self.dir_fd.as_raw_fd();
        for n in 1..=10_000u32 {
            let candidate = numbered_name(&self.final_name, n);
            let c = cstr(&candidate)?;
            // A hard link never replaces an existing entry; then drop the temporary name.
            match cvt(unsafe { libc::linkat(dir, temp.as_ptr(), dir, c.as_ptr(), 0) }) {
                Ok(_) => {
                    let _ = unsafe { libc::unlinkat(dir, temp.as_ptr(), 0) };
                    self.committed = true;
                    return Ok(self.dir_path.join(candidate));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EOPNOTSUPP) | Some(libc::EXDEV)) => {
                    // File systems without hard links (FAT, some Android storage): check, then rename.
                    let exists = unsafe {
                        let mut st: libc::stat = std::mem::zeroed();
                        libc::fstatat(dir, c.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) == 0
                    };
                    if exists {
                        continue;
                    }
                    cvt(unsafe { libc::renameat(dir, temp.as_ptr(), dir, c.as_ptr()) })
                        .map_err(|e| Error::io("cannot rename received file", e))?;
                    self.committed = true;
                    return Ok(self.dir_path.join(candidate));
                }
                Err(e) => return Err(Error::io("cannot name received file", e)),
            }
        }
        Err(Error::new(ErrorKind::Io, format!("too many files named {:?}", self.final_name)))
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if !self.committed {
            self.file.take();
            if let Ok(c) = cstr(&self.temp_name) {
                unsafe { libc::unlinkat(self.dir_fd.as_raw_fd(), c.as_ptr(), 0) };
            }
        }
    }
}

/// Parses an RFC 3339 time (fractional seconds and offsets allowed).
pub fn parse_time(s: &str) -> Option<std::time::SystemTime> {
    let t = time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339).ok()?;
    Some(t.into())
}

/// Formats a file time as RFC 3339 (UTC).
pub fn format_time(t: std::time::SystemTime) -> Option<String> {
    time::OffsetDateTime::from(t).format(&time::format_description::well_known::Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
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
