//! `prepare-upload`: checks, parsing the file list, asking the handler and opening the session.

use super::*;

/// Clears the pending session `id` if the prepare-upload request that opened it goes away.
pub(super) struct PendingGuard<'a> {
    pub(super) shared: &'a Shared,
    pub(super) id: String,
    pub(super) armed: bool,
    /// The handler was asked about it (and is told when it closes unanswered).
    pub(super) asked: bool,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            {
                let mut guard = self.shared.session.lock().unwrap();
                if guard.as_ref().is_some_and(|s| s.id == self.id && s.phase == Phase::Pending) {
                    *guard = None;
                }
            }
            if self.asked {
                self.shared.handler.on_event(ReceiveEvent::RequestClosed { session_id: std::mem::take(&mut self.id) });
            }
        }
    }
}

pub(super) async fn prepare_upload(shared: &Arc<Shared>, ip: IpAddr, peer_fp: Option<&str>, req: Request<Incoming>) -> Resp {
    let trusted_cert = peer_fp.is_some_and(|fp| shared.opts.trust.is_trusted(fp));
    if let Some(r) = check_pin(shared, ip, trusted_cert, req.uri().query()) {
        return r;
    }
    if let Some(r) = refuse_unread(shared, ip, peer_fp, trusted_cert) {
        return r;
    }
    if blocked(shared, trusted_cert, peer_fp) {
        return message(StatusCode::CONFLICT, "Blocked by another session");
    }
    // Parsed as it arrives, every file counted against the file-list budget; the hold goes with
    // the session (or the refusal).
    let (body, list_hold) = match read_file_list(shared, req, ip, trusted_cert).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    if blocked(shared, trusted_cert, peer_fp) {
        return message(StatusCode::CONFLICT, "Blocked by another session");
    }
    if let Err(r) = check_counts(&body, shared.limits.max_files_per_request) {
        return r;
    }
    let sender = sender_of(shared, &body, peer_fp, ip);
    // Resume is only for a verified sender (its certificate) that speaks it: nobody else may
    // continue a partial file.
    let resume = sender.verified && shared.opts.https && body.info.ferry_has(FEATURE_RESUME);

    // A text message is shown and answered 204; it never opens a session.
    if body.files.len() == 1 && body.files[0].is_text_message() {
        return answer_text(shared, ip, sender, &body.files[0]);
    }

    let mut files = body.files;
    let empty_dirs = body.ferry.map(|f| f.empty_dirs).unwrap_or_default();
    if let Err(r) = check_files(&files, &empty_dirs) {
        return r;
    }
    // In place: a merge sort would take half the list again.
    files.sort_unstable_by(|a, b| a.file_name.cmp(&b.file_name));
    let files = Arc::new(files);

    let id = random_id();
    let cancel = CancellationToken::new();
    if let Err(r) = open_pending(shared, &id, &sender, trusted_cert, peer_fp, resume, &cancel) {
        return r;
    }
    let mut pending = PendingGuard { shared, id: id.clone(), armed: true, asked: false };

    let decision = match decide(shared, &mut pending, &sender, &files, &empty_dirs, &cancel).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let accepted: Arc<Vec<FileDto>> = match &decision {
        Decision::AcceptAll => files,
        Decision::Accept(ids) => Arc::new(files.iter().filter(|f| ids.contains(&f.id)).cloned().collect()),
        Decision::Decline => {
            // The guard clears the pending session.
            shared.handler.on_event(ReceiveEvent::Declined { sender });
            return message(StatusCode::FORBIDDEN, "Declined");
        }
    };
    let (accepted, skipped, offers) = match look_at_disk(shared, accepted, resume.then_some(sender.fingerprint.as_str()), &cancel).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    if !skipped.is_empty() {
        shared.handler.on_event(ReceiveEvent::FilesSkipped { session_id: id.clone(), file_ids: skipped });
    }
    // A folder the destination already has arrives beside it as `name (2)/`, never merged into it; not when the
    // receiver skips what it has, nor when this request continues an interrupted transfer (it goes where that went).
    let (accepted, empty_dirs) = if shared.opts.receive_dir.skip_existing() || !offers.is_empty() {
        (accepted, empty_dirs)
    } else {
        fresh_folders(shared, accepted, empty_dirs)
    };
    // Empty folders come with an accepted request.
    let made = create_empty_dirs(shared, &empty_dirs);
    if accepted.is_empty() {
        if !made.is_empty() {
            shared.handler.on_event(ReceiveEvent::FoldersCreated { session_id: id.clone(), paths: made });
        }
        return empty(StatusCode::NO_CONTENT);
    }
    let tokens = match activate(shared, &mut pending, &accepted, list_hold) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let out = accept_answer(&id, &accepted, tokens, &offers);
    shared.handler.on_event(ReceiveEvent::SessionStarted { session_id: id.clone(), sender, files: accepted });
    if !made.is_empty() {
        shared.handler.on_event(ReceiveEvent::FoldersCreated { session_id: id.clone(), paths: made });
    }
    json_bytes(StatusCode::OK, out)
}

/// A receiver that takes only trusted devices (or nobody) does not read a stranger's body:
/// whatever it holds, files or a text, it would be declined. `Some` is that answer.
fn refuse_unread(shared: &Shared, ip: IpAddr, peer_fp: Option<&str>, trusted_cert: bool) -> Option<Resp> {
    let refuse = match shared.opts.policy {
        ReceivePolicy::DeclineAll => true,
        ReceivePolicy::TrustedOnly => !trusted_cert,
        _ => false,
    };
    if !refuse {
        return None;
    }
    let sender = SenderInfo {
        alias: String::new(),
        device_model: None,
        device_type: DeviceType::Desktop,
        fingerprint: peer_fp.unwrap_or_default().to_string(),
        verified: peer_fp.is_some(),
        trusted: trusted_cert,
        ip,
    };
    shared.handler.on_event(ReceiveEvent::Declined { sender });
    Some(message(StatusCode::FORBIDDEN, "Declined"))
}

/// At least one item, and one budget for files and folders, checked before anything is created
/// or anyone is asked.
fn check_counts(body: &IncomingPrepare, max_items: usize) -> std::result::Result<(), Resp> {
    let dir_count = body.ferry.as_ref().map_or(0, |f| f.empty_dirs.len());
    if body.files.is_empty() && dir_count == 0 {
        return Err(message(StatusCode::BAD_REQUEST, "Request must contain at least one file"));
    }
    if dir_count > MAX_EMPTY_DIRS || body.files.len() + dir_count > max_items {
        return Err(message(StatusCode::BAD_REQUEST, "Too many files and folders in one request"));
    }
    Ok(())
}

/// Who sent the request: the certificate's fingerprint when the connection has one (verified),
/// else what the body claims.
fn sender_of(shared: &Shared, body: &IncomingPrepare, peer_fp: Option<&str>, ip: IpAddr) -> SenderInfo {
    let (fingerprint, verified) = match peer_fp {
        Some(fp) => (fp.to_string(), true),
        None => (body.info.fingerprint.clone(), false),
    };
    let trusted = verified && shared.opts.trust.is_trusted(&fingerprint);
    SenderInfo {
        alias: body.info.alias.chars().take(128).collect(),
        device_model: body.info.device_model.clone().map(|m| m.chars().take(128).collect()),
        device_type: body.info.device_type_or_default(),
        fingerprint,
        verified,
        trusted,
        ip,
    }
}

/// Shows a text message (or declines it) and answers.
fn answer_text(shared: &Shared, ip: IpAddr, sender: SenderInfo, file: &FileDto) -> Resp {
    let refuse = match shared.opts.policy {
        ReceivePolicy::DeclineAll => true,
        ReceivePolicy::TrustedOnly => !sender.trusted,
        _ => false,
    };
    if refuse {
        shared.handler.on_event(ReceiveEvent::Declined { sender });
        return message(StatusCode::FORBIDDEN, "Declined");
    }
    let text = file.preview.as_deref().unwrap_or("");
    if text.len() > MAX_TEXT_BYTES {
        return message(StatusCode::PAYLOAD_TOO_LARGE, "Text message too long; send it as a file");
    }
    if !text_allowed(shared, ip) {
        return message(StatusCode::TOO_MANY_REQUESTS, "Too many text messages; try again later");
    }
    shared.handler.on_text(&sender, text);
    empty(StatusCode::NO_CONTENT)
}

/// Names that stay inside the receive folder, one file per id, sizes that add up.
fn check_files(files: &[FileDto], empty_dirs: &[String]) -> std::result::Result<(), Resp> {
    for dto in files {
        sanitize_relative_path(&dto.file_name).map_err(|e| message(StatusCode::BAD_REQUEST, &e.message))?;
    }
    // Ids are the keys of a JSON object: one file per id.
    if index_by_id(files).windows(2).any(|w| files[w[0] as usize].id == files[w[1] as usize].id) {
        return Err(message(StatusCode::BAD_REQUEST, "Duplicate file id"));
    }
    // Sizes are added up for the person asked and for progress: a total that does not fit is a lie.
    if files.iter().try_fold(0u64, |sum, f| sum.checked_add(f.size)).is_none() {
        return Err(message(StatusCode::BAD_REQUEST, "File sizes add up to more than any device holds"));
    }
    for d in empty_dirs {
        sanitize_relative_path(d).map_err(|e| message(StatusCode::BAD_REQUEST, &e.message))?;
    }
    Ok(())
}

/// Opens session `id` as pending, closing a stranger's unanswered request when a trusted device
/// (`trusted_cert`) comes.
fn open_pending(
    shared: &Shared,
    id: &str,
    sender: &SenderInfo,
    trusted_cert: bool,
    peer_fp: Option<&str>,
    resume: bool,
    cancel: &CancellationToken,
) -> std::result::Result<(), Resp> {
    let preempted = {
        let mut guard = shared.session.lock().unwrap();
        let preempted = match guard.as_ref() {
            None => None,
            Some(s) if preemptible(s, trusted_cert, peer_fp, shared.now_ms()) => guard.take(),
            Some(_) => return Err(message(StatusCode::CONFLICT, "Blocked by another session")),
        };
        *guard = Some(Session {
            id: id.to_string(),
            sender: sender.clone(),
            phase: Phase::Pending,
            files: Arc::new(Vec::new()),
            slots: Vec::new(),
            by_id: Vec::new(),
            saved: 0,
            failed: 0,
            cancel: cancel.clone(),
            last_activity: Arc::new(AtomicU64::new(shared.now_ms())),
            resume,
            discard: Arc::new(AtomicBool::new(false)),
            list_hold: None,
        });
        preempted
    };
    if let Some(old) = preempted {
        // Its own request answers the stranger and tells the handler it closed. A session of the
        // same verified sender ends without removing its partial files: they are resumed now.
        tracing::debug!("a new request from {} goes before the session of {}", sender.ip, old.sender.ip);
        let active = old.phase == Phase::Active;
        old.cancel.cancel();
        if active {
            shared.handler.on_event(ReceiveEvent::SessionFinished { session_id: old.id, outcome: SessionOutcome::CancelledBySender });
        }
    }
    Ok(())
}

/// The decision about a request: by the policy, or by asking the handler (bounded by
/// [`ServerLimits::request_timeout`]).
async fn decide(
    shared: &Shared,
    pending: &mut PendingGuard<'_>,
    sender: &SenderInfo,
    files: &Arc<Vec<FileDto>>,
    empty_dirs: &[String],
    cancel: &CancellationToken,
) -> std::result::Result<Decision, Resp> {
    Ok(match shared.opts.policy {
        ReceivePolicy::DeclineAll => Decision::Decline,
        ReceivePolicy::AcceptAll => Decision::AcceptAll,
        ReceivePolicy::Ask | ReceivePolicy::TrustedOnly if sender.trusted => Decision::AcceptAll,
        ReceivePolicy::TrustedOnly => Decision::Decline,
        ReceivePolicy::Ask | ReceivePolicy::AskAll => {
            let (tx, rx) = oneshot::channel();
            pending.asked = true;
            let request = IncomingRequest {
                session_id: pending.id.clone(),
                sender: sender.clone(),
                files: files.clone(),
                empty_dirs: empty_dirs.to_vec(),
            };
            shared.handler.on_request(request, DecisionReply(tx));
            tokio::select! {
                d = rx => d.unwrap_or(Decision::Decline),
                _ = cancel.cancelled() => return Err(message(StatusCode::FORBIDDEN, "Cancelled")),
                // Nobody answered: declined, and the handler is told that the request closed.
                _ = tokio::time::sleep(shared.limits.request_timeout) => return Err(message(StatusCode::FORBIDDEN, "Not answered in time")),
            }
        }
    })
}

/// The accepted files and empty folders with the transfer's top-level folders that already exist
/// renamed ([`crate::storage::ReceiveDir::fresh_folder_names`]).
fn fresh_folders(shared: &Shared, files: Arc<Vec<FileDto>>, dirs: Vec<String>) -> (Arc<Vec<FileDto>>, Vec<String>) {
    let renamed = shared.opts.receive_dir.fresh_folder_names(files.iter().map(|f| f.file_name.as_str()), &dirs);
    if renamed.is_empty() {
        return (files, dirs);
    }
    let new = |p: &str, is_dir: bool| crate::storage::renamed_path(&renamed, p, is_dir).unwrap_or_else(|| p.to_string());
    // In place when nobody else holds the list (else a copy: an app may still show the request).
    let mut files = files;
    for f in Arc::make_mut(&mut files) {
        f.file_name = new(&f.file_name, false);
    }
    (files, dirs.iter().map(|d| new(d, true)).collect())
}

/// Creates the accepted request's empty folders; returns those made.
fn create_empty_dirs(shared: &Shared, empty_dirs: &[String]) -> Vec<PathBuf> {
    let mut made = Vec::new();
    for d in empty_dirs {
        match shared.opts.receive_dir.create_dir(d) {
            Ok(p) => made.push(p),
            Err(e) => tracing::warn!("cannot create folder {d:?}: {e}"),
        }
    }
    made
}

/// Turns the pending session into an active one with the `accepted` files; returns their tokens.
fn activate(
    shared: &Shared,
    pending: &mut PendingGuard<'_>,
    accepted: &Arc<Vec<FileDto>>,
    list_hold: ListHold,
) -> std::result::Result<Vec<[u8; 16]>, Resp> {
    let slots: Vec<SessionFile> = accepted
        .iter()
        .map(|_| SessionFile { token: random_id_bytes(), state: FileState::Pending, tries: 0, upload_cancel: None, piece: None })
        .collect();
    let tokens: Vec<[u8; 16]> = slots.iter().map(|s| s.token).collect();
    let by_id = index_by_id(accepted);
    let mut guard = shared.session.lock().unwrap();
    let Some(session) = guard.as_mut().filter(|s| s.id == pending.id && s.phase == Phase::Pending) else {
        return Err(message(StatusCode::FORBIDDEN, "Cancelled"));
    };
    session.files = accepted.clone();
    session.slots = slots;
    session.by_id = by_id;
    session.list_hold = Some(list_hold);
    session.phase = Phase::Active;
    session.last_activity.store(shared.now_ms(), Ordering::Relaxed);
    pending.armed = false;
    Ok(tokens)
}

/// The answer to an accepted request, written straight from the lists (no map of every id and token).
fn accept_answer(id: &str, accepted: &[FileDto], tokens: Vec<[u8; 16]>, offers: &[(String, ResumeOffer)]) -> Bytes {
    let mut out = Vec::with_capacity(64 + accepted.len() * 84);
    out.extend_from_slice(b"{\"sessionId\":");
    serde_json::to_writer(&mut out, id).expect("serialisable");
    out.extend_from_slice(b",\"files\":{");
    for (i, (dto, token)) in accepted.iter().zip(&tokens).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, &dto.id).expect("serialisable");
        out.push(b':');
        serde_json::to_writer(&mut out, &format_id(*token)).expect("serialisable");
    }
    out.push(b'}');
    if !offers.is_empty() {
        // Only to a verified Ferry sender that asked for `resume`.
        out.extend_from_slice(b",\"ferry\":{\"resume\":{");
        for (i, (file_id, offer)) in offers.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            serde_json::to_writer(&mut out, file_id).expect("serialisable");
            out.push(b':');
            serde_json::to_writer(&mut out, offer).expect("serialisable");
        }
        out.extend_from_slice(b"}}");
    }
    out.push(b'}');
    Bytes::from(out)
}

/// What accepted files the receive folder has already: with skip-existing, the files it holds
/// whole are left out (returned as skipped ids); for a verified Ferry sender (`resume_fp`), what
/// it holds of the others from an interrupted upload is offered for resuming. Off the async
/// threads (it may hash), and bounded: each existing file is hashed at most once, at most
/// [`MAX_HASHED_PER_REQUEST`] bytes are hashed, and it stops when the session is cancelled or after
/// [`MAX_HASHING_TIME`] (what is not looked at is neither skipped nor offered).
async fn look_at_disk(
    shared: &Shared,
    accepted: Arc<Vec<FileDto>>,
    resume_fp: Option<&str>,
    cancel: &CancellationToken,
) -> std::result::Result<(Arc<Vec<FileDto>>, Vec<String>, Vec<(String, ResumeOffer)>), Resp> {
    let dir = shared.opts.receive_dir.clone();
    let skip = dir.skip_existing();
    if !skip && resume_fp.is_none() {
        return Ok((accepted, Vec::new(), Vec::new()));
    }
    let resume_fp = resume_fp.map(str::to_string);
    let cancel = cancel.clone();
    let looked = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + MAX_HASHING_TIME;
        let stop = move || cancel.is_cancelled() || std::time::Instant::now() >= deadline;
        let mut budget = HashBudget::new(MAX_HASHED_PER_REQUEST, &stop);
        // Files left out, by index: the list itself is copied only when some are (it may hold 100,000).
        let mut left_out = vec![false; accepted.len()];
        let mut skipped = Vec::new();
        let mut offers = Vec::new();
        for (i, dto) in accepted.iter().enumerate() {
            if (budget.stop)() {
                break;
            }
            let modified = dto.metadata.as_ref().and_then(|m| m.modified.as_deref()).and_then(parse_time);
            if skip && dir.has_same_within(&dto.file_name, dto.size, modified, dto.checksum().as_deref(), &mut budget) {
                skipped.push(dto.id.clone());
                left_out[i] = true;
                continue;
            }
            if let Some(fp) = &resume_fp {
                let held = ResumeRecord::for_file(fp, dto).and_then(|rec| dir.held(&dto.file_name, &rec, Some(&mut budget)));
                if let Some((offset, sha256)) = held {
                    offers.push((dto.id.clone(), ResumeOffer { offset, sha256 }));
                }
            }
        }
        // This request continues an interrupted transfer of the same verified sender (it holds a
        // kept part of one of its files): the files that transfer already saved whole (same path,
        // size and modified time, and checksum when given) are not sent again, so running the same
        // send again moves only what is missing, and no `name (2)` copies appear.
        if !skip && !offers.is_empty() {
            let offered: HashSet<&str> = offers.iter().map(|(id, _)| id.as_str()).collect();
            for (i, dto) in accepted.iter().enumerate() {
                if offered.contains(dto.id.as_str()) || (budget.stop)() {
                    continue;
                }
                let modified = dto.metadata.as_ref().and_then(|m| m.modified.as_deref()).and_then(parse_time);
                let have =
                    modified.is_some() && dir.has_same_within(&dto.file_name, dto.size, modified, dto.checksum().as_deref(), &mut budget);
                if have {
                    skipped.push(dto.id.clone());
                    left_out[i] = true;
                }
            }
        }
        let kept = || accepted.iter().zip(&left_out).filter(|(_, out)| !**out).map(|(dto, _)| dto.clone()).collect::<Vec<_>>();
        let accepted = if skipped.is_empty() { accepted } else { Arc::new(kept()) };
        (accepted, skipped, offers)
    })
    .await;
    looked.map_err(|_| message(StatusCode::INTERNAL_SERVER_ERROR, "Looking at the receive folder failed"))
}

/// A session is there and a request from a sender (`trusted`: by its certificate) cannot go
/// before it.
pub(super) fn blocked(shared: &Shared, trusted: bool, peer_fp: Option<&str>) -> bool {
    shared.session.lock().unwrap().as_ref().is_some_and(|s| !preemptible(s, trusted, peer_fp, shared.now_ms()))
}

/// A trusted device goes before a stranger's request that nobody answered yet; a verified sender
/// (`peer_fp`) goes before its own earlier request that is not answered yet, or session that is
/// stalled (it sends again after an interruption the receiver may not have noticed yet), but not
/// before one whose uploads still make progress: two sends at once from one device do not end
/// each other (the second gets `409`).
pub(super) fn preemptible(s: &Session, trusted: bool, peer_fp: Option<&str>, now_ms: u64) -> bool {
    (trusted && s.phase == Phase::Pending && !s.sender.trusted)
        || (s.same_sender(peer_fp) && (s.phase == Phase::Pending || s.stalled(now_ms)))
}

/// Indexes of `files` sorted by file id.
pub(super) fn index_by_id(files: &[FileDto]) -> Vec<u32> {
    let mut by_id: Vec<u32> = (0..files.len() as u32).collect();
    by_id.sort_unstable_by(|&a, &b| files[a as usize].id.cmp(&files[b as usize].id));
    by_id
}
