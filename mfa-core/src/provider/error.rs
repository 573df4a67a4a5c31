//! The one classifier of provider failures, shared by the Duo, tru.ID and
//! webhook clients so that they cannot disagree about what `failmode` may
//! forgive.
//!
//! Design rule 1: `failmode = safe` may only open for a provider that could
//! not be used (unreachable, TLS, timeout, 5xx, an answer that is not the
//! documented one). Anything the service *said* (a 4xx, a 3xx: redirects
//! are never followed) is a refusal, and a 429 is a rate limit: neither is
//! ever forgiven, since a person holding the first factor can provoke both.
//! Whether an `Unavailable` may still reach failmode (only before the
//! authentication started) is the factor's decision, not the client's.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{provider_secs, MAX_PROVIDER_WAIT};
use crate::sanitize::strip_control;

/// What a failed call means for failmode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// The service could not be used: the only class failmode may forgive.
    Unavailable,
    /// The service answered and said no.
    Refused,
    /// HTTP 429: try again after `retry_after` (when the service said).
    RateLimited { retry_after: Option<Duration> },
}

/// The class of an HTTP status; `None` for a success (2xx).
pub fn classify_status(status: u16, retry_after: Option<Duration>) -> Option<FailureClass> {
    match status {
        200..=299 => None,
        429 => Some(FailureClass::RateLimited { retry_after }),
        500..=599 => Some(FailureClass::Unavailable),
        _ => Some(FailureClass::Refused),
    }
}

/// The class of an answer, reading the wait a 429 asks for.
pub fn classify_response(resp: &reqwest::Response) -> Option<FailureClass> {
    let status = resp.status().as_u16();
    let retry_after = if status == 429 {
        requested_wait(resp.headers(), system_now())
    } else {
        None
    };
    classify_status(status, retry_after)
}

/// The wait a 429 asks for: `Retry-After`, else `X-Retry-After` (which Duo
/// sends instead), in seconds or as an HTTP date. A header that is there
/// but unreadable counts as absent, so the caller's own back-off applies.
pub fn requested_wait(headers: &reqwest::header::HeaderMap, now: SystemTime) -> Option<Duration> {
    [reqwest::header::RETRY_AFTER.as_str(), "x-retry-after"]
        .into_iter()
        .filter_map(|name| headers.get(name))
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| retry_after(v, now))
}

/// How long a `Retry-After` value asks to wait: delta-seconds or an HTTP
/// date (relative to `now`), capped at [`MAX_PROVIDER_WAIT`] so a deadline
/// computed from it cannot overflow. `None` when the value is neither.
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(provider_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(MAX_PROVIDER_WAIT),
    )
}

/// The system clock, never before the epoch (for `Retry-After` dates).
pub fn system_now() -> SystemTime {
    SystemTime::now().max(UNIX_EPOCH)
}

/// What kind of transport failure a request met. Always
/// [`FailureClass::Unavailable`]: no answer came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    Timeout,
    Connect,
    /// The request failed while being sent (e.g. the connection was reset).
    Request,
    Other,
}

impl TransportKind {
    /// A short description, the same for every provider.
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Timeout => "request timed out",
            TransportKind::Connect => "cannot connect",
            TransportKind::Request => "request failed",
            TransportKind::Other => "transport failed",
        }
    }
}

/// A request that got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transport {
    pub kind: TransportKind,
    /// The error's causes (TLS, DNS, I/O), stripped of control characters.
    /// Never the URL: `reqwest` puts it in its own message (it holds GET
    /// parameters, and a webhook URL is a credential), so only the causes
    /// below it are kept. A client that must not show even those (the
    /// webhook) uses `kind` alone.
    pub detail: String,
}

/// Classify a `reqwest` error that came instead of an answer.
pub fn transport(e: &reqwest::Error) -> Transport {
    let kind = if e.is_timeout() {
        TransportKind::Timeout
    } else if e.is_connect() {
        TransportKind::Connect
    } else if e.is_request() {
        TransportKind::Request
    } else {
        TransportKind::Other
    };
    let mut parts = Vec::new();
    if e.is_timeout() {
        parts.push("timed out".to_owned());
    }
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = src {
        parts.push(s.to_string());
        src = s.source();
    }
    if parts.is_empty() {
        parts.push(kind.as_str().to_owned());
    }
    Transport {
        kind,
        detail: strip_control(&parts.join(": "), false),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn statuses_fall_into_one_class_each() {
        let wait = Some(Duration::from_secs(3));
        for ok in [200, 201, 204, 299] {
            assert_eq!(classify_status(ok, None), None, "{ok}");
        }
        for down in [500, 502, 503, 504, 599] {
            assert_eq!(
                classify_status(down, None),
                Some(FailureClass::Unavailable),
                "{down}"
            );
        }
        // Answers: never forgiven by failmode. A redirect is not followed,
        // so it is the service answering something else than asked.
        for refused in [100, 301, 302, 400, 401, 403, 404, 409, 410, 412, 499, 600] {
            assert_eq!(
                classify_status(refused, None),
                Some(FailureClass::Refused),
                "{refused}"
            );
        }
        assert_eq!(
            classify_status(429, wait),
            Some(FailureClass::RateLimited { retry_after: wait })
        );
        assert_eq!(
            classify_status(200, wait),
            None,
            "Retry-After matters only with a 429"
        );
    }

    #[tokio::test]
    async fn no_answer_is_classified_without_the_url() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let url = format!("http://127.0.0.1:{port}/hooks/SECRET-TOKEN?passcode=314159");
        let e = reqwest::Client::new().get(&url).send().await.unwrap_err();
        assert!(
            e.to_string().contains("SECRET-TOKEN"),
            "reqwest quotes it: {e}"
        );
        let t = transport(&e);
        assert_eq!(t.kind, TransportKind::Connect, "{t:?}");
        assert!(!t.detail.is_empty());
        assert!(
            !t.detail.contains("SECRET-TOKEN") && !t.detail.contains("314159"),
            "{t:?}"
        );
    }

    #[test]
    fn retry_after_is_capped_so_deadlines_cannot_overflow() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let huge = retry_after("18446744073709551615", now).unwrap();
        assert_eq!(huge, MAX_PROVIDER_WAIT);
        // Adding it to now must not panic.
        let _ = std::time::Instant::now() + huge;
        let far = retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now).unwrap();
        assert_eq!(far, MAX_PROVIDER_WAIT);
    }

    #[test]
    fn the_wait_comes_from_retry_after_or_duos_x_retry_after() {
        use reqwest::header::{HeaderMap, HeaderValue};
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut h = HeaderMap::new();
        assert_eq!(requested_wait(&h, now), None);
        h.insert("x-retry-after", HeaderValue::from_static("4"));
        assert_eq!(requested_wait(&h, now), Some(Duration::from_secs(4)));
        h.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(
            requested_wait(&h, now),
            Some(Duration::from_secs(2)),
            "the standard header wins when both are sent"
        );
        h.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(
            requested_wait(&h, now),
            Some(Duration::from_secs(4)),
            "an unreadable Retry-After does not hide X-Retry-After"
        );
    }

    #[test]
    fn retry_after_takes_seconds_and_http_dates() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(" 3 ", now), Some(Duration::from_secs(3)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(retry_after(&later, now), Some(Duration::from_secs(7)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(7));
        assert_eq!(retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("-1", now), None);
    }
}
