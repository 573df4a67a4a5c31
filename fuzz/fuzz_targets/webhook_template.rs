//! Webhook templates and their rendering: a template that parses renders to
//! valid JSON whatever the values (hostile user names, commands, hosts).
#![no_main]
use libfuzzer_sys::fuzz_target;
use mfa_core::webhook::escape::Markup;
use mfa_core::webhook::template::{Template, Values};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // First line: the template; the rest: the values, one per line.
    let (template, rest) = text.split_once('\n').unwrap_or((text, ""));
    let mut v = rest.split('\n');
    let mut next = || v.next().unwrap_or("");
    let (user, host, rhost, command) = (next(), next(), next(), next());
    for markup in [Markup::Plain, Markup::Slack, Markup::Discord] {
        let Ok(t) = Template::parse(template, markup) else { continue };
        let values = Values {
            code: "123456",
            session: "ab12",
            user,
            host,
            rhost,
            service: "sshd",
            command,
            time: "2026-11-30T00:00:00Z",
        };
        let out = t.render(&values);
        serde_json::from_str::<serde_json::Value>(&out).expect("rendered template is JSON");
    }
});
