//! Prerequisite checks and throw-away system accounts for end-to-end tests.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// Under `CI=true` a missing prerequisite fails the test (CI promises to
/// provide it, so its absence is a broken CI, not a reason to go green);
/// elsewhere the test is skipped with a note on stderr. Returns `ok`.
// A panic is how a Rust test fails; this function is only ever called from
// tests (mfa-testkit is only ever a dev-dependency).
#[allow(clippy::panic)]
pub fn require(ok: bool, what: &str) -> bool {
    if !ok {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("prerequisite missing under CI=true: {what}");
        }
        eprintln!("SKIPPED: prerequisite missing: {what}");
    }
    ok
}

/// The test runs as root (creating accounts and starting sshd need it).
pub fn require_root() -> bool {
    require(nix::unistd::geteuid().is_root(), "root")
}

/// Finds `name` in the system directories and `PATH` (sshd lives in
/// /usr/sbin, which is often not on a user's PATH).
pub fn require_binary(name: &str) -> Option<PathBuf> {
    let found = find_binary(name);
    require(found.is_some(), &format!("the `{name}` program"));
    found
}

pub(crate) fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .into_iter()
        .map(str::to_owned)
        .chain(path.split(':').map(str::to_owned))
        .map(|d| Path::new(&d).join(name))
        .find(|p| {
            p.metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// Runs an account-database tool, retrying while another test holds the
/// /etc/passwd lock (tests create accounts in parallel).
pub(crate) fn run_admin(program: &str, args: &[&str], stdin: Option<&[u8]>) -> io::Result<Output> {
    let mut last = None;
    for _ in 0..50 {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn()?;
        if let Some(mut pipe) = child.stdin.take() {
            use io::Write;
            pipe.write_all(stdin.unwrap_or_default())?;
        }
        let out = child.wait_with_output()?;
        if out.status.success() {
            return Ok(out);
        }
        let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
        if !err.contains("lock") {
            return Err(admin_error(program, args, &out));
        }
        last = Some(out);
        std::thread::sleep(Duration::from_millis(100));
    }
    match last {
        Some(out) => Err(admin_error(program, args, &out)),
        None => Err(io::Error::other(format!("{program}: never ran"))),
    }
}

fn admin_error(program: &str, args: &[&str], out: &Output) -> io::Error {
    io::Error::other(format!(
        "{program} {}: {} {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

/// A real system account for one test: `useradd` with a home and /bin/sh,
/// `userdel -r` on drop. Names are unique (prefix + random suffix), so tests
/// run in parallel.
///
/// The password field is `*` (no password, but NOT locked): sshd without
/// PAM refuses even publickey logins to locked (`!`) accounts.
#[derive(Debug)]
pub struct TestUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
}

impl TestUser {
    pub fn create(prefix: &str) -> io::Result<Self> {
        let name = unique_name(prefix)?;
        run_admin(
            "useradd",
            &["-m", "-s", "/bin/sh", "-p", "*", "--", &name],
            None,
        )?;
        let user = nix::unistd::User::from_name(&name)
            .map_err(io::Error::from)?
            .ok_or_else(|| io::Error::other(format!("{name}: created but not found")))?;
        Ok(Self {
            name,
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
            home: user.dir,
        })
    }

    /// Sets the login shell (e.g. a shell that keeps its ids, to prove a
    /// privilege was dropped before exec).
    pub fn set_shell(&self, shell: &str) -> io::Result<()> {
        run_admin("usermod", &["-s", shell, "--", &self.name], None).map(drop)
    }

    pub fn set_password(&self, pw: &str) -> io::Result<()> {
        let line = format!("{}:{pw}\n", self.name);
        run_admin("chpasswd", &[], Some(line.as_bytes())).map(drop)
    }

    /// Adds the user to a supplementary group (e.g. a [`TestGroup`]).
    pub fn add_to_group(&self, group: &str) -> io::Result<()> {
        run_admin("usermod", &["-a", "-G", group, "--", &self.name], None).map(drop)
    }

    /// Appends a line to `~/.ssh/authorized_keys`, with the owner and modes
    /// sshd's `StrictModes` insists on.
    pub fn authorize_key(&self, public_key_line: &str) -> io::Result<()> {
        let path = self.home.join(".ssh/authorized_keys");
        let mut contents = std::fs::read(&path).unwrap_or_default();
        contents.extend_from_slice(public_key_line.trim_end().as_bytes());
        contents.push(b'\n');
        self.write_file(".ssh/authorized_keys", &contents, 0o600)
            .map(drop)
    }

    /// Writes `~/rel` owned by the user with `mode`; missing parent
    /// directories are created owned by the user, mode 0700.
    pub fn write_file(&self, rel: &str, contents: &[u8], mode: u32) -> io::Result<PathBuf> {
        let rel = Path::new(rel);
        if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{}: not a plain relative path", rel.display()),
            ));
        }
        let mut dir = self.home.clone();
        if let Some(parent) = rel.parent() {
            for part in parent.components() {
                dir.push(part);
                if !dir.exists() {
                    std::fs::create_dir(&dir)?;
                    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
                    self.chown(&dir)?;
                }
            }
        }
        let path = self.home.join(rel);
        std::fs::write(&path, contents)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
        self.chown(&path)?;
        Ok(path)
    }

    fn chown(&self, path: &Path) -> io::Result<()> {
        nix::unistd::chown(
            path,
            Some(nix::unistd::Uid::from_raw(self.uid)),
            Some(nix::unistd::Gid::from_raw(self.gid)),
        )
        .map_err(io::Error::from)
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        // -f: a session sshd has not reaped yet must not keep the account.
        if let Err(e) = run_admin("userdel", &["-f", "-r", "--", &self.name], None) {
            eprintln!("warning: cannot remove test user: {e}");
        }
    }
}

/// A system group for one test (`groupadd`; `groupdel` on drop), named
/// like [`TestUser`]s: prefix + random suffix.
#[derive(Debug)]
pub struct TestGroup {
    pub name: String,
    pub gid: u32,
}

impl TestGroup {
    pub fn create(prefix: &str) -> io::Result<Self> {
        let name = unique_name(prefix)?;
        run_admin("groupadd", &["--", &name], None)?;
        let group = nix::unistd::Group::from_name(&name)
            .map_err(io::Error::from)?
            .ok_or_else(|| io::Error::other(format!("{name}: created but not found")))?;
        Ok(Self {
            name,
            gid: group.gid.as_raw(),
        })
    }
}

impl Drop for TestGroup {
    fn drop(&mut self) {
        if let Err(e) = run_admin("groupdel", &["--", &self.name], None) {
            eprintln!("warning: cannot remove test group: {e}");
        }
    }
}

/// `prefix-xxxxxxxx`: lowercase, starts with a letter, at most 32 bytes.
fn unique_name(prefix: &str) -> io::Result<String> {
    let mut clean: String = prefix
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
        .take(20)
        .collect();
    if !clean.starts_with(|c: char| c.is_ascii_lowercase()) {
        clean.insert(0, 't');
    }
    let mut suffix = [0u8; 4];
    getrandom::getrandom(&mut suffix).map_err(|e| io::Error::other(e.to_string()))?;
    let hex: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{clean}-{hex}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_valid_and_unique() {
        let a = unique_name("Login_Test!").unwrap();
        let b = unique_name("Login_Test!").unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("logintest-"), "{a}");
        assert!(unique_name("7x").unwrap().starts_with("t7x-"));
        assert!(unique_name(&"a".repeat(64)).unwrap().len() <= 32);
    }

    #[test]
    fn finds_sbin_programs_off_path() {
        assert!(find_binary("sh").is_some());
        assert!(find_binary("no-such-program-mfa").is_none());
    }

    #[test]
    fn write_file_refuses_escaping_paths() {
        let u = TestUser {
            name: String::new(),
            uid: 0,
            gid: 0,
            home: PathBuf::from("/nonexistent"),
        };
        for bad in ["../x", "/etc/passwd", "a/../../b"] {
            let e = u.write_file(bad, b"", 0o600).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad}");
        }
        std::mem::forget(u); // not a real account: nothing to userdel
    }
}
