//! Interoperability both ways with pam_google_authenticator, through real
//! libpam: a state file written by `mfa totp enroll` is accepted by
//! `pam_google_authenticator.so`, and one written by `google-authenticator`
//! is accepted by `pam_mfa.so`; codes come from oathtool.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use std::path::Path;

use common::*;

fn secret_of(file: &Path) -> String {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_owned()
}

fn scratch_codes_of(file: &Path) -> Vec<String> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .skip(1)
        .filter(|l| l.len() == 8 && l.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_owned)
        .collect()
}

#[test]
fn file_from_mfa_totp_enroll_is_accepted_by_pam_google_authenticator() {
    if !prerequisites() || !require(Path::new(PAM_GA).exists(), "libpam-google-authenticator") {
        return;
    }
    let mfa = release_artefact("mfa");
    let user = new_user("ioen");
    let file = user.home.join(".google_authenticator");
    let o = user.run(&[
        mfa.to_str().unwrap(),
        "totp",
        "enroll",
        "--secret-file",
        file.to_str().unwrap(),
        "--disallow-reuse",
        "--scratch-codes",
        "2",
        "--qr",
        "none",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let secret = secret_of(&file);

    let svc = Services::new();
    svc.add("ga", &[format!("required {PAM_GA}")]);
    let code = code(&secret);
    let r = svc.pamtester("ga", &user.name, &["authenticate"], &format!("{code}\n"));
    assert!(r.ok, "pam_google_authenticator refused our file: {r:?}");
    // Our DISALLOW_REUSE line means the same thing to it.
    let r = svc.pamtester("ga", &user.name, &["authenticate"], &format!("{code}\n"));
    assert!(!r.ok, "{r:?}");
    // And a scratch code we generated.
    let scratch = scratch_codes_of(&file);
    assert_eq!(scratch.len(), 2);
    let r = svc.pamtester(
        "ga",
        &user.name,
        &["authenticate"],
        &format!("{}\n", scratch[0]),
    );
    assert!(r.ok, "{r:?}");
}

#[test]
fn file_from_google_authenticator_is_accepted_by_pam_mfa() {
    if !prerequisites() || !require(which("google-authenticator"), "google-authenticator") {
        return;
    }
    let user = new_user("iogn");
    let file = user.home.join(".google_authenticator");
    let o = user.run(&[
        "google-authenticator",
        "--time-based",
        "--disallow-reuse",
        "--force",
        "--quiet",
        "--qr-mode=NONE",
        "--rate-limit=10",
        "--rate-time=30",
        "--window-size=3",
        "--emergency-codes=2",
        "--secret",
        file.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let secret = secret_of(&file);

    // The drop-in line: pam_mfa.so with no arguments.
    let svc = Services::new();
    svc.add("mfa", &[mfa_line("required", "")]);
    let code = code(&secret);
    let r = svc.pamtester("mfa", &user.name, &["authenticate"], &format!("{code}\n"));
    assert!(r.ok, "pam_mfa refused google-authenticator's file: {r:?}");
    let r = svc.pamtester("mfa", &user.name, &["authenticate"], &format!("{code}\n"));
    assert!(!r.ok && r.out.contains("already used"), "{r:?}");
    let scratch = scratch_codes_of(&file);
    let r = svc.pamtester(
        "mfa",
        &user.name,
        &["authenticate"],
        &format!("{}\n", scratch[0]),
    );
    assert!(r.ok, "{r:?}");

    // Our attempts were recorded in its RATE_LIMIT line, as it does.
    let text = std::fs::read_to_string(&file).unwrap();
    let rl = text
        .lines()
        .find(|l| l.starts_with("\" RATE_LIMIT 10 30"))
        .unwrap();
    assert_eq!(rl.split_whitespace().count(), 4 + 3, "{rl}");
    // After our updates the file is still good for pam_google_authenticator
    // (same format, same owner and mode).
    svc.add("ga", &[format!("required {PAM_GA}")]);
    let r = svc.pamtester(
        "ga",
        &user.name,
        &["authenticate"],
        &format!("{}\n", scratch[1]),
    );
    assert!(r.ok, "{r:?}");
}
