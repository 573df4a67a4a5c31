//! What a user is enrolled in, judged from files alone (no provider is
//! asked): the lockout guard of `mfa install` and doctor's list of users
//! who would be denied.

use std::path::{Path, PathBuf};

use crate::accounts::{Account, Accounts};
use crate::config::{Config, ConfigError, UsersDb, DEFAULT_CONFIG};
use crate::factor::FactorKind;
use crate::policy::{plan, Plan};
use crate::totp::factor::expand_secret_path;

use super::Root;

/// The config of a root: `explicit` (logical path) or the default path,
/// which may be missing (the built-in default then applies).
pub fn load_config(root: &Root, explicit: Option<&Path>) -> Result<Config, ConfigError> {
    let logical = explicit.unwrap_or(Path::new(DEFAULT_CONFIG));
    let real = root.path(logical);
    match real.symlink_metadata() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => {
            Ok(Config::default())
        }
        _ => Config::load(&real),
    }
}

/// The users file a config names, under the root; a missing one is empty.
pub fn load_users(root: &Root, config: &Config) -> Result<UsersDb, ConfigError> {
    UsersDb::load(&root.path(&config.users_file()), true)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// A rule skips the second factor for this user.
    Skipped,
    /// A rule denies this user outright.
    DeniedByRule,
    /// Enrolled in at least one factor of the plan.
    Enrolled(Vec<FactorKind>),
    /// Enrolled in none of these.
    NotEnrolled(Vec<FactorKind>),
}

pub fn status(
    root: &Root,
    config: &Config,
    users: &UsersDb,
    accounts: &dyn Accounts,
    account: &Account,
) -> Status {
    let factors = match plan(config, users, &account.name, Some(account), accounts, None) {
        Plan::Skip => return Status::Skipped,
        // A group rule that cannot be evaluated denies at login too.
        Plan::Deny | Plan::Fail(_) => return Status::DeniedByRule,
        Plan::Run(f) => f,
    };
    let enrolled: Vec<FactorKind> = factors
        .iter()
        .copied()
        .filter(|f| is_enrolled(root, config, users, account, *f))
        .collect();
    if enrolled.is_empty() {
        Status::NotEnrolled(factors)
    } else {
        Status::Enrolled(enrolled)
    }
}

/// The TOTP state file of `account`, under the root.
pub fn totp_file(root: &Root, config: &Config, account: &Account) -> PathBuf {
    root.path(&expand_secret_path(&config.totp.secret, account))
}

fn is_enrolled(
    root: &Root,
    config: &Config,
    users: &UsersDb,
    account: &Account,
    factor: FactorKind,
) -> bool {
    let entry = users.get(&account.name);
    match factor {
        // The factors' own rules (see each factor's `authenticate`).
        FactorKind::Totp => totp_file(root, config, account).symlink_metadata().is_ok(),
        FactorKind::Phonecheck => entry.is_some_and(|e| e.phone.is_some()),
        FactorKind::Push => entry.is_some_and(|e| {
            e.duo_username.is_some()
                || e.factors
                    .as_ref()
                    .is_some_and(|f| f.contains(&FactorKind::Push))
        }),
        FactorKind::Webhook => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::StaticAccounts;

    fn account(home: &Path) -> Account {
        Account {
            name: "alice".into(),
            uid: 1000,
            gid: 1000,
            home: home.to_owned(),
            shell: "/bin/sh".into(),
            groups: vec!["staff".into()],
        }
    }

    #[test]
    fn totp_enrolment_is_the_state_file_under_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let config = Config::default();
        let users = UsersDb::default();
        let a = account(Path::new("/home/alice"));
        assert_eq!(
            status(&root, &config, &users, &StaticAccounts(vec![a.clone()]), &a),
            Status::NotEnrolled(vec![FactorKind::Totp])
        );
        std::fs::create_dir_all(dir.path().join("home/alice")).unwrap();
        std::fs::write(dir.path().join("home/alice/.google_authenticator"), "X\n").unwrap();
        assert_eq!(
            status(&root, &config, &users, &StaticAccounts(vec![a.clone()]), &a),
            Status::Enrolled(vec![FactorKind::Totp])
        );
    }

    #[test]
    fn rules_skip_or_deny_before_enrolment_counts() {
        let root = Root::new("/nonexistent");
        let config = Config::parse(
            Path::new("t"),
            "[[policy.rules]]\ngroups = [\"staff\"]\naction = \"skip\"\n",
        )
        .unwrap();
        let a = account(Path::new("/home/alice"));
        assert_eq!(
            status(
                &root,
                &config,
                &UsersDb::default(),
                &StaticAccounts(vec![a.clone()]),
                &a
            ),
            Status::Skipped
        );
    }
}
