//! `mfa totp enroll`: what it writes by default and where it refuses to
//! write. The QR image is the secret, so `--qr png:FILE` only ever creates
//! a new private file.

mod common;
use common::*;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

fn enroll_png(dir: &Path, png: &Path) -> std::process::Output {
    run(mfa()
        .args(["totp", "enroll", "--secret-file"])
        .arg(dir.join("ga"))
        .arg("--qr")
        .arg(format!("png:{}", png.display())))
}

#[test]
fn png_is_created_private() {
    let d = tempfile::tempdir().unwrap();
    let png = d.path().join("qr.png");
    let o = enroll_png(d.path(), &png);
    assert!(o.status.success(), "{}", stderr(&o));
    let meta = std::fs::symlink_metadata(&png).unwrap();
    assert!(meta.is_file());
    assert_eq!(meta.mode() & 0o7777, 0o600);
    assert_eq!(&std::fs::read(&png).unwrap()[..4], b"\x89PNG");
}

#[test]
fn png_refuses_a_symlink_and_an_existing_file_before_writing_anything() {
    let d = tempfile::tempdir().unwrap();
    let victim = d.path().join("victim");
    std::fs::write(&victim, b"keep").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
    let link = d.path().join("link.png");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let dangling = d.path().join("dangling.png");
    std::os::unix::fs::symlink(d.path().join("nowhere"), &dangling).unwrap();

    for png in [&link, &dangling, &victim] {
        let o = enroll_png(d.path(), png);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{}: {}",
            png.display(),
            stderr(&o)
        );
        assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
        assert!(
            !d.path().join("ga").exists(),
            "no state file made for an image that cannot be written"
        );
    }
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
    assert_eq!(
        std::fs::metadata(&victim).unwrap().mode() & 0o777,
        0o644,
        "the link's target is neither written nor chmod-ed"
    );
    assert!(!d.path().join("nowhere").exists());
}

fn enroll(dir: &Path, extra: &[&str]) -> (std::process::Output, String) {
    let f = dir.join(format!("ga{}", extra.join("").replace('/', "_")));
    let o = run(mfa()
        .args(["totp", "enroll", "--qr", "none", "--secret-file"])
        .arg(&f)
        .args(extra));
    let text = std::fs::read_to_string(&f).unwrap_or_default();
    (o, text)
}

fn options(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.starts_with("\" ")).collect()
}

#[test]
fn defaults_forbid_reuse_and_limit_guessing() {
    let d = tempfile::tempdir().unwrap();
    let (o, text) = enroll(d.path(), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        options(&text),
        ["\" RATE_LIMIT 3 30", "\" DISALLOW_REUSE", "\" TOTP_AUTH"]
    );
    // --disallow-reuse, once needed, is still accepted and changes nothing.
    let (o, same) = enroll(d.path(), &["--disallow-reuse"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(options(&same), options(&text));
}

#[test]
fn each_default_can_be_opted_out_of() {
    let d = tempfile::tempdir().unwrap();
    for (flags, want) in [
        (
            &["--allow-reuse"][..],
            &["\" RATE_LIMIT 3 30", "\" TOTP_AUTH"][..],
        ),
        (&["--no-rate-limit"], &["\" DISALLOW_REUSE", "\" TOTP_AUTH"]),
        (&["--allow-reuse", "--no-rate-limit"], &["\" TOTP_AUTH"]),
        (
            &["--rate-limit", "5/60"],
            &["\" RATE_LIMIT 5 60", "\" DISALLOW_REUSE", "\" TOTP_AUTH"],
        ),
    ] {
        let (o, text) = enroll(d.path(), flags);
        assert!(o.status.success(), "{flags:?}: {}", stderr(&o));
        assert_eq!(options(&text), want, "{flags:?}");
    }
    for flags in [
        &["--allow-reuse", "--disallow-reuse"][..],
        &["--no-rate-limit", "--rate-limit", "3/30"],
    ] {
        let (o, _) = enroll(d.path(), flags);
        assert_eq!(o.status.code(), Some(2), "{flags:?} contradict each other");
    }
}

/// What the defaults do: a code works once, and the fourth attempt in 30 s
/// is refused before any comparison, even with the right code.
#[test]
fn a_default_enrolment_refuses_replay_and_a_fourth_attempt() {
    if !require_tool("oathtool") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("ga");
    let o = run(mfa()
        .args(["totp", "enroll", "--qr", "none", "--secret-file"])
        .arg(&f));
    assert!(o.status.success(), "{}", stderr(&o));
    let verify = |code: &str| {
        let o = run(mfa()
            .args(["totp", "verify", "--allowed-perm", "0400", "--secret-file"])
            .arg(&f)
            .arg(code));
        (o.status.code(), stdout(&o))
    };
    let code = oathtool_code(&f, &["--totp"]);
    assert_eq!(verify(&code).0, Some(0));
    let (status, out) = verify(&code);
    assert_eq!(status, Some(1));
    assert!(out.contains("code reused"), "{out}");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (status, out) = verify(wrong);
    assert_eq!(status, Some(1));
    assert!(out.contains("wrong code"), "{out}");
    let next = oathtool_code(&f, &["--totp"]);
    let (status, out) = verify(&next);
    assert_eq!(status, Some(1));
    assert!(out.contains("rate limited"), "{out}");
}
