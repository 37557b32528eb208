//! Sending: turn paths into a selection, ask the receiver, upload in parallel, report progress.

use crate::client::{self, Body, Connection, PeerAddr, PrepareOutcome, RemoteDevice, UploadStatus};
use crate::error::{Error, ErrorKind, Result};
use crate::identity::Identity;
use crate::protocol::{mime_for, DeviceInfo, FileDto, FileMetadata, PrepareExt, PrepareUploadRequest, FEATURE_EMPTY_DIRS};
use crate::storage::format_time;
use crate::util::random_id;
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, StreamBody};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

const READ_CHUNK: usize = 256 * 1024;
const UPLOAD_TRIES: u32 = 3;
const PROGRESS_STEP: u64 = 256 * 1024;
/// A connection idle for longer than this is not reused (servers may have closed it).
const IDLE_REUSE_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

/// A file to send.
#[derive(Debug, Clone)]
pub struct LocalFile {
    pub path: PathBuf,
    /// The name the receiver sees (`folder/sub/name.ext` for folder contents).
    pub name: String,
    pub size: u64,
    pub modified: Option<std::time::SystemTime>,
    pub accessed: Option<std::time::SystemTime>,
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
    LocalFile { path: path.to_path_buf(), name, size: meta.len(), modified: meta.modified().ok(), accessed: meta.accessed().ok() }
}

/// Progress and outcome of a send, for progress bars and apps.
#[derive(Debug, Clone)]
pub enum SendEvent {
    /// Connected; the receiver is who its certificate says.
    Connected { device: RemoteDevice },
    /// The request is with the receiver, waiting for its user.
    WaitingForAcceptance,
    /// The receiver accepted these files.
    Accepted { session_id: String, files: Vec<FileDto> },
    FileProgress { file_id: String, sent: u64, size: u64 },
    FileCompleted { file_id: String },
    /// The file could not be sent; `retry` when it will be tried again.
    FileFailed { file_id: String, error: String, retry: bool },
    /// The peer does not support a Ferry addition (the message says which) and it was left out.
    Notice { message: String },
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
}

impl SendOptions {
    /// Opens a connection to the peer, pinned to `expected_fingerprint` when it is set.
    async fn connect(&self) -> Result<Connection> {
        client::connect(&self.identity, &self.peer, self.expected_fingerprint.as_deref()).await
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
            conn.info().await?
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
    };
    let req = PrepareUploadRequest { info: opts.info.clone(), files: HashMap::from([(id.clone(), dto)]), ferry: None };
    observer.on_event(SendEvent::WaitingForAcceptance);
    match conn.prepare_upload(&req, opts.pin.as_deref()).await? {
        PrepareOutcome::NothingToSend => Ok(true),
        PrepareOutcome::Accepted(resp) => {
            let token = resp.files.get(&id).ok_or_else(|| Error::protocol("receiver accepted no file"))?;
            let bytes = Bytes::from(text.as_bytes().to_vec());
            match conn.upload(&resp.session_id, &id, token, client::bytes_body(bytes), text.len() as u64).await? {
                UploadStatus::Ok => Ok(false),
                UploadStatus::ChecksumMismatch => Err(Error::new(ErrorKind::ChecksumMismatch, "the receiver reported a checksum mismatch")),
                UploadStatus::Rejected(e) => Err(e),
            }
        }
    }
}

/// Computes the SHA-256 of every file (in parallel, off the async threads).
async fn hash_files(files: &[LocalFile], cancel: &CancellationToken) -> Result<Vec<String>> {
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).min(files.len().max(1));
    let paths: Arc<Vec<PathBuf>> = Arc::new(files.iter().map(|f| f.path.clone()).collect());
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let out = Arc::new(Mutex::new(vec![String::new(); files.len()]));
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (paths, next, out, cancel) = (paths.clone(), next.clone(), out.clone(), cancel.clone());
        tasks.push(tokio::task::spawn_blocking(move || -> Result<()> {
            let mut buf = vec![0u8; READ_CHUNK];
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= paths.len() || cancel.is_cancelled() {
                    return Ok(());
                }
                let mut f = std::fs::File::open(&paths[i]).map_err(|e| Error::io(paths[i].display(), e))?;
                let mut h = Sha256::new();
                loop {
                    let n = std::io::Read::read(&mut f, &mut buf).map_err(|e| Error::io(paths[i].display(), e))?;
                    if n == 0 {
                        break;
                    }
                    h.update(&buf[..n]);
                }
                out.lock().unwrap()[i] = hex::encode(h.finalize());
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

/// A file body streamed from disk, reporting progress.
fn file_body(path: &Path, size: u64, file_id: String, observer: Arc<dyn SendObserver>) -> Result<Body> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path.display(), e))?;
    let reader = tokio_util::io::ReaderStream::with_capacity(tokio::fs::File::from_std(file), READ_CHUNK);
    let mut sent = 0u64;
    let mut reported = 0u64;
    let stream = reader.map(move |chunk| {
        let chunk = chunk?;
        sent += chunk.len() as u64;
        if sent - reported >= PROGRESS_STEP || sent == size {
            reported = sent;
            observer.on_event(SendEvent::FileProgress { file_id: file_id.clone(), sent, size });
        }
        Ok(hyper::body::Frame::data(chunk))
    });
    Ok(BodyExt::boxed(StreamBody::new(stream)))
}

struct Job {
    file: LocalFile,
    id: String,
    token: String,
}

/// Sends a selection. `cancel` stops it and cancels the session on the receiver.
pub async fn send_files(
    opts: &SendOptions,
    selection: &Selection,
    observer: Arc<dyn SendObserver>,
    cancel: CancellationToken,
) -> Result<SendReport> {
    let (mut conn, device) = tokio::select! {
        r = hello(opts) => r?,
        _ = cancel.cancelled() => return Err(Error::new(ErrorKind::Cancelled, "cancelled")),
    };
    let receiver_fp = device.verified.then(|| device.fingerprint.clone());
    // Every later connection is pinned to the identity the receiver proved in the hello.
    let pinned = SendOptions { expected_fingerprint: receiver_fp.clone().or_else(|| opts.expected_fingerprint.clone()), ..opts.clone() };
    let opts = &pinned;
    let supports_dirs = device.info.ferry_has(FEATURE_EMPTY_DIRS);
    observer.on_event(SendEvent::Connected { device });
    if !selection.empty_dirs.is_empty() && !supports_dirs {
        observer.on_event(SendEvent::Notice {
            message: format!("the receiver cannot create empty folders; {} left out", selection.empty_dirs.len()),
        });
    }
    if selection.files.is_empty() && !supports_dirs {
        return Err(Error::invalid("nothing to send: only empty folders, and the receiver cannot create them"));
    }

    let hashed_at = std::time::Instant::now();
    let hashes = hash_files(&selection.files, &cancel).await?;
    // Receivers close idle connections (Ferry after 30 s); hashing a large selection can take
    // longer, so ask on a fresh connection, pinned to the identity learned in the hello.
    if !conn.is_open() || hashed_at.elapsed() > IDLE_REUSE_LIMIT {
        conn = opts.connect().await?;
    }
    let mut files = HashMap::with_capacity(selection.files.len());
    let mut by_id = HashMap::with_capacity(selection.files.len());
    for (f, sha) in selection.files.iter().zip(hashes) {
        let id = random_id();
        let metadata = (f.modified.is_some() || f.accessed.is_some()).then(|| FileMetadata {
            modified: f.modified.and_then(format_time),
            accessed: f.accessed.and_then(format_time),
        });
        files.insert(
            id.clone(),
            FileDto {
                id: id.clone(),
                file_name: f.name.clone(),
                size: f.size,
                file_type: mime_for(&f.name).to_string(),
                sha256: Some(sha),
                hash: None,
                preview: None,
                metadata,
            },
        );
        by_id.insert(id, f.clone());
    }
    let mut req = PrepareUploadRequest { info: opts.info.clone(), files, ferry: None };
    if supports_dirs && !selection.empty_dirs.is_empty() {
        // Ferry receivers accept a request of only empty folders.
        req.ferry = Some(PrepareExt { empty_dirs: selection.empty_dirs.clone() });
    }
    observer.on_event(SendEvent::WaitingForAcceptance);
    let outcome = tokio::select! {
        r = conn.prepare_upload(&req, opts.pin.as_deref()) => r?,
        _ = cancel.cancelled() => {
            // Withdraw the pending request (cancel without a session id, from our address).
            if let Ok(mut c) = opts.connect().await {
                let _ = c.request(hyper::Method::POST, "/api/localsend/v2/cancel", client::empty_body(), Some(0)).await;
            }
            return Err(Error::new(ErrorKind::Cancelled, "cancelled"));
        }
    };
    let resp = match outcome {
        PrepareOutcome::NothingToSend => {
            return Ok(SendReport { session_id: None, sent: 0, skipped: by_id.len(), bytes: 0, receiver_fingerprint: receiver_fp })
        }
        PrepareOutcome::Accepted(r) => r,
    };
    let mut accepted: Vec<FileDto> = Vec::new();
    let mut queue = VecDeque::new();
    let mut sorted: Vec<_> = resp.files.iter().collect();
    sorted.sort_by(|a, b| by_id.get(a.0).map(|f| &f.name).cmp(&by_id.get(b.0).map(|f| &f.name)));
    for (id, token) in sorted {
        let Some(file) = by_id.get(id) else {
            return Err(Error::protocol(format!("the receiver returned an unknown file id {id:?}")));
        };
        accepted.push(req.files[id].clone());
        queue.push_back(Job { file: file.clone(), id: id.clone(), token: token.clone() });
    }
    let skipped = by_id.len() - queue.len();
    let session_id = resp.session_id.clone();
    observer.on_event(SendEvent::Accepted { session_id: session_id.clone(), files: accepted });

    let queue = Arc::new(Mutex::new(queue));
    let workers = opts.parallel.clamp(1, 16).min(queue.lock().unwrap().len().max(1));
    let failed = Arc::new(Mutex::new(None::<Error>));
    let mut tasks = tokio::task::JoinSet::new();
    let mut first = Some(conn);
    for _ in 0..workers {
        let conn = first.take();
        let (queue, observer, failed, cancel) = (queue.clone(), observer.clone(), failed.clone(), cancel.clone());
        let opts = opts.clone();
        let session_id = session_id.clone();
        tasks.spawn(async move { upload_worker(opts, conn, session_id, queue, observer, failed, cancel).await });
    }
    let mut sent = 0;
    let mut bytes = 0;
    while let Some(r) = tasks.join_next().await {
        let (n, b) = r.map_err(|e| Error::new(ErrorKind::Internal, e.to_string()))?;
        sent += n;
        bytes += b;
    }
    if cancel.is_cancelled() {
        if let Ok(mut c) = opts.connect().await {
            let _ = c.cancel(&session_id).await;
        }
        return Err(Error::new(ErrorKind::Cancelled, "cancelled"));
    }
    if let Some(e) = failed.lock().unwrap().take() {
        return Err(e);
    }
    Ok(SendReport { session_id: Some(session_id), sent, skipped, bytes, receiver_fingerprint: receiver_fp })
}

async fn upload_worker(
    opts: SendOptions,
    mut conn: Option<Connection>,
    session_id: String,
    queue: Arc<Mutex<VecDeque<Job>>>,
    observer: Arc<dyn SendObserver>,
    failed: Arc<Mutex<Option<Error>>>,
    cancel: CancellationToken,
) -> (usize, u64) {
    let (mut sent, mut bytes) = (0usize, 0u64);
    loop {
        if cancel.is_cancelled() || failed.lock().unwrap().is_some() {
            break;
        }
        let Some(job) = queue.lock().unwrap().pop_front() else { break };
        let mut tries = 0;
        let result: Result<()> = loop {
            tries += 1;
            let attempt = async {
                if conn.as_ref().is_none_or(|c| !c.is_open()) {
                    conn = Some(opts.connect().await?);
                }
                let body = file_body(&job.file.path, job.file.size, job.id.clone(), observer.clone())?;
                conn.as_mut().expect("connected").upload(&session_id, &job.id, &job.token, body, job.file.size).await
            };
            let status = tokio::select! {
                r = attempt => r,
                _ = cancel.cancelled() => break Err(Error::new(ErrorKind::Cancelled, "cancelled")),
            };
            match status {
                Ok(UploadStatus::Ok) => break Ok(()),
                Ok(UploadStatus::ChecksumMismatch) if tries < UPLOAD_TRIES => {
                    observer.on_event(SendEvent::FileFailed { file_id: job.id.clone(), error: "checksum mismatch".into(), retry: true });
                }
                Ok(UploadStatus::ChecksumMismatch) => {
                    break Err(Error::new(ErrorKind::ChecksumMismatch, format!("{}: checksum mismatch", job.file.name)))
                }
                Ok(UploadStatus::Rejected(e)) => break Err(e),
                Err(e) if matches!(e.kind, ErrorKind::Network | ErrorKind::Timeout) && tries < UPLOAD_TRIES => {
                    conn = None;
                    observer.on_event(SendEvent::FileFailed { file_id: job.id.clone(), error: e.message, retry: true });
                }
                Err(e) => break Err(e),
            }
        };
        match result {
            Ok(()) => {
                sent += 1;
                bytes += job.file.size;
                observer.on_event(SendEvent::FileCompleted { file_id: job.id.clone() });
            }
            Err(e) if e.kind == ErrorKind::Cancelled && cancel.is_cancelled() => break,
            Err(e) => {
                observer.on_event(SendEvent::FileFailed { file_id: job.id.clone(), error: e.message.clone(), retry: false });
                let mut f = failed.lock().unwrap();
                if f.is_none() {
                    *f = Some(Error::new(e.kind, format!("{}: {}", job.file.name, e.message)));
                }
                break;
            }
        }
    }
    (sent, bytes)
}
