//! The decision, typed for each front end.

use crate::accounts::Account;
use crate::login::ShellPlan;
use crate::policy::Decision;

/// The PAM results the module can give. The glue maps them to libpam's
/// numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PamVerdict {
    /// PAM_SUCCESS: the second factor was verified (or `failmode = safe`
    /// let a provider outage through, as configured).
    Success,
    /// PAM_AUTH_ERR: anything that is not a verified success.
    AuthErr,
    /// PAM_IGNORE: `nullok` / `unenrolled = allow` / a skip rule. Never a
    /// success: another module must still say yes.
    Ignore,
    /// PAM_SERVICE_ERR: the module is misconfigured (unknown argument,
    /// unreadable or invalid config) or failed internally. Chosen over
    /// PAM_AUTHINFO_UNAVAIL because stacks commonly map that one to
    /// `ignore` (it reads as "network directory down"), which would turn an
    /// admin's typo into a login without the second factor.
    ServiceErr,
    /// Not decided here: the user's plan needs a network factor, which the
    /// lean module does not carry. The glue hands the call, unchanged, to
    /// the network object. Nothing was asked or logged yet.
    NeedsNetwork,
}

impl From<&Decision> for PamVerdict {
    fn from(decision: &Decision) -> Self {
        match decision {
            Decision::Allow { .. } => PamVerdict::Success,
            Decision::Deny { .. } => PamVerdict::AuthErr,
            Decision::Ignore { .. } => PamVerdict::Ignore,
        }
    }
}

/// What mfa-login does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginVerdict {
    /// Exec the user's shell (or command).
    StartShell(ShellPlan),
    /// Refuse the session.
    Deny,
}

impl LoginVerdict {
    /// `Allow` starts the shell, and so does `Ignore` (`unenrolled =
    /// allow`, a skip rule): sshd has already authenticated the user and
    /// there is no further module to defer to, so stepping aside means
    /// letting the session start; the audit record says which it was.
    pub fn new(decision: &Decision, account: &Account, command: Option<&str>) -> Self {
        match decision {
            Decision::Allow { .. } | Decision::Ignore { .. } => {
                LoginVerdict::StartShell(ShellPlan::new(account, command))
            }
            Decision::Deny { .. } => LoginVerdict::Deny,
        }
    }
}

/// `mfa check`'s answer: only a verified (or failmode-allowed) login is a
/// success; `Ignore` is reported as not a success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckVerdict {
    Allowed,
    Denied,
    Ignored,
}

impl CheckVerdict {
    /// The exit status of `mfa check`: 0 allowed, 1 otherwise.
    pub fn exit_code(self) -> u8 {
        match self {
            CheckVerdict::Allowed => 0,
            CheckVerdict::Denied | CheckVerdict::Ignored => 1,
        }
    }
}

impl From<&Decision> for CheckVerdict {
    fn from(decision: &Decision) -> Self {
        match decision {
            Decision::Allow { .. } => CheckVerdict::Allowed,
            Decision::Deny { .. } => CheckVerdict::Denied,
            Decision::Ignore { .. } => CheckVerdict::Ignored,
        }
    }
}
