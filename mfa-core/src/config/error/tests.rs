//! No configuration error repeats the value of a secret key, however the
//! value is malformed and wherever the error is found.

use std::path::Path;

use super::*;
use crate::config::Config;

const PUSH: &str = "[push]\nikey = \"DIWJ8X6AEYOR5OMC6TQ1\"\nskey = \"Zh5eGmUq9zpfQnyUIu5OL9iWoMMv5ZNmk3zLJ4Ep\"\nhost = \"api-x.duosecurity.com\"\n";
const PHONECHECK: &str = "[phonecheck]\napi_base_url = \"https://eu.api.tru.id\"\nredirect_url = \"https://mfa.example.com/complete-check\"\nclient_id = \"id-0f3e\"\nclient_secret = \"tru-s3cr3t-0f3e\"\n";
const WEBHOOK: &str = "[webhook]\nurl = \"https://hooks.slack.com/services/T000/B000/XXXX\"\n";

/// `section` with `key`'s line replaced by `key = value`.
fn with(section: &str, key: &str, value: &str) -> String {
    let name = key.rsplit('.').next().unwrap();
    let mut replaced = false;
    let mut out: Vec<String> = section
        .lines()
        .map(|l| {
            if l.starts_with(&format!("{name} = ")) {
                replaced = true;
                format!("{name} = {value}")
            } else {
                l.to_owned()
            }
        })
        .collect();
    if !replaced {
        out.push(format!("{name} = {value}"));
    }
    out.join("\n") + "\n"
}

fn error_of(src: &str) -> ConfigError {
    match Config::parse(Path::new("/etc/mfa/mfa.toml"), src) {
        Err(e) => e,
        Ok(_) => panic!("accepted: {src}"),
    }
}

/// Every secret key, each with values that are malformed in a different
/// way; `hidden` is the text of the value that must not appear.
fn cases() -> Vec<(&'static str, String, &'static str)> {
    let mut v = Vec::new();
    for (section, key) in [
        (PUSH, "push.ikey"),
        (PUSH, "push.skey"),
        (PUSH, "push.proxy"),
        (PHONECHECK, "phonecheck.client_id"),
        (PHONECHECK, "phonecheck.client_secret"),
        (WEBHOOK, "webhook.url"),
    ] {
        for (value, hidden) in [
            ("98765432109876", "98765432109876"),
            ("98765.4321", "98765.4321"),
            ("[\"s3cr3tInAnArray\"]", "s3cr3tInAnArray"),
            ("{ v = \"s3cr3tInATable\" }", "s3cr3tInATable"),
            ("1979-05-27T07:32:00Z", "1979-05-27"),
        ] {
            v.push((key, with(section, key, value), hidden));
        }
    }
    // Strings that fail validation rather than parsing.
    for (section, key, value, hidden) in [
        (
            WEBHOOK,
            "webhook.url",
            "\"http://hooks.example.com/services/s3cr3tPath\"",
            "s3cr3tPath",
        ),
        (
            WEBHOOK,
            "webhook.url",
            "\"s3cr3tscheme://hooks.example.com/x\"",
            "s3cr3tscheme",
        ),
        (
            WEBHOOK,
            "webhook.url",
            "\"hooks.example.com/services/s3cr3tNoScheme\"",
            "s3cr3tNoScheme",
        ),
        (
            PUSH,
            "push.proxy",
            "\"s3cr3tproxy://user:pw@proxy.example:3128\"",
            "s3cr3tproxy",
        ),
        (
            PUSH,
            "push.proxy",
            "\"https://user:s3cr3tPw@[bad\"",
            "s3cr3tPw",
        ),
    ] {
        v.push((key, with(section, key, value), hidden));
    }
    // An inline table, where the line names the section, not the key.
    v.push((
        "push",
        "push = { ikey = \"DI1\", skey = 98765432109876, host = \"h.example\" }\n".to_owned(),
        "98765432109876",
    ));
    v
}

#[test]
fn no_error_repeats_a_secret_value() {
    for (key, src, hidden) in cases() {
        let e = error_of(&src);
        let shown = format!("{e}\n{e:?}");
        assert!(!shown.contains(hidden), "{key} = {hidden}: {shown}");
        assert_eq!(e.key.as_deref(), Some(key), "{src}: {shown}");
        assert!(e.line.is_some(), "{src}: {shown}");
    }
}

#[test]
fn a_secret_keys_error_still_says_what_was_expected() {
    let e = error_of(&with(PUSH, "push.skey", "98765432109876"));
    assert_eq!(e.line, Some(3));
    assert!(e.message.contains("expected a string"), "{e}");
    assert!(e.message.contains("not shown"), "{e}");
}

#[test]
fn other_keys_keep_serdes_message() {
    // Not a secret: the value helps the administrator and stays.
    let e = error_of("[general]\nfailmode = \"open\"\n");
    assert!(e.message.contains("open"), "{e}");
    let e = error_of("[general]\nlogin_timeout_secs = \"ninety\"\n");
    assert!(e.message.contains("ninety"), "{e}");
}

#[test]
fn which_keys_are_secret() {
    for k in SECRET_KEYS {
        assert!(is_secret_key(k), "{k}");
    }
    for k in ["state.password", "x.api_token", "y.client_secret"] {
        assert!(is_secret_key(k), "{k}");
    }
    for k in [
        "push.host",
        "webhook.template",
        "phonecheck.api_base_url",
        "general.failmode",
    ] {
        assert!(!is_secret_key(k), "{k}");
    }
}
