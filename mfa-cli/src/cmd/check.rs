//! `mfa check`: the real engine, on this terminal.

use std::path::PathBuf;

use clap::Args;
use mfa_core::conversation::terminal::TerminalConversation;
use mfa_core::pam::PassMode;
use mfa_core::session::{CheckVerdict, FrontEnd, Io, LogLevel, NetworkRunner, UserError};
use mfa_core::{Config, Decision, FactorKind, Session};
use serde_json::json;

use super::{CliError, Status};
use crate::output::Output;

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[arg(long)]
    user: String,
    /// Configuration file (default /etc/mfa/mfa.toml, or the built-in
    /// TOTP default when that does not exist).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Use only these factors (comma-separated).
    #[arg(long, value_delimiter = ',')]
    factor: Vec<FactorKind>,
    /// Remote address to report to factors and the audit log.
    #[arg(long)]
    rhost: Option<String>,
}

/// `mfa check`'s world as the core's front end: the terminal.
struct CheckFrontEnd {
    user: String,
    rhost: Option<String>,
    conv: TerminalConversation,
}

impl FrontEnd for CheckFrontEnd {
    fn user(&mut self) -> Result<String, UserError> {
        Ok(self.user.clone())
    }
    fn service(&self) -> String {
        "mfa-check".into()
    }
    fn rhost(&self) -> Option<String> {
        self.rhost.clone()
    }
    fn tty(&self) -> Option<String> {
        None
    }
    fn io(&mut self) -> Io<'_> {
        Io {
            conv: &mut self.conv,
            authtok: None,
        }
    }
    fn log(&self, _level: LogLevel, message: &str) {
        eprintln!("mfa: {message}");
    }
}

pub fn run(a: CheckArgs, out: &Output) -> Result<Status, CliError> {
    let config = Config::load_or_default(a.config.as_deref())?;
    let factors = (!a.factor.is_empty()).then_some(a.factor);
    let session = Session::new(config)?.override_factors(factors);
    // Terminal reads cannot be interrupted by the engine: they get the
    // session's deadline themselves.
    let mut fe = CheckFrontEnd {
        user: a.user,
        rhost: a.rhost,
        conv: TerminalConversation::new().until(session.deadline()),
    };
    let decision = session
        .run::<NetworkRunner>(&mut fe, PassMode::Prompt)
        .map_err(|e| CliError::Failed(e.to_string()))?;
    report(&decision, out)
}

/// Print a decision and turn it into an exit status.
pub fn report(decision: &Decision, out: &Output) -> Result<Status, CliError> {
    let (value, human) = match decision {
        Decision::Allow { factor, fail_open } => (
            json!({ "decision": "allow", "factor": factor, "fail_open": fail_open }),
            if *fail_open {
                "ALLOWED (provider unavailable, failmode=safe)".to_owned()
            } else {
                format!(
                    "ALLOWED ({})",
                    factor.map(|f| f.as_str()).unwrap_or("verified")
                )
            },
        ),
        Decision::Deny { reason } => (
            json!({ "decision": "deny", "reason": reason }),
            format!("DENIED ({reason})"),
        ),
        Decision::Ignore { reason } => (
            json!({ "decision": "ignore", "reason": reason }),
            format!("IGNORED ({reason}); not a success"),
        ),
    };
    out.result(&value, &human);
    Ok(match CheckVerdict::from(decision) {
        CheckVerdict::Allowed => Status::Success,
        CheckVerdict::Denied | CheckVerdict::Ignored => Status::Denied,
    })
}
