//! The push factor through the real binaries: `mfa mock serve` as Duo
//! (HTTPS with the test CA, the phone approving after two seconds) and
//! `mfa check` as the login.

mod common;
use common::*;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Stdio};
use std::time::Duration;

/// A child process killed (by its own handle) when the test ends.
struct Running(Child);
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `mfa mock serve` and the Duo entry it printed.
fn mock_duo() -> (Running, String) {
    let mut child = mfa()
        .args(["--json", "mock", "serve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn mfa mock serve");
    let stdout = child.stdout.take().unwrap();
    let running = Running(child);
    let first = BufReader::new(stdout)
        .lines()
        .next()
        .expect("mock serve printed its simulators")
        .unwrap();
    (running, simulator_url(&first, "duo"))
}

/// The value of `key = "..."` in the mock's one-line description.
fn field(entry: &str, key: &str) -> String {
    let start = entry.find(&format!("{key} = \"")).unwrap() + key.len() + 4;
    entry[start..].split('"').next().unwrap().to_owned()
}

fn current_user() -> String {
    stdout(&run(std::process::Command::new("id").arg("-un")))
        .trim()
        .to_owned()
}

#[test]
fn mfa_check_is_approved_by_the_mock_phone_over_tls() {
    let (_mock, entry) = mock_duo();
    assert!(entry.starts_with("https://127.0.0.1:"), "{entry}");
    let (host, ca_file) = (field(&entry, "host"), field(&entry, "ca_file"));
    assert!(
        std::path::Path::new(&ca_file).is_file(),
        "the printed CA file exists: {ca_file}"
    );
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    std::fs::write(
        &users,
        format!("[users.{}]\nduo_username = \"cli.user\"\n", current_user()),
    )
    .unwrap();
    let config = dir.path().join("mfa.toml");
    std::fs::write(
        &config,
        format!(
            "[general]\nrequest_timeout_secs = 5\nusers_file = \"{}\"\n\
             [policy]\nfactors = [\"push\"]\n\
             [push]\nikey = \"{}\"\nskey = \"{}\"\nhost = \"{host}\"\nca_file = \"{ca_file}\"\n",
            users.display(),
            field(&entry, "ikey"),
            field(&entry, "skey"),
        ),
    )
    .unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();

    let started = std::time::Instant::now();
    let out = run_with_stdin(
        mfa()
            .args([
                "--json",
                "check",
                "--user",
                &current_user(),
                "--rhost",
                "192.0.2.9",
            ])
            .arg("--config")
            .arg(&config),
        "1\n\n",
    );
    let (so, se) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{so}\n{se}");
    assert!(so.contains("\"decision\":\"allow\""), "{so}");
    assert!(se.contains("Duo two-factor login for cli.user"), "{se}");
    assert!(se.contains("1. Duo Push to XXX-XXX-0100"), "{se}");
    assert!(
        se.contains("Pushed a login request to your phone..."),
        "{se}"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "decided only once the phone approved"
    );
    assert!(
        !se.contains(&field(&entry, "skey")),
        "the secret key is never printed"
    );
}
