//! mfa-login run the way sshd runs a ForceCommand, without sshd: no
//! terminal, the client's command in SSH_ORIGINAL_COMMAND, the passcode in
//! MFA_PASSCODE. The end-to-end tests under a real sshd live in
//! tests/sshd.rs and tests/sshd_install.rs.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use mfa_testkit::sshd::{require_root, TestGroup, TestUser};

const SECRET: &str = "JBSWY3DPEHPK3PXP";

fn code_now(secret: &str) -> String {
    let out = Command::new("oathtool")
        .args(["--totp", "-b", secret])
        .output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8(o.stdout).unwrap().trim().to_owned(),
        _ => {
            assert_ne!(
                std::env::var("CI").as_deref(),
                Ok("true"),
                "oathtool is required under CI"
            );
            String::new()
        }
    }
}

struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
}

/// A TOTP state file for the current user and a config pointing at it.
fn setup(extra_state: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let ga = dir.path().join("ga");
    std::fs::write(
        &ga,
        format!("{SECRET}\n\" DISALLOW_REUSE\n{extra_state}\" TOTP_AUTH\n"),
    )
    .unwrap();
    std::fs::set_permissions(&ga, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config = dir.path().join("mfa.toml");
    std::fs::write(&config, format!("[totp]\nsecret = \"{}\"\n", ga.display())).unwrap();
    Setup { dir, config }
}

fn login(config: &Path, command: &str, passcode: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mfa-login"));
    c.arg("-c").arg(config);
    c.env("SSH_ORIGINAL_COMMAND", command)
        .env("SSH_CONNECTION", "203.0.113.9 40000 127.0.0.1 22")
        .env_remove("MFA_PASSCODE")
        .stdin(Stdio::null());
    if let Some(p) = passcode {
        c.env("MFA_PASSCODE", p);
    }
    c.output().unwrap()
}

#[test]
fn passcode_runs_the_command_with_a_clean_stdout() {
    if !require_root() {
        return;
    }
    let s = setup("");
    let code = code_now(SECRET);
    if code.is_empty() {
        return;
    }
    let o = login(&s.config, "echo hello", Some(&code));
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        o.stdout, b"hello\n",
        "nothing but the command's output on stdout"
    );
    // The same code again is a reuse: denied, stdout still empty.
    let o = login(&s.config, "echo hello", Some(&code));
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    assert!(String::from_utf8_lossy(&o.stderr).contains("access denied"));
}

#[test]
fn the_command_never_sees_the_passcode() {
    if !require_root() {
        return;
    }
    let s = setup("");
    let code = code_now(SECRET);
    if code.is_empty() {
        return;
    }
    let o = login(&s.config, "env", Some(&code));
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let env = String::from_utf8_lossy(&o.stdout);
    assert!(!env.contains("MFA_PASSCODE"), "{env}");
    assert!(!env.contains(&code));
    assert!(env.contains("SSH_ORIGINAL_COMMAND=env"));
}

#[test]
fn wrong_or_missing_passcode_denies_without_running_anything() {
    if !require_root() {
        return;
    }
    let s = setup("");
    let marker = s.dir.path().join("ran");
    let cmd = format!("touch {}", marker.display());
    for pass in [Some("000000"), Some("not-a-code"), None] {
        let o = login(&s.config, &cmd, pass);
        assert_eq!(o.status.code(), Some(1), "{pass:?}");
        assert!(o.stdout.is_empty());
        assert!(!marker.exists(), "{pass:?}: the command must not run");
    }
}

/// mfa-login has no PAM stack around it: the session's pause after a
/// wrong code is what slows guessing through it.
#[test]
fn a_wrong_passcode_is_refused_only_after_the_fail_delay() {
    if !require_root() {
        return;
    }
    let s = setup("");
    let ga = s.dir.path().join("ga");
    std::fs::write(
        &s.config,
        format!(
            "[general]\nfail_delay_ms = 1500\n[totp]\nsecret = \"{}\"\n",
            ga.display()
        ),
    )
    .unwrap();
    let code = code_now(SECRET);
    if code.is_empty() {
        return;
    }
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let delay = std::time::Duration::from_millis(1500);
    let start = std::time::Instant::now();
    let o = login(&s.config, "true", Some(wrong));
    let took = start.elapsed();
    assert_eq!(o.status.code(), Some(1));
    assert!(took >= delay, "refused after {took:?}");
    // Nothing typed (no MFA_PASSCODE): nothing was checked, no pause.
    let start = std::time::Instant::now();
    let o = login(&s.config, "true", None);
    assert_eq!(o.status.code(), Some(1));
    assert!(start.elapsed() < delay, "{:?}", start.elapsed());
    let start = std::time::Instant::now();
    let o = login(&s.config, "true", Some(&code));
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(start.elapsed() < delay, "{:?}", start.elapsed());
}

/// mfa-login run as [`login`] does, with syslog captured: in a private
/// mount namespace /dev is a fresh tmpfs whose `log` leads to a socket of
/// ours, so nothing reaches (or needs) the machine's syslog daemon.
fn login_capturing_syslog(
    config: &Path,
    command: &str,
    passcode: Option<&str>,
) -> (Output, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("log");
    let server = UnixDatagram::bind(&sock).unwrap();
    server.set_nonblocking(true).unwrap();
    let script =
        "mount -t tmpfs mfa-test-dev /dev && ln -s \"$1\" /dev/log && shift && exec \"$@\"";
    let mut c = Command::new("unshare");
    c.args(["-m", "sh", "-c", script, "sh"])
        .arg(&sock)
        .arg(env!("CARGO_BIN_EXE_mfa-login"))
        .arg("-c")
        .arg(config)
        .env("SSH_ORIGINAL_COMMAND", command)
        .env("SSH_CONNECTION", "203.0.113.9 40000 127.0.0.1 22")
        .env_remove("MFA_PASSCODE")
        .stdin(Stdio::null());
    if let Some(p) = passcode {
        c.env("MFA_PASSCODE", p);
    }
    let out = c.output().unwrap();
    let mut lines = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = server.recv(&mut buf) {
        lines.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    (out, lines)
}

/// A configuration error is the administrator's business: the person
/// logging in (anyone with an account) gets one generic line, the detail
/// (file, line, key) goes to syslog authpriv at LOG_ERR, and neither ever
/// holds a secret's value.
#[test]
fn bad_config_denies() {
    if !require_root() {
        return;
    }
    let s = setup("");
    for (toml, line, key) in [
        ("[general]\nfailmode = \"open\"\n", 2, "general.failmode"),
        (
            "[push]\nikey = \"DI0\"\nskey = 98765432109876\nhost = \"api.example\"\n",
            3,
            "push.skey",
        ),
    ] {
        std::fs::write(&s.config, toml).unwrap();
        let (o, syslog) = login_capturing_syslog(&s.config, "echo hi", Some("123456"));
        assert_eq!(o.status.code(), Some(1));
        assert!(o.stdout.is_empty());
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(
            err, "mfa-login: configuration error; see the system log\n",
            "{toml}"
        );
        let detail = syslog
            .iter()
            .find(|l| l.starts_with("<83>mfa-login["))
            .unwrap_or_else(|| panic!("no authpriv.err line: {syslog:?}"));
        assert!(
            detail.contains(&format!("mfa.toml:{line}: {key}")),
            "{detail}"
        );
        for l in &syslog {
            assert!(!l.contains("98765432109876"), "{l}");
        }
    }
}

#[test]
fn dash_c_and_dash_f_are_refused_for_non_root() {
    if !require_root() {
        return;
    }
    let s = setup("");
    for args in [vec!["-c", s.config.to_str().unwrap()], vec!["-f", "root"]] {
        let o = Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                env!("CARGO_BIN_EXE_mfa-login"),
            ])
            .args(&args)
            .arg("true")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("may only be used by root"),
            "{args:?}"
        );
    }
}

/// The install model: mfa-login setgid to a group that alone may read
/// /etc/mfa/mfa.toml. The user must not be able to read it, mfa-login must
/// (its decision depends on it), and the user's shell must not hold the group.
///
/// The test config is bind-mounted on /etc/mfa in a private mount namespace,
/// so the real /etc/mfa (if any) is never touched. It says
/// `unenrolled = "allow"` and the user has no TOTP file: the session starts
/// only if mfa-login really read it (the built-in default would deny).
#[test]
fn setgid_group_reads_the_config_and_is_dropped_before_exec() {
    if !require_root() {
        return;
    }
    // Throw-away account and group (removed on drop). The login shell is
    // python3 because it keeps whatever ids it is given: dash and bash drop
    // a setgid group themselves and would hide a missing drop in mfa-login.
    let account = TestUser::create("mfa-login-test").unwrap();
    account.set_shell("/usr/bin/python3").unwrap();
    let cfg_group = TestGroup::create("mfa-login-cfg").unwrap();
    let user = account.name.as_str();
    let group = cfg_group.name.as_str();

    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let etc = dir.path().join("etc-mfa");
    std::fs::create_dir(&etc).unwrap();
    let config = etc.join("mfa.toml");
    std::fs::write(
        &config,
        "[general]\nunenrolled = \"allow\"\n[webhook]\nurl = \"https://hooks.example.com/s3cret\"\n",
    )
    .unwrap();
    for (p, mode) in [(&etc, 0o750), (&config, 0o640)] {
        assert!(Command::new("chgrp")
            .arg(group)
            .arg(p)
            .status()
            .unwrap()
            .success());
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let bin = dir.path().join("mfa-login");
    std::fs::copy(env!("CARGO_BIN_EXE_mfa-login"), &bin).unwrap();
    assert!(Command::new("chgrp")
        .arg(group)
        .arg(&bin)
        .status()
        .unwrap()
        .success());
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o2755)).unwrap();

    // A mount point for the bind mount; created only if missing, removed after.
    let created = !Path::new("/etc/mfa").exists();
    if created {
        std::fs::create_dir("/etc/mfa").unwrap();
    }
    let as_user = format!("setpriv --reuid={user} --regid={user} --init-groups");
    let script = format!(
        "mount --bind {etc} /etc/mfa && {as_user} cat /etc/mfa/mfa.toml; echo cat-exit=$?; {as_user} {bin}",
        etc = etc.display(),
        bin = bin.display()
    );
    let o = Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .env(
            "SSH_ORIGINAL_COMMAND",
            "import os; print('RAN'); print(*os.getresgid(), *os.getgroups()); open('/etc/mfa/mfa.toml').read(); print('LEAK')",
        )
        .stdin(Stdio::null())
        .output()
        .unwrap();
    if created {
        let _ = std::fs::remove_dir("/etc/mfa");
    }
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        out.contains("cat-exit=1"),
        "the user must not read the config: {out} {err}"
    );
    assert!(
        out.contains("RAN"),
        "mfa-login read the config through its group and let the session start: {out} {err}"
    );
    let gid = cfg_group.gid.to_string();
    let groups_line = out
        .lines()
        .skip_while(|l| !l.contains("RAN"))
        .nth(1)
        .unwrap_or("");
    assert!(!groups_line.is_empty(), "{out}");
    assert!(
        !groups_line.split_whitespace().any(|g| g == gid),
        "shell still holds the group: {out}"
    );
    assert!(
        err.contains("PermissionError"),
        "the shell cannot read the config: {err}"
    );
    assert!(!out.contains("LEAK") && !out.contains("s3cret"), "{out}");
}
