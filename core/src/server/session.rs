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
}

impl Session {
    pub(super) fn all_ended(&self) -> bool {
        self.saved + self.failed == self.files.len()
    }
    /// The index of file `id`.
    pub(super) fn find(&self, id: &str) -> Option<usize> {
        self.by_id.binary_search_by(|&i| self.files[i as usize].id.as_str().cmp(id)).ok().map(|k| self.by_id[k] as usize)
    }
}

/// Ends the session (`id`, or whichever is current) with `outcome`. Returns whether one ended.
pub(super) fn end_session(shared: &Shared, id: Option<&str>, outcome: SessionOutcome) -> bool {
    let session = {
        let mut guard = shared.session.lock().unwrap();
        match guard.as_ref() {
            Some(s) if id.is_none_or(|id| s.id == id) => guard.take(),
            _ => None,
        }
    };
    match session {
        Some(s) => {
            s.cancel.cancel();
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

pub(super) fn cancel(shared: &Arc<Shared>, ip: IpAddr, req: Request<Incoming>) -> Resp {
    let session_id = query_param(req.uri().query(), "sessionId");
    let target = {
        let guard = shared.session.lock().unwrap();
        match guard.as_ref() {
            None => return empty(StatusCode::OK),
            Some(s) if s.sender.ip != ip => return message(StatusCode::FORBIDDEN, "Not the sender of this session"),
            // Without a session id (a pending request, or older senders) the IP decides.
            Some(s) => match &session_id {
                Some(sid) if *sid != s.id => return message(StatusCode::FORBIDDEN, "Invalid session id"),
                _ => s.id.clone(),
            },
        }
    };
    end_session(shared, Some(&target), SessionOutcome::CancelledBySender);
    empty(StatusCode::OK)
}
