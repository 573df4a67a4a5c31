//! The PAM glue both module objects share: libpam's C API ([`ffi`]), the
//! handle ([`handle`]), the conversation ([`conv`]) and, over them, the
//! mfa-core [`FrontEnd`](mfa_core::session::FrontEnd) ([`frontend`]).
//! [`entry`] is the body of every entry point: it runs one login on the
//! object's runner and returns libpam's number. Every decision is made in
//! mfa-core (`mfa_core::pam::authenticate_pam`).

// Design rule 4, also set in Cargo.toml [lints]: nothing in the trusted
// crates may unwrap, expect or panic outside tests.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod conv;
pub mod entry;
pub mod events;
pub mod ffi;
pub mod frontend;
pub mod handle;
