//! The `Factor` trait: one second factor, and what it can conclude; and
//! [`build`], which makes each kind from the configuration.

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::context::AuthContext;
use crate::conversation::{Conversation, ConversationError};

mod build;

pub use build::build;

/// The kinds of factor mfa knows. Names are the config and CLI spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FactorKind {
    Totp,
    Phonecheck,
    Webhook,
    Push,
}

impl FactorKind {
    pub const ALL: [FactorKind; 4] = [
        FactorKind::Totp,
        FactorKind::Phonecheck,
        FactorKind::Webhook,
        FactorKind::Push,
    ];

    /// Whether the factor is checked on this host alone (TOTP): no
    /// provider can be unavailable for it, so `failmode` never excuses it.
    pub fn is_local(self) -> bool {
        self == FactorKind::Totp
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FactorKind::Totp => "totp",
            FactorKind::Phonecheck => "phonecheck",
            FactorKind::Webhook => "webhook",
            FactorKind::Push => "push",
        }
    }
}

impl fmt::Display for FactorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FactorKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FactorKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!("unknown factor '{s}' (expected totp, phonecheck, webhook or push)")
            })
    }
}

/// What a factor concluded about one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The second factor was verified.
    Allow,
    /// The attempt failed. The reason is for the audit log; it never holds a
    /// secret.
    Deny(String),
    /// The user has no enrolment for this factor; policy decides.
    NotEnrolled,
}

/// A factor could not reach a conclusion.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FactorError {
    /// The provider could not be reached, timed out or answered 5xx / garbage
    /// before the authentication started. The only error `failmode = safe`
    /// may turn into an allow.
    #[error("provider unavailable: {0}")]
    Unavailable(String),
    /// The user's state (file, enrolment) is unusable: refused, never repaired.
    #[error("state error: {0}")]
    State(String),
    /// Misconfiguration found at run time.
    #[error("configuration error: {0}")]
    Config(String),
    #[error(transparent)]
    Conversation(#[from] ConversationError),
    /// Anything else; always denies.
    #[error("internal error: {0}")]
    Internal(String),
}

#[async_trait]
pub trait Factor: Send + Sync {
    fn kind(&self) -> FactorKind;

    /// Authenticate `ctx.user`. Must return `Ok(Outcome::NotEnrolled)` without
    /// talking to the person when the user is not enrolled.
    async fn authenticate(
        &self,
        ctx: &AuthContext,
        conv: &mut dyn Conversation,
    ) -> Result<Outcome, FactorError>;

    /// Behave, as seen from outside, as if the user were enrolled, so that an
    /// unknown or unenrolled user cannot be told apart from a known one. The
    /// answer is read and discarded; the engine then denies.
    async fn decoy(
        &self,
        _ctx: &AuthContext,
        conv: &mut dyn Conversation,
    ) -> Result<(), ConversationError> {
        conv.prompt_secret("Verification code: ").await.map(drop)
    }

    /// Enrol `ctx.user` now (`unenrolled = "enroll"`): show the new
    /// enrolment, have the person confirm it, and only then keep it.
    /// `Ok(Outcome::NotEnrolled)`, without talking to the person, when this
    /// factor cannot enrol at login (every factor but TOTP).
    async fn enroll(
        &self,
        _ctx: &AuthContext,
        _conv: &mut dyn Conversation,
    ) -> Result<Outcome, FactorError> {
        Ok(Outcome::NotEnrolled)
    }
}
