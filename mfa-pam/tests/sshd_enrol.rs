//! Enrolment at first login (`unenrolled = "enroll"`) through a real sshd
//! and the built pam_mfa.so: the person sees the QR code, the key and the
//! otpauth URI inside the SSH session; a wrong confirmation code leaves no
//! file; the right one creates a file `oathtool` agrees with; the next
//! login asks for a code. And a password checked in the same stack is not
//! a verified first factor: nothing is offered there.
//!
//! One test function on purpose: it writes its own answering script, and
//! no other thread of this binary may fork while that file is being
//! written (see `mfa_testkit::sshd::askpass` on ETXTBSY).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Output;

use common::*;
use mfa_testkit::sshd::{askpass, require_binary, Sshd};

fn sshd(services: &Services, methods: &str, auth_lines: &[String]) -> Sshd {
    services
        .sshd(auth_lines)
        .config("UsePAM yes")
        .config("KbdInteractiveAuthentication yes")
        .config(&format!("AuthenticationMethods {methods}"))
        .start()
        .unwrap()
}

/// An askpass that acts like a person with an authenticator app: it reads
/// the key off the enrolment text, and answers the confirmation prompt with
/// the app's code (`oathtool_when` shifts the app's clock, to type a wrong
/// one). Every prompt goes to `dir/askpass.log`, the key to `dir/key`, the
/// code typed to `dir/typed`.
fn app_askpass(dir: &Path, oathtool_when: &str) -> std::path::PathBuf {
    let d = dir.display();
    let script = format!(
        r#"#!/bin/sh
printf '%s\n----\n' "$1" >> {d}/askpass.log
key=$(printf '%s\n' "$1" | sed -n 's/.*secret key: \([A-Z2-7]*\).*/\1/p' | head -n 1)
[ -n "$key" ] && printf '%s' "$key" > {d}/key
case "$1" in
  *"to confirm"*) oathtool --totp -b {oathtool_when} "$(cat {d}/key)" | tee {d}/typed ;;
  *) exit 1 ;;
esac
"#
    );
    let path = dir.join("app-askpass");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).unwrap();
    path
}

fn ssh(server: &Sshd, user: &TestUser, methods: &str, askpass: &Path) -> Output {
    server
        .ssh_with(user, methods)
        .args(["-o", "NumberOfPasswordPrompts=1", "-o", "BatchMode=no"])
        .arg("echo ok")
        .env("SSH_ASKPASS", askpass)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env("DISPLAY", ":0")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

fn explain(o: &Output, dir: &Path, server: &Sshd) -> String {
    format!(
        "status {:?}\nstdout {}\nstderr {}\nprompts:\n{}\nsshd log:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
        std::fs::read_to_string(dir.join("askpass.log")).unwrap_or_default(),
        server.log()
    )
}

fn config(dir: &Path) -> String {
    let p = dir.join("mfa.toml");
    std::fs::write(&p, "[general]\nunenrolled = \"enroll\"\n").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    format!("config={}", p.display())
}

#[test]
fn first_login_enrolment_through_sshd() {
    if !(prerequisites() && require_binary("sshd").is_some() && require_binary("ssh").is_some()) {
        return;
    }
    let cfg_dir = tempfile::tempdir().unwrap();
    let arg = config(cfg_dir.path());
    let user = new_user("sshen");
    let state = user.home.join(".google_authenticator");

    // 1. Password then pam_mfa in one stack: sshd has verified nothing
    // when pam_mfa runs, so no enrolment is offered, even with the right
    // password; the usual prompt, then a refusal.
    {
        user.set_password("pa55 word");
        let svc = Services::new();
        let server = sshd(
            &svc,
            "keyboard-interactive",
            &[format!("requisite {PAM_UNIX}"), mfa_line("required", &arg)],
        );
        let dir = tempfile::tempdir().unwrap();
        let script = askpass(
            dir.path(),
            &[("Password", "pa55 word"), ("Verification code", "123456")],
        )
        .unwrap();
        let o = ssh(&server, &user, "keyboard-interactive", &script);
        assert!(!o.status.success(), "{}", explain(&o, dir.path(), &server));
        let asked = std::fs::read_to_string(dir.path().join("askpass.log")).unwrap();
        assert!(!asked.contains("QR"), "{asked}");
        assert!(!state.exists());
    }

    let svc = Services::new();
    let server = sshd(
        &svc,
        "publickey,keyboard-interactive",
        &[mfa_line("required", &arg)],
    );
    user.authorize_key(&server.client_public_key()).unwrap();

    // 2. After the key: the QR code, the key and the URI are shown; a
    // wrong code (the app's clock an hour off) leaves no file.
    let dir = tempfile::tempdir().unwrap();
    let script = app_askpass(dir.path(), "-N 'now + 1 hour'");
    let o = ssh(&server, &user, "publickey,keyboard-interactive", &script);
    assert!(!o.status.success(), "{}", explain(&o, dir.path(), &server));
    let asked = std::fs::read_to_string(dir.path().join("askpass.log")).unwrap();
    assert!(asked.contains("Scan this QR code"), "{asked}");
    assert!(
        asked.contains('\u{2580}') || asked.contains('\u{2588}'),
        "{asked}"
    );
    assert!(asked.contains("otpauth://totp/"), "{asked}");
    assert!(asked.contains("not right"), "{asked}");
    assert!(!state.exists(), "a wrong code must leave no file");

    // 3. The right code: in, with a state file oathtool agrees with.
    let dir = tempfile::tempdir().unwrap();
    let script = app_askpass(dir.path(), "");
    let o = ssh(&server, &user, "publickey,keyboard-interactive", &script);
    assert!(
        o.status.success() && o.stdout == b"ok\n",
        "{}",
        explain(&o, dir.path(), &server)
    );
    let meta = std::fs::metadata(&state).unwrap();
    assert_eq!(meta.uid(), user.uid);
    assert_eq!(meta.mode() & 0o7777, 0o400);
    let text = std::fs::read_to_string(&state).unwrap();
    let secret = text.lines().next().unwrap().to_owned();
    let shown = std::fs::read_to_string(dir.path().join("key")).unwrap();
    assert_eq!(secret, shown, "the file holds the key the person was shown");
    let typed = std::fs::read_to_string(dir.path().join("typed")).unwrap();
    let agrees = std::process::Command::new("oathtool")
        .args(["--totp", "-b", "-w", "2", &secret, typed.trim()])
        .output()
        .unwrap();
    assert!(agrees.status.success(), "oathtool: {agrees:?}");
    assert!(text.contains("\" RATE_LIMIT 3 30"), "{text}");
    assert!(text.contains("\" DISALLOW_REUSE "), "{text}");

    // 4. The next login asks for a code, as for anyone enrolled (one step
    // ahead: the confirming code is spent).
    let dir = tempfile::tempdir().unwrap();
    let next = std::process::Command::new("oathtool")
        .args(["--totp", "-b", "-N", "now + 30 seconds", &secret])
        .output()
        .unwrap();
    let next = String::from_utf8(next.stdout).unwrap();
    let script = askpass(dir.path(), &[("Verification code", next.trim())]).unwrap();
    let o = ssh(&server, &user, "publickey,keyboard-interactive", &script);
    assert!(
        o.status.success() && o.stdout == b"ok\n",
        "{}",
        explain(&o, dir.path(), &server)
    );
    let asked = std::fs::read_to_string(dir.path().join("askpass.log")).unwrap();
    assert!(!asked.contains("QR"), "{asked}");
    assert_eq!(
        std::fs::read_to_string(&state).unwrap().lines().next(),
        Some(secret.as_str())
    );
}
