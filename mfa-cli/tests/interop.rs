//! Interoperability with the real tools users already have: Debian's
//! `google-authenticator` writes files we must accept, and `oathtool` must
//! agree with the codes of files we write.

mod common;
use common::*;

use std::os::unix::fs::PermissionsExt;

#[test]
fn file_from_google_authenticator_is_accepted_with_an_oathtool_code() {
    if !require_tool("google-authenticator") || !require_tool("oathtool") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("ga");
    let st = run(Command::new("google-authenticator")
        .args([
            "-t", "-d", "-f", "-C", "-q", "-Q", "NONE", "-r", "3", "-R", "30", "-w", "3", "-e",
            "5", "-s",
        ])
        .arg(&f));
    assert!(st.status.success(), "{}", stderr(&st));
    let code = oathtool_code(&f, &["--totp"]);
    let ok = run(mfa()
        .args(["--json", "totp", "verify", "--secret-file"])
        .arg(&f)
        .arg(&code));
    assert_eq!(ok.status.code(), Some(0), "{} {}", stdout(&ok), stderr(&ok));
    let v: serde_json::Value = serde_json::from_str(stdout(&ok).trim()).unwrap();
    assert_eq!(v["accepted"], "code");
    // google-authenticator set DISALLOW_REUSE: the same code again is refused,
    // and the file stays readable by google-authenticator's own format rules.
    let again = run(mfa()
        .args(["--json", "totp", "verify", "--secret-file"])
        .arg(&f)
        .arg(&code));
    assert_eq!(again.status.code(), Some(1));
    assert!(stdout(&again).contains("reused"), "{}", stdout(&again));
    let text = std::fs::read_to_string(&f).unwrap();
    assert!(text.contains("\" RATE_LIMIT 3 30 "), "{text}");
    assert!(text.contains("\" DISALLOW_REUSE "), "{text}");
    assert_eq!(
        std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
        0o400
    );
    // A scratch code it wrote works once.
    let scratch = text.lines().next_back().unwrap().to_owned();
    let s1 = run(mfa()
        .args(["totp", "verify", "--secret-file"])
        .arg(&f)
        .arg(&scratch));
    assert_eq!(s1.status.code(), Some(0), "{}", stderr(&s1));
    let s2 = run(mfa()
        .args(["totp", "verify", "--secret-file"])
        .arg(&f)
        .arg(&scratch));
    assert_eq!(s2.status.code(), Some(1));
}

#[test]
fn hotp_file_from_google_authenticator_works_with_oathtool() {
    if !require_tool("google-authenticator") || !require_tool("oathtool") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("ga");
    let st = run(Command::new("google-authenticator")
        .args(["-c", "-f", "-C", "-q", "-Q", "NONE", "-u", "-w", "3", "-s"])
        .arg(&f));
    assert!(st.status.success(), "{}", stderr(&st));
    // google-authenticator starts HOTP files at counter 1.
    let code = oathtool_code(&f, &["-c", "1"]);
    let ok = run(mfa()
        .args(["totp", "verify", "--secret-file"])
        .arg(&f)
        .arg(&code));
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    assert!(std::fs::read_to_string(&f)
        .unwrap()
        .contains("\" HOTP_COUNTER 2\n"));
}

#[test]
fn oathtool_agrees_with_files_from_mfa_totp_enroll() {
    if !require_tool("oathtool") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    for (alg, digits, flag) in [
        ("SHA1", "6", "--totp=SHA1"),
        ("SHA256", "8", "--totp=SHA256"),
        ("SHA512", "8", "--totp=SHA512"),
    ] {
        let f = d.path().join(format!("ga-{alg}"));
        let st = run(mfa()
            .args([
                "--json",
                "totp",
                "enroll",
                "--qr",
                "none",
                "--algorithm",
                alg,
                "--digits",
                digits,
                "--secret-file",
            ])
            .arg(&f));
        assert!(st.status.success(), "{}", stderr(&st));
        let v: serde_json::Value = serde_json::from_str(stdout(&st).trim()).unwrap();
        assert!(v["uri"]
            .as_str()
            .unwrap()
            .contains(&format!("algorithm={alg}&digits={digits}")));
        let code = oathtool_code(&f, &[flag, "-d", digits]);
        let ok = run(mfa()
            .args(["totp", "verify", "--secret-file"])
            .arg(&f)
            .arg(&code));
        assert_eq!(ok.status.code(), Some(0), "{alg}: {}", stderr(&ok));
    }
}

#[test]
fn pam_google_authenticator_format_is_what_enroll_writes() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("ga");
    let st = run(mfa()
        .args([
            "totp",
            "enroll",
            "--qr",
            "none",
            "--disallow-reuse",
            "--rate-limit",
            "3/30",
            "--window",
            "17",
            "--scratch-codes",
            "4",
            "--secret-file",
        ])
        .arg(&f));
    assert!(st.status.success(), "{}", stderr(&st));
    let text = std::fs::read_to_string(&f).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1 + 4 + 4, "{text}");
    assert!(
        lines[0].len() >= 16
            && lines[0]
                .bytes()
                .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
    );
    assert_eq!(
        &lines[1..5],
        [
            "\" RATE_LIMIT 3 30",
            "\" WINDOW_SIZE 17",
            "\" DISALLOW_REUSE",
            "\" TOTP_AUTH"
        ]
    );
    assert!(lines[5..]
        .iter()
        .all(|l| l.len() == 8 && l.bytes().all(|b| b.is_ascii_digit())));
    assert_eq!(
        std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
        0o400
    );
    // Enrolling over an existing file is refused without --force.
    let again = run(mfa()
        .args(["totp", "enroll", "--qr", "none", "--secret-file"])
        .arg(&f));
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(&f).unwrap(), text, "left untouched");
}

use std::process::Command;
