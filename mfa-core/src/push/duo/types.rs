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

/// A preauth answer, validated as duo_unix validates it: a field the API
/// documents as present must be there with its type, or the whole answer
/// is malformed (a failed service call, never a decision). `status_msg`
/// always; `devices` with `auth`; `enroll_portal_url` with `enroll`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawPreauth")]
pub struct Preauth {
    pub result: PreauthResult,
    pub status_msg: String,
    pub enroll_portal_url: Option<String>,
    pub devices: Vec<Device>,
}

#[derive(Deserialize)]
struct RawPreauth {
    result: PreauthResult,
    status_msg: String,
    #[serde(default)]
    enroll_portal_url: Option<String>,
    #[serde(default)]
    devices: Option<Vec<Device>>,
}

impl TryFrom<RawPreauth> for Preauth {
    type Error = &'static str;

    fn try_from(raw: RawPreauth) -> Result<Self, Self::Error> {
        let devices = match (&raw.result, raw.devices) {
            (PreauthResult::Auth, None) => return Err("preauth result auth without devices"),
            (_, devices) => devices.unwrap_or_default(),
        };
        if raw.result == PreauthResult::Enroll && raw.enroll_portal_url.is_none() {
            return Err("preauth result enroll without enroll_portal_url");
        }
        Ok(Self {
            result: raw.result,
            status_msg: raw.status_msg,
            enroll_portal_url: raw.enroll_portal_url,
            devices,
        })
    }
}

/// One of the user's devices, as preauth lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Device {
    /// Device id, sent back as `device=`.
    pub device: String,
    #[serde(rename = "type")]
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
    /// Required, as `status_msg` is: an answer without them is malformed,
    /// whatever its `result` says.
    pub status: String,
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
        let p: Preauth = serde_json::from_str(r#"{"result":"sure","status_msg":""}"#).unwrap();
        assert_eq!(p.result, PreauthResult::Other("sure".into()));
    }

    /// Every required field, removed or mistyped in turn, makes the answer
    /// unreadable: it never decodes into a decision with defaults filled in
    /// (a bare `{"result":"allow"}` once passed as a Duo bypass).
    #[test]
    fn answers_missing_or_mistyping_a_required_field_are_refused() {
        let bad_preauth = [
            r#"{"result":"allow"}"#,
            r#"{"status_msg":"x"}"#,
            r#"{"result":"allow","status_msg":5}"#,
            r#"{"result":7,"status_msg":"x"}"#,
            r#"{"result":"auth","status_msg":"x"}"#,
            r#"{"result":"auth","status_msg":"x","devices":{}}"#,
            r#"{"result":"auth","status_msg":"x","devices":[{"type":"phone"}]}"#,
            r#"{"result":"auth","status_msg":"x","devices":[{"device":"D1"}]}"#,
            r#"{"result":"auth","status_msg":"x","devices":[{"device":"D1","type":"phone","capabilities":"push"}]}"#,
            r#"{"result":"enroll","status_msg":"x"}"#,
            r#"[]"#,
        ];
        for b in bad_preauth {
            assert!(serde_json::from_str::<Preauth>(b).is_err(), "accepted {b}");
        }
        let good: Preauth =
            serde_json::from_str(r#"{"result":"allow","status_msg":"ok"}"#).unwrap();
        assert_eq!((good.result, good.devices.len()), (PreauthResult::Allow, 0));
        let good: Preauth = serde_json::from_str(
            r#"{"result":"auth","status_msg":"x","devices":[{"device":"D1","type":"token"}]}"#,
        )
        .unwrap();
        assert!(
            !good.devices[0].can("push"),
            "no capabilities: none assumed"
        );

        let bad_status = [
            r#"{"result":"allow"}"#,
            r#"{"result":"allow","status":"allow"}"#,
            r#"{"result":"allow","status_msg":"ok"}"#,
            r#"{"result":"allow","status":1,"status_msg":"ok"}"#,
            r#"{"status":"allow","status_msg":"ok"}"#,
        ];
        for b in bad_status {
            assert!(
                serde_json::from_str::<AuthStatus>(b).is_err(),
                "accepted {b}"
            );
        }
        assert!(serde_json::from_str::<AuthStatus>(
            r#"{"result":"allow","status":"allow","status_msg":"ok"}"#
        )
        .is_ok());
    }
}
