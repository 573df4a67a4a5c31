//! The Duo push factor (Auth API v2), as duo_unix's login_duo/pam_duo do
//! it, with their holes closed: failmode only for a service that cannot be
//! used before the authentication starts, every server string stripped of
//! control characters, deadlines everywhere. See `docs/push.md`.
//!
//! - [`config`]: the `[push]` section.
//! - [`duo`]: the Auth API v2 client (signing, dates, payloads, errors).
//! - `factor`, `menu`: the [`Factor`](crate::Factor) and its device menu.
//! - [`username`]: Duo user names, checked when the users file is loaded.

pub mod config;
mod decoy;
pub mod duo;
mod factor;
mod menu;
pub mod username;

pub use decoy::{DecoyTiming, SMS_SENT, TIMED_OUT, WRONG_PASSCODE};
pub use factor::{PushFactor, Timing, CALLING, ENTER_CALL, ENTER_PUSH, INVALID, PUSHED};
pub use menu::{Choice, Menu};
pub use username::{DuoUsername, DuoUsernameError};
