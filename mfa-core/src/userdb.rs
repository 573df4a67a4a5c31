//! Editing the users file (`mfa user add|remove|list|show`): validation of
//! names, numbers and factor lists, and read-modify-write under an
//! exclusive lock so two concurrent edits never lose one another.
//! The write itself is [`UsersDb::save`] (temp file, fsync, rename); both
//! it and the lock are `crate::fsutil`'s.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::Flock;

use crate::config::{ConfigError, UserEntry, UsersDb};
use crate::factor::FactorKind;
use crate::fsutil::{self, FsError};
use crate::phonecheck::PhoneNumber;
use crate::push::DuoUsername;

/// How long an edit waits for another one to finish.
const LOCK_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// Bad input: a name, number or option that is refused (exit 2).
    #[error("{0}")]
    Invalid(String),
    #[error("user '{0}' is not in the users file")]
    NotFound(String),
    #[error("user '{0}' is already in the users file (use --replace to overwrite)")]
    Exists(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
}

/// A login name as it may appear in the users file: 1 to 64 characters,
/// letters, digits, `_`, `.`, `-` and (for directory users such as
/// `alice@example.com`) one `@` in the middle; not starting with `-` or `.`.
/// Names are matched exactly at login, so anything a pattern, a shell or a
/// terminal could read differently is refused here.
pub fn validate_user_name(name: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("user name {name:?} refused: {why}"));
    if name.is_empty() || name.len() > 64 {
        return bad("must be 1 to 64 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'@'))
    {
        return bad("only letters, digits, '_', '.', '-' and '@' are allowed");
    }
    if name.starts_with(['-', '.', '@']) || name.ends_with('@') {
        return bad("must not start with '-', '.' or '@', nor end with '@'");
    }
    if name.bytes().filter(|&b| b == b'@').count() > 1 {
        return bad("at most one '@'");
    }
    Ok(())
}

/// A Duo user name as `mfa user` writes it: printable ASCII, no spaces,
/// 1..=128. Stricter than what the loader accepts ([`DuoUsername`]), so a
/// name typed by mistake with a space is caught at the command line.
pub fn validate_duo_username(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 128 || !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "duo username {name:?} refused: 1 to 128 printable ASCII characters, no spaces"
        ));
    }
    Ok(())
}

/// What `mfa user add` asks for.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub name: String,
    pub phone: Option<String>,
    pub duo_username: Option<String>,
    pub factors: Option<Vec<FactorKind>>,
    /// Overwrite an existing entry.
    pub replace: bool,
}

impl NewUser {
    /// Validate and normalise into a users-file entry (numbers stored as
    /// `+digits`).
    pub fn entry(&self) -> Result<UserEntry, EditError> {
        validate_user_name(&self.name).map_err(EditError::Invalid)?;
        let phone = match &self.phone {
            Some(p) => Some(
                PhoneNumber::parse(p).map_err(|e| EditError::Invalid(format!("--phone: {e}")))?,
            ),
            None => None,
        };
        let duo_username = match &self.duo_username {
            Some(d) => {
                validate_duo_username(d).map_err(EditError::Invalid)?;
                Some(
                    DuoUsername::parse(d)
                        .map_err(|e| EditError::Invalid(format!("--duo-username: {e}")))?,
                )
            }
            None => None,
        };
        if let Some(f) = &self.factors {
            if f.is_empty() {
                return Err(EditError::Invalid(
                    "--factors: name at least one factor".into(),
                ));
            }
            let mut seen = f.clone();
            seen.sort_by_key(|k| k.as_str());
            seen.dedup();
            if seen.len() != f.len() {
                return Err(EditError::Invalid(
                    "--factors: a factor is named twice".into(),
                ));
            }
            if f.contains(&FactorKind::Phonecheck) && phone.is_none() {
                return Err(EditError::Invalid(
                    "--factors: phonecheck needs --phone".into(),
                ));
            }
        }
        if phone.is_none() && self.duo_username.is_none() && self.factors.is_none() {
            return Err(EditError::Invalid(
                "give at least one of --phone, --duo-username, --factors".into(),
            ));
        }
        Ok(UserEntry {
            phone,
            duo_username,
            factors: self.factors.clone(),
        })
    }
}

/// Read the users file; a missing file is an empty database.
pub fn load(path: &Path) -> Result<UsersDb, EditError> {
    Ok(UsersDb::load(path, true)?)
}

/// Add (or with `replace`, overwrite) a user. Returns the stored entry.
pub fn add(path: &Path, user: &NewUser) -> Result<UserEntry, EditError> {
    let entry = user.entry()?;
    edit(path, |db| {
        if db.users.contains_key(&user.name) && !user.replace {
            return Err(EditError::Exists(user.name.clone()));
        }
        db.users.insert(user.name.clone(), entry.clone());
        Ok(())
    })?;
    Ok(entry)
}

/// Remove a user.
pub fn remove(path: &Path, name: &str) -> Result<(), EditError> {
    edit(path, |db| match db.users.remove(name) {
        Some(_) => Ok(()),
        None => Err(EditError::NotFound(name.to_owned())),
    })
}

/// Read-modify-write under an exclusive lock on a side file (the users
/// file itself is replaced by rename, so it cannot carry the lock).
fn edit(
    path: &Path,
    change: impl FnOnce(&mut UsersDb) -> Result<(), EditError>,
) -> Result<(), EditError> {
    let _lock = lock(path)?;
    let mut db = load(path)?;
    change(&mut db)?;
    db.save(path)?;
    Ok(())
}

fn lock_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "users.toml".into());
    path.with_file_name(format!(".{name}.lock"))
}

fn lock(path: &Path) -> Result<Flock<File>, EditError> {
    let lp = lock_path(path);
    fsutil::lock_file(&lp, Instant::now() + LOCK_WAIT).map_err(|e| EditError::Io {
        path: lp.clone(),
        message: match e {
            FsError::LockTimeout(_) => "another edit holds the lock".into(),
            FsError::Io { what, source, .. } => format!("cannot lock: {what}: {source}"),
            e => format!("cannot lock: {e}"),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names() {
        for ok in [
            "alice",
            "a",
            "svc_backup",
            "first.last",
            "bob-2",
            "alice@example.com",
            "A1",
        ] {
            assert!(validate_user_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-rf",
            ".hidden",
            "@x",
            "x@",
            "a@b@c",
            "alice bob",
            "alice\n",
            "ali*",
            "a:b",
            "user=alice:",
            "../etc",
            "a/b",
            "é",
            "a\u{1b}[2J",
            &"a".repeat(65),
        ] {
            let e = validate_user_name(bad).unwrap_err();
            assert!(e.contains("refused"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn entries_are_validated_and_normalised() {
        let u = NewUser {
            name: "alice".into(),
            phone: Some("447700900000".into()),
            ..NewUser::default()
        };
        assert_eq!(
            u.entry().unwrap().phone.map(|p| p.e164()).as_deref(),
            Some("+447700900000")
        );
        let bad_phone = NewUser {
            phone: Some("+44 7700".into()),
            ..u.clone()
        };
        assert!(
            matches!(bad_phone.entry(), Err(EditError::Invalid(m)) if m.starts_with("--phone"))
        );
        let nothing = NewUser {
            phone: None,
            ..u.clone()
        };
        assert!(matches!(nothing.entry(), Err(EditError::Invalid(_))));
        let pc_without_phone = NewUser {
            phone: None,
            factors: Some(vec![FactorKind::Phonecheck]),
            ..u.clone()
        };
        assert!(
            matches!(pc_without_phone.entry(), Err(EditError::Invalid(m)) if m.contains("needs --phone"))
        );
        let twice = NewUser {
            factors: Some(vec![FactorKind::Totp, FactorKind::Totp]),
            ..u.clone()
        };
        assert!(twice.entry().is_err());
        let duo = NewUser {
            duo_username: Some("has space".into()),
            ..u
        };
        assert!(duo.entry().is_err());
    }

    /// Deterministic: while one edit holds the lock, another waits (it
    /// cannot finish, whatever the scheduling), then starts from the first
    /// one's result, so neither is lost. (Threads racing freely may or may
    /// not overlap; this interleaving is forced.)
    #[test]
    fn an_edit_waits_for_the_lock_and_starts_from_the_previous_edit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        let new = |name: &str| NewUser {
            name: name.into(),
            phone: Some("+447700900000".into()),
            ..NewUser::default()
        };
        let held = lock(&path).unwrap();
        let waiter = {
            let (path, user) = (path.clone(), new("waiter"));
            std::thread::spawn(move || add(&path, &user))
        };
        // The first edit, done by hand under the lock: read, change, write.
        let mut db = load(&path).unwrap();
        db.users
            .insert("first".into(), new("first").entry().unwrap());
        std::thread::sleep(Duration::from_millis(300));
        assert!(!waiter.is_finished(), "an edit ran while the lock was held");
        db.save(&path).unwrap();
        drop(held);
        waiter.join().unwrap().unwrap();
        let names: Vec<String> = load(&path).unwrap().users.into_keys().collect();
        assert_eq!(names, ["first", "waiter"]);
    }

    #[test]
    fn add_remove_round_trip_and_concurrent_edits_are_not_lost() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let path = path.clone();
                std::thread::spawn(move || {
                    add(
                        &path,
                        &NewUser {
                            name: format!("user{i}"),
                            phone: Some(format!("+4477009000{i:02}")),
                            ..NewUser::default()
                        },
                    )
                    .unwrap();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let db = load(&path).unwrap();
        assert_eq!(db.users.len(), 8, "no edit was lost");
        let again = NewUser {
            name: "user3".into(),
            phone: Some("+447700900999".into()),
            ..NewUser::default()
        };
        assert!(matches!(add(&path, &again), Err(EditError::Exists(_))));
        add(
            &path,
            &NewUser {
                replace: true,
                ..again
            },
        )
        .unwrap();
        assert_eq!(
            load(&path)
                .unwrap()
                .get("user3")
                .unwrap()
                .phone
                .as_ref()
                .map(PhoneNumber::e164)
                .as_deref(),
            Some("+447700900999")
        );
        remove(&path, "user3").unwrap();
        assert!(matches!(
            remove(&path, "user3"),
            Err(EditError::NotFound(_))
        ));
        assert_eq!(load(&path).unwrap().users.len(), 7);
    }
}
