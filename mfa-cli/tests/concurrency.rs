//! Two logins racing on the same code: separate processes (not threads),
//! started together against one state file. At most one may win.

mod common;
use common::*;

use std::process::{Child, Stdio};

const RACERS: usize = 8;

/// Start every racer before waiting on any, so they overlap; return what
/// each one printed and its exit status.
fn race_outputs(file: &std::path::Path, code: &str) -> Vec<std::process::Output> {
    let children: Vec<Child> = (0..RACERS)
        .map(|_| {
            mfa()
                .args(["totp", "verify", "--secret-file"])
                .arg(file)
                .arg(code)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect()
}

fn race(file: &std::path::Path, code: &str) -> usize {
    race_outputs(file, code)
        .into_iter()
        .map(|o| o.status.code())
        .inspect(|c| assert!(matches!(c, Some(0) | Some(1)), "unexpected exit {c:?}"))
        .filter(|c| *c == Some(0))
        .count()
}

fn enroll(dir: &std::path::Path, extra: &[&str]) -> std::path::PathBuf {
    let f = dir.join("ga");
    let st = run(mfa()
        .args(["totp", "enroll", "--qr", "none", "--secret-file"])
        .arg(&f)
        .args(extra));
    assert!(st.status.success(), "{}", stderr(&st));
    f
}

#[test]
fn the_same_totp_code_is_accepted_once_across_processes() {
    if !require_tool("oathtool") {
        return;
    }
    for round in 0..3 {
        let d = tempfile::tempdir().unwrap();
        let f = enroll(d.path(), &["--disallow-reuse"]);
        let code = oathtool_code(&f, &["--totp"]);
        assert_eq!(
            race(&f, &code),
            1,
            "round {round}: exactly one process may use the code"
        );
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(
            text.contains("\" DISALLOW_REUSE "),
            "the use was recorded: {text}"
        );
    }
}

#[test]
fn a_scratch_code_is_accepted_once_across_processes() {
    for round in 0..3 {
        let d = tempfile::tempdir().unwrap();
        let f = enroll(d.path(), &["--scratch-codes", "3"]);
        let text = std::fs::read_to_string(&f).unwrap();
        let scratch = text.lines().last().unwrap().to_owned();
        assert_eq!(race(&f, &scratch), 1, "round {round}");
        let after = std::fs::read_to_string(&f).unwrap();
        assert!(!after.contains(&scratch), "used scratch code removed");
        assert_eq!(
            after.lines().filter(|l| l.len() == 8).count(),
            2,
            "the other codes survive"
        );
        // No temp files left behind by the losers.
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }
}

#[test]
fn concurrent_wrong_codes_never_lose_rate_limit_records() {
    let d = tempfile::tempdir().unwrap();
    let f = enroll(
        d.path(),
        &["--rate-limit", "100/3600", "--scratch-codes", "0"],
    );
    // Every racer must be judged (a wrong code), not fail on the lock:
    // only then does a missing record mean a lost update.
    for o in race_outputs(&f, "000000") {
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            out.starts_with("DENIED"),
            "a racer was not judged: {out} {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let text = std::fs::read_to_string(&f).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("\" RATE_LIMIT"))
        .unwrap();
    // Every racer's attempt is recorded: no update was lost to a race.
    assert_eq!(line.split_whitespace().count(), 4 + RACERS, "{line}");
}
