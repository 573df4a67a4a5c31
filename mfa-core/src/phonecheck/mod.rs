//! tru.ID PhoneCheck: the phone proves it holds the SIM of the user's
//! registered number by opening a link over mobile data.
//!
//! - [`config`]: the `[phonecheck]` section.
//! - [`truid`]: the tru.ID HTTP client (token cache, create / get / patch).
//! - [`phone`]: E.164 validation of the numbers in the users file.
//! - [`factor`]: the [`Factor`](crate::Factor): create a check, show its QR
//!   code, poll until a final status or the deadline.
//! - [`callback`]: the redirect endpoint's logic (`mfa serve`): parameter
//!   validation, completing the check, the page text, the rate limiter.
//!
//! See `docs/phonecheck.md`.

pub mod callback;
pub mod config;
pub mod factor;
pub mod phone;
pub mod slots;
pub mod truid;

pub use factor::PhoneCheckFactor;
pub use phone::{PhoneError, PhoneNumber};
