//! File times on the wire: RFC 3339 (`metadata.modified`, `metadata.accessed`).

/// Parses an RFC 3339 time (fractional seconds and offsets allowed).
pub(crate) fn parse_time(s: &str) -> Option<std::time::SystemTime> {
    let t = time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339).ok()?;
    Some(t.into())
}

/// Formats a file time as RFC 3339 (UTC).
pub(crate) fn format_time(t: std::time::SystemTime) -> Option<String> {
    time::OffsetDateTime::from(t).format(&time::format_description::well_known::Rfc3339).ok()
}
