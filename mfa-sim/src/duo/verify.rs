//! The server's half of Duo request signing: what the simulator needs to
//! check a client's `Authorization` and date. The client's half (signing,
//! formatting the date) is `mfa_core::push::duo::{sign, date}`; only
//! this simulator ever reads those headers back.

use subtle::ConstantTimeEq;
use time::format_description::well_known::Rfc2822;
use time::OffsetDateTime;

/// Split `Basic base64(ikey:sig)`.
pub(crate) fn parse_authorization(header: &str) -> Option<(String, String)> {
    let b64 = header.strip_prefix("Basic ")?;
    let raw = data_encoding::BASE64.decode(b64.trim().as_bytes()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (ikey, sig) = text.split_once(':')?;
    Some((ikey.to_owned(), sig.to_owned()))
}

/// Compare a received signature with the expected one in constant time,
/// as the real service must.
pub(crate) fn signature_matches(expected: &str, received: &str) -> bool {
    expected.len() == received.len() && bool::from(expected.as_bytes().ct_eq(received.as_bytes()))
}

/// Parse an RFC 2822 date (`Tue, 21 Aug 2012 17:29:18 +0000`, any numeric
/// zone or `GMT`/`UT`, the day name optional) into
/// Unix seconds; `None` for anything else or a date before 1970.
pub(crate) fn parse_rfc2822(s: &str) -> Option<u64> {
    let t = OffsetDateTime::parse(s.trim(), &Rfc2822).ok()?;
    u64::try_from(t.unix_timestamp()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mfa_core::push::duo::date::rfc2822;
    use mfa_core::push::duo::sign::authorization;

    #[test]
    fn authorization_round_trips_and_compares() {
        let h = authorization("IKEY", "abc123");
        assert_eq!(
            parse_authorization(&h),
            Some(("IKEY".into(), "abc123".into()))
        );
        assert_eq!(parse_authorization("Bearer x"), None);
        assert_eq!(parse_authorization("Basic !!!"), None);
        assert!(signature_matches("abc", "abc"));
        assert!(!signature_matches("abc", "abd"));
        assert!(!signature_matches("abc", "ab"));
    }

    #[test]
    fn parses_what_the_client_formats_and_other_zones() {
        for t in [0, 951_782_400, 1_345_570_158, 1_700_000_000, 4_102_444_800] {
            assert_eq!(parse_rfc2822(&rfc2822(t)), Some(t));
        }
        assert_eq!(
            parse_rfc2822("Tue, 21 Aug 2012 19:29:18 +0200"),
            Some(1_345_570_158)
        );
        assert_eq!(
            parse_rfc2822("21 Aug 2012 17:29:18 GMT"),
            Some(1_345_570_158)
        );
        // Python's email.utils.formatdate, as Duo's own clients send it.
        assert_eq!(
            parse_rfc2822("Tue, 21 Aug 2012 17:29:18 -0000"),
            Some(1_345_570_158)
        );
        for bad in [
            "",
            "yesterday",
            "Xyz, 21 Aug 2012 17:29:18 +0000",
            "Tue, 21 Foo 2012 17:29:18 +0000",
            "Tue, 21 Aug 2012 25:29:18 +0000",
            "Tue, 21 Aug 2012 17:29:18 EST5",
            "Tue, 21 Aug 2012 17:29:18 +0000 extra",
        ] {
            assert_eq!(parse_rfc2822(bad), None, "{bad}");
        }
    }
}
