//! TOTP/HOTP factor over google_authenticator state files.
//!
//! - [`state`]: the file format (parse, validate, serialise; unknown options kept).
//! - [`store`]: safe file access (owner/mode checks, exclusive lock, atomic replace).
//! - [`verify`]: pam_google_authenticator's verification rules on a parsed state.
//! - [`enroll`]: new secrets, scratch codes and otpauth URIs.
//! - [`grace`]: `grace_period`'s recent-login records (`LASTn` lines).
//! - [`factor`]: the [`crate::Factor`] that ties them to a conversation.
//! - [`first_login`]: enrolment inside the login (`unenrolled = "enroll"`).

pub mod enroll;
pub mod factor;
pub mod first_login;
pub mod grace;
pub mod state;
pub mod store;
pub mod verify;

pub use factor::TotpFactor;
pub use state::{Mode, StateError, TotpState};
pub use store::{StoreError, StorePolicy};
pub use verify::{Verdict, VerifyOptions};
