//! Opening a file and checking what was opened.

use std::fs::{File, Metadata, OpenOptions};
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use zeroize::Zeroizing;

use super::FsError;

/// Who may own a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// Anyone (`no_strict_owner`).
    Any,
    /// Exactly this uid.
    Uid(u32),
    /// root, or this uid (configuration read by a non-root command).
    RootOr(u32),
}

impl Owner {
    pub fn allows(self, uid: u32) -> bool {
        match self {
            Owner::Any => true,
            Owner::Uid(u) => uid == u,
            Owner::RootOr(u) => uid == 0 || uid == u,
        }
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Owner::Any => f.write_str("any uid"),
            Owner::Uid(u) => write!(f, "uid {u}"),
            Owner::RootOr(u) => write!(f, "uid 0 or {u}"),
        }
    }
}

/// What [`open_checked`] requires of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckPolicy {
    pub owner: Owner,
    /// Permission bits (of 0o7777) the file may have; any other bit refuses it.
    pub allowed_mode: u32,
    /// Largest size accepted, in bytes.
    pub max_size: u64,
    /// Follow a symlink at the end of the path. Off for files in a place
    /// the user controls (a state file in a home directory): a planted link
    /// would make root read or lock some other file. On for root-managed
    /// configuration, where links are an admin's tool (NixOS links /etc into
    /// its store); the checks then apply to the file the link names.
    pub follow_symlinks: bool,
}

/// Open `path` read-only and check the open descriptor: regular file,
/// owner, mode within `allowed_mode`, size. Returns the file and the
/// metadata that was checked (which belong to each other, whatever happens
/// to the path afterwards).
///
/// `O_NONBLOCK` makes opening a FIFO return at once (it would otherwise wait
/// for a writer and hang the login); it is cleared once the descriptor is
/// known to be a regular file. `O_NOCTTY` keeps a terminal device from
/// becoming the process's controlling terminal before it is refused.
pub fn open_checked(path: &Path, policy: &CheckPolicy) -> Result<(File, Metadata), FsError> {
    let mut flags = nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY | nix::libc::O_CLOEXEC;
    if !policy.follow_symlinks {
        flags |= nix::libc::O_NOFOLLOW;
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(nix::libc::ENOENT) => FsError::NotFound(path.to_owned()),
            Some(nix::libc::ELOOP) if !policy.follow_symlinks => FsError::Symlink(path.to_owned()),
            _ => FsError::io(path, "cannot open", e),
        })?;
    let meta = file
        .metadata()
        .map_err(|e| FsError::io(path, "cannot stat", e))?;
    check(path, &meta, policy)?;
    let fd = file.as_raw_fd();
    let set = fcntl(fd, FcntlArg::F_GETFL)
        .map(|bits| OFlag::from_bits_truncate(bits) - OFlag::O_NONBLOCK)
        .and_then(|cleared| fcntl(fd, FcntlArg::F_SETFL(cleared)));
    set.map_err(|e| FsError::io(path, "cannot clear O_NONBLOCK", e.into()))?;
    Ok((file, meta))
}

/// The checks of [`open_checked`] on metadata of an open descriptor.
pub(super) fn check(path: &Path, meta: &Metadata, policy: &CheckPolicy) -> Result<(), FsError> {
    if !meta.file_type().is_file() {
        return Err(FsError::NotRegular(path.to_owned()));
    }
    if !policy.owner.allows(meta.uid()) {
        return Err(FsError::WrongOwner {
            path: path.to_owned(),
            found: meta.uid(),
            expected: policy.owner,
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode & !policy.allowed_mode != 0 {
        return Err(FsError::BadMode {
            path: path.to_owned(),
            mode,
            allowed: policy.allowed_mode,
        });
    }
    if meta.len() > policy.max_size {
        return Err(FsError::TooLarge {
            path: path.to_owned(),
            limit: policy.max_size,
        });
    }
    Ok(())
}

/// The buffer [`read_limited`] starts with: more than any state file and
/// most configs. Growing a buffer moves its bytes and frees the old block
/// unwiped, a copy of the secrets `Zeroizing` would never reach; an empty
/// `Vec` also made std read a small file in four `read()` calls (32, 32,
/// 64 bytes, then the end) where one and the end do.
const READ_CAPACITY: u64 = 8 * 1024;

/// Read the rest of `file`, at most `max` bytes: a file that grew past its
/// checked size since the `fstat` is refused rather than read unbounded.
/// The buffer is zeroed when dropped (state files hold secrets).
pub fn read_limited(file: &mut File, path: &Path, max: u64) -> Result<Zeroizing<Vec<u8>>, FsError> {
    let capacity = max.saturating_add(1).min(READ_CAPACITY);
    let mut bytes = Zeroizing::new(Vec::with_capacity(usize::try_from(capacity).unwrap_or(0)));
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| FsError::io(path, "cannot read", e))?;
    if bytes.len() as u64 > max {
        return Err(FsError::TooLarge {
            path: path.to_owned(),
            limit: max,
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn me() -> u32 {
        nix::unistd::geteuid().as_raw()
    }

    fn strict() -> CheckPolicy {
        CheckPolicy {
            owner: Owner::Uid(me()),
            allowed_mode: 0o600,
            max_size: 16,
            follow_symlinks: false,
        }
    }

    fn strict_up_to(max_size: u64) -> CheckPolicy {
        CheckPolicy {
            max_size,
            ..strict()
        }
    }

    fn file(dir: &Path, content: &[u8], mode: u32) -> std::path::PathBuf {
        let p = dir.join("f");
        std::fs::write(&p, content).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn opens_a_good_file_blocking_and_returns_its_metadata() {
        let d = tempfile::tempdir().unwrap();
        let p = file(d.path(), b"hello", 0o400);
        let (mut f, meta) = open_checked(&p, &strict()).unwrap();
        assert_eq!(meta.ino(), std::fs::metadata(&p).unwrap().ino());
        let flags = fcntl(f.as_raw_fd(), FcntlArg::F_GETFL).unwrap();
        assert_eq!(flags & nix::libc::O_NONBLOCK, 0, "O_NONBLOCK cleared");
        assert_ne!(
            fcntl(f.as_raw_fd(), FcntlArg::F_GETFD).unwrap() & nix::libc::FD_CLOEXEC,
            0
        );
        assert_eq!(&*read_limited(&mut f, &p, 16).unwrap(), b"hello");
    }

    #[test]
    fn refuses_a_symlink_unless_allowed() {
        let d = tempfile::tempdir().unwrap();
        let p = file(d.path(), b"x", 0o600);
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&p, &link).unwrap();
        assert!(matches!(
            open_checked(&link, &strict()),
            Err(FsError::Symlink(_))
        ));
        let follow = CheckPolicy {
            follow_symlinks: true,
            ..strict()
        };
        let (_, meta) = open_checked(&link, &follow).unwrap();
        assert!(meta.is_file(), "the checks apply to the target");
        // A followed link still gets the target checked.
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            open_checked(&link, &follow),
            Err(FsError::BadMode { .. })
        ));
    }

    #[test]
    fn refuses_a_fifo_without_blocking_and_a_directory() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        // No writer exists: a blocking open would hang this test.
        assert!(matches!(
            open_checked(&fifo, &strict()),
            Err(FsError::NotRegular(_))
        ));
        assert!(matches!(
            open_checked(d.path(), &strict()),
            Err(FsError::NotRegular(_))
        ));
        assert!(matches!(
            open_checked(&d.path().join("none"), &strict()),
            Err(FsError::NotFound(_))
        ));
    }

    #[test]
    fn refuses_wrong_owner_wrong_mode_and_oversize() {
        let d = tempfile::tempdir().unwrap();
        let p = file(d.path(), b"x", 0o620);
        let e = open_checked(&p, &strict()).unwrap_err();
        assert!(
            matches!(
                e,
                FsError::BadMode {
                    mode: 0o620,
                    allowed: 0o600,
                    ..
                }
            ),
            "{e}"
        );
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o4600)).unwrap();
        assert!(matches!(
            open_checked(&p, &strict()),
            Err(FsError::BadMode { .. })
        ));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();

        let other = CheckPolicy {
            owner: Owner::Uid(me() + 4242),
            ..strict()
        };
        let e = open_checked(&p, &other).unwrap_err();
        assert!(
            e.to_string().contains(&format!("owned by uid {}", me())),
            "{e}"
        );
        let root_or = CheckPolicy {
            owner: Owner::RootOr(me() + 4242),
            ..strict()
        };
        assert_eq!(open_checked(&p, &root_or).is_ok(), me() == 0);
        let any = CheckPolicy {
            owner: Owner::Any,
            ..other
        };
        assert!(open_checked(&p, &any).is_ok());

        let big = file(d.path(), &[b'1'; 17], 0o600);
        assert!(matches!(
            open_checked(&big, &strict()),
            Err(FsError::TooLarge { limit: 16, .. })
        ));
    }

    #[test]
    fn read_limited_reads_a_small_file_into_its_first_buffer() {
        // No reallocation: no unwiped copy of the bytes left in freed memory.
        let d = tempfile::tempdir().unwrap();
        let small = file(d.path(), &[b's'; 200], 0o600);
        let (mut f, _) = open_checked(&small, &strict_up_to(1 << 20)).unwrap();
        let bytes = read_limited(&mut f, &small, 1 << 20).unwrap();
        assert_eq!(&*bytes, &[b's'; 200]);
        assert_eq!(bytes.capacity() as u64, READ_CAPACITY);
        // A file larger than that buffer is still read whole.
        let big = vec![b'b'; READ_CAPACITY as usize * 3 + 7];
        let p = file(d.path(), &big, 0o600);
        let (mut f, _) = open_checked(&p, &strict_up_to(1 << 20)).unwrap();
        assert_eq!(*read_limited(&mut f, &p, 1 << 20).unwrap(), big);
    }

    #[test]
    fn read_limited_refuses_a_file_that_grew() {
        let d = tempfile::tempdir().unwrap();
        let p = file(d.path(), b"1234", 0o600);
        let (mut f, _) = open_checked(&p, &strict()).unwrap();
        std::fs::write(&p, [b'x'; 40]).unwrap();
        assert!(matches!(
            read_limited(&mut f, &p, 16),
            Err(FsError::TooLarge { .. })
        ));
    }
}
