//! The Auth API v2 payloads mfa reads. Every string in here came from the
//! network: strip control characters before showing one
//! ([`crate::sanitize::strip_control`]).

use serde::Deserialize;

/// `/auth/v2/preauth` → `response.result`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreauthResult {
    /// Go on with `/auth`.
    Auth,
    /// Bypass: let the user in without a second factor (Duo-side policy).
    Allow,
    /// Not allowed to authenticate.
    Deny,
    /// Not enrolled; `enroll_portal_url` says where to enrol.
    Enroll,
    /// Anything else: never trusted.
    Other(String),
}

impl<'de> Deserialize<'de> for PreauthResult {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(match s.as_str() {
            "auth" => Self::Auth,
            "allow" => Self::Allow,
            "deny" => Self::Deny,
            "enroll" => Self::Enroll,
            _ => Self::Other(s),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Preauth {
    pub result: PreauthResult,
    #[serde(default)]
    pub status_msg: String,
    #[serde(default)]
    pub enroll_portal_url: Option<String>,
    #[serde(default)]
    pub devices: Vec<Device>,
}

/// One of the user's devices, as preauth lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Device {
    /// Device id, sent back as `device=`.
    pub device: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub number: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub capabilities: Vec<String>,
    #[serde(default)]
    pub sms_nextcode: Option<String>,
}

impl Device {
    pub fn can(&self, capability: &str) -> bool {
        self.capabilities.iter().any(|c| c == capability)
    }

    /// What to call the device in a menu: number, else name, else id.
    pub fn label(&self) -> String {
        let raw = [&self.display_name, &self.number, &self.name]
            .into_iter()
            .flatten()
            .find(|s| !s.trim().is_empty())
            .map_or(self.device.as_str(), |s| s.as_str());
        crate::sanitize::strip_control(raw, false)
    }
}

/// `/auth` and `/auth_status` → `response.result`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthResult {
    Allow,
    Deny,
    Waiting,
    Other(String),
}

impl<'de> Deserialize<'de> for AuthResult {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(match s.as_str() {
            "allow" => Self::Allow,
            "deny" => Self::Deny,
            "waiting" => Self::Waiting,
            _ => Self::Other(s),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AuthStatus {
    pub result: AuthResult,
    /// Finer state: `pushed`, `calling`, `answered`, `sent`, `timeout`, `fraud`...
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub status_msg: String,
}

/// What `/auth` answered: a transaction to poll (`async=1`) or a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthStart {
    Txid(String),
    Done(AuthStatus),
}

#[derive(Debug, Deserialize)]
pub(crate) struct TxidOnly {
    pub txid: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ServerTime {
    pub time: u64,
}

/// The envelope of every answer: `{"stat": "OK", "response": ...}` or
/// `{"stat": "FAIL", "code": 40002, "message": ..., "message_detail": ...}`.
#[derive(Debug, Deserialize)]
pub(crate) struct Envelope {
    pub stat: Option<String>,
    pub response: Option<serde_json::Value>,
    pub code: Option<u32>,
    pub message: Option<String>,
    pub message_detail: Option<String>,
}

/// The factor a user picked (or the default one). `Debug` never shows a
/// passcode.
#[derive(Debug, Clone)]
pub enum AuthFactor {
    /// Duo chooses (push if possible, else phone), device `auto`.
    Auto,
    Push {
        device: String,
    },
    Phone {
        device: String,
    },
    /// Sends new SMS passcodes; the attempt itself is denied with `sent`.
    Sms {
        device: String,
    },
    Passcode(secrecy::SecretString),
}

impl AuthFactor {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Push { .. } => "push",
            Self::Phone { .. } => "phone",
            Self::Sms { .. } => "sms",
            Self::Passcode(_) => "passcode",
        }
    }

    /// Whether the answer comes later (poll `auth_status`).
    pub fn is_async(&self) -> bool {
        matches!(self, Self::Auto | Self::Push { .. } | Self::Phone { .. })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_recorded_preauth_payloads() {
        let p: Envelope =
            serde_json::from_str(include_str!("../../../../fixtures/duo/preauth_auth.json"))
                .unwrap();
        let pre: Preauth = serde_json::from_value(p.response.unwrap()).unwrap();
        assert_eq!(pre.result, PreauthResult::Auth);
        assert_eq!(pre.devices.len(), 2);
        assert!(pre.devices[0].can("push"));
        assert_eq!(pre.devices[0].label(), "iOS (XXX-XXX-0100)");
        assert_eq!(pre.devices[1].sms_nextcode.as_deref(), Some("2"));

        let p: Envelope =
            serde_json::from_str(include_str!("../../../../fixtures/duo/preauth_enroll.json"))
                .unwrap();
        let pre: Preauth = serde_json::from_value(p.response.unwrap()).unwrap();
        assert_eq!(pre.result, PreauthResult::Enroll);
        assert!(pre.enroll_portal_url.unwrap().starts_with("https://"));

        let w: Envelope = serde_json::from_str(include_str!(
            "../../../../fixtures/duo/auth_status_waiting.json"
        ))
        .unwrap();
        let w: AuthStatus = serde_json::from_value(w.response.unwrap()).unwrap();
        assert_eq!(
            (w.result, w.status.as_str()),
            (AuthResult::Waiting, "pushed")
        );

        let fail: Envelope =
            serde_json::from_str(include_str!("../../../../fixtures/duo/fail_401.json")).unwrap();
        assert_eq!(fail.stat.as_deref(), Some("FAIL"));
        assert_eq!(fail.code, Some(40103));
    }

    #[test]
    fn debug_never_shows_a_passcode() {
        let p = AuthFactor::Passcode("314159".into());
        let d = format!("{p:?}");
        assert!(
            d.starts_with("Passcode(") && d.contains("[REDACTED]"),
            "{d}"
        );
        assert!(!d.contains("314159"), "{d}");
        let d = AuthFactor::Push {
            device: "D1".into(),
        };
        assert_eq!(format!("{d:?}"), "Push { device: \"D1\" }");
    }

    #[test]
    fn unknown_results_are_kept_apart() {
        let s: AuthStatus =
            serde_json::from_str(r#"{"result":"maybe","status":"x","status_msg":"y"}"#).unwrap();
        assert_eq!(s.result, AuthResult::Other("maybe".into()));
        let p: Preauth = serde_json::from_str(r#"{"result":"sure"}"#).unwrap();
        assert_eq!(p.result, PreauthResult::Other("sure".into()));
    }
}
