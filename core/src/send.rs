//! Sending: turn paths into a selection, ask the receiver, upload in parallel, report progress.

use crate::client::{self, Body, Connection, PrepareOutcome, RemoteDevice, UploadDeadlines, UploadStatus};
use crate::error::{Error, ErrorKind, Result};
use crate::identity::Identity;
use crate::protocol::format_time;
use crate::protocol::{
    mime_for, ChecksumAlgo, DeviceInfo, FileDto, FileMetadata, PeerAddr, PrepareAnswerExt, PrepareExt, PrepareUploadRequest, Protocol,
    ResumeOffer, API_PREFIX, FEATURE_BLAKE3_AFTER, FEATURE_EMPTY_DIRS, FEATURE_RESUME, FEATURE_SHA256_AFTER,
};
use crate::util::random_id;
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, StreamBody};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What one read of a file to send or hash takes: small enough that the chunk is still in the
/// CPU's cache when it is hashed and copied into the socket or encrypted (256 KiB chunks cost the
/// sender 15 % more CPU over HTTP and 35 % more over HTTPS; docs/PERFORMANCE.md).
const READ_CHUNK: usize = 64 * 1024;
/// Chunks read ahead of the socket per upload.
const READ_AHEAD: usize = 4;
const UPLOAD_TRIES: u32 = 3;
const PROGRESS_STEP: u64 = 256 * 1024;
/// A connection idle for longer than this is not reused (servers may have closed it).
const IDLE_REUSE_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// A file to send.
#[derive(Debug, Clone)]
pub struct LocalFile {
    pub source: FileSource,
    /// The name the receiver sees (`folder/sub/name.ext` for folder contents).
    pub name: String,
    pub size: u64,
    /// The MIME type to announce; `None`: guessed from the name.
    pub mime: Option<String>,
    pub modified: Option<std::time::SystemTime>,
    pub accessed: Option<std::time::SystemTime>,
}

/// Where the bytes of a [`LocalFile`] come from.
#[derive(Debug, Clone)]
pub enum FileSource {
    Path(PathBuf),
    /// An open file descriptor, such as an Android document (`content://`) opened by the app.
    Descriptor(Arc<Descriptor>),
}

/// An open file descriptor to send from. A regular file is read with positional reads, so
/// hashing and retries never disturb each other; a pipe or socket can be read only once, so
/// it is sent without a checksum and not retried.
#[derive(Debug)]
pub struct Descriptor {
    file: File,
    seekable: bool,
    consumed: AtomicBool,
}

impl FileSource {
    /// True when the bytes can be read more than once (for the checksum and for retries).
    pub(crate) fn rereadable(&self) -> bool {
        match self {
            FileSource::Path(_) => true,
            FileSource::Descriptor(d) => d.seekable,
        }
    }

    /// The length and modification time of a file that can be read again (`None` for a stream,
    /// or when they cannot be read): two equal stamps around a read say the file did not change.
    fn stamp(&self) -> Option<(u64, Option<std::time::SystemTime>)> {
        let meta = match self {
            FileSource::Path(p) => std::fs::metadata(p).ok()?,
            FileSource::Descriptor(d) if d.seekable => d.file.metadata().ok()?,
            FileSource::Descriptor(_) => return None,
        };
        Some((meta.len(), meta.modified().ok()))
    }

    /// Opens the bytes from their start.
    pub fn open(&self) -> Result<Box<dyn Read + Send>> {
        self.open_at(0)
    }

    /// Opens the bytes from `offset` on (only a source that can be read again starts past 0).
    pub fn open_at(&self, offset: u64) -> Result<Box<dyn Read + Send>> {
        match self {
            FileSource::Path(p) => {
                use std::io::{Seek, SeekFrom};
                let mut f = File::open(p).map_err(|e| Error::io(p.display(), e))?;
                if offset > 0 {
                    f.seek(SeekFrom::Start(offset)).map_err(|e| Error::io(p.display(), e))?;
                }
                Ok(Box::new(f))
            }
            FileSource::Descriptor(d) if d.seekable => Ok(Box::new(AtReader { desc: d.clone(), pos: offset })),
            FileSource::Descriptor(_) if offset > 0 => Err(Error::invalid("a stream cannot start past its beginning")),
            FileSource::Descriptor(d) => {
                if d.consumed.swap(true, Ordering::SeqCst) {
                    return Err(Error::new(ErrorKind::Io, "a stream can be read only once; it cannot be sent again"));
                }
                Ok(Box::new(StreamReader(d.clone())))
            }
        }
    }

    fn describe(&self) -> String {
        match self {
            FileSource::Path(p) => p.display().to_string(),
            FileSource::Descriptor(_) => "file descriptor".into(),
        }
    }
}

/// Reads a seekable descriptor from the start without moving its shared offset.
struct AtReader {
    desc: Arc<Descriptor>,
    pos: u64,
}

impl Read for AtReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.desc.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

struct StreamReader(Arc<Descriptor>);

impl Read for StreamReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        (&self.0.file).read(buf)
    }
}

impl LocalFile {
    /// A file to send from an open descriptor, which Ferry now owns (and closes when the last
    /// user of the selection is gone). `name` is what the receiver sees. A regular file's size
    /// and times come from the descriptor; a pipe or socket needs `size`.
    pub fn from_descriptor(fd: OwnedFd, name: &str, size: Option<u64>, mime: Option<String>) -> Result<LocalFile> {
        let name = name.trim();
        if name.is_empty() || name.contains('\0') {
            return Err(Error::invalid(format!("{name:?} is not a file name")));
        }
        let file = File::from(fd);
        let meta = file.metadata().map_err(|e| Error::io(format!("{name}: cannot inspect the file descriptor"), e))?;
        if meta.is_dir() {
            return Err(Error::invalid(format!("{name}: a folder cannot be sent from a file descriptor")));
        }
        let seekable = meta.is_file();
        let size = match (seekable, size) {
            (true, Some(s)) if s != meta.len() => {
                tracing::warn!("{name}: the file is {} bytes, not the {s} given; sending {}", meta.len(), meta.len());
                meta.len()
            }
            (true, _) => meta.len(),
            (false, Some(s)) => s,
            (false, None) => return Err(Error::invalid(format!("{name}: the size of a stream must be given"))),
        };
        let (modified, accessed) = if seekable { (meta.modified().ok(), meta.accessed().ok()) } else { (None, None) };
        let mime = mime.map(|m| m.trim().to_string()).filter(|m| !m.is_empty());
        let desc = Descriptor { file, seekable, consumed: AtomicBool::new(false) };
        Ok(LocalFile { source: FileSource::Descriptor(Arc::new(desc)), name: name.to_string(), size, mime, modified, accessed })
    }
}

/// What to send: files, and folders that are empty.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub files: Vec<LocalFile>,
    pub empty_dirs: Vec<String>,
}

impl Selection {
    /// Collects files and folders (recursively, keeping empty folders). Symlinked folders are
    /// not followed.
    pub fn from_paths(paths: &[PathBuf]) -> Result<Selection> {
        let mut sel = Selection::default();
        for p in paths {
            let meta = std::fs::metadata(p).map_err(|e| Error::new(ErrorKind::InvalidInput, format!("{}: {e}", p.display())))?;
            let base = p
                .file_name()
                .and_then(|n| n.to_str())
                .map(str::to_string)
                .or_else(|| p.canonicalize().ok().and_then(|c| c.file_name().and_then(|n| n.to_str()).map(str::to_string)))
                .ok_or_else(|| Error::invalid(format!("{}: cannot send a path without a name", p.display())))?;
            if meta.is_dir() {
                sel.walk(p, &base)?;
            } else if meta.is_file() {
                sel.files.push(local_file(p, base, &meta));
            } else {
                return Err(Error::invalid(format!("{}: not a file or folder", p.display())));
            }
        }
        // A selection may hold 100,000 files: no room left over from growing.
        sel.files.shrink_to_fit();
        if sel.files.is_empty() && sel.empty_dirs.is_empty() {
            return Err(Error::invalid("nothing to send"));
        }
        Ok(sel)
    }

    fn walk(&mut self, dir: &Path, rel: &str) -> Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| Error::io(dir.display(), e))?
            .collect::<std::io::Result<_>>()
            .map_err(|e| Error::io(dir.display(), e))?;
        entries.sort_by_key(|e| e.file_name());
        let mut any = false;
        for entry in entries {
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                tracing::warn!("skipping {}: name is not UTF-8", entry.path().display());
                continue;
            };
            let path = entry.path();
            let child = format!("{rel}/{name}");
            let ft = entry.file_type().map_err(|e| Error::io(path.display(), e))?;
            if ft.is_dir() {
                self.walk(&path, &child)?;
                any = true;
            } else {
                // Regular files, and symlinks that point at files.
                match std::fs::metadata(&path) {
                    Ok(m) if m.is_file() => {
                        self.files.push(local_file(&path, child, &m));
                        any = true;
                    }
                    _ => tracing::warn!("skipping {}: not a regular file", path.display()),
                }
            }
        }
        if !any {
            self.empty_dirs.push(rel.to_string());
        }
        Ok(())
    }
}

fn local_file(path: &Path, name: String, meta: &std::fs::Metadata) -> LocalFile {
    LocalFile {
        source: FileSource::Path(path.to_path_buf()),
        name,
        size: meta.len(),
        mime: None,
        modified: meta.modified().ok(),
        accessed: meta.accessed().ok(),
    }
}

/// Progress and outcome of a send, for progress bars and apps.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub enum SendEvent {
    /// Connected; the receiver is who its certificate says.
    Connected {
        device: RemoteDevice,
    },
    /// The request is with the receiver, waiting for its user.
    WaitingForAcceptance,
    /// The receiver accepted these files.
    Accepted {
        session_id: String,
        files: Vec<FileDto>,
    },
    FileProgress {
        file_id: String,
        sent: u64,
        size: u64,
    },
    FileCompleted {
        file_id: String,
    },
    /// The receiver held the first `offset` bytes of the file (from an interrupted transfer, checked
    /// against ours by their SHA-256): only the rest is sent.
    FileResumed {
        file_id: String,
        offset: u64,
        size: u64,
    },
    /// Files of the selection the receiver did not take (it has them already, or its user left
    /// them out): skipped, not failed.
    FilesSkipped {
        file_ids: Vec<String>,
    },
    /// The file could not be sent; `retry` when it will be tried again.
    FileFailed {
        file_id: String,
        error: String,
        retry: bool,
    },
    /// Something the person sending should know: the peer does not support a Ferry addition (the
    /// message says which) and it was left out, or the files are read for their checksums before
    /// the request.
    Notice {
        message: String,
    },
}

pub trait SendObserver: Send + Sync {
    fn on_event(&self, event: SendEvent);
}

impl<F: Fn(SendEvent) + Send + Sync> SendObserver for F {
    fn on_event(&self, event: SendEvent) {
        self(event)
    }
}

/// How to send.
#[derive(Clone)]
pub struct SendOptions {
    pub identity: Identity,
    /// Our DeviceInfo.
    pub info: DeviceInfo,
    pub peer: PeerAddr,
    /// The fingerprint the receiver must have (pinned during the handshake).
    pub expected_fingerprint: Option<String>,
    pub pin: Option<String>,
    /// Files uploaded at the same time.
    pub parallel: usize,
    /// When to send SHA-256 checksums.
    pub checksums: Checksums,
    /// How long to wait on the receiver at each step.
    pub timeouts: SendTimeouts,
    /// Where the receiver is now (for a device found by discovery: its latest address), asked
    /// when a broken connection cannot be made again at the old address. Only an HTTPS address
    /// is taken, and the connection stays pinned to the identity the receiver proved.
    pub relocate: Option<Relocate>,
    /// Cuts a reconnect back-off wait short: a notification (e.g. the app saw the network come
    /// back) makes the waiting send (or the next one to wait) try again at once.
    pub retry_now: Option<Arc<tokio::sync::Notify>>,
}

/// See [`SendOptions::relocate`].
pub type Relocate = Arc<dyn Fn() -> Option<PeerAddr> + Send + Sync>;

/// How long a send waits on the receiver at each step. Every wait has an end: a receiver that
/// goes silent fails the send with `ErrorKind::Timeout` (and its session is cancelled, best
/// effort), never holds it for ever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendTimeouts {
    /// The answer to a file request, which waits for the person at the receiver (Ferry
    /// receivers close a request nobody answers after 2 minutes).
    pub decision: Duration,
    /// The answer to a text message (nobody is asked about a text).
    pub text_answer: Duration,
    /// The longest time the connection may take none of an upload's body.
    pub stall: Duration,
    /// The answer to an upload once its whole body is sent.
    pub upload_answer: Duration,
    /// Cancelling the session after a failure (connecting included).
    pub cancel: Duration,
    /// How long a send keeps trying to reach a receiver that speaks Ferry's `resume` again after
    /// the connection broke in the middle of a file (with back-off); each try continues where the
    /// file broke. Then the send fails; sending the same files again resumes them.
    pub reconnect: Duration,
}

impl Default for SendTimeouts {
    fn default() -> SendTimeouts {
        SendTimeouts {
            decision: Duration::from_secs(600),
            text_answer: Duration::from_secs(30),
            stall: Duration::from_secs(30),
            upload_answer: Duration::from_secs(60),
            cancel: Duration::from_secs(10),
            reconnect: Duration::from_secs(60),
        }
    }
}

impl SendTimeouts {
    fn upload(&self) -> UploadDeadlines {
        UploadDeadlines { stall: self.stall, answer: self.upload_answer }
    }
}

/// When the sender computes SHA-256 checksums (the optional `sha256` of each file), which the
/// receiver verifies before it keeps a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Checksums {
    /// Over plain HTTP only. Over HTTPS every byte is already authenticated by TLS (AES-GCM or
    /// ChaCha20-Poly1305), and hashing a big file costs more than encrypting it: it would be
    /// read twice and hashed on both sides. To a Ferry receiver (feature `blake3After`, or
    /// `sha256After` from older Ferry) the checksum follows each file's body, computed while the file is read for the upload; to
    /// others it is in the request, so every file is read once before it.
    #[default]
    Auto,
    /// Always, in the request (the receiver can also compare the files it already has with them).
    Always,
    Never,
}

impl SendOptions {
    /// Options with the defaults: 4 parallel uploads, checksums where TLS does not protect.
    pub fn new(
        identity: Identity,
        info: DeviceInfo,
        peer: PeerAddr,
        expected_fingerprint: Option<String>,
        pin: Option<String>,
    ) -> SendOptions {
        SendOptions {
            identity,
            info,
            peer,
            expected_fingerprint,
            pin,
            parallel: 4,
            checksums: Checksums::Auto,
            timeouts: SendTimeouts::default(),
            relocate: None,
            retry_now: None,
        }
    }

    /// Opens a connection to the peer, pinned to `expected_fingerprint` when it is set.
    async fn connect(&self) -> Result<Connection> {
        client::connect(&self.identity, &self.peer, self.expected_fingerprint.as_deref()).await
    }

    /// Ends our session on the receiver (`session_id`), or withdraws our pending request
    /// (`None`: a cancel without a session id, from our address). Best effort, within
    /// `timeouts.cancel`.
    async fn cancel_on_receiver(&self, session_id: Option<&str>) {
        self.cancel_on_receiver_keeping(session_id, false).await
    }

    /// [`SendOptions::cancel_on_receiver`]; `keep`: ask a Ferry receiver to keep what it
    /// received of interrupted files for a later resume.
    async fn cancel_on_receiver_keeping(&self, session_id: Option<&str>, keep: bool) {
        let cancelling = async {
            let mut c = self.connect().await?;
            match session_id {
                Some(id) if keep => {
                    let path = format!("{API_PREFIX}v2/cancel?sessionId={}&keep=partial", crate::util::percent_encode(id));
                    c.request(hyper::Method::POST, &path, client::empty_body(), Some(0)).await.map(|_| ())
                }
                Some(id) => c.cancel(id).await,
                None => c.request(hyper::Method::POST, &format!("{API_PREFIX}v2/cancel"), client::empty_body(), Some(0)).await.map(|_| ()),
            }
        };
        if let Err(e) = tokio::time::timeout(self.timeouts.cancel, cancelling)
            .await
            .unwrap_or_else(|_| Err(Error::new(ErrorKind::Timeout, "timed out")))
        {
            tracing::debug!("cancelling on the receiver failed: {e}");
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReport {
    pub session_id: Option<String>,
    pub sent: usize,
    pub skipped: usize,
    pub bytes: u64,
    pub receiver_fingerprint: Option<String>,
}

/// Connects, learns who the receiver is (register, falling back to info) and returns the
/// connection pinned to that identity.
pub async fn hello(opts: &SendOptions) -> Result<(Connection, RemoteDevice)> {
    let mut conn = opts.connect().await?;
    let device = match conn.register(&opts.info).await {
        Ok(d) => d,
        Err(e) if e.kind == ErrorKind::Protocol => {
            if !conn.is_open() {
                conn = opts.connect().await?;
            }
            match conn.info().await {
                // The receiver may close the connection just after its refusal of register.
                Err(e) if e.kind == ErrorKind::Network => {
                    conn = opts.connect().await?;
                    conn.info().await?
                }
                r => r?,
            }
        }
        Err(e) => return Err(e),
    };
    Ok((conn, device))
}

/// Sends a text message. Returns true when the receiver showed it (204), false when it took it
/// as a file.
pub async fn send_text(opts: &SendOptions, text: &str, observer: &dyn SendObserver) -> Result<bool> {
    let (mut conn, device) = hello(opts).await?;
    observer.on_event(SendEvent::Connected { device });
    let id = random_id();
    let dto = FileDto {
        id: id.clone(),
        file_name: format!("{id}.txt"),
        size: text.len() as u64,
        file_type: "text/plain".into(),
        sha256: Some(hex::encode(Sha256::digest(text.as_bytes()))),
        hash: None,
        preview: Some(text.to_string()),
        metadata: None,
        checksum_after: None,
    };
    let req = PrepareUploadRequest { info: opts.info.clone(), files: HashMap::from([(id.clone(), dto)]), ferry: None };
    observer.on_event(SendEvent::WaitingForAcceptance);
    let outcome = match conn.prepare_upload(&req, opts.pin.as_deref(), opts.timeouts.text_answer).await {
        Err(e) if e.kind == ErrorKind::Timeout => {
            opts.cancel_on_receiver(None).await;
            return Err(e);
        }
        r => r?,
    };
    match outcome {
        PrepareOutcome::NothingToSend => Ok(true),
        PrepareOutcome::Accepted(resp) => {
            let token = resp.files.get(&id).ok_or_else(|| Error::protocol("receiver accepted no file"))?;
            let bytes = Bytes::from(text.as_bytes().to_vec());
            let uploaded =
                conn.upload(&resp.session_id, &id, token, client::bytes_body(bytes), text.len() as u64, opts.timeouts.upload()).await;
            let result = match uploaded {
                Ok(UploadStatus::Ok) => return Ok(false),
                Ok(UploadStatus::ChecksumMismatch) => {
                    Err(Error::new(ErrorKind::ChecksumMismatch, "the receiver reported a checksum mismatch"))
                }
                Ok(UploadStatus::Rejected(e)) | Err(e) => Err(e),
            };
            opts.cancel_on_receiver(Some(&resp.session_id)).await;
            result
        }
    }
}

/// Computes the SHA-256 of every file that can be read twice (in parallel, off the async
/// threads); a stream gets none.
async fn hash_files(files: &[LocalFile], cancel: &CancellationToken) -> Result<Vec<Option<String>>> {
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).min(files.len().max(1));
    let sources: Arc<Vec<FileSource>> = Arc::new(files.iter().map(|f| f.source.clone()).collect());
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let out = Arc::new(Mutex::new(vec![None; files.len()]));
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (sources, next, out, cancel) = (sources.clone(), next.clone(), out.clone(), cancel.clone());
        tasks.push(tokio::task::spawn_blocking(move || -> Result<()> {
            let mut buf = vec![0u8; READ_CHUNK];
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= sources.len() || cancel.is_cancelled() {
                    return Ok(());
                }
                if !sources[i].rereadable() {
                    continue;
                }
                let mut f = sources[i].open()?;
                let mut h = Sha256::new();
                loop {
                    let n = f.read(&mut buf).map_err(|e| Error::io(sources[i].describe(), e))?;
                    if n == 0 {
                        break;
                    }
                    h.update(&buf[..n]);
                }
                out.lock().unwrap()[i] = Some(hex::encode(h.finalize()));
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))??;
    }
    if cancel.is_cancelled() {
        return Err(Error::new(ErrorKind::Cancelled, "cancelled"));
    }
    Ok(Arc::try_unwrap(out).map(|m| m.into_inner().unwrap()).unwrap_or_default())
}

/// A file body read on a blocking thread (a few chunks ahead of the socket), reporting
/// progress. Chunk buffers come back to the reader once sent, so a transfer of any size reuses
/// a handful of them (no allocation, zeroing or page faults per chunk). `after`: the reader
/// hashes the whole file as it reads (the first `offset` bytes too, read but not sent) and the
/// body ends with the trailer of that checksum (Ferry's `blake3After` or `sha256After`).
fn file_body(
    file: &LocalFile,
    file_id: String,
    observer: Arc<dyn SendObserver>,
    offset: u64,
    after: Option<ChecksumAlgo>,
    changed: Arc<AtomicBool>,
) -> Result<Body> {
    let start = if after.is_some() { 0 } else { offset };
    let (size, what) = (file.size, file.source.describe());
    // A file being written while it is read would arrive torn (old and new parts) and, with the
    // checksum computed as it is read, look whole: its length and modification time before the
    // first read and after the last one must agree, and no more than its size is read.
    let source = file.source.clone();
    let before = source.stamp();
    let mut reader = file.source.open_at(start)?.take(size.saturating_sub(start));
    let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<hyper::body::Frame<Bytes>>>(READ_AHEAD);
    let (home, pool) = std::sync::mpsc::channel::<Vec<u8>>();
    // A small file gets a small buffer (one byte more than its size, to see the end at once).
    let chunk_len = usize::try_from(size).unwrap_or(usize::MAX).saturating_add(1).min(READ_CHUNK);
    tokio::task::spawn_blocking(move || {
        let mut hasher = after.map(ChecksumAlgo::hasher);
        if let Some(h) = hasher.as_mut().filter(|_| offset > 0) {
            // A resumed file's checksum covers the bytes the receiver holds too.
            if let Err(e) = crate::resume::hash_next(&mut reader, offset, h, &|| false) {
                let _ = tx.blocking_send(Err(std::io::Error::new(e.kind(), format!("{what}: {e}"))));
                return;
            }
        }
        loop {
            let mut buf = pool.try_recv().unwrap_or_else(|_| vec![0u8; chunk_len]);
            let chunk = match reader.read(&mut buf) {
                Ok(0) => {
                    let whole = reader.limit() == 0 && before.is_none_or(|b| b.0 == size);
                    if !whole || source.stamp() != before {
                        changed.store(true, Ordering::SeqCst);
                        let e = std::io::Error::other(format!("{what}: the file changed while it was being sent"));
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                    if let Some(h) = hasher.take() {
                        let mut trailer = hyper::HeaderMap::new();
                        trailer.insert(h.algo().trailer_name(), h.finalize_hex().parse().expect("hex is a header value"));
                        let _ = tx.blocking_send(Ok(hyper::body::Frame::trailers(trailer)));
                    }
                    return;
                }
                Ok(len) => {
                    if let Some(h) = hasher.as_mut() {
                        h.update(&buf[..len]);
                    }
                    Ok(hyper::body::Frame::data(Bytes::from_owner(PooledChunk { buf, len, home: home.clone() })))
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => Err(std::io::Error::new(e.kind(), format!("{what}: {e}"))),
            };
            let failed = chunk.is_err();
            if tx.blocking_send(chunk).is_err() || failed {
                return;
            }
        }
    });
    let mut sent = offset;
    let mut reported = offset;
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)).map(move |frame| {
        let frame = frame?;
        if let Some(chunk) = frame.data_ref() {
            sent += chunk.len() as u64;
            if sent - reported >= PROGRESS_STEP || sent == size {
                reported = sent;
                observer.on_event(SendEvent::FileProgress { file_id: file_id.clone(), sent, size });
            }
        }
        Ok(frame)
    });
    Ok(BodyExt::boxed(StreamBody::new(stream)))
}

/// A chunk read from a file; its buffer goes back to the reader when the chunk is dropped.
struct PooledChunk {
    buf: Vec<u8>,
    len: usize,
    home: std::sync::mpsc::Sender<Vec<u8>>,
}

impl AsRef<[u8]> for PooledChunk {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for PooledChunk {
    fn drop(&mut self) {
        let _ = self.home.send(std::mem::take(&mut self.buf));
    }
}

struct Job {
    file: LocalFile,
    id: String,
    token: String,
    /// What the receiver holds of this file from an earlier transfer.
    offer: Option<ResumeOffer>,
    /// Its checksum follows the body, of this kind (Ferry's `blake3After`, `sha256After`), instead
    /// of being in the request.
    checksum_after: Option<ChecksumAlgo>,
}

/// Sends a selection. `cancel` stops it and cancels the session on the receiver.
pub async fn send_files(
    opts: &SendOptions,
    selection: &Selection,
    observer: Arc<dyn SendObserver>,
    cancel: CancellationToken,
) -> Result<SendReport> {
    let Greeted { mut conn, opts: pinned, receiver_fp, supports_dirs, supports_resume, checksum_after: supported_after } =
        greet(opts, selection, observer.as_ref(), &cancel).await?;
    let opts = &pinned;
    let hashed_at = std::time::Instant::now();
    // Over plain HTTP, a receiver that takes the checksum after the body gets it there: each file
    // is read once, hashed as it is sent, and the request goes out at once. Checksums asked for
    // (`Always`) stay in the request, where a receiver can also compare the files it has.
    let checksum_after = supported_after.filter(|_| opts.checksums == Checksums::Auto && wants_checksums(opts));
    if checksum_after.is_none() && wants_checksums(opts) {
        // Every file is read once before the request: say so when that takes a noticeable time.
        let total: u64 = selection.files.iter().filter(|f| f.source.rereadable()).map(|f| f.size).sum();
        if total >= HASH_NOTICE_BYTES {
            let why = if supported_after.is_some() { "checksums were asked for" } else { "this receiver takes them only in the request" };
            let message = format!("computing the checksums of {:.1} MB before sending ({why})...", total as f64 / 1e6);
            observer.on_event(SendEvent::Notice { message });
        }
    }
    let hashes =
        if checksum_after.is_some() { vec![None; selection.files.len()] } else { hash_if_wanted(opts, selection, &cancel).await? };
    // Receivers close idle connections (Ferry after 30 s); hashing a large selection can take
    // longer, so ask on a fresh connection, pinned to the identity learned in the hello.
    if !conn.is_open() || hashed_at.elapsed() > IDLE_REUSE_LIMIT {
        conn = opts.connect().await?;
    }
    let req = build_request(opts, selection, hashes, supports_dirs, checksum_after);
    let offered = selection.files.len();
    observer.on_event(SendEvent::WaitingForAcceptance);
    let resp = match ask(&mut conn, opts, req, &cancel).await? {
        PrepareOutcome::NothingToSend => {
            return Ok(SendReport { session_id: None, sent: 0, skipped: offered, bytes: 0, receiver_fingerprint: receiver_fp })
        }
        PrepareOutcome::Accepted(r) => r,
    };
    let session_id = resp.session_id.clone();
    let (accepted, queue, offers) = accepted_jobs(resp, selection, supports_resume)?;
    let skipped = offered - queue.len();
    observer.on_event(SendEvent::Accepted { session_id: session_id.clone(), files: accepted });
    if skipped > 0 {
        let mut taken = vec![false; offered];
        queue.iter().for_each(|&(i, _)| taken[i] = true);
        let mut left: Vec<usize> = (0..offered).filter(|&i| !taken[i]).collect();
        left.sort_by(|&a, &b| selection.files[a].name.cmp(&selection.files[b].name));
        observer.on_event(SendEvent::FilesSkipped { file_ids: left.into_iter().map(|i| i.to_string()).collect() });
    }
    let batches = Batches { queue, offers, resume: supports_resume, checksum_after };
    let (sent, bytes) = upload_in_batches(opts, conn, &session_id, batches, selection, observer, &cancel).await?;
    Ok(SendReport { session_id: Some(session_id), sent, skipped, bytes, receiver_fingerprint: receiver_fp })
}

/// The receiver after the hello: an open connection, options pinned to the identity it proved,
/// and whether it creates empty folders.
struct Greeted {
    conn: Connection,
    opts: SendOptions,
    receiver_fp: Option<String>,
    supports_dirs: bool,
    /// The receiver proved its identity and continues interrupted files (Ferry's `resume`).
    supports_resume: bool,
    /// The checksum the receiver takes after a file's body, the best it announced (Ferry's
    /// `blake3After`, else `sha256After`).
    checksum_after: Option<ChecksumAlgo>,
}

/// Says hello to the receiver, pins every later connection to the identity it proved, and tells
/// the observer what the receiver cannot take.
async fn greet(opts: &SendOptions, selection: &Selection, observer: &dyn SendObserver, cancel: &CancellationToken) -> Result<Greeted> {
    let (conn, device) = tokio::select! {
        r = hello(opts) => r?,
        _ = cancel.cancelled() => return Err(Error::new(ErrorKind::Cancelled, "cancelled")),
    };
    let receiver_fp = device.verified.then(|| device.fingerprint.clone());
    // Every later connection is pinned to the identity the receiver proved in the hello.
    let pinned = SendOptions { expected_fingerprint: receiver_fp.clone().or_else(|| opts.expected_fingerprint.clone()), ..opts.clone() };
    let supports_dirs = device.info.ferry_has(FEATURE_EMPTY_DIRS);
    let supports_resume = device.verified && device.info.ferry_has(FEATURE_RESUME);
    let checksum_after = if device.info.ferry_has(FEATURE_BLAKE3_AFTER) {
        Some(ChecksumAlgo::Blake3)
    } else {
        device.info.ferry_has(FEATURE_SHA256_AFTER).then_some(ChecksumAlgo::Sha256)
    };
    observer.on_event(SendEvent::Connected { device });
    if !selection.empty_dirs.is_empty() && !supports_dirs {
        observer.on_event(SendEvent::Notice {
            message: format!("the receiver cannot create empty folders; {} left out", selection.empty_dirs.len()),
        });
    }
    if selection.files.is_empty() && !supports_dirs {
        return Err(Error::invalid("nothing to send: only empty folders, and the receiver cannot create them"));
    }
    Ok(Greeted { conn, opts: pinned, receiver_fp, supports_dirs, supports_resume, checksum_after })
}

/// Whether the checksum policy wants checksums (`Auto`: over plain HTTP only).
fn wants_checksums(opts: &SendOptions) -> bool {
    match opts.checksums {
        Checksums::Always => true,
        Checksums::Never => false,
        Checksums::Auto => opts.peer.protocol == Protocol::Http,
    }
}

/// Hashing more than this before the request is announced ([`SendEvent::Notice`]).
const HASH_NOTICE_BYTES: u64 = 50_000_000;

/// SHA-256 of every file when the checksum policy wants them, for the request.
async fn hash_if_wanted(opts: &SendOptions, selection: &Selection, cancel: &CancellationToken) -> Result<Vec<Option<String>>> {
    if wants_checksums(opts) {
        hash_files(&selection.files, cancel).await
    } else {
        Ok(vec![None; selection.files.len()])
    }
}

/// A file's description for the receiver; file `i` of the selection has the id `i` (an id needs
/// only be unique within its request: the tokens are the secrets).
fn describe(i: usize, f: &LocalFile, sha256: Option<String>) -> FileDto {
    let metadata = (f.modified.is_some() || f.accessed.is_some())
        .then(|| FileMetadata { modified: f.modified.and_then(format_time), accessed: f.accessed.and_then(format_time) });
    FileDto {
        id: i.to_string(),
        file_name: f.name.clone(),
        size: f.size,
        file_type: f.mime.clone().unwrap_or_else(|| mime_for(&f.name).to_string()),
        sha256,
        hash: None,
        preview: None,
        metadata,
        checksum_after: None,
    }
}

/// The index in a selection of `len` files of the file with the id `id` (see [`describe`]).
fn file_index(id: &str, len: usize) -> Option<usize> {
    let i: usize = id.parse().ok()?;
    (i < len && i.to_string() == id).then_some(i)
}

/// Pieces of a request body: a request of 100,000 files (some 20 MB) is never one allocation, and
/// each piece is freed once sent.
const REQUEST_PIECE: usize = 64 * 1024;

/// The prepare-upload request's JSON, written file by file straight from the selection (no map of
/// every file's description: a request may carry 100,000), as a body in pieces and its length.
/// `checksum_after`: the files' checksums follow their bodies (Ferry's `blake3After` or `sha256After`).
fn build_request(
    opts: &SendOptions,
    selection: &Selection,
    hashes: Vec<Option<String>>,
    supports_dirs: bool,
    checksum_after: Option<ChecksumAlgo>,
) -> (Body, u64) {
    let mut pieces = Vec::new();
    let mut out = Vec::with_capacity(REQUEST_PIECE + 4096);
    out.extend_from_slice(b"{\"info\":");
    serde_json::to_writer(&mut out, &opts.info).expect("serialisable");
    out.extend_from_slice(b",\"files\":{");
    for (i, (f, sha)) in selection.files.iter().zip(hashes).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let dto = describe(i, f, sha);
        serde_json::to_writer(&mut out, &dto.id).expect("serialisable");
        out.push(b':');
        serde_json::to_writer(&mut out, &dto).expect("serialisable");
        if out.len() >= REQUEST_PIECE {
            pieces.push(Bytes::from(std::mem::replace(&mut out, Vec::with_capacity(REQUEST_PIECE + 4096))));
        }
    }
    out.push(b'}');
    // Ferry receivers accept a request of only empty folders.
    let empty_dirs = if supports_dirs { selection.empty_dirs.clone() } else { Vec::new() };
    if !empty_dirs.is_empty() || checksum_after.is_some() {
        out.extend_from_slice(b",\"ferry\":");
        let (sha256_after, blake3_after) = (checksum_after == Some(ChecksumAlgo::Sha256), checksum_after == Some(ChecksumAlgo::Blake3));
        serde_json::to_writer(&mut out, &PrepareExt { empty_dirs, sha256_after, blake3_after }).expect("serialisable");
    }
    out.push(b'}');
    pieces.push(Bytes::from(out));
    let len = pieces.iter().map(|p| p.len() as u64).sum();
    let frames = futures_util::stream::iter(pieces.into_iter().map(|p| Ok(hyper::body::Frame::data(p))));
    (BodyExt::boxed(StreamBody::new(frames)), len)
}

/// Asks the receiver (waiting for its decision); a timeout or `cancel` withdraws the request.
async fn ask(conn: &mut Connection, opts: &SendOptions, req: (Body, u64), cancel: &CancellationToken) -> Result<PrepareOutcome<Answer>> {
    tokio::select! {
        r = conn.prepare_upload_body(req.0, req.1, opts.pin.as_deref(), opts.timeouts.decision) => match r {
            Err(e) if e.kind == ErrorKind::Timeout => {
                opts.cancel_on_receiver(None).await;
                Err(e)
            }
            r => r,
        },
        _ = cancel.cancelled() => {
            // Withdraw the pending request (cancel without a session id, from our address).
            opts.cancel_on_receiver(None).await;
            Err(Error::new(ErrorKind::Cancelled, "cancelled"))
        }
    }
}

/// The prepare-upload answer as the sender keeps it: the tokens by file index (no map of ids: a
/// request may carry 100,000 files).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    session_id: String,
    #[serde(deserialize_with = "tokens_by_index")]
    files: Vec<(usize, Token)>,
    #[serde(default)]
    ferry: Option<PrepareAnswerExt>,
}

/// A file's upload token as the receiver gave it: Ferry's (32 lowercase hex digits) kept as its
/// bytes, anything else as text.
enum Token {
    Hex([u8; 16]),
    Text(Box<str>),
}

impl Token {
    fn new(s: &str) -> Token {
        let mut bytes = [0u8; 16];
        match hex::decode_to_slice(s, &mut bytes) {
            Ok(()) if hex::encode(bytes) == s => Token::Hex(bytes),
            _ => Token::Text(s.into()),
        }
    }
}

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Token::Hex(b) => f.write_str(&hex::encode(b)),
            Token::Text(s) => f.write_str(s),
        }
    }
}

/// `files` of an answer: `{"<id>": "<token>", ...}`, each id one of ours (see [`describe`]).
fn tokens_by_index<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<(usize, Token)>, D::Error> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Vec<(usize, Token)>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a map of file ids to tokens")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<Self::Value, A::Error> {
            let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0).min(1 << 20));
            while let Some((id, token)) = map.next_entry::<std::borrow::Cow<'de, str>, std::borrow::Cow<'de, str>>()? {
                let Some(i) = file_index(&id, usize::MAX) else {
                    return Err(serde::de::Error::custom(format!("unknown file id {id:?}")));
                };
                out.push((i, Token::new(&token)));
            }
            Ok(out)
        }
    }
    d.deserialize_map(V)
}

/// The files the receiver accepted (sorted by name, described without their times and checksums),
/// their selection indexes with their tokens in that order, and the offers to resume by index.
/// Offers count only from a receiver that announced `resume` and proved its identity (`resume`).
#[allow(clippy::type_complexity)]
fn accepted_jobs(
    resp: Answer,
    selection: &Selection,
    resume: bool,
) -> Result<(Vec<FileDto>, VecDeque<(usize, Token)>, HashMap<usize, ResumeOffer>)> {
    let files = &selection.files;
    let mut sorted = resp.files;
    if let Some(&(i, _)) = sorted.iter().find(|(i, _)| *i >= files.len()) {
        return Err(Error::protocol(format!("the receiver returned an unknown file id \"{i}\"")));
    }
    sorted.sort_unstable_by(|a, b| files[a.0].name.cmp(&files[b.0].name).then(a.0.cmp(&b.0)));
    if sorted.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(Error::protocol("the receiver returned a file id twice"));
    }
    let mut offers = HashMap::new();
    for (id, offer) in resp.ferry.filter(|_| resume).map(|f| f.resume).unwrap_or_default() {
        if let Some(i) =
            file_index(&id, files.len()).filter(|&i| offer.offset > 0 && offer.offset < files[i].size && offer.sha256.is_some())
        {
            offers.insert(i, offer);
        }
    }
    let accepted = sorted.iter().map(|&(i, _)| FileDto { metadata: None, ..describe(i, &files[i], None) }).collect();
    Ok((accepted, sorted.into(), offers))
}

/// What [`upload_in_batches`] uploads: the accepted files (selection indexes and tokens, in
/// order), the receiver's offers to resume by index (`resume`: it continues interrupted files),
/// and which checksum follows the bodies (`checksum_after`).
struct Batches {
    queue: VecDeque<(usize, Token)>,
    offers: HashMap<usize, ResumeOffer>,
    resume: bool,
    checksum_after: Option<ChecksumAlgo>,
}

/// Most upload jobs (each with a copy of its file's description) that exist at once.
const JOBS_AT_ONCE: usize = 4096;

/// Uploads the accepted files (`pending`: selection indexes and tokens, in order) in batches of
/// [`JOBS_AT_ONCE`] through [`run_uploads`], so that the jobs of a session of 100,000 files do not
/// all exist at once; the first batch uses `conn`. Returns files and bytes sent.
async fn upload_in_batches(
    opts: &SendOptions,
    conn: Connection,
    session_id: &str,
    batches: Batches,
    selection: &Selection,
    observer: Arc<dyn SendObserver>,
    cancel: &CancellationToken,
) -> Result<(usize, u64)> {
    let Batches { queue: mut pending, mut offers, resume, checksum_after } = batches;
    let (mut sent, mut bytes, mut conn) = (0, 0, Some(conn));
    loop {
        let batch = pending.len().min(JOBS_AT_ONCE);
        let queue: VecDeque<Job> = pending
            .drain(..batch)
            .map(|(i, token)| Job {
                file: selection.files[i].clone(),
                id: i.to_string(),
                token: token.to_string(),
                offer: offers.remove(&i),
                checksum_after,
            })
            .collect();
        let conn = match conn.take() {
            Some(c) => c,
            None => match opts.connect().await {
                Ok(c) => c,
                Err(e) => {
                    opts.cancel_on_receiver_keeping(Some(session_id), resume).await;
                    return Err(e);
                }
            },
        };
        let (n, b) = run_uploads(opts, conn, session_id, queue, observer.clone(), cancel, resume).await?;
        sent += n;
        bytes += b;
        if pending.is_empty() {
            return Ok((sent, bytes));
        }
    }
}

/// Uploads the queue with up to `opts.parallel` workers (the first one reuses `conn`). On a
/// failure or cancel the session is cancelled on the receiver too. Returns files and bytes sent.
async fn run_uploads(
    opts: &SendOptions,
    conn: Connection,
    session_id: &str,
    queue: VecDeque<Job>,
    observer: Arc<dyn SendObserver>,
    cancel: &CancellationToken,
    resume: bool,
) -> Result<(usize, u64)> {
    let workers = opts.parallel.clamp(1, 16).min(queue.len().max(1));
    let queue = Arc::new(Mutex::new(queue));
    let failed = Arc::new(Mutex::new(None::<Error>));
    let mut tasks = tokio::task::JoinSet::new();
    let mut first = Some(conn);
    for _ in 0..workers {
        let conn = first.take();
        let (queue, observer, failed, cancel) = (queue.clone(), observer.clone(), failed.clone(), cancel.clone());
        let opts = opts.clone();
        let session_id = session_id.to_string();
        tasks.spawn(async move { upload_worker(opts, conn, session_id, queue, observer, failed, cancel, resume).await });
    }
    let mut sent = 0;
    let mut bytes = 0;
    while let Some(r) = tasks.join_next().await {
        let (n, b) = r.map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))?;
        sent += n;
        bytes += b;
    }
    let failure = failed.lock().unwrap().take();
    if cancel.is_cancelled() || failure.is_some() {
        // End the session on the receiver too, so that it is free for the next transfer. After a
        // failure (not a cancel), a receiver that resumes keeps what it has for the next try.
        let keep = resume && !cancel.is_cancelled();
        opts.cancel_on_receiver_keeping(Some(session_id), keep).await;
        return Err(failure.unwrap_or_else(|| Error::new(ErrorKind::Cancelled, "cancelled")));
    }
    Ok((sent, bytes))
}

#[allow(clippy::too_many_arguments)]
async fn upload_worker(
    opts: SendOptions,
    mut conn: Option<Connection>,
    session_id: String,
    queue: Arc<Mutex<VecDeque<Job>>>,
    observer: Arc<dyn SendObserver>,
    failed: Arc<Mutex<Option<Error>>>,
    cancel: CancellationToken,
    resume: bool,
) -> (usize, u64) {
    let (mut sent, mut bytes) = (0usize, 0u64);
    // Where this worker reaches the receiver (it may move during a transfer).
    let mut peer = opts.peer.clone();
    loop {
        if cancel.is_cancelled() || failed.lock().unwrap().is_some() {
            break;
        }
        let Some(job) = queue.lock().unwrap().pop_front() else { break };
        let result = tokio::select! {
            r = upload_one(&opts, &mut peer, &mut conn, &session_id, &job, &observer, resume) => r,
            _ = cancel.cancelled() => Err(Error::new(ErrorKind::Cancelled, "cancelled")),
        };
        match result {
            Ok(n) => {
                sent += 1;
                bytes += n;
                observer.on_event(SendEvent::FileCompleted { file_id: job.id.clone() });
            }
            Err(e) if e.kind == ErrorKind::Cancelled && cancel.is_cancelled() => break,
            Err(e) => {
                observer.on_event(SendEvent::FileFailed { file_id: job.id.clone(), error: e.message.clone(), retry: false });
                let mut f = failed.lock().unwrap();
                if f.is_none() {
                    *f = Some(Error { message: format!("{}: {}", job.file.name, e.message), ..e });
                }
                break;
            }
        }
    }
    (sent, bytes)
}

/// Whether the receiver's first `offer.offset` bytes are those of our file (their SHA-256).
async fn offer_matches(file: &LocalFile, offer: &ResumeOffer) -> bool {
    let (source, offset, want) = (file.source.clone(), offer.offset, offer.sha256.clone());
    if !source.rereadable() || offset >= file.size {
        return false;
    }
    let hashed = tokio::task::spawn_blocking(move || source.open().ok().and_then(|r| crate::resume::prefix_sha256(r, offset).ok())).await;
    matches!((hashed, want), (Ok(Some(have)), Some(want)) if have.eq_ignore_ascii_case(&want))
}

/// Asks a Ferry receiver how much of a file of our session it holds (`v2/resume`), after the
/// upload broke. `None`: the file is already saved whole.
async fn probe(conn: &mut Connection, session_id: &str, job: &Job) -> Result<Option<u64>> {
    let path = format!(
        "{API_PREFIX}v2/resume?sessionId={}&fileId={}&token={}",
        crate::util::percent_encode(session_id),
        crate::util::percent_encode(&job.id),
        crate::util::percent_encode(&job.token)
    );
    let reply = tokio::time::timeout(Duration::from_secs(30), conn.request(hyper::Method::POST, &path, client::empty_body(), Some(0)))
        .await
        .map_err(|_| client::stopped_answering("no answer to the resume question in 30 s"))??;
    if reply.status == hyper::StatusCode::FORBIDDEN {
        // The session is gone (the receiver restarted, or ended it).
        return Err(Error::new(
            ErrorKind::Cancelled,
            format!("the receiver no longer has this transfer ({}); send the same files again to resume", reply.message()),
        ));
    }
    if reply.status != hyper::StatusCode::OK {
        return Err(Error::protocol(format!("resume answered {}: {}", reply.status, reply.message())));
    }
    #[derive(serde::Deserialize)]
    struct Held {
        offset: u64,
        #[serde(default)]
        complete: bool,
    }
    let held: Held = serde_json::from_slice(&reply.body).map_err(|e| Error::protocol(format!("unexpected resume answer: {e}")))?;
    Ok(if held.complete { None } else { Some(held.offset.min(job.file.size)) })
}

/// First wait before reconnecting after a break; it doubles up to [`RECONNECT_MAX_WAIT`].
const RECONNECT_FIRST_WAIT: Duration = Duration::from_millis(250);
const RECONNECT_MAX_WAIT: Duration = Duration::from_secs(4);

/// Uploads one file: from where the receiver's offer says (when our bytes match it), retried on a
/// broken connection or a checksum mismatch. With a receiver that resumes (`resume`), a break is
/// retried with back-off for `timeouts.reconnect`, each try continuing where the receiver holds.
/// Returns the bytes sent.
async fn upload_one(
    opts: &SendOptions,
    peer: &mut PeerAddr,
    conn: &mut Option<Connection>,
    session_id: &str,
    job: &Job,
    observer: &Arc<dyn SendObserver>,
    resume: bool,
) -> Result<u64> {
    let mut offset = 0;
    if let Some(offer) = &job.offer {
        if offer_matches(&job.file, offer).await {
            offset = offer.offset;
            observer.on_event(SendEvent::FileResumed { file_id: job.id.clone(), offset, size: job.file.size });
        }
    }
    let rereadable = job.file.source.rereadable();
    // A stream cannot be read again, so it gets one try.
    let max_tries = if rereadable { UPLOAD_TRIES } else { 1 };
    let mut tries = 0;
    let changed = Arc::new(AtomicBool::new(false));
    let mut broken_since: Option<tokio::time::Instant> = None;
    let mut wait = RECONNECT_FIRST_WAIT;
    loop {
        tries += 1;
        let attempt = async {
            if conn.as_ref().is_none_or(|c| !c.is_open()) {
                *conn = Some(client::connect(&opts.identity, peer, opts.expected_fingerprint.as_deref()).await?);
            }
            let c = conn.as_mut().expect("connected");
            if broken_since.is_some() {
                // Back after a break: continue where the receiver holds.
                match probe(c, session_id, job).await? {
                    None => return Ok::<_, Error>((UploadStatus::Ok, 0)),
                    Some(held) => {
                        if held != offset {
                            observer.on_event(SendEvent::FileResumed { file_id: job.id.clone(), offset: held, size: job.file.size });
                        }
                        offset = held;
                    }
                }
            }
            let body = file_body(&job.file, job.id.clone(), observer.clone(), offset, job.checksum_after, changed.clone())?;
            let (size, deadlines) = (job.file.size, opts.timeouts.upload());
            let status = c.upload_from(session_id, &job.id, &job.token, body, size, offset, deadlines, job.checksum_after).await?;
            Ok::<_, Error>((status, job.file.size - offset))
        };
        let outcome = attempt.await;
        if changed.load(Ordering::SeqCst) {
            // The body was broken off before its end: the receiver saved nothing of this try.
            return Err(Error::new(ErrorKind::Io, "the file changed while it was being sent; send it again"));
        }
        let failure = match outcome {
            Ok((UploadStatus::Ok, n)) => return Ok(n),
            Ok((UploadStatus::ChecksumMismatch, _)) if tries < max_tries => {
                offset = 0;
                broken_since = None;
                observer.on_event(SendEvent::FileFailed { file_id: job.id.clone(), error: "checksum mismatch".into(), retry: true });
                continue;
            }
            Ok((UploadStatus::ChecksumMismatch, _)) => return Err(Error::new(ErrorKind::ChecksumMismatch, "checksum mismatch")),
            // A resume the receiver no longer takes (its partial file went away): from the start.
            Ok((UploadStatus::Rejected(e), _)) if offset > 0 && e.kind == ErrorKind::Protocol && tries < max_tries => {
                offset = 0;
                broken_since = None;
                observer.on_event(SendEvent::FileFailed { file_id: job.id.clone(), error: e.message, retry: true });
                continue;
            }
            Ok((UploadStatus::Rejected(e), _)) => return Err(e),
            Err(e) => e,
        };
        *conn = None;
        let network = failure.kind == ErrorKind::Network;
        // While reconnecting, a connection that closes in its handshake or an answer that does not
        // come is part of the same outage.
        let transient = broken_since.is_some() && matches!(failure.kind, ErrorKind::Tls | ErrorKind::Timeout);
        if resume && rereadable && (network || transient) {
            // The receiver keeps what arrived: reconnect with back-off for a bounded time.
            let since = *broken_since.get_or_insert_with(tokio::time::Instant::now);
            if since.elapsed() + wait <= opts.timeouts.reconnect {
                observer.on_event(SendEvent::FileFailed { file_id: job.id.clone(), error: failure.message, retry: true });
                match &opts.retry_now {
                    Some(now) => {
                        tokio::select! {
                            _ = tokio::time::sleep(wait) => {}
                            _ = now.notified() => tracing::debug!("asked to retry now"),
                        }
                    }
                    None => tokio::time::sleep(wait).await,
                }
                // The receiver may have moved (another network, a new address): ask where it is now.
                if let Some(now) = opts.relocate.as_ref().and_then(|r| r()).filter(|p| p.protocol == Protocol::Https && p != peer) {
                    tracing::info!("the receiver moved from {peer} to {now}");
                    *peer = now;
                }
                wait = (wait * 2).min(RECONNECT_MAX_WAIT);
                tries -= 1;
                continue;
            }
            return Err(Error::new(
                ErrorKind::Network,
                format!(
                    "{} (gave up reconnecting after {} s; send the same files again to resume)",
                    failure.message,
                    opts.timeouts.reconnect.as_secs()
                ),
            ));
        }
        // A receiver that stopped answering is not asked again (each try would wait as long).
        if network && tries < max_tries {
            offset = 0;
            observer.on_event(SendEvent::FileFailed { file_id: job.id.clone(), error: failure.message, retry: true });
            continue;
        }
        return Err(failure);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn file_ids_are_indexes_and_tokens_come_back_as_given() {
        assert_eq!(file_index("0", 3), Some(0));
        assert_eq!(file_index("2", 3), Some(2));
        for bad in ["3", "01", "+1", "-0", " 1", "1 ", "", "x", "18446744073709551616"] {
            assert_eq!(file_index(bad, 3), None, "{bad:?}");
        }
        for t in ["00112233445566778899aabbccddeeff", "00112233445566778899AABBCCDDEEFF", "abc", "", "00112233445566778899aabbccddeeff00"] {
            assert_eq!(Token::new(t).to_string(), t);
        }
        assert!(matches!(Token::new("00112233445566778899aabbccddeeff"), Token::Hex(_)));
        let a: Answer = serde_json::from_str(r#"{"sessionId":"s","files":{"1":"t1","0":"00112233445566778899aabbccddeeff"}}"#).unwrap();
        let got: Vec<(usize, String)> = a.files.iter().map(|(i, t)| (*i, t.to_string())).collect();
        assert_eq!(got, [(1, "t1".to_string()), (0, "00112233445566778899aabbccddeeff".to_string())]);
        assert!(serde_json::from_str::<Answer>(r#"{"sessionId":"s","files":{"f0":"t"}}"#).is_err());
    }

    use super::*;
    use std::io::Write;

    #[tokio::test]
    async fn streams_are_not_hashed_and_read_once_files_are_hashed_from_the_start() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), b"abc").unwrap();
        let mut f = File::open(dir.path().join("a.txt")).unwrap();
        let mut first = [0u8; 1];
        f.read_exact(&mut first).unwrap(); // a descriptor whose offset has moved
        let from_fd = LocalFile::from_descriptor(f.into(), "a.txt", None, None).unwrap();
        let (r, mut w) = std::io::pipe().unwrap();
        w.write_all(b"xyz").unwrap();
        drop(w);
        let stream = LocalFile::from_descriptor(r.into(), "s.bin", Some(3), None).unwrap();
        assert!(!stream.source.rereadable());
        let hashes = hash_files(&[from_fd.clone(), stream.clone()], &CancellationToken::new()).await.unwrap();
        let abc = hex::encode(Sha256::digest(b"abc"));
        assert_eq!(hashes, vec![Some(abc), None]);
        // The descriptor reads whole again (positional reads); the stream only once.
        let mut all = String::new();
        from_fd.source.open().unwrap().read_to_string(&mut all).unwrap();
        assert_eq!(all, "abc");
        let mut s = String::new();
        stream.source.open().unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "xyz");
        assert!(stream.source.open().is_err(), "a stream cannot be read twice");
    }

    /// A file written to (or grown) while it is read is not sent as if whole: the body breaks off
    /// before its end (no trailer), and the flag tells the upload why.
    #[tokio::test]
    async fn a_file_that_changes_while_it_is_read_breaks_its_body_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.bin");
        for grow in [false, true] {
            std::fs::write(&path, vec![7u8; 4 << 20]).unwrap();
            let sel = Selection::from_paths(std::slice::from_ref(&path)).unwrap();
            let changed = Arc::new(AtomicBool::new(false));
            let mut body =
                file_body(&sel.files[0], "f".into(), Arc::new(|_: SendEvent| {}), 0, Some(ChecksumAlgo::Blake3), changed.clone()).unwrap();
            // The first chunk is out; then the file changes under the reader.
            body.frame().await.unwrap().unwrap();
            let f = std::fs::OpenOptions::new().write(true).append(grow).open(&path).unwrap();
            f.write_all_at(b"changed", if grow { 4 << 20 } else { 0 }).unwrap();
            f.set_modified(std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000)).unwrap();
            drop(f);
            let mut broke = false;
            while let Some(frame) = body.frame().await {
                match frame {
                    Ok(frame) => assert!(frame.is_data(), "a trailer after a change (grow: {grow})"),
                    Err(_) => broke = true,
                }
            }
            assert!(broke && changed.load(Ordering::SeqCst), "grow: {grow}");
        }
        // Unchanged, the same file reads to its end and its trailer.
        let sel = Selection::from_paths(std::slice::from_ref(&path)).unwrap();
        let changed = Arc::new(AtomicBool::new(false));
        let got = file_body(&sel.files[0], "f".into(), Arc::new(|_: SendEvent| {}), 0, Some(ChecksumAlgo::Blake3), changed.clone())
            .unwrap()
            .collect()
            .await;
        assert!(got.unwrap().trailers().is_some() && !changed.load(Ordering::SeqCst));
    }

    /// With `sha256After` the body ends with the trailer, whose SHA-256 covers the whole file also
    /// when only the bytes past an offset are sent (a resumed upload); without it, no trailer.
    #[tokio::test]
    async fn a_checksum_after_the_body_covers_the_whole_file_from_any_offset() {
        let dir = tempfile::tempdir().unwrap();
        let content: Vec<u8> = (0..700_000u32).map(|i| (i % 253) as u8).collect();
        std::fs::write(dir.path().join("a.bin"), &content).unwrap();
        let sel = Selection::from_paths(&[dir.path().join("a.bin")]).unwrap();
        let whole = hex::encode(Sha256::digest(&content));
        for offset in [0usize, 1, 300_000, 700_000] {
            for (algo, whole) in [(ChecksumAlgo::Sha256, &whole), (ChecksumAlgo::Blake3, &blake3::hash(&content).to_hex().to_string())] {
                let body = file_body(&sel.files[0], "f".into(), Arc::new(|_: SendEvent| {}), offset as u64, Some(algo), Default::default())
                    .unwrap();
                let got = body.collect().await.unwrap();
                let trailers = got.trailers().expect("a trailer");
                let trailer = trailers.get(algo.trailer_name()).map(|v| v.to_str().unwrap().to_string());
                assert_eq!(trailer.as_deref(), Some(whole.as_str()), "offset {offset}");
                assert_eq!(trailers.len(), 1, "only the negotiated field");
                assert!(got.to_bytes()[..] == content[offset..], "offset {offset}");
            }
        }
        let got = file_body(&sel.files[0], "f".into(), Arc::new(|_: SendEvent| {}), 5, None, Default::default())
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert!(got.trailers().is_none());
        assert!(got.to_bytes()[..] == content[5..]);
    }
}
