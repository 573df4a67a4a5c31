//! mfa-core: every decision of mfa lives here.
//!
//! The front ends (`pam_mfa.so`, `mfa-login`, `mfa`) turn their world into an
//! [`AuthContext`] and a [`Conversation`], call [`Engine::authenticate`] once and
//! map the [`Decision`] back. See `docs/architecture.md`.

// Design rule 4, also set in Cargo.toml [lints]: nothing in the trusted
// crates may unwrap, expect or panic outside tests (clippy.toml allows
// them in tests).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod accounts;
#[cfg(feature = "admin")]
pub mod admin;
pub mod audit;
pub mod config;
pub mod context;
pub mod conversation;
pub mod factor;
pub mod fsid;
pub mod fsutil;
pub mod login;
pub mod otp;
pub mod pam;
pub mod phonecheck;
pub mod policy;
pub mod provider;
pub mod push;
pub mod qr;
pub mod sanitize;
pub mod session;
pub mod state;
pub mod totp;
pub mod userdb;
pub mod webhook;

pub use accounts::{Account, Accounts, SystemAccounts};
pub use audit::{AuditRecord, AuditSink};
pub use config::{Config, ConfigError};
pub use context::{AuthContext, Clock, OsRandom, RandomSource, SystemClock};
pub use conversation::{Conversation, ConversationError};
pub use factor::{Factor, FactorError, FactorKind, Outcome};
pub use policy::{Decision, Engine};
pub use session::{FrontEnd, Session};
