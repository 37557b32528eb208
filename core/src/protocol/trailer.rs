//! The checksum that follows an upload's body (Ferry's features `sha256After` and `blake3After`):
//! an HTTP/1.1 chunked trailer `x-ferry-sha256: <64 hex>` or `x-ferry-blake3: <64 hex>` after the
//! last chunk.

use hyper::HeaderMap;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// The trailer field that carries a file's SHA-256 after its body (lowercase, as HTTP/1.1
/// field names are compared without case).
pub const SHA256_TRAILER: &str = "x-ferry-sha256";

/// The trailer field that carries a file's BLAKE3 (256 bits) after its body.
pub const BLAKE3_TRAILER: &str = "x-ferry-blake3";

/// A checksum that can follow an upload's body; each has its own trailer field, and a field of
/// one never stands for the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumAlgo {
    /// SHA-256 in [`SHA256_TRAILER`] (feature `sha256After`).
    Sha256,
    /// BLAKE3-256 in [`BLAKE3_TRAILER`] (feature `blake3After`): about twice SHA-256's speed
    /// even against SHA-NI, on one thread.
    Blake3,
}

impl ChecksumAlgo {
    /// The trailer field that carries this checksum.
    pub fn trailer_name(self) -> &'static str {
        match self {
            ChecksumAlgo::Sha256 => SHA256_TRAILER,
            ChecksumAlgo::Blake3 => BLAKE3_TRAILER,
        }
    }
    /// A running hash of this kind.
    pub fn hasher(self) -> FileHasher {
        match self {
            ChecksumAlgo::Sha256 => FileHasher::Sha256(Sha256::new()),
            ChecksumAlgo::Blake3 => FileHasher::Blake3(Box::default()),
        }
    }
}

/// A running hash of a file's bytes, of one [`ChecksumAlgo`].
#[derive(Clone)]
pub enum FileHasher {
    Sha256(Sha256),
    Blake3(Box<blake3::Hasher>),
}

impl FileHasher {
    /// Adds `data`.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            FileHasher::Sha256(h) => h.update(data),
            FileHasher::Blake3(h) => {
                h.update(data);
            }
        }
    }
    /// The hash as 64 lowercase hexadecimal digits.
    pub fn finalize_hex(self) -> String {
        match self {
            FileHasher::Sha256(h) => hex::encode(h.finalize()),
            FileHasher::Blake3(h) => h.finalize().to_hex().to_string(),
        }
    }
    /// Which checksum this is.
    pub fn algo(&self) -> ChecksumAlgo {
        match self {
            FileHasher::Sha256(_) => ChecksumAlgo::Sha256,
            FileHasher::Blake3(_) => ChecksumAlgo::Blake3,
        }
    }
}

/// The longest a receiver waits, once a body's declared bytes are in, for the rest of it (the
/// chunked body's end and its trailer).
pub const MAX_SHA256_TRAILER_WAIT: Duration = Duration::from_secs(10);

/// Why an upload's trailer holds no usable checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrailerError {
    /// No trailer, or none with the expected field.
    Missing,
    /// The expected field more than once.
    Duplicated,
    /// Not 64 hexadecimal digits.
    Malformed,
}

impl TrailerError {
    /// What the receiver answers and reports (a fixed text: nothing of the peer's is in it).
    pub fn describe(self) -> &'static str {
        match self {
            TrailerError::Missing => "no checksum after the body",
            TrailerError::Duplicated => "the checksum after the body came twice",
            TrailerError::Malformed => "the checksum after the body is not 64 hexadecimal digits",
        }
    }
}

/// A SHA-256 written as exactly 64 hexadecimal digits (either case), lowercased; anything else
/// (spaces, a sign, other lengths, non-ASCII) is `None`.
pub fn parse_sha256_value(v: &[u8]) -> Option<String> {
    (v.len() == 64 && v.iter().all(u8::is_ascii_hexdigit)).then(|| v.iter().map(|b| char::from(b.to_ascii_lowercase())).collect())
}

/// The SHA-256 in a body's trailer fields: exactly one [`SHA256_TRAILER`] with a valid value.
/// Other fields are ignored (the HTTP layer bounds their size and count).
pub fn trailing_sha256(trailers: &HeaderMap) -> Result<String, TrailerError> {
    trailing_checksum(trailers, ChecksumAlgo::Sha256)
}

/// The checksum of kind `algo` in a body's trailer fields: exactly one field of its name
/// ([`ChecksumAlgo::trailer_name`]) with 64 hexadecimal digits; fields of the other kind and any
/// others are ignored.
pub fn trailing_checksum(trailers: &HeaderMap, algo: ChecksumAlgo) -> Result<String, TrailerError> {
    sha256_from_trailer_values(trailers.get_all(algo.trailer_name()).iter().map(|v| v.as_bytes()))
}

/// The checksum of the values a trailer gave its field (in order): exactly one, 64 hex digits
/// (the same form for SHA-256 and BLAKE3-256).
pub fn sha256_from_trailer_values<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Result<String, TrailerError> {
    let mut values = values.into_iter();
    let first = values.next().ok_or(TrailerError::Missing)?;
    if values.next().is_some() {
        return Err(TrailerError::Duplicated);
    }
    parse_sha256_value(first).ok_or(TrailerError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    #[test]
    fn sha256_values_are_parsed_strictly() {
        let good = "0123456789abcdefABCDEF0123456789abcdef0123456789abcdef0123456789";
        assert_eq!(parse_sha256_value(good.as_bytes()).as_deref(), Some(good.to_ascii_lowercase().as_str()));
        for bad in [
            "".to_string(),
            good[..63].to_string(),
            format!("{good}0"),
            format!(" {}", &good[1..]),
            format!("{}g", &good[..63]),
            format!("+{}", &good[1..]),
            "٠".repeat(32),
        ] {
            assert_eq!(parse_sha256_value(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn exactly_one_valid_trailer_field() {
        let digest = "a".repeat(64);
        let mut map = HeaderMap::new();
        assert_eq!(trailing_sha256(&map), Err(TrailerError::Missing));
        map.insert("x-other", HeaderValue::from_static("1"));
        assert_eq!(trailing_sha256(&map), Err(TrailerError::Missing));
        map.insert(SHA256_TRAILER, HeaderValue::from_str(&digest.to_ascii_uppercase()).unwrap());
        assert_eq!(trailing_sha256(&map), Ok(digest.clone()));
        map.append(SHA256_TRAILER, HeaderValue::from_str(&digest).unwrap());
        assert_eq!(trailing_sha256(&map), Err(TrailerError::Duplicated));
        map.insert(SHA256_TRAILER, HeaderValue::from_static("sha-256=:abc:"));
        assert_eq!(trailing_sha256(&map), Err(TrailerError::Malformed));
    }

    #[test]
    fn a_field_of_one_checksum_never_stands_for_the_other() {
        let digest = "b".repeat(64);
        let mut map = HeaderMap::new();
        map.insert(SHA256_TRAILER, HeaderValue::from_str(&digest).unwrap());
        assert_eq!(trailing_checksum(&map, ChecksumAlgo::Blake3), Err(TrailerError::Missing));
        map.insert(BLAKE3_TRAILER, HeaderValue::from_str(&digest).unwrap());
        assert_eq!(trailing_checksum(&map, ChecksumAlgo::Blake3), Ok(digest.clone()));
        map.remove(SHA256_TRAILER);
        assert_eq!(trailing_checksum(&map, ChecksumAlgo::Sha256), Err(TrailerError::Missing));
        map.append(BLAKE3_TRAILER, HeaderValue::from_str(&digest).unwrap());
        assert_eq!(trailing_checksum(&map, ChecksumAlgo::Blake3), Err(TrailerError::Duplicated));
    }

    #[test]
    fn the_hashers_are_the_standard_ones() {
        let mut h = ChecksumAlgo::Blake3.hasher();
        h.update(b"ab");
        h.update(b"c");
        // BLAKE3("abc") from the reference implementation's test vectors.
        assert_eq!(h.finalize_hex(), "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85");
        let mut h = ChecksumAlgo::Sha256.hasher();
        h.update(b"abc");
        assert_eq!(h.finalize_hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
