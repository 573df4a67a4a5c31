//! Message time stamps.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// `secs` since the epoch as RFC 3339 UTC, e.g. `2026-11-24T07:45:00Z`.
/// Empty past the year 9999, which has no RFC 3339 form (the message then
/// says nothing about the time rather than something wrong).
pub fn rfc3339_utc(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}
