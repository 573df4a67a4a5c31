//! What a front end supplies to a [`Session`](super::Session): who is
//! logging in, from where, through which service, and how to talk to them.
//!
//! kanidm's `PamHandler` shape: the PAM module, mfa-login and `mfa check`
//! each implement this once over their own world (a PAM handle, argv and
//! the environment, a terminal) and the core does the rest. Tests implement
//! it with a script (see `pam/entry/tests.rs`).

use crate::audit::AuditSink;
use crate::conversation::{Conversation, SecretAnswer};

/// Severity of a line the front end writes to its log (syslog under PAM).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Error,
    Warning,
    Notice,
    Debug,
}

/// The front end could not say who is logging in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    /// The application gave no name (PAM: `pam_get_user` failed).
    #[error("no user name: {0}")]
    Unavailable(String),
    /// The name is unusable (not UTF-8, empty).
    #[error("unusable user name")]
    Unusable,
}

/// `PAM_AUTHTOK`: the password stacked modules share. Only the PAM module
/// has one.
pub trait AuthTok {
    fn get(&self) -> Option<SecretAnswer>;
    /// Store `value` for the modules after this one.
    fn set(&mut self, value: &str) -> Result<(), String>;
}

/// The conversation and, under PAM, the shared password: borrowed
/// together because the pass options use both at once.
pub struct Io<'a> {
    pub conv: &'a mut dyn Conversation,
    pub authtok: Option<&'a mut dyn AuthTok>,
}

/// Everything a front end supplies for one login.
pub trait FrontEnd: Send {
    /// The account name as the application gave it (PAM may prompt for it).
    fn user(&mut self) -> Result<String, UserError>;
    /// PAM service name, or the front end's own name (`mfa-login`, `mfa-check`).
    fn service(&self) -> String;
    /// Remote host, if known.
    fn rhost(&self) -> Option<String>;
    /// Controlling terminal, if any.
    fn tty(&self) -> Option<String>;
    /// Whether a person can answer prompts.
    fn interactive(&self) -> bool {
        true
    }
    /// The command the client asked to run (`SSH_ORIGINAL_COMMAND`).
    fn command(&self) -> Option<String> {
        None
    }
    /// Whether sshd already verified another method for this login
    /// ([`AuthContext::first_factor_verified`](crate::AuthContext)). No
    /// unless the front end can tell.
    fn first_factor_verified(&self) -> bool {
        false
    }
    fn io(&mut self) -> Io<'_>;
    /// One line for the administrator (syslog under PAM, stderr elsewhere).
    /// Never a secret.
    fn log(&self, level: LogLevel, message: &str);
    /// Where this front end's audit records go besides `tracing` and the
    /// configured audit file (syslog `authpriv` for PAM and mfa-login).
    fn audit_sink(&self) -> Option<Box<dyn AuditSink>> {
        None
    }
}
