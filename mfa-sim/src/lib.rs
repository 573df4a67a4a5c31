//! Provider simulators: Duo's Auth API over TLS ([`duo`]), tru.ID
//! PhoneCheck ([`truid`]) and a Slack/Teams/Discord webhook channel
//! ([`webhook_sink`]), all on loopback, sharing the plumbing in
//! [`plumbing`] and the run-time TLS certificates in [`tls`].
//!
//! Used by the tests (a dev-dependency) and by `mfa demo` and
//! `mfa mock serve` (the one normal dependency, mfa-cli). It must never be
//! linked into `pam_mfa.so` or `mfa-login`: `scripts/check-artifacts`
//! fails the build if it is.

pub mod duo;
pub mod plumbing;
pub mod tls;
pub mod truid;
pub mod webhook_sink;

pub use plumbing::{start_local, start_server, Fault, Recorded, Shared};
