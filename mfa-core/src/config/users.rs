//! `/etc/mfa/users.toml`: per-user enrolment, edited atomically by `mfa user`.
//!
//! ```toml
//! [users.alice]
//! phone = "+447700900000"
//! duo_username = "alice.smith"
//! factors = ["push", "totp"]
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::from_toml;
use super::{read_config_file, ConfigError};
use crate::factor::FactorKind;
use crate::fsutil::{self, FsError, ReplaceOptions};
use crate::phonecheck::PhoneNumber;
use crate::push::DuoUsername;

/// One user's enrolment. Numbers and Duo user names are checked when the
/// file is loaded: a malformed one is a configuration error naming the
/// file, line and key, never a surprise in the middle of a login.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<PhoneNumber>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duo_username: Option<DuoUsername>,
    /// Overrides the policy's factor list for this user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factors: Option<Vec<FactorKind>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsersDb {
    #[serde(default)]
    pub users: BTreeMap<String, UserEntry>,
}

impl UsersDb {
    pub fn parse(file: &Path, src: &str) -> Result<Self, ConfigError> {
        toml::from_str(src).map_err(|e| from_toml(file, src, &e))
    }

    /// Load `path`; a missing file is an empty database when `optional`.
    /// Only "no such file" counts as missing: a file that cannot be looked
    /// up (permission, symlink loop) is an error, never an empty database
    /// that would drop every user's enrolment.
    pub fn load(path: &Path, optional: bool) -> Result<Self, ConfigError> {
        if optional {
            match std::fs::metadata(path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
                Err(e) => return Err(ConfigError::file(path, format!("cannot look it up: {e}"))),
                Ok(_) => {}
            }
        }
        let src = read_config_file(path)?;
        Self::parse(path, &src)
    }

    /// The entry for exactly this name (no patterns, no case folding).
    pub fn get(&self, user: &str) -> Option<&UserEntry> {
        self.users.get(user)
    }

    /// Write atomically (fsutil: temp file in the same directory, fsync,
    /// rename, directory fsync), mode 0640, keeping the owner and group of
    /// the file it replaces.
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        let text = toml::to_string_pretty(self)
            .map_err(|e| ConfigError::file(path, format!("cannot serialise: {e}")))?;
        let mut out =
            String::from("# Managed by `mfa user`; edits by hand are kept only if valid.\n");
        out.push_str(&text);
        let (owner, mode) = ownership_for(path)?;
        let opts = ReplaceOptions {
            mode,
            owner: Some(owner),
            clobber: true,
            sync_dir: true,
        };
        fsutil::replace(path, out.as_bytes(), &opts).map_err(|e| match e {
            // "cannot give the new file the owner U:G: ...", "cannot sync: ..."
            FsError::Io { what, source, .. } => {
                ConfigError::file(path, format!("{what}: {source}"))
            }
            e => ConfigError::file(path, format!("cannot write: {e}")),
        })
    }
}

/// The most a users file may be opened to: the owner writes, the group
/// (mfa-login's) reads, nobody else.
const USERS_FILE_MODE: u32 = 0o640;

/// Owner, group and mode for the file that replaces `path`.
/// - Replacing a file: its owner and group (the rename would otherwise
///   leave a `root:root` file that mfa-login, setgid to the group that
///   alone may read /etc/mfa, could no longer read: every login would be
///   denied after an `mfa user add`), and its mode if stricter than 0640
///   (an admin's 0600 stays 0600; a 0644 loses the world's read).
/// - A new file: our uid and the directory's group (root:mfa for
///   /etc/mfa), never just whatever group the editing process runs with.
fn ownership_for(path: &Path) -> Result<((u32, u32), u32), ConfigError> {
    use std::os::unix::fs::MetadataExt;
    match std::fs::symlink_metadata(path) {
        Ok(m) => Ok(((m.uid(), m.gid()), m.mode() & USERS_FILE_MODE)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let dir = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            let d = std::fs::metadata(dir)
                .map_err(|e| ConfigError::file(dir, format!("cannot stat: {e}")))?;
            Ok(((crate::accounts::effective_uid(), d.gid()), USERS_FILE_MODE))
        }
        Err(e) => Err(ConfigError::file(path, format!("cannot stat: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn save_keeps_the_owner_and_group_of_the_file_it_replaces() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("users.toml");
        std::fs::write(&path, "").unwrap();
        let root = nix::unistd::geteuid().is_root();
        assert!(
            root || std::env::var("CI").as_deref() != Ok("true"),
            "CI runs this test as root"
        );
        // As root, a group the process does not run with (as /etc/mfa's
        // dedicated group would be); otherwise our own.
        let (uid, gid) = if root {
            (0, 4242)
        } else {
            let m = std::fs::metadata(&path).unwrap();
            (m.uid(), m.gid())
        };
        std::os::unix::fs::chown(&path, Some(uid), Some(gid)).unwrap();

        let mut db = UsersDb::default();
        db.users.insert("alice".into(), UserEntry::default());
        db.save(&path).unwrap();

        let m = std::fs::metadata(&path).unwrap();
        assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (uid, gid, 0o640));
        assert!(UsersDb::load(&path, false).unwrap().get("alice").is_some());

        // A new file: the creator's uid and the directory's group (as
        // root, one the process does not run with).
        let dir_gid = if root { 4243 } else { m.gid() };
        std::os::unix::fs::chown(d.path(), None, Some(dir_gid)).unwrap();
        let fresh = d.path().join("new.toml");
        db.save(&fresh).unwrap();
        let f = std::fs::metadata(&fresh).unwrap();
        assert_eq!(
            (f.uid(), f.gid(), f.mode() & 0o7777),
            (nix::unistd::geteuid().as_raw(), dir_gid, 0o640)
        );
    }

    #[test]
    fn save_keeps_a_stricter_mode_and_never_opens_a_looser_one() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let mut db = UsersDb::default();
        db.users.insert("alice".into(), UserEntry::default());
        for (before, after) in [
            (0o600, 0o600),
            (0o644, 0o640),
            (0o666, 0o640),
            (0o400, 0o400),
        ] {
            let path = d.path().join(format!("users-{before:o}.toml"));
            std::fs::write(&path, "").unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(before)).unwrap();
            db.save(&path).unwrap();
            let mode = std::fs::metadata(&path).unwrap().mode() & 0o7777;
            assert_eq!(mode, after, "{before:o}");
        }
    }
}

#[cfg(test)]
mod load_tests {
    use super::*;

    #[test]
    fn only_a_missing_optional_file_is_an_empty_database() {
        let d = tempfile::tempdir().unwrap();
        let missing = d.path().join("users.toml");
        assert_eq!(UsersDb::load(&missing, true).unwrap(), UsersDb::default());
        // A dangling symlink is NotFound too; a loop is not.
        let looped = d.path().join("loop.toml");
        std::os::unix::fs::symlink(&looped, &looped).unwrap();
        let e = UsersDb::load(&looped, true).unwrap_err();
        assert!(e.message.contains("cannot look it up"), "{e}");
        // A path through a regular file (ENOTDIR): an error, not empty.
        let file = d.path().join("plain");
        std::fs::write(&file, "").unwrap();
        assert!(UsersDb::load(&file.join("users.toml"), true).is_err());
    }
}
