//! `mfa doctor` on a temp root: a clean setup (made by `mfa install`)
//! reports no failure; each seeded misconfiguration is reported by its
//! check, one test per case.

mod common;
use common::root::{explain, prerequisites, TempRoot, MFA_GID};
use serde_json::Value;

/// A root set up by `mfa install pam` (or `login`), as an admin would.
fn installed(mode: &[&str]) -> Option<TempRoot> {
    if !prerequisites() {
        return None;
    }
    let r = TempRoot::new();
    let mut args = vec!["install"];
    args.extend_from_slice(mode);
    let o = r.mfa(&args);
    assert_eq!(o.status.code(), Some(0), "{}", explain(&o));
    Some(r)
}

/// `mfa --json doctor --root R --user alice`: exit code and findings.
fn doctor(r: &TempRoot) -> (i32, Vec<Value>) {
    let o = r.mfa(&["--json", "doctor", "--user", "alice"]);
    let v: Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", explain(&o)));
    assert_eq!(v["ok"], o.status.code() == Some(0), "{v}");
    (
        o.status.code().unwrap(),
        v["checks"].as_array().unwrap().clone(),
    )
}

/// The findings of `check` at `level`; panics with the report if none.
fn reported(r: &TempRoot, check: &str, level: &str) -> Vec<Value> {
    let (code, findings) = doctor(r);
    let hits: Vec<Value> = findings
        .iter()
        .filter(|f| f["check"] == check && f["level"] == level)
        .cloned()
        .collect();
    assert!(!hits.is_empty(), "no {level} from {check}: {findings:#?}");
    assert!(hits.iter().all(|f| f["fix"].is_string()), "a fix is named");
    assert_eq!(
        code,
        if level == "fail" { 1 } else { code },
        "{findings:#?}"
    );
    hits
}

fn no_failures(r: &TempRoot) -> Vec<Value> {
    let (code, findings) = doctor(r);
    let fails: Vec<&Value> = findings.iter().filter(|f| f["level"] == "fail").collect();
    assert!(fails.is_empty(), "{fails:#?}");
    assert_eq!(code, 0);
    findings
}

fn message(f: &[Value]) -> String {
    f[0]["message"].as_str().unwrap().to_owned()
}

#[test]
fn a_clean_pam_setup_reports_no_failure() {
    let Some(r) = installed(&["pam"]) else { return };
    let findings = no_failures(&r);
    for check in [
        "config",
        "pam.bypass",
        "pam.wrong-password",
        "sshd.usepam",
        "sshd.methods",
        "users.enrolled",
    ] {
        assert!(
            findings
                .iter()
                .any(|f| f["check"] == check && f["level"] == "ok"),
            "{check} ok: {findings:#?}"
        );
    }
    // The human form: one line per check, exit 0.
    let o = r.mfa(&["doctor", "--user", "alice"]);
    assert_eq!(o.status.code(), Some(0), "{}", explain(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("ok    pam.bypass"));
}

#[test]
fn a_clean_login_setup_reports_no_failure() {
    let Some(r) = installed(&["login"]) else {
        return;
    };
    let findings = no_failures(&r);
    assert!(findings
        .iter()
        .any(|f| f["check"] == "sshd.forwarding" && f["level"] == "ok"));
    assert!(findings
        .iter()
        .any(|f| f["check"] == "mfa-login" && f["level"] == "ok"));
}

#[test]
fn nothing_installed_fails() {
    if !prerequisites() {
        return;
    }
    let r = TempRoot::new();
    reported(&r, "installed", "fail");
}

#[test]
fn config_syntax_error() {
    let Some(r) = installed(&["pam"]) else { return };
    r.write(
        "/etc/mfa/mfa.toml",
        "[general]\nunenrolled = \"sometimes\"\n",
    );
    let f = reported(&r, "config", "fail");
    assert!(
        message(&f).contains("mfa.toml:2: general.unenrolled"),
        "{f:?}"
    );
}

#[test]
fn config_writable_by_others() {
    let Some(r) = installed(&["pam"]) else { return };
    r.write("/etc/mfa/mfa.toml", "[general]\n");
    r.chmod("/etc/mfa/mfa.toml", 0o666);
    let f = reported(&r, "config", "fail");
    assert!(message(&f).contains("lets others change it"), "{f:?}");
}

#[test]
fn config_with_secrets_readable_by_others() {
    let Some(r) = installed(&["pam"]) else { return };
    r.write(
        "/etc/mfa/mfa.toml",
        "[webhook]\nurl = \"http://127.0.0.1:9/hook/secret\"\npreset = \"generic\"\n",
    );
    r.chmod("/etc/mfa/mfa.toml", 0o644);
    let f = reported(&r, "config", "fail");
    assert!(message(&f).contains("holds provider secrets"), "{f:?}");
    assert!(!message(&f).contains("hook/secret"));
}

#[test]
fn users_file_does_not_parse() {
    let Some(r) = installed(&["pam"]) else { return };
    r.write("/etc/mfa/users.toml", "[users.alice\n");
    reported(&r, "users-file", "fail");
}

#[test]
fn sufficient_module_before_pam_mfa() {
    let Some(r) = installed(&["pam"]) else { return };
    let pam = r.read("/etc/pam.d/sshd");
    r.write(
        "/etc/pam.d/sshd",
        &pam.replace(
            "@include common-auth",
            "auth sufficient pam_unix.so\n@include common-auth",
        ),
    );
    let f = reported(&r, "pam.bypass", "fail");
    assert!(message(&f).contains("/etc/pam.d/sshd:4"), "{f:?}");
}

#[test]
fn a_wrong_password_reaches_pam_mfa() {
    let Some(r) = installed(&["pam"]) else { return };
    let pam = r.read("/etc/pam.d/sshd");
    r.write(
        "/etc/pam.d/sshd",
        &pam.replace("@include common-auth", "auth required pam_unix.so"),
    );
    reported(&r, "pam.wrong-password", "warn");
}

#[test]
fn nullok_left_on() {
    let Some(r) = installed(&["pam"]) else { return };
    let pam = r.read("/etc/pam.d/sshd");
    r.write(
        "/etc/pam.d/sshd",
        &pam.replace("pam_mfa.so", "pam_mfa.so nullok"),
    );
    reported(&r, "pam.nullok", "warn");
}

#[test]
fn network_object_missing_when_a_network_factor_is_configured() {
    let Some(r) = installed(&["pam"]) else { return };
    let arch = std::env::consts::ARCH;
    let net = format!("/usr/lib/{arch}-linux-gnu/security/pam_mfa_net.so");
    std::fs::remove_file(r.path(&net)).unwrap();
    r.write(
        "/etc/mfa/mfa.toml",
        "[webhook]\nurl = \"http://127.0.0.1:9/hook\"\npreset = \"generic\"\n",
    );
    r.chmod("/etc/mfa/mfa.toml", 0o600);
    let o = r.mfa(&["--json", "doctor", "--user", "alice", "--offline"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("no pam_mfa_net.so beside"),
        "{}",
        explain(&o)
    );
    // With it beside pam_mfa.so the check passes.
    let arch = std::env::consts::ARCH;
    r.write(
        &format!("/usr/lib/{arch}-linux-gnu/security/pam_mfa_net.so"),
        "stand-in",
    );
    let o = r.mfa(&["--json", "doctor", "--user", "alice", "--offline"]);
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("pam_mfa_net.so"),
        "{}",
        explain(&o)
    );
}

#[test]
fn pam_module_missing() {
    let Some(r) = installed(&["pam"]) else { return };
    let arch = std::env::consts::ARCH;
    std::fs::remove_file(r.path(&format!("/usr/lib/{arch}-linux-gnu/security/pam_mfa.so")))
        .unwrap();
    reported(&r, "pam.module", "fail");
}

fn set_dropin(r: &TempRoot, from: &str, to: &str) {
    let p = "/etc/ssh/sshd_config.d/10-mfa.conf";
    let text = r.read(p);
    assert!(text.contains(from), "{text}");
    r.write(p, &text.replace(from, to));
}

#[test]
fn usepam_off() {
    let Some(r) = installed(&["pam"]) else { return };
    set_dropin(&r, "UsePAM yes", "UsePAM no");
    reported(&r, "sshd.usepam", "fail");
}

#[test]
fn keyboard_interactive_off() {
    let Some(r) = installed(&["pam"]) else { return };
    // (With keyboard-interactive in AuthenticationMethods, `sshd -t`
    // itself refuses this; without the line the check must see it.)
    set_dropin(
        &r,
        "KbdInteractiveAuthentication yes",
        "KbdInteractiveAuthentication no",
    );
    set_dropin(&r, "AuthenticationMethods keyboard-interactive\n", "");
    reported(&r, "sshd.kbdinteractive", "fail");
}

#[test]
fn a_method_list_without_keyboard_interactive() {
    let Some(r) = installed(&["pam"]) else { return };
    set_dropin(
        &r,
        "AuthenticationMethods keyboard-interactive",
        "AuthenticationMethods keyboard-interactive publickey",
    );
    reported(&r, "sshd.methods", "fail");
}

#[test]
fn code_alone_logs_in_when_pam_has_no_password() {
    let Some(r) = installed(&["pam", "--first-factor", "publickey"]) else {
        return;
    };
    set_dropin(
        &r,
        "AuthenticationMethods publickey,keyboard-interactive",
        "AuthenticationMethods keyboard-interactive",
    );
    let f = reported(&r, "sshd.methods", "fail");
    assert!(
        message(&f).contains("a code without password or key logs in"),
        "{f:?}"
    );
}

#[test]
fn sshd_rejects_the_configuration() {
    let Some(r) = installed(&["pam"]) else { return };
    r.write(
        "/etc/ssh/sshd_config.d/50-typo.conf",
        "PermitRootLogin perhaps\n",
    );
    reported(&r, "sshd.config", "fail");
}

#[test]
fn forcecommand_with_forwarding_open() {
    let Some(r) = installed(&["login", "--group", "staff"]) else {
        return;
    };
    set_dropin(&r, "    DisableForwarding yes\n", "");
    let f = reported(&r, "sshd.forwarding", "fail");
    assert!(message(&f).contains("ssh -N"), "{f:?}");
}

#[test]
fn mfa_login_not_setgid() {
    let Some(r) = installed(&["login"]) else {
        return;
    };
    r.chmod("/usr/sbin/mfa-login", 0o755);
    let f = reported(&r, "mfa-login", "fail");
    assert!(message(&f).contains("not setgid"), "{f:?}");
}

#[test]
fn mfa_login_group_cannot_read_the_config() {
    let Some(r) = installed(&["login"]) else {
        return;
    };
    r.write("/etc/mfa/mfa.toml", "[general]\n");
    // Config root:root 0600: the setgid group cannot read it.
    r.chmod("/etc/mfa/mfa.toml", 0o600);
    let f = reported(&r, "mfa-login", "fail");
    assert!(message(&f).contains("cannot read it"), "{f:?}");
    // root:mfa 0640 is right.
    std::os::unix::fs::chown(r.path("/etc/mfa/mfa.toml"), Some(0), Some(MFA_GID)).unwrap();
    r.chmod("/etc/mfa/mfa.toml", 0o640);
    no_failures(&r);
}

#[test]
fn users_who_would_be_denied_are_listed() {
    let Some(r) = installed(&["pam"]) else { return };
    std::fs::remove_file(r.path("/root/.google_authenticator")).unwrap();
    let f = reported(&r, "users.enrolled", "warn");
    assert!(
        message(&f).contains("would be denied") && message(&f).contains("root"),
        "{f:?}"
    );
    r.write("/etc/mfa/mfa.toml", "[general]\nunenrolled = \"allow\"\n");
    let f = reported(&r, "users.enrolled", "warn");
    assert!(message(&f).contains("first factor alone"), "{f:?}");
}

#[test]
fn an_unreachable_provider_fails() {
    let Some(r) = installed(&["pam"]) else { return };
    // A closed loopback port: nothing listens on port 9 (discard) here.
    r.write(
        "/etc/mfa/mfa.toml",
        "[general]\nrequest_timeout_secs = 2\n\
         [webhook]\nurl = \"http://127.0.0.1:9/hook/secret\"\npreset = \"generic\"\n",
    );
    r.chmod("/etc/mfa/mfa.toml", 0o600);
    let f = reported(&r, "provider.webhook", "fail");
    assert!(
        !message(&f).contains("secret"),
        "the URL path stays out: {f:?}"
    );
    // --offline skips it.
    let o = r.mfa(&["--json", "doctor", "--user", "alice", "--offline"]);
    assert!(!String::from_utf8_lossy(&o.stdout).contains("provider.webhook"));
}

/// `mfa mock serve`, killed when dropped.
struct Mock(std::process::Child);
impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn field(entry: &str, key: &str) -> String {
    let start = entry.find(&format!("{key} = \"")).unwrap() + key.len() + 4;
    entry[start..].split('"').next().unwrap().to_owned()
}

#[test]
fn duo_is_checked_with_the_configured_keys() {
    use std::io::BufRead;
    let Some(r) = installed(&["pam"]) else { return };
    let mut child = common::mfa()
        .args(["--json", "mock", "serve"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _mock = Mock(child);
    let first = std::io::BufReader::new(stdout)
        .lines()
        .next()
        .unwrap()
        .unwrap();
    let entry = common::simulator_url(&first, "duo");
    std::fs::create_dir_all(r.path("/etc/mfa")).unwrap();
    std::fs::copy(field(&entry, "ca_file"), r.path("/etc/mfa/duo-ca.pem")).unwrap();
    let config = |skey: &str| {
        format!(
            "[general]\nrequest_timeout_secs = 5\n\
             [push]\nikey = \"{}\"\nskey = \"{skey}\"\nhost = \"{}\"\nca_file = \"/etc/mfa/duo-ca.pem\"\n",
            field(&entry, "ikey"),
            field(&entry, "host"),
        )
    };
    r.write("/etc/mfa/mfa.toml", &config(&field(&entry, "skey")));
    r.chmod("/etc/mfa/mfa.toml", 0o600);
    let findings = no_failures(&r);
    assert!(
        findings
            .iter()
            .any(|f| f["check"] == "provider.push" && f["level"] == "ok"),
        "{findings:#?}"
    );
    assert!(findings
        .iter()
        .any(|f| f["check"] == "clock.duo" && f["level"] == "ok"));
    // A wrong secret key: Duo refuses /auth/v2/check.
    r.write("/etc/mfa/mfa.toml", &config(&"x".repeat(40)));
    let f = reported(&r, "provider.push", "fail");
    assert!(message(&f).contains("/auth/v2/check"), "{f:?}");
}

#[test]
fn pam_mfa_twice_in_the_stack() {
    let Some(r) = installed(&["pam"]) else { return };
    // As if the pam-auth-update profile were enabled as well.
    let common = r.read("/etc/pam.d/common-auth");
    r.write(
        "/etc/pam.d/common-auth",
        &format!("{common}auth\trequired\t\t\tpam_mfa.so\n"),
    );
    reported(&r, "pam.duplicate", "warn");
}
