//! sshd_config: the block `mfa install` writes, and the real `sshd -t` /
//! `sshd -T` run against the configuration as it would be after a change.
//!
//! sshd takes the FIRST value of a keyword, and Debian's sshd_config
//! includes `sshd_config.d/*.conf` at its top: a drop-in there wins over
//! the main file. A `Match` block in an included file ends with that file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::pamedit::FirstFactor;
use super::{AdminError, Root};

pub const MAIN: &str = "/etc/ssh/sshd_config";
pub const DROPIN_DIR: &str = "/etc/ssh/sshd_config.d";
/// Early in the directory's order, so its values win over later drop-ins
/// (e.g. cloud images' `50-cloud-init.conf`).
pub const DROPIN: &str = "/etc/ssh/sshd_config.d/10-mfa.conf";

const BEGIN: &str = "# BEGIN mfa (written by mfa install)";
const END: &str = "# END mfa";

/// Keyword (lower case) and arguments of a config line, unless blank or a
/// comment. `Keyword=value` is accepted as sshd does.
pub fn keyword(line: &str) -> Option<(String, Vec<&str>)> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') {
        return None;
    }
    let (k, rest) = match t.find(|c: char| c.is_whitespace() || c == '=') {
        Some(i) => (
            &t[..i],
            t[i..].trim_start_matches(|c: char| c.is_whitespace() || c == '='),
        ),
        None => (t, ""),
    };
    Some((k.to_ascii_lowercase(), rest.split_whitespace().collect()))
}

/// Whether `main` includes the drop-in directory (outside any Match).
pub fn includes_dropins(main: &str) -> bool {
    for line in main.lines() {
        match keyword(line) {
            Some((k, _)) if k == "match" => return false,
            Some((k, args))
                if k == "include"
                    && args.iter().any(|a| {
                        let p = absolute(a);
                        p.starts_with(&format!("{DROPIN_DIR}/")) && p.ends_with(".conf")
                    }) =>
            {
                return true;
            }
            _ => {}
        }
    }
    false
}

/// An Include argument as an absolute path (relative ones are in /etc/ssh).
fn absolute(arg: &str) -> String {
    if arg.starts_with('/') {
        arg.to_owned()
    } else {
        format!("/etc/ssh/{arg}")
    }
}

/// The settings of `mfa install pam`.
pub fn pam_block(first: FirstFactor) -> String {
    let methods = match first {
        FirstFactor::Password => "keyboard-interactive",
        FirstFactor::Publickey => "publickey,keyboard-interactive",
    };
    format!(
        "# The second factor through PAM (pam_mfa.so in /etc/pam.d/sshd).\n\
         # Every login must pass keyboard-interactive, which runs the PAM stack.\n\
         UsePAM yes\n\
         KbdInteractiveAuthentication yes\n\
         AuthenticationMethods {methods}\n"
    )
}

/// The block of `mfa install login`: mfa-login as ForceCommand for
/// `group` (everyone when `None`), with forwarding closed.
pub fn login_block(group: Option<&str>, program: &Path) -> String {
    let matcher = group.map_or_else(|| "all".to_owned(), |g| format!("Group {g}"));
    format!(
        "# The second factor as a ForceCommand (mfa-login(8)).\n\
         Match {matcher}\n\
         \x20   ForceCommand {}\n\
         \x20   AcceptEnv MFA_PASSCODE\n\
         \x20   # `ssh -N -L/-R/-D` opens no session, so no ForceCommand runs:\n\
         \x20   # a forwarding-only connection would need the first factor only.\n\
         \x20   DisableForwarding yes\n\
         \x20   PermitTunnel no\n",
        program.display()
    )
}

/// The file content of a drop-in holding `block`.
pub fn dropin(block: &str) -> String {
    format!("# Written by `mfa install`; `mfa uninstall` removes it.\n{block}")
}

/// `main` with `block` inserted where the include would be: at the top for
/// global settings (the first value wins), at the end for a Match block.
pub fn add_to_main(main: &str, block: &str, at_end: bool) -> String {
    let wrapped = format!("{BEGIN}\n{block}{END}\n");
    if at_end {
        let mut s = main.to_owned();
        if !s.is_empty() && !s.ends_with('\n') {
            s.push('\n');
        }
        s + &wrapped
    } else {
        wrapped + main
    }
}

/// A copy of the root's sshd configuration in a temp dir, with changes
/// applied and paths pointed back at the root, for `sshd -t`/`-T`.
#[derive(Debug)]
pub struct Staged {
    _dir: tempfile::TempDir,
    pub main: PathBuf,
}

/// Stage the configuration under `root` with `changes` (logical path and
/// new content) applied.
pub fn stage(root: &Root, changes: &[(PathBuf, Vec<u8>)]) -> Result<Staged, AdminError> {
    let failed = |what: &str, e: std::io::Error| AdminError::Failed(format!("{what}: {e}"));
    let dir = tempfile::Builder::new()
        .prefix("mfa-sshd-check-")
        .tempdir()
        .map_err(|e| failed("cannot create a temp dir", e))?;
    let mut files: BTreeMap<PathBuf, Vec<u8>> = BTreeMap::new();
    let main_text = super::read_optional(root, Path::new(MAIN))?.ok_or_else(|| {
        AdminError::Usage(format!("{MAIN} not found under {}", root.dir().display()))
    })?;
    files.insert(PathBuf::from(MAIN), main_text);
    if let Ok(entries) = std::fs::read_dir(root.path(Path::new(DROPIN_DIR))) {
        for entry in entries.flatten() {
            let logical = Path::new(DROPIN_DIR).join(entry.file_name());
            if entry.file_type().is_ok_and(|t| t.is_file()) {
                let bytes = std::fs::read(entry.path())
                    .map_err(|e| failed(&logical.display().to_string(), e))?;
                files.insert(logical, bytes);
            }
        }
    }
    for (path, bytes) in changes {
        if path.starts_with("/etc/ssh") {
            files.insert(path.clone(), bytes.clone());
        }
    }
    let base = dir.path().to_owned();
    for (logical, bytes) in &files {
        let text = String::from_utf8_lossy(bytes);
        let rewritten = rewrite_paths(root, &base, &text);
        let target = base.join(logical.strip_prefix("/").unwrap_or(logical));
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| failed("staging", e))?;
        }
        std::fs::write(&target, rewritten).map_err(|e| failed("staging", e))?;
    }
    Ok(Staged {
        main: base.join("etc/ssh/sshd_config"),
        _dir: dir,
    })
}

/// Point `Include` at the staged copies (or the root), and host keys at the
/// root's, so sshd reads what the target system would.
fn rewrite_paths(root: &Root, staged: &Path, text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let indent = &line[..line.len() - line.trim_start().len()];
        match keyword(line) {
            Some((k, args)) if k == "include" => {
                let mapped: Vec<String> = args
                    .iter()
                    .map(|a| {
                        let abs = absolute(a);
                        if abs.starts_with("/etc/ssh/") {
                            staged.join(&abs[1..]).display().to_string()
                        } else {
                            root.path(Path::new(&abs)).display().to_string()
                        }
                    })
                    .collect();
                out.push_str(&format!("{indent}Include {}\n", mapped.join(" ")));
            }
            Some((k, args))
                if (k == "hostkey" || k == "hostcertificate")
                    && args.len() == 1
                    && args[0].starts_with('/')
                    && root.path(Path::new(args[0])).exists() =>
            {
                out.push_str(&format!(
                    "{indent}{k} {}\n",
                    root.path(Path::new(args[0])).display()
                ));
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// The sshd binary: the given one, else the usual places.
pub fn find_sshd(explicit: Option<&Path>) -> Result<PathBuf, AdminError> {
    if let Some(p) = explicit {
        return Ok(p.to_owned());
    }
    ["/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| {
            AdminError::Failed(
                "sshd not found (install openssh-server, or name it with --sshd): \
                 nothing is written without `sshd -t`"
                    .into(),
            )
        })
}

/// `sshd -t`: Ok, or sshd's own words.
pub fn test(sshd: &Path, staged: &Staged) -> Result<(), String> {
    // sshd checks its privilege separation directory even in test mode;
    // systemd creates it at boot (RuntimeDirectory) where sshd runs.
    let _ = std::fs::create_dir_all("/run/sshd");
    let out = Command::new(sshd)
        .arg("-t")
        .arg("-f")
        .arg(&staged.main)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", sshd.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(one_line(&out.stderr))
    }
}

/// sshd's message on one line (it ends lines with CR LF).
fn one_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The effective settings (`sshd -T`) for a connection of `user`.
#[derive(Debug, Clone, Default)]
pub struct Effective(BTreeMap<String, Vec<String>>);

impl Effective {
    pub fn parse(text: &str) -> Self {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for line in text.lines() {
            if let Some((k, v)) = line.split_once(' ') {
                map.entry(k.to_ascii_lowercase())
                    .or_default()
                    .push(v.trim().to_owned());
            }
        }
        Self(map)
    }

    /// The (first) value of a keyword, lower-case key.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.first()).map(String::as_str)
    }

    pub fn is(&self, key: &str, value: &str) -> bool {
        self.get(key).is_some_and(|v| v.eq_ignore_ascii_case(value))
    }
}

/// `sshd -T -C user=USER,...` against the staged files.
pub fn effective(sshd: &Path, staged: &Staged, user: &str) -> Result<Effective, String> {
    let _ = std::fs::create_dir_all("/run/sshd");
    let spec = format!("user={user},host=localhost,addr=127.0.0.1,laddr=127.0.0.1,lport=22");
    let out = Command::new(sshd)
        .arg("-T")
        .arg("-f")
        .arg(&staged.main)
        .arg("-C")
        .arg(spec)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", sshd.display()))?;
    if !out.status.success() {
        return Err(one_line(&out.stderr));
    }
    Ok(Effective::parse(&String::from_utf8_lossy(&out.stdout)))
}

/// Whether every method list of `AuthenticationMethods` includes
/// keyboard-interactive (so no login skips the PAM stack).
pub fn every_method_list_has_kbdint(methods: &str) -> bool {
    methods != "any"
        && methods.split_whitespace().all(|list| {
            list.split(',')
                .any(|m| m == "keyboard-interactive" || m.starts_with("keyboard-interactive:"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_are_case_insensitive_and_take_equals() {
        assert_eq!(
            keyword("  UsePAM=yes").unwrap(),
            ("usepam".to_owned(), vec!["yes"])
        );
        assert_eq!(keyword("# UsePAM no"), None);
        assert_eq!(keyword("Include a b").unwrap().1, vec!["a", "b"]);
    }

    #[test]
    fn the_debian_include_is_recognised() {
        assert!(includes_dropins(
            "Include /etc/ssh/sshd_config.d/*.conf\nPort 22\n"
        ));
        assert!(includes_dropins("include sshd_config.d/*.conf\n"));
        assert!(!includes_dropins(
            "#Include /etc/ssh/sshd_config.d/*.conf\n"
        ));
        assert!(!includes_dropins(
            "Match all\nInclude /etc/ssh/sshd_config.d/*.conf\n"
        ));
    }

    #[test]
    fn blocks_go_first_or_last() {
        let main = "Port 22\n";
        let top = add_to_main(main, &pam_block(FirstFactor::Password), false);
        assert!(top.starts_with(BEGIN) && top.ends_with("Port 22\n"));
        let end = add_to_main(main, &login_block(Some("staff"), Path::new("/x")), true);
        assert!(end.starts_with("Port 22\n") && end.contains("Match Group staff\n"));
        assert!(end.ends_with(&format!("{END}\n")));
    }

    #[test]
    fn method_lists_must_all_run_pam() {
        assert!(every_method_list_has_kbdint("keyboard-interactive"));
        assert!(every_method_list_has_kbdint(
            "publickey,keyboard-interactive"
        ));
        assert!(!every_method_list_has_kbdint("any"));
        assert!(!every_method_list_has_kbdint(
            "publickey,keyboard-interactive publickey"
        ));
    }

    #[test]
    fn effective_output_is_read_lower_case() {
        let e = Effective::parse("usepam yes\nauthenticationmethods any\nhostkey /a\nhostkey /b\n");
        assert!(e.is("usepam", "yes"));
        assert_eq!(e.get("hostkey"), Some("/a"));
        assert_eq!(e.get("nope"), None);
    }
}
