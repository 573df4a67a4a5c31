//! The `mfa` command's contract: exit codes, --json, errors that name the
//! file/line/key, `mfa check` running the real engine, and the demo.

mod common;
use common::*;

use std::os::unix::fs::PermissionsExt;

fn current_user() -> String {
    let o = run(std::process::Command::new("id").arg("-un"));
    stdout(&o).trim().to_owned()
}

#[test]
fn usage_errors_exit_2() {
    let o = run(mfa().args(["totp", "verify"]));
    assert_eq!(o.status.code(), Some(2));
    let o = run(mfa().args([
        "totp",
        "enroll",
        "--secret-file",
        "/tmp/x",
        "--rate-limit",
        "3",
    ]));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("N/SECS"), "{}", stderr(&o));
    let o = run(mfa().args(["check", "--user", "x", "--factor", "sms"]));
    assert_eq!(o.status.code(), Some(2));
    let o = run(mfa().args(["--help"]));
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn config_errors_exit_2_and_name_file_line_and_key() {
    let d = tempfile::tempdir().unwrap();
    let cfg = d.path().join("mfa.toml");
    std::fs::write(
        &cfg,
        "[general]\nfailmode = \"secure\"\nunenrolled = \"maybe\"\n",
    )
    .unwrap();
    let o = run(mfa()
        .args(["check", "--user", "root", "--config"])
        .arg(&cfg));
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains(&format!("{}:3", cfg.display())), "{err}");
    assert!(err.contains("unenrolled") || err.contains("maybe"), "{err}");
    // JSON mode reports the error as JSON on stdout.
    let o = run(mfa()
        .args(["--json", "check", "--user", "root", "--config"])
        .arg(&cfg));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["exit"], 2);
    // A config that others may write is refused.
    std::fs::write(&cfg, "").unwrap();
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o666)).unwrap();
    let o = run(mfa()
        .args(["check", "--user", "root", "--config"])
        .arg(&cfg));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("chmod go-w"), "{}", stderr(&o));
    // An explicit config that does not exist is an error, not the default.
    let o = run(mfa().args([
        "check",
        "--user",
        "root",
        "--config",
        "/nonexistent/mfa.toml",
    ]));
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn verify_reports_state_file_problems_clearly() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("ga");
    std::fs::write(&f, "JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\n").unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = run(mfa()
        .args(["totp", "verify", "--secret-file"])
        .arg(&f)
        .arg("123456"));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("permissions 0644"), "{}", stderr(&o));
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(&f, "JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\nrubbish\n").unwrap();
    let o = run(mfa()
        .args(["totp", "verify", "--secret-file"])
        .arg(&f)
        .arg("123456"));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("refusing corrupt state file: line 3"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read_to_string(&f).unwrap(),
        "JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\nrubbish\n"
    );
    let link = d.path().join("link");
    std::os::unix::fs::symlink(&f, &link).unwrap();
    let o = run(mfa()
        .args(["totp", "verify", "--secret-file"])
        .arg(&link)
        .arg("123456"));
    assert!(stderr(&o).contains("symbolic link"), "{}", stderr(&o));
}

#[test]
fn verify_allowed_perm_is_parsed_like_the_config() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("ga");
    std::fs::write(&f, "JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\n").unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
    for ok in ["640", "0640", "0o640"] {
        let o = run(mfa()
            .args(["totp", "verify", "--allowed-perm", ok, "--secret-file"])
            .arg(&f)
            .arg("abcdef"));
        // Read and checked (the code is malformed): the mode was accepted.
        assert_eq!(o.status.code(), Some(1), "{ok}: {}", stderr(&o));
        assert!(
            stdout(&o).contains("DENIED: malformed"),
            "{ok}: {}",
            stdout(&o)
        );
    }
    // The default is 0600: this file is refused without the option.
    let o = run(mfa()
        .args(["totp", "verify", "--secret-file"])
        .arg(&f)
        .arg("abcdef"));
    assert!(stderr(&o).contains("permissions 0640"), "{}", stderr(&o));
    for bad in ["0999", "17777", "+640"] {
        let o = run(mfa()
            .args(["totp", "verify", "--allowed-perm", bad, "--secret-file"])
            .arg(&f)
            .arg("abcdef"));
        assert_eq!(o.status.code(), Some(2), "{bad}");
        assert!(stderr(&o).contains("--allowed-perm"), "{}", stderr(&o));
    }
}

#[test]
fn wrong_owner_is_refused_for_other_users() {
    // Only root can create a file owned by someone else.
    if mfa_uid() != 0 {
        eprintln!("SKIPPED: needs root to chown");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("ga");
    std::fs::write(&f, "JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\n").unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::chown(&f, Some(4242), Some(4242)).unwrap();
    let cfg = d.path().join("mfa.toml");
    std::fs::write(&cfg, format!("[totp]\nsecret = \"{}\"\n", f.display())).unwrap();
    let o = run_with_stdin(
        mfa()
            .args(["check", "--user", "root", "--config"])
            .arg(&cfg),
        "123456\n",
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("DENIED"), "{}", stdout(&o));
    assert!(stdout(&o).contains("owned by uid 4242"), "{}", stdout(&o));
}

fn mfa_uid() -> u32 {
    stdout(&run(std::process::Command::new("id").arg("-u")))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn check_runs_the_engine_on_the_terminal() {
    if !require_tool("oathtool") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("ga");
    let st = run(mfa()
        .args([
            "totp",
            "enroll",
            "--qr",
            "none",
            "--disallow-reuse",
            "--secret-file",
        ])
        .arg(&f));
    assert!(st.status.success());
    let cfg = d.path().join("mfa.toml");
    std::fs::write(&cfg, format!("[totp]\nsecret = \"{}\"\n", f.display())).unwrap();
    let user = current_user();
    let code = oathtool_code(&f, &["--totp"]);
    let ok = run_with_stdin(
        mfa()
            .args([
                "--json",
                "check",
                "--user",
                &user,
                "--rhost",
                "192.0.2.9",
                "--config",
            ])
            .arg(&cfg),
        &format!("{code}\n"),
    );
    assert_eq!(ok.status.code(), Some(0), "{} {}", stdout(&ok), stderr(&ok));
    let v: serde_json::Value = serde_json::from_str(stdout(&ok).trim()).unwrap();
    assert_eq!(
        (v["decision"].as_str(), v["factor"].as_str()),
        (Some("allow"), Some("totp"))
    );
    // The prompt went to stderr, never stdout.
    assert!(stderr(&ok).contains("Verification code: "));
    assert!(!stdout(&ok).contains("Verification code"));
    // Same code again: reuse refused, exit 1.
    let again = run_with_stdin(
        mfa().args(["check", "--user", &user, "--config"]).arg(&cfg),
        &format!("{code}\n"),
    );
    assert_eq!(again.status.code(), Some(1));
    assert!(stdout(&again).contains("DENIED"), "{}", stdout(&again));
    // Closed stdin (Ctrl-D): denied.
    let eof = run_with_stdin(
        mfa().args(["check", "--user", &user, "--config"]).arg(&cfg),
        "",
    );
    assert_eq!(eof.status.code(), Some(1));
}

#[test]
fn check_prompts_unknown_users_and_denies() {
    let d = tempfile::tempdir().unwrap();
    let cfg = d.path().join("mfa.toml");
    std::fs::write(&cfg, "").unwrap();
    let o = run_with_stdin(
        mfa()
            .args(["check", "--user", "no-such-user-\u{1b}[31m", "--config"])
            .arg(&cfg),
        "123456\n",
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("Verification code: "),
        "prompted like anyone else"
    );
    let o = run_with_stdin(
        mfa()
            .args(["check", "--user", "nobody-x", "--config"])
            .arg(&cfg),
        "",
    );
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn demo_runs_every_leg_against_the_simulators() {
    let o = run_with_stdin(mfa().args(["--json", "demo", "--auto", "--qr", "none"]), "");
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    let last = stdout(&o).lines().last().unwrap().to_owned();
    let v: serde_json::Value = serde_json::from_str(&last).unwrap();
    assert_eq!(v["ok"], true);
    let legs = v["legs"].as_array().unwrap();
    assert!(legs
        .iter()
        .any(|l| l["factor"] == "totp" && l["ok"] == true));
    assert!(stdout(&o).contains("code reused"), "the replay was refused");
    assert!(legs
        .iter()
        .any(|l| l["factor"] == "push" && l["ok"] == true));
    assert!(
        stdout(&o).contains("Pushed a login request to your phone..."),
        "the push leg ran through the menu and the push"
    );
    assert!(
        legs.iter()
            .any(|l| l["factor"] == "phonecheck" && l["ok"] == true),
        "the PhoneCheck leg ran and passed"
    );
    let out = stdout(&o);
    assert!(
        out.contains("[phone]") && out.contains("Verification complete"),
        "{out}"
    );
    assert!(legs
        .iter()
        .any(|l| l["factor"] == "webhook" && l["ok"] == true));
    assert!(out.contains("read from the channel"), "webhook code typed");
}
