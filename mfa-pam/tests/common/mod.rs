//! Shared helpers for the module's tests under real libpam: the built
//! `libpam_mfa.so`, throw-away accounts, pam_wrapper service directories and
//! pamtester runs.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::SystemTime;

/// Base32 secret used by the tests (not a real one).
pub const SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
pub const SCRATCH: &str = "31415926";
pub const PAM_UNIX: &str = "/usr/lib/x86_64-linux-gnu/security/pam_unix.so";
pub const PAM_PERMIT: &str = "/usr/lib/x86_64-linux-gnu/security/pam_permit.so";
pub const PAM_GA: &str = "/usr/lib/x86_64-linux-gnu/security/pam_google_authenticator.so";
pub const PAM_SET_ITEMS: &str = "/usr/lib/x86_64-linux-gnu/pam_wrapper/pam_set_items.so";
pub const PAM_WRAPPER: &str = "/usr/lib/x86_64-linux-gnu/libpam_wrapper.so";

/// Under `CI=true` a missing prerequisite fails the test; elsewhere it is
/// skipped with a note.
pub fn require(ok: bool, what: &str) -> bool {
    if !ok {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI must provide: {what}"
        );
        eprintln!("SKIPPED: needs {what}");
    }
    ok
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Root, pam_wrapper, pamtester and oathtool: what every test here needs.
pub fn prerequisites() -> bool {
    require(is_root(), "root")
        && require(Path::new(PAM_WRAPPER).exists(), "libpam-wrapper")
        && require(which("pamtester"), "pamtester")
        && require(which("oathtool"), "oathtool")
}

pub fn which(bin: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {bin}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
}

fn newest_source(dir: &Path, newest: &mut SystemTime) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            newest_source(&p, newest);
        } else if p.extension().is_some_and(|x| x == "rs" || x == "toml") {
            let m = e.metadata().unwrap().modified().unwrap();
            if m > *newest {
                *newest = m;
            }
        }
    }
}

/// A release artefact, refusing a missing or stale one: a test of an old
/// build proves nothing. CI builds `--release` before `cargo test`.
pub fn release_artefact(name: &str) -> PathBuf {
    let p = target_dir().join("release").join(name);
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --workspace --release` first",
        p.display()
    );
    let built = std::fs::metadata(&p).unwrap().modified().unwrap();
    let mut newest = SystemTime::UNIX_EPOCH;
    for krate in ["mfa-core/src", "mfa-pam/src", "mfa-cli/src"] {
        newest_source(&workspace().join(krate), &mut newest);
    }
    assert!(
        built >= newest,
        "{} is older than the sources: run `cargo build --workspace --release`",
        p.display()
    );
    p
}

pub fn module() -> PathBuf {
    release_artefact("libpam_mfa.so")
}

/// A real account for one test, with a home in a temp dir; deleted on drop.
pub struct TestUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestUser {
    pub fn create(prefix: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut suffix = [0u8; 4];
        getrandom::getrandom(&mut suffix).unwrap();
        let name = format!(
            "{prefix}{}",
            suffix
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        let home = dir.path().join("home");
        let st = Command::new("useradd")
            .args(["-m", "-d"])
            .arg(&home)
            .args(["-s", "/bin/sh", "-K", "MAIL_DIR=/tmp", &name])
            .status()
            .unwrap();
        assert!(st.success(), "useradd {name}");
        let meta = std::fs::metadata(&home).unwrap();
        Self {
            name,
            uid: meta.uid(),
            gid: meta.gid(),
            home,
            _dir: dir,
        }
    }

    pub fn set_password(&self, pw: &str) {
        let mut c = Command::new("chpasswd")
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(c.stdin.take().unwrap(), "{}:{pw}", self.name).unwrap();
        assert!(c.wait().unwrap().success());
    }

    /// Write a file owned by the user.
    pub fn write_file(&self, rel: &str, contents: &str, mode: u32) -> PathBuf {
        let p = self.home.join(rel);
        std::fs::write(&p, contents).unwrap();
        std::os::unix::fs::chown(&p, Some(self.uid), Some(self.gid)).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    /// A google_authenticator state file: TOTP, reuse disallowed, one
    /// scratch code.
    pub fn enrol(&self) -> PathBuf {
        self.write_file(".google_authenticator", &state_file(), 0o600)
    }

    /// Run a command as this user.
    pub fn run(&self, argv: &[&str]) -> Output {
        Command::new("setpriv")
            .arg(format!("--reuid={}", self.uid))
            .arg(format!("--regid={}", self.gid))
            .arg("--init-groups")
            .arg("--")
            .args(argv)
            .env("HOME", &self.home)
            .output()
            .unwrap()
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel")
            .args(["-r", "-f", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

pub fn state_file() -> String {
    format!("{SECRET}\n\" WINDOW_SIZE 3\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n{SCRATCH}\n")
}

pub fn code(secret: &str) -> String {
    let o = Command::new("oathtool")
        .args(["--totp", "-b", secret])
        .output()
        .unwrap();
    assert!(o.status.success(), "oathtool");
    String::from_utf8(o.stdout).unwrap().trim().to_owned()
}

/// A 6-digit code that is not valid now (nor in the accepted window).
pub fn wrong_code(secret: &str) -> String {
    let o = Command::new("oathtool")
        .args(["--totp", "-b", "-N", "now + 1 hour", secret])
        .output()
        .unwrap();
    String::from_utf8(o.stdout).unwrap().trim().to_owned()
}

/// A pam_wrapper service directory holding PAM stacks by name.
pub struct Services {
    pub dir: tempfile::TempDir,
}

impl Services {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Write service `name` with these `auth` lines (module paths absolute).
    pub fn add(&self, name: &str, auth_lines: &[String]) {
        let mut text: String = auth_lines.iter().map(|l| format!("auth {l}\n")).collect();
        text.push_str(&format!("account required {PAM_PERMIT}\n"));
        std::fs::write(self.dir.path().join(name), text).unwrap();
    }

    /// `pamtester SERVICE USER OPS...`, answering prompts from `stdin`.
    pub fn pamtester(&self, service: &str, user: &str, ops: &[&str], stdin: &str) -> Run {
        self.pamtester_env(service, user, ops, stdin, &[])
    }

    pub fn pamtester_env(
        &self,
        service: &str,
        user: &str,
        ops: &[&str],
        stdin: &str,
        env: &[(&str, &str)],
    ) -> Run {
        let mut c = Command::new("pamtester");
        c.args(["-v", service, user])
            .args(ops)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("LD_PRELOAD", PAM_WRAPPER)
            .env("PAM_WRAPPER", "1")
            .env("PAM_WRAPPER_SERVICE_DIR", self.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            c.env(k, v);
        }
        let mut child = c.spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        let _ = input.write_all(stdin.as_bytes());
        drop(input);
        let o = child.wait_with_output().unwrap();
        Run {
            ok: o.status.success(),
            out: format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        }
    }
}

/// One pamtester run: exit status and everything it printed (prompts,
/// messages, pam_strerror text, pam_wrapper's syslog capture).
#[derive(Debug)]
pub struct Run {
    pub ok: bool,
    pub out: String,
}

impl Run {
    pub fn prompts(&self, p: &str) -> usize {
        self.out.matches(p).count()
    }
}

/// The module line for the built `libpam_mfa.so` with `args`.
pub fn mfa_line(control: &str, args: &str) -> String {
    format!("{control} {} {args}", module().display())
}
