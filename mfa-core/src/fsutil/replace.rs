//! Replacing a file atomically.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::{parent_dir, FsError};

/// How [`replace`] writes the new file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplaceOptions {
    /// Permission bits of the new file.
    pub mode: u32,
    /// Owner and group of the new file; `None` keeps the creator's.
    pub owner: Option<(u32, u32)>,
    /// Replace an existing file; when false an existing file is an error
    /// (`AlreadyExists`), checked atomically by the final link.
    pub clobber: bool,
    /// fsync the directory after the rename, so that a crash cannot bring
    /// the old file back. The new file's contents are synced either way:
    /// without this, a crash in the seconds before the file system commits
    /// the rename leaves the old file whole (never a torn one). On ext4 this
    /// second sync is ~0.1 ms of a login that rewrites its state.
    pub sync_dir: bool,
}

/// Write `contents` to a temp file next to `path`, fsync it, set its owner
/// and mode, rename it over `path` and fsync the directory. On any failure
/// the temp file is removed and `path` is untouched.
pub fn replace(path: &Path, contents: &[u8], opts: &ReplaceOptions) -> Result<(), FsError> {
    let fail = |what: &str| {
        let what = what.to_owned();
        move |e| FsError::io(path, what, e)
    };
    let dir = parent_dir(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Created O_EXCL with mode 0600: no one else can open it before it is
    // complete, whatever mode it ends up with.
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}.mfa-"))
        .tempfile_in(dir)
        .map_err(fail("cannot create a temp file"))?;
    tmp.write_all(contents).map_err(fail("cannot write"))?;
    let file = tmp.as_file();
    if let Some((uid, gid)) = opts.owner {
        // Compare with what the temp file really got, not with the
        // effective ids: under a switched filesystem identity (fsid) the
        // file is already created as the user, and a needless chown would
        // fail without CAP_CHOWN.
        let made = file.metadata().map_err(fail("cannot stat the temp file"))?;
        if made.uid() != uid || made.gid() != gid {
            std::os::unix::fs::fchown(file, Some(uid), Some(gid)).map_err(fail(&format!(
                "cannot give the new file the owner {uid}:{gid}"
            )))?;
        }
    }
    // After the chown, which clears set-id bits.
    file.set_permissions(std::fs::Permissions::from_mode(opts.mode & 0o7777))
        .map_err(fail("cannot set the mode"))?;
    file.sync_all().map_err(fail("cannot sync"))?;
    if opts.clobber {
        tmp.persist(path)
            .map_err(|e| fail("cannot rename")(e.error))?;
    } else {
        tmp.persist_noclobber(path)
            .map_err(|e| fail("cannot create")(e.error))?;
    }
    if !opts.sync_dir {
        return Ok(());
    }
    #[cfg(test)]
    DIR_SYNCS.with(|n| n.set(n.get() + 1));
    fsync_dir(dir).map_err(fail("cannot sync the directory"))
}

#[cfg(test)]
thread_local! {
    /// Directory syncs [`replace`] made on this thread: what tests can see
    /// of a durability no test can crash the machine to check.
    pub(crate) static DIR_SYNCS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Make a rename in `dir` durable.
pub fn fsync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_DIRECTORY | nix::libc::O_CLOEXEC)
        .open(dir)
        .and_then(|d: File| d.sync_all())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(mode: u32) -> ReplaceOptions {
        ReplaceOptions {
            mode,
            owner: None,
            clobber: true,
            sync_dir: true,
        }
    }

    fn entries(dir: &Path) -> usize {
        std::fs::read_dir(dir).unwrap().count()
    }

    #[test]
    fn replaces_by_rename_with_the_mode_asked_for() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        std::fs::write(&p, b"old").unwrap();
        let before = std::fs::metadata(&p).unwrap().ino();
        // An open reader keeps the old content: the file was not rewritten in place.
        let old = File::open(&p).unwrap();
        replace(&p, b"new", &opts(0o640)).unwrap();
        let meta = std::fs::metadata(&p).unwrap();
        assert_ne!(meta.ino(), before);
        assert_eq!(meta.mode() & 0o7777, 0o640);
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        assert_eq!(std::io::read_to_string(old).unwrap(), "old");
        assert_eq!(entries(d.path()), 1, "no temp file left");
    }

    #[test]
    fn the_directory_is_synced_unless_asked_not_to() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        std::fs::write(&p, b"old").unwrap();
        let syncs = || DIR_SYNCS.with(std::cell::Cell::get);
        let start = syncs();
        replace(&p, b"one", &opts(0o600)).unwrap();
        assert_eq!(syncs(), start + 1);
        let quick = ReplaceOptions {
            sync_dir: false,
            ..opts(0o400)
        };
        replace(&p, b"two", &quick).unwrap();
        assert_eq!(syncs(), start + 1, "no second sync");
        // Replaced all the same: renamed into place, whole, with its mode.
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o7777, 0o400);
        assert_eq!(entries(d.path()), 1, "no temp file left");
    }

    #[test]
    fn no_clobber_refuses_an_existing_file_and_leaves_it() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        let o = ReplaceOptions {
            clobber: false,
            ..opts(0o400)
        };
        replace(&p, b"one", &o).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o7777, 0o400);
        let e = replace(&p, b"two", &o).unwrap_err();
        assert!(
            matches!(&e, FsError::Io { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists),
            "{e}"
        );
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
        assert_eq!(entries(d.path()), 1, "no temp file left");
    }

    #[test]
    fn sets_the_owner_asked_for() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        let root = nix::unistd::geteuid().is_root();
        assert!(
            root || std::env::var("CI").as_deref() != Ok("true"),
            "CI runs this test as root"
        );
        let me = (
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        );
        let want = if root { (4242, 4343) } else { me };
        let o = ReplaceOptions {
            owner: Some(want),
            ..opts(0o600)
        };
        replace(&p, b"x", &o).unwrap();
        let m = std::fs::metadata(&p).unwrap();
        assert_eq!((m.uid(), m.gid()), want);
        if !root {
            // Someone else's ids cannot be given without CAP_CHOWN: refused,
            // and the target is left as it was.
            let e = replace(
                &p,
                b"y",
                &ReplaceOptions {
                    owner: Some((0, 0)),
                    ..o
                },
            )
            .unwrap_err();
            assert!(
                e.to_string()
                    .contains("cannot give the new file the owner 0:0"),
                "{e}"
            );
            assert_eq!(std::fs::read(&p).unwrap(), b"x");
        }
    }

    #[test]
    fn a_missing_directory_is_an_error_and_nothing_is_written() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("no").join("f");
        let e = replace(&p, b"x", &opts(0o600)).unwrap_err();
        assert!(e.to_string().contains("cannot create a temp file"), "{e}");
        // A directory at the target: the rename fails, the temp file goes.
        let dir = d.path().join("dir");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("inside"), b"").unwrap();
        assert!(replace(&dir, b"x", &opts(0o600)).is_err());
        assert_eq!(entries(d.path()), 1);
    }

    #[test]
    fn fsync_dir_takes_directories_only() {
        let d = tempfile::tempdir().unwrap();
        fsync_dir(d.path()).unwrap();
        let f = d.path().join("f");
        std::fs::write(&f, b"").unwrap();
        assert_eq!(
            fsync_dir(&f).unwrap_err().raw_os_error(),
            Some(nix::libc::ENOTDIR)
        );
        assert!(fsync_dir(&d.path().join("none")).is_err());
    }

    #[test]
    fn replaces_a_symlink_itself_never_its_target() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("target");
        std::fs::write(&target, b"keep").unwrap();
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        replace(&link, b"new", &opts(0o600)).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
        assert!(std::fs::symlink_metadata(&link).unwrap().is_file());
    }
}
