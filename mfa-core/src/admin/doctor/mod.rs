//! `mfa doctor`: find a broken or unsafe setup before the admin logs out.
//! Each check reports ok, warn or fail with the fix; the run fails when any
//! check fails.

mod clock;
mod files;
mod pam;
mod providers;
mod sshd;
mod users;

use std::path::PathBuf;

use serde::Serialize;

use super::accounts::RootAccounts;
use super::sshdconf::{self, Effective, Staged};
use super::{enrolment, pamstack, Root};
use crate::config::{Config, UsersDb};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "fail",
        }
    }
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable name (`pam.bypass`, `sshd.forwarding`, ...), for scripts.
    pub check: &'static str,
    pub level: Level,
    pub message: String,
    /// What to do about it (warn and fail only).
    pub fix: Option<String>,
}

impl Finding {
    pub fn ok(check: &'static str, message: impl Into<String>) -> Self {
        Self {
            check,
            level: Level::Ok,
            message: message.into(),
            fix: None,
        }
    }
    pub fn warn(check: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            check,
            level: Level::Warn,
            message: message.into(),
            fix: Some(fix.into()),
        }
    }
    pub fn fail(check: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            check,
            level: Level::Fail,
            message: message.into(),
            fix: Some(fix.into()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    pub root: Root,
    /// mfa's config (logical path); default /etc/mfa/mfa.toml.
    pub config: Option<PathBuf>,
    pub sshd: Option<PathBuf>,
    /// Whose connection `sshd -T` evaluates (Match blocks).
    pub user: String,
    /// Skip the checks that talk to providers.
    pub offline: bool,
}

/// What the checks share: the config, who can log in, the sshd view.
pub(crate) struct Setup<'a> {
    pub opts: &'a Options,
    pub config: Option<Config>,
    pub users: Option<UsersDb>,
    pub accounts: RootAccounts,
    /// The auth stack of sshd's PAM service, or why it could not be read.
    pub stack: Result<Vec<pamstack::Step>, String>,
    pub staged: Option<Staged>,
    pub sshd: Option<PathBuf>,
    pub effective: Option<Effective>,
}

impl Setup<'_> {
    pub fn pam_mode(&self) -> bool {
        self.stack
            .as_ref()
            .is_ok_and(|s| !pamstack::mfa_rules(s).is_empty())
    }

    /// ForceCommand programs naming mfa-login, from the sshd config files.
    pub fn login_programs(&self) -> Vec<String> {
        sshd::forcecommand_blocks(self)
            .into_iter()
            .map(|b| b.program)
            .collect()
    }
}

/// Run every check.
pub fn run(opts: &Options) -> Vec<Finding> {
    let mut out = Vec::new();
    let config = files::config(opts, &mut out);
    let users = config
        .as_ref()
        .and_then(|c| files::users_file(opts, c, &mut out));
    let accounts = RootAccounts::load(&opts.root);
    let stack = pamstack::auth_stack(&opts.root, "sshd");
    let mut setup = Setup {
        opts,
        config,
        users,
        accounts,
        stack,
        staged: None,
        sshd: None,
        effective: None,
    };
    if let Err(e) = &setup.stack {
        if opts
            .root
            .path(std::path::Path::new("/etc/pam.d/sshd"))
            .exists()
        {
            out.push(Finding::fail(
                "pam.stack",
                format!("sshd's PAM stack cannot be read: {e}"),
                "fix /etc/pam.d/sshd and the files it includes",
            ));
        }
    }
    sshd::load(&mut setup, &mut out);
    let (pam_mode, login_mode) = (setup.pam_mode(), !setup.login_programs().is_empty());
    if !pam_mode && !login_mode {
        out.push(Finding::fail(
            "installed",
            "sshd does not use mfa: no pam_mfa in /etc/pam.d/sshd and no ForceCommand mfa-login",
            "run `mfa install pam` or `mfa install login`",
        ));
    }
    if pam_mode {
        pam::check(&setup, &mut out);
        sshd::check_pam_mode(&setup, &mut out);
    }
    files::mfa_login(&setup, login_mode, &mut out);
    if login_mode {
        sshd::check_login_mode(&setup, &mut out);
    }
    clock::check(&setup, &mut out);
    if !opts.offline {
        providers::check(&setup, &mut out);
    }
    users::check(&setup, &mut out);
    out
}

/// Whether any check failed (exit status 1).
pub fn failed(findings: &[Finding]) -> bool {
    findings.iter().any(|f| f.level == Level::Fail)
}

/// Re-exported for the checks.
pub(crate) use enrolment::Status as EnrolmentStatus;
pub(crate) use sshdconf::keyword;
