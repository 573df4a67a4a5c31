//! Backups of every file `mfa install` changes, and the byte-identical
//! restore of `mfa uninstall`.
//!
//! `/var/lib/mfa/backup/<UTC time>/manifest.json` lists each file: whether
//! it existed, its mode and owner, a SHA-256 of the content before and
//! after; `files/N` holds the old content. A restore refuses to overwrite a
//! file whose content is no longer what install wrote (someone edited it
//! since) unless forced.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{read_optional, AdminError, Root};
use crate::fsutil::{self, ReplaceOptions};

pub const BACKUP_DIR: &str = "/var/lib/mfa/backup";

/// One file a command changes: its logical path, the content before
/// (`None`: did not exist) and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub path: PathBuf,
    pub before: Option<Vec<u8>>,
    pub after: Vec<u8>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub path: PathBuf,
    pub existed: bool,
    /// Relative to the backup directory.
    pub backup: Option<String>,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub sha256_before: Option<String>,
    pub sha256_after: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    pub created: String,
    pub command: String,
    pub files: Vec<Entry>,
    /// When `mfa uninstall` restored it; a restored backup is not used again.
    pub restored: Option<String>,
}

fn failed(what: impl std::fmt::Display, e: impl std::fmt::Display) -> AdminError {
    AdminError::Failed(format!("{what}: {e}"))
}

pub fn sha256(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(bytes))
}

/// Save the current content of every file in `changes` and the manifest.
/// Returns the backup's name.
pub fn create(root: &Root, command: &str, changes: &[Change]) -> Result<String, AdminError> {
    let base = root.path(Path::new(BACKUP_DIR));
    std::fs::create_dir_all(&base).map_err(|e| failed(BACKUP_DIR, e))?;
    // The backups hold PAM and sshd configs: root's alone, or no backup.
    std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| failed(BACKUP_DIR, e))?;
    let stamp = utc_stamp(now_secs());
    // Two installs in one second get distinct names; any error but an
    // existing name stops the backup.
    let mut made = None;
    for i in 0..100 {
        let name = if i == 0 {
            stamp.clone()
        } else {
            format!("{stamp}-{i}")
        };
        let dir = base.join(&name);
        match std::fs::create_dir(&dir) {
            Ok(()) => {
                made = Some((name, dir));
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(failed(dir.display(), e)),
        }
    }
    let (name, dir) =
        made.ok_or_else(|| AdminError::Failed(format!("{BACKUP_DIR}: cannot create a backup")))?;
    std::fs::create_dir(dir.join("files")).map_err(|e| failed(dir.display(), e))?;
    let mut files = Vec::new();
    for (i, c) in changes.iter().enumerate() {
        let meta = std::fs::symlink_metadata(root.path(&c.path)).ok();
        let backup = match &c.before {
            Some(bytes) => {
                let rel = format!("files/{i}");
                write_new(&dir.join(&rel), bytes, 0o600)?;
                Some(rel)
            }
            None => None,
        };
        files.push(Entry {
            path: c.path.clone(),
            existed: c.before.is_some(),
            backup,
            mode: meta.as_ref().map(|m| m.mode() & 0o7777),
            uid: meta.as_ref().map(MetadataExt::uid),
            gid: meta.as_ref().map(MetadataExt::gid),
            sha256_before: c.before.as_deref().map(sha256),
            sha256_after: sha256(&c.after),
        });
    }
    let manifest = Manifest {
        version: 1,
        created: stamp,
        command: command.to_owned(),
        files,
        restored: None,
    };
    save_manifest(&dir, &manifest)?;
    Ok(name)
}

fn save_manifest(dir: &Path, m: &Manifest) -> Result<(), AdminError> {
    let text = serde_json::to_vec_pretty(m).map_err(|e| failed("manifest", e))?;
    write_atomic(&dir.join("manifest.json"), &text, 0o600, None)
}

/// The manifest of backup `name`.
pub fn load(root: &Root, name: &str) -> Result<Manifest, AdminError> {
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return Err(AdminError::Usage(format!("not a backup name: {name}")));
    }
    let path = root
        .path(Path::new(BACKUP_DIR))
        .join(name)
        .join("manifest.json");
    let text = std::fs::read(&path).map_err(|e| failed(path.display(), e))?;
    serde_json::from_slice(&text).map_err(|e| failed(path.display(), e))
}

/// The newest backup that has not been restored yet.
pub fn newest_unrestored(root: &Root) -> Result<Option<String>, AdminError> {
    let base = root.path(Path::new(BACKUP_DIR));
    let mut names: Vec<String> = match std::fs::read_dir(&base) {
        Ok(entries) => entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(failed(BACKUP_DIR, e)),
    };
    // Names are UTC stamps (with -N for the same second): they sort by time.
    names.sort_by_key(|n| sort_key(n));
    for name in names.into_iter().rev() {
        if load(root, &name).is_ok_and(|m| m.restored.is_none()) {
            return Ok(Some(name));
        }
    }
    Ok(None)
}

fn sort_key(name: &str) -> (String, u32) {
    match name.split_once('-') {
        Some((stamp, n)) => (stamp.to_owned(), n.parse().unwrap_or(0)),
        None => (name.to_owned(), 0),
    }
}

/// Files of backup `name` that changed since install (by logical path).
pub fn changed_since(root: &Root, m: &Manifest) -> Result<Vec<PathBuf>, AdminError> {
    let mut changed = Vec::new();
    for e in &m.files {
        let now = read_optional(root, &e.path)?;
        if now.as_deref().map(sha256).as_deref() != Some(e.sha256_after.as_str()) {
            changed.push(e.path.clone());
        }
    }
    Ok(changed)
}

/// Put every file of backup `name` back as it was; marks it restored.
pub fn restore(root: &Root, name: &str, force: bool) -> Result<Manifest, AdminError> {
    let mut m = load(root, name)?;
    if m.restored.is_some() && !force {
        return Err(AdminError::Failed(format!(
            "backup {name} was already restored on {}",
            m.restored.as_deref().unwrap_or("?")
        )));
    }
    let changed = changed_since(root, &m)?;
    if !changed.is_empty() && !force {
        let list: Vec<String> = changed.iter().map(|p| p.display().to_string()).collect();
        return Err(AdminError::Failed(format!(
            "changed since `{}` wrote them: {}; restoring would lose those edits \
             (use --force to restore anyway)",
            m.command,
            list.join(", ")
        )));
    }
    let dir = root.path(Path::new(BACKUP_DIR)).join(name);
    restore_files(root, &dir, &m.files)?;
    m.restored = Some(utc_stamp(now_secs()));
    save_manifest(&dir, &m)?;
    Ok(m)
}

fn restore_files(root: &Root, dir: &Path, files: &[Entry]) -> Result<(), AdminError> {
    for e in files {
        let target = root.path(&e.path);
        match &e.backup {
            Some(rel) if e.existed => {
                let bytes = std::fs::read(dir.join(rel)).map_err(|err| failed(rel, err))?;
                let owner = e.uid.zip(e.gid);
                write_atomic(&target, &bytes, e.mode.unwrap_or(0o644), owner)?;
            }
            _ => match std::fs::remove_file(&target) {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                    return Err(failed(e.path.display(), err))
                }
                _ => {}
            },
        }
    }
    Ok(())
}

/// Write every change; on a failure, put back what was already written.
pub fn apply(root: &Root, name: &str, changes: &[Change]) -> Result<(), AdminError> {
    for (i, c) in changes.iter().enumerate() {
        let target = root.path(&c.path);
        let meta = std::fs::metadata(&target).ok();
        let mode = meta.as_ref().map_or(0o644, |m| m.mode() & 0o7777);
        let owner = meta.as_ref().map(|m| (m.uid(), m.gid()));
        if let Err(e) = write_atomic(&target, &c.after, mode, owner) {
            let dir = root.path(Path::new(BACKUP_DIR)).join(name);
            let m = load(root, name)?;
            let undo = restore_files(root, &dir, &m.files[..i.min(m.files.len())]);
            return Err(match undo {
                Ok(()) => e,
                Err(u) => AdminError::Failed(format!("{e}; and undoing it failed: {u}")),
            });
        }
    }
    Ok(())
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), AdminError> {
    let opts = ReplaceOptions {
        mode,
        owner: None,
        clobber: false,
        sync_dir: true,
    };
    fsutil::replace(path, bytes, &opts).map_err(|e| AdminError::Failed(e.to_string()))
}

/// The file is the old one or the new one, never half (fsutil::replace:
/// temp file, owner and mode, fsync, rename, fsync of the directory).
pub fn write_atomic(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
) -> Result<(), AdminError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| failed(dir.display(), e))?;
    }
    let opts = ReplaceOptions {
        mode,
        owner,
        clobber: true,
        sync_dir: true,
    };
    fsutil::replace(path, bytes, &opts).map_err(|e| AdminError::Failed(e.to_string()))
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `YYYYMMDDTHHMMSSZ` for a Unix time.
pub fn utc_stamp(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
#[path = "backup_tests.rs"]
mod tests;
