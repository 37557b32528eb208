//! Share via link and receive via link on the server: `prepare-download`, `download` (a file with
//! HTTP ranges, or a folder as a zip written on the fly) and the browser pages (`/`, `/app.js`,
//! `/style.css`, `/web/state`). Everything else goes to [`route`].
//!
//! Bounds: approved browsers ([`MAX_BROWSERS`], forgotten after
//! [`ServerLimits::browser_idle_timeout`] without a request or download), browsers waiting for the
//! owner ([`MAX_PENDING_BROWSERS`], each answered within [`ServerLimits::request_timeout`] and
//! withdrawn when its requests go away), declined browsers ([`MAX_DECLINED`], the oldest forgotten
//! first), all per [`share_key`]; zips being written at once ([`MAX_ZIPS`], one per browser); a
//! download whose reader takes less than [`ServerLimits::min_progress`] in a
//! [`ServerLimits::body_stall_timeout`] ends, and closing the share ends every download. Every
//! answer carries the strict headers ([`route_web`]).

use super::*;
use crate::share::*;
use http_body_util::combinators::BoxBody;
use http_body_util::StreamBody;
use hyper::body::Frame;
use hyper::header::{HeaderValue, ACCEPT_RANGES, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, IF_RANGE, RANGE};
use tokio::sync::{mpsc, watch};

/// Zips being written at once (each holds a blocking thread); more are answered 429.
pub(super) const MAX_ZIPS: usize = 4;
/// A progress event at most every this many bytes of a download.
const DOWNLOAD_PROGRESS_STEP: u64 = 1024 * 1024;
const CHUNK: usize = 64 * 1024;

const INDEX_HTML: &str = include_str!("web/index.html");
const APP_JS: &str = include_str!("web/app.js");
const STYLE_CSS: &str = include_str!("web/style.css");
/// No script but `/app.js`, no style but `/style.css`, nothing from elsewhere, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
                   form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

pub(super) type WebBody = BoxBody<Bytes, std::io::Error>;
pub(super) type WebResp = Response<WebBody>;

/// The open share and whether the receive page is served.
#[derive(Default)]
pub(super) struct WebState {
    pub(super) share: Option<Arc<ActiveShare>>,
    pub(super) receive_page: bool,
}

enum Item {
    File(usize),
    Folder(usize),
}

/// Browsers of a share, each keyed by [`share_key`] of its address (IPv4: the address, IPv6: its
/// /64), so one device holds at most one entry of each table.
#[derive(Default)]
struct Browsers {
    /// Approved browsers.
    approved: HashMap<IpAddr, Approval>,
    /// Browsers waiting for the owner.
    pending: HashMap<IpAddr, Pending>,
    declined: HashMap<IpAddr, Instant>,
    /// Numbers the questions, so that an ended one never touches a newer one of the same browser.
    asked: u64,
}

/// An approved browser: its session, when it last made a request and its running downloads.
struct Approval {
    session: String,
    last: Instant,
    downloads: usize,
}

impl Approval {
    fn new() -> Approval {
        Approval { session: random_id(), last: Instant::now(), downloads: 0 }
    }
    fn idle(&self, limit: Duration) -> bool {
        self.downloads == 0 && self.last.elapsed() >= limit
    }
}

impl Browsers {
    /// The approval of `key` unless it went idle (then it is forgotten); marks it used.
    fn approval(&mut self, key: IpAddr, idle: Duration) -> Option<&mut Approval> {
        if self.approved.get(&key).is_some_and(|a| a.idle(idle)) {
            self.approved.remove(&key);
        }
        let a = self.approved.get_mut(&key)?;
        a.last = Instant::now();
        Some(a)
    }
    /// Whether another browser may be approved (idle ones are forgotten first).
    fn room(&mut self, idle: Duration) -> bool {
        if self.approved.len() >= MAX_BROWSERS {
            self.approved.retain(|_, a| !a.idle(idle));
        }
        self.approved.len() < MAX_BROWSERS
    }
}

/// A question to the owner that requests are waiting on.
struct Pending {
    /// Turns `Some(approved)` when answered.
    rx: watch::Receiver<Option<bool>>,
    /// Requests waiting on it; when the last one goes away (its connection closed) the question is
    /// withdrawn, so browsers that asked and hung up hold no place.
    waiters: usize,
    number: u64,
    withdraw: CancellationToken,
}

/// One request waiting on a [`Pending`] question; dropping it (the request ended, or its
/// connection closed and the server dropped it) counts the waiter out.
struct Waiting {
    share: Arc<ActiveShare>,
    key: IpAddr,
    number: u64,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let mut b = self.share.browsers.lock().unwrap();
        if let Some(p) = b.pending.get_mut(&self.key).filter(|p| p.number == self.number) {
            p.waiters -= 1;
            if p.waiters == 0 {
                p.withdraw.cancel();
                b.pending.remove(&self.key);
            }
        }
    }
}

/// An open share, as the server holds it.
pub(super) struct ActiveShare {
    list: ShareList,
    /// The file list of prepare-download answers, serialised once.
    listing: Bytes,
    opts: ShareOptions,
    listener: Arc<dyn ShareListener>,
    ids: HashMap<String, Item>,
    browsers: Mutex<Browsers>,
    pin: Mutex<PinState>,
    zips: Arc<tokio::sync::Semaphore>,
    /// Browsers (see [`share_key`]) with a zip being written: one each.
    zipping: Mutex<HashSet<IpAddr>>,
    stop: CancellationToken,
}

impl Shared {
    /// The info/register answer: `download: true` while a share is open.
    pub(super) fn info_bytes(&self) -> Bytes {
        if self.web.lock().unwrap().share.is_some() {
            self.info_json_download.clone()
        } else {
            self.info_json.clone()
        }
    }
    fn share(&self) -> Option<Arc<ActiveShare>> {
        self.web.lock().unwrap().share.clone()
    }
}

impl ServerHandle {
    /// Opens a share of `list` (closing any open one): browsers may now download it. An empty
    /// PIN is refused.
    pub fn open_share(&self, list: ShareList, opts: ShareOptions, listener: Arc<dyn ShareListener>) -> Result<()> {
        if opts.pin.as_deref() == Some("") {
            return Err(Error::invalid("the PIN must not be empty"));
        }
        let mut ids = HashMap::new();
        for (i, f) in list.files.iter().enumerate() {
            ids.insert(f.id.clone(), Item::File(i));
        }
        for (i, f) in list.folders.iter().enumerate() {
            ids.insert(f.id.clone(), Item::Folder(i));
        }
        let share = Arc::new(ActiveShare {
            listing: listing_json(&list),
            list,
            opts,
            listener,
            ids,
            browsers: Mutex::new(Browsers::default()),
            pin: Mutex::new(PinState::default()),
            zips: Arc::new(tokio::sync::Semaphore::new(MAX_ZIPS)),
            zipping: Mutex::new(HashSet::new()),
            stop: CancellationToken::new(),
        });
        if let Some(old) = self.shared.web.lock().unwrap().share.replace(share) {
            old.stop.cancel();
        }
        Ok(())
    }

    /// Closes the share: its sessions end, running downloads stop, waiting browsers are
    /// declined. Returns whether one was open.
    pub fn close_share(&self) -> bool {
        let old = self.shared.web.lock().unwrap().share.take();
        if let Some(s) = &old {
            s.stop.cancel();
        }
        old.is_some()
    }

    /// True while a share is open.
    pub fn sharing(&self) -> bool {
        self.shared.web.lock().unwrap().share.is_some()
    }

    /// Serves the receive page at `/` (when no share is open) for browsers to upload with.
    pub fn set_receive_page(&self, on: bool) {
        self.shared.web.lock().unwrap().receive_page = on;
    }
}

fn full(r: Resp) -> WebResp {
    r.map(|b| b.map_err(|never| match never {}).boxed())
}

fn web_message(status: StatusCode, msg: &str) -> WebResp {
    full(message(status, msg))
}

/// Every answer of the server, pages, downloads, errors and the LocalSend API alike, carries
/// the strict policy: no script or style but the page's own, no sniffing, no framing, no
/// referrer, nothing cached.
pub(super) async fn route_web(shared: Arc<Shared>, ip: IpAddr, scope: u32, peer_fp: Option<&str>, req: Request<Incoming>) -> WebResp {
    let mut r = answer_web(shared, ip, scope, peer_fp, req).await;
    let h = r.headers_mut();
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

async fn answer_web(shared: Arc<Shared>, ip: IpAddr, scope: u32, peer_fp: Option<&str>, req: Request<Incoming>) -> WebResp {
    let path = req.uri().path();
    let api = path.strip_prefix(crate::protocol::API_PREFIX).map(|p| p.trim_end_matches('/'));
    let web_route = matches!(api, Some("v2/prepare-download" | "v2/download"))
        || matches!(path, "/" | "/index.html" | "/app.js" | "/style.css" | "/web/state");
    if web_route && !host_allowed(req.headers().get(hyper::header::HOST)) {
        // DNS rebinding: a web site whose name now points at this device must not read its pages
        // or its share with the visitor's browser.
        return web_message(StatusCode::FORBIDDEN, "Open this device by its address");
    }
    match (req.method(), api) {
        (&Method::POST, Some("v2/prepare-download")) => return prepare_download(&shared, ip, peer_fp, &req).await,
        (&Method::GET, Some("v2/download")) => return download(&shared, ip, &req).await,
        (_, Some("v2/prepare-download" | "v2/download")) => return web_message(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed"),
        _ => {}
    }
    let page = {
        let web = shared.web.lock().unwrap();
        web.share.is_some() || web.receive_page
    };
    if page && req.method() == Method::GET {
        let asset = match path {
            "/" | "/index.html" => Some((INDEX_HTML, "text/html; charset=utf-8")),
            "/app.js" => Some((APP_JS, "text/javascript; charset=utf-8")),
            "/style.css" => Some((STYLE_CSS, "text/css; charset=utf-8")),
            "/web/state" => None,
            _ => return full(route(shared, ip, scope, peer_fp, req).await),
        };
        let (body, kind) = match asset {
            Some((text, kind)) => (Bytes::from_static(text.as_bytes()), kind),
            None => (Bytes::from(web_state(&shared)), "application/json"),
        };
        let mut r = Response::new(Full::new(body).map_err(|never| match never {}).boxed());
        r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(kind));
        return r;
    }
    full(route(shared, ip, scope, peer_fp, req).await)
}

/// A `Host` a browser sends for this device: an IP address (what the links hold), `localhost`
/// or a `.local` name (mDNS), with or without a port; or none (HTTP/1.0 clients). Any other name
/// is a web site that had its DNS name point here (DNS rebinding).
pub(super) fn host_allowed(host: Option<&HeaderValue>) -> bool {
    let Some(host) = host else { return true };
    let Ok(host) = host.to_str() else { return false };
    let name = if let Some(rest) = host.strip_prefix('[') {
        // [IPv6]:port
        return rest.split(']').next().is_some_and(|ip| ip.split('%').next().is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok()));
    } else {
        host.rsplit_once(':').map_or(host, |(name, port)| if port.bytes().all(|b| b.is_ascii_digit()) { name } else { host })
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name.parse::<std::net::Ipv4Addr>().is_ok() || name == "localhost" || (name.ends_with(".local") && name.len() > ".local".len())
}

/// What the page needs to know: which page, the alias and short fingerprint to show, whether a
/// PIN is asked and whether the connection is encrypted.
fn web_state(shared: &Shared) -> Vec<u8> {
    let (share, receive) = {
        let web = shared.web.lock().unwrap();
        (web.share.clone(), web.receive_page)
    };
    let (mode, pin) = match &share {
        Some(s) => ("share", s.opts.pin.is_some()),
        None if receive => ("receive", shared.opts.pin.is_some()),
        None => ("none", false),
    };
    serde_json::to_vec(&serde_json::json!({
        "mode": mode,
        "alias": shared.opts.info.alias,
        "fingerprint": crate::identity::short_fingerprint(shared.opts.identity.fingerprint()),
        "https": shared.opts.https,
        "pin": pin,
    }))
    .expect("serialisable")
}

async fn prepare_download(shared: &Arc<Shared>, ip: IpAddr, peer_fp: Option<&str>, req: &Request<Incoming>) -> WebResp {
    let Some(share) = shared.share() else {
        return web_message(StatusCode::FORBIDDEN, "Nothing is shared");
    };
    if let Some(pin) = share.opts.pin.as_deref() {
        let trusted = peer_fp.is_some_and(|fp| shared.opts.trust.is_trusted(fp));
        let tell = |e: ReceiveEvent| {
            if let ReceiveEvent::PinFailed { ip, locked_for, .. } = e {
                share.listener.on_event(ShareEvent::PinFailed { ip, locked_for });
            }
        };
        if let Some(r) = check_pin_of(&shared.limits, &share.pin, pin, ip, trusted, req.uri().query(), tell) {
            return full(r);
        }
    }
    let agent = req.headers().get(hyper::header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("").chars().take(200).collect();
    let session = match approve(shared, &share, ip, agent).await {
        Ok(s) => s,
        Err(r) => return full(r),
    };
    // The file list was serialised once when the share opened; every answer shares those bytes.
    let head = format!("{{\"info\":{},\"sessionId\":{},", String::from_utf8_lossy(&shared.info_json_download), serde_json::json!(session));
    let parts = [Bytes::from(head), share.listing.clone(), Bytes::from_static(b"}")];
    let len: usize = parts.iter().map(Bytes::len).sum();
    let stream = futures_util::stream::iter(parts.into_iter().map(|b| Ok::<_, std::io::Error>(Frame::data(b))));
    let mut r = Response::new(StreamBody::new(stream).boxed());
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from(len));
    r
}

/// `"files":{...},"ferryZips":[...]` of a share: the files as LocalSend `FileDto`s and, as
/// `ferryZips` (unknown to LocalSend clients, which ignore it), the folders as zips.
fn listing_json(list: &ShareList) -> Bytes {
    let mut files = serde_json::Map::new();
    for f in &list.files {
        let dto = FileDto {
            id: f.id.clone(),
            file_name: f.name.clone(),
            size: f.size,
            file_type: f.file_type.clone(),
            sha256: None,
            hash: None,
            preview: None,
            metadata: None,
            checksum_after: None,
        };
        files.insert(f.id.clone(), serde_json::to_value(dto).expect("serialisable"));
    }
    let folders: Vec<_> = list
        .folders
        .iter()
        .map(|f| serde_json::json!({"id": f.id, "fileName": f.zip_name(), "size": f.size, "files": f.files.len()}))
        .collect();
    let files = serde_json::to_string(&files).expect("serialisable");
    let folders = serde_json::to_string(&folders).expect("serialisable");
    Bytes::from(format!("\"files\":{files},\"ferryZips\":{folders}"))
}

/// The session of `ip`: at once when approved, else after the owner approves it (429 when too
/// many browsers are approved or waiting, 403 when declined or unanswered in time).
async fn approve(shared: &Arc<Shared>, share: &Arc<ActiveShare>, ip: IpAddr, agent: String) -> std::result::Result<String, Resp> {
    let key = share_key(ip);
    let (mut rx, _waiting) = {
        let mut b = share.browsers.lock().unwrap();
        let idle = shared.limits.browser_idle_timeout;
        if let Some(a) = b.approval(key, idle) {
            return Ok(a.session.clone());
        }
        if let Some(at) = b.declined.get(&key) {
            if at.elapsed() < DECLINE_MEMORY {
                return Err(message(StatusCode::FORBIDDEN, "Declined"));
            }
            b.declined.remove(&key);
        }
        if !b.room(idle) {
            return Err(message(StatusCode::TOO_MANY_REQUESTS, "Too many browsers"));
        }
        if share.opts.auto_accept {
            let approval = Approval::new();
            let id = approval.session.clone();
            b.approved.insert(key, approval);
            drop(b);
            share.listener.on_event(ShareEvent::BrowserApproved { ip });
            return Ok(id);
        }
        match b.pending.get_mut(&key) {
            Some(p) => {
                p.waiters += 1;
                (p.rx.clone(), Waiting { share: share.clone(), key, number: p.number })
            }
            None => {
                if b.pending.len() >= MAX_PENDING_BROWSERS {
                    return Err(message(StatusCode::TOO_MANY_REQUESTS, "Too many browsers waiting"));
                }
                let (tx, rx) = watch::channel(None);
                b.asked += 1;
                let number = b.asked;
                let withdraw = CancellationToken::new();
                b.pending.insert(key, Pending { rx: rx.clone(), waiters: 1, number, withdraw: withdraw.clone() });
                drop(b);
                ask_owner(shared, share, ip, number, agent, tx, withdraw);
                (rx, Waiting { share: share.clone(), key, number })
            }
        }
    };
    let wait = shared.limits.request_timeout + Duration::from_secs(1);
    let answer = tokio::time::timeout(wait, rx.wait_for(|v| v.is_some())).await;
    let approved = matches!(answer, Ok(Ok(ref v)) if **v == Some(true));
    let id = approved.then(|| share.browsers.lock().unwrap().approved.get(&key).map(|a| a.session.clone())).flatten();
    id.ok_or_else(|| message(StatusCode::FORBIDDEN, "Declined"))
}

/// Asks the owner about `ip` and records the answer (declined when unanswered in time or when
/// the share closes; nothing when every request waiting on it went away first).
fn ask_owner(
    shared: &Arc<Shared>,
    share: &Arc<ActiveShare>,
    ip: IpAddr,
    number: u64,
    agent: String,
    tx: watch::Sender<Option<bool>>,
    withdraw: CancellationToken,
) {
    let (otx, orx) = oneshot::channel();
    share.listener.on_browser(BrowserRequest { id: random_id(), ip, user_agent: agent }, BrowserReply(otx));
    let share = share.clone();
    let timeout = shared.limits.request_timeout;
    let idle = shared.limits.browser_idle_timeout;
    let key = share_key(ip);
    tokio::spawn(async move {
        let approved = tokio::select! {
            r = tokio::time::timeout(timeout, orx) => matches!(r, Ok(Ok(true))),
            _ = share.stop.cancelled() => false,
            // The browser went away: its question is dropped (the owner's reply reports closed).
            _ = withdraw.cancelled() => return,
        };
        let approved = {
            let mut b = share.browsers.lock().unwrap();
            if b.pending.get(&key).is_some_and(|p| p.number == number) {
                b.pending.remove(&key);
            }
            let approved = approved && b.room(idle);
            if approved {
                b.approved.insert(key, Approval::new());
            } else {
                if b.declined.len() >= MAX_DECLINED {
                    b.declined.retain(|_, at| at.elapsed() < DECLINE_MEMORY);
                }
                if b.declined.len() >= MAX_DECLINED {
                    // Full of recent ones: the oldest is forgotten, the others stay declined.
                    if let Some(oldest) = b.declined.iter().min_by_key(|(_, at)| **at).map(|(k, _)| *k) {
                        b.declined.remove(&oldest);
                    }
                }
                b.declined.insert(key, Instant::now());
            }
            approved
        };
        let _ = tx.send(Some(approved));
        share.listener.on_event(if approved { ShareEvent::BrowserApproved { ip } } else { ShareEvent::BrowserDeclined { ip } });
    });
}

async fn download(shared: &Arc<Shared>, ip: IpAddr, req: &Request<Incoming>) -> WebResp {
    let query = req.uri().query();
    let (Some(session), Some(file_id)) = (query_param(query, "sessionId"), query_param(query, "fileId")) else {
        return web_message(StatusCode::BAD_REQUEST, "Missing parameters");
    };
    let Some(share) = shared.share() else {
        return web_message(StatusCode::FORBIDDEN, "Invalid session id");
    };
    let idle = shared.limits.browser_idle_timeout;
    let known = share.browsers.lock().unwrap().approval(share_key(ip), idle).is_some_and(|a| constant_time_eq(&a.session, &session));
    if !known {
        return web_message(StatusCode::FORBIDDEN, "Invalid session id");
    }
    match share.ids.get(&file_id) {
        None => web_message(StatusCode::FORBIDDEN, "Unknown file"),
        Some(Item::File(i)) => serve_file(shared, &share, *i, ip, req).await,
        Some(Item::Folder(i)) => serve_zip(shared, &share, *i, ip),
    }
}

/// Opens a shared file again: every component below the shared root without following a link
/// (a folder inside the share swapped for a link leads nowhere), and only when it is still a
/// regular file and the same file (device and inode) as when the share opened (a hard link or a
/// file moved in is refused).
fn open_shared(root: &std::path::Path, rel: &[std::ffi::OsString], dev: u64, ino: u64) -> std::io::Result<(File, u64, u64)> {
    let file = crate::fsutil::open_beneath_nofollow(root, rel)?;
    let st = crate::fsutil::fstat(&file)?;
    if st.st_dev as u64 != dev || st.st_ino as u64 != ino {
        return Err(std::io::Error::other("not the file that was shared"));
    }
    let (size, mtime) = regular(&file)?;
    Ok((file, size, mtime))
}

/// Size and modification time (ns) of a regular file; an error for anything else.
fn regular(file: &File) -> std::io::Result<(u64, u64)> {
    let st = crate::fsutil::fstat(file)?;
    if !crate::fsutil::is_regular(&st) {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mtime = (st.st_mtime as u64).wrapping_mul(1_000_000_000).wrapping_add(st.st_mtime_nsec as u64);
    Ok((st.st_size as u64, mtime))
}

/// A shared file ready to read: (file, size, modification time).
fn open_source(source: &crate::share::Source) -> std::io::Result<(Arc<File>, u64, u64)> {
    match source {
        crate::share::Source::Path { root, rel, dev, ino } => {
            open_shared(root, rel, *dev, *ino).map(|(f, size, mtime)| (Arc::new(f), size, mtime))
        }
        crate::share::Source::Open(f) => regular(f).map(|(size, mtime)| (f.clone(), size, mtime)),
    }
}

/// Reads a file from an offset with `pread` (a file the app gave may serve several downloads
/// at once).
struct ReadAt {
    file: Arc<File>,
    offset: u64,
}

impl std::io::Read for ReadAt {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = std::os::unix::fs::FileExt::read_at(&*self.file, buf, self.offset)?;
        self.offset += n as u64;
        Ok(n)
    }
}

fn attachment_headers(r: &mut WebResp, name: &str) {
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    if let Ok(v) = HeaderValue::from_str(&content_disposition(name)) {
        h.insert(hyper::header::CONTENT_DISPOSITION, v);
    }
}

async fn serve_file(shared: &Arc<Shared>, share: &Arc<ActiveShare>, index: usize, ip: IpAddr, req: &Request<Incoming>) -> WebResp {
    let f = &share.list.files[index];
    let source = f.source.clone();
    let opened = tokio::task::spawn_blocking(move || open_source(&source)).await;
    let Ok(Ok((file, size, mtime))) = opened else {
        return web_message(StatusCode::NOT_FOUND, "The file is no longer there");
    };
    let etag = format!("\"{size:x}-{mtime:x}\"");
    let range = req.headers().get(RANGE).and_then(|v| v.to_str().ok());
    // A resumed download only continues the same file (`If-Range` names what it has).
    let same = req.headers().get(IF_RANGE).is_none_or(|v| v.to_str().ok() == Some(etag.as_str()));
    let answer = match range {
        Some(r) if same => parse_range(r, size),
        _ => RangeAnswer::Full,
    };
    let (status, start, len) = match answer {
        RangeAnswer::Full => (StatusCode::OK, 0, size),
        RangeAnswer::Partial { start, end } => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
        RangeAnswer::Unsatisfiable => {
            let mut r = web_message(StatusCode::RANGE_NOT_SATISFIABLE, "Range not satisfiable");
            r.headers_mut().insert(CONTENT_RANGE, HeaderValue::from_str(&format!("bytes */{size}")).expect("ascii"));
            return r;
        }
    };
    let track = Track::new(share, ip, &f.id, start, len, &f.name);
    let body = file_body(share.clone(), file, start, len, shared.limits.body_stall_timeout, shared.limits.min_progress, track);
    let mut r = Response::new(body);
    *r.status_mut() = status;
    attachment_headers(&mut r, &f.name);
    let h = r.headers_mut();
    h.insert(CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(ETAG, HeaderValue::from_str(&etag).expect("ascii"));
    if status == StatusCode::PARTIAL_CONTENT {
        let v = format!("bytes {start}-{}/{size}", start + len - 1);
        h.insert(CONTENT_RANGE, HeaderValue::from_str(&v).expect("ascii"));
    }
    r
}

/// A download's progress, told to the share's listener; the end is told when dropped.
struct Track {
    share: Arc<ActiveShare>,
    ip: IpAddr,
    file_id: String,
    size: u64,
    sent: u64,
    told: u64,
}

impl Track {
    fn new(share: &Arc<ActiveShare>, ip: IpAddr, file_id: &str, offset: u64, size: u64, name: &str) -> Track {
        // A running download keeps its browser's approval.
        if let Some(a) = share.browsers.lock().unwrap().approved.get_mut(&share_key(ip)) {
            a.downloads += 1;
        }
        share.listener.on_event(ShareEvent::DownloadStarted { ip, file_id: file_id.to_string(), name: name.to_string(), offset, size });
        Track { share: share.clone(), ip, file_id: file_id.to_string(), size, sent: 0, told: 0 }
    }
    fn add(&mut self, n: u64) {
        self.sent += n;
        if self.sent - self.told >= DOWNLOAD_PROGRESS_STEP {
            self.told = self.sent;
            let e = ShareEvent::DownloadProgress { ip: self.ip, file_id: self.file_id.clone(), sent: self.sent, size: self.size };
            self.share.listener.on_event(e);
        }
    }
}

impl Track {
    /// Everything was sent (a zip, whose size is known only now).
    fn complete(&mut self) {
        self.size = self.sent;
    }
}

impl Drop for Track {
    fn drop(&mut self) {
        if let Some(a) = self.share.browsers.lock().unwrap().approved.get_mut(&share_key(self.ip)) {
            a.downloads = a.downloads.saturating_sub(1);
            a.last = Instant::now();
        }
        let complete = self.sent == self.size;
        let e = ShareEvent::DownloadFinished { ip: self.ip, file_id: std::mem::take(&mut self.file_id), sent: self.sent, complete };
        self.share.listener.on_event(e);
    }
}

fn channel_body(rx: mpsc::Receiver<std::io::Result<Bytes>>) -> WebBody {
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item.map(Frame::data), rx)) });
    StreamBody::new(stream).boxed()
}

/// Streams `len` bytes of `file` from `start`, from a blocking thread. Ends (the response is
/// cut short) when the reader takes less than `min_progress` bytes in `stall` or the share closes.
fn file_body(share: Arc<ActiveShare>, file: Arc<File>, start: u64, len: u64, stall: Duration, min_progress: u64, track: Track) -> WebBody {
    let (tx, rx) = mpsc::channel(4);
    let mut writer = ChannelWriter::new(tx.clone(), stall, min_progress, share.stop.clone(), track);
    tokio::task::spawn_blocking(move || {
        let mut reader = std::io::Read::take(ReadAt { file, offset: start }, len);
        let mut buf = vec![0u8; CHUNK];
        let mut left = len;
        while left > 0 {
            let n = match std::io::Read::read(&mut reader, &mut buf) {
                Ok(0) | Err(_) => {
                    let _ = writer.rt.block_on(tx.send(Err(std::io::Error::other("the file changed while being sent"))));
                    return;
                }
                Ok(n) => n,
            };
            if writer.write_all(&buf[..n]).is_err() {
                return;
            }
            left -= n as u64;
        }
    });
    channel_body(rx)
}

/// A writer into a response body, for the zip writer on its blocking thread.
/// The reader must take `min_progress` bytes in every `stall` (a minimum rate), else the download
/// ends: a browser reading a trickle cannot hold a zip's thread for long.
struct ChannelWriter {
    tx: mpsc::Sender<std::io::Result<Bytes>>,
    rt: tokio::runtime::Handle,
    stall: Duration,
    min_progress: u64,
    /// Start of the current `stall` window and the bytes taken in it.
    window: (tokio::time::Instant, u64),
    /// The download ended: later writes (the zip writer finishing as it is dropped) go nowhere.
    ended: bool,
    stop: CancellationToken,
    track: Track,
}

impl ChannelWriter {
    fn new(tx: mpsc::Sender<std::io::Result<Bytes>>, stall: Duration, min_progress: u64, stop: CancellationToken, track: Track) -> Self {
        let rt = tokio::runtime::Handle::current();
        ChannelWriter { tx, rt, stall, min_progress, window: (tokio::time::Instant::now(), 0), ended: false, stop, track }
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.ended {
            return Ok(buf.len());
        }
        let chunk = Bytes::copy_from_slice(buf);
        let (tx, stop) = (&self.tx, &self.stop);
        let deadline = self.window.0 + self.stall;
        let sent = self.rt.block_on(async {
            tokio::select! {
                _ = stop.cancelled() => false,
                r = tokio::time::timeout_at(deadline, tx.send(Ok(chunk))) => matches!(r, Ok(Ok(()))),
            }
        });
        if !sent {
            self.ended = true;
            return Err(std::io::Error::other("the download stopped"));
        }
        self.window.1 += buf.len() as u64;
        if self.window.1 >= self.min_progress {
            self.window = (tokio::time::Instant::now(), 0);
        }
        self.track.add(buf.len() as u64);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A folder as one zip (stored, not compressed), written while it is sent: no copy on disk, no
/// `Content-Length` (its length is known only at the end), no ranges.
fn serve_zip(shared: &Arc<Shared>, share: &Arc<ActiveShare>, index: usize, ip: IpAddr) -> WebResp {
    let key = share_key(ip);
    if !share.zipping.lock().unwrap().insert(key) {
        return web_message(StatusCode::TOO_MANY_REQUESTS, "One zip at a time; try again when it is done");
    }
    let zipping = Zipping { share: share.clone(), key };
    let Ok(permit) = share.zips.clone().try_acquire_owned() else {
        return web_message(StatusCode::TOO_MANY_REQUESTS, "Too many downloads; try again later");
    };
    let folder = &share.list.folders[index];
    let name = folder.zip_name();
    let (tx, rx) = mpsc::channel(4);
    let track = Track::new(share, ip, &folder.id, 0, 0, &name);
    let mut writer =
        ChannelWriter::new(tx.clone(), shared.limits.body_stall_timeout, shared.limits.min_progress, share.stop.clone(), track);
    // Unknown before the end: the final event says what was sent.
    writer.track.size = u64::MAX;
    let share2 = share.clone();
    tokio::task::spawn_blocking(move || {
        let _permit = (permit, zipping);
        let folder = &share2.list.folders[index];
        let result = write_zip(&share2, folder, &mut writer);
        match result {
            Ok(()) => writer.track.complete(),
            Err(e) => {
                tracing::debug!("zip of {} ended: {e}", crate::display::escape(&folder.name));
                let _ = writer.rt.block_on(tx.send(Err(std::io::Error::other("the zip could not be written"))));
            }
        }
    });
    let mut r = Response::new(channel_body(rx));
    attachment_headers(&mut r, &name);
    r.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/zip"));
    r
}

/// A browser's zip being written; dropping it lets the browser start another.
struct Zipping {
    share: Arc<ActiveShare>,
    key: IpAddr,
}

impl Drop for Zipping {
    fn drop(&mut self) {
        self.share.zipping.lock().unwrap().remove(&self.key);
    }
}

fn write_zip(share: &ActiveShare, folder: &SharedFolder, writer: &mut ChannelWriter) -> std::io::Result<()> {
    use zip::write::SimpleFileOptions;
    let mut zip = zip::ZipWriter::new_stream(writer);
    let prefix = format!("{}/", folder.name);
    for &i in &folder.files {
        let f = &share.list.files[i];
        let Ok((file, size, _)) = open_source(&f.source) else {
            continue;
        };
        let rel = f.name.strip_prefix(&prefix).unwrap_or(&f.name);
        let opts = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(size >= u64::from(u32::MAX) - 1)
            .unix_permissions(0o644);
        zip.start_file(rel, opts).map_err(std::io::Error::other)?;
        std::io::copy(&mut std::io::Read::take(ReadAt { file, offset: 0 }, size), &mut zip)?;
    }
    zip.finish().map_err(std::io::Error::other)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_addresses_and_local_names_are_hosts_of_the_pages() {
        let ok = |h: &str| host_allowed(Some(&HeaderValue::from_str(h).unwrap()));
        for good in
            ["192.168.1.20:53317", "127.0.0.1", "[fe80::1%25eth0]:53317", "[::1]:80", "localhost:53317", "laptop.local", "Laptop.local.:1"]
        {
            assert!(ok(good), "{good}");
        }
        for bad in
            ["evil.example:53317", "evil.example", "192.168.1.20.evil.example", ".local", "[nothing]:1", "1.2.3.4.nip.io", "localhost.evil"]
        {
            assert!(!ok(bad), "{bad}");
        }
        assert!(host_allowed(None));
    }
}
