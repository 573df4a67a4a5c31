//! Shared helpers for the module's tests under real libpam: the built
//! `libpam_mfa.so`, throw-away accounts, pam_wrapper service directories and
//! pamtester runs.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Base32 secret used by the tests (not a real one).
pub const SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
pub const SCRATCH: &str = "31415926";
pub const PAM_UNIX: &str = "/usr/lib/x86_64-linux-gnu/security/pam_unix.so";
pub const PAM_PERMIT: &str = "/usr/lib/x86_64-linux-gnu/security/pam_permit.so";
pub const PAM_GA: &str = "/usr/lib/x86_64-linux-gnu/security/pam_google_authenticator.so";
pub const PAM_SET_ITEMS: &str = "/usr/lib/x86_64-linux-gnu/pam_wrapper/pam_set_items.so";
pub const PAM_WRAPPER: &str = "/usr/lib/x86_64-linux-gnu/libpam_wrapper.so";

pub use mfa_testkit::sshd::require;

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

/// A release artefact, refusing a missing or stale one: a test of an old
/// build proves nothing. Stale means older than a source file cargo's
/// dep-info (`NAME.d`) lists for it. CI builds `--release` before
/// `cargo test`.
pub fn release_artefact(name: &str) -> PathBuf {
    let dir = target_dir().join("release");
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --workspace --release` first",
        p.display()
    );
    let built = std::fs::metadata(&p).unwrap().modified().unwrap();
    let stem = name.strip_suffix(".so").unwrap_or(name);
    let deps = std::fs::read_to_string(dir.join(format!("{stem}.d"))).unwrap_or_default();
    let sources = deps
        .lines()
        .next()
        .and_then(|l| l.split_once(": "))
        .map(|(_, s)| s);
    for src in sources.unwrap_or_default().split_whitespace() {
        let changed = std::fs::metadata(src).and_then(|m| m.modified());
        assert!(
            changed.map_or(true, |m| m <= built),
            "{} is older than {src}: run `cargo build --workspace --release`",
            p.display()
        );
    }
    p
}

pub fn module() -> PathBuf {
    release_artefact("libpam_mfa.so")
}

/// A throw-away account (the shared sshd harness's), with the helpers the
/// module tests use. Derefs to the harness's `TestUser` (`name`, `uid`,
/// `gid`, `home`, `authorize_key`, ...).
pub struct TestUser(mfa_testkit::sshd::TestUser);

impl std::ops::Deref for TestUser {
    type Target = mfa_testkit::sshd::TestUser;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl TestUser {
    pub fn create(prefix: &str) -> Self {
        Self(mfa_testkit::sshd::TestUser::create(prefix).unwrap())
    }

    pub fn set_password(&self, pw: &str) {
        self.0.set_password(pw).unwrap();
    }

    /// Write `~/rel` owned by the user.
    pub fn write_file(&self, rel: &str, contents: &str, mode: u32) -> PathBuf {
        self.0.write_file(rel, contents.as_bytes(), mode).unwrap()
    }

    /// A google_authenticator state file in `~/.google_authenticator`:
    /// TOTP, reuse disallowed, one scratch code.
    pub fn enrol(&self) -> PathBuf {
        self.write_file(".google_authenticator", &state_file(), 0o600)
    }

    /// Run a command as this user (real and effective ids, its groups).
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

pub fn new_user(prefix: &str) -> TestUser {
    TestUser::create(prefix)
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
///
/// pam_wrapper copies the directory into `/tmp/pam.<letter>` for every
/// process that starts PAM, and two processes that pick the same letter
/// at the same instant share it (its failed `mkdir` is only logged), each
/// copying its own services in. So every stack here is stored under a
/// name no other `Services` uses (`name-<tag>`): a process that shares a
/// config dir with another test's still reads its own stack.
pub struct Services {
    pub dir: tempfile::TempDir,
    tag: String,
}

impl Services {
    pub fn new() -> Self {
        let mut tag = [0u8; 6];
        getrandom::getrandom(&mut tag).unwrap();
        Self {
            dir: tempfile::tempdir().unwrap(),
            // Lower case: libpam lowers service names.
            tag: data_encoding::HEXLOWER.encode(&tag),
        }
    }

    /// The PAM service name that stack `name` is stored under.
    pub fn service(&self, name: &str) -> String {
        format!("{name}-{}", self.tag)
    }

    /// The file holding stack `name`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(self.service(name))
    }

    /// Write service `name` with these `auth` lines (module paths absolute).
    pub fn add(&self, name: &str, auth_lines: &[String]) {
        let mut text: String = auth_lines.iter().map(|l| format!("auth {l}\n")).collect();
        text.push_str(&format!("account required {PAM_PERMIT}\n"));
        std::fs::write(self.path(name), text).unwrap();
    }

    /// An sshd under pam_wrapper whose PAM stack is this directory's
    /// `sshd` (with a permissive session stack added to the auth lines).
    pub fn sshd(&self, auth_lines: &[String]) -> mfa_testkit::sshd::SshdBuilder {
        self.add("sshd", auth_lines);
        let path = self.path("sshd");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(&format!("session required {PAM_PERMIT}\n"));
        std::fs::write(&path, text).unwrap();
        mfa_testkit::sshd::SshdBuilder::new()
            .program_name(&self.service("sshd"))
            .env("LD_PRELOAD", PAM_WRAPPER)
            .env("PAM_WRAPPER", "1")
            .env(
                "PAM_WRAPPER_SERVICE_DIR",
                &self.dir.path().display().to_string(),
            )
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
        self.pamtester_full(&[], service, user, ops, stdin, env)
    }

    /// As `pamtester`, with PAM_RHOST set to `rhost` (as sshd sets it).
    pub fn pamtester_from(
        &self,
        rhost: &str,
        service: &str,
        user: &str,
        ops: &[&str],
        stdin: &str,
    ) -> Run {
        let item = format!("rhost={rhost}");
        self.pamtester_full(&["-I", &item], service, user, ops, stdin, &[])
    }

    fn pamtester_full(
        &self,
        options: &[&str],
        service: &str,
        user: &str,
        ops: &[&str],
        stdin: &str,
        env: &[(&str, &str)],
    ) -> Run {
        let mut c = Command::new("pamtester");
        c.arg("-v")
            .args(options)
            .arg(self.service(service))
            .arg(user)
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

/// The prerequisites, and an enrolled throw-away user with a fresh service
/// directory; `None` when a prerequisite is missing outside CI.
pub fn setup(prefix: &str) -> Option<(TestUser, Services)> {
    if !prerequisites() {
        return None;
    }
    let user = new_user(prefix);
    user.enrol();
    Some((user, Services::new()))
}
