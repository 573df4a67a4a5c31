//! The file operations that security depends on, in one place.
//!
//! - [`open_checked`]: open without following a final symlink (unless the
//!   caller allows it) and without blocking on a FIFO, then check the *open
//!   descriptor* (regular file, owner, mode, size). Checking the path after
//!   opening it would check whatever the path names by then, not what was
//!   opened.
//! - [`replace`]: write a temp file in the same directory, fsync, give it
//!   its owner and mode, rename it over the target, fsync the directory. A
//!   reader sees the old file or the new one, never a part of either, even
//!   after a crash.
//! - [`lock_checked`] and [`lock_file`]: an exclusive `flock` that waits at
//!   most until a deadline, then re-checks that the path still names the
//!   inode it locked (a writer that held the lock may have renamed a new
//!   file over it).
//! - [`parse_mode`] and [`deserialize_mode`]: the one octal-mode parser.

mod lock;
mod mode;
mod open;
mod replace;

use std::path::{Path, PathBuf};

pub use lock::{lock_checked, lock_exclusive, lock_file, still_names};
pub use mode::{deserialize_mode, parse_mode, ModeError};
pub use open::{open_checked, read_limited, CheckPolicy, Owner};
#[cfg(test)]
pub(crate) use replace::DIR_SYNCS;
pub use replace::{fsync_dir, replace, ReplaceOptions};

/// Why a file operation was refused or failed. Messages name the path and
/// never the file's content.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("{0}: no such file")]
    NotFound(PathBuf),
    #[error("{0}: is a symbolic link; refusing to follow it")]
    Symlink(PathBuf),
    #[error("{0}: not a regular file")]
    NotRegular(PathBuf),
    #[error("{path}: owned by uid {found}, expected {expected}")]
    WrongOwner {
        path: PathBuf,
        found: u32,
        expected: Owner,
    },
    #[error("{path}: permissions {mode:04o} allow more than {allowed:04o}")]
    BadMode {
        path: PathBuf,
        mode: u32,
        allowed: u32,
    },
    #[error("{path}: larger than {limit} bytes")]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("{0}: timed out waiting for the lock held by another process")]
    LockTimeout(PathBuf),
    #[error("{path}: {what}: {source}")]
    Io {
        path: PathBuf,
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl FsError {
    pub(crate) fn io(path: &Path, what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            what: what.into(),
            source,
        }
    }
}

/// The directory holding `path` (`.` for a bare file name): where its temp
/// file must be made so that the rename stays within one filesystem.
pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}
