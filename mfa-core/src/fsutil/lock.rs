//! Exclusive locks that give up at a deadline.

use std::fs::{File, Metadata, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use super::open::{check, open_checked, CheckPolicy, Owner};
use super::FsError;

/// Short enough that a waiting login goes on soon after the holder is done
/// (an update holds the lock for about a millisecond), long enough not to
/// spin.
const POLL: Duration = Duration::from_millis(5);

/// Take an exclusive `flock` on `file`, waiting until `deadline` at most.
/// A blocking `flock` could not be given a deadline (nothing may block a
/// login forever), hence the non-blocking attempt in a loop.
pub fn lock_exclusive(file: File, path: &Path, deadline: Instant) -> Result<Flock<File>, FsError> {
    let mut file = file;
    loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(locked) => return Ok(locked),
            Err((f, Errno::EWOULDBLOCK | Errno::EINTR)) => {
                let now = Instant::now();
                if now >= deadline {
                    return Err(FsError::LockTimeout(path.to_owned()));
                }
                file = f;
                std::thread::sleep(POLL.min(deadline - now));
            }
            Err((_, e)) => return Err(FsError::io(path, "cannot lock", e.into())),
        }
    }
}

/// Whether `path` still names the file `meta` describes.
pub fn still_names(path: &Path, meta: &Metadata, follow: bool) -> Result<bool, FsError> {
    let now = if follow {
        std::fs::metadata(path)
    } else {
        std::fs::symlink_metadata(path)
    };
    match now {
        Ok(now) => Ok(now.dev() == meta.dev() && now.ino() == meta.ino()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(FsError::io(path, "cannot stat", e)),
    }
}

/// Open and check `path` ([`open_checked`]), lock it exclusively, and make
/// sure the path still names the locked file: a writer that held the lock
/// may have renamed a new file over it meanwhile, and a lock on the old
/// inode would protect nothing. Then start again on the new file, until
/// `deadline`.
pub fn lock_checked(
    path: &Path,
    policy: &CheckPolicy,
    deadline: Instant,
) -> Result<(Flock<File>, Metadata), FsError> {
    loop {
        let (file, meta) = open_checked(path, policy)?;
        let locked = lock_exclusive(file, path, deadline)?;
        if still_names(path, &meta, policy.follow_symlinks)? {
            return Ok((locked, meta));
        }
        if Instant::now() >= deadline {
            return Err(FsError::LockTimeout(path.to_owned()));
        }
    }
}

/// Lock `path`, a lock file that exists only to be locked (for data that is
/// replaced by rename and so cannot carry the lock itself), creating it
/// with mode 0600 if needed. Never follows a symlink; re-checks like
/// [`lock_checked`], so a lock file deleted and recreated meanwhile is not
/// a second, separate lock.
pub fn lock_file(path: &Path, deadline: Instant) -> Result<Flock<File>, FsError> {
    let policy = CheckPolicy {
        owner: Owner::Any,
        allowed_mode: 0o7777,
        max_size: u64::MAX,
        follow_symlinks: false,
    };
    loop {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK | nix::libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| match e.raw_os_error() {
                Some(nix::libc::ELOOP) => FsError::Symlink(path.to_owned()),
                _ => FsError::io(path, "cannot open", e),
            })?;
        let meta = file
            .metadata()
            .map_err(|e| FsError::io(path, "cannot stat", e))?;
        check(path, &meta, &policy)?;
        let locked = lock_exclusive(file, path, deadline)?;
        if still_names(path, &meta, false)? {
            return Ok(locked);
        }
        if Instant::now() >= deadline {
            return Err(FsError::LockTimeout(path.to_owned()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn policy() -> CheckPolicy {
        CheckPolicy {
            owner: Owner::Uid(nix::unistd::geteuid().as_raw()),
            allowed_mode: 0o600,
            max_size: 1024,
            follow_symlinks: false,
        }
    }

    fn soon(ms: u64) -> Instant {
        Instant::now() + Duration::from_millis(ms)
    }

    fn file(dir: &Path, name: &str, content: &[u8]) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, content).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        p
    }

    #[test]
    fn a_held_lock_times_out_at_the_deadline_and_is_free_after() {
        let d = tempfile::tempdir().unwrap();
        let p = file(d.path(), "f", b"x");
        let (held, _) = lock_checked(&p, &policy(), soon(1000)).unwrap();
        let start = Instant::now();
        let e = lock_checked(&p, &policy(), soon(100)).unwrap_err();
        let waited = start.elapsed();
        assert!(matches!(e, FsError::LockTimeout(_)), "{e}");
        assert!(waited >= Duration::from_millis(100), "{waited:?}");
        assert!(waited < Duration::from_secs(2), "{waited:?}");
        // A deadline already passed still gets one attempt.
        drop(held);
        assert!(lock_checked(&p, &policy(), Instant::now()).is_ok());
    }

    #[test]
    fn a_waiter_gets_the_lock_when_the_holder_lets_go() {
        let d = tempfile::tempdir().unwrap();
        let p = file(d.path(), "f", b"x");
        let (held, _) = lock_checked(&p, &policy(), soon(1000)).unwrap();
        let waiter = {
            let p = p.clone();
            std::thread::spawn(move || lock_checked(&p, &policy(), soon(5000)).map(|_| ()))
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(!waiter.is_finished(), "waits while the lock is held");
        drop(held);
        waiter.join().unwrap().unwrap();
    }

    #[test]
    fn a_file_renamed_over_the_target_while_waiting_is_locked_instead() {
        let d = tempfile::tempdir().unwrap();
        let p = file(d.path(), "f", b"old");
        let (held, old_meta) = lock_checked(&p, &policy(), soon(1000)).unwrap();
        let waiter = {
            let p = p.clone();
            std::thread::spawn(move || {
                let (mut f, meta) = lock_checked(&p, &policy(), soon(5000)).unwrap();
                (std::io::read_to_string(&mut *f).unwrap(), meta.ino())
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        // The holder replaces the file, as an update does, then lets go:
        // the waiter, which opened the old inode, must end up on the new one.
        let new = file(d.path(), "new", b"new");
        let new_ino = std::fs::metadata(&new).unwrap().ino();
        std::fs::rename(&new, &p).unwrap();
        drop(held);
        let (content, ino) = waiter.join().unwrap();
        assert_eq!((content.as_str(), ino), ("new", new_ino));
        assert_ne!(ino, old_meta.ino());
    }

    #[test]
    fn a_target_removed_while_waiting_is_not_found() {
        let d = tempfile::tempdir().unwrap();
        let p = file(d.path(), "f", b"x");
        let (held, _) = lock_checked(&p, &policy(), soon(1000)).unwrap();
        let waiter = {
            let p = p.clone();
            std::thread::spawn(move || lock_checked(&p, &policy(), soon(5000)).map(|_| ()))
        };
        std::thread::sleep(Duration::from_millis(50));
        std::fs::remove_file(&p).unwrap();
        drop(held);
        assert!(matches!(waiter.join().unwrap(), Err(FsError::NotFound(_))));
    }

    #[test]
    fn lock_checked_refuses_what_open_checked_refuses() {
        let d = tempfile::tempdir().unwrap();
        let p = file(d.path(), "f", b"x");
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&p, &link).unwrap();
        assert!(matches!(
            lock_checked(&link, &policy(), soon(100)),
            Err(FsError::Symlink(_))
        ));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            lock_checked(&p, &policy(), soon(100)),
            Err(FsError::BadMode { .. })
        ));
    }

    #[test]
    fn lock_file_creates_serialises_and_refuses_links_and_fifos() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(".lock");
        let held = lock_file(&p, soon(1000)).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o777, 0o600);
        assert!(matches!(
            lock_file(&p, soon(50)),
            Err(FsError::LockTimeout(_))
        ));
        drop(held);

        // A waiter on a lock file that is deleted (and a new one made and
        // locked by someone else) before the holder lets go must not take
        // the lock on the deleted file while the other holds the new one.
        let first = lock_file(&p, soon(1000)).unwrap();
        let waiter = {
            let p = p.clone();
            std::thread::spawn(move || lock_file(&p, soon(5000)).map(|_| ()))
        };
        std::thread::sleep(Duration::from_millis(50));
        std::fs::remove_file(&p).unwrap();
        let second = lock_file(&p, soon(1000)).unwrap();
        drop(first);
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            !waiter.is_finished(),
            "waits for the lock file the path names"
        );
        drop(second);
        waiter.join().unwrap().unwrap();

        let target = d.path().join("target");
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(matches!(
            lock_file(&link, soon(50)),
            Err(FsError::Symlink(_))
        ));
        assert!(
            !target.exists(),
            "a dangling link is not followed to create"
        );
        let fifo = d.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        assert!(matches!(
            lock_file(&fifo, soon(50)),
            Err(FsError::NotRegular(_))
        ));
    }
}
