//! The receive session: its files' states, and how it ends (finished, cancelled by the sender).

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FileState {
    Pending,
    Receiving,
    Done,
    Failed,
}

/// The state of one accepted file; `Session::files` holds its description at the same index.
pub(super) struct SessionFile {
    pub(super) token: [u8; 16],
    pub(super) state: FileState,
    pub(super) tries: u8,
    /// Ends the upload receiving this file (when its sender comes back on a new connection).
    pub(super) upload_cancel: Option<CancellationToken>,
    /// A file sent in pieces, between two of them.
    pub(super) piece: Option<Box<HeldPiece>>,
}

#[derive(PartialEq, Eq)]
pub(super) enum Phase {
    Pending,
    Active,
}

pub(super) struct Session {
    pub(super) id: String,
    pub(super) sender: SenderInfo,
    pub(super) phase: Phase,
    /// The accepted files (shared with the event that announced them, never copied).
    pub(super) files: Arc<Vec<FileDto>>,
    pub(super) slots: Vec<SessionFile>,
    /// Indexes into `files`, sorted by file id.
    pub(super) by_id: Vec<u32>,
    /// Files saved and files given up, kept as counts so that ending a file costs the same
    /// however many the session has.
    pub(super) saved: usize,
    pub(super) failed: usize,
    pub(super) cancel: CancellationToken,
    pub(super) last_activity: Arc<AtomicU64>,
    /// The sender is verified and speaks Ferry's `resume`: its interrupted files are kept.
    pub(super) resume: bool,
    /// Set when the session is cancelled (not broken off): its partial files are removed.
    pub(super) discard: Arc<AtomicBool>,
    /// The accepted file list's memory in the file-list budget, given back when the session ends.
    pub(super) list_hold: Option<ListHold>,
}

impl Session {
    pub(super) fn all_ended(&self) -> bool {
        self.saved + self.failed == self.files.len()
    }
    /// The index of file `id`.
    pub(super) fn find(&self, id: &str) -> Option<usize> {
        self.by_id.binary_search_by(|&i| self.files[i as usize].id.as_str().cmp(id)).ok().map(|k| self.by_id[k] as usize)
    }
    /// Whether no upload of this session makes progress: none is running, or none brought
    /// [`ServerLimits::min_progress`] bytes for [`STALLED_AFTER`].
    pub(super) fn stalled(&self, now_ms: u64) -> bool {
        let idle = now_ms.saturating_sub(self.last_activity.load(Ordering::Relaxed));
        idle >= STALLED_AFTER.as_millis() as u64 || !self.slots.iter().any(|f| f.state == FileState::Receiving)
    }
    /// Whether the connection with the certificate `peer_fp` is this session's verified sender.
    pub(super) fn same_sender(&self, peer_fp: Option<&str>) -> bool {
        self.sender.verified && peer_fp.is_some_and(|fp| fp == self.sender.fingerprint)
    }
}

/// How long a session's uploads must bring nothing before its verified sender's new request
/// replaces it.
pub(super) const STALLED_AFTER: Duration = Duration::from_secs(5);

/// Ends the session (`id`, or whichever is current) with `outcome`. Returns whether one ended.
pub(super) fn end_session(shared: &Shared, id: Option<&str>, outcome: SessionOutcome) -> bool {
    // A cancel removes the partial files; a session that ended otherwise keeps them for a resume.
    let discard = matches!(outcome, SessionOutcome::CancelledBySender | SessionOutcome::CancelledByReceiver);
    end_session_with(shared, id, outcome, discard)
}

/// [`end_session`], removing the session's partial files when `discard`.
pub(super) fn end_session_with(shared: &Shared, id: Option<&str>, outcome: SessionOutcome, discard: bool) -> bool {
    let session = {
        let mut guard = shared.session.lock().unwrap();
        match guard.as_ref() {
            Some(s) if id.is_none_or(|id| s.id == id) => guard.take(),
            _ => None,
        }
    };
    match session {
        Some(s) => {
            s.discard.store(discard, Ordering::SeqCst);
            s.cancel.cancel();
            if !discard && s.resume && s.phase == Phase::Active {
                // What the session kept counts against the bounds of kept files at once (off the caller's thread; its
                // uploads end within moments and trim as they keep).
                let dir = shared.opts.receive_dir.clone();
                std::thread::spawn(move || dir.trim_kept());
            }
            if discard && s.resume && s.phase == Phase::Active {
                // An upload that broke just before the cancel kept its file: a cancel removes it.
                let (dir, fp, files) = (shared.opts.receive_dir.clone(), s.sender.fingerprint.clone(), s.files.clone());
                let done: Vec<bool> = s.slots.iter().map(|f| f.state == FileState::Done).collect();
                // Off the caller's thread (it may hold no runtime).
                std::thread::spawn(move || {
                    for (dto, done) in files.iter().zip(done) {
                        if let Some(rec) = ResumeRecord::for_file(&fp, dto).filter(|_| !done) {
                            dir.discard_kept(&dto.file_name, &rec);
                        }
                    }
                });
            }
            if matches!(outcome, SessionOutcome::CancelledByReceiver) {
                *shared.cancelled.lock().unwrap() = Some(s.id.clone());
            }
            if s.phase == Phase::Active {
                shared.handler.on_event(ReceiveEvent::SessionFinished { session_id: s.id, outcome });
            }
            true
        }
        None => false,
    }
}

pub(super) fn cancel(shared: &Arc<Shared>, ip: IpAddr, peer_fp: Option<&str>, req: Request<Incoming>) -> Resp {
    let session_id = query_param(req.uri().query(), "sessionId");
    let (target, owner) = {
        let guard = shared.session.lock().unwrap();
        match guard.as_ref() {
            None => return empty(StatusCode::OK),
            Some(s) if s.sender.ip != ip => return message(StatusCode::FORBIDDEN, "Not the sender of this session"),
            // Without a session id (a pending request, or older senders) the IP decides.
            Some(s) => match &session_id {
                Some(sid) if *sid != s.id => return message(StatusCode::FORBIDDEN, "Invalid session id"),
                _ => (s.id.clone(), !s.resume || s.same_sender(peer_fp)),
            },
        }
    };
    // A Ferry sender that gives up after a break keeps what arrived, for a later resume. Only the
    // verified sender's own connection removes its kept partial files: a cancel from anyone else at
    // its address ends the session but leaves them.
    let keep = query_param(req.uri().query(), "keep").as_deref() == Some("partial") || !owner;
    end_session_with(shared, Some(&target), SessionOutcome::CancelledBySender, !keep);
    empty(StatusCode::OK)
}
