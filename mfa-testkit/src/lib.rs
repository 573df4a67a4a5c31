//! What the tests of every mfa crate share, and nothing else may link:
//! a real sshd on loopback ([`sshd`]), an audit sink that keeps what it
//! receives ([`audit`]), people who answer prompts the way a person with a
//! phone or a team channel would ([`person`]) and the repository's
//! fixture files ([`fixtures`]), and a throw-away PostgreSQL server for
//! the fleet state ([`postgres`]).
//!
//! Only ever a dev-dependency: `scripts/check-artifacts` fails the build if
//! it reaches `pam_mfa.so`, `mfa-login` or `mfa`. The provider simulators
//! are in `mfa-sim`; the scripted conversation stays in mfa-core
//! (`mfa_core::conversation::scripted`, feature `scripted`) for its own
//! unit tests.

pub mod audit;
pub mod fixtures;
pub mod person;
pub mod postgres;
pub mod sshd;
