//! Share via link: a device offers files and folders to any browser (or LocalSend app) on the
//! network, which downloads them through `POST v2/prepare-download` and `GET v2/download`.
//!
//! What can be downloaded is fixed when the share opens: the files given and the regular files
//! inside the folders given (walked without following links), each under a random id. A download
//! names an id, never a path, so nothing outside the share can be reached; the file is opened
//! again component by component from the shared folder without following any link, and must
//! still be a regular file and the same file (device, inode) as when the share opened. The names
//! of a folder's files are made safe for every extractor and unique. A folder is also offered as
//! one `.zip` (stored, written on the fly into the response).
//!
//! A browser is known by its address (IPv6: its /64) and its session; the owner approves each
//! new one ([`ShareListener::on_browser`]) unless the share accepts everyone, and a PIN may be required
//! (with the same lock-out as uploads). This module holds what a share is and the pure helpers
//! (the `Range` header, `Content-Disposition`); the server answers the requests.

use crate::error::{Error, ErrorKind, Result};
use crate::util::random_id;
use std::ffi::OsString;
use std::fs::File;
use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// Files one share may offer (folders' files included).
pub const MAX_SHARE_FILES: usize = 20_000;
/// Folder depth walked below a shared folder.
pub const MAX_SHARE_DEPTH: usize = 64;
/// Browsers (addresses; IPv6: /64s) approved at once; more are answered 429 until one is idle for
/// the server's `browser_idle_timeout` or the share reopens.
pub const MAX_BROWSERS: usize = 64;
/// Browsers waiting for the owner's answer at once (one per address or /64); more are answered 429.
pub const MAX_PENDING_BROWSERS: usize = 8;
/// Declined addresses remembered (answered 403 at once for [`DECLINE_MEMORY`]); when full of
/// recent ones the oldest is forgotten.
pub const MAX_DECLINED: usize = 256;
/// How long a declined address is answered 403 without asking the owner again.
pub const DECLINE_MEMORY: Duration = Duration::from_secs(30);

/// One file offered by a share.
#[derive(Debug, Clone)]
pub struct SharedFile {
    /// Random id used in `fileId`.
    pub id: String,
    /// The name shown and offered: the file's name, or `folder/sub/name` for a folder's file.
    pub name: String,
    pub size: u64,
    pub file_type: String,
    pub(crate) source: Source,
}

/// Where a shared file's bytes come from.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// Opened again for every download: `rel` below `root` (the canonical folder given, or the
    /// canonical file's folder), every component without following a link, and only served when
    /// it is still the file seen when the share opened (`dev`, `ino`).
    Path { root: Arc<PathBuf>, rel: Vec<OsString>, dev: u64, ino: u64 },
    /// A file the app opened (a document it may not have a path for), read with `pread`.
    Open(Arc<File>),
}

/// A shared folder, also offered as one `.zip` of its files.
#[derive(Debug, Clone)]
pub struct SharedFolder {
    /// Random id used in `fileId` for the zip.
    pub id: String,
    /// The folder's name.
    pub name: String,
    /// Indexes into [`ShareList::files`].
    pub files: Vec<usize>,
    /// Sum of the files' sizes (the zip is slightly bigger).
    pub size: u64,
}

impl SharedFolder {
    /// The zip's file name (`name.zip`).
    pub fn zip_name(&self) -> String {
        format!("{}.zip", self.name)
    }
}

/// What a share offers.
#[derive(Debug, Clone, Default)]
pub struct ShareList {
    pub files: Vec<SharedFile>,
    pub folders: Vec<SharedFolder>,
    /// Names given so far (files, and folders as `name/`): every name is offered once.
    names: std::collections::HashSet<String>,
}

impl ShareList {
    /// Collects `paths` (files and folders). Folders are walked without following links;
    /// links, devices and other non-regular entries are left out. Fails when a path is missing
    /// or not readable, or the share would hold more than [`MAX_SHARE_FILES`] files.
    pub fn collect(paths: &[PathBuf]) -> Result<ShareList> {
        let mut list = ShareList::default();
        if paths.is_empty() {
            return Err(Error::invalid("nothing to share"));
        }
        for p in paths {
            // The canonical path: a top-level link the owner gave is resolved once, here.
            let abs = if p.is_absolute() { p.clone() } else { std::env::current_dir()?.join(p) };
            let canon = std::fs::canonicalize(&abs).map_err(|e| Error::new(ErrorKind::Io, format!("{}: {e}", p.display())))?;
            let meta = std::fs::symlink_metadata(&canon).map_err(|e| Error::new(ErrorKind::Io, format!("{}: {e}", p.display())))?;
            let name = top_name(&canon, p)?;
            if meta.is_file() {
                let (Some(parent), Some(file)) = (canon.parent(), canon.file_name()) else {
                    return Err(Error::invalid(format!("{}: cannot share a path without a name", p.display())));
                };
                let root = Arc::new(parent.to_path_buf());
                list.push_file(name, root, vec![file.to_os_string()], &meta)?;
            } else if meta.is_dir() {
                let first = list.files.len();
                let name = list.unique(&name, "/");
                let root = Arc::new(canon);
                walk(&mut list, &root, &mut Vec::new(), &name, 0)?;
                let files: Vec<usize> = (first..list.files.len()).collect();
                let size = files.iter().fold(0u64, |s, &i| s.saturating_add(list.files[i].size));
                list.folders.push(SharedFolder { id: random_id(), name, files, size });
            } else {
                return Err(Error::invalid(format!("{}: not a file or folder", p.display())));
            }
        }
        Ok(list)
    }

    fn push_file(&mut self, name: String, root: Arc<PathBuf>, rel: Vec<OsString>, meta: &std::fs::Metadata) -> Result<()> {
        if self.files.len() >= MAX_SHARE_FILES {
            return Err(Error::invalid(format!("a share may hold at most {MAX_SHARE_FILES} files")));
        }
        let name = self.unique(&name, "");
        let file_type = crate::protocol::mime_for(&name).to_string();
        let source = Source::Path { root, rel, dev: meta.dev(), ino: meta.ino() };
        self.files.push(SharedFile { id: random_id(), name, size: meta.len(), file_type, source });
        Ok(())
    }

    /// Adds a file the app opened (an Android document, say) under `name` (its last `/`
    /// component). It must be a regular file; `mime` defaults to what the name suggests.
    pub fn push_open_file(&mut self, file: File, name: &str, mime: Option<String>) -> Result<()> {
        let name = name.rsplit('/').next().unwrap_or("").trim();
        if name.is_empty() {
            return Err(Error::invalid("a shared file needs a name"));
        }
        if self.files.len() >= MAX_SHARE_FILES {
            return Err(Error::invalid(format!("a share may hold at most {MAX_SHARE_FILES} files")));
        }
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(Error::invalid(format!("{name}: not a regular file")));
        }
        let name = self.unique(name, "");
        let file_type = mime.unwrap_or_else(|| crate::protocol::mime_for(&name).to_string());
        let source = Source::Open(Arc::new(file));
        self.files.push(SharedFile { id: random_id(), name, size: meta.len(), file_type, source });
        Ok(())
    }

    /// `name`, or `name (2)`, `name (3)`... (before the extension of its last component) when
    /// taken: two names that differ only in bytes that are not UTF-8 (shown the same) or in
    /// characters made safe stay two files (a zip may not hold one name twice).
    fn unique(&mut self, name: &str, suffix: &str) -> String {
        if self.names.insert(format!("{name}{suffix}")) {
            return name.to_string();
        }
        let last = name.rfind('/').map_or(0, |i| i + 1);
        let dot = name[last..].rfind('.').filter(|&i| i > 0).map_or(name.len(), |i| last + i);
        let (stem, ext) = name.split_at(dot);
        for n in 2.. {
            let candidate = format!("{stem} ({n}){ext}");
            if self.names.insert(format!("{candidate}{suffix}")) {
                return candidate;
            }
        }
        unreachable!("a free name is found")
    }

    /// Total bytes of the files.
    pub fn total_size(&self) -> u64 {
        self.files.iter().fold(0u64, |s, f| s.saturating_add(f.size))
    }
}

fn top_name(canon: &Path, given: &Path) -> Result<String> {
    canon
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Error::invalid(format!("{}: cannot share a path without a name", given.display())))
}

fn walk(list: &mut ShareList, root: &Arc<PathBuf>, rel: &mut Vec<OsString>, prefix: &str, depth: usize) -> Result<()> {
    if depth > MAX_SHARE_DEPTH {
        return Err(Error::invalid(format!("{}: folders nested too deep", root.display())));
    }
    let dir: PathBuf = rel.iter().fold((**root).clone(), |d, c| d.join(c));
    let mut entries: Vec<_> =
        std::fs::read_dir(&dir).map_err(|e| Error::new(ErrorKind::Io, format!("{}: {e}", dir.display())))?.filter_map(|e| e.ok()).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        // Never followed: a link inside a shared folder could point anywhere.
        let Ok(meta) = e.metadata() else { continue };
        // What a zip holds and a browser saves: no `\`, `:` or control characters (a Windows
        // extractor would take `..\x` or `C:x` as a path out of the folder).
        let name = format!("{prefix}/{}", crate::storage::sanitize_component(&e.file_name().to_string_lossy()));
        rel.push(e.file_name());
        if meta.is_file() {
            list.push_file(name, root.clone(), rel.clone(), &meta)?;
        } else if meta.is_dir() {
            walk(list, root, rel, &name, depth + 1)?;
        }
        rel.pop();
    }
    Ok(())
}

/// How a share answers browsers.
#[derive(Debug, Clone, Default)]
pub struct ShareOptions {
    /// Required from every browser (`pin` query of prepare-download).
    pub pin: Option<String>,
    /// Approve every browser without asking the owner.
    pub auto_accept: bool,
}

/// A browser (an address) that wants to see the share.
#[derive(Debug, Clone)]
pub struct BrowserRequest {
    /// Random id of this request (to answer it by id).
    pub id: String,
    pub ip: IpAddr,
    /// The browser's `User-Agent`, at most 200 characters (peer text: escape it before showing).
    pub user_agent: String,
}

/// The owner's answer to a [`BrowserRequest`]; dropping it unanswered declines.
#[derive(Debug)]
pub struct BrowserReply(pub(crate) oneshot::Sender<bool>);

impl BrowserReply {
    pub fn send(self, approve: bool) {
        let _ = self.0.send(approve);
    }
    /// The browser went away or the request timed out.
    pub fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
}

/// What happens in a share. More events may be added.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShareEvent {
    BrowserApproved {
        ip: IpAddr,
    },
    BrowserDeclined {
        ip: IpAddr,
    },
    /// A download started; `offset` is where a range request starts.
    DownloadStarted {
        ip: IpAddr,
        file_id: String,
        name: String,
        offset: u64,
        size: u64,
    },
    /// Bytes sent of a download so far (about every MiB).
    DownloadProgress {
        ip: IpAddr,
        file_id: String,
        sent: u64,
        size: u64,
    },
    /// A download ended; `complete` when every byte it was asked for was sent.
    DownloadFinished {
        ip: IpAddr,
        file_id: String,
        sent: u64,
        complete: bool,
    },
    /// A wrong PIN from `ip` (at most one event per attempt).
    PinFailed {
        ip: IpAddr,
        locked_for: Option<Duration>,
    },
}

/// The owner's side of a share. Called from the server's tasks; must not block for long.
pub trait ShareListener: Send + Sync + 'static {
    /// A new browser asks to see the share (not asked when the share accepts everyone).
    fn on_browser(&self, request: BrowserRequest, reply: BrowserReply);
    fn on_event(&self, _event: ShareEvent) {}
}

/// What a `Range` header asks of a body of `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeAnswer {
    /// Send the whole body (no header, a header that is not understood, or several ranges).
    Full,
    /// Send bytes `start..=end` (206).
    Partial { start: u64, end: u64 },
    /// 416 Range Not Satisfiable.
    Unsatisfiable,
}

/// Parses a `Range` header (RFC 9110 §14) for a body of `size` bytes. One range of bytes is
/// served; several ranges are answered with the whole body (allowed: a server may ignore
/// `Range`), and so is anything malformed. `a-b` past the end is cut at the end; a start at or
/// past the end, or a suffix of zero bytes, is unsatisfiable; a suffix longer than the body is the
/// whole body.
pub fn parse_range(header: &str, size: u64) -> RangeAnswer {
    let Some(spec) = header.trim().strip_prefix("bytes=") else { return RangeAnswer::Full };
    if spec.contains(',') {
        return RangeAnswer::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else { return RangeAnswer::Full };
    let (a, b) = (a.trim(), b.trim());
    let digits = |s: &str| !s.is_empty() && s.len() <= 19 && s.bytes().all(|c| c.is_ascii_digit());
    if a.is_empty() {
        if !digits(b) {
            return RangeAnswer::Full;
        }
        let n: u64 = b.parse().unwrap_or(u64::MAX);
        if n == 0 || size == 0 {
            return RangeAnswer::Unsatisfiable;
        }
        return RangeAnswer::Partial { start: size.saturating_sub(n), end: size - 1 };
    }
    if !digits(a) || !(b.is_empty() || digits(b)) {
        return RangeAnswer::Full;
    }
    let start: u64 = a.parse().unwrap_or(u64::MAX);
    let end: u64 = if b.is_empty() { u64::MAX } else { b.parse().unwrap_or(u64::MAX) };
    if end < start {
        return RangeAnswer::Full;
    }
    if start >= size {
        return RangeAnswer::Unsatisfiable;
    }
    RangeAnswer::Partial { start, end: end.min(size - 1) }
}

/// A `Content-Disposition: attachment` value for `name` (its last `/` component): an ASCII
/// fallback `filename` (quotes, backslashes and anything not printable ASCII become `_`) and the
/// exact name as `filename*` (RFC 6266 / RFC 8187, UTF-8, percent-encoded). Never contains a
/// control character, so a name cannot add headers.
pub fn content_disposition(name: &str) -> String {
    let base = name.rsplit('/').next().filter(|s| !s.is_empty()).unwrap_or("download");
    let fallback: String = base.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' }).collect();
    let mut encoded = String::with_capacity(base.len() * 3);
    for b in base.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

/// The links a browser can open for a server on `port`: one per address of this device (all
/// of them, or only `bind` when the server listens on one address). IPv6 link-local addresses
/// are left out (a browser cannot open them without a zone).
pub fn links(bind: Option<IpAddr>, port: u16, https: bool) -> Vec<String> {
    let scheme = if https { "https" } else { "http" };
    let fmt = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => format!("{scheme}://{v4}:{port}/"),
        IpAddr::V6(v6) => format!("{scheme}://[{v6}]:{port}/"),
    };
    match bind {
        Some(ip) if !ip.is_unspecified() => vec![fmt(ip)],
        _ => {
            let mut out: Vec<(bool, String)> = crate::net::interface_addrs()
                .into_iter()
                .filter(|a| match a.addr {
                    IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) != 0xfe80,
                    IpAddr::V4(_) => true,
                })
                .map(|a| (a.loopback, fmt(a.addr)))
                .collect();
            // Addresses other devices can reach first.
            out.sort();
            out.dedup();
            out.into_iter().map(|(_, s)| s).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use RangeAnswer::*;
        assert_eq!(parse_range("bytes=0-9", 100), Partial { start: 0, end: 9 });
        assert_eq!(parse_range("bytes=90-", 100), Partial { start: 90, end: 99 });
        assert_eq!(parse_range("bytes=90-500", 100), Partial { start: 90, end: 99 });
        assert_eq!(parse_range("bytes=-10", 100), Partial { start: 90, end: 99 });
        assert_eq!(parse_range("bytes=-1000", 100), Partial { start: 0, end: 99 });
        assert_eq!(parse_range("bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Full);
        assert_eq!(parse_range("bytes=5-1", 100), Full);
        assert_eq!(parse_range("items=0-1", 100), Full);
        assert_eq!(parse_range("bytes=a-1", 100), Full);
        assert_eq!(parse_range("bytes=-", 100), Full);
        assert_eq!(parse_range("bytes=99999999999999999999-", 100), Full);
    }

    #[test]
    fn disposition_never_breaks_the_header() {
        let d = content_disposition("dir/a\"b\r\nSet-Cookie: x=1;é.txt");
        assert!(!d.contains('\r') && !d.contains('\n'));
        assert!(
            d.starts_with(
                "attachment; filename=\"a_b__Set-Cookie: x=1;_.txt\"; filename*=UTF-8''a%22b%0D%0ASet-Cookie%3A%20x%3D1%3B%C3%A9.txt"
            ),
            "{d}"
        );
    }

    #[test]
    fn folders_keep_relative_names_and_skip_links() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("pics");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("a.txt"), b"a").unwrap();
        std::fs::write(root.join("sub/b.txt"), b"bb").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("link")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("dirlink")).unwrap();
        let list = ShareList::collect(&[root]).unwrap();
        let names: Vec<&str> = list.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["pics/a.txt", "pics/sub/b.txt"]);
        assert_eq!(list.folders.len(), 1);
        assert_eq!(list.folders[0].zip_name(), "pics.zip");
        assert_eq!(list.folders[0].size, 3);
    }
}
