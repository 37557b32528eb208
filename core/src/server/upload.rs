//! `upload`: reading a file's body against the session and writing it (hashing on the way) to its sink.

use super::*;
use crate::protocol::{parse_content_range, trailing_checksum, ChecksumAlgo, FileHasher, TrailerError, MAX_SHA256_TRAILER_WAIT};

/// Writes every chunk, with as few system calls as the kernel allows.
pub(super) fn write_all_vectored(file: &mut File, chunks: &[Bytes]) -> std::io::Result<()> {
    let mut slices: Vec<std::io::IoSlice<'_>> = chunks.iter().filter(|c| !c.is_empty()).map(|c| std::io::IoSlice::new(c)).collect();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        match file.write_vectored(rest) {
            Ok(0) => return Err(std::io::Error::new(std::io::ErrorKind::WriteZero, "wrote nothing")),
            Ok(n) => std::io::IoSlice::advance_slices(&mut rest, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

pub(super) enum WriterMsg {
    Data(Bytes),
    /// The body ended, with what its trailer said of the checksum (`None`: no trailer at all).
    Finish(Option<std::result::Result<String, TrailerError>>),
}

/// The checksum a file is checked against before it is saved.
enum Expect {
    None,
    /// Given in the prepare-upload request.
    Given(String),
    /// In the trailer after the upload's body, of this kind (Ferry's `sha256After`, `blake3After`).
    After(ChecksumAlgo),
}

pub(super) enum UploadFailure {
    Size {
        received: u64,
        declared: u64,
    },
    Checksum,
    /// The file's checksum was to follow its body and did not, or not readably.
    ChecksumMissing(TrailerError),
    Io(Error),
    Aborted,
    /// Less than [`ServerLimits::min_progress`] arrived in a [`ServerLimits::body_stall_timeout`].
    Stalled,
}

/// Resets a file to pending if its upload request goes away before it ends.
pub(super) struct UploadGuard {
    pub(super) shared: Arc<Shared>,
    pub(super) session_id: String,
    pub(super) file_id: String,
    pub(super) armed: bool,
}

impl Drop for UploadGuard {
    fn drop(&mut self) {
        if self.armed {
            let mut guard = self.shared.session.lock().unwrap();
            if let Some(s) = guard.as_mut().filter(|s| s.id == self.session_id) {
                if let Some(f) = s.find(&self.file_id).map(|i| &mut s.slots[i]).filter(|f| f.state == FileState::Receiving) {
                    f.state = FileState::Pending;
                }
            }
        }
    }
}

/// What an upload (or a resume probe) may go on with: the file, its session's tokens and what a
/// resume needs.
pub(super) struct Claimed {
    dto: FileDto,
    cancel: CancellationToken,
    upload_cancel: CancellationToken,
    activity: Arc<AtomicU64>,
    /// The record of a resumable file (verified Ferry sender).
    record: Option<ResumeRecord>,
    discard: Arc<AtomicBool>,
}

/// How long an upload waits for the stalled upload of the same file it replaces to end.
const REPLACE_WAIT: Duration = Duration::from_secs(10);

/// Checks an upload's (or a resume probe's) parameters against the session and claims the file
/// for it. The session's verified sender coming back for a file that is still being received (the
/// old connection died without the receiver noticing) ends that upload at once and takes its
/// place. `Ok(None)`: the file is already received (a probe reports it whole).
async fn claim(
    shared: &Arc<Shared>,
    ip: IpAddr,
    peer_fp: Option<&str>,
    q: Option<&str>,
    probe: bool,
) -> std::result::Result<Option<(Claimed, String, String)>, Resp> {
    let (Some(session_id), Some(file_id), Some(token)) = (query_param(q, "sessionId"), query_param(q, "fileId"), query_param(q, "token"))
    else {
        return Err(message(StatusCode::BAD_REQUEST, "Missing parameters"));
    };
    for round in 0..2 {
        {
            let mut guard = shared.session.lock().unwrap();
            let Some(s) = guard.as_mut().filter(|s| s.id == session_id) else {
                if shared.cancelled.lock().unwrap().as_deref() == Some(session_id.as_str()) {
                    return Err(message(StatusCode::FORBIDDEN, "Session cancelled"));
                }
                return Err(message(StatusCode::FORBIDDEN, "Invalid session id"));
            };
            let same_sender = s.same_sender(peer_fp);
            // The session's verified sender may come back from another address (its network changed).
            if s.sender.ip != ip && !(same_sender && s.resume) {
                return Err(message(StatusCode::FORBIDDEN, "Invalid IP address"));
            }
            if s.phase != Phase::Active {
                return Err(message(StatusCode::CONFLICT, "Session not accepted yet"));
            }
            if probe && !(s.resume && same_sender) {
                return Err(message(StatusCode::CONFLICT, "Resume not offered to this sender"));
            }
            let Some(i) = s.find(&file_id).filter(|&i| constant_time_eq(&format_id(s.slots[i].token), &token)) else {
                return Err(message(StatusCode::FORBIDDEN, "Invalid token"));
            };
            let (resume, discard) = (s.resume, s.discard.clone());
            // Only the connection of the session's verified sender itself (its certificate, not
            // the token, not the address) touches a kept partial file: anyone else holding the
            // token uploads into a fresh part file and can neither continue nor remove it.
            let record = peer_fp.filter(|_| resume && same_sender).and_then(|fp| ResumeRecord::for_file(fp, &s.files[i]));
            let dto = s.files[i].clone();
            let f = &mut s.slots[i];
            match f.state {
                FileState::Pending => {
                    // Starting an upload is not progress (only bytes are): a sender that starts and
                    // stalls uploads over and over does not keep the session.
                    let upload_cancel = CancellationToken::new();
                    f.state = FileState::Receiving;
                    f.upload_cancel = Some(upload_cancel.clone());
                    let (cancel, activity) = (s.cancel.clone(), s.last_activity.clone());
                    let claimed = Claimed { dto, cancel, upload_cancel, activity, record, discard };
                    return Ok(Some((claimed, session_id, file_id)));
                }
                FileState::Receiving if round == 0 && resume && same_sender => {
                    if let Some(old) = f.upload_cancel.take() {
                        old.cancel();
                    }
                }
                FileState::Receiving => return Err(message(StatusCode::CONFLICT, "File is already being received")),
                FileState::Done if probe => return Ok(None),
                FileState::Done => return Err(message(StatusCode::CONFLICT, "File already received")),
                FileState::Failed => return Err(message(StatusCode::FORBIDDEN, "File failed")),
            }
        }
        {
            // The replaced upload ends within moments (its writer lets go of the file).
            let deadline = tokio::time::Instant::now() + REPLACE_WAIT;
            while tokio::time::Instant::now() < deadline && still_receiving(shared, &session_id, &file_id) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    Err(message(StatusCode::CONFLICT, "File is already being received"))
}

fn still_receiving(shared: &Shared, session_id: &str, file_id: &str) -> bool {
    let guard = shared.session.lock().unwrap();
    guard
        .as_ref()
        .filter(|s| s.id == session_id)
        .and_then(|s| s.find(file_id).map(|i| s.slots[i].state == FileState::Receiving))
        .unwrap_or(false)
}

pub(super) async fn upload(shared: &Arc<Shared>, ip: IpAddr, peer_fp: Option<&str>, req: Request<Incoming>) -> Resp {
    let q = req.uri().query();
    let offset = match query_param(q, "offset").map(|o| o.parse::<u64>()) {
        None => 0,
        Some(Ok(o)) => o,
        Some(Err(_)) => return message(StatusCode::BAD_REQUEST, "Invalid offset"),
    };
    let (claimed, session_id, file_id) = match claim(shared, ip, peer_fp, q, false).await {
        Ok(Some(c)) => c,
        Ok(None) => return message(StatusCode::CONFLICT, "File already received"),
        Err(r) => return r,
    };
    let mut guard = UploadGuard { shared: shared.clone(), session_id: session_id.clone(), file_id: file_id.clone(), armed: true };
    if let Some(range) = req.headers().get("x-content-range") {
        if claimed.dto.checksum_after.is_some() {
            // Pieces carry no checksum after them: such a file comes whole.
            return message(StatusCode::BAD_REQUEST, "This file's checksum follows its body: it cannot come in pieces");
        }
        let Some(range) = range.to_str().ok().and_then(parse_content_range).filter(|_| offset == 0) else {
            return message(StatusCode::BAD_REQUEST, "Invalid X-Content-Range");
        };
        let (resp, settled) = upload_piece(shared, &session_id, &claimed, range, req.into_body()).await;
        // A piece before the last, or a refused one, leaves the file waiting (the guard sets it back).
        guard.armed = !settled;
        return resp;
    }
    if offset > 0 {
        // Only the verified sender of a kept partial file continues it, and only from what is held.
        let Some(record) = claimed.record.clone() else {
            return message(StatusCode::CONFLICT, "Resume not offered for this file");
        };
        let dir = shared.opts.receive_dir.clone();
        let name = claimed.dto.file_name.clone();
        let held = tokio::task::spawn_blocking(move || dir.held(&name, &record, None)).await.ok().flatten().map_or(0, |h| h.0);
        if offset > held {
            return message(StatusCode::RANGE_NOT_SATISFIABLE, &format!("Offset beyond the {held} bytes held"));
        }
        shared.handler.on_event(ReceiveEvent::FileResumed { session_id: session_id.clone(), file_id: file_id.clone(), offset });
    }
    let resumable = claimed.record.is_some();
    let result = receive_body(shared, &session_id, &claimed, offset, req.into_body()).await;
    guard.armed = false;
    finish_upload(shared, &session_id, &claimed.dto, resumable, result)
}

/// A file sent in pieces (`X-Content-Range`, as the npm `localsend` sender does for files over
/// 50 MiB) between two of its pieces: where the next one starts, what is written, the running
/// checksum.
pub(super) struct HeldPiece {
    next: u64,
    sink: Sink,
    hasher: Option<FileHasher>,
}

/// Receives one piece of a file sent in pieces: each must start where the last one ended (the
/// first at 0, which also starts the file over); they go, in order, into the same partial file
/// (same token). Returns the answer, and whether the file's state is settled (the last piece
/// saved it, or a piece failed it).
async fn upload_piece(
    shared: &Arc<Shared>,
    session_id: &str,
    claimed: &Claimed,
    (first, last, total): (u64, u64, u64),
    body: Incoming,
) -> (Resp, bool) {
    let dto = &claimed.dto;
    if total != dto.size {
        return (message(StatusCode::BAD_REQUEST, "X-Content-Range does not match the file's size"), false);
    }
    let held = {
        let mut guard = shared.session.lock().unwrap();
        let slot = guard.as_mut().filter(|s| s.id == session_id).and_then(|s| s.find(&dto.id).map(|i| &mut s.slots[i]));
        let Some(slot) = slot else { return (message(StatusCode::FORBIDDEN, "Session cancelled"), false) };
        let next = slot.piece.as_ref().map_or(0, |p| p.next);
        if first != 0 && first != next {
            return (message(StatusCode::RANGE_NOT_SATISFIABLE, &format!("The next piece starts at {next}")), false);
        }
        // A first piece starts the file over.
        slot.piece.take().filter(|_| first > 0)
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<WriterMsg>(WRITER_QUEUE);
    let receive_dir = shared.opts.receive_dir.clone();
    let expected = if shared.opts.verify_checksums { dto.checksum() } else { None };
    let (name, until, wants_hash) = (dto.file_name.clone(), last + 1, expected.is_some());
    let writer = tokio::task::spawn_blocking(move || -> std::result::Result<HeldPiece, UploadFailure> {
        let mut piece = match held {
            Some(p) => *p,
            None => {
                let sink = Sink::Part(receive_dir.begin_file(&name).map_err(UploadFailure::Io)?);
                HeldPiece { next: 0, sink, hasher: wants_hash.then(|| ChecksumAlgo::Sha256.hasher()) }
            }
        };
        copy_stream(&mut piece.sink, &mut rx, until, &mut piece.hasher, &mut first.clone())?;
        piece.next = until;
        Ok(piece)
    });
    let cancels = (&claimed.cancel, &claimed.upload_cancel);
    let (outcome, _) = read_frames(shared, session_id, dto, first, body, cancels, &claimed.activity, &tx, until).await;
    let result = match outcome {
        Ok(()) => {
            let _ = tx.send(WriterMsg::Finish(None)).await;
            drop(tx);
            writer.await.unwrap_or_else(|_| Err(UploadFailure::Io(Error::new(ErrorKind::Internal, "writer panicked"))))
        }
        Err(e) => {
            drop(tx);
            let _ = writer.await;
            Err(e)
        }
    };
    let piece = match result {
        Ok(piece) if piece.next < total => {
            let mut guard = shared.session.lock().unwrap();
            if let Some(slot) = guard.as_mut().filter(|s| s.id == session_id).and_then(|s| s.find(&dto.id).map(|i| &mut s.slots[i])) {
                slot.piece = Some(Box::new(piece));
            }
            return (json_bytes(StatusCode::OK, Bytes::from_static(b"{\"message\":\"Chunk received\"}")), false);
        }
        Ok(piece) => piece,
        Err(e) => return (finish_upload(shared, session_id, dto, false, Err(e)), true),
    };
    // The last piece: the checksum over every piece, then the file gets its name.
    let modified = dto.metadata.as_ref().and_then(|m| m.modified.as_deref()).and_then(parse_time);
    let accessed = dto.metadata.as_ref().and_then(|m| m.accessed.as_deref()).and_then(parse_time);
    let matches = match (piece.hasher, expected) {
        (Some(h), Some(want)) => h.finalize_hex() == want,
        _ => true,
    };
    let checked = if matches { Ok(piece.sink) } else { Err(UploadFailure::Checksum) };
    let result = match checked {
        Ok(sink) => tokio::task::spawn_blocking(move || sink.commit(modified, accessed).map_err(UploadFailure::Io))
            .await
            .unwrap_or_else(|_| Err(UploadFailure::Io(Error::new(ErrorKind::Internal, "commit panicked")))),
        Err(e) => Err(e),
    };
    (finish_upload(shared, session_id, dto, false, result), true)
}

/// `POST v2/resume?sessionId=&fileId=&token=` (Ferry's `resume`): how many bytes of a file of the
/// session the receiver holds, for its verified sender coming back after a break: `{"offset": n}`
/// (`"complete": true` when the file is already saved whole). A stalled upload of the file ends.
pub(super) async fn resume_probe(shared: &Arc<Shared>, ip: IpAddr, peer_fp: Option<&str>, req: Request<Incoming>) -> Resp {
    let q = req.uri().query();
    let claimed = match claim(shared, ip, peer_fp, q, true).await {
        Ok(Some((c, _, _))) => c,
        Ok(None) => return json_bytes(StatusCode::OK, Bytes::from_static(b"{\"offset\":0,\"complete\":true}")),
        Err(r) => return r,
    };
    // The probe only looks: the file goes back to waiting for its upload.
    let (dir, name, record) = (shared.opts.receive_dir.clone(), claimed.dto.file_name.clone(), claimed.record.clone());
    let held = match record {
        Some(record) => tokio::task::spawn_blocking(move || dir.held(&name, &record, None)).await.ok().flatten().map_or(0, |h| h.0),
        None => 0,
    };
    {
        let mut guard = shared.session.lock().unwrap();
        if let Some(s) = guard.as_mut() {
            if let Some(f) = s.find(&claimed.dto.id).map(|i| &mut s.slots[i]).filter(|f| f.state == FileState::Receiving) {
                f.state = FileState::Pending;
                f.upload_cancel = None;
            }
        }
    }
    json_bytes(StatusCode::OK, Bytes::from(format!("{{\"offset\":{held}}}")))
}

pub(super) async fn receive_body(
    shared: &Arc<Shared>,
    session_id: &str,
    claimed: &Claimed,
    offset: u64,
    body: Incoming,
) -> std::result::Result<Option<PathBuf>, UploadFailure> {
    let dto = &claimed.dto;
    let (tx, rx) = tokio::sync::mpsc::channel::<WriterMsg>(WRITER_QUEUE);
    let writer = spawn_writer(shared, session_id, claimed, offset, rx);
    let cancels = (&claimed.cancel, &claimed.upload_cancel);
    let (outcome, mut counted) = read_frames(shared, session_id, dto, offset, body, cancels, &claimed.activity, &tx, dto.size).await;
    match outcome {
        Ok(()) => {
            let _ = tx.send(WriterMsg::Finish(counted.trailer.take())).await;
            drop(tx);
        }
        Err(e) => {
            drop(tx); // the writer sees the channel close and drops (removes or keeps) the partial file
            let _ = writer.await;
            return Err(e);
        }
    }
    let result = writer.await.unwrap_or_else(|_| Err(UploadFailure::Io(Error::new(ErrorKind::Internal, "writer panicked"))));
    if result.is_ok() && counted.received != counted.reported {
        shared.handler.on_event(progress_event(session_id, dto, counted.received));
    }
    result
}

/// Bytes of one body: read so far, and told to the handler so far; what its trailer said of the
/// checksum, when it had one.
struct BodyCount {
    received: u64,
    reported: u64,
    trailer: Option<std::result::Result<String, TrailerError>>,
}

fn progress_event(session_id: &str, dto: &FileDto, received: u64) -> ReceiveEvent {
    ReceiveEvent::FileProgress { session_id: session_id.to_string(), file_id: dto.id.clone(), received, size: dto.size }
}

/// Starts the blocking writer of one file: it opens the sink, writes and hashes what comes through
/// `rx`, checks size and checksum, and commits the file.
fn spawn_writer(
    shared: &Shared,
    session_id: &str,
    claimed: &Claimed,
    offset: u64,
    rx: tokio::sync::mpsc::Receiver<WriterMsg>,
) -> tokio::task::JoinHandle<std::result::Result<Option<PathBuf>, UploadFailure>> {
    let dto = &claimed.dto;
    let receive_dir = shared.opts.receive_dir.clone();
    let (handler, sid, offered) = (shared.handler.clone(), session_id.to_string(), dto.clone());
    let (record, discard) = (claimed.record.clone(), claimed.discard.clone());
    let expected = match dto.checksum() {
        _ if !shared.opts.verify_checksums => Expect::None,
        Some(sum) => Expect::Given(sum),
        None => dto.checksum_after.map_or(Expect::None, Expect::After),
    };
    let modified = dto.metadata.as_ref().and_then(|m| m.modified.as_deref()).and_then(parse_time);
    let accessed = dto.metadata.as_ref().and_then(|m| m.accessed.as_deref()).and_then(parse_time);
    tokio::task::spawn_blocking(move || -> std::result::Result<Option<PathBuf>, UploadFailure> {
        let declared = offered.size;
        let name = offered.file_name.clone();
        let mut sink = match handler.open_destination(&sid, &offered).map_err(UploadFailure::Io)? {
            Some(_) if offset > 0 => return Err(UploadFailure::Io(Error::invalid("cannot resume into a file the app supplied"))),
            Some(file) => Sink::App(AppFile::new(file, handler, sid, offered.id).map_err(UploadFailure::Io)?),
            // A verified Ferry sender's file is kept when its upload breaks, for a resume.
            None => match &record {
                Some(rec) => Sink::Part(receive_dir.begin_resumable(&name, rec, offset).map_err(UploadFailure::Io)?),
                None => Sink::Part(receive_dir.begin_file(&name).map_err(UploadFailure::Io)?),
            },
        };
        // A resumable file is hashed as it arrives (from its start), so that a break records the
        // hash of what is held and the next offer reads nothing.
        let checks = !matches!(expected, Expect::None);
        let algo = match &expected {
            Expect::After(algo) => *algo,
            _ => ChecksumAlgo::Sha256,
        };
        let mut hashed = Hashed { hasher: (checks || (record.is_some() && offset == 0)).then(|| algo.hasher()), written: offset };
        match write_stream(&mut sink, rx, declared, expected, &mut hashed) {
            Ok(()) => sink.commit(modified, accessed).map_err(UploadFailure::Io),
            Err(e) => {
                // A break keeps what arrived; a cancel, a bad checksum or a wrong size does not.
                if matches!(e, UploadFailure::Aborted | UploadFailure::Io(_)) && !discard.load(Ordering::SeqCst) {
                    // A resume record holds a SHA-256 of what is held; another hash is not kept.
                    let prefix =
                        hashed.hasher.take().filter(|h| h.algo() == ChecksumAlgo::Sha256).map(|h| (hashed.written, h.finalize_hex()));
                    if sink.keep(prefix) {
                        // The bounds of kept files hold while the receiver runs, not only at its start.
                        drop(sink);
                        receive_dir.trim_kept();
                    }
                }
                Err(e)
            }
        }
    })
}

/// What a writer has written (counting the bytes held before it) and, when it hashes, the hash of
/// all of them.
struct Hashed {
    hasher: Option<FileHasher>,
    written: u64,
}

/// Writes what comes through `rx` into `sink` until [`WriterMsg::Finish`], hashing it when a
/// hasher is given (from the start of the file: the bytes held are hashed first); Ok when size and
/// checksum (given, or from the trailer) match.
fn write_stream(
    sink: &mut Sink,
    mut rx: tokio::sync::mpsc::Receiver<WriterMsg>,
    declared: u64,
    expected: Expect,
    hashed: &mut Hashed,
) -> std::result::Result<(), UploadFailure> {
    if hashed.written > 0 {
        if let Some(h) = hashed.hasher.as_mut() {
            // The bytes held count for the checksum too.
            hash_held(sink.file(), hashed.written, h).map_err(|e| UploadFailure::Io(Error::io("cannot read the partial file", e)))?;
        }
    }
    let trailer = copy_stream(sink, &mut rx, declared, &mut hashed.hasher, &mut hashed.written)?;
    let want = match expected {
        Expect::None => return Ok(()),
        Expect::Given(want) => want,
        // A trailer that was not asked for is not looked at.
        Expect::After(_) => trailer.unwrap_or(Err(TrailerError::Missing)).map_err(UploadFailure::ChecksumMissing)?,
    };
    match hashed.hasher.take().map(FileHasher::finalize_hex) {
        Some(have) if have == want => Ok(()),
        _ => Err(UploadFailure::Checksum),
    }
}

/// Writes what comes through `rx` into `sink` (hashing what was written into `hasher`) until
/// [`WriterMsg::Finish`]; `written` bytes are there already (it counts on), `declared` must be
/// there at the end. Returns what the body's trailer said of the checksum.
fn copy_stream(
    sink: &mut Sink,
    rx: &mut tokio::sync::mpsc::Receiver<WriterMsg>,
    declared: u64,
    hasher: &mut Option<FileHasher>,
    written: &mut u64,
) -> std::result::Result<Option<std::result::Result<String, TrailerError>>, UploadFailure> {
    let mut msgs: Vec<WriterMsg> = Vec::with_capacity(WRITER_QUEUE);
    let mut batch: Vec<Bytes> = Vec::with_capacity(WRITER_QUEUE);
    let mut finished = None;
    while finished.is_none() {
        // Everything that is waiting goes out in one vectored write.
        if rx.blocking_recv_many(&mut msgs, WRITER_QUEUE) == 0 {
            return Err(UploadFailure::Aborted);
        }
        for m in msgs.drain(..) {
            match m {
                WriterMsg::Data(chunk) => batch.push(chunk),
                WriterMsg::Finish(trailer) => finished = Some(trailer),
            }
        }
        write_all_vectored(sink.file(), &batch).map_err(|e| UploadFailure::Io(Error::io("cannot write received file", e)))?;
        // Only what was written whole is hashed (and counted): a break keeps exactly that.
        if let Some(h) = hasher.as_mut() {
            batch.iter().for_each(|c| h.update(c));
        }
        *written += batch.iter().map(|c| c.len() as u64).sum::<u64>();
        batch.clear();
    }
    if *written != declared {
        return Err(UploadFailure::Size { received: *written, declared });
    }
    Ok(finished.flatten())
}

/// Adds the first `len` bytes of `file` to `h` (positional reads: the write position stays).
fn hash_held(file: &File, len: u64, h: &mut FileHasher) -> std::io::Result<()> {
    crate::resume::hash_next(HeldReader { file, pos: 0 }, len, h, &|| false)
}

/// Reads a file from its start with positional reads: the write position stays where it is.
struct HeldReader<'a> {
    file: &'a File,
    pos: u64,
}

impl std::io::Read for HeldReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// How long the body of an upload that the receiver cancelled is still read.
const CANCEL_DRAIN: std::time::Duration = std::time::Duration::from_millis(400);

/// Reads and drops what `body` brings for up to `time`.
async fn drain(mut body: Incoming, time: std::time::Duration) {
    let _ = tokio::time::timeout(time, async { while let Some(Ok(_)) = body.frame().await {} }).await;
}

/// Reads the body's frames and passes them to the writer, failing on cancel, a stall, a broken
/// body or more bytes than declared; reports progress every [`PROGRESS_STEP`].
#[allow(clippy::too_many_arguments)]
async fn read_frames(
    shared: &Shared,
    session_id: &str,
    dto: &FileDto,
    offset: u64,
    mut body: Incoming,
    (cancel, upload_cancel): (&CancellationToken, &CancellationToken),
    activity: &AtomicU64,
    tx: &tokio::sync::mpsc::Sender<WriterMsg>,
    declared: u64,
) -> (std::result::Result<(), UploadFailure>, BodyCount) {
    let mut count = BodyCount { received: offset, reported: offset, trailer: None };
    // Once the declared bytes are in, the rest (a chunked body's end and trailer) comes soon.
    let mut end_by =
        (offset >= declared).then(|| tokio::time::Instant::now() + MAX_SHA256_TRAILER_WAIT.min(shared.limits.body_stall_timeout));
    // Progress is counted over windows of `body_stall_timeout`: fewer than `min_progress` bytes
    // in one (a trickle, or nothing) fails the file; only such progress keeps the session alive.
    let stall = shared.limits.body_stall_timeout;
    let min_progress = shared.limits.min_progress;
    let mut window_end = tokio::time::Instant::now() + stall;
    let mut in_window = 0u64;
    let mut unmarked = 0u64;
    let outcome = loop {
        let frame = tokio::select! {
            _ = cancel.cancelled() => {
                // The rest of the body is read (and thrown away) for a moment, so that the connection
                // is not reset under the answer: the sender reads "cancelled" rather than a broken
                // connection it would retry.
                tokio::spawn(drain(body, CANCEL_DRAIN));
                break Err(UploadFailure::Aborted);
            }
            // Its sender came back on another connection: this one is dead.
            _ = upload_cancel.cancelled() => break Err(UploadFailure::Aborted),
            f = tokio::time::timeout_at(end_by.map_or(window_end, |e| e.min(window_end)), body.frame()) => match f {
                Ok(f) => f,
                Err(_) if in_window < min_progress || end_by.is_some_and(|e| tokio::time::Instant::now() >= e) => {
                    break Err(UploadFailure::Stalled)
                }
                Err(_) => {
                    window_end = tokio::time::Instant::now() + stall;
                    in_window = 0;
                    continue;
                }
            },
        };
        match frame {
            None => break Ok(()),
            Some(Err(e)) => {
                tracing::debug!("upload of {:?} broke off: {e}", dto.file_name);
                break Err(UploadFailure::Aborted);
            }
            Some(Ok(frame)) => {
                let data = match frame.into_data() {
                    Ok(data) => data,
                    Err(frame) => {
                        // hyper bounds a trailer section (16 KiB, as many fields as headers).
                        if let Ok(t) = frame.into_trailers() {
                            count.trailer = Some(trailing_checksum(&t, dto.checksum_after.unwrap_or(ChecksumAlgo::Sha256)));
                        }
                        continue;
                    }
                };
                count.received += data.len() as u64;
                in_window += data.len() as u64;
                unmarked += data.len() as u64;
                // The session's idle time counts from the last real progress (one relaxed store).
                if unmarked >= min_progress {
                    unmarked = 0;
                    activity.store(shared.now_ms(), Ordering::Relaxed);
                }
                if count.received > declared {
                    break Err(UploadFailure::Size { received: count.received, declared });
                }
                if count.received == declared && end_by.is_none() {
                    end_by = Some(tokio::time::Instant::now() + MAX_SHA256_TRAILER_WAIT.min(stall));
                }
                if tx.send(WriterMsg::Data(data)).await.is_err() {
                    // The writer failed; its error is reported below. As for a cancel, the rest of the
                    // body is read for a moment so the sender gets that answer, not a reset it would retry.
                    tokio::spawn(drain(body, CANCEL_DRAIN));
                    break Ok(());
                }
                if count.received - count.reported >= PROGRESS_STEP {
                    count.reported = count.received;
                    shared.handler.on_event(progress_event(session_id, dto, count.received));
                }
            }
        }
    };
    (outcome, count)
}

pub(super) fn finish_upload(
    shared: &Arc<Shared>,
    session_id: &str,
    dto: &FileDto,
    resumable: bool,
    result: std::result::Result<Option<PathBuf>, UploadFailure>,
) -> Resp {
    // A break of a resumable file does not count as a try: its sender continues where it broke
    // (bounded by the session's idle timeout, which only progress resets).
    let counts = !(resumable && matches!(result, Err(UploadFailure::Aborted | UploadFailure::Stalled)));
    let mut events = Vec::new();
    let mut finished = None;
    let resp = {
        let mut guard = shared.session.lock().unwrap();
        let Some(s) = guard.as_mut().filter(|s| s.id == session_id) else {
            // Cancelled meanwhile; the temporary file is already gone.
            return message(StatusCode::FORBIDDEN, "Session cancelled");
        };
        if result.is_ok() {
            s.last_activity.store(shared.now_ms(), Ordering::Relaxed);
        }
        let i = s.find(&dto.id).expect("file of this session");
        let f = &mut s.slots[i];
        f.upload_cancel = None;
        let mut unwritable = false;
        let (resp, failure) = match result {
            Ok(path) => {
                f.state = FileState::Done;
                s.saved += 1;
                events.push(ReceiveEvent::FileCompleted { session_id: session_id.to_string(), file_id: dto.id.clone(), path });
                (empty(StatusCode::OK), None)
            }
            Err(UploadFailure::Checksum) => {
                (message(StatusCode::UNPROCESSABLE_ENTITY, "Checksum mismatch"), Some("checksum mismatch".to_string()))
            }
            Err(UploadFailure::ChecksumMissing(e)) => {
                (message(StatusCode::UNPROCESSABLE_ENTITY, e.describe()), Some(e.describe().to_string()))
            }
            Err(UploadFailure::Size { received, declared }) => {
                let m = if received > declared {
                    format!("Body longer than the declared {declared} bytes")
                } else {
                    format!("Received {received} of the declared {declared} bytes")
                };
                (message(StatusCode::BAD_REQUEST, &m), Some(m))
            }
            Err(UploadFailure::Aborted) => (message(StatusCode::BAD_REQUEST, "Upload aborted"), Some("upload aborted".into())),
            Err(UploadFailure::Stalled) => {
                (message(StatusCode::REQUEST_TIMEOUT, "Upload stalled"), Some("too little arrived for too long".into()))
            }
            Err(UploadFailure::Io(e)) => {
                // A file this receiver cannot write would fail again: it is not tried again, and the
                // sender hears why (507 for a full disk, as WebDAV says it; else 500).
                unwritable = true;
                let (status, reason) = match e.kind {
                    ErrorKind::StorageFull => (StatusCode::INSUFFICIENT_STORAGE, "the disk is full".to_string()),
                    ErrorKind::PermissionDenied => (StatusCode::INTERNAL_SERVER_ERROR, "the receive folder cannot be written".to_string()),
                    _ => (StatusCode::INTERNAL_SERVER_ERROR, e.message),
                };
                (message(status, &reason), Some(reason))
            }
        };
        if let Some(error) = failure {
            f.tries += u8::from(counts);
            let retry = !unwritable && u32::from(f.tries) < CHECKSUM_TRIES;
            f.state = if retry { FileState::Pending } else { FileState::Failed };
            s.failed += usize::from(!retry);
            events.push(ReceiveEvent::FileFailed { session_id: session_id.to_string(), file_id: dto.id.clone(), error, retry });
        }
        if s.all_ended() {
            let s = guard.take().expect("session present");
            finished = Some(SessionOutcome::Finished { saved: s.saved, failed: s.failed });
        }
        resp
    };
    for e in events {
        shared.handler.on_event(e);
    }
    if let Some(outcome) = finished {
        shared.handler.on_event(ReceiveEvent::SessionFinished { session_id: session_id.to_string(), outcome });
    }
    resp
}

#[cfg(test)]
mod tests {
    use crate::protocol::parse_content_range;

    #[test]
    fn content_ranges_are_parsed_strictly() {
        assert_eq!(parse_content_range("bytes 0-9/10"), Some((0, 9, 10)));
        assert_eq!(parse_content_range(" bytes 10485760-20971519/209715200 "), Some((10485760, 20971519, 209715200)));
        for bad in [
            "",
            "bytes",
            "bytes 0-9",
            "bytes 0-10/10",
            "bytes 9-0/10",
            "bytes -1-9/10",
            "bytes 0--9/10",
            "bytes +0-9/10",
            "bytes 0-9/*",
            "items 0-9/10",
            "bytes 0-9/18446744073709551616",
            "bytes 0 -9/10",
            "bytes 0-9/10/11",
            "bytes ٠-٩/١٠",
        ] {
            assert_eq!(parse_content_range(bad), None, "{bad:?}");
        }
    }
}
