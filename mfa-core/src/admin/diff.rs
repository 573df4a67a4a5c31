//! Unified diffs of planned changes (`mfa install --dry-run`).

use super::backup::Change;

/// One unified diff for all changes, `a/`/`b/` paths as git prints them;
/// a new file is diffed against `/dev/null`.
pub fn unified(changes: &[Change]) -> String {
    let mut out = String::new();
    for c in changes {
        let before = String::from_utf8_lossy(c.before.as_deref().unwrap_or_default());
        let after = String::from_utf8_lossy(&c.after);
        let path = c.path.display().to_string();
        let old = if c.before.is_some() {
            format!("a{path}")
        } else {
            "/dev/null".to_owned()
        };
        let diff = similar::TextDiff::from_lines(before.as_ref(), after.as_ref());
        out.push_str(
            &diff
                .unified_diff()
                .context_radius(3)
                .header(&old, &format!("b{path}"))
                .to_string(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffs_show_added_lines_and_new_files() {
        let d = unified(&[
            Change {
                path: "/etc/pam.d/sshd".into(),
                before: Some(b"@include common-auth\naccount x\n".to_vec()),
                after: b"@include common-auth\nauth required pam_mfa.so\naccount x\n".to_vec(),
            },
            Change {
                path: "/etc/ssh/sshd_config.d/10-mfa.conf".into(),
                before: None,
                after: b"UsePAM yes\n".to_vec(),
            },
        ]);
        assert!(
            d.contains("--- a/etc/pam.d/sshd\n+++ b/etc/pam.d/sshd\n"),
            "{d}"
        );
        assert!(d.contains("\n+auth required pam_mfa.so\n"), "{d}");
        assert!(
            d.contains("--- /dev/null\n+++ b/etc/ssh/sshd_config.d/10-mfa.conf\n"),
            "{d}"
        );
        assert!(d.contains("\n+UsePAM yes\n"), "{d}");
    }
}
