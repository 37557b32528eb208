//! A prepare-upload body parsed as it arrives: never held whole, every file counted against the
//! file-list budget the moment it is parsed, and no single entry (a file, the device description,
//! a folder, an unknown field) bigger than [`MAX_ENTRY_BYTES`] of the body.
//!
//! The async side ([`read_file_list`]) reads the body's frames within the body's deadline and
//! passes them through a short channel to a blocking thread that parses them ([`parse_file_list`]);
//! the frames in the channel count against the same budget until they are parsed.

use super::*;
use serde::de::{DeserializeSeed, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::cell::Cell;
use std::io::Read;
use std::rc::Rc;

/// Most bytes of the body between two entries of its file list (or the device description, one
/// folder, one unknown field): the largest string the parser ever holds whole, whatever the
/// body's length. A text message's preview ([`MAX_TEXT_BYTES`]) fits with room to spare.
pub const MAX_ENTRY_BYTES: usize = 2 * 1024 * 1024;
/// Pieces of a body waiting for the parser, and their size at most.
const FRAMES_IN_FLIGHT: usize = 4;
const PIECE: usize = 64 * 1024;

/// Why a file list was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListError {
    /// Not a prepare-upload body (the parser's message).
    Invalid(String),
    /// More files and empty folders than one request may carry, or more empty folders alone
    /// than [`MAX_EMPTY_DIRS`].
    TooManyItems,
    /// One entry is over [`MAX_ENTRY_BYTES`].
    EntryTooLarge,
    /// The list takes more memory than this sender may ever hold.
    TooLarge,
    /// Others hold the budget now; the sender may try again later.
    Busy,
}

impl ListError {
    pub(super) fn response(&self) -> Resp {
        match self {
            ListError::Invalid(e) => message(StatusCode::BAD_REQUEST, &format!("Invalid body: {e}")),
            ListError::TooManyItems => message(StatusCode::BAD_REQUEST, "Too many files and folders in one request"),
            ListError::EntryTooLarge => message(StatusCode::PAYLOAD_TOO_LARGE, "An entry of the request is too large"),
            ListError::TooLarge => message(StatusCode::PAYLOAD_TOO_LARGE, "The file list of this request is too large"),
            ListError::Busy => message(StatusCode::SERVICE_UNAVAILABLE, "Busy; try again later"),
        }
    }
}

/// Parses a prepare-upload body from `body`: at most `max_items` files and empty folders
/// together (at most [`MAX_EMPTY_DIRS`] folders), each file's memory (and the list's growth)
/// asked of `take` as soon as it is parsed; `take` refusing stops the parse with its answer.
/// Unknown fields are skipped, repeated fields of the request refused, repeated file ids kept
/// (the receiver refuses them).
pub fn parse_file_list(
    body: impl Read,
    max_items: usize,
    take: &mut dyn FnMut(usize) -> std::result::Result<(), ListError>,
) -> std::result::Result<IncomingPrepare, ListError> {
    let since = Rc::new(Cell::new(0usize));
    let reader = std::io::BufReader::with_capacity(64 * 1024, Counted { inner: body, since: since.clone() });
    let mut ctx = Ctx { take, since, max_items, items: 0, dirs: 0, refused: None };
    let mut de = serde_json::Deserializer::from_reader(reader);
    let parsed = Top(&mut ctx).deserialize(&mut de).and_then(|p| de.end().map(|_| p));
    match parsed {
        Ok(p) => Ok(p),
        Err(_) if ctx.refused.is_some() => Err(ctx.refused.take().expect("checked")),
        Err(_) if ctx.since.get() > MAX_ENTRY_BYTES => Err(ListError::EntryTooLarge),
        Err(e) => Err(ListError::Invalid(e.to_string())),
    }
}

/// Counts the bytes read since the last entry ended; more than [`MAX_ENTRY_BYTES`] is an error.
struct Counted<R> {
    inner: R,
    since: Rc<Cell<usize>>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let since = self.since.get() + n;
        self.since.set(since);
        if since > MAX_ENTRY_BYTES {
            return Err(std::io::Error::other("an entry of the request is too large"));
        }
        Ok(n)
    }
}

struct Ctx<'t> {
    take: &'t mut dyn FnMut(usize) -> std::result::Result<(), ListError>,
    since: Rc<Cell<usize>>,
    max_items: usize,
    items: usize,
    dirs: usize,
    refused: Option<ListError>,
}

impl Ctx<'_> {
    /// An entry ended: the next may again take [`MAX_ENTRY_BYTES`].
    fn mark(&self) {
        self.since.set(0);
    }
    fn refuse<E: serde::de::Error>(&mut self, why: ListError) -> E {
        self.refused = Some(why);
        E::custom("refused")
    }
    /// One more item (a file or a folder) of `bytes`.
    fn count<E: serde::de::Error>(&mut self, bytes: usize) -> std::result::Result<(), E> {
        if self.items >= self.max_items {
            return Err(self.refuse(ListError::TooManyItems));
        }
        if let Err(why) = (self.take)(bytes) {
            return Err(self.refuse(why));
        }
        self.items += 1;
        self.mark();
        Ok(())
    }
}

struct Top<'c, 't>(&'c mut Ctx<'t>);

impl<'de> DeserializeSeed<'de> for Top<'_, '_> {
    type Value = IncomingPrepare;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<IncomingPrepare, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Top<'_, '_> {
    type Value = IncomingPrepare;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a prepare-upload request")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<IncomingPrepare, A::Error> {
        let (mut info, mut files, mut ferry) = (None, None, None);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "info" if info.is_none() => info = Some(map.next_value::<DeviceInfo>()?),
                "files" if files.is_none() => files = Some(map.next_value_seed(Files(&mut *self.0))?),
                "ferry" if ferry.is_none() => ferry = Some(map.next_value_seed(Ext(&mut *self.0))?),
                "info" | "files" | "ferry" => return Err(A::Error::custom(format!("duplicate field `{key}`"))),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            self.0.mark();
        }
        let info = info.ok_or_else(|| A::Error::missing_field("info"))?;
        let files = files.ok_or_else(|| A::Error::missing_field("files"))?;
        Ok(IncomingPrepare::new(info, files, ferry.flatten()))
    }
}

/// `files`: a map from id to file, read into a list (each file with its key as `id`).
struct Files<'c, 't>(&'c mut Ctx<'t>);

impl<'de> DeserializeSeed<'de> for Files<'_, '_> {
    type Value = Vec<FileDto>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<Vec<FileDto>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Files<'_, '_> {
    type Value = Vec<FileDto>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a map of files")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Vec<FileDto>, A::Error> {
        let mut out: Vec<FileDto> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let mut dto: FileDto = map.next_value()?;
            dto.id = key;
            let mut bytes = dto.memory_size() - std::mem::size_of::<FileDto>();
            if out.len() == out.capacity() {
                // The list's own growth counts too (its slots are most of a small file's memory).
                let more = out.capacity().clamp(16, 4096);
                bytes += more * std::mem::size_of::<FileDto>();
                self.0.count::<A::Error>(bytes)?;
                out.reserve_exact(more);
            } else {
                self.0.count::<A::Error>(bytes)?;
            }
            out.push(dto);
        }
        Ok(out)
    }
}

/// `ferry`: Ferry's additions (`null` is none).
struct Ext<'c, 't>(&'c mut Ctx<'t>);

impl<'de> DeserializeSeed<'de> for Ext<'_, '_> {
    type Value = Option<PrepareExt>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<Option<PrepareExt>, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for Ext<'_, '_> {
    type Value = Option<PrepareExt>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("Ferry's additions")
    }
    fn visit_none<E: serde::de::Error>(self) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: serde::de::Error>(self) -> std::result::Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Self::Value, A::Error> {
        let (mut dirs, mut sha256_after, mut blake3_after) = (None, None, None);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "emptyDirs" if dirs.is_none() => dirs = Some(map.next_value_seed(Dirs(&mut *self.0))?),
                "sha256After" if sha256_after.is_none() => sha256_after = Some(map.next_value::<bool>()?),
                "blake3After" if blake3_after.is_none() => blake3_after = Some(map.next_value::<bool>()?),
                "emptyDirs" | "sha256After" | "blake3After" => return Err(A::Error::custom(format!("duplicate field `{key}`"))),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            self.0.mark();
        }
        Ok(Some(PrepareExt {
            empty_dirs: dirs.unwrap_or_default(),
            sha256_after: sha256_after.unwrap_or(false),
            blake3_after: blake3_after.unwrap_or(false),
        }))
    }
}

/// `ferry.emptyDirs`: a list of folders.
struct Dirs<'c, 't>(&'c mut Ctx<'t>);

impl<'de> DeserializeSeed<'de> for Dirs<'_, '_> {
    type Value = Vec<String>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<Vec<String>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Dirs<'_, '_> {
    type Value = Vec<String>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of folders")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Vec<String>, A::Error> {
        let mut out = Vec::new();
        while let Some(d) = seq.next_element::<String>()? {
            if self.0.dirs >= MAX_EMPTY_DIRS {
                return Err(self.0.refuse(ListError::TooManyItems));
            }
            self.0.dirs += 1;
            self.0.count::<A::Error>(d.capacity() + std::mem::size_of::<String>())?;
            out.push(d);
        }
        Ok(out)
    }
}

/// The body's frames as a reader, on the parser's thread; each frame's bytes leave the budget
/// once parsed. The channel closing is the body's end (the async side answers when it ended
/// early).
struct Frames {
    rx: tokio::sync::mpsc::Receiver<Bytes>,
    cur: Bytes,
    counted: usize,
    hold: Arc<Mutex<BudgetHold>>,
}

impl Read for Frames {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            self.hold.lock().unwrap().release(std::mem::take(&mut self.counted));
            match self.rx.blocking_recv() {
                Some(b) => {
                    self.counted = b.len();
                    self.cur = b;
                }
                None => return Ok(0),
            }
        }
        let n = self.cur.len().min(buf.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        bytes::Buf::advance(&mut self.cur, n);
        Ok(n)
    }
}

impl Drop for Frames {
    fn drop(&mut self) {
        self.hold.lock().unwrap().release(self.counted);
    }
}

/// The memory a parsed file list holds in the file-list budget, until it is dropped (with the
/// session that took the list, or with the request that was refused).
pub(super) type ListHold = Arc<Mutex<BudgetHold>>;

/// Reads and parses a prepare-upload body (at most [`MAX_PREPARE_BODY`] bytes, arriving at
/// [`ServerLimits::min_body_rate`], never later than [`ServerLimits::large_body_timeout`]).
/// `trusted`: the connection's certificate is a trusted device's (it may use the budget's reserve).
pub(super) async fn read_file_list(
    shared: &Shared,
    req: Request<Incoming>,
    ip: IpAddr,
    trusted: bool,
) -> std::result::Result<(IncomingPrepare, ListHold), Resp> {
    let declared =
        req.headers().get(hyper::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_PREPARE_BODY as u64) {
        return Err(message(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large"));
    }
    let length = declared.unwrap_or(MAX_PREPARE_BODY as u64);
    let rate = shared.limits.min_body_rate.max(1);
    let deadline =
        (shared.limits.body_grace + Duration::from_millis(length.saturating_mul(1000) / rate)).min(shared.limits.large_body_timeout);
    let hold: ListHold = Arc::new(Mutex::new(BudgetHold { budget: shared.json_budget.clone(), key: share_key(ip), trusted, held: 0 }));
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(FRAMES_IN_FLIGHT);
    let max_items = shared.limits.max_files_per_request;
    let (frames_hold, list_hold) = (hold.clone(), hold.clone());
    let parser = tokio::task::spawn_blocking(move || {
        let frames = Frames { rx, cur: Bytes::new(), counted: 0, hold: frames_hold };
        parse_file_list(frames, max_items, &mut |n| list_hold.lock().unwrap().take(n))
    });
    let mut body = req.into_body();
    let feed_hold = hold.clone();
    let feed = async move {
        let mut total = 0usize;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| message(StatusCode::BAD_REQUEST, "Request body incomplete"))?;
            let Ok(mut data) = frame.into_data() else { continue };
            total += data.len();
            if total > MAX_PREPARE_BODY {
                return Err(message(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large"));
            }
            // In pieces (no copy), each counted while it waits: what waits for the parser stays small
            // however large the connection's frames are.
            while !data.is_empty() {
                let piece = data.split_to(data.len().min(PIECE));
                feed_hold.lock().unwrap().take(piece.len()).map_err(|e| e.response())?;
                if tx.send(piece).await.is_err() {
                    // The parser stopped: its answer says why.
                    return Ok(());
                }
            }
        }
        Ok(())
    };
    // Ending the feed (done, failed or late) closes the channel: the parser sees the body's end.
    let fed =
        tokio::time::timeout(deadline, feed).await.unwrap_or_else(|_| Err(message(StatusCode::REQUEST_TIMEOUT, "Request body too slow")));
    let parsed = parser.await;
    match (fed, parsed) {
        (Err(r), _) => Err(r),
        (Ok(()), Ok(Ok(list))) => Ok((list, hold)),
        (Ok(()), Ok(Err(e))) => Err(e.response()),
        (Ok(()), Err(_)) => Err(message(StatusCode::INTERNAL_SERVER_ERROR, "Parsing failed")),
    }
}

/// [`parse_file_list`] over a whole body with a plain memory cap, for Ferry's fuzz targets:
/// the number of files and folders parsed, or why the body was refused.
#[doc(hidden)]
pub fn parse_file_list_capped(body: &[u8], max_items: usize, memory: usize) -> std::result::Result<usize, ListError> {
    let mut used = 0usize;
    let list = parse_file_list(body, max_items, &mut |n| {
        used += n;
        if used > memory {
            Err(ListError::TooLarge)
        } else {
            Ok(())
        }
    })?;
    Ok(list.files.len() + list.ferry.map_or(0, |f| f.empty_dirs.len()))
}
