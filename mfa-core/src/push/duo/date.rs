//! Dates as the Duo API wants them: RFC 2822 (`Tue, 21 Aug 2012 17:29:18
//! +0000`) in the `Date` header and in the signed canonical string.
//! (`Retry-After` is read by the shared `provider::error`; only the Duo
//! simulator parses these dates back.)

use time::format_description::well_known::Rfc2822;
use time::OffsetDateTime;

/// Format Unix seconds as an RFC 2822 date in UTC.
pub fn rfc2822(unix: u64) -> String {
    // Past the year 9999 there is no RFC 2822 date: an empty one, which no
    // server accepts, so the request is refused rather than mis-signed.
    i64::try_from(unix)
        .ok()
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
        .and_then(|t| t.format(&Rfc2822).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_rfc_2822() {
        // 1345570158 = Tue, 21 Aug 2012 17:29:18 UTC (Duo's documentation example day).
        assert_eq!(rfc2822(1_345_570_158), "Tue, 21 Aug 2012 17:29:18 +0000");
        assert_eq!(rfc2822(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc2822(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
        assert_eq!(rfc2822(253_402_300_799), "Fri, 31 Dec 9999 23:59:59 +0000");
        // No RFC 2822 form: empty (refused by the server), never a panic.
        assert_eq!(rfc2822(253_402_300_800), "");
        assert_eq!(rfc2822(u64::MAX), "");
    }
}
