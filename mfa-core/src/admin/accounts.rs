//! The accounts of a root: `etc/passwd` and `etc/group` read directly, so
//! `--root DIR` sees that tree's users. On the running system an account
//! missing from the files (LDAP, SSSD) is still found through NSS.

use std::path::Path;

use crate::accounts::{Account, AccountError, Accounts, SystemAccounts};

use super::Root;

#[derive(Debug, Clone)]
pub struct RootAccounts {
    users: Vec<Account>,
    system: bool,
}

impl RootAccounts {
    /// Read the root's passwd and group files (missing files: no accounts).
    pub fn load(root: &Root) -> Self {
        let read = |p: &str| std::fs::read_to_string(root.path(Path::new(p))).unwrap_or_default();
        Self {
            users: parse(&read("/etc/passwd"), &read("/etc/group")),
            system: root.is_system(),
        }
    }

    pub fn all(&self) -> &[Account] {
        &self.users
    }

    /// Accounts that can log in: root and regular users (uid 1000 up to
    /// `nobody`) whose shell is not nologin/false.
    pub fn login_users(&self) -> Vec<&Account> {
        self.users
            .iter()
            .filter(|a| a.uid == 0 || (1000..65534).contains(&a.uid))
            .filter(|a| {
                let shell = a.shell.to_string_lossy();
                !(shell.is_empty() || shell.ends_with("/nologin") || shell.ends_with("/false"))
            })
            .collect()
    }
}

impl Accounts for RootAccounts {
    fn lookup(&self, name: &str) -> Result<Option<Account>, AccountError> {
        if let Some(a) = self.users.iter().find(|a| a.name == name) {
            return Ok(Some(a.clone()));
        }
        if self.system {
            return SystemAccounts.lookup(name);
        }
        Ok(None)
    }

    /// From the root's group file for its own accounts; through NSS for
    /// one found there only (which carries no group list).
    fn member_of(&self, account: &Account, group: &str) -> Result<bool, AccountError> {
        if self.system && !self.users.iter().any(|a| a.name == account.name) {
            return SystemAccounts.member_of(account, group);
        }
        Ok(account.groups.iter().any(|g| g == group))
    }
}

/// Accounts from passwd text, with their groups (primary and listed).
pub fn parse(passwd: &str, group: &str) -> Vec<Account> {
    let groups: Vec<(String, u32, Vec<&str>)> = group
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            let gid = f.get(2)?.parse().ok()?;
            let members = f.get(3).map_or_else(Vec::new, |m| {
                m.split(',').filter(|s| !s.is_empty()).collect()
            });
            Some((f[0].to_owned(), gid, members))
        })
        .collect();
    passwd
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 7 || f[0].starts_with('#') {
                return None;
            }
            let uid: u32 = f[2].parse().ok()?;
            let gid: u32 = f[3].parse().ok()?;
            let names = groups
                .iter()
                .filter(|(_, g, m)| *g == gid || m.contains(&f[0]))
                .map(|(n, _, _)| n.clone())
                .collect();
            Some(Account {
                name: f[0].to_owned(),
                uid,
                gid,
                home: f[5].into(),
                shell: f[6].into(),
                groups: names,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_groups_are_read() {
        let accounts = parse(
            "root:x:0:0:root:/root:/bin/bash\n\
             daemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n\
             alice:x:1000:1000::/home/alice:/bin/bash\n\
             bad line\n",
            "root:x:0:\nalice:x:1000:\nstaff:x:50:alice,bob\n",
        );
        assert_eq!(accounts.len(), 3);
        assert_eq!(accounts[2].groups, ["alice", "staff"]);
        let ra = RootAccounts {
            users: accounts,
            system: false,
        };
        let names: Vec<&str> = ra.login_users().iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["root", "alice"]);
        assert_eq!(ra.lookup("bob"), Ok(None));
    }
}
