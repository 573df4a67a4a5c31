//! `mfa user add|remove|list|show`: the users file (phone numbers, Duo
//! user names, per-user factor lists). Validation and locking are
//! `mfa_core::userdb`; this file parses arguments and prints.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use mfa_core::config::{UserEntry, UsersDb};
use mfa_core::phonecheck::PhoneNumber;
use mfa_core::push::DuoUsername;
use mfa_core::userdb::{self, EditError, NewUser};
use mfa_core::{Config, FactorKind};
use serde_json::json;

use super::{CliError, Status};
use crate::output::Output;

#[derive(Debug, Args)]
pub struct UserArgs {
    /// Users file to edit (default: the one named by the config).
    #[arg(long, global = true)]
    users_file: Option<PathBuf>,
    /// Configuration file whose `general.users_file` to edit
    /// (default /etc/mfa/mfa.toml when it exists).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: UserCommand,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Enrol a user (the tutorial's register-user).
    Add {
        name: String,
        /// Phone number in E.164: +447700900000 or 447700900000.
        #[arg(long)]
        phone: Option<String>,
        #[arg(long)]
        duo_username: Option<String>,
        /// Factors for this user, in order (overrides policy.factors).
        #[arg(long, value_delimiter = ',')]
        factors: Option<Vec<FactorKind>>,
        /// Overwrite an existing entry.
        #[arg(long)]
        replace: bool,
    },
    /// Remove a user.
    Remove { name: String },
    /// List enrolled users.
    List,
    /// Show one user.
    Show { name: String },
}

fn edit_error(e: EditError) -> CliError {
    match e {
        EditError::Invalid(m) => CliError::Usage(m),
        EditError::Config(c) => CliError::Config(c),
        e @ (EditError::NotFound(_) | EditError::Exists(_) | EditError::Io { .. }) => {
            CliError::Failed(e.to_string())
        }
    }
}

/// `--users-file`, else the config's users file.
fn users_path(a: &UserArgs) -> Result<PathBuf, CliError> {
    if let Some(p) = &a.users_file {
        return Ok(p.clone());
    }
    // The same rule as every front end: only a missing default config means
    // the built-in default, so an unreadable one is never silently replaced.
    let config = Config::load_or_default(a.config.as_deref())?;
    Ok(config.users_file())
}

fn entry_json(name: &str, e: &UserEntry) -> serde_json::Value {
    json!({
        "name": name,
        "phone": e.phone,
        "duo_username": e.duo_username,
        "factors": e.factors,
    })
}

fn entry_text(name: &str, e: &UserEntry) -> String {
    let factors = e
        .factors
        .as_ref()
        .map(|f| f.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(","))
        .unwrap_or_else(|| "(policy default)".into());
    format!(
        "{name}\n  phone:        {}\n  duo_username: {}\n  factors:      {factors}",
        e.phone
            .as_ref()
            .map_or_else(|| "-".into(), PhoneNumber::e164),
        e.duo_username.as_ref().map_or("-", DuoUsername::as_str),
    )
}

pub fn run(a: UserArgs, out: &Output) -> Result<Status, CliError> {
    let path = users_path(&a)?;
    match a.command {
        UserCommand::Add {
            name,
            phone,
            duo_username,
            factors,
            replace,
        } => {
            let user = NewUser {
                name,
                phone,
                duo_username,
                factors,
                replace,
            };
            let entry = userdb::add(&path, &user).map_err(edit_error)?;
            out.result(
                &json!({ "added": entry_json(&user.name, &entry), "users_file": path }),
                &format!("Enrolled {} in {}", user.name, path.display()),
            );
        }
        UserCommand::Remove { name } => {
            mfa_core::userdb::validate_user_name(&name).map_err(CliError::Usage)?;
            userdb::remove(&path, &name).map_err(edit_error)?;
            out.result(
                &json!({ "removed": name, "users_file": path }),
                &format!("Removed {name} from {}", path.display()),
            );
        }
        UserCommand::List => {
            let db: UsersDb = userdb::load(&path).map_err(edit_error)?;
            let list: Vec<_> = db.users.iter().map(|(n, e)| entry_json(n, e)).collect();
            let human = if db.users.is_empty() {
                format!("No users in {}", path.display())
            } else {
                db.users
                    .iter()
                    .map(|(n, e)| {
                        format!(
                            "{n:<24} {:<16} {}",
                            e.phone
                                .as_ref()
                                .map_or_else(|| "-".into(), PhoneNumber::e164),
                            e.duo_username.as_ref().map_or("-", DuoUsername::as_str)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            out.result(&json!({ "users": list, "users_file": path }), &human);
        }
        UserCommand::Show { name } => {
            mfa_core::userdb::validate_user_name(&name).map_err(CliError::Usage)?;
            let db = userdb::load(&path).map_err(edit_error)?;
            let e = db
                .get(&name)
                .ok_or_else(|| edit_error(EditError::NotFound(name.clone())))?;
            out.result(&entry_json(&name, e), &entry_text(&name, e));
        }
    }
    Ok(Status::Success)
}
