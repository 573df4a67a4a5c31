//! `mfa doctor`: arguments and output; the checks are
//! `mfa_core::admin::doctor`.

use std::path::PathBuf;

use clap::Args;
use mfa_core::admin::doctor::{self, Options};
use mfa_core::admin::Root;
use serde_json::json;

use super::{CliError, Status};
use crate::output::Output;

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Check this directory tree instead of /.
    #[arg(long, value_name = "DIR", default_value = "/")]
    root: PathBuf,
    /// mfa's configuration file (default /etc/mfa/mfa.toml).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// The sshd binary (default /usr/sbin/sshd).
    #[arg(long, value_name = "PATH")]
    sshd: Option<PathBuf>,
    /// Evaluate sshd's Match blocks for this user (default: SUDO_USER or you).
    #[arg(long)]
    user: Option<String>,
    /// Do not contact providers.
    #[arg(long)]
    offline: bool,
}

pub fn run(a: DoctorArgs, out: &Output) -> Result<Status, CliError> {
    let user = match a.user {
        Some(u) => u,
        None => super::install::admin_name()?,
    };
    let findings = doctor::run(&Options {
        root: Root::new(a.root),
        config: a.config,
        sshd: a.sshd,
        user,
        offline: a.offline,
    });
    let failed = doctor::failed(&findings);
    let mut human = String::new();
    for f in &findings {
        human.push_str(&format!(
            "{:<4}  {:<20} {}\n",
            f.level.as_str(),
            f.check,
            f.message
        ));
        if let Some(fix) = &f.fix {
            human.push_str(&format!("      {:<20} fix: {fix}\n", ""));
        }
    }
    out.result(
        &json!({ "ok": !failed, "checks": findings }),
        human.trim_end(),
    );
    Ok(if failed {
        Status::Denied
    } else {
        Status::Success
    })
}
