//! tru.ID PhoneCheck v0.2 client: OAuth2 client-credentials token (cached
//! until shortly before it expires), create / get / patch a check.
//!
//! Errors are typed so the factor can tell "the provider is not there"
//! ([`TruIdError::Unavailable`], the only class `failmode = safe` may turn
//! into an allow) from "the provider said no" (everything else).
//! Secrets are zeroized, never shown by `Debug`, never put in an error.
//!
//! - `credentials`: client id and secret, tru.ID's `tru.json`.
//! - `types`: check states and the documented payloads.
//! - `client`: the HTTP client and its token cache.

mod client;
mod credentials;
pub mod types;

pub use client::TruIdClient;
pub use credentials::Credentials;
pub use types::{CheckState, CheckStatus, CreatedCheck};

use std::time::Duration;

use crate::provider::FailureClass;
use crate::sanitize::strip_control;

pub const TOKEN_PATH: &str = "/oauth2/v1/token";
pub const CHECKS_PATH: &str = "/phone_check/v0.2/checks";
/// The scope a PhoneCheck token needs (and the only one we ask for).
pub const SCOPE: &str = "phone_check";

/// Longest provider text kept for logs (problem details, error codes).
const MAX_DETAIL: usize = 200;

/// Each variant has one shared [`FailureClass`] ([`TruIdError::class`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TruIdError {
    /// Unreachable, timed out, 5xx, or an answer that is not what the API
    /// documents. `failmode` applies only if this happens before the user
    /// was shown anything.
    #[error("tru.ID unavailable: {0}")]
    Unavailable(String),
    /// 429: try again after the given delay (if the provider said).
    #[error("tru.ID rate limit reached")]
    RateLimited { retry_after: Option<Duration> },
    /// 401/403 on the token: the configured credentials are wrong.
    #[error("tru.ID refused the credentials (HTTP {0})")]
    Unauthorized(u16),
    /// Any other 4xx: the request was refused (bad number, operator not
    /// supported, conflict...). `detail` is the provider's text, sanitised.
    #[error("tru.ID refused the request (HTTP {status}): {detail}")]
    Rejected { status: u16, detail: String },
    /// Local misconfiguration (credentials file, URL, CA file).
    #[error("tru.ID client configuration: {0}")]
    Config(String),
}

impl TruIdError {
    /// The shared failure class; `None` for a local misconfiguration.
    pub fn class(&self) -> Option<FailureClass> {
        match self {
            Self::Unavailable(_) => Some(FailureClass::Unavailable),
            Self::RateLimited { retry_after } => Some(FailureClass::RateLimited {
                retry_after: *retry_after,
            }),
            Self::Unauthorized(_) | Self::Rejected { .. } => Some(FailureClass::Refused),
            Self::Config(_) => None,
        }
    }
}

/// Whether `id` can be a tru.ID check id: hex digits and dashes (UUIDs),
/// 8 to 64 characters. Anything else never reaches a URL path.
pub fn valid_check_id(id: &str) -> bool {
    (8..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

/// Whether `code` can be an operator code from the redirect: 1 to 128
/// URL-safe characters (letters, digits, `-`, `_`, `.`, `~`).
pub fn valid_code(code: &str) -> bool {
    (1..=128).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
}

fn clip(text: &str) -> String {
    strip_control(text, false)
        .chars()
        .take(MAX_DETAIL)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_codes_are_checked() {
        assert!(valid_check_id("c69bc0e6-a429-11ea-bb37-0242ac130002"));
        for bad in [
            "",
            "short",
            "../../oauth2",
            "c69bc0e6-a429-11ea-bb37-0242ac13000z",
            &"a".repeat(65),
        ] {
            assert!(!valid_check_id(bad), "{bad}");
        }
        assert!(valid_code("Zx9_-.~a"));
        for bad in ["", "a b", "<script>", "a&b=c", "é", &"a".repeat(129)] {
            assert!(!valid_code(bad), "{bad}");
        }
    }
}
