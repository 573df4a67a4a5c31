//! Touching a user's files with the user's filesystem identity.
//!
//! sshd runs PAM modules as root. A state file in the user's home must be
//! read and replaced as the user would (pam_google_authenticator does the
//! same with setfsuid/setfsgid): root may be squashed on NFS homes, a
//! symlink planted by the user must not let root read or clobber another
//! file, and a replacement file must be created owned by the user.
//!
//! `setfsuid(2)` is per thread. The guard is therefore `!Send`: it cannot be
//! held across an `.await` of a future that might move between threads, and
//! callers keep it around synchronous file access only.

use std::marker::PhantomData;

use nix::unistd::{geteuid, setfsgid, setfsuid, Gid, Uid};

/// The filesystem identity could not be assumed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot switch the filesystem identity to uid {uid} gid {gid}")]
pub struct FsIdError {
    pub uid: u32,
    pub gid: u32,
}

/// While alive, this thread accesses files as `uid`/`gid`; dropping it
/// restores the previous identity, on every path (return, `?`, unwind).
#[derive(Debug)]
pub struct FsIdentityGuard {
    /// Previous identity, `None` when nothing was switched.
    previous: Option<(Uid, Gid)>,
    _not_send: PhantomData<*const ()>,
}

/// Passing `-1` to setfsuid/setfsgid changes nothing and returns the current id.
fn current_fsuid() -> Uid {
    setfsuid(Uid::from_raw(u32::MAX))
}

fn current_fsgid() -> Gid {
    setfsgid(Gid::from_raw(u32::MAX))
}

/// Assume `uid`/`gid` for file access. A no-op unless the process runs as
/// root with a different target (an unprivileged process can only ever
/// touch files as itself).
pub fn assume(uid: u32, gid: u32) -> Result<FsIdentityGuard, FsIdError> {
    if !geteuid().is_root() || uid == 0 {
        return Ok(FsIdentityGuard {
            previous: None,
            _not_send: PhantomData,
        });
    }
    // Group first: once the fsuid is not 0 the thread has lost the
    // filesystem capabilities, but CAP_SETGID is not one of them; the order
    // is kept symmetric with the restore anyway.
    let old_gid = setfsgid(Gid::from_raw(gid));
    let old_uid = setfsuid(Uid::from_raw(uid));
    let guard = FsIdentityGuard {
        previous: Some((old_uid, old_gid)),
        _not_send: PhantomData,
    };
    // setfsuid reports no errors: read the ids back to know it worked. On
    // failure the guard (dropped here) restores whatever did change.
    if current_fsuid().as_raw() != uid || current_fsgid().as_raw() != gid {
        return Err(FsIdError { uid, gid });
    }
    Ok(guard)
}

impl Drop for FsIdentityGuard {
    fn drop(&mut self) {
        if let Some((uid, gid)) = self.previous.take() {
            setfsuid(uid);
            setfsgid(gid);
        }
    }
}

/// Run `f` with the filesystem identity `uid`/`gid`, restored afterwards.
pub fn with_identity<R>(uid: u32, gid: u32, f: impl FnOnce() -> R) -> Result<R, FsIdError> {
    let _guard = assume(uid, gid)?;
    Ok(f())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    /// fsuid/fsgid of this thread from /proc (4th field of Uid:/Gid:).
    fn proc_fs_ids() -> (u32, u32) {
        let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
        let field = |key: &str| -> u32 {
            let line = status.lines().find(|l| l.starts_with(key)).unwrap();
            line.split_whitespace().nth(4).unwrap().parse().unwrap()
        };
        (field("Uid:"), field("Gid:"))
    }

    #[test]
    fn switches_and_restores_on_every_path() {
        if !geteuid().is_root() {
            assert_ne!(
                std::env::var("CI").as_deref(),
                Ok("true"),
                "CI runs as root"
            );
            eprintln!("SKIPPED: needs root");
            return;
        }
        let before = proc_fs_ids();
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o777),
        )
        .unwrap();
        let made = dir.path().join("made");
        let owner = with_identity(65534, 65534, || {
            assert_eq!(proc_fs_ids(), (65534, 65534));
            std::fs::write(&made, b"x").unwrap();
            std::fs::metadata(&made).unwrap().uid()
        })
        .unwrap();
        assert_eq!(owner, 65534, "file created with the user's identity");
        assert_eq!(proc_fs_ids(), before, "restored after success");

        // A private root file is not readable under the user's identity.
        let secret = dir.path().join("root-only");
        std::fs::write(&secret, b"s").unwrap();
        std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let read = with_identity(65534, 65534, || std::fs::read(&secret)).unwrap();
        assert!(read.is_err(), "root's file must not be readable as nobody");
        assert_eq!(proc_fs_ids(), before, "restored after an error");

        // Restored when unwinding through the guard, too.
        let unwound = std::panic::catch_unwind(|| {
            let _g = assume(65534, 65534).unwrap();
            panic!("boom");
        });
        assert!(unwound.is_err());
        assert_eq!(proc_fs_ids(), before, "restored after a panic");
    }

    #[test]
    fn root_target_is_a_no_op() {
        let before = proc_fs_ids();
        let g = assume(0, 0).unwrap();
        assert!(g.previous.is_none());
        assert_eq!(proc_fs_ids(), before);
    }
}
