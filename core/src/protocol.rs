//! Wire types of the LocalSend v2 protocol (JSON, camelCase), plus Ferry's negotiated extensions.
//!
//! Absent optionals are omitted when serialising; unknown fields are ignored when parsing.

use serde::{Deserialize, Deserializer, Serialize};
use std::collections::HashMap;

mod device;
mod peer;
mod times;
mod trailer;
pub use device::device_info;
pub use peer::PeerAddr;
pub(crate) use times::{format_time, parse_time};
pub use trailer::{
    parse_sha256_value, sha256_from_trailer_values, trailing_checksum, trailing_sha256, ChecksumAlgo, FileHasher, TrailerError,
    BLAKE3_TRAILER, MAX_SHA256_TRAILER_WAIT, SHA256_TRAILER,
};

/// The protocol version Ferry speaks.
pub const PROTOCOL_VERSION: &str = "2.1";
pub const DEFAULT_PORT: u16 = 53317;
/// The path every protocol endpoint starts with (followed by `v1/` or `v2/` and the endpoint).
pub(crate) const API_PREFIX: &str = "/api/localsend/";

/// Version of Ferry's own extension object (`"ferry": {...}` in info, register and prepare-upload).
pub(crate) const FERRY_EXT_VERSION: u32 = 1;
/// Feature: prepare-upload may carry empty folders in `ferry.emptyDirs`.
pub(crate) const FEATURE_EMPTY_DIRS: &str = "emptyDirs";
/// Feature: resuming interrupted uploads (see [`ResumeOffer`] and `docs/ARCHITECTURE.md`).
pub(crate) const FEATURE_RESUME: &str = "resume";
/// Feature: a file's SHA-256 may follow its upload's body in a chunked trailer
/// ([`SHA256_TRAILER`]) instead of coming in the prepare-upload request (see `docs/ARCHITECTURE.md`).
pub(crate) const FEATURE_SHA256_AFTER: &str = "sha256After";
/// Feature: a file's BLAKE3 may follow its upload's body in a chunked trailer ([`BLAKE3_TRAILER`]);
/// Ferry senders prefer it to `sha256After` (see `docs/ARCHITECTURE.md`).
pub(crate) const FEATURE_BLAKE3_AFTER: &str = "blake3After";
/// Most files (plus empty folders) one prepare-upload request may carry; parsing stops here.
pub(crate) const MAX_PREPARE_FILES: usize = 100_000;
/// Most empty folders one prepare-upload request may carry; parsing stops here.
pub(crate) const MAX_PREPARE_EMPTY_DIRS: usize = 10_000;
/// Most memory the files of one parsed prepare-upload request may take (their structs and
/// strings); parsing stops here, so what a peer sends costs a bounded amount however it is shaped.
pub(crate) const MAX_PREPARE_FILES_MEMORY: usize = 12 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceType {
    Mobile,
    Desktop,
    Web,
    Headless,
    Server,
}

impl DeviceType {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceType::Mobile => "mobile",
            DeviceType::Desktop => "desktop",
            DeviceType::Web => "web",
            DeviceType::Headless => "headless",
            DeviceType::Server => "server",
        }
    }
    /// Parses a device type; anything unknown is a desktop, as the reference says.
    pub(crate) fn parse_lenient(s: &str) -> DeviceType {
        match s.to_ascii_lowercase().as_str() {
            "mobile" => DeviceType::Mobile,
            "web" => DeviceType::Web,
            "headless" => DeviceType::Headless,
            "server" => DeviceType::Server,
            _ => DeviceType::Desktop,
        }
    }
}

impl<'de> Deserialize<'de> for DeviceType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(DeviceType::parse_lenient(&s))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Http,
    Https,
}

impl Protocol {
    pub fn scheme(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Https => "https",
        }
    }
}

/// Ferry's extension object. LocalSend peers ignore it; Ferry peers use it to negotiate additions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FerryExt {
    #[serde(default)]
    pub version: u32,
    #[serde(default)]
    pub features: Vec<String>,
}

impl FerryExt {
    pub fn current() -> Self {
        FerryExt {
            version: FERRY_EXT_VERSION,
            features: vec![
                FEATURE_EMPTY_DIRS.to_string(),
                FEATURE_RESUME.to_string(),
                FEATURE_SHA256_AFTER.to_string(),
                FEATURE_BLAKE3_AFTER.to_string(),
            ],
        }
    }
    pub fn has(&self, feature: &str) -> bool {
        self.features.iter().any(|f| f == feature)
    }
}

/// DeviceInfo: the register body, multicast body and (without port/protocol) info responses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceInfo {
    #[serde(default)]
    pub alias: String,
    #[serde(default = "default_version")]
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_type: Option<DeviceType>,
    #[serde(default)]
    pub fingerprint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    #[serde(default)]
    pub download: bool,
    /// Multicast only (v2 name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub announce: Option<bool>,
    /// Multicast only (v1 name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub announcement: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ferry: Option<FerryExt>,
}

fn default_version() -> String {
    "1.0".to_string()
}

impl DeviceInfo {
    /// The same device info without the fields that info/register responses do not carry.
    pub(crate) fn as_response(&self) -> DeviceInfo {
        DeviceInfo { port: None, protocol: None, announce: None, announcement: None, ..self.clone() }
    }
    pub fn device_type_or_default(&self) -> DeviceType {
        self.device_type.unwrap_or(DeviceType::Desktop)
    }
    pub(crate) fn ferry_has(&self, feature: &str) -> bool {
        self.ferry.as_ref().is_some_and(|f| f.has(feature))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accessed: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileDto {
    pub id: String,
    pub file_name: String,
    pub size: u64,
    #[serde(default = "default_file_type")]
    pub file_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Apps up to 1.17 sent the checksum under this name; read, never written.
    #[serde(default, skip_serializing)]
    pub hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<FileMetadata>,
    /// Never on the wire: set by the receiver for a file without `sha256` in a request that says
    /// its checksums follow the bodies (`ferry.blake3After` or `ferry.sha256After`, Ferry's
    /// features of those names). Such a file is saved only when its upload ends with a trailer
    /// holding its checksum of that kind.
    #[serde(skip)]
    pub checksum_after: Option<ChecksumAlgo>,
}

fn default_file_type() -> String {
    "application/octet-stream".to_string()
}

/// The sizes of `files` added up; a total past `u64::MAX` (only a lying peer declares one) stays
/// at `u64::MAX`.
pub fn total_size<'a>(files: impl IntoIterator<Item = &'a FileDto>) -> u64 {
    files.into_iter().fold(0u64, |sum, f| sum.saturating_add(f.size))
}

impl FileDto {
    /// The declared SHA-256 (from `sha256` or the older `hash`), lowercased.
    pub fn checksum(&self) -> Option<String> {
        self.sha256.as_deref().or(self.hash.as_deref()).map(|s| s.trim().to_ascii_lowercase()).filter(|s| !s.is_empty())
    }
    /// True for a LocalSend text message: a `text/plain` file that carries its text as preview.
    pub(crate) fn is_text_message(&self) -> bool {
        self.preview.is_some() && (self.file_type == "text/plain" || self.file_type == "text")
    }
}

/// Ferry's additions to a prepare-upload body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrepareExt {
    /// Folders (relative, `/`-separated) to create even though no file is in them.
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "bounded_dirs")]
    pub empty_dirs: Vec<String>,
    /// The files of this request without `sha256` get theirs after their upload's body, in the
    /// trailer [`SHA256_TRAILER`] (sent only to receivers that announced `sha256After`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sha256_after: bool,
    /// The same with BLAKE3 in the trailer [`BLAKE3_TRAILER`] (sent only to receivers that
    /// announced `blake3After`). A request that says both gets BLAKE3.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub blake3_after: bool,
}

impl PrepareExt {
    /// The checksum that follows the bodies of this request's files without `sha256`.
    pub fn checksum_after(&self) -> Option<ChecksumAlgo> {
        if self.blake3_after {
            Some(ChecksumAlgo::Blake3)
        } else {
            self.sha256_after.then_some(ChecksumAlgo::Sha256)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrepareUploadRequest {
    pub info: DeviceInfo,
    #[serde(deserialize_with = "bounded_files")]
    pub files: HashMap<String, FileDto>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ferry: Option<PrepareExt>,
}

/// A prepare-upload request as a receiver reads it: the files as a list, each with its map key
/// as `id`, in the order sent. Parsing stops at [`MAX_PREPARE_FILES`] files or
/// [`MAX_PREPARE_FILES_MEMORY`] bytes of them. Duplicate keys are kept (the receiver refuses them).
/// With `ferry.blake3After` or `ferry.sha256After`, each file without a checksum is marked
/// [`FileDto::checksum_after`].
#[derive(Debug, Clone, Deserialize)]
#[serde(from = "IncomingPrepareWire")]
pub struct IncomingPrepare {
    pub info: DeviceInfo,
    pub files: Vec<FileDto>,
    pub ferry: Option<PrepareExt>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IncomingPrepareWire {
    info: DeviceInfo,
    #[serde(deserialize_with = "bounded_file_list")]
    files: Vec<FileDto>,
    #[serde(default)]
    ferry: Option<PrepareExt>,
}

impl From<IncomingPrepareWire> for IncomingPrepare {
    fn from(w: IncomingPrepareWire) -> IncomingPrepare {
        IncomingPrepare::new(w.info, w.files, w.ferry)
    }
}

impl IncomingPrepare {
    /// The request as read; when `ferry` says checksums follow the bodies (`blake3After` or
    /// `sha256After`), each file without a checksum is marked [`FileDto::checksum_after`].
    pub(crate) fn new(info: DeviceInfo, mut files: Vec<FileDto>, ferry: Option<PrepareExt>) -> IncomingPrepare {
        if let Some(algo) = ferry.as_ref().and_then(PrepareExt::checksum_after) {
            files.iter_mut().filter(|f| f.checksum().is_none()).for_each(|f| f.checksum_after = Some(algo));
        }
        IncomingPrepare { info, files, ferry }
    }
}

impl FileDto {
    /// Bytes this file takes in memory (its struct and the strings it owns).
    pub(crate) fn memory_size(&self) -> usize {
        let opt = |s: &Option<String>| s.as_ref().map_or(0, String::capacity);
        let meta = self.metadata.as_ref().map_or(0, |m| opt(&m.modified) + opt(&m.accessed));
        std::mem::size_of::<FileDto>()
            + self.id.capacity()
            + self.file_name.capacity()
            + self.file_type.capacity()
            + opt(&self.sha256)
            + opt(&self.hash)
            + opt(&self.preview)
            + meta
    }
}

fn bounded_file_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<FileDto>, D::Error> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Vec<FileDto>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            write!(f, "a map of at most {MAX_PREPARE_FILES} files")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            let mut memory = 0usize;
            while let Some((key, mut dto)) = map.next_entry::<String, FileDto>()? {
                if out.len() >= MAX_PREPARE_FILES {
                    return Err(serde::de::Error::custom("too many files in one request"));
                }
                dto.id = key;
                memory += dto.memory_size();
                if memory > MAX_PREPARE_FILES_MEMORY {
                    return Err(serde::de::Error::custom("the file list of this request is too large"));
                }
                out.push(dto);
            }
            out.shrink_to_fit();
            Ok(out)
        }
    }
    d.deserialize_map(V)
}

/// `emptyDirs`, refused as soon as it holds more than [`MAX_PREPARE_EMPTY_DIRS`] entries.
fn bounded_dirs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            write!(f, "a list of at most {MAX_PREPARE_EMPTY_DIRS} folders")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(s) = seq.next_element::<String>()? {
                if out.len() >= MAX_PREPARE_EMPTY_DIRS {
                    return Err(serde::de::Error::custom("too many folders in one request"));
                }
                out.push(s);
            }
            Ok(out)
        }
    }
    d.deserialize_seq(V)
}

/// `files`, refused as soon as it holds more than [`MAX_PREPARE_FILES`] entries.
fn bounded_files<'de, D: Deserializer<'de>>(d: D) -> Result<HashMap<String, FileDto>, D::Error> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = HashMap<String, FileDto>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            write!(f, "a map of at most {MAX_PREPARE_FILES} files")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = HashMap::new();
            while let Some((k, v)) = map.next_entry::<String, FileDto>()? {
                if out.len() >= MAX_PREPARE_FILES {
                    return Err(serde::de::Error::custom("too many files in one request"));
                }
                out.insert(k, v);
            }
            Ok(out)
        }
    }
    d.deserialize_map(V)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrepareUploadResponse {
    pub session_id: String,
    pub files: HashMap<String, String>,
    /// Ferry's additions to the answer (only to a Ferry sender that asked for them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ferry: Option<PrepareAnswerExt>,
}

/// Ferry's additions to a prepare-upload answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrepareAnswerExt {
    /// Per accepted file id: the bytes the receiver already holds of it (feature `resume`).
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub resume: HashMap<String, ResumeOffer>,
}

/// What a receiver holds of a file from an earlier, interrupted upload: its first `offset` bytes,
/// whose SHA-256 is `sha256` (lowercase hex). The sender compares the hash with its own file's
/// first `offset` bytes and, when they match, uploads only the rest (`v2/upload?...&offset=`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResumeOffer {
    pub offset: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// Error body of the 1.18 app: `{"message": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub message: String,
}

/// Guesses a MIME type from a file name (the common cases; everything else is octet-stream).
pub fn mime_for(name: &str) -> &'static str {
    let Some((_, ext)) = name.rsplit_once('.') else { return "application/octet-stream" };
    // LocalSend reads the type's first part (image, video, text, ...) to pick an icon and a preview, so the
    // common ones keep the names receivers expect; everything else is what `mime_guess` knows.
    match ext.to_ascii_lowercase().as_str() {
        "md" | "log" | "csv" => "text/plain",
        "heic" => "image/heic",
        "mkv" => "video/x-matroska",
        "wav" => "audio/wav",
        "flac" => "audio/flac",
        "apk" => "application/vnd.android.package-archive",
        e => mime_guess::from_ext(e).first_raw().unwrap_or("application/octet-stream"),
    }
}

/// `bytes <first>-<last>/<total>` of a `Content-Range` or `X-Content-Range` header (a piece of a
/// file sent in pieces): decimal numbers only (no sign, no spaces inside), `first <= last < total`.
pub fn parse_content_range(v: &str) -> Option<(u64, u64, u64)> {
    let (range, total) = v.trim().strip_prefix("bytes ")?.split_once('/')?;
    let (first, last) = range.split_once('-')?;
    let num = |s: &str| if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) { s.parse::<u64>().ok() } else { None };
    let (first, last, total) = (num(first)?, num(last)?, num(total)?);
    (first <= last && last < total).then_some((first, last, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_info_lenient_parse() {
        let j = r#"{"alias":"Nice Orange","version":"2.2","deviceModel":null,"deviceType":"toaster",
                    "fingerprint":"AB","port":53317,"protocol":"https","download":true,"extra":1}"#;
        let d: DeviceInfo = serde_json::from_str(j).unwrap();
        assert_eq!(d.device_type, Some(DeviceType::Desktop));
        assert_eq!(d.device_model, None);
        assert_eq!(d.protocol, Some(Protocol::Https));
        assert!(d.download);
        let out = serde_json::to_value(d.as_response()).unwrap();
        assert!(out.get("port").is_none() && out.get("protocol").is_none() && out.get("deviceModel").is_none());
    }

    #[test]
    fn file_dto_hash_alias_and_omitted_optionals() {
        let j = r#"{"id":"a","fileName":"x.bin","size":3,"fileType":"other","hash":"ABC","sha256":null}"#;
        let f: FileDto = serde_json::from_str(j).unwrap();
        assert_eq!(f.checksum().as_deref(), Some("abc"));
        let out = serde_json::to_value(&f).unwrap();
        assert!(out.get("sha256").is_none() && out.get("hash").is_none() && out.get("preview").is_none());
    }

    /// The types LocalSend picks icons and previews by, the old table's names kept, and types beyond it from `mime_guess`.
    #[test]
    fn mime_types_by_extension() {
        for (name, want) in [
            ("a.txt", "text/plain"),
            ("notes.MD", "text/plain"),
            ("x.csv", "text/plain"),
            ("i.html", "text/html"),
            ("d.json", "application/json"),
            ("p.pdf", "application/pdf"),
            ("z.zip", "application/zip"),
            ("photo.JPG", "image/jpeg"),
            ("a.jpeg", "image/jpeg"),
            ("a.png", "image/png"),
            ("a.gif", "image/gif"),
            ("a.webp", "image/webp"),
            ("a.heic", "image/heic"),
            ("a.svg", "image/svg+xml"),
            ("v.mp4", "video/mp4"),
            ("v.mov", "video/quicktime"),
            ("v.mkv", "video/x-matroska"),
            ("v.webm", "video/webm"),
            ("s.mp3", "audio/mpeg"),
            ("s.ogg", "audio/ogg"),
            ("s.wav", "audio/wav"),
            ("s.flac", "audio/flac"),
            ("app.apk", "application/vnd.android.package-archive"),
            ("doc.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
            ("a.tar.gz", "application/gzip"),
            ("README", "application/octet-stream"),
            ("x.unknownext", "application/octet-stream"),
            ("trailingdot.", "application/octet-stream"),
        ] {
            assert_eq!(mime_for(name), want, "{name}");
        }
    }
}
