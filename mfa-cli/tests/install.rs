//! `mfa install` / `mfa uninstall` on a temp root, validated by the real
//! `sshd -t`: install then uninstall is byte-identical, a rejected install
//! writes nothing, the lockout guard refuses an unenrolled admin.

mod common;
use common::root::{explain, prerequisites, TempRoot};

const MFA_LINE: &str = "auth       required     pam_mfa.so";

#[test]
fn install_pam_then_uninstall_is_byte_identical() {
    if !prerequisites() {
        return;
    }
    let r = TempRoot::new();
    let before = r.snapshot();
    let o = r.mfa(&["install", "pam"]);
    assert_eq!(o.status.code(), Some(0), "{}", explain(&o));
    let pam = r.read("/etc/pam.d/sshd");
    let lines: Vec<&str> = pam.lines().collect();
    let inc = lines
        .iter()
        .position(|l| *l == "@include common-auth")
        .unwrap();
    assert_eq!(lines[inc + 2], MFA_LINE, "{pam}");
    let dropin = r.read("/etc/ssh/sshd_config.d/10-mfa.conf");
    assert!(dropin.contains("\nUsePAM yes\nKbdInteractiveAuthentication yes\nAuthenticationMethods keyboard-interactive\n"), "{dropin}");
    assert_eq!(r.read("/etc/ssh/sshd_config"), common::root::SSHD_CONFIG);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("changed /etc/pam.d/sshd"), "{out}");
    assert!(out.contains("backup: /var/lib/mfa/backup/"), "{out}");
    assert!(
        out.contains("unenrolled = \"allow\""),
        "offers the rollout mode: {out}"
    );
    let backups = r.backups();
    assert_eq!(backups.len(), 1);
    let manifest = r.read(&format!("/var/lib/mfa/backup/{}/manifest.json", backups[0]));
    assert!(
        manifest.contains("\"/etc/pam.d/sshd\"") && manifest.contains("10-mfa.conf"),
        "{manifest}"
    );

    let o = r.mfa(&["uninstall"]);
    assert_eq!(o.status.code(), Some(0), "{}", explain(&o));
    r.assert_unchanged(&before);
    // Nothing left to undo.
    let o = r.mfa(&["uninstall"]);
    assert_eq!(o.status.code(), Some(0), "{}", explain(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("nothing to uninstall"));
}

#[test]
fn install_pam_publickey_then_uninstall() {
    if !prerequisites() {
        return;
    }
    let r = TempRoot::new();
    let before = r.snapshot();
    let o = r.mfa(&["install", "pam", "--first-factor", "publickey"]);
    assert_eq!(o.status.code(), Some(0), "{}", explain(&o));
    let pam = r.read("/etc/pam.d/sshd");
    assert!(
        pam.contains("# mfa install: publickey is the first factor: @include common-auth"),
        "{pam}"
    );
    assert!(pam.contains(MFA_LINE), "{pam}");
    assert!(r
        .read("/etc/ssh/sshd_config.d/10-mfa.conf")
        .contains("AuthenticationMethods publickey,keyboard-interactive\n"));
    assert_eq!(r.mfa(&["uninstall"]).status.code(), Some(0));
    r.assert_unchanged(&before);
}

#[test]
fn install_login_writes_the_forwarding_block_and_uninstalls() {
    if !prerequisites() {
        return;
    }
    let r = TempRoot::new();
    let before = r.snapshot();
    let o = r.mfa(&["install", "login", "--group", "staff"]);
    assert_eq!(o.status.code(), Some(0), "{}", explain(&o));
    let dropin = r.read("/etc/ssh/sshd_config.d/10-mfa.conf");
    for line in [
        "Match Group staff\n",
        "    ForceCommand /usr/sbin/mfa-login\n",
        "    DisableForwarding yes\n",
        "    PermitTunnel no\n",
    ] {
        assert!(dropin.contains(line), "{line:?} in {dropin}");
    }
    assert_eq!(
        r.read("/etc/pam.d/sshd"),
        common::root::PAM_SSHD,
        "PAM untouched"
    );
    assert_eq!(r.mfa(&["uninstall"]).status.code(), Some(0));
    r.assert_unchanged(&before);
}

#[test]
fn without_the_include_the_main_file_gets_the_block() {
    if !prerequisites() {
        return;
    }
    let r = TempRoot::new();
    let main = common::root::SSHD_CONFIG.replace("Include /etc/ssh/sshd_config.d/*.conf\n", "");
    r.write("/etc/ssh/sshd_config", &main);
    let before = r.snapshot();
    let o = r.mfa(&["install", "pam"]);
    assert_eq!(o.status.code(), Some(0), "{}", explain(&o));
    let now = r.read("/etc/ssh/sshd_config");
    // At the top: sshd keeps the first value, and the file says
    // KbdInteractiveAuthentication no further down.
    assert!(now.starts_with("# BEGIN mfa"), "{now}");
    assert!(now.ends_with(&main), "{now}");
    assert!(!r.path("/etc/ssh/sshd_config.d/10-mfa.conf").exists());
    // Login mode appends its Match block at the end instead.
    assert_eq!(r.mfa(&["uninstall"]).status.code(), Some(0));
    r.assert_unchanged(&before);
    let o = r.mfa(&["install", "login"]);
    assert_eq!(o.status.code(), Some(0), "{}", explain(&o));
    let now = r.read("/etc/ssh/sshd_config");
    assert!(
        now.starts_with(&main) && now.contains("Match all\n"),
        "{now}"
    );
    assert_eq!(r.mfa(&["uninstall"]).status.code(), Some(0));
    r.assert_unchanged(&before);
}

#[test]
fn dry_run_prints_a_diff_and_writes_nothing() {
    if !prerequisites() {
        return;
    }
    let r = TempRoot::new();
    let before = r.snapshot();
    let o = r.mfa(&["install", "pam", "--dry-run"]);
    assert_eq!(o.status.code(), Some(0), "{}", explain(&o));
    let diff = String::from_utf8_lossy(&o.stdout);
    assert!(
        diff.contains("--- a/etc/pam.d/sshd\n+++ b/etc/pam.d/sshd\n"),
        "{diff}"
    );
    assert!(diff.contains(&format!("\n+{MFA_LINE}\n")), "{diff}");
    assert!(
        diff.contains("--- /dev/null\n+++ b/etc/ssh/sshd_config.d/10-mfa.conf\n"),
        "{diff}"
    );
    r.assert_unchanged(&before);
    assert!(r.backups().is_empty());
    // --json carries the same diff.
    let o = r.mfa(&["--json", "install", "pam", "--dry-run"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["dry_run"], true);
    assert!(v["diff"].as_str().unwrap().contains(MFA_LINE));
}

#[test]
fn an_install_sshd_rejects_writes_nothing() {
    if !prerequisites() {
        return;
    }
    let r = TempRoot::new();
    r.write(
        "/etc/ssh/sshd_config.d/50-local.conf",
        "PermitRootLogin maybe-later\n",
    );
    let before = r.snapshot();
    let o = r.mfa(&["install", "pam"]);
    assert_eq!(o.status.code(), Some(1), "{}", explain(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("`sshd -t` rejects the result, nothing was written"),
        "{err}"
    );
    assert!(err.contains("maybe-later"), "sshd's own words: {err}");
    r.assert_unchanged(&before);
    assert!(r.backups().is_empty());
}

#[test]
fn a_setting_that_would_win_over_ours_is_refused() {
    if !prerequisites() {
        return;
    }
    let r = TempRoot::new();
    // Before the include: sshd keeps this first value, not the drop-in's.
    r.write(
        "/etc/ssh/sshd_config",
        &format!(
            "AuthenticationMethods publickey\n{}",
            common::root::SSHD_CONFIG
        ),
    );
    let before = r.snapshot();
    let o = r.mfa(&["install", "pam"]);
    assert_eq!(o.status.code(), Some(1), "{}", explain(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("would still use `authenticationmethods publickey`"),
        "{}",
        explain(&o)
    );
    r.assert_unchanged(&before);
}

#[test]
fn the_lockout_guard_refuses_an_unenrolled_admin() {
    if !prerequisites() {
        return;
    }
    let r = TempRoot::new();
    std::fs::remove_file(r.path("/home/alice/.google_authenticator")).unwrap();
    let before = r.snapshot();
    let o = r.mfa(&["install", "pam"]);
    assert_eq!(o.status.code(), Some(1), "{}", explain(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("alice (the admin running this) is not enrolled"),
        "{err}"
    );
    r.assert_unchanged(&before);
    // Covered only by group: alice (not in the group) is not at risk.
    let o = r.mfa(&["install", "login", "--group", "root", "--dry-run"]);
    assert_eq!(o.status.code(), Some(0), "{}", explain(&o));
    // The rollout mode lets her through, and so does the explicit override.
    r.write("/etc/mfa/mfa.toml", "[general]\nunenrolled = \"allow\"\n");
    let o = r.mfa(&["install", "pam", "--dry-run"]);
    assert_eq!(o.status.code(), Some(0), "{}", explain(&o));
    std::fs::remove_file(r.path("/etc/mfa/mfa.toml")).unwrap();
    let o = r.mfa(&["install", "pam", "--allow-unenrolled-admin"]);
    assert_eq!(o.status.code(), Some(0), "{}", explain(&o));
}

#[test]
fn uninstall_refuses_a_file_changed_since_install_unless_forced() {
    if !prerequisites() {
        return;
    }
    let r = TempRoot::new();
    let before = r.snapshot();
    assert_eq!(r.mfa(&["install", "pam"]).status.code(), Some(0));
    r.write("/etc/pam.d/sshd", "# edited by hand\n");
    let o = r.mfa(&["uninstall"]);
    assert_eq!(o.status.code(), Some(1), "{}", explain(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/etc/pam.d/sshd"));
    assert_eq!(r.read("/etc/pam.d/sshd"), "# edited by hand\n");
    let o = r.mfa(&["uninstall", "--force"]);
    assert_eq!(o.status.code(), Some(0), "{}", explain(&o));
    r.assert_unchanged(&before);
}

#[test]
fn a_second_install_changes_nothing() {
    if !prerequisites() {
        return;
    }
    let r = TempRoot::new();
    assert_eq!(r.mfa(&["install", "pam"]).status.code(), Some(0));
    let after = r.snapshot();
    let o = r.mfa(&["install", "pam"]);
    assert_eq!(o.status.code(), Some(0), "{}", explain(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("already installed"));
    assert_eq!(r.snapshot(), after);
    assert_eq!(r.backups().len(), 1);
    // A different mode over it is refused, not stacked.
    let o = r.mfa(&["install", "login"]);
    assert_eq!(o.status.code(), Some(1), "{}", explain(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("mfa uninstall"));
}

#[test]
fn reload_is_refused_on_another_root_and_usage_errors_exit_2() {
    if !prerequisites() {
        return;
    }
    let r = TempRoot::new();
    assert_eq!(
        r.mfa(&["install", "pam", "--reload"]).status.code(),
        Some(2)
    );
    r.write("/etc/mfa/mfa.toml", "[general\n");
    assert_eq!(r.mfa(&["install", "pam"]).status.code(), Some(2));
    assert_eq!(
        r.mfa(&[
            "install",
            "login",
            "--program",
            "/nowhere/mfa-login",
            "--allow-unenrolled-admin"
        ])
        .status
        .code(),
        Some(2)
    );
}
