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
