//! `mfa check`: the real engine, on this terminal.

use std::path::PathBuf;

use clap::Args;
use mfa_core::conversation::terminal::TerminalConversation;
use mfa_core::{AuthContext, Config, Decision, Engine, FactorKind};
use serde_json::json;

use super::{runtime, CliError, Status};
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

pub fn run(a: CheckArgs, out: &Output) -> Result<Status, CliError> {
    let config = Config::load_or_default(a.config.as_deref())?;
    let mut engine = Engine::new(config)?;
    if !a.factor.is_empty() {
        engine = engine.override_factors(a.factor)?;
    }
    let mut ctx = AuthContext::new(a.user, "mfa-check");
    ctx.rhost = a.rhost;
    // Terminal reads cannot be interrupted by the engine's timeout: they get
    // the same deadline themselves (as in mfa-login).
    let limit =
        std::time::Duration::from_secs(*engine.config().general.login_timeout_secs.get_ref());
    let mut conv = TerminalConversation::new().until(std::time::Instant::now() + limit);
    let decision = runtime()?.block_on(engine.authenticate(&ctx, &mut conv));
    report(&decision, out)
}

/// Print a decision and turn it into an exit status.
pub fn report(decision: &Decision, out: &Output) -> Result<Status, CliError> {
    let (value, human, status) = match decision {
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
            Status::Success,
        ),
        Decision::Deny { reason } => (
            json!({ "decision": "deny", "reason": reason }),
            format!("DENIED ({reason})"),
            Status::Denied,
        ),
        Decision::Ignore { reason } => (
            json!({ "decision": "ignore", "reason": reason }),
            format!("IGNORED ({reason}); not a success"),
            Status::Denied,
        ),
    };
    out.result(&value, &human);
    Ok(status)
}
