//! A Debian-like directory tree for `mfa install | uninstall | doctor
//! --root`: sshd_config with the drop-in include and a real host key (the
//! real `sshd -t` reads it), Debian's PAM files, two accounts (root and
//! alice, both enrolled), stand-ins for pam_mfa.so and pam_mfa_net.so and a setgid mfa-login.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The group `mfa` inside the tree (need not exist on the machine).
pub const MFA_GID: u32 = 4711;

pub const SSHD_CONFIG: &str = "Include /etc/ssh/sshd_config.d/*.conf\n\
    HostKey /etc/ssh/ssh_host_ed25519_key\n\
    KbdInteractiveAuthentication no\n\
    UsePAM yes\n\
    X11Forwarding yes\n\
    PrintMotd no\n\
    AcceptEnv LANG LC_*\n\
    Subsystem sftp /usr/lib/openssh/sftp-server\n";

pub const PAM_SSHD: &str = "# PAM configuration for the Secure Shell service\n\n\
    # Standard Un*x authentication.\n@include common-auth\n\n\
    account    required     pam_nologin.so\n@include common-account\n\
    session    required     pam_loginuid.so\n@include common-session\n";

pub const COMMON_AUTH: &str = "auth\t[success=1 default=ignore]\tpam_unix.so nullok\n\
    auth\trequisite\t\t\tpam_deny.so\n\
    auth\trequired\t\t\tpam_permit.so\n\
    auth\toptional\t\t\tpam_cap.so \n";

pub struct TempRoot {
    pub dir: tempfile::TempDir,
}

impl TempRoot {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("mfa-root-")
            .tempdir()
            .unwrap();
        let r = Self { dir };
        r.write("/etc/ssh/sshd_config", SSHD_CONFIG);
        std::fs::create_dir_all(r.path("/etc/ssh/sshd_config.d")).unwrap();
        std::fs::create_dir_all(r.path("/var/lib")).unwrap();
        let key = r.path("/etc/ssh/ssh_host_ed25519_key");
        let o = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key)
            .output()
            .unwrap();
        assert!(o.status.success(), "{o:?}");
        r.write("/etc/pam.d/sshd", PAM_SSHD);
        r.write("/etc/pam.d/common-auth", COMMON_AUTH);
        r.write(
            "/etc/pam.d/common-account",
            "account\trequired\tpam_unix.so\n",
        );
        r.write(
            "/etc/pam.d/common-session",
            "session\trequired\tpam_unix.so\n",
        );
        r.write(
            "/etc/passwd",
            "root:x:0:0:root:/root:/bin/bash\n\
             daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
             alice:x:1000:1000:Alice:/home/alice:/bin/bash\n",
        );
        r.write(
            "/etc/group",
            &format!("root:x:0:\nalice:x:1000:\nstaff:x:50:alice\nmfa:x:{MFA_GID}:\n"),
        );
        r.write(
            "/root/.google_authenticator",
            "ABCDEFGHIJKLMNOP\n\" TOTP_AUTH\n",
        );
        r.write(
            "/home/alice/.google_authenticator",
            "ABCDEFGHIJKLMNOP\n\" TOTP_AUTH\n",
        );
        let arch = std::env::consts::ARCH;
        r.write(
            &format!("/usr/lib/{arch}-linux-gnu/security/pam_mfa.so"),
            "stand-in",
        );
        r.write(
            &format!("/usr/lib/{arch}-linux-gnu/security/pam_mfa_net.so"),
            "stand-in",
        );
        r.write("/usr/sbin/mfa-login", "#!/bin/sh\n");
        std::os::unix::fs::chown(r.path("/usr/sbin/mfa-login"), Some(0), Some(MFA_GID)).unwrap();
        r.chmod("/usr/sbin/mfa-login", 0o2755);
        r
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Where logical path `p` is in the tree.
    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p.trim_start_matches('/'))
    }

    pub fn write(&self, p: &str, text: &str) {
        let path = self.path(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    pub fn read(&self, p: &str) -> String {
        std::fs::read_to_string(self.path(p)).unwrap_or_default()
    }

    pub fn chmod(&self, p: &str, mode: u32) {
        std::fs::set_permissions(self.path(p), std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// Every file and directory (but the backups) with mode, owner and
    /// content: what "byte-identical" compares.
    pub fn snapshot(&self) -> BTreeMap<PathBuf, (u32, u32, u32, Vec<u8>)> {
        let mut out = BTreeMap::new();
        let mut stack = vec![self.dir.path().to_owned()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                let rel = p.strip_prefix(self.dir.path()).unwrap().to_owned();
                if rel.starts_with("var/lib/mfa") {
                    continue;
                }
                let m = std::fs::symlink_metadata(&p).unwrap();
                let content = if m.is_dir() {
                    stack.push(p.clone());
                    Vec::new()
                } else {
                    std::fs::read(&p).unwrap()
                };
                out.insert(rel, (m.mode(), m.uid(), m.gid(), content));
            }
        }
        out
    }

    /// Asserts the tree is as in `before` (a snapshot), naming the paths
    /// that differ rather than printing both trees.
    pub fn assert_unchanged(&self, before: &BTreeMap<PathBuf, (u32, u32, u32, Vec<u8>)>) {
        let now = self.snapshot();
        let differ: Vec<String> = before
            .keys()
            .chain(now.keys())
            .filter(|k| before.get(*k) != now.get(*k))
            .map(|k| {
                format!(
                    "{}: {}",
                    k.display(),
                    String::from_utf8_lossy(&now.get(k).map(|v| v.3.clone()).unwrap_or_default())
                )
            })
            .collect();
        assert!(differ.is_empty(), "changed: {differ:#?}");
    }

    /// `mfa ARGS --root DIR` as root run by alice through sudo.
    pub fn mfa(&self, args: &[&str]) -> Output {
        super::mfa()
            .args(args)
            .arg("--root")
            .arg(self.root())
            .env("SUDO_USER", "alice")
            .output()
            .unwrap()
    }

    /// The backups `mfa install` left.
    pub fn backups(&self) -> Vec<String> {
        std::fs::read_dir(self.path("/var/lib/mfa/backup"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The prerequisites of the tree: root (chown), sshd and ssh-keygen.
pub fn prerequisites() -> bool {
    mfa_testkit::sshd::require_root()
        && mfa_testkit::sshd::require_binary("sshd").is_some()
        && mfa_testkit::sshd::require_binary("ssh-keygen").is_some()
}

pub fn explain(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
