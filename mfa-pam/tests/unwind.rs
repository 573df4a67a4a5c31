//! The modules link the unwinder statically (build.rs: GCC's `libgcc_eh.a`
//! in place of `libgcc_s.so.1`, which cost ~0.1 ms to load on every login).
//! A panic must still be caught at the entry point and become
//! PAM_SERVICE_ERR, with the application carrying on. The shipped module
//! has no way to make it panic, so the proof runs through real libpam on a
//! fixture built by the same build script around the same glue
//! (`examples/panic_module.rs`), and the shipped objects are checked to
//! have that same linkage.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// Builds the fixture with the cargo that runs this test, into the same
/// target directory and profile (`cargo test` does not build cdylib
/// examples itself; cargo releases its lock while tests run), and returns
/// `target/<profile>/examples/libpanic_module.so`.
fn fixture() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/unwind-HASH
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let target = profile_dir.parent().unwrap();
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev",
        Some(p) => p,
        None => panic!("no profile directory in {}", exe.display()),
    };
    let o = Command::new(env!("CARGO"))
        .args([
            "build",
            "--offline",
            "-p",
            "mfa-pam",
            "--example",
            "panic_module",
        ])
        .args(["--profile", profile, "--target-dir"])
        .arg(target)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "building the fixture: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    profile_dir.join("examples").join("libpanic_module.so")
}

/// `readelf -d`: the dynamic section (NEEDED libraries, flags).
fn dynamic(so: &Path) -> String {
    let o = Command::new("readelf").arg("-dW").arg(so).output().unwrap();
    assert!(o.status.success(), "readelf {}", so.display());
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn static_unwinder_and_nodelete(so: &Path) {
    let d = dynamic(so);
    assert!(!d.contains("libgcc_s"), "{}: {d}", so.display());
    assert!(
        d.lines()
            .any(|l| l.contains("(FLAGS_1)") && l.contains("NODELETE")),
        "{}: {d}",
        so.display()
    );
}

#[test]
fn a_panic_inside_the_login_is_service_err_through_the_static_unwinder() {
    if !require(which("readelf"), "readelf (binutils)") {
        return;
    }
    let Some((user, svc)) = setup("unw") else {
        return;
    };
    let so = fixture();
    static_unwinder_and_nodelete(&so);
    svc.add("p", &[format!("required {}", so.display())]);
    // LD_DEBUG=files lists every object the dynamic loader maps.
    let r = svc.pamtester_env(
        "p",
        &user.name,
        &["authenticate"],
        "",
        &[("LD_DEBUG", "files")],
    );
    assert!(
        r.out.contains("fixture: panicking inside the login"),
        "{r:?}"
    );
    assert!(
        r.out.contains("fixture: cleanup ran while unwinding"),
        "{r:?}"
    );
    // Caught and mapped: pamtester lived to print libpam's text for it.
    assert!(!r.ok && r.out.contains("Error in service module"), "{r:?}");
    assert!(!r.out.contains("libgcc_s"), "libgcc_s was loaded: {r:?}");
}

#[test]
fn shipped_modules_carry_the_same_unwinder_linkage() {
    if !require(which("readelf"), "readelf (binutils)") {
        return;
    }
    for name in ["libpam_mfa.so", "libpam_mfa_net.so"] {
        static_unwinder_and_nodelete(&release_artefact(name));
    }
}
