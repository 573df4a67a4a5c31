//! The account database (passwd/group), behind a trait so tests can inject
//! users that do not exist on the machine, and databases that fail or fold
//! case.

use std::path::PathBuf;

use nix::unistd::{Gid, Group, Uid, User};

/// What the core needs to know about a local account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The name as the account database spells it. A case-insensitive
    /// backend (SSSD, winbind) may answer `root` when asked for `ROOT`:
    /// this is the spelling everything else must use.
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

/// The account database could not answer (an NSS backend down, an
/// unreadable `/etc/passwd`): not the same as "no such user", and never
/// taken for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the account database cannot be read: {0}")]
pub struct AccountError(pub String);

pub trait Accounts: Send + Sync {
    /// Look an account up by name. `Ok(None)` only when the database says
    /// there is no such account; `Err` when it could not say. The
    /// account's [`Account::name`] is the database's spelling, which may
    /// differ from `name`.
    fn lookup(&self, name: &str) -> Result<Option<Account>, AccountError>;

    /// Whether `account` is a member of the group named exactly `group`
    /// (its primary group included). `Err` when the database could not
    /// say: never taken for "not a member", which would let a `deny`
    /// group rule pass everyone by while a directory is down.
    fn member_of(&self, account: &Account, group: &str) -> Result<bool, AccountError> {
        Ok(account.groups.iter().any(|g| g == group))
    }
}

/// The system's passwd and group databases (NSS).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemAccounts;

impl Accounts for SystemAccounts {
    fn lookup(&self, name: &str) -> Result<Option<Account>, AccountError> {
        // A name with a NUL cannot be a real account; refuse before NSS sees it.
        if name.is_empty() || name.contains('\0') {
            return Ok(None);
        }
        // getpwnam_r: 0 with no entry is "no such user"; any error number
        // (a backend UNAVAIL, EIO, EACCES) is a failure to answer.
        let user = User::from_name(name).map_err(|e| AccountError(e.desc().to_owned()))?;
        Ok(user.map(|user| Account {
            name: user.name,
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
            home: user.dir,
            shell: user.shell,
            groups: Vec::new(),
        }))
    }

    /// One `getgrnam` for the named group, then the account's group list:
    /// only the groups a rule names are ever resolved. A group that does
    /// not exist has no members; a lookup that fails is an error.
    fn member_of(&self, account: &Account, group: &str) -> Result<bool, AccountError> {
        if group.is_empty() || group.contains('\0') {
            return Ok(false);
        }
        let failed = |what: &str, e: nix::Error| {
            AccountError(format!(
                "{what} of group '{}': {}",
                crate::sanitize::for_log(group),
                e.desc()
            ))
        };
        let g = match Group::from_name(group) {
            Ok(Some(g)) => g,
            Ok(None) => return Ok(false),
            Err(e) => return Err(failed("lookup", e)),
        };
        // NSS backends may match case-insensitively; we match exactly.
        if g.name != group {
            return Ok(false);
        }
        if g.gid.as_raw() == account.gid {
            return Ok(true);
        }
        let Ok(cname) = std::ffi::CString::new(account.name.as_str()) else {
            return Ok(false);
        };
        nix::unistd::getgrouplist(&cname, Gid::from_raw(account.gid))
            .map(|gids| gids.contains(&g.gid))
            .map_err(|e| failed("membership", e))
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

/// A fixed in-memory account table (tests and demos): exact names.
#[derive(Debug, Default, Clone)]
pub struct StaticAccounts(pub Vec<Account>);

impl StaticAccounts {
    /// Accounts with these names and nothing else of note (uids from
    /// 60000, homes that do not exist): enough for factors that enrol
    /// through the users file (push, phonecheck, webhook).
    pub fn named(names: &[&str]) -> Self {
        Self(
            names
                .iter()
                .zip(60_000u32..)
                .map(|(name, uid)| Account {
                    name: (*name).to_owned(),
                    uid,
                    gid: uid,
                    home: PathBuf::from("/nonexistent").join(name),
                    shell: PathBuf::from("/bin/sh"),
                    groups: Vec::new(),
                })
                .collect(),
        )
    }
}

impl Accounts for StaticAccounts {
    fn lookup(&self, name: &str) -> Result<Option<Account>, AccountError> {
        Ok(self.0.iter().find(|a| a.name == name).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_exists_and_names_match_exactly() {
        let root = SystemAccounts.lookup("root").unwrap().unwrap();
        assert_eq!((root.uid, root.name.as_str()), (0, "root"));
        assert_eq!(SystemAccounts.member_of(&root, "root"), Ok(true));
        assert_eq!(SystemAccounts.member_of(&root, "ROOT"), Ok(false));
        assert_eq!(
            SystemAccounts.member_of(&root, "no-such-group-x9"),
            Ok(false)
        );
        // The files backend is case-sensitive: ROOT is nobody here.
        assert_eq!(SystemAccounts.lookup("ROOT"), Ok(None));
        assert_eq!(SystemAccounts.lookup("ro\0ot"), Ok(None));
        assert_eq!(SystemAccounts.lookup(""), Ok(None));
        assert_eq!(SystemAccounts.lookup("no-such-user-x9"), Ok(None));
        assert_eq!(name_of_uid(0).as_deref(), Some("root"));
    }
}
