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
    /// Which rule applies cannot be told (a group lookup failed): deny,
    /// for this reason. A rule that cannot be evaluated is never taken as
    /// "does not match", or a `deny` group rule would fail open.
    Fail(String),
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
    let mut rule = None;
    for r in &config.policy.rules {
        if r.users.iter().any(|u| u == user) {
            rule = Some(r);
            break;
        }
        let Some(a) = account else { continue };
        for g in &r.groups {
            match accounts.member_of(a, g) {
                Ok(false) => {}
                Ok(true) => {
                    rule = Some(r);
                    break;
                }
                Err(e) => return Plan::Fail(e.to_string()),
            }
        }
        if rule.is_some() {
            break;
        }
    }
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
    use crate::accounts::AccountError;
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

    /// A group database that cannot answer.
    struct Down;

    impl Accounts for Down {
        fn lookup(&self, _name: &str) -> Result<Option<Account>, AccountError> {
            Ok(None)
        }
        fn member_of(&self, _account: &Account, _group: &str) -> Result<bool, AccountError> {
            Err(AccountError("Input/output error".into()))
        }
    }

    /// A group lookup that fails is neither "member" nor "not a member":
    /// a `deny` (or `skip`, or factors) group rule makes the plan fail
    /// instead of being passed by; a rule matched by name before it still
    /// applies, and without group rules nothing is looked up.
    #[test]
    fn a_failed_group_lookup_fails_the_plan_never_passes_a_deny_rule() {
        let rules = |action: &str| {
            Config::parse(
                Path::new("t"),
                &format!(
                    "[[policy.rules]]\nusers = [\"svc\"]\naction = \"skip\"\n\
                     [[policy.rules]]\ngroups = [\"contractors\"]\naction = \"{action}\"\n"
                ),
            )
            .unwrap()
        };
        let users = UsersDb::default();
        for action in ["deny", "skip", "factors"] {
            let cfg = if action == "factors" {
                Config::parse(
                    Path::new("t"),
                    "[[policy.rules]]\ngroups = [\"contractors\"]\nfactors = [\"totp\"]\n",
                )
                .unwrap()
            } else {
                rules(action)
            };
            let p = plan(&cfg, &users, "bob", Some(&account("bob", &[])), &Down, None);
            assert!(
                matches!(&p, Plan::Fail(why) if why.contains("Input/output error")),
                "{action}: {p:?}"
            );
        }
        let cfg = rules("deny");
        assert_eq!(
            plan(&cfg, &users, "svc", Some(&account("svc", &[])), &Down, None),
            Plan::Skip
        );
        let cfg = Config::default();
        assert_eq!(
            plan(&cfg, &users, "bob", Some(&account("bob", &[])), &Down, None),
            Plan::Run(vec![FactorKind::Totp])
        );
    }
}
