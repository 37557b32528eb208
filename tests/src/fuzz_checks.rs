//! The properties Ferry's fuzz targets check, one function per target. The cargo-fuzz crate in
//! `fuzz/` calls them on nightly; `tests/tests/fuzz_replay.rs` calls the same functions on every
//! committed corpus entry and every crash found (`fuzz/corpus/<target>/*`,
//! `fuzz/regressions/<target>/*`), so `cargo test` on stable keeps them fixed. A broken property
//! panics (that is what libFuzzer reports as a crash).

use ferry_core::protocol::PeerAddr;
use ferry_core::protocol::{DeviceInfo, FileDto, PrepareUploadRequest, PrepareUploadResponse, Protocol};
use ferry_core::storage::{numbered_name, sanitize_component, sanitize_relative_path, ReceiveDir};
use std::path::Path;

/// Every target: its name (the folder under `fuzz/corpus/`) and its check.
/// A fuzz target's check: panics on a finding.
pub type Check = fn(&[u8]);

pub const TARGETS: &[(&str, Check)] = &[
    ("names", names),
    ("storage", storage),
    ("wire_json", wire_json),
    ("multicast", multicast),
    ("query", query),
    ("address", address),
    ("display", display),
    ("range", range),
    ("content_range", content_range),
    ("pairing", pairing),
    ("sha256_trailer", sha256_trailer),
    ("file_list", file_list),
];

/// Unicode format characters (general category Cf): they reorder or hide what a name shows
/// (U+202E makes `invoice\u{202e}fdp.exe` look like `invoiceexe.pdf`).
pub fn is_format_char(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x0600..=0x0605 | 0x061C | 0x06DD | 0x070F | 0x0890..=0x0891 | 0x08E2 | 0x180E | 0x200B..=0x200F
        | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD
        | 0x13430..=0x1343F | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F)
}

/// What every saved path component must be: non-empty, not `.` or `..` (nor only dots), at
/// most 255 bytes, no `/`, `\` or NUL, no control or format characters.
pub fn check_component(c: &str, from: &str) {
    assert!(!c.is_empty(), "empty component from {from:?}");
    assert!(c.len() <= 255, "component of {} bytes from {from:?}: {c:?}", c.len());
    assert!(!c.chars().all(|ch| ch == '.'), "dot-only component {c:?} from {from:?}");
    assert!(!c.contains(['/', '\\', '\0']), "separator or NUL in {c:?} from {from:?}");
    assert!(!c.chars().any(|ch| ch.is_control() || is_format_char(ch)), "control or format character in {c:?} from {from:?}");
}

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// `names`: the name sanitiser and the collision numbering.
pub fn names(data: &[u8]) {
    let s = text(data);
    if let Ok(comps) = sanitize_relative_path(&s) {
        assert!(!comps.is_empty(), "no component from {s:?}");
        for c in &comps {
            check_component(c, &s);
        }
        let last = comps.last().unwrap();
        // Numbered alternatives differ from each other. (One may equal the name itself: a
        // 255-byte name whose stem ends in " (3)" is its own third alternative. That is harmless,
        // because a commit never replaces an existing file; it just tries the next number.)
        let mut seen: Vec<String> = Vec::new();
        for n in [2u32, 3, 10, 99, 100, 255, 1000, 65_535, u32::MAX] {
            let numbered = numbered_name(last, n);
            check_component(&numbered, &s);
            assert!(!seen.contains(&numbered), "numbered name {n} repeats {numbered:?} (from {s:?})");
            seen.push(numbered);
        }
    }
    for part in s.split(['/', '\\']).take(8) {
        let c = sanitize_component(part);
        check_component(&c, part);
        check_component(&numbered_name(&c, 2), part);
    }
}

/// Lists every entry below `root` (symlinks not followed), relative, sorted.
pub fn tree(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                walk(root, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// `storage`: up to four peer-supplied names (one a line; a first byte `d` makes a folder,
/// anything else a file) against a real destination that already holds a file, a folder, a
/// symlink to a folder outside and a hard link. Whatever happens, every result is below the
/// destination and nothing appears outside it.
pub fn storage(data: &[u8]) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let dest = root.join("a").join("b").join("dest");
    std::fs::create_dir_all(dest.join("sub")).unwrap();
    std::fs::create_dir_all(root.join("outside")).unwrap();
    std::fs::write(root.join("outside").join("target.txt"), b"outside").unwrap();
    std::fs::write(dest.join("file.txt"), b"old").unwrap();
    std::os::unix::fs::symlink(root.join("outside"), dest.join("link")).unwrap();
    std::os::unix::fs::symlink(root.join("outside").join("target.txt"), dest.join("flink.txt")).unwrap();
    let before_outside: Vec<String> = tree(&root).into_iter().filter(|p| !p.starts_with("a/b/dest")).collect();
    let rd = ReceiveDir::new(&dest).unwrap();
    let dest = rd.root().to_path_buf();
    let s = text(data);
    for line in s.split('\n').take(4) {
        let (dir, name) = match line.strip_prefix('d') {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        let result = if dir {
            rd.create_dir(name)
        } else {
            rd.begin_file(name).and_then(|mut part| {
                use std::io::Write;
                part.file().write_all(b"fuzz").map_err(|e| ferry_core::Error::io("write", e))?;
                part.commit(None, None)
            })
        };
        if let Ok(path) = result {
            assert!(path.starts_with(&dest), "{name:?} saved at {} outside {}", path.display(), dest.display());
            let rel = path.strip_prefix(&dest).unwrap();
            for c in rel.components() {
                check_component(&c.as_os_str().to_string_lossy(), name);
            }
            let real = path.canonicalize().unwrap_or_else(|e| panic!("{name:?}: result {} does not exist: {e}", path.display()));
            assert!(real.starts_with(&dest), "{name:?} resolves to {} outside {}", real.display(), dest.display());
            let meta = std::fs::symlink_metadata(&path).unwrap();
            assert_eq!(meta.is_dir(), dir, "{name:?}: wrong kind at {}", path.display());
        }
    }
    let after_outside: Vec<String> = tree(&root).into_iter().filter(|p| !p.starts_with("a/b/dest")).collect();
    assert_eq!(before_outside, after_outside, "something appeared outside the destination for {s:?}");
    assert_eq!(std::fs::read(root.join("outside").join("target.txt")).unwrap(), b"outside", "{s:?} wrote through a link");
    // A peer may name a file `.ferry-...` (it is saved under that name); a temporary file is
    // `.ferry-*.part`, and none may be left or be made by a peer.
    let parts: Vec<String> = tree(&dest)
        .into_iter()
        .filter(|p| {
            let name = p.rsplit('/').next().unwrap();
            name.starts_with(ferry_core::storage::TEMP_PREFIX) && name.ends_with(ferry_core::storage::TEMP_SUFFIX)
        })
        .collect();
    assert!(parts.is_empty(), "temporary files left for {s:?}: {parts:?}");
}

fn round_trip<T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(data: &[u8], norm: fn(&mut T)) {
    if let Ok(mut v) = serde_json::from_slice::<T>(data) {
        norm(&mut v);
        let bytes = serde_json::to_vec(&v).expect("a parsed value serialises");
        let mut again: T = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("own output does not parse ({e}): {}", String::from_utf8_lossy(&bytes)));
        norm(&mut again);
        assert_eq!(v, again, "round trip changed the value");
    }
}

/// `wire_json`: the wire JSON types parse without panicking and survive a round trip.
pub fn wire_json(data: &[u8]) {
    fn file(f: &mut FileDto) {
        // `hash` is read, never written.
        f.hash = None;
    }
    round_trip::<DeviceInfo>(data, |_| {});
    round_trip::<FileDto>(data, file);
    round_trip::<PrepareUploadRequest>(data, |r| r.files.values_mut().for_each(file));
    round_trip::<PrepareUploadResponse>(data, |_| {});
    let _ = serde_json::from_slice::<serde_json::Value>(data);
}

/// `multicast`: a datagram parses without panicking; what parses is answered and our answer
/// parses back to the same device.
pub fn multicast(data: &[u8]) {
    use ferry_core::discovery::multicast::{datagram, parse, MAX_DATAGRAM};
    if let Some(h) = parse(data) {
        assert!(data.len() <= MAX_DATAGRAM);
        assert!(!h.info.fingerprint.trim().is_empty());
        for announce in [true, false] {
            let back = parse(&datagram(&h.info, announce));
            if let Some(back) = back {
                assert_eq!(back.announce, announce);
                assert_eq!(back.info.fingerprint, h.info.fingerprint);
                assert_eq!(back.info.alias, h.info.alias);
            } else {
                // Only an answer that grew past the datagram limit may fail to parse.
                assert!(datagram(&h.info, announce).len() > MAX_DATAGRAM, "our own datagram does not parse: {h:?}");
            }
        }
    }
}

/// `query`: query strings as the server reads them (percent decoding, parameters).
pub fn query(data: &[u8]) {
    use ferry_core::fuzzing::{percent_decode, percent_encode, query_param};
    let s = text(data);
    let _ = percent_decode(&s);
    for key in ["sessionId", "fileId", "token", "pin", ""] {
        if let Some(v) = query_param(Some(&s), key) {
            assert!(v.len() <= s.len() * 3 + 3, "value longer than its query");
        }
    }
    assert_eq!(percent_decode(&percent_encode(&s)), s, "encode then decode changed the text");
    let q = format!("pin={}&sessionId={}", percent_encode(&s), percent_encode("x"));
    assert_eq!(query_param(Some(&q), "pin").as_deref(), Some(s.as_str()));
    assert_eq!(query_param(Some(&q), "sessionId").as_deref(), Some("x"));
}

/// `address`: `HOST[:PORT]` as typed after `--to` and fingerprints as typed after
/// `--fingerprint` (or `ferry trust add`).
pub fn address(data: &[u8]) {
    use ferry_core::identity::normalize_fingerprint;
    let s = text(data);
    for protocol in [Protocol::Https, Protocol::Http] {
        if let Ok(p) = PeerAddr::parse(&s, protocol) {
            assert!(!p.host.is_empty(), "empty host from {s:?}");
            assert_eq!(p.protocol, protocol);
            let _ = p.socket_addr();
            let text = if p.host.contains(':') { format!("[{}]:{}", p.host, p.port) } else { format!("{}:{}", p.host, p.port) };
            if !p.host.contains([']', '[']) && p.host.trim() == p.host {
                if let Ok(again) = PeerAddr::parse(&text, protocol) {
                    assert_eq!(again, p, "{text:?} parses differently from {s:?}");
                }
            }
        }
    }
    if let Ok(fp) = normalize_fingerprint(&s) {
        assert_eq!(fp.len(), 64);
        assert!(fp.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase()), "{fp:?}");
        assert_eq!(normalize_fingerprint(&fp).unwrap(), fp);
    }
}

/// `display`: peer strings as shown to people (`ferry_core::display`). What `escape` returns holds
/// no control, format, line or paragraph separator character; what `escape_text` returns holds
/// no such character except line breaks and tabs; a string with nothing to escape is unchanged;
/// and the name rules and the display agree on what a format character is.
pub fn display(data: &[u8]) {
    use ferry_core::display::{escape, escape_text, is_format, needs_escape};
    let s = text(data);
    let live = |c: char| c.is_control() || is_format(c) || c == '\u{2028}' || c == '\u{2029}';
    let e = escape(&s);
    assert!(!e.chars().any(live), "escape left a live character in {e:?}");
    let t = escape_text(&s);
    assert!(!t.chars().any(|c| live(c) && c != '\n' && c != '\t'), "escape_text left a live character in {t:?}");
    if !s.chars().any(needs_escape) {
        assert_eq!(e, s, "escape changed a string with nothing to escape");
    }
    for c in s.chars() {
        assert_eq!(is_format(c), is_format_char(c), "U+{:04X}: display and the fuzz checks disagree", c as u32);
    }
}

/// `range`: the `Range` header of a download (and the `Content-Disposition` of a name). A
/// partial answer lies inside the file; a header without `bytes=` is never partial; the
/// disposition of any name is one line of printable ASCII that starts `attachment; `.
pub fn range(data: &[u8]) {
    use ferry_core::share::{content_disposition, parse_range, RangeAnswer};
    let (size, rest) = match data.split_first_chunk::<8>() {
        Some((head, rest)) => (u64::from_le_bytes(*head), rest),
        None => (data.len() as u64, data),
    };
    let s = text(rest);
    // Small sizes too, where the edges are.
    for size in [size, size % 1000, 0, 1] {
        match parse_range(&s, size) {
            RangeAnswer::Partial { start, end } => {
                assert!(start <= end && end < size, "{s:?} on {size} bytes gave {start}-{end}");
                assert!(s.trim_start().starts_with("bytes="), "{s:?} is not a byte range");
            }
            RangeAnswer::Unsatisfiable => assert!(s.trim_start().starts_with("bytes="), "{s:?} is not a byte range"),
            RangeAnswer::Full => {}
        }
    }
    let d = content_disposition(&s);
    assert!(d.starts_with("attachment; filename=\""), "{d:?}");
    assert!(d.bytes().all(|b| (0x20..0x7f).contains(&b)), "not printable ASCII: {d:?}");
}

/// `content_range`: `X-Content-Range` values as the receiver reads them (pieces of a file).
pub fn content_range(data: &[u8]) {
    use ferry_core::fuzzing::parse_content_range;
    let s = text(data);
    if let Some((first, last, total)) = parse_content_range(&s) {
        assert!(first <= last && last < total, "a range outside its total: {first}-{last}/{total}");
        assert!(s.trim().starts_with("bytes "), "taken without its unit");
        // What was taken is exactly what its canonical form says.
        assert_eq!(parse_content_range(&format!("bytes {first}-{last}/{total}")), Some((first, last, total)));
    }
}

/// `pairing`: pairing code text as `ferry trust add ferry://pair?...` reads it (hostile: from a
/// QR code or a paste). What parses is within the bounds, and prints back to the same code.
pub fn pairing(data: &[u8]) {
    use ferry_core::pairing::{PairingCode, MAX_ADDRESSES, MAX_ALIAS_CHARS, MAX_CODE_LEN};
    let s = text(data);
    if let Ok(c) = PairingCode::parse(&s) {
        assert!(s.trim().len() <= MAX_CODE_LEN);
        assert_eq!(c.fingerprint.len(), 64);
        assert!(c.fingerprint.chars().all(|ch| ch.is_ascii_hexdigit() && !ch.is_ascii_lowercase()), "{c:?}");
        assert!(c.port != 0);
        assert!(!c.addresses.is_empty() && c.addresses.len() <= MAX_ADDRESSES, "{c:?}");
        assert!(c.alias.chars().count() <= MAX_ALIAS_CHARS, "{c:?}");
        assert_eq!(c.peer_addresses().len(), c.addresses.len());
        let again = PairingCode::parse(&c.to_string()).expect("a parsed code prints to a valid one");
        assert_eq!(again, c, "{s:?} does not round-trip");
    }
}

/// `sha256_trailer`: the values of `x-ferry-sha256` or `x-ferry-blake3` trailer fields (one per
/// line) as a receiver reads the checksum that follows a body (both kinds go through the same
/// parser; only the field's name differs). What is taken is one value of 64 hex digits, lowercased.
pub fn sha256_trailer(data: &[u8]) {
    use ferry_core::protocol::{parse_sha256_value, sha256_from_trailer_values, TrailerError};
    if let Some(s) = parse_sha256_value(data) {
        assert_eq!(s.len(), 64);
        assert!(s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{s:?}");
        assert!(s.as_bytes().eq_ignore_ascii_case(data), "not what was sent: {s:?}");
    }
    let values: Vec<&[u8]> = if data.is_empty() { vec![] } else { data.split(|&b| b == b'\n').collect() };
    match sha256_from_trailer_values(values.iter().copied()) {
        Ok(s) => assert!(values.len() == 1 && parse_sha256_value(values[0]) == Some(s)),
        Err(TrailerError::Missing) => assert!(values.is_empty()),
        Err(TrailerError::Duplicated) => assert!(values.len() > 1),
        Err(TrailerError::Malformed) => assert!(values.len() == 1 && parse_sha256_value(values[0]).is_none()),
    }
}

/// `file_list`: the receiver's prepare-upload parser (streamed, counted) never panics, never
/// returns more items than its cap, takes only what the plain typed parse of the same request
/// takes, and agrees with it about how many files the request carries. (Like that parse, it skips
/// the values of fields it does not know without looking into their strings: invalid UTF-8 there
/// is not refused, and never used.)
pub fn file_list(data: &[u8]) {
    use ferry_core::protocol::IncomingPrepare;
    use ferry_core::server::{parse_file_list_capped, ListError};
    const CAP: usize = 64;
    match parse_file_list_capped(data, CAP, 256 * 1024) {
        Ok(n) => {
            assert!(n <= CAP, "{n} items over the cap of {CAP}");
            let plain: IncomingPrepare = serde_json::from_slice(data).expect("the streamed parser took what the plain parse refuses");
            // Files and empty folders count as items.
            let items = plain.files.len() + plain.ferry.as_ref().map_or(0, |f| f.empty_dirs.len());
            assert_eq!(items, n, "the plain parse found {items} items, the streamed one {n}");
        }
        Err(ListError::Invalid(_) | ListError::TooManyItems | ListError::TooLarge | ListError::EntryTooLarge) => {}
        Err(ListError::Busy) => panic!("a plain cap answered busy"),
    }
}
