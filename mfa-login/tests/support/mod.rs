//! A real sshd with mfa-login installed the way docs/login.md says: setgid
//! to a dedicated group that alone reads /etc/mfa/mfa.toml, and the
//! documented sshd_config snippet for the covered users' group.
//!
//! Shared by tests/sshd.rs and tests/sshd_install.rs; each uses a part.
#![allow(dead_code)]

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use mfa_testkit::sshd::{require_binary, require_root, Sshd, SshdBuilder, TestGroup, TestUser};

pub const SECRET: &str = "JBSWY3DPEHPK3PXP";
/// One-use codes in the user's TOTP file: one per connection where a test
/// makes several (the file says DISALLOW_REUSE, so a TOTP code would be
/// good for one connection per 30 s step only).
pub const SCRATCH: [&str; 8] = [
    "12345678", "23456789", "34567890", "45678901", "56789012", "67890123", "78901234", "89012345",
];
/// A marker in the config that must never reach the user.
pub const CONFIG_MARKER: &str = "s3cret-marker-in-config";
/// Where the tests' TOTP file lives. NOT the built-in default
/// (~/.google_authenticator): a login passes only if mfa-login read the
/// config, which only its setgid group may read.
pub const TOTP_FILE: &str = ".mfa-totp";

/// The sshd_config block from docs/login.md, for our binary and group.
/// `keep` filters its lines (the forwarding test drops the lines that close
/// the bypass, to show the bypass is real).
pub fn documented_snippet(
    bin: &Path,
    users_group: &str,
    keep: &dyn Fn(&str) -> bool,
) -> Vec<String> {
    let doc = include_str!("../../../docs/login.md");
    let section = doc
        .split("## sshd_config")
        .nth(1)
        .expect("docs/login.md has an sshd_config section");
    let block = section
        .split("```")
        .nth(1)
        .expect("the section starts with a code block");
    let lines: Vec<String> = block
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .filter(|l| keep(l))
        .map(|l| {
            l.replace("/usr/local/sbin/mfa-login", &bin.display().to_string())
                .replace("mfa-users", users_group)
        })
        .collect();
    assert!(
        lines.iter().any(|l| l.starts_with("Match Group"))
            && lines.iter().any(|l| l.contains("ForceCommand")),
        "unexpected snippet: {lines:?}"
    );
    lines
}

/// Root, sshd, ssh, scp, sftp and oathtool (fail under CI, skip elsewhere).
pub fn prerequisites() -> bool {
    require_root()
        && [
            "sshd",
            "ssh",
            "scp",
            "sftp",
            "ssh-keygen",
            "oathtool",
            "python3",
            "unshare",
        ]
        .iter()
        .all(|b| require_binary(b).is_some())
}

/// The authorized_keys options line from docs/login.md (per key instead of
/// per group), for our binary.
pub fn documented_key_options(bin: &Path) -> String {
    let doc = include_str!("../../../docs/login.md");
    let line = doc
        .lines()
        .find(|l| l.starts_with("command=\"/usr/local/sbin/mfa-login\""))
        .expect("docs/login.md shows an authorized_keys line");
    let options = line.split(" ssh-").next().unwrap_or(line);
    options.replace("/usr/local/sbin/mfa-login", &bin.display().to_string())
}

pub struct Options {
    /// sshd_config lines of the snippet to keep.
    pub keep: Box<dyn Fn(&str) -> bool>,
    /// Install per key (authorized_keys `command=`) instead of the snippet.
    pub per_key: bool,
    /// A login shell other than /bin/sh: writes it under the dir given and
    /// returns its path.
    pub shell: Option<fn(&Path) -> String>,
    /// TOML put at the top of mfa.toml (e.g. a `[general]` section).
    pub config: String,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            keep: Box::new(|_| true),
            per_key: false,
            shell: None,
            config: String::new(),
        }
    }
}

/// Fields drop in order: sshd first, then the accounts, then the files.
pub struct Fixture {
    pub sshd: Sshd,
    pub user: TestUser,
    /// The covered users' group (`mfa-users` in the docs).
    pub users_group: TestGroup,
    /// The dedicated group mfa-login is setgid to.
    pub config_group: TestGroup,
    /// The installed (setgid) copy of mfa-login.
    pub bin: PathBuf,
    /// What sshd's sessions see as /etc/mfa.
    pub etc: PathBuf,
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Self {
        Self::with(Options::default())
    }

    pub fn with(opts: Options) -> Self {
        let dir = tempfile::tempdir().unwrap();
        chmod(dir.path(), 0o755);
        let config_group = TestGroup::create("mfacfg").unwrap();
        let users_group = TestGroup::create("mfausers").unwrap();
        let user = TestUser::create("mfalogin").unwrap();
        user.add_to_group(&users_group.name).unwrap();
        if let Some(shell) = opts.shell {
            user.set_shell(&shell(dir.path())).unwrap();
        }
        let mut totp = format!("{SECRET}\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n");
        for code in SCRATCH {
            totp.push_str(code);
            totp.push('\n');
        }
        user.write_file(TOTP_FILE, totp.as_bytes(), 0o600).unwrap();

        // docs/login.md: /etc/mfa root:mfa 2750, mfa.toml root:mfa 0640,
        // mfa-login root:mfa 2755.
        let etc = dir.path().join("etc-mfa");
        std::fs::create_dir(&etc).unwrap();
        let config = etc.join("mfa.toml");
        std::fs::write(
            &config,
            format!(
                "# {CONFIG_MARKER}\n{}\n[totp]\nsecret = \"~/{TOTP_FILE}\"\n",
                opts.config
            ),
        )
        .unwrap();
        let bin = dir.path().join("mfa-login");
        std::fs::copy(env!("CARGO_BIN_EXE_mfa-login"), &bin).unwrap();
        for (path, mode) in [(&etc, 0o2750), (&config, 0o640), (&bin, 0o2755)] {
            nix::unistd::chown(
                path.as_path(),
                Some(nix::unistd::Uid::from_raw(0)),
                Some(nix::unistd::Gid::from_raw(config_group.gid)),
            )
            .unwrap();
            chmod(path, mode); // after chown, which clears the setgid bit
        }

        let mut builder = SshdBuilder::new().bind(&etc, "/etc/mfa");
        if opts.per_key {
            builder = builder.config("AcceptEnv MFA_PASSCODE");
        } else {
            for line in documented_snippet(&bin, &users_group.name, &*opts.keep) {
                builder = builder.config(&line);
            }
        }
        let sshd = builder.start().unwrap();
        if opts.per_key {
            let line = format!(
                "{} {}",
                documented_key_options(&bin),
                sshd.client_public_key()
            );
            user.write_file(".ssh/authorized_keys", line.as_bytes(), 0o600)
                .unwrap();
        } else {
            user.authorize_key(&sshd.client_public_key()).unwrap();
        }
        Self {
            sshd,
            user,
            users_group,
            config_group,
            bin,
            etc,
            dir,
        }
    }

    /// Writes another file into /etc/mfa (users.toml, a CA), root:group
    /// 0640 like the config. Read at each login, so sshd may be running.
    pub fn write_etc(&self, name: &str, contents: &[u8]) {
        let path = self.etc.join(name);
        std::fs::write(&path, contents).unwrap();
        nix::unistd::chown(
            &path,
            Some(nix::unistd::Uid::from_raw(0)),
            Some(nix::unistd::Gid::from_raw(self.config_group.gid)),
        )
        .unwrap();
        chmod(&path, 0o640);
    }

    /// `ssh` as the test user, sending `MFA_PASSCODE` when given.
    pub fn ssh(&self, passcode: Option<&str>) -> Command {
        let mut c = self.sshd.ssh(&self.user);
        c.args(["-o", "SendEnv=MFA_PASSCODE"]);
        if let Some(p) = passcode {
            c.env("MFA_PASSCODE", p);
        }
        c
    }

    /// `scp` as the test user, set to send `MFA_PASSCODE`.
    pub fn scp(&self) -> Command {
        let mut c = self.sshd.scp(&self.user);
        c.args(["-o", "SendEnv=MFA_PASSCODE"]);
        c
    }

    /// `sftp` as the test user, set to send `MFA_PASSCODE`.
    pub fn sftp(&self) -> Command {
        let mut c = self.sshd.sftp(&self.user);
        c.args(["-o", "SendEnv=MFA_PASSCODE"]);
        c
    }

    /// Why a client command failed: its stderr and sshd's log.
    pub fn explain(&self, o: &Output) -> String {
        format!(
            "status {:?}\nstdout: {}\nstderr: {}\nsshd log:\n{}",
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr),
            self.sshd.log()
        )
    }

    /// The test user's processes (to prove mfa-login did not linger).
    pub fn user_processes(&self) -> Vec<String> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
            let uid = status
                .lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|u| u.parse::<u32>().ok());
            if uid == Some(self.user.uid) {
                let cmd = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
                found.push(String::from_utf8_lossy(&cmd).replace('\0', " "));
            }
        }
        found
    }

    /// Waits (bounded) until the user has no processes left.
    pub fn wait_no_user_processes(&self) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = self.user_processes();
            if left.is_empty() || Instant::now() > deadline {
                return left;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

pub fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The current TOTP code (oathtool, an independent implementation).
pub fn totp_now() -> String {
    totp_codes(0, 0).remove(0)
}

/// Codes for the steps from `before` steps ago to `after` steps ahead.
pub fn totp_codes(before: u64, after: u64) -> Vec<String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let start = now - 30 * before;
    let o = Command::new("oathtool")
        .args([
            "--totp",
            "-b",
            "-N",
            &format!("@{start}"),
            "-w",
            &(before + after).to_string(),
            SECRET,
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "oathtool: {o:?}");
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A six-digit code that is valid for no step near now.
pub fn wrong_code() -> String {
    let near = totp_codes(4, 4);
    (0..)
        .map(|i| format!("{:06}", (314_159 + 7_919 * i) % 1_000_000))
        .find(|c| !near.contains(c))
        .unwrap()
}

/// Runs `cmd` on a pseudo-terminal through tests/support/pty_drive.py.
/// `steps`: "expect", TEXT / "send", TEXT / "close".
pub fn on_terminal(cmd: &Command, steps: &[&str], timeout_secs: u32) -> Output {
    let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/pty_drive.py");
    let mut c = Command::new("python3");
    c.arg(driver)
        .arg(timeout_secs.to_string())
        .args(steps)
        .arg("--")
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c.output().unwrap()
}

/// A loopback TCP server that greets every connection with `PONG\n`.
pub fn pong_server() -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let _ = std::io::Write::write_all(&mut s, b"PONG\n");
        }
    });
    port
}

pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Connects to `port` once something listens there (bounded) and returns
/// what the other end sent before closing (or `None` if nothing listened).
pub fn read_through(port: u16) -> Option<Vec<u8>> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(mut s) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut got = Vec::new();
            let _ = std::io::Read::read_to_end(&mut s, &mut got);
            return Some(got);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}
