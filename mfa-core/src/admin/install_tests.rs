//! The lockout guard (the real-sshd cases are in mfa-cli/tests/install.rs).

use super::*;

fn root() -> (tempfile::TempDir, Root) {
    let dir = tempfile::tempdir().unwrap();
    let etc = dir.path().join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(
        etc.join("passwd"),
        "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n",
    )
    .unwrap();
    std::fs::write(etc.join("group"), "root:x:0:\nalice:x:1000:\nstaff:x:50:\n").unwrap();
    let root = Root::new(dir.path());
    (dir, root)
}

fn request(root: &Root, admin: &str) -> Request {
    Request {
        mode: Mode::Pam {
            first: FirstFactor::Password,
            module: "pam_mfa.so".into(),
        },
        root: root.clone(),
        // Never reached by a refusal: the guard runs first.
        sshd: Some("/nonexistent/sshd".into()),
        config: None,
        admin: admin.into(),
        allow_unenrolled_admin: false,
    }
}

fn write_config(dir: &Path, text: &str) {
    std::fs::create_dir_all(dir.join("etc/mfa")).unwrap();
    std::fs::write(dir.join("etc/mfa/mfa.toml"), text).unwrap();
}

#[test]
fn an_unenrolled_admin_is_refused_with_the_ways_out() {
    let (_d, root) = root();
    let e = plan(&request(&root, "alice")).unwrap_err();
    let msg = e.to_string();
    assert_eq!(e.exit_code(), 1);
    assert!(
        msg.contains("alice (the admin running this) is not enrolled in totp"),
        "{msg}"
    );
    assert!(msg.contains("unenrolled = \"allow\""), "{msg}");
    assert!(msg.contains("--allow-unenrolled-admin"), "{msg}");
}

#[test]
fn an_unknown_admin_is_refused() {
    let (_d, root) = root();
    let e = plan(&request(&root, "mallory")).unwrap_err();
    assert!(
        e.to_string().contains("cannot find the account of mallory"),
        "{e}"
    );
}

#[test]
fn a_rule_denying_the_admin_is_refused() {
    let (d, root) = root();
    write_config(
        d.path(),
        "[[policy.rules]]\nusers = [\"alice\"]\naction = \"deny\"\n",
    );
    let e = plan(&request(&root, "alice")).unwrap_err();
    assert!(e.to_string().contains("denies alice"), "{e}");
}

#[test]
fn the_guard_passes_enrolled_allowed_or_overridden_admins() {
    // Each passes the guard and stops at the next step: the missing sshd.
    let past_guard = |e: AdminError| {
        e.to_string().contains("/nonexistent/sshd")
            || e.to_string().contains("PAM module not found")
    };
    let (d, root) = root();
    let mut r = request(&root, "alice");
    r.allow_unenrolled_admin = true;
    assert!(past_guard(plan(&r).unwrap_err()));

    write_config(d.path(), "[general]\nunenrolled = \"allow\"\n");
    assert!(past_guard(plan(&request(&root, "alice")).unwrap_err()));

    std::fs::remove_file(d.path().join("etc/mfa/mfa.toml")).unwrap();
    std::fs::create_dir_all(d.path().join("home/alice")).unwrap();
    std::fs::write(d.path().join("home/alice/.google_authenticator"), "X\n").unwrap();
    assert!(past_guard(plan(&request(&root, "alice")).unwrap_err()));
}

#[test]
fn a_broken_config_is_a_usage_error() {
    let (d, root) = root();
    write_config(d.path(), "[general\n");
    assert_eq!(plan(&request(&root, "alice")).unwrap_err().exit_code(), 2);
}

#[test]
fn enroll_at_login_passes_the_guard_only_where_it_can_enrol() {
    let past_guard = |e: AdminError| {
        e.to_string().contains("/nonexistent/sshd")
            || e.to_string().contains("PAM module not found")
            || e.to_string().contains("mfa-login not found")
    };
    let (d, root) = root();
    write_config(d.path(), "[general]\nunenrolled = \"enroll\"\n");
    // After a password in the same stack nothing can enrol: locked out.
    let e = plan(&request(&root, "alice")).unwrap_err();
    assert!(e.to_string().contains("is not enrolled in totp"), "{e}");
    // After the key (sshd verified it), or under mfa-login: a QR code.
    let mut r = request(&root, "alice");
    r.mode = Mode::Pam {
        first: FirstFactor::Publickey,
        module: "pam_mfa.so".into(),
    };
    let e = plan(&r).unwrap_err();
    assert!(past_guard(e.clone()), "{e}");
    r.mode = Mode::Login {
        group: None,
        program: "/usr/sbin/mfa-login".into(),
    };
    let e = plan(&r).unwrap_err();
    assert!(past_guard(e.clone()), "{e}");
}
