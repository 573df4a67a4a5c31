//! A real OpenSSH sshd on 127.0.0.1 for end-to-end tests, shared by the
//! mfa-login and PAM module tests.
//!
//! ```no_run
//! use mfa_testkit::sshd::{require_binary, require_root, SshdBuilder, TestUser};
//! if !require_root() || require_binary("sshd").is_none() {
//!     return;
//! }
//! let user = TestUser::create("mfa-doc").unwrap(); // declared first: dropped last
//! let sshd = SshdBuilder::new().config("AcceptEnv LANG").start().unwrap();
//! user.authorize_key(&sshd.client_public_key()).unwrap();
//! let out = sshd.ssh(&user).arg("echo ok").output().unwrap();
//! assert_eq!(out.stdout, b"ok\n", "{}", sshd.log());
//! ```
//!
//! Each [`Sshd`] has its own temp dir with a host key, a client key, the
//! config and the log, listens on a free loopback port, and is killed on
//! drop. Needs root (sshd's privilege separation, accounts).

mod askpass;
mod user;

pub use askpass::askpass;
pub use user::{require, require_binary, require_root, TestGroup, TestUser};

use std::fs::File;
use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use user::find_binary;

/// Where every test sshd listens.
pub const HOST: &str = "127.0.0.1";

/// How long `start` waits for sshd to answer with its banner.
const START_DEADLINE: Duration = Duration::from_secs(15);

/// Settings the tests rely on unless a test gives the keyword itself.
/// (sshd_config takes the FIRST value of a keyword, so the test's lines go
/// before these.)
const DEFAULTS: &[&str] = &[
    "PidFile none",
    "UsePAM no",
    "PubkeyAuthentication yes",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "AuthorizedKeysFile .ssh/authorized_keys",
    "StrictModes yes",
    "PermitRootLogin no",
    "UseDNS no",
    "PrintMotd no",
    "PrintLastLog no",
    "X11Forwarding no",
    "LogLevel VERBOSE",
    "LoginGraceTime 60",
    "Subsystem sftp /usr/lib/openssh/sftp-server",
];

/// Builds and starts a test sshd.
#[derive(Debug, Default, Clone)]
pub struct SshdBuilder {
    lines: Vec<String>,
    env: Vec<(String, String)>,
    binds: Vec<(PathBuf, PathBuf)>,
    program_name: Option<String>,
}

impl SshdBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// An sshd_config line (`ForceCommand ...`, `AuthenticationMethods ...`,
    /// `UsePAM yes`, `Match ...`). Lines before the first `Match` override
    /// the harness defaults; `Match` blocks go at the end of the file.
    pub fn config(mut self, line: &str) -> Self {
        self.lines.push(line.to_owned());
        self
    }

    /// An environment variable for sshd (and so for PAM modules it loads),
    /// e.g. `LD_PRELOAD=libpam_wrapper.so`. sshd starts from an empty
    /// environment plus `PATH` and these.
    pub fn env(mut self, key: &str, val: &str) -> Self {
        self.env.push((key.to_owned(), val.to_owned()));
        self
    }

    /// Runs sshd as `name` (a symlink to it in its temp dir). sshd names
    /// its PAM service after the program (`__progname`), so this sshd
    /// authenticates with the PAM service `name`: tests that run in
    /// parallel each get a stack no other sshd reads, even when
    /// pam_wrapper hands two processes the same config dir.
    pub fn program_name(mut self, name: &str) -> Self {
        self.program_name = Some(name.to_owned());
        self
    }

    /// Bind-mounts `src` on `dst` for sshd and its sessions only: sshd runs
    /// in a private mount namespace, so e.g. a test config appears at
    /// `/etc/mfa` without touching the machine's. `dst` is created (and
    /// left, empty) if missing, as the mount point must exist.
    pub fn bind(mut self, src: impl Into<PathBuf>, dst: impl Into<PathBuf>) -> Self {
        self.binds.push((src.into(), dst.into()));
        self
    }

    /// The sshd_config text for `port` with host key `host_key`.
    fn render(&self, port: u16, host_key: &Path) -> String {
        let split = self
            .lines
            .iter()
            .position(|l| keyword(l).eq_ignore_ascii_case("match"))
            .unwrap_or(self.lines.len());
        let (head, tail) = self.lines.split_at(split);
        let mut out = format!(
            "# test sshd (mfa_testkit::sshd)\nListenAddress {HOST}:{port}\nHostKey {}\n",
            host_key.display()
        );
        for line in head {
            out.push_str(line);
            out.push('\n');
        }
        for default in DEFAULTS {
            if !head
                .iter()
                .any(|l| keyword(l).eq_ignore_ascii_case(keyword(default)))
            {
                out.push_str(default);
                out.push('\n');
            }
        }
        for line in tail {
            out.push_str(line);
            out.push('\n');
        }
        out
    }

    /// Starts sshd and waits (bounded) until it answers with its banner.
    /// A port taken between choosing and binding it is retried.
    pub fn start(self) -> io::Result<Sshd> {
        let sshd = find_binary("sshd").ok_or_else(|| io::Error::other("sshd not installed"))?;
        std::fs::create_dir_all("/run/sshd")?; // privilege separation dir
        let tmp = tempfile::Builder::new().prefix("mfa-sshd-").tempdir()?;
        let dir = tmp.path().to_path_buf();
        // Readable so a test may put things there for its users; the keys
        // inside are 0600.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
        let host_key = dir.join("host_ed25519");
        let client_key = dir.join("client_ed25519");
        keygen(&host_key, "mfa-test-host")?;
        keygen(&client_key, "mfa-test-client")?;
        for (_, dst) in &self.binds {
            std::fs::create_dir_all(dst)?;
        }
        let sshd = match &self.program_name {
            Some(name) => {
                let link = dir.join(name);
                std::os::unix::fs::symlink(&sshd, &link)?;
                link
            }
            None => sshd,
        };
        let config = dir.join("sshd_config");
        let log = dir.join("sshd.log");
        let mut last_log = String::new();
        for _ in 0..5 {
            let port = free_port()?;
            std::fs::write(&config, self.render(port, &host_key))?;
            let _ = std::fs::remove_file(&log);
            let mut child = self.spawn(&sshd, &config, &log)?;
            match wait_until_listening(&mut child, port, &log) {
                Ok(()) => {
                    return Ok(Sshd {
                        port,
                        dir,
                        _tmp: tmp,
                        child,
                        client_key,
                        log,
                    })
                }
                Err(e) => {
                    stop(&mut child);
                    last_log = std::fs::read_to_string(&log).unwrap_or_default();
                    if !last_log.contains("Address already in use") {
                        return Err(io::Error::other(format!(
                            "sshd did not start: {e}\n{last_log}"
                        )));
                    }
                }
            }
        }
        Err(io::Error::other(format!("sshd: no free port\n{last_log}")))
    }

    fn spawn(&self, sshd: &Path, config: &Path, log: &Path) -> io::Result<Child> {
        let mut cmd = if self.binds.is_empty() {
            Command::new(sshd)
        } else {
            // unshare execs sh, which mounts and execs sshd: the child's pid
            // is sshd's, so killing it stops the server.
            let mut c = Command::new("unshare");
            c.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
                .arg(r#"while [ "$1" != -- ]; do mount --bind "$1" "$2" || exit 1; shift 2; done; shift; exec "$@""#)
                .arg("sh");
            for (src, dst) in &self.binds {
                c.arg(src).arg(dst);
            }
            c.arg("--").arg(sshd);
            c
        };
        cmd.arg("-D")
            .arg("-f")
            .arg(config)
            .arg("-E")
            .arg(log)
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            // Errors before sshd opens its log (or from mount) land there too.
            .stderr(File::options().create(true).append(true).open(log)?);
        cmd.spawn()
    }
}

/// A running test sshd; killed on drop.
#[derive(Debug)]
pub struct Sshd {
    pub port: u16,
    /// Temp dir with the keys, `sshd_config` and `sshd.log`; removed on drop.
    pub dir: PathBuf,
    _tmp: tempfile::TempDir,
    child: Child,
    client_key: PathBuf,
    log: PathBuf,
}

impl Sshd {
    /// Options for `ssh`, `scp` and `sftp` talking to this server as `user`:
    /// no config files, this port, only the test client key, no agent, no
    /// known_hosts, bounded connect. The destination is [`HOST`].
    pub fn client_args(&self, user: &TestUser, preferred_auth: &str) -> Vec<String> {
        let mut args = vec![
            "-F".to_owned(),
            "none".to_owned(),
            "-i".to_owned(),
            self.client_key.display().to_string(),
        ];
        for opt in [
            format!("Port={}", self.port),
            format!("User={}", user.name),
            format!("PreferredAuthentications={preferred_auth}"),
            "IdentitiesOnly=yes".to_owned(),
            "IdentityAgent=none".to_owned(),
            "UserKnownHostsFile=/dev/null".to_owned(),
            "GlobalKnownHostsFile=/dev/null".to_owned(),
            "StrictHostKeyChecking=no".to_owned(),
            "UpdateHostKeys=no".to_owned(),
            "ConnectTimeout=10".to_owned(),
            "ConnectionAttempts=1".to_owned(),
            "ServerAliveInterval=5".to_owned(),
            "ServerAliveCountMax=6".to_owned(),
            "ControlMaster=no".to_owned(),
            "ControlPath=none".to_owned(),
            "ForwardAgent=no".to_owned(),
            "ForwardX11=no".to_owned(),
            "LogLevel=ERROR".to_owned(),
        ] {
            args.push("-o".to_owned());
            args.push(opt);
        }
        args
    }

    /// `ssh ... 127.0.0.1` with publickey, then keyboard-interactive and
    /// password. Add the remote command with `.arg(..)`; options added
    /// after the host are still parsed by OpenSSH, but an option the harness
    /// already set cannot be changed (ssh keeps the first value).
    pub fn ssh(&self, user: &TestUser) -> Command {
        self.ssh_with(user, "publickey,keyboard-interactive,password")
    }

    /// `ssh` with these `PreferredAuthentications`.
    pub fn ssh_with(&self, user: &TestUser, preferred_auth: &str) -> Command {
        let mut cmd = self.client("ssh", user, preferred_auth);
        cmd.arg(HOST);
        cmd
    }

    /// `scp` with the same options; name remote files `127.0.0.1:PATH`.
    pub fn scp(&self, user: &TestUser) -> Command {
        self.client("scp", user, "publickey")
    }

    /// `sftp` with the same options; the destination is [`HOST`].
    pub fn sftp(&self, user: &TestUser) -> Command {
        self.client("sftp", user, "publickey")
    }

    fn client(&self, program: &str, user: &TestUser, preferred_auth: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(self.client_args(user, preferred_auth));
        // Nothing from the developer's session may leak into a test login.
        for var in [
            "SSH_AUTH_SOCK",
            "SSH_ASKPASS",
            "SSH_ASKPASS_REQUIRE",
            "DISPLAY",
            "MFA_PASSCODE",
        ] {
            cmd.env_remove(var);
        }
        cmd
    }

    /// The `authorized_keys` line for the test client key.
    pub fn client_public_key(&self) -> String {
        std::fs::read_to_string(self.client_key.with_extension("pub")).unwrap_or_default()
    }

    pub fn client_key_path(&self) -> &Path {
        &self.client_key
    }

    /// sshd's log so far, for assertion messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// SIGTERM, then SIGKILL if sshd has not gone within a second.
fn stop(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn keyword(line: &str) -> &str {
    line.split_whitespace().next().unwrap_or("")
}

fn keygen(path: &Path, comment: &str) -> io::Result<()> {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "ssh-keygen: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(())
}

/// A loopback port nobody listens on right now (sshd binds it a moment
/// later; `start` retries if another test took it meanwhile).
fn free_port() -> io::Result<u16> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(l.local_addr()?.port())
}

/// Until our sshd logged that it listens and the port answers with an SSH
/// banner, sshd exits, or the deadline passes. (The log line matters: a
/// banner alone could come from another test's sshd that took the port.
/// Hence a test must keep `LogLevel` at INFO or more verbose.)
fn wait_until_listening(child: &mut Child, port: u16, log: &Path) -> io::Result<()> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + START_DEADLINE;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            return Err(io::Error::other(format!("sshd exited: {status}")));
        }
        let listening = std::fs::read_to_string(log)
            .map(|l| l.contains("Server listening on"))
            .unwrap_or(false);
        if listening {
            if let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                s.set_read_timeout(Some(Duration::from_secs(2)))?;
                let mut banner = [0u8; 8];
                if s.read_exact(&mut banner).is_ok() && &banner == b"SSH-2.0-" {
                    return Ok(());
                }
            }
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    Err(io::Error::other("sshd not listening before the deadline"))
}

#[cfg(test)]
mod tests;
