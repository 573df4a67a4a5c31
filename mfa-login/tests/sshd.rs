//! mfa-login as a real ForceCommand under a real OpenSSH sshd on 127.0.0.1,
//! installed as docs/login.md says (setgid group, /etc/mfa, the documented
//! sshd_config snippet). Each test has its own sshd, account and groups.
//!
//! Needs root, sshd, ssh, scp, sftp, oathtool and python3 (for the
//! terminal driver): under CI=true their absence fails the test.

mod support;

use std::process::Stdio;

use support::*;

// ---- with a terminal -------------------------------------------------------

#[test]
fn interactive_login_with_the_right_code_starts_a_login_shell() {
    if !prerequisites() {
        return;
    }
    let f = Fixture::new();
    let mut ssh = f.ssh(None);
    ssh.arg("-tt");
    let code = totp_now();
    // `MA''RK` is echoed as typed; only the shell running it prints MARK.
    let o = on_terminal(
        &ssh,
        &[
            "expect",
            "Verification code: ",
            "send",
            &format!("{code}\r"),
            "expect",
            "$ ",
            "send",
            "echo \"$0\" MA''RK; exit\r",
        ],
        30,
    );
    let screen = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{}", f.explain(&o));
    // A login shell: argv0 is "-sh" (the account's shell is /bin/sh).
    assert!(screen.contains("-sh MARK"), "{screen}");
    assert_eq!(screen.matches("Verification code: ").count(), 1, "{screen}");
    assert!(!screen.contains(&code), "the code is not echoed: {screen}");
}

/// A denied interactive login with a command: `touch` must never run.
fn denied_on_terminal(steps: &[&str]) -> (Fixture, std::process::Output) {
    let f = Fixture::new();
    let marker = f.user.home.join("ran");
    let mut ssh = f.ssh(None);
    ssh.args(["-tt", &format!("touch {}", marker.display())]);
    let o = on_terminal(&ssh, steps, 30);
    let left = f.wait_no_user_processes();
    assert!(left.is_empty(), "mfa-login must end, not wait: {left:?}");
    assert!(!marker.exists(), "the command ran: {}", f.explain(&o));
    (f, o)
}

#[test]
fn interactive_login_with_a_wrong_code_closes_the_connection_with_status_1() {
    if !prerequisites() {
        return;
    }
    let wrong = format!("{}\r", wrong_code());
    let (f, o) = denied_on_terminal(&["expect", "Verification code: ", "send", &wrong]);
    assert_eq!(o.status.code(), Some(1), "{}", f.explain(&o));
    let screen = String::from_utf8_lossy(&o.stdout);
    assert!(screen.contains("mfa-login: access denied"), "{screen}");
}

#[test]
fn ctrl_c_at_the_prompt_denies() {
    if !prerequisites() {
        return;
    }
    // Typed digits, then Ctrl-C: a clean denial (status 1 and the message),
    // not a process killed by SIGINT.
    let (f, o) = denied_on_terminal(&["expect", "Verification code: ", "send", "12\x03"]);
    assert_eq!(o.status.code(), Some(1), "{}", f.explain(&o));
    let screen = String::from_utf8_lossy(&o.stdout);
    assert!(screen.contains("mfa-login: access denied"), "{screen}");
}

#[test]
fn nobody_answering_is_denied_at_the_login_deadline() {
    if !prerequisites() {
        return;
    }
    let f = Fixture::with(Options {
        config: "[general]\nlogin_timeout_secs = 5".into(),
        ..Options::default()
    });
    let marker = f.user.home.join("ran");
    let mut ssh = f.ssh(None);
    ssh.args(["-tt", &format!("touch {}", marker.display())]);
    let start = std::time::Instant::now();
    // No answer: the driver only waits (30 s at most) for the end.
    let o = on_terminal(&ssh, &["expect", "Verification code: "], 30);
    let waited = start.elapsed();
    assert_eq!(o.status.code(), Some(1), "{}", f.explain(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("mfa-login: access denied"),
        "{}",
        f.explain(&o)
    );
    assert!(waited >= std::time::Duration::from_secs(4), "{waited:?}");
    assert!(!marker.exists());
}

#[test]
fn a_closed_terminal_denies() {
    if !prerequisites() {
        return;
    }
    // The client hangs up at the prompt; the server side must deny and end.
    let (f, o) = denied_on_terminal(&["expect", "Verification code: ", "close"]);
    assert_ne!(o.status.code(), Some(0), "{}", f.explain(&o));
}

// ---- without a terminal: MFA_PASSCODE --------------------------------------

#[test]
fn a_command_with_the_passcode_gets_a_clean_stdout_and_no_passcode() {
    if !prerequisites() {
        return;
    }
    let f = Fixture::new();
    let o = f.ssh(Some(&totp_now())).arg("echo hello").output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", f.explain(&o));
    assert_eq!(o.stdout, b"hello\n", "nothing but the command's output");

    let o = f.ssh(Some(SCRATCH[0])).arg("env").output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", f.explain(&o));
    let env = String::from_utf8_lossy(&o.stdout);
    assert!(env.contains("SSH_ORIGINAL_COMMAND=env"), "{env}");
    assert!(
        !env.contains("MFA_PASSCODE") && !env.contains(SCRATCH[0]),
        "{env}"
    );
}

#[test]
fn a_command_without_a_right_passcode_is_denied_and_never_runs() {
    if !prerequisites() {
        return;
    }
    let f = Fixture::new();
    let marker = f.user.home.join("ran");
    let cmd = format!("touch {}", marker.display());
    let wrong = wrong_code();
    for pass in [
        None,
        Some(wrong.as_str()),
        Some("12 34"),
        Some("x'; touch /tmp/y"),
    ] {
        let o = f.ssh(pass).arg(&cmd).output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{pass:?}: {}", f.explain(&o));
        assert!(o.stdout.is_empty(), "{pass:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("mfa-login: access denied"),
            "{pass:?}: {}",
            f.explain(&o)
        );
    }
    assert!(!marker.exists());
}

#[test]
fn scp_and_sftp_transfer_binary_files_byte_identical() {
    if !prerequisites() {
        return;
    }
    let f = Fixture::new();
    // Every byte value, then random bytes: 256 KiB + 1000.
    let mut data: Vec<u8> = (0..=255u8).cycle().take(256 * 1024).collect();
    let mut noise = vec![0u8; 1000];
    getrandom_fill(&mut noise);
    data.extend_from_slice(&noise);
    let local = f.dir.path().join("data.bin");
    std::fs::write(&local, &data).unwrap();
    let mut codes = SCRATCH.iter();
    let mut transfer = |mut cmd: std::process::Command, what: &str| {
        let code = codes.next().unwrap();
        let o = cmd
            .env("MFA_PASSCODE", code)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{what}: {}", f.explain(&o));
    };
    let home = &f.user.home;
    let remote = |name: &str| format!("127.0.0.1:{}", home.join(name).display());

    // scp (SFTP protocol, OpenSSH >= 9.0) and scp -O (the old scp -t/-f).
    for (flag, name) in [(None, "scp"), (Some("-O"), "scp-legacy")] {
        let mut up = f.scp();
        up.args(flag).arg(&local).arg(remote(name));
        transfer(up, name);
        assert_eq!(
            std::fs::read(home.join(name)).unwrap(),
            data,
            "{name} upload"
        );
        let back = f.dir.path().join(format!("{name}.back"));
        let mut down = f.scp();
        down.args(flag).arg(remote(name)).arg(&back);
        transfer(down, name);
        assert_eq!(std::fs::read(&back).unwrap(), data, "{name} download");
    }

    // sftp: put and get in one session.
    let back = f.dir.path().join("sftp.back");
    let batch = f.dir.path().join("batch");
    std::fs::write(
        &batch,
        format!(
            "put {} {}\nget {} {}\n",
            local.display(),
            home.join("sftp").display(),
            home.join("sftp").display(),
            back.display()
        ),
    )
    .unwrap();
    let mut sftp = f.sftp();
    sftp.arg("-b").arg(&batch).arg("127.0.0.1");
    transfer(sftp, "sftp");
    assert_eq!(std::fs::read(home.join("sftp")).unwrap(), data, "sftp put");
    assert_eq!(std::fs::read(&back).unwrap(), data, "sftp get");
}

#[test]
fn scp_without_the_passcode_transfers_nothing() {
    if !prerequisites() {
        return;
    }
    let f = Fixture::new();
    let local = f.dir.path().join("data.bin");
    std::fs::write(&local, b"payload").unwrap();
    let dest = f.user.home.join("arrived");
    for flag in [None, Some("-O")] {
        let o = f
            .scp()
            .args(flag)
            .arg(&local)
            .arg(format!("127.0.0.1:{}", dest.display()))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_ne!(o.status.code(), Some(0), "{flag:?}: {}", f.explain(&o));
        assert!(!dest.exists(), "{flag:?}");
    }
}

fn getrandom_fill(buf: &mut [u8]) {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(buf)
        .unwrap();
}
