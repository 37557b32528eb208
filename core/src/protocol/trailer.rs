//! The checksum that follows an upload's body (Ferry's feature `sha256After`): an HTTP/1.1
//! chunked trailer `x-ferry-sha256: <64 hex>` after the last chunk.

use hyper::HeaderMap;
use std::time::Duration;

/// The trailer field that carries a file's SHA-256 after its body (lowercase, as HTTP/1.1
/// field names are compared without case).
pub const SHA256_TRAILER: &str = "x-ferry-sha256";

/// The longest a receiver waits, once a body's declared bytes are in, for the rest of it (the
/// chunked body's end and its trailer).
pub const MAX_SHA256_TRAILER_WAIT: Duration = Duration::from_secs(10);

/// Why an upload's trailer holds no usable checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrailerError {
    /// No trailer, or none with [`SHA256_TRAILER`].
    Missing,
    /// [`SHA256_TRAILER`] more than once.
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
    sha256_from_trailer_values(trailers.get_all(SHA256_TRAILER).iter().map(|v| v.as_bytes()))
}

/// The SHA-256 of the values a trailer gave [`SHA256_TRAILER`] (in order): exactly one, valid.
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
}
