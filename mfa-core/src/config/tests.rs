use super::*;
use crate::phonecheck::PhoneNumber;
use std::os::unix::fs::PermissionsExt;

fn parse(src: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("/etc/mfa/mfa.toml"), src)
}

#[test]
fn empty_config_is_the_secure_default() {
    let c = parse("").unwrap();
    assert_eq!(c.general.failmode, FailMode::Secure);
    assert_eq!(c.general.unenrolled, Unenrolled::Deny);
    assert_eq!(c.policy.factors.get_ref(), &vec![FactorKind::Totp]);
    assert_eq!(c.totp.secret, "~/.google_authenticator");
    assert_eq!(c.totp.allowed_perm, 0o600);
    assert!(!c.holds_secrets());
    assert_eq!(c.fail_delay(), std::time::Duration::from_secs(2));
}

#[test]
fn fail_delay_is_configurable_and_bounded() {
    let c = parse("[general]\nfail_delay_ms = 0\n").unwrap();
    assert_eq!(c.fail_delay(), std::time::Duration::ZERO);
    let c = parse("[general]\nfail_delay_ms = 10000\n").unwrap();
    assert_eq!(c.fail_delay(), std::time::Duration::from_secs(10));
    let e = parse("[general]\n\nfail_delay_ms = 10001\n").unwrap_err();
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(3), Some("general.fail_delay_ms")),
        "{e}"
    );
    assert!(parse("[general]\nfail_delay_ms = -1\n").is_err());
}

#[test]
fn full_config_parses() {
    let src = r#"
[general]
users_file = "/etc/mfa/users.toml"
failmode = "safe"
unenrolled = "allow"
request_timeout_secs = 5
audit_log = "/var/log/mfa.log"

[policy]
factors = ["push", "totp"]
require = "all"
[[policy.rules]]
groups = ["admins"]
factors = ["totp"]
[[policy.rules]]
users = ["backup"]
action = "skip"

[totp]
secret = "/var/lib/mfa/${USER}"
allowed_perm = "0640"
noskewadj = true

[phonecheck]
api_base_url = "https://eu.api.tru.id"
client_id = "id"
client_secret = "s"
redirect_url = "https://mfa.example.com/complete-check"

[webhook]
url = "https://hooks.slack.com/services/T/B/X"
preset = "slack"
code_digits = 6

[push]
ikey = "DIXXXXXXXXXXXXXXXXXX"
skey = "secret"
host = "api-xxxxxxxx.duosecurity.com"
autopush = true
"#;
    let c = parse(src).unwrap();
    assert_eq!(c.general.failmode, FailMode::Safe);
    assert_eq!(c.policy.require, Require::All);
    assert_eq!(c.policy.rules[1].action, RuleAction::Skip);
    assert_eq!(c.totp.allowed_perm, 0o640);
    assert!(c.holds_secrets());
    assert_eq!(*c.webhook.unwrap().code_digits.get_ref(), 6);
}

#[test]
fn errors_name_file_line_and_key() {
    let e = parse("[general]\n\nfailmode = \"sometimes\"\n").unwrap_err();
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(3), Some("general.failmode")),
        "the key, not the bad value: {e}"
    );
    assert!(e.to_string().starts_with("/etc/mfa/mfa.toml:3"), "{e}");
    assert!(e.message.contains("secure"), "{e}");

    let e = parse("[general]\nfailmod = \"safe\"\n").unwrap_err();
    assert_eq!(e.key.as_deref(), Some("general.failmod"), "{e}");
    assert_eq!(e.line, Some(2), "{e}");

    let e = parse("[general]\nrequest_timeout_secs = 0\n").unwrap_err();
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(2), Some("general.request_timeout_secs")),
        "{e}"
    );

    let e = parse("[policy]\nfactors = [\"totp\", \"sms\"]\n").unwrap_err();
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(2), Some("policy.factors")),
        "{e}"
    );

    let e = parse("[webhook]\nurl = \"https://h.example/x\"\npreset = \"irc\"\n").unwrap_err();
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(3), Some("webhook.preset")),
        "{e}"
    );

    let e = parse("[[policy.rules]]\nusers = [\"a\"]\naction = \"maybe\"\n").unwrap_err();
    assert_eq!(e.key.as_deref(), Some("policy.rules.action"), "{e}");

    let e = parse("[push]\nikey = \"DI\"\nhost = \"api.example\"\n").unwrap_err();
    assert!(e.message.contains("skey"), "{e}");
    assert_eq!(e.key.as_deref(), Some("push.skey"), "{e}");

    let e = parse("[general\n").unwrap_err();
    assert_eq!(e.line, Some(1), "{e}");
}

#[test]
fn a_host_name_is_ascii_or_written_as_punycode() {
    let hook = |url: &str| parse(&format!("[webhook]\nurl = \"{url}\"\n"));
    assert!(hook("https://xn--bcher-kva.example/hook").is_ok());
    let e = hook("https://bücher.example/hook").unwrap_err();
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(2), Some("webhook.url")),
        "{e}"
    );
    assert!(e.to_string().contains("in its ASCII (xn--) form"), "{e}");
    // Not a host name's fault: no hint.
    let e = hook("https://hooks.example.com:99999/x").unwrap_err();
    assert!(!e.to_string().contains("xn--"), "{e}");
}

#[test]
fn plain_http_only_to_loopback() {
    let hook = |url: &str| parse(&format!("[webhook]\nurl = \"{url}\"\n"));
    for ok in [
        "https://hooks.example.com/x",
        "http://127.0.0.1:9000/hook",
        "http://127.3.4.5/hook",
        "http://[::1]:80/x",
        "http://localhost:1234/",
    ] {
        assert!(hook(ok).is_ok(), "{ok}");
    }
    for bad in [
        "http://hooks.example.com/x",
        "http://10.0.0.1/x",
        "http://127.0.0.1.nip.io/x",
        "http://[::ffff:127.0.0.1]/x",
        "ftp://127.0.0.1/x",
        "not a url",
    ] {
        let e = hook(bad).unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(2), Some("webhook.url")),
            "{bad}: {e}"
        );
    }
}

#[test]
fn provider_sections_are_validated() {
    let e = parse("[push]\nikey = \"i\"\nskey = \"s\"\nhost = \"https://api.duo\"\n").unwrap_err();
    assert_eq!(e.key.as_deref(), Some("push.host"));
    assert_eq!(e.line, Some(4));
    let e = parse(
        "[phonecheck]\napi_base_url = \"https://eu.api.tru.id\"\nredirect_url = \"https://x/cb\"\n",
    )
    .unwrap_err();
    assert_eq!(e.key.as_deref(), Some("phonecheck.client_secret"), "{e}");
    let e = parse("[webhook]\nurl = \"https://x/\"\ncode_digits = 4\n").unwrap_err();
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(3), Some("webhook.code_digits"))
    );
    let e = parse("[policy]\n[[policy.rules]]\nfactors = [\"totp\"]\n").unwrap_err();
    assert_eq!(e.key.as_deref(), Some("policy.rules[0]"));
}

#[test]
fn load_checks_permissions() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("mfa.toml");
    std::fs::write(&p, "[webhook]\nurl = \"https://hooks.example/x\"\n").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = Config::load(&p).unwrap_err();
    assert!(e.message.contains("secrets"), "{e}");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
    assert!(Config::load(&p).is_ok());
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
    assert!(Config::load(&p)
        .unwrap_err()
        .message
        .contains("others change it"));
    // No secrets: readable by all is fine.
    std::fs::write(&p, "[general]\nfailmode = \"secure\"\n").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(Config::load(&p).is_ok());
    let e = Config::load(&d.path().join("missing.toml")).unwrap_err();
    assert!(e.to_string().contains("missing.toml: cannot open"), "{e}");
}

#[test]
fn only_a_missing_default_config_means_the_built_in_default() {
    let d = tempfile::tempdir().unwrap();
    let missing = d.path().join("mfa.toml");
    assert_eq!(
        Config::load_if_present(&missing).unwrap().general.failmode,
        FailMode::Secure
    );
    // A path that cannot be looked up is not "missing" (here ENOTDIR; for
    // mfa-login without its group it is EACCES on /etc/mfa).
    std::fs::write(&missing, "").unwrap();
    let e = Config::load_if_present(&missing.join("x")).unwrap_err();
    assert!(e.to_string().contains("cannot look up"), "{e}");
    std::fs::write(&missing, "[general]\nfailmode = \"safe\"\n").unwrap();
    std::fs::set_permissions(&missing, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(
        Config::load_if_present(&missing).unwrap().general.failmode,
        FailMode::Safe
    );
}

#[test]
fn users_file_round_trip_and_errors() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("users.toml");
    let mut db = UsersDb::default();
    db.users.insert(
        "alice".into(),
        UserEntry {
            phone: Some(PhoneNumber::parse("+447700900000").unwrap()),
            duo_username: None,
            factors: Some(vec![FactorKind::Phonecheck]),
        },
    );
    db.users
        .insert("o'brien \"x\"".into(), UserEntry::default());
    db.save(&p).unwrap();
    let back = UsersDb::load(&p, false).unwrap();
    assert_eq!(back, db);
    assert!(back.get("Alice").is_none(), "exact names only");
    assert!(back.get("o'brien \"x\"").is_some());
    assert_eq!(
        UsersDb::load(&d.path().join("none"), true).unwrap(),
        UsersDb::default()
    );
    let e = UsersDb::parse(&p, "[users.bob]\nphone = 5\n").unwrap_err();
    assert_eq!(e.line, Some(2), "{e}");
}

#[test]
fn users_file_values_are_typed_at_load_and_errors_are_located() {
    let p = Path::new("/etc/mfa/users.toml");
    let db = UsersDb::parse(
        p,
        "[users.alice]\nphone = \"447700900000\"\nduo_username = \"alice.smith\"\n",
    )
    .unwrap();
    let alice = db.get("alice").unwrap();
    assert_eq!(alice.phone.as_ref().unwrap().digits(), "447700900000");
    assert_eq!(alice.duo_username.as_ref().unwrap().as_str(), "alice.smith");
    // Saved in the canonical form.
    let text = toml::to_string(&db).unwrap();
    assert!(text.contains("phone = \"+447700900000\""), "{text}");

    for (src, key, line, needle) in [
        (
            "[users.bob]\nfactors = [\"totp\"]\nphone = \"+44 7700 900000\"\n",
            "users.bob.phone",
            3,
            "only an optional leading '+'",
        ),
        (
            "[users.bob]\nduo_username = \"bob\\u001b[2J\"\n",
            "users.bob.duo_username",
            2,
            "control characters",
        ),
        (
            "[users.bob]\nduo_username = \"\"\n",
            "users.bob.duo_username",
            2,
            "1 to 128",
        ),
    ] {
        let e = UsersDb::parse(p, src).unwrap_err();
        assert_eq!(e.file, p, "{e}");
        assert_eq!(e.line, Some(line), "{e}");
        assert_eq!(e.key.as_deref(), Some(key), "{e}");
        assert!(e.message.contains(needle), "{e}");
        assert!(!e.to_string().contains("7700 900000"), "{e}");
    }
}

#[test]
fn allowed_perm_is_a_quoted_octal_string_and_an_integer_is_refused() {
    for (src, want) in [
        ("\"0640\"", 0o640),
        ("\"640\"", 0o640),
        ("\"0o640\"", 0o640),
    ] {
        let c = parse(&format!("[totp]\nallowed_perm = {src}\n")).unwrap();
        assert_eq!(c.totp.allowed_perm, want, "{src}");
    }
    // 600 was once read as decimal (0o1130, group-writable and sticky);
    // a TOML 0o600 is the number 384 by the time serde sees it. Neither is
    // guessed at: the error says to quote the mode, at its line and key.
    for src in ["600", "0o600"] {
        let e = parse(&format!("[general]\n[totp]\nallowed_perm = {src}\n")).unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(3), Some("totp.allowed_perm")),
            "{e}"
        );
        assert!(e.message.contains("quoted string"), "{e}");
    }
    for src in ["\"0999\"", "\"17777\"", "\"\"", "\"+600\""] {
        let e = parse(&format!("[totp]\nallowed_perm = {src}\n")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("totp.allowed_perm"), "{src}: {e}");
    }
}
