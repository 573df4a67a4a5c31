//! Check states and the payloads of the PhoneCheck v0.2 API
//! (`fixtures/truid/`).

use secrecy::SecretString;
use serde::Deserialize;

use super::{clip, TruIdError};

/// Status of a PhoneCheck, as the API spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CheckStatus {
    Accepted,
    Pending,
    Completed,
    Expired,
    Error,
    /// Anything the API adds later: never an allow.
    #[serde(other)]
    Unknown,
}

impl CheckStatus {
    /// Still waiting for the phone.
    pub fn is_open(self) -> bool {
        matches!(self, CheckStatus::Accepted | CheckStatus::Pending)
    }
}

/// A check as returned by GET or PATCH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckState {
    pub check_id: String,
    pub status: CheckStatus,
    /// `match`: the phone that opened the link has the SIM of the number.
    pub matched: bool,
    /// With `ERROR`: the provider's code, sanitised.
    pub error_code: Option<String>,
}

impl CheckState {
    /// The only state that allows a login.
    pub fn verified(&self) -> bool {
        self.status == CheckStatus::Completed && self.matched
    }
}

/// A freshly created check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedCheck {
    pub check_id: String,
    pub status: CheckStatus,
    /// Seconds the check stays open, if the provider said.
    pub ttl: Option<u64>,
    /// The URL the phone must open over mobile data.
    pub check_url: String,
}

#[derive(Deserialize)]
pub(super) struct TokenBody {
    pub(super) access_token: SecretString,
    pub(super) expires_in: u64,
}

#[derive(Deserialize)]
pub(super) struct Href {
    pub(super) href: String,
}

#[derive(Deserialize)]
pub(super) struct CreateLinks {
    pub(super) check_url: Href,
}

#[derive(Deserialize)]
pub(super) struct CreateBody {
    pub(super) check_id: String,
    pub(super) status: CheckStatus,
    #[serde(default)]
    pub(super) ttl: Option<u64>,
    #[serde(rename = "_links")]
    pub(super) links: CreateLinks,
}

#[derive(Deserialize)]
pub(super) struct StateBody {
    pub(super) check_id: String,
    pub(super) status: CheckStatus,
    #[serde(rename = "match", default)]
    pub(super) matched: bool,
    #[serde(default)]
    pub(super) error_code: Option<String>,
}

/// An answer about check `asked` (GET or PATCH), from its raw body, as
/// the client reads it: the documented JSON about that very check, or
/// unavailable. Public for the fuzz target.
pub fn parse_state(asked: &str, body: &[u8]) -> Result<CheckState, TruIdError> {
    let b: StateBody = serde_json::from_slice(body)
        .map_err(|_| TruIdError::Unavailable("answer is not the documented JSON".into()))?;
    state_of(asked, b)
}

pub(super) fn state_of(asked: &str, b: StateBody) -> Result<CheckState, TruIdError> {
    // An answer about another check is not an answer about ours.
    if b.check_id != asked {
        return Err(TruIdError::Unavailable(
            "answer is about another check".into(),
        ));
    }
    Ok(CheckState {
        check_id: b.check_id,
        status: b.status,
        matched: b.matched,
        error_code: b.error_code.as_deref().map(clip),
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::phonecheck::truid::valid_check_id;

    fn fixture(name: &str) -> String {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures/truid")
            .join(name);
        std::fs::read_to_string(p).unwrap()
    }

    #[test]
    fn recorded_payloads_parse() {
        let t: TokenBody = serde_json::from_str(&fixture("token.json")).unwrap();
        assert_eq!(t.expires_in, 3599);
        let c: CreateBody = serde_json::from_str(&fixture("check_created.json")).unwrap();
        assert_eq!(c.status, CheckStatus::Accepted);
        assert_eq!(c.ttl, Some(60));
        assert!(valid_check_id(&c.check_id));
        assert!(c.links.check_url.href.ends_with("/redirect"));
        let s = state_of(
            "c69bc0e6-a429-11ea-bb37-0242ac130002",
            serde_json::from_str(&fixture("check_completed.json")).unwrap(),
        )
        .unwrap();
        assert!(s.verified());
        let e = state_of(
            "c69bc0e6-a429-11ea-bb37-0242ac130002",
            serde_json::from_str(&fixture("check_error.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(e.status, CheckStatus::Error);
        assert_eq!(e.error_code.as_deref(), Some("mno_redirect_unsupported"));
        assert!(!e.verified());
    }

    #[test]
    fn unknown_status_and_missing_match_never_verify() {
        let s = state_of(
            "abcdef01",
            serde_json::from_str(
                r#"{"check_id":"abcdef01","status":"SOMETHING_NEW","match":true}"#,
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(s.status, CheckStatus::Unknown);
        assert!(!s.verified());
        let s = state_of(
            "abcdef01",
            serde_json::from_str(r#"{"check_id":"abcdef01","status":"COMPLETED"}"#).unwrap(),
        )
        .unwrap();
        assert!(
            !s.verified(),
            "COMPLETED without match:true must not verify"
        );
        let other = state_of(
            "abcdef01",
            serde_json::from_str(r#"{"check_id":"abcdef02","status":"COMPLETED","match":true}"#)
                .unwrap(),
        );
        assert!(matches!(other, Err(TruIdError::Unavailable(_))));
    }
}
