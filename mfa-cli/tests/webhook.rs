//! The webhook factor through the real binaries: `mfa mock serve` as the
//! team channel and `mfa check` as the login, talking over loopback HTTP.

mod common;
use common::*;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A child process killed (by its own handle) when the test ends.
struct Running(Child);
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `mfa mock serve`, its webhook URL, and its stdout lines as they come.
fn mock_serve() -> (Running, String, mpsc::Receiver<String>) {
    let mut child = mfa()
        .args(["--json", "mock", "serve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn mfa mock serve");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let running = Running(child);
    let first = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("mock serve started");
    let url = simulator_url(&first, "webhook");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    (running, url, rx)
}

fn config_for(dir: &std::path::Path, url: &str) -> std::path::PathBuf {
    let p = dir.join("mfa.toml");
    std::fs::write(
        &p,
        format!(
            "[general]\nrequest_timeout_secs = 2\nusers_file = \"{}\"\n\
             [policy]\nfactors = [\"webhook\"]\n[webhook]\nurl = \"{url}\"\npreset = \"slack\"\n",
            dir.join("users.toml").display()
        ),
    )
    .unwrap();
    std::fs::write(dir.join("users.toml"), "").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

fn current_user() -> String {
    stdout(&run(std::process::Command::new("id").arg("-un")))
        .trim()
        .to_owned()
}

/// Wait for `child` at most `limit`; a child still running then is a
/// failure (it was left waiting).
fn wait_within(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("still running after {limit:?}: left waiting at a prompt?");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn mfa_check_logs_in_with_the_code_the_mock_channel_received() {
    let (_mock, url, lines) = mock_serve();
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), &url);
    let mut check = mfa()
        .args([
            "--json",
            "check",
            "--user",
            &current_user(),
            "--rhost",
            "192.0.2.5",
        ])
        .arg("--config")
        .arg(&config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let msg = lines
        .recv_timeout(Duration::from_secs(20))
        .expect("the sink printed the message");
    assert!(msg.starts_with("webhook sink received: {\"text\""), "{msg}");
    assert!(msg.contains("192.0.2.5"), "{msg}");
    let code = msg
        .split(|c: char| !c.is_ascii_digit())
        .find(|run| run.len() == 8)
        .expect("an 8-digit code")
        .to_owned();
    let mut stdin = check.stdin.take().unwrap();
    writeln!(stdin, "{code}").unwrap();
    drop(stdin);
    let out = check.wait_with_output().unwrap();
    let (so, se) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{so}\n{se}");
    assert!(so.contains("\"decision\":\"allow\""), "{so}");
    assert!(se.contains("Code for session "), "prompt on stderr: {se}");
    assert!(
        !se.contains(&code) && !so.contains(&code),
        "the code is not echoed"
    );
    assert!(
        !se.contains("/hooks/"),
        "the webhook URL is never printed: {se}"
    );
}

#[test]
fn mfa_check_fails_at_once_when_the_channel_is_unreachable() {
    // A port where nothing listens.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(dir.path(), &format!("http://127.0.0.1:{port}/hooks/x"));
    let mut check = mfa()
        .args(["--json", "check", "--user", &current_user()])
        .arg("--config")
        .arg(&config)
        // stdin stays open and silent: a prompt would wait forever.
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_within(&mut check, Duration::from_secs(20));
    let out = check.wait_with_output().unwrap();
    let (so, se) = (stdout(&out), stderr(&out));
    assert_eq!(status.code(), Some(1), "{so}\n{se}");
    assert!(se.contains("could not be sent"), "{se}");
    assert!(!se.contains("Code for session"), "no prompt: {se}");
    assert!(so.contains("provider unavailable"), "{so}");
    assert!(!format!("{so}{se}").contains("/hooks/x"), "URL leaked");
}
