//! What can go wrong talking to Duo, classified for failmode by the shared
//! classifier (`provider::error`): a service that could not be used
//! (unreachable, TLS, timeout, 5xx, garbage) versus a service that answered
//! and refused (3xx, 4xx, `stat: FAIL`) or rate-limited us past the
//! deadline.

use super::types::Envelope;
use crate::provider::{classify_status, FailureClass, Transport};
use crate::sanitize::strip_control;

/// Why a call failed. [`DuoError::service_failed`] separates the classes
/// `failmode = safe` may forgive (only before the authentication starts).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DuoError {
    /// Connection refused, DNS, TLS failure, request timeout.
    #[error("cannot reach the Duo service: {0}")]
    Unreachable(String),
    /// HTTP 5xx.
    #[error("the Duo service failed (HTTP {0})")]
    Server(u16),
    /// Not JSON, not a Duo envelope, `stat` neither OK nor FAIL, no `response`.
    #[error("unusable answer from the Duo service: {0}")]
    Garbage(String),
    /// HTTP 4xx or `stat: FAIL`: the service answered and said no.
    #[error("the Duo service refused the request (HTTP {status}, code {code}): {message}")]
    Refused {
        status: u16,
        code: u32,
        message: String,
    },
    /// 429 with a wait that would pass the deadline.
    #[error("rate limited by the Duo service beyond the deadline")]
    RateLimited,
    /// The caller's deadline passed (429 waits, slow answers).
    #[error("deadline reached while talking to the Duo service")]
    Deadline,
}

impl DuoError {
    /// The shared failure class; `None` for [`DuoError::Deadline`], which
    /// is our own deadline running out, not anything the service did.
    pub fn class(&self) -> Option<FailureClass> {
        match self {
            Self::Unreachable(_) | Self::Server(_) | Self::Garbage(_) => {
                Some(FailureClass::Unavailable)
            }
            Self::Refused { .. } => Some(FailureClass::Refused),
            Self::RateLimited => Some(FailureClass::RateLimited { retry_after: None }),
            Self::Deadline => None,
        }
    }

    /// The service could not be used at all: unreachable, TLS, timeout,
    /// 5xx, garbage. Everything else is an answer.
    pub fn service_failed(&self) -> bool {
        self.class() == Some(FailureClass::Unavailable)
    }
}

impl From<Transport> for DuoError {
    fn from(t: Transport) -> Self {
        DuoError::Unreachable(t.detail)
    }
}

/// Turn status + body into the `response` value or a classified error.
/// (A 429 never gets here: the client waits and retries.)
pub fn interpret(status: u16, body: &[u8]) -> Result<serde_json::Value, DuoError> {
    let class = classify_status(status, None);
    if class == Some(FailureClass::Unavailable) {
        return Err(DuoError::Server(status));
    }
    let env: Option<Envelope> = serde_json::from_slice(body).ok();
    if class.is_some() {
        let (code, message) = env
            .map(|e| {
                let mut m = e.message.unwrap_or_default();
                if let Some(d) = e.message_detail {
                    m = format!("{m} ({d})");
                }
                (e.code.unwrap_or(0), m)
            })
            .unwrap_or((0, String::new()));
        return Err(DuoError::Refused {
            status,
            code,
            message: strip_control(&message, false),
        });
    }
    let env = env.ok_or_else(|| DuoError::Garbage("not a JSON Duo envelope".into()))?;
    match env.stat.as_deref() {
        Some("OK") => env
            .response
            .ok_or_else(|| DuoError::Garbage("stat OK without a response".into())),
        Some("FAIL") => Err(DuoError::Refused {
            status,
            code: env.code.unwrap_or(0),
            message: strip_control(&env.message.unwrap_or_default(), false),
        }),
        Some(other) => Err(DuoError::Garbage(format!(
            "unknown stat {:?}",
            strip_control(other, false)
        ))),
        None => Err(DuoError::Garbage("no stat".into())),
    }
}

pub(super) fn decode<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, DuoError> {
    serde_json::from_value(v).map_err(|e| DuoError::Garbage(format!("unexpected response: {e}")))
}
#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn classifies_answers() {
        let ok = br#"{"stat":"OK","response":{"time":5}}"#;
        assert_eq!(interpret(200, ok).unwrap()["time"], 5);
        assert_eq!(interpret(503, ok), Err(DuoError::Server(503)));
        assert!(matches!(
            interpret(200, b"<html>"),
            Err(DuoError::Garbage(_))
        ));
        assert!(matches!(
            interpret(200, br#"{"stat":"OK"}"#),
            Err(DuoError::Garbage(_))
        ));
        assert!(matches!(
            interpret(200, br#"{"stat":"MAYBE","response":{}}"#),
            Err(DuoError::Garbage(_))
        ));
        let fail = include_bytes!("../../../../fixtures/duo/fail_401.json");
        assert_eq!(
            interpret(401, fail),
            Err(DuoError::Refused {
                status: 401,
                code: 40103,
                message: "Invalid signature in request credentials".into()
            })
        );
        // A 4xx with a body that is not JSON is still a refusal, not garbage.
        assert!(matches!(
            interpret(404, b"nope"),
            Err(DuoError::Refused { status: 404, .. })
        ));
        assert!(matches!(
            interpret(200, br#"{"stat":"FAIL","code":40002,"message":"bad \u001b[2Jx"}"#),
            Err(DuoError::Refused { message, .. }) if message == "bad [2Jx"
        ));
        // A redirect (never followed) is the service answering, as for
        // every provider: a refusal, never failmode.
        assert!(matches!(
            interpret(302, b""),
            Err(DuoError::Refused { status: 302, .. })
        ));
    }

    #[test]
    fn failmode_classes() {
        assert!(DuoError::Unreachable("x".into()).service_failed());
        assert!(DuoError::Server(500).service_failed());
        assert!(DuoError::Garbage("x".into()).service_failed());
        assert!(!DuoError::RateLimited.service_failed());
        assert!(!DuoError::Deadline.service_failed());
        assert!(!DuoError::Refused {
            status: 400,
            code: 0,
            message: String::new()
        }
        .service_failed());
    }
}
