//! `mfa install pam|login` and `mfa uninstall`: arguments and output only;
//! the work is `mfa_core::admin::install` and `admin::backup`.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use mfa_core::admin::install::{self, Mode, Request};
use mfa_core::admin::pamedit::FirstFactor;
use mfa_core::admin::{backup, diff, AdminError, Root};
use serde_json::json;

use super::{CliError, Status};
use crate::output::Output;

#[derive(Debug, Args)]
pub struct Common {
    /// Print the unified diff of what would change, write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Work on this directory tree instead of / (tests, images).
    #[arg(long, value_name = "DIR", default_value = "/")]
    root: PathBuf,
    /// Install even though you (SUDO_USER or the caller) are not enrolled.
    #[arg(long)]
    allow_unenrolled_admin: bool,
    /// Reload sshd afterwards (only after `sshd -t` passed; never a restart).
    #[arg(long)]
    reload: bool,
    /// mfa's configuration file (default /etc/mfa/mfa.toml).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// The sshd binary used for `sshd -t` / `sshd -T` (default /usr/sbin/sshd).
    #[arg(long, value_name = "PATH")]
    sshd: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum First {
    /// keyboard-interactive asks the password (PAM), then the code.
    Password,
    /// publickey first (`AuthenticationMethods publickey,keyboard-interactive`), then the code.
    Publickey,
}

#[derive(Debug, Subcommand)]
pub enum InstallCommand {
    /// pam_mfa.so in /etc/pam.d/sshd, keyboard-interactive in sshd_config.
    Pam {
        /// What sshd checks before the code.
        #[arg(long, value_enum, default_value = "password")]
        first_factor: First,
        /// The module as named on the PAM line.
        #[arg(long, default_value = "pam_mfa.so")]
        module: String,
        #[command(flatten)]
        common: Common,
    },
    /// mfa-login as ForceCommand, with forwarding closed.
    Login {
        /// Cover members of this group only (default: everyone).
        #[arg(long)]
        group: Option<String>,
        /// The mfa-login program.
        #[arg(long, default_value = "/usr/sbin/mfa-login")]
        program: PathBuf,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Debug, Args)]
pub struct UninstallArgs {
    /// Work on this directory tree instead of /.
    #[arg(long, value_name = "DIR", default_value = "/")]
    root: PathBuf,
    /// Restore this backup (a name under /var/lib/mfa/backup/) instead of the newest.
    #[arg(long, value_name = "NAME")]
    backup: Option<String>,
    /// Restore even files changed since install (their edits are lost).
    #[arg(long)]
    force: bool,
    /// Reload sshd afterwards (only after `sshd -t` passed).
    #[arg(long)]
    reload: bool,
    /// The sshd binary (default /usr/sbin/sshd).
    #[arg(long, value_name = "PATH")]
    sshd: Option<PathBuf>,
}

impl From<AdminError> for CliError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Usage(m) => CliError::Usage(m),
            AdminError::Failed(m) => CliError::Failed(m),
        }
    }
}

/// Who runs this: `SUDO_USER` under sudo, else the caller.
pub fn admin_name() -> Result<String, CliError> {
    let uid = mfa_core::accounts::effective_uid();
    if uid == 0 {
        if let Ok(u) = std::env::var("SUDO_USER") {
            if !u.is_empty() {
                return Ok(u);
            }
        }
    }
    mfa_core::accounts::name_of_uid(uid)
        .ok_or_else(|| CliError::Failed(format!("no account for uid {uid}")))
}

pub fn run(c: InstallCommand, out: &Output) -> Result<Status, CliError> {
    let (mode, common) = match c {
        InstallCommand::Pam {
            first_factor,
            module,
            common,
        } => {
            let first = match first_factor {
                First::Password => FirstFactor::Password,
                First::Publickey => FirstFactor::Publickey,
            };
            (Mode::Pam { first, module }, common)
        }
        InstallCommand::Login {
            group,
            program,
            common,
        } => (Mode::Login { group, program }, common),
    };
    let root = Root::new(common.root);
    if common.reload && (!root.is_system() || common.dry_run) {
        return Err(CliError::Usage(
            "--reload only applies to the running system (no --root, no --dry-run)".into(),
        ));
    }
    let req = Request {
        mode,
        root: root.clone(),
        sshd: common.sshd.clone(),
        config: common.config,
        admin: admin_name()?,
        allow_unenrolled_admin: common.allow_unenrolled_admin,
    };
    let plan = install::plan(&req)?;
    let paths: Vec<String> = plan
        .changes
        .iter()
        .map(|c| c.path.display().to_string())
        .collect();
    if common.dry_run {
        let d = diff::unified(&plan.changes);
        out.result(
            &json!({ "dry_run": true, "changes": paths, "diff": d, "notes": plan.notes }),
            d.trim_end(),
        );
        return Ok(Status::Success);
    }
    let backup = if plan.changes.is_empty() {
        None
    } else {
        Some(install::apply(&root, &plan)?)
    };
    if common.reload && backup.is_some() {
        install::reload_sshd(common.sshd.as_deref())?;
    }
    let mut human = String::new();
    for p in &paths {
        human.push_str(&format!("changed {p}\n"));
    }
    if let Some(b) = &backup {
        human.push_str(&format!(
            "backup: {}/{b} (undo with `mfa uninstall`)\n",
            backup::BACKUP_DIR
        ));
    }
    for n in &plan.notes {
        human.push_str(&format!("note: {n}\n"));
    }
    out.result(
        &json!({ "changes": paths, "backup": backup, "reloaded": common.reload && backup.is_some(), "notes": plan.notes }),
        human.trim_end(),
    );
    Ok(Status::Success)
}

pub fn uninstall(a: UninstallArgs, out: &Output) -> Result<Status, CliError> {
    let root = Root::new(a.root);
    if a.reload && !root.is_system() {
        return Err(CliError::Usage(
            "--reload only applies to the running system".into(),
        ));
    }
    let name = match a.backup {
        Some(n) => n,
        None => match backup::newest_unrestored(&root)? {
            Some(n) => n,
            None => {
                out.result(
                    &json!({ "restored": null, "files": [] }),
                    "nothing to uninstall: no backup left by `mfa install`",
                );
                return Ok(Status::Success);
            }
        },
    };
    let m = backup::restore(&root, &name, a.force)?;
    if a.reload {
        install::reload_sshd(a.sshd.as_deref())?;
    }
    let files: Vec<String> = m
        .files
        .iter()
        .map(|f| f.path.display().to_string())
        .collect();
    let human = files
        .iter()
        .map(|f| format!("restored {f}"))
        .chain([format!("from backup {name} (`{}`)", m.command)])
        .collect::<Vec<_>>()
        .join("\n");
    out.result(&json!({ "restored": name, "files": files }), &human);
    Ok(Status::Success)
}
