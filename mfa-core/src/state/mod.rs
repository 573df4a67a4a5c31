//! Where a TOTP login's state lives: the backend trait and its two
//! implementations.
//!
//! - [`FileBackend`] (default): the user's google_authenticator file on
//!   this host, locked and rewritten as pam_google_authenticator does.
//! - `pg::PgBackend` (`[state] backend = "postgres"`): one database shared
//!   by every host, so a used code, a scratch code, an HOTP counter, a rate
//!   limit and a grace record hold across the fleet (docs/fleet.md). It is
//!   reached only through [`Fleet`], which only the network runner builds:
//!   the lean `pam_mfa.so` never links the PostgreSQL client.
//!
//! The code is always checked locally first, with the pure rules of
//! `totp::verify`; a backend only records what a verified code changes.

pub mod config;
mod file;
pub mod pg;
pub mod seal;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

/// Also how a first-login enrolment touches the file it creates.
pub(crate) use file::as_identity;
pub use file::FileBackend;

use crate::audit::AuditRecord;
use crate::config::{Config, ConfigError};
use crate::context::Clock;
use crate::factor::FactorError;
use crate::totp::verify::{Accepted, Rejected, VerifyOptions};
use crate::totp::StorePolicy;

/// What the TOTP factor knows about a user's state before asking anything.
#[derive(Debug, Clone)]
pub struct StateRef {
    pub user: String,
    /// The google_authenticator file (`[totp] secret`, expanded).
    pub path: PathBuf,
    /// Filesystem identity the file is touched with.
    pub identity: (u32, u32),
    pub policy: StorePolicy,
    pub opts: VerifyOptions,
}

/// The result of one verification: accepted, or rejected and why.
pub type Checked = Result<Accepted, Rejected>;

/// A store of TOTP login state.
#[async_trait]
pub trait StateBackend: Send + Sync + std::fmt::Debug {
    /// Read the user's state before anything is asked: `Ok(None)` when the
    /// user is not enrolled. A state that cannot be read is an error, never
    /// "not enrolled".
    async fn open(&self, at: &StateRef) -> Result<Option<Box<dyn UserState>>, FactorError>;

    /// Whether `unenrolled = "enroll"` may create the user's state at login
    /// (`totp::first_login` writes a google_authenticator file). Only the
    /// file backend: a fleet enrols through `mfa totp enroll --store`.
    fn enrols_at_login(&self) -> bool {
        false
    }
}

/// One user's state, opened for one login.
#[async_trait]
pub trait UserState: Send {
    /// Whether a login from `address` succeeded less than `period`
    /// seconds before `now` (`grace_period`).
    async fn within_grace(
        &mut self,
        address: &str,
        now: u64,
        period: u64,
    ) -> Result<bool, FactorError>;

    /// Check `code` and record what it changes, atomically with respect to
    /// every other login that shares this state. On success, `grace` (the
    /// remote address) is recorded for `grace_period`.
    ///
    /// The backend reads `clock` itself, when the code arrives and again
    /// inside its lock or statement: a time taken before the prompt (or
    /// before waiting for the lock) would judge the code at the wrong step
    /// and drop rate-limit records other logins wrote meanwhile as lying
    /// "in the future", so parallel logins would erase each other's
    /// attempts and the limit would never bite.
    async fn verify(
        self: Box<Self>,
        code: &str,
        clock: &dyn Clock,
        grace: Option<&str>,
    ) -> Result<Checked, FactorError>;
}

/// The shared state of a fleet host: the TOTP backend and the audit table.
/// One per login, so both share one database connection.
#[async_trait]
pub trait Fleet: Send + Sync {
    fn totp_backend(&self) -> Arc<dyn StateBackend>;
    /// Append the login's audit record (beside syslog and the other
    /// sinks); a failure is logged, never changes the decision.
    async fn audit(&self, record: &AuditRecord);
}

/// Builds a login's [`Fleet`] from the config: `None` for file state.
pub type FleetHook = fn(&Config) -> Result<Option<Arc<dyn Fleet>>, ConfigError>;

/// For runners without a database client: file state only.
pub fn no_fleet(_config: &Config) -> Result<Option<Arc<dyn Fleet>>, ConfigError> {
    Ok(None)
}
