//! Small helpers.

use std::net::IpAddr;

/// A random 128-bit identifier in UUID v4 form (what LocalSend apps use for ids and tokens).
pub fn random_id() -> String {
    format_id(random_id_bytes())
}

/// 128 random bits for [`format_id`] (kept as bytes where many are stored).
pub fn random_id_bytes() -> [u8; 16] {
    rand::random()
}

/// Formats 128 bits in UUID v4 form.
pub fn format_id(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// Compares secrets without stopping at the first difference.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    // `subtle` answers a length mismatch early (lengths are not secret) and compares equal-length bytes in constant time.
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// IPv4-mapped IPv6 addresses as plain IPv4, so one sender has one address.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// What [`percent_encode`] leaves as is: the unreserved characters of RFC 3986 (`A-Z a-z 0-9 - _ . ~`).
const QUERY_COMPONENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Decodes `%XX` and `+` in a query component (a malformed `%` escape stays as it is, invalid UTF-8 becomes U+FFFD).
pub fn percent_decode(s: &str) -> String {
    let plus_as_space = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus_as_space).decode_utf8_lossy().into_owned()
}

/// Encodes a query component.
pub fn percent_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, QUERY_COMPONENT).to_string()
}

/// Looks up a query parameter (`application/x-www-form-urlencoded`: `+` is a space, `%XX` a byte).
pub fn query_param(query: Option<&str>, key: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes()).find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuid_v4_shaped_and_unique() {
        let a = random_id();
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert_ne!(a, random_id());
    }

    #[test]
    fn query_parsing() {
        let q = Some("sessionId=a%2Fb&fileId=x+y&token=t&pin=");
        assert_eq!(query_param(q, "sessionId").as_deref(), Some("a/b"));
        assert_eq!(query_param(q, "fileId").as_deref(), Some("x y"));
        assert_eq!(query_param(q, "pin").as_deref(), Some(""));
        assert_eq!(query_param(q, "nope"), None);
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode(&percent_encode("ä b/c")), "ä b/c");
        assert!(constant_time_eq("abc", "abc") && !constant_time_eq("abc", "abd") && !constant_time_eq("a", "ab"));
        assert!(constant_time_eq("", "") && !constant_time_eq("", "a"));
        // Malformed escapes stay, `+` is a space, and a parameter named like another one's value is not confused with it.
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("a%2Bb+c"), "a+b c");
        assert_eq!(percent_encode("a b+~"), "a%20b%2B~");
        assert_eq!(query_param(Some("x=pin&pin=1%262"), "pin").as_deref(), Some("1&2"));
        assert_eq!(query_param(Some("pin"), "pin").as_deref(), Some(""));
    }
}
