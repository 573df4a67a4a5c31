//! Reading configuration files safely: the owner and mode of the file that
//! was opened (never of whatever the path names a moment later) are checked
//! before its content is used.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use zeroize::Zeroizing;

use super::ConfigError;
use crate::fsutil::{self, CheckPolicy, FsError, Owner};

const MAX_CONFIG_SIZE: u64 = 1024 * 1024;
/// Others may not change a config file.
const OTHERS_WRITE: u32 = 0o022;
/// Nor read one that holds provider secrets.
const OTHERS_ACCESS: u32 = 0o007;

/// Read a root-owned (or, when not running as root, caller-owned) config
/// file that no one else may write.
pub fn read_config_file(path: &Path) -> Result<String, ConfigError> {
    read_with_mode(path).map(|(text, _)| text)
}

/// [`read_config_file`], plus the mode the file had, for
/// [`check_secret_mode`] once the content shows whether it holds secrets.
pub(crate) fn read_with_mode(path: &Path) -> Result<(String, u32), ConfigError> {
    let (bytes, mode) = read_checked(path, OTHERS_WRITE)?;
    // Handed on as a plain String, as it always was: the parsed config
    // keeps its secrets in wiped types; the text is dropped after parsing.
    let mut text = utf8(path, bytes)?;
    Ok((std::mem::take(&mut *text), mode))
}

/// Read a file that holds provider secrets (a tru.ID `tru.json`): as
/// [`read_config_file`], and others may not read it either. Refused before
/// its content is read.
pub fn read_secret_file(path: &Path) -> Result<Zeroizing<String>, ConfigError> {
    let (bytes, _) = read_checked(path, OTHERS_WRITE | OTHERS_ACCESS)?;
    utf8(path, bytes)
}

/// A config file that turned out to hold provider secrets must not be
/// readable by others; `mode` is the one [`read_with_mode`] returned.
pub(crate) fn check_secret_mode(path: &Path, mode: u32) -> Result<(), ConfigError> {
    if mode & OTHERS_ACCESS != 0 {
        return Err(secret_mode_error(path, mode));
    }
    Ok(())
}

fn secret_mode_error(path: &Path, mode: u32) -> ConfigError {
    ConfigError::file(
        path,
        format!(
            "holds provider secrets but mode {mode:04o} lets any user read it; run chmod o-rwx"
        ),
    )
}

/// Open through fsutil (a symlink is followed: /etc is root's, and some
/// systems link their configuration into place; the checks apply to the
/// file opened) and read at most 1 MiB.
fn read_checked(path: &Path, forbidden: u32) -> Result<(Zeroizing<Vec<u8>>, u32), ConfigError> {
    let policy = CheckPolicy {
        owner: Owner::RootOr(nix::unistd::geteuid().as_raw()),
        allowed_mode: 0o7777 & !forbidden,
        max_size: MAX_CONFIG_SIZE,
        follow_symlinks: true,
    };
    let (mut file, meta) = fsutil::open_checked(path, &policy).map_err(|e| refusal(path, e))?;
    let bytes =
        fsutil::read_limited(&mut file, path, MAX_CONFIG_SIZE).map_err(|e| refusal(path, e))?;
    Ok((bytes, meta.mode() & 0o7777))
}

fn utf8(path: &Path, mut bytes: Zeroizing<Vec<u8>>) -> Result<Zeroizing<String>, ConfigError> {
    match String::from_utf8(std::mem::take(&mut *bytes)) {
        Ok(text) => Ok(Zeroizing::new(text)),
        Err(e) => {
            drop(Zeroizing::new(e.into_bytes()));
            Err(ConfigError::file(path, "cannot read: not valid UTF-8"))
        }
    }
}

/// The messages config errors have always had, telling the admin the fix.
fn refusal(path: &Path, e: FsError) -> ConfigError {
    let message = match e {
        FsError::NotFound(_) => format!(
            "cannot open: {}",
            std::io::Error::from_raw_os_error(nix::libc::ENOENT)
        ),
        FsError::NotRegular(_) => "not a regular file".to_owned(),
        FsError::WrongOwner { found, .. } => {
            format!("owned by uid {found}; must be owned by root")
        }
        FsError::BadMode { mode, .. } if mode & OTHERS_WRITE != 0 => {
            format!("mode {mode:04o} lets others change it; run chmod go-w")
        }
        FsError::BadMode { mode, .. } => return secret_mode_error(path, mode),
        FsError::TooLarge { .. } => "larger than 1 MiB".to_owned(),
        FsError::Io { what, source, .. } => format!("{what}: {source}"),
        e @ (FsError::Symlink(_) | FsError::LockTimeout(_)) => e.to_string(),
    };
    ConfigError::file(path, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn file(dir: &Path, content: &str, mode: u32) -> std::path::PathBuf {
        let p = dir.join("c.toml");
        std::fs::write(&p, content).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn fifo_directory_and_oversize_are_refused_without_blocking() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("fifo.toml");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let e = read_config_file(&fifo).unwrap_err();
        assert_eq!(e.message, "not a regular file");
        assert_eq!(
            read_config_file(d.path()).unwrap_err().message,
            "not a regular file"
        );
        let big = file(d.path(), &"#".repeat(1024 * 1024 + 1), 0o600);
        assert_eq!(
            read_config_file(&big).unwrap_err().message,
            "larger than 1 MiB"
        );
        let bad = d.path().join("bad.toml");
        std::fs::write(&bad, b"\xff\xfe").unwrap();
        assert!(read_config_file(&bad)
            .unwrap_err()
            .message
            .contains("UTF-8"));
    }

    #[test]
    fn a_symlink_is_followed_and_its_target_checked() {
        let d = tempfile::tempdir().unwrap();
        let p = file(d.path(), "x = 1\n", 0o644);
        let link = d.path().join("link.toml");
        std::os::unix::fs::symlink(&p, &link).unwrap();
        assert_eq!(read_config_file(&link).unwrap(), "x = 1\n");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(read_config_file(&link)
            .unwrap_err()
            .message
            .contains("others change it"));
    }

    #[test]
    fn secret_files_must_be_closed_to_others() {
        let d = tempfile::tempdir().unwrap();
        let p = file(d.path(), "s", 0o640);
        assert_eq!(read_secret_file(&p).unwrap().as_str(), "s");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o604)).unwrap();
        assert!(read_secret_file(&p).unwrap_err().message.contains("o-rwx"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o646)).unwrap();
        assert!(read_secret_file(&p)
            .unwrap_err()
            .message
            .contains("others change it"));
        // The mode checked is the one of the file that was read.
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (_, mode) = read_with_mode(&p).unwrap();
        assert_eq!(mode, 0o644);
        assert!(check_secret_mode(&p, mode).is_err());
        assert!(check_secret_mode(&p, 0o640).is_ok());
    }

    #[test]
    fn the_owner_must_be_root_or_the_caller() {
        let d = tempfile::tempdir().unwrap();
        let p = file(d.path(), "", 0o644);
        if nix::unistd::geteuid().is_root() {
            std::os::unix::fs::chown(&p, Some(4242), None).unwrap();
            let e = read_config_file(&p).unwrap_err();
            assert_eq!(e.message, "owned by uid 4242; must be owned by root");
        } else {
            assert!(read_config_file(&p).is_ok());
        }
    }
}
