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
    /// Names of every group the account is a member of (primary included).
    pub groups: Vec<String>,
}

pub trait Accounts: Send + Sync {
    /// Look an account up by its exact name. `None` when it does not exist.
    fn lookup(&self, name: &str) -> Option<Account>;
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
        let groups = group_names(&user.name, user.gid);
        Some(Account {
            name: user.name,
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
            home: user.dir,
            shell: user.shell,
            groups,
        })
    }
}

fn group_names(user: &str, primary: Gid) -> Vec<String> {
    let Ok(cname) = std::ffi::CString::new(user) else {
        return Vec::new();
    };
    let gids = nix::unistd::getgrouplist(&cname, primary).unwrap_or_else(|_| vec![primary]);
    gids.into_iter()
        .filter_map(|g| Group::from_gid(g).ok().flatten().map(|g| g.name))
        .collect()
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
        assert!(root.groups.iter().any(|g| g == "root"));
        assert!(SystemAccounts.lookup("ROOT").is_none());
        assert!(SystemAccounts.lookup("ro\0ot").is_none());
        assert!(SystemAccounts.lookup("").is_none());
        assert!(SystemAccounts.lookup("no-such-user-x9").is_none());
        assert_eq!(name_of_uid(0).as_deref(), Some("root"));
    }
}
