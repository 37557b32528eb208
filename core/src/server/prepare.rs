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
    // A receiver that takes only trusted devices (or nobody) does not read a stranger's body:
    // whatever it holds, files or a text, it would be declined.
    let refuse_unread = match shared.opts.policy {
        ReceivePolicy::DeclineAll => true,
        ReceivePolicy::TrustedOnly => !trusted_cert,
        _ => false,
    };
    if refuse_unread {
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
        return message(StatusCode::FORBIDDEN, "Declined");
    }
    if blocked(shared, trusted_cert) {
        return message(StatusCode::CONFLICT, "Blocked by another session");
    }
    let (chunks, budget) = match read_body(shared, req, ip, trusted_cert, MAX_JSON_BODY, shared.limits.large_body_timeout).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    // One file list at a time: parsed under the lock, which is held until the session exists.
    let Ok(parse_guard) = tokio::time::timeout(shared.limits.large_body_timeout, shared.parse_lock.lock()).await else {
        return message(StatusCode::SERVICE_UNAVAILABLE, "Busy; try again later");
    };
    if blocked(shared, trusted_cert) {
        return message(StatusCode::CONFLICT, "Blocked by another session");
    }
    // Parsing stops at the caps of `protocol` (files, folders, memory), off the async threads.
    let parsed = tokio::task::spawn_blocking(move || parse_chunks::<IncomingPrepare>(chunks)).await;
    drop(budget);
    let body = match parsed {
        Ok(Ok(b)) => b,
        Ok(Err(r)) => return r,
        Err(_) => return message(StatusCode::INTERNAL_SERVER_ERROR, "Parsing failed"),
    };
    let dir_count = body.ferry.as_ref().map_or(0, |f| f.empty_dirs.len());
    if body.files.is_empty() && dir_count == 0 {
        return message(StatusCode::BAD_REQUEST, "Request must contain at least one file");
    }
    // One budget for files and folders, checked before anything is created or anyone is asked.
    if dir_count > MAX_EMPTY_DIRS || body.files.len() + dir_count > MAX_ITEMS_PER_REQUEST {
        return message(StatusCode::BAD_REQUEST, "Too many files and folders in one request");
    }
    let (fingerprint, verified) = match peer_fp {
        Some(fp) => (fp.to_string(), true),
        None => (body.info.fingerprint.clone(), false),
    };
    let trusted = verified && shared.opts.trust.is_trusted(&fingerprint);
    let sender = SenderInfo {
        alias: body.info.alias.chars().take(128).collect(),
        device_model: body.info.device_model.clone().map(|m| m.chars().take(128).collect()),
        device_type: body.info.device_type_or_default(),
        fingerprint,
        verified,
        trusted,
        ip,
    };

    // A text message is shown and answered 204; it never opens a session.
    if body.files.len() == 1 {
        let file = &body.files[0];
        if file.is_text_message() {
            let refuse = match shared.opts.policy {
                ReceivePolicy::DeclineAll => true,
                ReceivePolicy::TrustedOnly => !trusted,
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
            return empty(StatusCode::NO_CONTENT);
        }
    }

    let mut files = body.files;
    for dto in &files {
        if let Err(e) = sanitize_relative_path(&dto.file_name) {
            return message(StatusCode::BAD_REQUEST, &e.message);
        }
    }
    // Ids are the keys of a JSON object: one file per id.
    if index_by_id(&files).windows(2).any(|w| files[w[0] as usize].id == files[w[1] as usize].id) {
        return message(StatusCode::BAD_REQUEST, "Duplicate file id");
    }
    // Sizes are added up for the person asked and for progress: a total that does not fit is a lie.
    if files.iter().try_fold(0u64, |sum, f| sum.checked_add(f.size)).is_none() {
        return message(StatusCode::BAD_REQUEST, "File sizes add up to more than any device holds");
    }
    files.sort_by(|a, b| a.file_name.cmp(&b.file_name));
    let files = Arc::new(files);
    let empty_dirs = body.ferry.map(|f| f.empty_dirs).unwrap_or_default();
    for d in &empty_dirs {
        if let Err(e) = sanitize_relative_path(d) {
            return message(StatusCode::BAD_REQUEST, &e.message);
        }
    }

    let id = random_id();
    let cancel = CancellationToken::new();
    let preempted = {
        let mut guard = shared.session.lock().unwrap();
        let preempted = match guard.as_ref() {
            None => None,
            Some(s) if preemptible(s, trusted_cert) => guard.take(),
            Some(_) => return message(StatusCode::CONFLICT, "Blocked by another session"),
        };
        *guard = Some(Session {
            id: id.clone(),
            sender: sender.clone(),
            phase: Phase::Pending,
            files: Arc::new(Vec::new()),
            slots: Vec::new(),
            by_id: Vec::new(),
            saved: 0,
            failed: 0,
            cancel: cancel.clone(),
            last_activity: Arc::new(AtomicU64::new(shared.now_ms())),
        });
        preempted
    };
    if let Some(old) = preempted {
        // Its own request answers the stranger and tells the handler it closed.
        tracing::debug!("a trusted device goes before the unanswered request from {}", old.sender.ip);
        old.cancel.cancel();
    }
    drop(parse_guard);
    let mut pending = PendingGuard { shared, id: id.clone(), armed: true, asked: false };

    let decision = match shared.opts.policy {
        ReceivePolicy::DeclineAll => Decision::Decline,
        ReceivePolicy::AcceptAll => Decision::AcceptAll,
        ReceivePolicy::Ask | ReceivePolicy::TrustedOnly if trusted => Decision::AcceptAll,
        ReceivePolicy::TrustedOnly => Decision::Decline,
        ReceivePolicy::Ask | ReceivePolicy::AskAll => {
            let (tx, rx) = oneshot::channel();
            pending.asked = true;
            let request = IncomingRequest { session_id: id.clone(), sender: sender.clone(), files: files.clone(), empty_dirs: empty_dirs.clone() };
            shared.handler.on_request(request, DecisionReply(tx));
            tokio::select! {
                d = rx => d.unwrap_or(Decision::Decline),
                _ = cancel.cancelled() => return message(StatusCode::FORBIDDEN, "Cancelled"),
                // Nobody answered: declined, and the handler is told that the request closed.
                _ = tokio::time::sleep(shared.limits.request_timeout) => return message(StatusCode::FORBIDDEN, "Not answered in time"),
            }
        }
    };
    let accepted: Arc<Vec<FileDto>> = match &decision {
        Decision::AcceptAll => files,
        Decision::Accept(ids) => Arc::new(files.iter().filter(|f| ids.contains(&f.id)).cloned().collect()),
        Decision::Decline => Arc::new(Vec::new()),
    };
    if decision == Decision::Decline {
        // The guard clears the pending session.
        shared.handler.on_event(ReceiveEvent::Declined { sender });
        return message(StatusCode::FORBIDDEN, "Declined");
    }
    // Empty folders come with an accepted request.
    let mut made = Vec::new();
    for d in &empty_dirs {
        match shared.opts.receive_dir.create_dir(d) {
            Ok(p) => made.push(p),
            Err(e) => tracing::warn!("cannot create folder {d:?}: {e}"),
        }
    }
    if accepted.is_empty() {
        if !made.is_empty() {
            shared.handler.on_event(ReceiveEvent::FoldersCreated { session_id: id.clone(), paths: made });
        }
        return empty(StatusCode::NO_CONTENT);
    }
    let slots: Vec<SessionFile> = accepted.iter().map(|_| SessionFile { token: random_id_bytes(), state: FileState::Pending, tries: 0 }).collect();
    let tokens: Vec<[u8; 16]> = slots.iter().map(|s| s.token).collect();
    let by_id = index_by_id(&accepted);
    {
        let mut guard = shared.session.lock().unwrap();
        let Some(session) = guard.as_mut().filter(|s| s.id == id && s.phase == Phase::Pending) else {
            return message(StatusCode::FORBIDDEN, "Cancelled");
        };
        session.files = accepted.clone();
        session.slots = slots;
        session.by_id = by_id;
        session.phase = Phase::Active;
        session.last_activity.store(shared.now_ms(), Ordering::Relaxed);
        pending.armed = false;
    }
    // The answer is written straight from the lists (no map of every id and token).
    let mut out = Vec::with_capacity(64 + accepted.len() * 84);
    out.extend_from_slice(b"{\"sessionId\":");
    serde_json::to_writer(&mut out, &id).expect("serialisable");
    out.extend_from_slice(b",\"files\":{");
    for (i, (dto, token)) in accepted.iter().zip(&tokens).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, &dto.id).expect("serialisable");
        out.push(b':');
        serde_json::to_writer(&mut out, &format_id(*token)).expect("serialisable");
    }
    out.extend_from_slice(b"}}");
    drop(tokens);
    shared.handler.on_event(ReceiveEvent::SessionStarted { session_id: id.clone(), sender, files: accepted });
    if !made.is_empty() {
        shared.handler.on_event(ReceiveEvent::FoldersCreated { session_id: id.clone(), paths: made });
    }
    json_bytes(StatusCode::OK, Bytes::from(out))
}

/// A session is there and a request from a sender (`trusted`: by its certificate) cannot go
/// before it.
pub(super) fn blocked(shared: &Shared, trusted: bool) -> bool {
    shared.session.lock().unwrap().as_ref().is_some_and(|s| !preemptible(s, trusted))
}

/// A trusted device goes before a stranger's request that nobody answered yet.
pub(super) fn preemptible(s: &Session, trusted: bool) -> bool {
    trusted && s.phase == Phase::Pending && !s.sender.trusted
}

/// Indexes of `files` sorted by file id.
pub(super) fn index_by_id(files: &[FileDto]) -> Vec<u32> {
    let mut by_id: Vec<u32> = (0..files.len() as u32).collect();
    by_id.sort_unstable_by(|&a, &b| files[a as usize].id.cmp(&files[b as usize].id));
    by_id
}
