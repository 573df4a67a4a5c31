//! The install model of docs/login.md under a real sshd: the config is the
//! setgid group's alone, the user's shell never holds that group, the
//! root-only options stay root-only, and the documented sshd_config snippet
//! (or authorized_keys options) close the forwarding bypass.

mod support;

use std::process::{Child, Command, Stdio};

use support::*;

/// A login shell that keeps whatever group ids it is started with. Plain
/// dash (and bash) drop a setgid group by themselves, which would hide a
/// missing drop in mfa-login; `sh -p` does not.
fn keeping_shell(dir: &std::path::Path) -> String {
    let path = dir.join("keeping-sh");
    std::fs::write(
        &path,
        "#!/bin/sh -p\n[ \"$1\" = -c ] || exec /bin/sh -p\nshift\neval \"$1\"\n",
    )
    .unwrap();
    chmod(&path, 0o755);
    path.display().to_string()
}

const PROBE: &str = "id -G; cat /etc/mfa/mfa.toml; echo cat=$?";

#[test]
fn the_user_cannot_read_the_config_and_the_shell_lacks_the_group() {
    if !prerequisites() {
        return;
    }
    let f = Fixture::with(Options {
        shell: Some(keeping_shell),
        ..Options::default()
    });
    // The login itself passing proves mfa-login read the config (through
    // its group): only the config names ~/.mfa-totp.
    let o = f.ssh(Some(SCRATCH[0])).arg(PROBE).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", f.explain(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let groups: Vec<u32> = out
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .map(|g| g.parse().unwrap())
        .collect();
    assert!(groups.contains(&f.users_group.gid), "id -G works: {out}");
    assert!(
        !groups.contains(&f.config_group.gid),
        "the shell holds the config group: {out}"
    );
    assert!(out.contains("cat=1"), "{out}");
    assert!(!out.contains(CONFIG_MARKER), "{out}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Permission denied"),
        "{}",
        f.explain(&o)
    );

    // The probe can fail: the same shell started with the group still held
    // shows it and reads the config.
    let held = Command::new("setpriv")
        .arg(format!("--ruid={}", f.user.uid))
        .arg(format!("--euid={}", f.user.uid))
        .arg(format!("--rgid={}", f.user.gid))
        .arg(format!("--egid={}", f.config_group.gid))
        .arg("--init-groups")
        .arg(keeping_shell(f.dir.path()))
        .arg("-c")
        .arg(format!("id -G; cat {}/mfa.toml", f.etc.display()))
        .output()
        .unwrap();
    let held = String::from_utf8_lossy(&held.stdout);
    assert!(held.contains(CONFIG_MARKER), "{held}");
    assert!(
        held.lines()
            .next()
            .unwrap_or("")
            .split_whitespace()
            .any(|g| g == f.config_group.gid.to_string()),
        "{held}"
    );
}

#[test]
fn the_root_only_options_are_refused_to_the_logged_in_user() {
    if !prerequisites() {
        return;
    }
    let f = Fixture::new();
    // After the second factor the user may run the setgid binary: -c must
    // not let them make it parse (and quote in errors) a file of its group.
    let cmd = format!(
        "{bin} -c /etc/mfa/mfa.toml true; echo rc=$?; {bin} -f root true; echo rc=$?",
        bin = f.bin.display()
    );
    let o = f.ssh(Some(SCRATCH[0])).arg(&cmd).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", f.explain(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "rc=1\nrc=1\n");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("mfa-login: -c may only be used by root"),
        "{err}"
    );
    assert!(
        err.contains("mfa-login: -f may only be used by root"),
        "{err}"
    );
    assert!(!err.contains(CONFIG_MARKER));
}

/// An `ssh -N` client; killed when dropped.
struct Tunnel(Child);

impl Drop for Tunnel {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tunnel(f: &Fixture, forward: &[&str]) -> Tunnel {
    // ExitOnForwardFailure: a refused -R ends the client at once.
    let child = f
        .ssh(None)
        .args(["-N", "-o", "ExitOnForwardFailure=yes"])
        .args(forward)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Tunnel(child)
}

/// What `ssh -N -L` and `ssh -N -R` to a loopback "PONG" server deliver.
fn through_forwards(f: &Fixture) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    let pong = pong_server();
    let local = free_port();
    let _l = tunnel(f, &["-L", &format!("{local}:127.0.0.1:{pong}")]);
    let via_l = read_through(local);
    let remote = free_port();
    let mut r = tunnel(f, &["-R", &format!("{remote}:127.0.0.1:{pong}")]);
    let via_r = read_unless_exited(&mut r, remote);
    (via_l, via_r)
}

/// Like `read_through`, but `None` as soon as the client gave up (the
/// server refused the forward).
fn read_unless_exited(t: &mut Tunnel, port: u16) -> Option<Vec<u8>> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if let Ok(Some(status)) = t.0.try_wait() {
            assert_eq!(status.code(), Some(255), "ssh -R ended: {status}");
            return None;
        }
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .unwrap();
            let mut got = Vec::new();
            let _ = std::io::Read::read_to_end(&mut s, &mut got);
            return Some(got);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("ssh -R neither listened nor gave up");
}

const PONG: &[u8] = b"PONG\n";

#[test]
fn forwarding_without_a_session_needs_the_documented_snippet_closed() {
    if !prerequisites() {
        return;
    }
    // ForceCommand alone (the snippet without the lines that close the
    // door): `ssh -N` opens no session, so mfa-login never runs and the
    // tunnels work with the key alone. This is the bypass.
    let open = Fixture::with(Options {
        keep: Box::new(|l| !l.contains("DisableForwarding") && !l.contains("PermitTunnel")),
        ..Options::default()
    });
    let (l, r) = through_forwards(&open);
    assert_eq!(
        l.as_deref(),
        Some(PONG),
        "-L bypass expected\n{}",
        open.sshd.log()
    );
    assert_eq!(
        r.as_deref(),
        Some(PONG),
        "-R bypass expected\n{}",
        open.sshd.log()
    );

    // The documented snippet: the client's -L listener accepts, but sshd
    // refuses the channel; the -R listener is never opened on the server.
    let closed = Fixture::new();
    let (l, r) = through_forwards(&closed);
    assert_eq!(
        l.as_deref(),
        Some(&b""[..]),
        "-L must get nothing\n{}",
        closed.sshd.log()
    );
    assert!(r.is_none(), "-R must not listen: {r:?}");
    let log = closed.sshd.log();
    assert!(log.contains("refused local port forward"), "{log}");
}

#[test]
fn per_key_install_runs_mfa_login_and_refuses_forwarding() {
    if !prerequisites() {
        return;
    }
    let f = Fixture::with(Options {
        per_key: true,
        ..Options::default()
    });
    let o = f.ssh(Some(SCRATCH[0])).arg("echo hello").output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", f.explain(&o));
    assert_eq!(o.stdout, b"hello\n");
    let o = f.ssh(None).arg("echo hello").output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", f.explain(&o));
    assert!(o.stdout.is_empty());
    let (l, r) = through_forwards(&f);
    assert_eq!(l.as_deref(), Some(&b""[..]), "{}", f.sshd.log());
    assert!(r.is_none(), "{r:?}");

    // `pty` in the documented line: an interactive login gets its terminal
    // (under `restrict` alone there would be none, hence no prompt).
    let mut ssh = f.ssh(None);
    ssh.arg("-tt");
    let o = on_terminal(
        &ssh,
        &[
            "expect",
            "Verification code: ",
            "send",
            &format!("{}\r", totp_now()),
            "expect",
            "$ ",
            "send",
            "echo MA''RK; exit\r",
        ],
        30,
    );
    assert_eq!(o.status.code(), Some(0), "{}", f.explain(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("\nMARK"),
        "{}",
        f.explain(&o)
    );
}

#[test]
fn without_its_group_mfa_login_denies_instead_of_using_the_default() {
    if !prerequisites() {
        return;
    }
    let f = Fixture::new();
    // Misinstalled: the setgid bit is gone (a copy, an upgrade), so
    // /etc/mfa is closed to mfa-login. The built-in default (TOTP with
    // ~/.google_authenticator) would let this user in: it must not be used.
    chmod(&f.bin, 0o755);
    let ga = format!("{SECRET}\n\" TOTP_AUTH\n");
    f.user
        .write_file(".google_authenticator", ga.as_bytes(), 0o400)
        .unwrap();
    let o = f.ssh(Some(&totp_now())).arg("echo hello").output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", f.explain(&o));
    assert!(o.stdout.is_empty());
    // The person is told only that it is a configuration error; the detail
    // (which file, why) is for syslog (tests/login.rs: bad_config_denies).
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("mfa-login: configuration error; see the system log"),
        "{err}"
    );
    assert!(!err.contains("/etc/mfa"), "{err}");

    // Installed right again, the same kind of login passes.
    chmod(&f.bin, 0o2755);
    let o = f.ssh(Some(SCRATCH[0])).arg("echo hello").output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", f.explain(&o));
    assert_eq!(o.stdout, b"hello\n");
}

#[test]
fn mfa_user_add_keeps_the_users_file_readable_to_mfa_login() {
    if !prerequisites() {
        return;
    }
    let f = Fixture::new();
    // What `mfa user add` does, as root: a new users.toml by rename. In the
    // documented setgid /etc/mfa it inherits the group; otherwise it would
    // be root:root and every ForceCommand login would fail.
    let users = f.etc.join("users.toml");
    mfa_core::userdb::add(
        &users,
        &mfa_core::userdb::NewUser {
            name: f.user.name.clone(),
            factors: Some(vec![mfa_core::FactorKind::Totp]),
            ..Default::default()
        },
    )
    .unwrap();
    let meta = std::fs::metadata(&users).unwrap();
    assert_eq!(
        std::os::unix::fs::MetadataExt::gid(&meta),
        f.config_group.gid
    );
    let o = f.ssh(Some(SCRATCH[0])).arg("echo hello").output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", f.explain(&o));
    assert_eq!(o.stdout, b"hello\n");
}
