//! Which factors apply to a user: rules, the user's own list, the default.

use crate::accounts::{Account, Accounts};
use crate::config::{Config, RuleAction, UsersDb};
use crate::factor::FactorKind;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Run these factors, in order.
    Run(Vec<FactorKind>),
    /// A rule says step aside.
    Skip,
    /// A rule says deny.
    Deny,
}

/// Decide the plan for `user`. Users are matched by exact name, groups by
/// exact group name; the first matching rule wins. An `override_factors`
/// list (PAM `factor=`, `mfa check --factor`) replaces the factor list but
/// not a rule's skip/deny.
pub fn plan(
    config: &Config,
    users: &UsersDb,
    user: &str,
    account: Option<&Account>,
    accounts: &dyn Accounts,
    override_factors: Option<&[FactorKind]>,
) -> Plan {
    let rule = config.policy.rules.iter().find(|r| {
        r.users.iter().any(|u| u == user)
            || account.is_some_and(|a| r.groups.iter().any(|g| accounts.member_of(a, g)))
    });
    match rule.map(|r| r.action) {
        Some(RuleAction::Skip) => return Plan::Skip,
        Some(RuleAction::Deny) => return Plan::Deny,
        _ => {}
    }
    if let Some(list) = override_factors {
        return Plan::Run(list.to_vec());
    }
    if let Some(list) = rule.and_then(|r| r.factors.clone()) {
        return Plan::Run(list);
    }
    if let Some(list) = users.get(user).and_then(|e| e.factors.clone()) {
        return Plan::Run(list);
    }
    Plan::Run(config.policy.factors.get_ref().clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::UserEntry;
    use std::path::Path;

    fn account(name: &str, groups: &[&str]) -> Account {
        Account {
            name: name.into(),
            uid: 1000,
            gid: 1000,
            home: "/home/x".into(),
            shell: "/bin/sh".into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn rules_users_and_defaults() {
        let cfg = Config::parse(
            Path::new("t"),
            r#"
[policy]
factors = ["push", "totp"]
[[policy.rules]]
users = ["svc"]
action = "skip"
[[policy.rules]]
groups = ["admins"]
factors = ["totp"]
[[policy.rules]]
users = ["mallory"]
action = "deny"
"#,
        )
        .unwrap();
        let mut users = UsersDb::default();
        users.users.insert(
            "carol".into(),
            UserEntry {
                factors: Some(vec![FactorKind::Webhook]),
                ..Default::default()
            },
        );
        let db = crate::accounts::StaticAccounts::default();
        let p = |u: &str, g: &[&str]| plan(&cfg, &users, u, Some(&account(u, g)), &db, None);
        assert_eq!(p("svc", &[]), Plan::Skip);
        assert_eq!(
            p("Svc", &[]),
            Plan::Run(vec![FactorKind::Push, FactorKind::Totp]),
            "exact match only"
        );
        assert_eq!(p("dave", &["admins"]), Plan::Run(vec![FactorKind::Totp]));
        assert_eq!(
            p("dave", &["admins2"]),
            Plan::Run(vec![FactorKind::Push, FactorKind::Totp])
        );
        assert_eq!(p("mallory", &[]), Plan::Deny);
        assert_eq!(p("carol", &[]), Plan::Run(vec![FactorKind::Webhook]));
        assert_eq!(
            plan(&cfg, &users, "carol", None, &db, Some(&[FactorKind::Totp])),
            Plan::Run(vec![FactorKind::Totp])
        );
        assert_eq!(
            plan(&cfg, &users, "svc", None, &db, Some(&[FactorKind::Totp])),
            Plan::Skip
        );
        assert_eq!(
            plan(&cfg, &users, "[a-z]*", None, &db, None),
            Plan::Run(vec![FactorKind::Push, FactorKind::Totp])
        );
    }
}
