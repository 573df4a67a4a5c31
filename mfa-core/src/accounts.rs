//! The account database (passwd/group), behind a trait so tests can inject
//! users that do not exist on the machine.

use std::path::PathBuf;

use nix::unistd::{Gid, Group, Uid, User};

/// What the core needs to know about a local account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
    pub shell: PathBuf,
    /// Group memberships known up front (static tables in tests and demos).
    /// [`SystemAccounts`] leaves it empty and answers
    /// [`Accounts::member_of`] on demand instead: resolving every group on
    /// every login costs sshd's child hundreds of syscalls for nothing when
    /// no rule names a group.
    pub groups: Vec<String>,
}

pub trait Accounts: Send + Sync {
    /// Look an account up by its exact name. `None` when it does not exist.
    fn lookup(&self, name: &str) -> Option<Account>;

    /// Whether `account` is a member of the group named exactly `group`
    /// (its primary group included).
    fn member_of(&self, account: &Account, group: &str) -> bool {
        account.groups.iter().any(|g| g == group)
    }
}

/// The system's passwd and group databases (NSS).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemAccounts;

impl Accounts for SystemAccounts {
    fn lookup(&self, name: &str) -> Option<Account> {
        // A name with a NUL cannot be a real account; refuse before NSS sees it.
        if name.is_empty() || name.contains('\0') {
            return None;
        }
        let user = User::from_name(name).ok()??;
        // NSS backends may match case-insensitively; we match exactly.
        if user.name != name {
            return None;
        }
        Some(Account {
            name: user.name,
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
            home: user.dir,
            shell: user.shell,
            groups: Vec::new(),
        })
    }

    /// One `getgrnam` for the named group, then the account's group list:
    /// only the groups a rule names are ever resolved.
    fn member_of(&self, account: &Account, group: &str) -> bool {
        if group.is_empty() || group.contains('\0') {
            return false;
        }
        let Ok(Some(g)) = Group::from_name(group) else {
            return false;
        };
        // NSS backends may match case-insensitively; we match exactly.
        if g.name != group {
            return false;
        }
        if g.gid.as_raw() == account.gid {
            return true;
        }
        let Ok(cname) = std::ffi::CString::new(account.name.as_str()) else {
            return false;
        };
        nix::unistd::getgrouplist(&cname, Gid::from_raw(account.gid))
            .is_ok_and(|gids| gids.contains(&g.gid))
    }
}

/// The name of the account with this uid, if any.
pub fn name_of_uid(uid: u32) -> Option<String> {
    User::from_uid(Uid::from_raw(uid)).ok()?.map(|u| u.name)
}

/// The effective uid of this process.
pub fn effective_uid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// A fixed in-memory account table (tests and demos).
#[derive(Debug, Default, Clone)]
pub struct StaticAccounts(pub Vec<Account>);

impl Accounts for StaticAccounts {
    fn lookup(&self, name: &str) -> Option<Account> {
        self.0.iter().find(|a| a.name == name).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_exists_and_names_match_exactly() {
        let root = SystemAccounts.lookup("root").unwrap();
        assert_eq!(root.uid, 0);
        assert!(SystemAccounts.member_of(&root, "root"));
        assert!(!SystemAccounts.member_of(&root, "ROOT"));
        assert!(!SystemAccounts.member_of(&root, "no-such-group-x9"));
        assert!(SystemAccounts.lookup("ROOT").is_none());
        assert!(SystemAccounts.lookup("ro\0ot").is_none());
        assert!(SystemAccounts.lookup("").is_none());
        assert!(SystemAccounts.lookup("no-such-user-x9").is_none());
        assert_eq!(name_of_uid(0).as_deref(), Some("root"));
    }
}
