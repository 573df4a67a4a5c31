//! The Debian packages for real (built by scripts/package into
//! target/debian/): lintian reports no error, `dpkg -i` installs them
//! (twice: the maintainer scripts are idempotent) without changing any
//! authentication, a real sshd on 127.0.0.1 logs a user in through the
//! installed pam_mfa.so and through the installed setgid mfa-login, and
//! `dpkg --purge` leaves no file the packages created.
//!
//! It installs packages on this machine, so it runs only under CI=true or
//! MFA_PACKAGE_TEST=1 (scripts/test-all sets it). The private sshds have
//! their own config and PAM service directory (pam_wrapper): the system's
//! sshd and /etc/pam.d are never touched. The packages are purged on every
//! path, failures included.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use mfa_testkit::sshd::{askpass, require, require_binary, require_root, SshdBuilder, TestUser};

const SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
const SCRATCH: &str = "31415926";
const PAM_WRAPPER: &str = "/usr/lib/x86_64-linux-gnu/libpam_wrapper.so";

fn module() -> String {
    format!(
        "/usr/lib/{}-linux-gnu/security/pam_mfa.so",
        std::env::consts::ARCH
    )
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap()
}

fn ok(o: &Output) -> bool {
    o.status.success()
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// target/debian/NAME_*.deb
fn deb(name: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("MFA_DEB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debian"));
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{name}_")) && n.ends_with(".deb"))
        })
}

fn installed(pkg: &str) -> bool {
    run(Command::new("dpkg-query").args(["-W", "-f=${Status}", pkg]))
        .stdout
        .ends_with(b"installed")
}

/// Purges both packages when dropped, whatever happened before.
struct Purge;
impl Drop for Purge {
    fn drop(&mut self) {
        let _ = Command::new("dpkg")
            .args(["--purge", "mfa", "libpam-mfa"])
            .env("MFA_FORCE_REMOVE", "1")
            .stdout(Stdio::null())
            .output();
    }
}

fn group_line() -> String {
    String::from_utf8_lossy(&run(Command::new("getent").args(["group", "mfa"])).stdout).into_owned()
}

fn prerequisites() -> Option<(PathBuf, PathBuf)> {
    let wanted = std::env::var("CI").as_deref() == Ok("true")
        || std::env::var("MFA_PACKAGE_TEST").as_deref() == Ok("1");
    if !wanted {
        eprintln!("SKIPPED: installs packages on this machine; set MFA_PACKAGE_TEST=1 (scripts/test-all does)");
        return None;
    }
    let (pam, mfa) = (deb("libpam-mfa"), deb("mfa"));
    let fine = require_root()
        && require(
            pam.is_some() && mfa.is_some(),
            "target/debian/*.deb (run scripts/package)",
        )
        && require_binary("dpkg").is_some()
        && require_binary("lintian").is_some()
        && require_binary("sshd").is_some()
        && require_binary("oathtool").is_some()
        && require(Path::new(PAM_WRAPPER).exists(), "libpam-wrapper")
        && require(
            !installed("mfa") && !installed("libpam-mfa"),
            "mfa and libpam-mfa not installed before the test (it purges them)",
        );
    fine.then(|| (pam.unwrap_or_default(), mfa.unwrap_or_default()))
}

fn lintian_is_clean(debs: &[&Path]) {
    let o = run(Command::new("lintian")
        .args(["--tag-display-limit", "0", "--display-info"])
        .args(debs));
    let out = String::from_utf8_lossy(&o.stdout);
    eprintln!("lintian:\n{out}{}", String::from_utf8_lossy(&o.stderr));
    let errors: Vec<&str> = out.lines().filter(|l| l.starts_with("E: ")).collect();
    assert!(errors.is_empty(), "lintian errors:\n{}", errors.join("\n"));
    // The one warning left: the changelog closes no ITP bug, as these
    // packages are not uploaded to Debian. Anything else is new.
    let warnings: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("W: ") && !l.contains("initial-upload-closes-no-bugs"))
        .collect();
    assert!(
        warnings.is_empty(),
        "lintian warnings:\n{}",
        warnings.join("\n")
    );
    // What the overrides in packaging/lintian/ silence must still exist.
    let unused: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("unused-override"))
        .collect();
    assert!(
        unused.is_empty(),
        "stale lintian overrides:\n{}",
        unused.join("\n")
    );
}

fn code() -> String {
    let o = run(Command::new("oathtool").args(["--totp", "-b", SECRET]));
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

/// `/etc/mfa` as it was before the test (another test's bind mount, or an
/// admin's, may have made it): the package must leave such a one alone.
fn etc_mfa() -> Option<(u32, u32, u32)> {
    std::fs::metadata("/etc/mfa")
        .ok()
        .map(|m| (m.mode() & 0o7777, m.uid(), m.gid()))
}

fn check_installed_files(etc_before: Option<(u32, u32, u32)>) {
    let meta = |p: &str| std::fs::metadata(p).unwrap_or_else(|e| panic!("{p}: {e}"));
    let gid: u32 = group_line().split(':').nth(2).unwrap().parse().unwrap();
    let login = meta("/usr/sbin/mfa-login");
    assert_eq!(
        (login.mode() & 0o7777, login.uid(), login.gid()),
        (0o2755, 0, gid)
    );
    match etc_before {
        None => assert_eq!(etc_mfa(), Some((0o2750, 0, gid)), "/etc/mfa created"),
        Some(before) => assert_eq!(
            etc_mfa(),
            Some(before),
            "an existing /etc/mfa is left alone"
        ),
    }
    assert!(
        !Path::new("/etc/mfa/mfa.toml").exists(),
        "no config is shipped"
    );
    let net = module().replace("pam_mfa.so", "pam_mfa_net.so");
    for f in [
        module().as_str(),
        net.as_str(),
        "/usr/bin/mfa",
        "/usr/share/man/man1/mfa.1.gz",
        "/usr/share/man/man1/mfa-install-pam.1.gz",
        "/usr/share/man/man1/mfa-doctor.1.gz",
        "/usr/share/man/man8/pam_mfa.8.gz",
        "/usr/share/man/man8/mfa-login.8.gz",
        "/usr/share/man/man5/mfa.toml.5.gz",
        "/usr/share/bash-completion/completions/mfa",
        "/usr/share/zsh/vendor-completions/_mfa",
        "/usr/share/fish/vendor_completions.d/mfa.fish",
        "/usr/lib/systemd/system/mfa-serve.service",
        "/usr/share/doc/mfa/examples/mfa.toml",
    ] {
        assert!(Path::new(f).is_file(), "{f} installed");
    }
    assert!(
        !Path::new("/etc/systemd/system/multi-user.target.wants/mfa-serve.service").exists(),
        "the unit is not enabled"
    );
    let profile = std::fs::read_to_string("/usr/share/pam-configs/mfa").unwrap();
    assert!(profile.contains("Default: no"), "{profile}");
    let v = run(Command::new("/usr/bin/mfa").arg("--version"));
    assert!(ok(&v), "{}", text(&v));
}

/// A login through the installed module under a private sshd.
fn login_through_pam_mfa(user: &TestUser) {
    let services = tempfile::tempdir().unwrap();
    std::fs::write(
        services.path().join("sshd"),
        format!(
            "auth required {m}\naccount required {p}\nsession required {p}\n",
            m = module(),
            p = module().replace("pam_mfa.so", "pam_permit.so")
        ),
    )
    .unwrap();
    let sshd = SshdBuilder::new()
        .config("UsePAM yes")
        .config("KbdInteractiveAuthentication yes")
        .config("AuthenticationMethods publickey,keyboard-interactive")
        .env("LD_PRELOAD", PAM_WRAPPER)
        .env("PAM_WRAPPER", "1")
        .env(
            "PAM_WRAPPER_SERVICE_DIR",
            &services.path().display().to_string(),
        )
        .start()
        .unwrap();
    user.authorize_key(&sshd.client_public_key()).unwrap();
    let attempt = |answer: &str| {
        let dir = tempfile::tempdir().unwrap();
        let script = askpass(dir.path(), &[("Verification code", answer)]).unwrap();
        run(sshd
            .ssh(user)
            .args(["-o", "NumberOfPasswordPrompts=1", "-o", "BatchMode=no"])
            .arg("echo ok")
            .env("SSH_ASKPASS", &script)
            .env("SSH_ASKPASS_REQUIRE", "force")
            .env("DISPLAY", ":0")
            .stdin(Stdio::null()))
    };
    let wrong = attempt("000000");
    assert!(
        !ok(&wrong),
        "a wrong code: {}\n{}",
        text(&wrong),
        sshd.log()
    );
    let right = attempt(&code());
    assert!(
        ok(&right) && right.stdout == b"ok\n",
        "{}\n{}",
        text(&right),
        sshd.log()
    );
}

/// A login through the installed setgid mfa-login as ForceCommand; the
/// shell no longer holds group mfa.
fn login_through_mfa_login(user: &TestUser) {
    let sshd = SshdBuilder::new()
        .config("AcceptEnv MFA_PASSCODE")
        .config("ForceCommand /usr/sbin/mfa-login")
        .config("DisableForwarding yes")
        .start()
        .unwrap();
    user.authorize_key(&sshd.client_public_key()).unwrap();
    let gid = group_line().split(':').nth(2).unwrap().to_owned();
    let o = run(sshd
        .ssh(user)
        .args(["-o", &format!("SetEnv=MFA_PASSCODE={SCRATCH}")])
        .arg("id -G; echo ok")
        .stdin(Stdio::null()));
    assert!(ok(&o), "{}\n{}", text(&o), sshd.log());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.ends_with("ok\n"), "{out}");
    let groups: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert!(
        !groups.contains(&gid.as_str()),
        "the shell holds group mfa: {out}"
    );
    let denied = run(sshd
        .ssh(user)
        .args(["-o", "SetEnv=MFA_PASSCODE=99999999"])
        .arg("echo ok")
        .stdin(Stdio::null()));
    assert!(!ok(&denied), "{}", text(&denied));
}

#[test]
fn packages_install_log_in_and_purge_cleanly() {
    let Some((pam_deb, mfa_deb)) = prerequisites() else {
        return;
    };
    lintian_is_clean(&[&pam_deb, &mfa_deb]);
    let common_auth = std::fs::read("/etc/pam.d/common-auth").unwrap_or_default();
    let group_before = group_line();
    let etc_before = etc_mfa();
    let _purge = Purge;

    for round in 0..2 {
        let o = run(Command::new("dpkg").arg("-i").arg(&pam_deb).arg(&mfa_deb));
        assert!(ok(&o), "dpkg -i (round {round}): {}", text(&o));
        check_installed_files(etc_before);
        assert_eq!(
            std::fs::read("/etc/pam.d/common-auth").unwrap_or_default(),
            common_auth,
            "installing changes no PAM stack"
        );
    }

    // DEBIAN/md5sums (scripts/package adds it): dpkg can tell an installed
    // file that changed; none has.
    let o = run(Command::new("dpkg").args(["--verify", "mfa", "libpam-mfa"]));
    assert!(ok(&o) && o.stdout.is_empty(), "dpkg --verify: {}", text(&o));
    for deb in [&pam_deb, &mfa_deb] {
        let o = run(Command::new("dpkg-deb")
            .arg("--info")
            .arg(deb)
            .arg("md5sums"));
        assert!(
            ok(&o) && !o.stdout.is_empty(),
            "{}: no md5sums",
            deb.display()
        );
    }

    // Dropped before `_purge`: the account goes, then the packages.
    let user = TestUser::create("mfapkg").unwrap();
    let state = format!("{SECRET}\n\" WINDOW_SIZE 3\n\" TOTP_AUTH\n{SCRATCH}\n");
    user.write_file(".google_authenticator", state.as_bytes(), 0o600)
        .unwrap();
    login_through_pam_mfa(&user);
    login_through_mfa_login(&user);

    let listed = run(Command::new("dpkg").args(["-L", "mfa", "libpam-mfa"]));
    let files: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter(|p| Path::new(p).is_file())
        .map(str::to_owned)
        .collect();
    assert!(files.len() > 20, "{files:?}");
    let o = run(Command::new("dpkg").args(["--purge", "mfa", "libpam-mfa"]));
    assert!(ok(&o), "dpkg --purge: {}", text(&o));
    let left: Vec<&String> = files.iter().filter(|p| Path::new(p).exists()).collect();
    assert!(left.is_empty(), "left after purge: {left:?}");
    for p in [
        "/var/lib/mfa",
        "/usr/share/doc/mfa",
        "/usr/share/doc/libpam-mfa",
    ] {
        assert!(!Path::new(p).exists(), "{p} left after purge");
    }
    assert_eq!(etc_mfa(), etc_before, "/etc/mfa as before the install");
    let so = run(Command::new("dpkg-statoverride").args(["--list", "/usr/sbin/mfa-login"]));
    assert!(!ok(&so), "statoverride left: {}", text(&so));
    assert_eq!(group_line(), group_before, "group mfa as before");
    assert_eq!(
        std::fs::read("/etc/pam.d/common-auth").unwrap_or_default(),
        common_auth
    );
}
