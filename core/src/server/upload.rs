//! `upload`: reading a file's body against the session and writing it (hashing on the way) to its sink.

use super::*;

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
    Finish,
}

pub(super) enum UploadFailure {
    Size {
        received: u64,
        declared: u64,
    },
    Checksum,
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

pub(super) async fn upload(shared: &Arc<Shared>, ip: IpAddr, req: Request<Incoming>) -> Resp {
    let q = req.uri().query();
    let (Some(session_id), Some(file_id), Some(token)) = (query_param(q, "sessionId"), query_param(q, "fileId"), query_param(q, "token"))
    else {
        return message(StatusCode::BAD_REQUEST, "Missing parameters");
    };
    let (dto, cancel, activity) = {
        let mut guard = shared.session.lock().unwrap();
        let Some(s) = guard.as_mut().filter(|s| s.id == session_id) else {
            if shared.cancelled.lock().unwrap().as_deref() == Some(session_id.as_str()) {
                return message(StatusCode::FORBIDDEN, "Session cancelled");
            }
            return message(StatusCode::FORBIDDEN, "Invalid session id");
        };
        if s.sender.ip != ip {
            return message(StatusCode::FORBIDDEN, "Invalid IP address");
        }
        if s.phase != Phase::Active {
            return message(StatusCode::CONFLICT, "Session not accepted yet");
        }
        let Some(i) = s.find(&file_id).filter(|&i| constant_time_eq(&format_id(s.slots[i].token), &token)) else {
            return message(StatusCode::FORBIDDEN, "Invalid token");
        };
        let dto = s.files[i].clone();
        let f = &mut s.slots[i];
        match f.state {
            FileState::Pending => {}
            FileState::Receiving => return message(StatusCode::CONFLICT, "File is already being received"),
            FileState::Done => return message(StatusCode::CONFLICT, "File already received"),
            FileState::Failed => return message(StatusCode::FORBIDDEN, "File failed"),
        }
        // Starting an upload is not progress (only bytes are): a sender that starts and stalls
        // uploads over and over does not keep the session.
        f.state = FileState::Receiving;
        (dto, s.cancel.clone(), s.last_activity.clone())
    };
    let mut guard = UploadGuard { shared: shared.clone(), session_id: session_id.clone(), file_id: file_id.clone(), armed: true };

    let result = receive_body(shared, &session_id, &dto, req.into_body(), &cancel, &activity).await;
    guard.armed = false;
    finish_upload(shared, &session_id, &dto, result)
}

pub(super) async fn receive_body(
    shared: &Arc<Shared>,
    session_id: &str,
    dto: &FileDto,
    body: Incoming,
    cancel: &CancellationToken,
    activity: &AtomicU64,
) -> std::result::Result<Option<PathBuf>, UploadFailure> {
    let (tx, rx) = tokio::sync::mpsc::channel::<WriterMsg>(WRITER_QUEUE);
    let writer = spawn_writer(shared, session_id, dto, rx);
    let (outcome, counted) = read_frames(shared, session_id, dto, body, cancel, activity, &tx).await;
    match outcome {
        Ok(()) => {
            let _ = tx.send(WriterMsg::Finish).await;
            drop(tx);
        }
        Err(e) => {
            drop(tx); // the writer sees the channel close and drops (removes) the temporary file
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

/// Bytes of one body: read so far, and told to the handler so far.
struct BodyCount {
    received: u64,
    reported: u64,
}

fn progress_event(session_id: &str, dto: &FileDto, received: u64) -> ReceiveEvent {
    ReceiveEvent::FileProgress { session_id: session_id.to_string(), file_id: dto.id.clone(), received, size: dto.size }
}

/// Starts the blocking writer of one file: it opens the sink, writes and hashes what comes through
/// `rx`, checks size and checksum, and commits the file.
fn spawn_writer(
    shared: &Shared,
    session_id: &str,
    dto: &FileDto,
    rx: tokio::sync::mpsc::Receiver<WriterMsg>,
) -> tokio::task::JoinHandle<std::result::Result<Option<PathBuf>, UploadFailure>> {
    let receive_dir = shared.opts.receive_dir.clone();
    let (handler, sid, offered) = (shared.handler.clone(), session_id.to_string(), dto.clone());
    let expected = if shared.opts.verify_checksums { dto.checksum() } else { None };
    let modified = dto.metadata.as_ref().and_then(|m| m.modified.as_deref()).and_then(parse_time);
    let accessed = dto.metadata.as_ref().and_then(|m| m.accessed.as_deref()).and_then(parse_time);
    tokio::task::spawn_blocking(move || -> std::result::Result<Option<PathBuf>, UploadFailure> {
        let declared = offered.size;
        let name = offered.file_name.clone();
        let sink = match handler.open_destination(&sid, &offered).map_err(UploadFailure::Io)? {
            Some(file) => Sink::App(AppFile::new(file, handler, sid, offered.id).map_err(UploadFailure::Io)?),
            None => Sink::Part(receive_dir.begin_file(&name).map_err(UploadFailure::Io)?),
        };
        let sink = write_stream(sink, rx, declared, expected)?;
        sink.commit(modified, accessed).map_err(UploadFailure::Io)
    })
}

/// Writes what comes through `rx` into `sink` until [`WriterMsg::Finish`], hashing it when a
/// checksum is `expected`; the sink is returned when size and checksum match.
fn write_stream(
    mut sink: Sink,
    mut rx: tokio::sync::mpsc::Receiver<WriterMsg>,
    declared: u64,
    expected: Option<String>,
) -> std::result::Result<Sink, UploadFailure> {
    let mut hasher = expected.as_ref().map(|_| Sha256::new());
    let mut written = 0u64;
    let mut msgs: Vec<WriterMsg> = Vec::with_capacity(WRITER_QUEUE);
    let mut batch: Vec<Bytes> = Vec::with_capacity(WRITER_QUEUE);
    let mut finished = false;
    while !finished {
        // Everything that is waiting goes out in one vectored write.
        if rx.blocking_recv_many(&mut msgs, WRITER_QUEUE) == 0 {
            return Err(UploadFailure::Aborted);
        }
        for m in msgs.drain(..) {
            match m {
                WriterMsg::Data(chunk) => batch.push(chunk),
                WriterMsg::Finish => finished = true,
            }
        }
        if let Some(h) = hasher.as_mut() {
            batch.iter().for_each(|c| h.update(c));
        }
        written += batch.iter().map(|c| c.len() as u64).sum::<u64>();
        write_all_vectored(sink.file(), &batch).map_err(|e| UploadFailure::Io(Error::io("cannot write received file", e)))?;
        batch.clear();
    }
    if written != declared {
        return Err(UploadFailure::Size { received: written, declared });
    }
    if let (Some(h), Some(want)) = (hasher, expected) {
        if hex::encode(h.finalize()) != want {
            return Err(UploadFailure::Checksum);
        }
    }
    Ok(sink)
}

/// How long the body of an upload that the receiver cancelled is still read.
const CANCEL_DRAIN: std::time::Duration = std::time::Duration::from_millis(400);

/// Reads and drops what `body` brings for up to `time`.
async fn drain(mut body: Incoming, time: std::time::Duration) {
    let _ = tokio::time::timeout(time, async { while let Some(Ok(_)) = body.frame().await {} }).await;
}

/// Reads the body's frames and passes them to the writer, failing on cancel, a stall, a broken
/// body or more bytes than declared; reports progress every [`PROGRESS_STEP`].
async fn read_frames(
    shared: &Shared,
    session_id: &str,
    dto: &FileDto,
    mut body: Incoming,
    cancel: &CancellationToken,
    activity: &AtomicU64,
    tx: &tokio::sync::mpsc::Sender<WriterMsg>,
) -> (std::result::Result<(), UploadFailure>, BodyCount) {
    let declared = dto.size;
    let mut count = BodyCount { received: 0, reported: 0 };
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
            f = tokio::time::timeout_at(window_end, body.frame()) => match f {
                Ok(f) => f,
                Err(_) if in_window < min_progress => break Err(UploadFailure::Stalled),
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
                let Ok(data) = frame.into_data() else { continue };
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
                if tx.send(WriterMsg::Data(data)).await.is_err() {
                    break Ok(()); // the writer failed; its error is reported below
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
    result: std::result::Result<Option<PathBuf>, UploadFailure>,
) -> Resp {
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
            f.tries += 1;
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
