//! Reading configuration files safely: owner and mode before content.

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::ConfigError;

const MAX_CONFIG_SIZE: u64 = 1024 * 1024;

/// Read a root-owned (or, when not running as root, caller-owned) config
/// file that no one else may write.
pub fn read_config_file(path: &Path) -> Result<String, ConfigError> {
    let file = std::fs::File::open(path)
        .map_err(|e| ConfigError::file(path, format!("cannot open: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| ConfigError::file(path, format!("cannot stat: {e}")))?;
    if !meta.is_file() {
        return Err(ConfigError::file(path, "not a regular file"));
    }
    let euid = nix::unistd::geteuid().as_raw();
    if meta.uid() != 0 && meta.uid() != euid {
        return Err(ConfigError::file(
            path,
            format!("owned by uid {}; must be owned by root", meta.uid()),
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(ConfigError::file(
            path,
            format!(
                "mode {:04o} lets others change it; run chmod go-w",
                meta.mode() & 0o7777
            ),
        ));
    }
    if meta.len() > MAX_CONFIG_SIZE {
        return Err(ConfigError::file(path, "larger than 1 MiB"));
    }
    let mut text = String::new();
    file.take(MAX_CONFIG_SIZE + 1)
        .read_to_string(&mut text)
        .map_err(|e| ConfigError::file(path, format!("cannot read: {e}")))?;
    Ok(text)
}

/// A file holding provider secrets must not be readable by others.
pub fn check_secret_file_permissions(path: &Path) -> Result<(), ConfigError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| ConfigError::file(path, format!("cannot stat: {e}")))?;
    if meta.mode() & 0o007 != 0 {
        return Err(ConfigError::file(
            path,
            format!(
                "holds provider secrets but mode {:04o} lets any user read it; run chmod o-rwx",
                meta.mode() & 0o7777
            ),
        ));
    }
    Ok(())
}
