//! Shared helpers for the CLI's integration tests.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

pub mod root;

/// The `mfa` binary under test.
pub fn mfa() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mfa"))
}

/// Whether an external tool is installed. Under CI (`CI=true`) a missing
/// tool fails the test instead of skipping it: CI installs every one.
pub fn require_tool(name: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !found {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{name} is required under CI (scripts/install-test-deps installs it)");
        }
        eprintln!("SKIPPED: {name} is not installed (run scripts/install-test-deps)");
    }
    found
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run command")
}

pub fn run_with_stdin(cmd: &mut Command, input: &str) -> Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // A command that refuses early (a bad state file is refused before any
    // prompt) exits without reading its input; the write then fails with
    // EPIPE, depending on timing. That is the command's choice, not a test
    // failure: its exit status and output are what the tests assert.
    let written = child.stdin.take().unwrap().write_all(input.as_bytes());
    if let Err(e) = written {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    child.wait_with_output().unwrap()
}

/// The current TOTP code for the secret on the first line of `file`, as
/// computed by oathtool (an independent implementation).
pub fn oathtool_code(file: &Path, extra: &[&str]) -> String {
    let secret = std::fs::read_to_string(file).unwrap();
    let secret = secret.lines().next().unwrap().to_owned();
    let out = Command::new("oathtool")
        .args(extra)
        .args(["-b", &secret])
        .output()
        .expect("oathtool");
    assert!(
        out.status.success(),
        "oathtool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The `url` of the simulator called `name` in the JSON line `mfa mock
/// serve --json` prints first.
pub fn simulator_url(first_line: &str, name: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(first_line).unwrap();
    v["simulators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no {name} simulator in {first_line}"))["url"]
        .as_str()
        .unwrap()
        .to_owned()
}
