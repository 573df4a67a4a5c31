//! pam_mfa.so inside a real OpenSSH sshd on 127.0.0.1, reached by a real
//! `ssh` client. sshd (9.2 here) fixes the PAM service name to `sshd`, so
//! the stack comes from a pam_wrapper service directory preloaded into
//! sshd; prompts are answered through SSH_ASKPASS.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use std::path::PathBuf;
use std::process::Output;

use common::*;
use mfa_testkit::sshd::{askpass, require_binary, Sshd};

const CODE_PROMPT: &str = "Verification code";

fn prerequisites_sshd() -> bool {
    prerequisites() && require_binary("sshd").is_some() && require_binary("ssh").is_some()
}

/// sshd with `UsePAM yes`, keyboard-interactive, `AuthenticationMethods
/// methods`, and the `sshd` PAM service `auth_lines` in `services`.
fn sshd(services: &Services, methods: &str, auth_lines: &[String]) -> Sshd {
    services
        .sshd(auth_lines)
        .config("UsePAM yes")
        .config("KbdInteractiveAuthentication yes")
        .config(&format!("AuthenticationMethods {methods}"))
        .start()
        .unwrap()
}

/// `ssh ... echo ok` answering prompts containing the given substrings.
fn login(
    server: &Sshd,
    user: &TestUser,
    methods: &str,
    answers: &[(&str, &str)],
) -> (Output, String) {
    let dir = tempfile::tempdir().unwrap();
    let script = askpass(dir.path(), answers).unwrap();
    let out = server
        .ssh_with(user, methods)
        .args(["-o", "NumberOfPasswordPrompts=1", "-o", "BatchMode=no"])
        .arg("echo ok")
        .env("SSH_ASKPASS", &script)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env("DISPLAY", ":0")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let asked = std::fs::read_to_string(dir.path().join("askpass.log")).unwrap_or_default();
    (out, asked)
}

fn succeeded(o: &Output) -> bool {
    o.status.success() && o.stdout == b"ok\n"
}

fn explain(o: &Output, asked: &str, server: &Sshd) -> String {
    format!(
        "status {:?}\nstdout {}\nstderr {}\nprompts:\n{asked}\nsshd log:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
        server.log()
    )
}

#[test]
fn keyboard_interactive_password_then_totp() {
    if !prerequisites_sshd() {
        return;
    }
    let user = new_user("sshpw");
    user.enrol();
    user.set_password("pa55 word");
    let svc = Services::new();
    let server = sshd(
        &svc,
        "keyboard-interactive",
        &[format!("required {PAM_UNIX}"), mfa_line("required", "")],
    );
    let code = code(SECRET);
    let (o, asked) = login(
        &server,
        &user,
        "keyboard-interactive",
        &[("Password", "pa55 word"), (CODE_PROMPT, &code)],
    );
    assert!(succeeded(&o), "{}", explain(&o, &asked, &server));
    assert!(
        asked.contains("Password") && asked.contains(CODE_PROMPT),
        "{asked}"
    );

    // The same code again: refused.
    let (o, asked) = login(
        &server,
        &user,
        "keyboard-interactive",
        &[("Password", "pa55 word"), (CODE_PROMPT, &code)],
    );
    assert!(!o.status.success(), "{}", explain(&o, &asked, &server));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Permission denied"),
        "{}",
        explain(&o, &asked, &server)
    );

    // A wrong code with the right password: refused.
    let (o, asked) = login(
        &server,
        &user,
        "keyboard-interactive",
        &[
            ("Password", "pa55 word"),
            (CODE_PROMPT, &wrong_code(SECRET)),
        ],
    );
    assert!(!o.status.success(), "{}", explain(&o, &asked, &server));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Permission denied"),
        "{}",
        explain(&o, &asked, &server)
    );
}

#[test]
fn publickey_then_totp_with_authentication_methods() {
    if !prerequisites_sshd() {
        return;
    }
    let user = new_user("sshpk");
    user.enrol();
    let svc = Services::new();
    let server = sshd(
        &svc,
        "publickey,keyboard-interactive",
        &[mfa_line("required", "")],
    );
    user.authorize_key(&server.client_public_key()).unwrap();

    let (o, asked) = login(
        &server,
        &user,
        "publickey,keyboard-interactive",
        &[(CODE_PROMPT, &code(SECRET))],
    );
    assert!(succeeded(&o), "{}", explain(&o, &asked, &server));
    assert!(!asked.contains("assword"), "no password asked: {asked}");
    assert!(
        server.log().contains("Partial publickey"),
        "{}",
        server.log()
    );

    // The key alone is not enough.
    let (o, asked) = login(
        &server,
        &user,
        "publickey,keyboard-interactive",
        &[(CODE_PROMPT, &wrong_code(SECRET))],
    );
    assert!(!o.status.success(), "{}", explain(&o, &asked, &server));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Permission denied"),
        "{}",
        explain(&o, &asked, &server)
    );
}

#[test]
fn sshd_keeps_serving_after_an_internal_error_in_the_module() {
    if !prerequisites_sshd() {
        return;
    }
    let user = new_user("ssher");
    user.enrol();
    // The module reads its config per authentication: while the path names
    // a directory the core fails (unreadable config -> PAM_SERVICE_ERR);
    // the release module carries no crash switch of its own.
    let d = tempfile::tempdir().unwrap();
    let config: PathBuf = d.path().join("mfa.toml");
    std::fs::create_dir(&config).unwrap();
    let svc = Services::new();
    let mut server = sshd(
        &svc,
        "publickey,keyboard-interactive",
        &[mfa_line(
            "required",
            &format!("config={}", config.display()),
        )],
    );
    user.authorize_key(&server.client_public_key()).unwrap();

    let (o, asked) = login(
        &server,
        &user,
        "publickey,keyboard-interactive",
        &[(CODE_PROMPT, &code(SECRET))],
    );
    assert!(!o.status.success(), "{}", explain(&o, &asked, &server));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Permission denied"),
        "{}",
        explain(&o, &asked, &server)
    );
    assert!(server.is_running(), "sshd died: {}", server.log());
    let log = server.log();
    assert!(
        log.contains("PAM: Error in service module")
            && log.contains("mfa.toml: not a regular file"),
        "the module's error reached sshd: {log}"
    );

    // Repaired, the very same sshd logs the user in.
    std::fs::remove_dir(&config).unwrap();
    std::fs::write(&config, "[general]\nunenrolled = \"deny\"\n").unwrap();
    let (o, asked) = login(
        &server,
        &user,
        "publickey,keyboard-interactive",
        &[(CODE_PROMPT, &code(SECRET))],
    );
    assert!(succeeded(&o), "{}", explain(&o, &asked, &server));
    assert!(server.is_running());
}

/// The auth lines of the first recipe in docs/pam.md ("Password + second
/// factor"), with the modules' absolute paths and `args` on pam_mfa's line.
fn documented_password_recipe(args: &str) -> Vec<String> {
    let doc = include_str!("../../docs/pam.md");
    let section = doc
        .split("### Password + second factor")
        .nth(1)
        .expect("docs/pam.md has the password recipe");
    let block = section
        .split("```")
        .nth(1)
        .expect("the recipe starts with the PAM lines");
    let lines: Vec<String> = block
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("auth "))
        .map(|l| {
            let l = l.trim_start_matches("auth").trim();
            let l = l.replace("pam_unix.so", PAM_UNIX);
            match l.strip_suffix("pam_mfa.so") {
                Some(control) => format!("{control}{} {args}", module().display()),
                None => l,
            }
        })
        .collect();
    assert_eq!(lines.len(), 2, "two auth lines: {lines:?}");
    lines
}

/// Issue 12, item 8: under the documented recipe a wrong password ends the
/// login before pam_mfa runs, so strangers without the password cannot
/// make it send pushes, webhook posts or (billed) PhoneChecks: the
/// simulators count zero requests. The right password reaches the factor
/// (which proves the zero is not for want of a working path).
#[test]
fn a_wrong_password_reaches_no_provider() {
    if !prerequisites_sshd() {
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let duo = rt.block_on(mfa_sim::duo::DuoSim::start()).unwrap();
    let sink = rt
        .block_on(mfa_sim::webhook_sink::WebhookSink::start(
            mfa_sim::webhook_sink::Service::Slack,
        ))
        .unwrap();
    let truid = rt.block_on(mfa_sim::truid::TruIdSim::start()).unwrap();
    let requests = || {
        (
            duo.state().requests.len(),
            sink.received().len(),
            truid.requests().len(),
        )
    };

    let pushed = new_user("sshdp");
    let posted = new_user("sshdw");
    let checked = new_user("sshdc");
    for u in [&pushed, &posted, &checked] {
        u.set_password("pa55 word");
    }
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    std::fs::write(
        &users,
        format!(
            "[users.{}]\nduo_username = \"sshd.push\"\n\
             [users.{}]\nfactors = [\"webhook\"]\n\
             [users.{}]\nphone = \"+447700900000\"\nfactors = [\"phonecheck\"]\n",
            pushed.name, posted.name, checked.name
        ),
    )
    .unwrap();
    let config = dir.path().join("mfa.toml");
    std::fs::write(
        &config,
        format!(
            "[general]\nrequest_timeout_secs = 2\nusers_file = \"{}\"\n\
             [policy]\nfactors = [\"push\"]\n{}\
             [webhook]\nurl = \"{}\"\npreset = \"slack\"\n\
             [phonecheck]\napi_base_url = \"{}\"\nclient_id = \"{}\"\nclient_secret = \"{}\"\n\
             redirect_url = \"http://127.0.0.1:9/complete-check\"\n",
            users.display(),
            duo.push_section(),
            sink.url(),
            truid.uri(),
            mfa_sim::truid::SIM_CLIENT_ID,
            mfa_sim::truid::SIM_CLIENT_SECRET,
        ),
    )
    .unwrap();
    std::fs::set_permissions(&config, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let svc = Services::new();
    let server = sshd(
        &svc,
        "keyboard-interactive",
        &documented_password_recipe(&format!("config={}", config.display())),
    );
    // Whatever the factor asks, an answer: the menu, Enter, a code.
    let answers = |password: &'static str| {
        [
            ("Password", password),
            ("Passcode or option", "1"),
            ("Press Enter", ""),
            ("Code for session", "00000000"),
        ]
    };

    for user in [&pushed, &posted, &checked] {
        let (o, asked) = login(&server, user, "keyboard-interactive", &answers("wrong"));
        assert!(!o.status.success(), "{}", explain(&o, &asked, &server));
        assert!(
            asked.contains("Password"),
            "{}",
            explain(&o, &asked, &server)
        );
        assert_eq!(
            requests(),
            (0, 0, 0),
            "{}: a wrong password reached a provider: {}",
            user.name,
            explain(&o, &asked, &server)
        );
    }

    // The right password: Duo is asked, the phone approves, the login
    // goes through.
    let (o, asked) = login(
        &server,
        &pushed,
        "keyboard-interactive",
        &answers("pa55 word"),
    );
    assert!(succeeded(&o), "{}", explain(&o, &asked, &server));
    assert!(asked.contains("Passcode or option"), "{asked}");
    assert!(requests().0 > 0);
}
