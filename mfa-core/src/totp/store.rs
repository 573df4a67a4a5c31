//! Safe access to a state file.
//!
//! Before reading: regular file (never through a symlink, never a FIFO),
//! expected owner, no permission bits beyond the allowed ones, size limit.
//! Updates: exclusive `flock` on the file, re-check that the path still names
//! the locked file (a concurrent writer may have replaced it), modify, write a
//! temp file in the same directory, fsync, rename over, fsync the directory.
//! Two processes verifying the same code therefore serialise, and the second
//! sees the first one's update. The file operations are `crate::fsutil`'s;
//! this module adds the google_authenticator format and its policy.

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::state::{StateError, TotpState, MAX_FILE_SIZE};
use crate::fsutil::{self, CheckPolicy, FsError, Owner, ReplaceOptions};

/// How long to wait for another login holding the lock before giving up.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// Checks applied before a state file is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorePolicy {
    /// Required owner uid; `None` skips the check (`no_strict_owner`).
    pub owner: Option<u32>,
    /// Permission bits the file may have (`allowed_perm`, default 0600).
    pub allowed_perm: u32,
    /// If the updated state cannot be written, go on anyway (`allow_readonly`).
    pub allow_readonly: bool,
}

impl StorePolicy {
    pub fn owned_by(uid: u32) -> Self {
        Self {
            owner: Some(uid),
            allowed_perm: 0o600,
            allow_readonly: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}: no such file")]
    Missing(PathBuf),
    #[error("{0}: is a symbolic link; refusing to follow it")]
    Symlink(PathBuf),
    #[error("{0}: not a regular file")]
    NotRegular(PathBuf),
    #[error("{path}: owned by uid {found}, expected uid {expected}")]
    WrongOwner {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    #[error("{path}: permissions {mode:04o} allow more than {allowed:04o}")]
    BadMode {
        path: PathBuf,
        mode: u32,
        allowed: u32,
    },
    #[error("{path}: refusing corrupt state file: {source}")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: StateError,
    },
    #[error("{0}: timed out waiting for the lock held by another login")]
    LockTimeout(PathBuf),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: could not save the updated state: {source}")]
    WriteFailed {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

impl From<FsError> for StoreError {
    fn from(e: FsError) -> Self {
        match e {
            FsError::NotFound(p) => StoreError::Missing(p),
            FsError::Symlink(p) => StoreError::Symlink(p),
            FsError::NotRegular(p) => StoreError::NotRegular(p),
            FsError::WrongOwner {
                path,
                found,
                expected,
            } => StoreError::WrongOwner {
                path,
                found,
                expected: match expected {
                    Owner::Uid(u) | Owner::RootOr(u) => u,
                    Owner::Any => found,
                },
            },
            FsError::BadMode {
                path,
                mode,
                allowed,
            } => StoreError::BadMode {
                path,
                mode,
                allowed,
            },
            FsError::TooLarge { path, .. } => StoreError::Corrupt {
                path,
                source: StateError::TooLarge,
            },
            FsError::LockTimeout(p) => StoreError::LockTimeout(p),
            FsError::Io { path, source, .. } => StoreError::Io { path, source },
        }
    }
}

/// The fsutil checks a state file must pass: never through a symlink (the
/// user owns the directory and could plant one), no FIFO.
fn check_policy(policy: &StorePolicy) -> CheckPolicy {
    CheckPolicy {
        owner: policy.owner.map_or(Owner::Any, Owner::Uid),
        allowed_mode: policy.allowed_perm,
        max_size: MAX_FILE_SIZE as u64,
        follow_symlinks: false,
    }
}

fn read_parse(path: &Path, file: &mut File) -> Result<TotpState, StoreError> {
    let bytes = fsutil::read_limited(file, path, MAX_FILE_SIZE as u64)?;
    TotpState::parse(&bytes).map_err(|source| StoreError::Corrupt {
        path: path.to_owned(),
        source,
    })
}

/// Whether a state file exists at `path` (without following a final
/// symlink). Only "no such file" is `false`: any other failure (EACCES on a
/// directory, EIO, ESTALE) is an error, never "not enrolled", or `nullok`
/// would let a user whose file cannot be looked up skip the factor (as
/// pam_google_authenticator, nullok applies to ENOENT only).
pub fn exists(path: &Path) -> Result<bool, StoreError> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io(path)(e)),
    }
}

/// Read and check a state file without modifying it.
pub fn read(path: &Path, policy: &StorePolicy) -> Result<TotpState, StoreError> {
    let (mut file, _) = fsutil::open_checked(path, &check_policy(policy))?;
    read_parse(path, &mut file)
}

/// A state file opened, checked and read once, kept open across the
/// prompt so that an update locks this same file instead of opening it
/// again (sshd pays every open and identity switch on every login).
pub struct Opened {
    file: File,
    meta: std::fs::Metadata,
    pub state: TotpState,
}

/// Open, check and read the state file at `path`. `Ok(None)` only for "no
/// such file" (not enrolled); anything else unexpected (a symlink, EACCES,
/// EIO) is an error, never "not enrolled".
pub fn open(path: &Path, policy: &StorePolicy) -> Result<Option<Opened>, StoreError> {
    let (mut file, meta) = match fsutil::open_checked(path, &check_policy(policy)) {
        Ok(opened) => opened,
        Err(FsError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let state = read_parse(path, &mut file)?;
    Ok(Some(Opened { file, meta, state }))
}

/// [`update`] on a file [`open`]ed before: lock it and, if the path still
/// names it, re-read it through the same descriptor (another login may
/// have changed it since); if it was replaced meanwhile, start over on the
/// file the path names now.
pub fn update_opened<R>(
    opened: Opened,
    path: &Path,
    policy: &StorePolicy,
    f: impl FnOnce(&mut TotpState) -> (R, bool),
) -> Result<R, StoreError> {
    let deadline = Instant::now() + LOCK_WAIT;
    let Opened { file, meta, .. } = opened;
    let mut locked = fsutil::lock_exclusive(file, path, deadline)?;
    if !fsutil::still_names(path, &meta, check_policy(policy).follow_symlinks)? {
        drop(locked);
        return update(path, policy, f);
    }
    locked.seek(SeekFrom::Start(0)).map_err(io(path))?;
    apply_locked(path, policy, &mut locked, &meta, f)
}

/// Lock the file, apply `f` to its state, and if `f` reports a change,
/// replace the file atomically before the lock is released.
///
/// If the change cannot be saved the call fails (the caller must deny: an
/// unsaved change may be a used code that would stay valid), unless the
/// policy has `allow_readonly`, in which case the result stands and the
/// failure is logged.
pub fn update<R>(
    path: &Path,
    policy: &StorePolicy,
    f: impl FnOnce(&mut TotpState) -> (R, bool),
) -> Result<R, StoreError> {
    let deadline = Instant::now() + LOCK_WAIT;
    let (mut file, meta) = fsutil::lock_checked(path, &check_policy(policy), deadline)?;
    apply_locked(path, policy, &mut file, &meta, f)
}

/// Read the locked file, apply `f`, save a change. The caller releases the
/// lock only after this returns, after the rename: a waiting login then
/// finds the new file (fsutil re-checks the path after locking).
fn apply_locked<R>(
    path: &Path,
    policy: &StorePolicy,
    file: &mut File,
    meta: &std::fs::Metadata,
    f: impl FnOnce(&mut TotpState) -> (R, bool),
) -> Result<R, StoreError> {
    let mut state = read_parse(path, file)?;
    let before = state.clone();
    let (result, changed) = f(&mut state);
    if changed {
        // A change a crash may undo for good (a HOTP counter, a used scratch
        // code) is made durable before the login goes on; one whose undoing
        // expires on its own (the used-step list, the rate limit's attempt
        // times, the skew) is not worth a second sync: see
        // `TotpState::changes_only_time_bounded`.
        let sync_dir = !before.changes_only_time_bounded(&state);
        if let Err(e) = write_atomic(path, &state, meta, sync_dir) {
            if !policy.allow_readonly {
                return Err(e);
            }
            tracing::warn!(error = %e, "allow_readonly: state not saved");
        }
    }
    Ok(result)
}

fn write_failed(path: &Path, e: FsError) -> StoreError {
    let source = match e {
        FsError::Io { source, .. } => source,
        other => std::io::Error::other(other.to_string()),
    };
    StoreError::WriteFailed {
        path: path.to_owned(),
        source,
    }
}

/// Write `state` next to `path` and rename it over, keeping the original's
/// mode and ownership; `sync_dir` as in [`ReplaceOptions`].
fn write_atomic(
    path: &Path,
    state: &TotpState,
    original: &std::fs::Metadata,
    sync_dir: bool,
) -> Result<(), StoreError> {
    let opts = ReplaceOptions {
        mode: original.mode() & 0o7777,
        owner: Some((original.uid(), original.gid())),
        clobber: true,
        sync_dir,
    };
    fsutil::replace(path, state.serialize().as_bytes(), &opts).map_err(|e| write_failed(path, e))
}

/// Create a new state file at `path` with `mode` (0400 or 0600), refusing to
/// overwrite an existing one unless `overwrite`.
pub fn create(
    path: &Path,
    state: &TotpState,
    mode: u32,
    overwrite: bool,
) -> Result<(), StoreError> {
    let exists_error = || StoreError::WriteFailed {
        path: path.to_owned(),
        source: std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "file exists (use --force to replace it)",
        ),
    };
    if !overwrite && exists(path)? {
        return Err(exists_error());
    }
    let opts = ReplaceOptions {
        mode,
        owner: None,
        clobber: overwrite,
        sync_dir: true,
    };
    fsutil::replace(path, state.serialize().as_bytes(), &opts).map_err(|e| match e {
        // Made between the check above and the final link.
        FsError::Io { ref source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists => {
            exists_error()
        }
        e => write_failed(path, e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    const FILE: &str = "JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\n12345678\n";

    fn me() -> StorePolicy {
        StorePolicy::owned_by(nix::unistd::geteuid().as_raw())
    }

    fn write(dir: &Path, content: &[u8], mode: u32) -> PathBuf {
        let p = dir.join("ga");
        std::fs::write(&p, content).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn a_login_syncs_the_directory_only_for_a_change_a_crash_would_undo_for_good() {
        use super::super::verify::{verify, Accepted, Rejected, VerifyOptions};
        use crate::otp::{format_code, hotp};
        const NOW: u64 = 1_700_000_000;
        let rewriting =
            "JBSWY3DPEHPK3PXP\n\" RATE_LIMIT 3 30\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n12345678\n";
        let hotp_file = "JBSWY3DPEHPK3PXP\n\" HOTP_COUNTER 7\n";
        // (what, file, the counter whose code is typed or a literal code,
        // the verdict, whether the directory is synced)
        type Case = (
            &'static str,
            &'static str,
            Result<u64, &'static str>,
            Result<Accepted, Rejected>,
            bool,
        );
        let cases: [Case; 4] = [
            (
                "a TOTP code",
                rewriting,
                Ok(NOW / 30),
                Ok(Accepted::Code),
                false,
            ),
            (
                "a wrong code, counted by RATE_LIMIT",
                rewriting,
                Err("000000"),
                Err(Rejected::WrongCode),
                false,
            ),
            (
                "a scratch code",
                rewriting,
                Err("12345678"),
                Ok(Accepted::ScratchCode),
                true,
            ),
            ("a HOTP code", hotp_file, Ok(7), Ok(Accepted::Code), true),
        ];
        let syncs = || fsutil::DIR_SYNCS.with(std::cell::Cell::get);
        for (what, file, typed, verdict, synced) in cases {
            let d = tempfile::tempdir().unwrap();
            let p = write(d.path(), file.as_bytes(), 0o400);
            let before = TotpState::parse(file.as_bytes()).unwrap();
            let typed = typed.map_or_else(str::to_owned, |counter| {
                let code = hotp(before.algorithm, before.secret(), counter, before.digits);
                format_code(code, before.digits).to_string()
            });
            let start = syncs();
            let result = update(&p, &me(), |s| {
                let v = verify(s, &typed, NOW, VerifyOptions::default());
                (v.result, v.changed)
            })
            .unwrap();
            assert_eq!(result, verdict, "{what}");
            assert_ne!(
                read(&p, &me()).unwrap(),
                before,
                "{what}: the change is saved"
            );
            assert_eq!(syncs() - start, usize::from(synced), "{what}");
        }
    }

    #[test]
    fn reads_a_good_file() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), FILE.as_bytes(), 0o400);
        assert_eq!(read(&p, &me()).unwrap().scratch_codes.len(), 1);
    }

    #[test]
    fn refuses_unsafe_files() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), FILE.as_bytes(), 0o620);
        assert!(matches!(
            read(&p, &me()),
            Err(StoreError::BadMode { mode: 0o620, .. })
        ));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o602)).unwrap();
        assert!(matches!(read(&p, &me()), Err(StoreError::BadMode { .. })));
        let loose = StorePolicy {
            allowed_perm: 0o640,
            ..me()
        };
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(read(&p, &loose).is_ok());

        let link = d.path().join("link");
        symlink(&p, &link).unwrap();
        assert!(matches!(read(&link, &me()), Err(StoreError::Symlink(_))));

        assert!(matches!(
            read(d.path(), &me()),
            Err(StoreError::NotRegular(_))
        ));
        assert!(matches!(
            read(&d.path().join("nope"), &me()),
            Err(StoreError::Missing(_))
        ));

        let other = StorePolicy::owned_by(nix::unistd::geteuid().as_raw() + 4242);
        assert!(matches!(
            read(&p, &other),
            Err(StoreError::WrongOwner { .. })
        ));
        let lax = StorePolicy {
            owner: None,
            allowed_perm: 0o640,
            allow_readonly: false,
        };
        assert!(read(&p, &lax).is_ok());
    }

    #[test]
    fn open_reads_once_and_only_a_missing_file_is_none() {
        let d = tempfile::tempdir().unwrap();
        assert!(open(&d.path().join("nope"), &me()).unwrap().is_none());
        let p = write(d.path(), FILE.as_bytes(), 0o600);
        let link = d.path().join("link");
        symlink(&p, &link).unwrap();
        assert!(matches!(open(&link, &me()), Err(StoreError::Symlink(_))));
        let o = open(&p, &me()).unwrap().unwrap();
        assert_eq!(o.state.scratch_codes.len(), 1);
    }

    #[test]
    fn update_opened_rereads_under_the_lock_and_follows_a_replaced_file() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), FILE.as_bytes(), 0o600);
        // Another login changes the file in place after ours opened it: the
        // update sees the change (re-read through the same descriptor).
        let o = open(&p, &me()).unwrap().unwrap();
        update(&p, &me(), |s| {
            s.scratch_codes.push(String::from("87654321").into());
            ((), true)
        })
        .unwrap();
        let n = update_opened(o, &p, &me(), |s| (s.scratch_codes.len(), false)).unwrap();
        assert_eq!(n, 2, "saw the other login's change");
        // The file is replaced by rename after ours opened it: the update
        // applies to the file the path names now, not the orphaned inode.
        let o = open(&p, &me()).unwrap().unwrap();
        let fresh = "JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\n11111111\n22222222\n33333333\n";
        let tmp = d.path().join("new");
        std::fs::write(&tmp, fresh).unwrap();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::rename(&tmp, &p).unwrap();
        let n = update_opened(o, &p, &me(), |s| {
            s.scratch_codes.pop();
            (s.scratch_codes.len(), true)
        })
        .unwrap();
        assert_eq!(n, 2);
        assert_eq!(
            read(&p, &me()).unwrap().scratch_codes.len(),
            2,
            "saved to the new file"
        );
    }

    #[test]
    fn only_a_missing_file_does_not_exist() {
        let d = tempfile::tempdir().unwrap();
        assert!(!exists(&d.path().join("nope")).unwrap());
        let p = write(d.path(), FILE.as_bytes(), 0o600);
        assert!(exists(&p).unwrap());
        // A path through a regular file: ENOTDIR, not "missing".
        assert!(matches!(
            exists(&p.join("below")),
            Err(StoreError::Io { .. })
        ));
    }

    #[test]
    fn refuses_fifo_without_blocking() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("fifo");
        nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        assert!(matches!(read(&p, &me()), Err(StoreError::NotRegular(_))));
    }

    #[test]
    fn corrupt_file_is_refused_and_left_untouched() {
        let d = tempfile::tempdir().unwrap();
        let garbage = b"JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\n\x00\x01garbage\n";
        let p = write(d.path(), garbage, 0o600);
        let r = update(&p, &me(), |_| ((), true));
        assert!(matches!(r, Err(StoreError::Corrupt { .. })), "{r:?}");
        assert_eq!(std::fs::read(&p).unwrap(), garbage);
        let truncated = &FILE.as_bytes()[..20];
        let p = write(d.path(), truncated, 0o600);
        assert!(matches!(
            read(&p, &me()),
            Err(StoreError::Corrupt {
                source: StateError::Truncated,
                ..
            })
        ));
        let huge = vec![b'1'; MAX_FILE_SIZE + 10];
        let p = write(d.path(), &huge, 0o600);
        assert!(matches!(
            read(&p, &me()),
            Err(StoreError::Corrupt {
                source: StateError::TooLarge,
                ..
            })
        ));
    }

    #[test]
    fn update_replaces_atomically_and_keeps_mode() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), FILE.as_bytes(), 0o400);
        let before = std::fs::metadata(&p).unwrap().ino();
        let n = update(&p, &me(), |s| {
            s.scratch_codes.clear();
            (7, true)
        })
        .unwrap();
        assert_eq!(n, 7);
        let meta = std::fs::metadata(&p).unwrap();
        assert_ne!(meta.ino(), before, "replaced by rename");
        assert_eq!(meta.mode() & 0o7777, 0o400);
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\n"
        );
        // No temp files left behind.
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
        // Unchanged state: the file is not rewritten.
        let ino = meta.ino();
        update(&p, &me(), |_| ((), false)).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().ino(), ino);
    }

    #[test]
    fn create_refuses_to_clobber() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("new");
        let s = TotpState::parse(FILE.as_bytes()).unwrap();
        create(&p, &s, 0o400, false).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o777, 0o400);
        assert!(matches!(
            create(&p, &s, 0o400, false),
            Err(StoreError::WriteFailed { .. })
        ));
        create(&p, &s, 0o600, true).unwrap();
    }
}
