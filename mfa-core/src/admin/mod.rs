//! Putting mfa in front of sshd and checking it is there safely (feature
//! `admin`, used by `mfa install | uninstall | doctor` only: the PAM module
//! and mfa-login never call it).
//!
//! - `pamstack`: PAM service files parsed, flattened and evaluated;
//!   `pamedit`: where pam_mfa goes.
//! - `sshdconf`: the sshd_config drop-in, and the real `sshd -t` / `sshd -T`
//!   run against the files as they would be.
//! - `backup`: every file changed, with a manifest; byte-identical restore.
//! - `install`: the plan, the lockout guard, the dry-run diff, the write.
//! - `accounts`, `enrolment`: who can log in and what they are enrolled in.
//! - `doctor/`: the checks of `mfa doctor`.
//!
//! Everything takes a [`Root`] so the tests run it against a directory tree.

pub mod accounts;
pub mod backup;
pub mod diff;
pub mod doctor;
pub mod enrolment;
pub mod install;
pub mod pamedit;
pub mod pamstack;
pub mod sshdconf;

use std::path::{Path, PathBuf};

/// The directory tree the admin commands work on (`/`, or `--root DIR`).
/// Paths in files (`/etc/pam.d/sshd`, `Include /etc/ssh/...`) are logical:
/// absolute as on the target system, and mapped under the root here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root(PathBuf);

impl Root {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self(dir.into())
    }

    pub fn system() -> Self {
        Self::new("/")
    }

    /// Whether this is the running system (reloading sshd makes sense).
    pub fn is_system(&self) -> bool {
        self.0 == Path::new("/")
    }

    pub fn dir(&self) -> &Path {
        &self.0
    }

    /// Where logical path `p` is under this root.
    pub fn path(&self, p: &Path) -> PathBuf {
        self.0.join(p.strip_prefix("/").unwrap_or(p))
    }
}

/// Why an admin command did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    /// Bad arguments or an unusable configuration (exit 2).
    #[error("{0}")]
    Usage(String),
    /// Refused for safety (lockout guard, sshd -t rejected it, a file
    /// changed since install) or failed (exit 1).
    #[error("{0}")]
    Failed(String),
}

impl AdminError {
    pub fn exit_code(&self) -> u8 {
        match self {
            AdminError::Usage(_) => 2,
            AdminError::Failed(_) => 1,
        }
    }
}

/// Read a file under the root; `None` when it does not exist.
pub fn read_optional(root: &Root, logical: &Path) -> Result<Option<Vec<u8>>, AdminError> {
    match std::fs::read(root.path(logical)) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(AdminError::Failed(format!(
            "{}: cannot read: {e}",
            logical.display()
        ))),
    }
}
