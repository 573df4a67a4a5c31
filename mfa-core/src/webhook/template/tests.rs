use super::*;
use serde_json::Value;

fn values<'a>(user: &'a str, command: &'a str) -> Values<'a> {
    Values {
        code: "04218873",
        session: "KX7QD",
        user,
        host: "bastion",
        rhost: "203.0.113.9",
        service: "sshd",
        command,
        time: "2026-11-24T07:45:00Z",
    }
}

fn render_json(t: &Template, v: &Values<'_>) -> Value {
    let s = t.render(v);
    assert!(s.is_ascii(), "escaped output is pure ASCII: {}", *s);
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("{e}: {}", *s))
}

fn preset(p: WebhookPreset) -> Template {
    Template::for_config(p, None).unwrap()
}

#[test]
fn slack_preset_is_a_text_message() {
    let v = render_json(&preset(WebhookPreset::Slack), &values("alice", ""));
    let obj = v.as_object().unwrap();
    assert_eq!(obj.keys().collect::<Vec<_>>(), ["text"]);
    let text = v["text"].as_str().unwrap();
    assert!(
        text.contains("04218873") && text.contains("KX7QD"),
        "{text}"
    );
    assert!(text.contains("alice") && text.contains("bastion") && text.contains("203.0.113.9"));
}

#[test]
fn discord_preset_has_content_and_no_mentions() {
    let v = render_json(&preset(WebhookPreset::Discord), &values("alice", ""));
    assert!(v["content"].as_str().unwrap().contains("04218873"));
    assert_eq!(v["allowed_mentions"]["parse"], serde_json::json!([]));
}

#[test]
fn teams_preset_is_an_adaptive_card_message() {
    let v = render_json(&preset(WebhookPreset::Teams), &values("alice", ""));
    assert_eq!(v["type"], "message");
    let att = &v["attachments"][0];
    assert_eq!(
        att["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(att["content"]["type"], "AdaptiveCard");
    assert_eq!(att["content"]["body"][0]["type"], "TextBlock");
    assert!(att["content"]["body"][0]["text"]
        .as_str()
        .unwrap()
        .contains("04218873"));
}

#[test]
fn generic_preset_is_flat_with_every_field() {
    let v = render_json(&preset(WebhookPreset::Generic), &values("alice", "uptime"));
    for var in Var::ALL {
        assert!(v[var.name()].is_string(), "{} missing: {v}", var.name());
    }
    assert_eq!(v["code"], "04218873");
    assert_eq!(v["command"], "uptime");
    assert!(
        v.as_object().unwrap().values().all(Value::is_string),
        "flat"
    );
}

#[test]
fn hostile_values_stay_inside_their_field() {
    let t = preset(WebhookPreset::Generic);
    let hostile_user = "eve\", \"code\": \"00000000";
    let cmd = "x\"}\\\n\r\t\u{0}\u{7f}\u{85}\u{2028}{{code}} \u{1F600}";
    let v = render_json(&t, &values(hostile_user, cmd));
    assert_eq!(v["user"], hostile_user);
    assert_eq!(v["command"], cmd);
    assert_eq!(v["code"], "04218873", "the forged field did not win");
    assert_eq!(v.as_object().unwrap().len(), 9);
}

#[test]
fn a_code_placeholder_inside_a_value_is_not_expanded() {
    let t = preset(WebhookPreset::Generic);
    let v = render_json(&t, &values("{{code}}", "echo {{ code }}"));
    assert_eq!(v["user"], "{{code}}");
    assert_eq!(v["command"], "echo {{ code }}");
    let s = t.render(&values("{{code}}", "{{code}}"));
    assert_eq!(
        s.matches("04218873").count(),
        2,
        "only code and text: {}",
        *s
    );
}

#[test]
fn non_utf8_input_converted_lossily_is_escaped() {
    let cmd = String::from_utf8_lossy(b"ls \xff\xfe\"/tmp\"").into_owned();
    let v = render_json(&preset(WebhookPreset::Generic), &values("bob", &cmd));
    assert_eq!(v["command"], cmd.as_str());
    assert!(cmd.contains('\u{fffd}'));
}

#[test]
fn long_values_are_capped() {
    let long = "A".repeat(100_000);
    let v = render_json(&preset(WebhookPreset::Discord), &values("bob", &long));
    assert!(v["content"].as_str().unwrap().chars().count() < 2000);
    let v = render_json(&preset(WebhookPreset::Generic), &values(&long, &long));
    assert_eq!(v["command"].as_str().unwrap().chars().count(), 256);
    assert!(v["command"].as_str().unwrap().ends_with('…'));
    assert_eq!(v["user"].as_str().unwrap().chars().count(), 64);
}

#[test]
fn markup_is_neutralised_for_slack_and_discord() {
    let v = render_json(&preset(WebhookPreset::Slack), &values("<!channel>&", ""));
    let text = v["text"].as_str().unwrap();
    assert!(text.contains("&lt;!channel&gt;&amp;"), "{text}");
    assert!(!text.contains("<!channel>"));
    let v = render_json(
        &preset(WebhookPreset::Discord),
        &values("[click](https://evil.example) @everyone\n# big", ""),
    );
    let content = v["content"].as_str().unwrap();
    assert!(
        content.contains(r"\[click\]\(https://evil.example\) \@everyone # big"),
        "{content}"
    );
    assert!(content.contains("2026-11-24T07:45:00Z"), "{content}");
    // Generic JSON keeps values verbatim.
    let v = render_json(&preset(WebhookPreset::Generic), &values("<a>&", ""));
    assert_eq!(v["user"], "<a>&");
}

#[test]
fn custom_template_overrides_the_preset() {
    let t = Template::for_config(
        WebhookPreset::Slack,
        Some(r#"{"blocks": [], "text": "{{ code }} / {{session}}"}"#),
    )
    .unwrap();
    let v = render_json(&t, &values("alice", ""));
    assert_eq!(v["text"], "04218873 / KX7QD");
    assert!(v["blocks"].is_array());
}

#[test]
fn bad_templates_are_refused() {
    let parse = |s: &str| Template::parse(s, Markup::Plain).unwrap_err();
    assert_eq!(
        parse(r#"{"t": "{{code}} {{usr}}"}"#),
        TemplateError::Unknown("usr".into())
    );
    assert!(parse(r#"{"t": "{{code}} {{usr}}"}"#)
        .to_string()
        .contains("{{usr}}"));
    assert_eq!(parse(r#"{"t": "{{code"}"#), TemplateError::Unclosed(7));
    assert_eq!(
        parse(r#"{"n": {{code}}}"#),
        TemplateError::OutsideString("code")
    );
    // A variable after an escaped quote is still inside the string.
    assert!(Template::parse(r#"{"t": "say \"{{code}}\""}"#, Markup::Plain).is_ok());
    // ...but after a closing quote it is not.
    assert_eq!(
        parse(r#"{"t": "x", "u": {{user}}, "c": "{{code}}"}"#),
        TemplateError::OutsideString("user")
    );
    assert_eq!(parse(r#"{"t": "{{user}}"}"#), TemplateError::NoCode);
    assert!(matches!(
        parse(r#"{"t": "{{code}}",}"#),
        TemplateError::InvalidJson(_)
    ));
    assert!(matches!(
        parse(r#"{"t": "\q{{code}}"}"#),
        TemplateError::InvalidJson(_)
    ));
    assert_eq!(parse(r#"["{{code}}"]"#), TemplateError::NotObject);
    // A user named "code" must not be able to shadow the code field.
    assert_eq!(
        parse(r#"{"code": "{{code}}", "{{user}}": "x"}"#),
        TemplateError::VariableInKey
    );
    assert_eq!(
        parse(r#"{"a": {"k{{host}}": "{{code}}"}}"#),
        TemplateError::VariableInKey
    );
    assert!(Template::parse(r#"{"a": [{"k": "{{code}} {{host}}"}]}"#, Markup::Plain).is_ok());
    assert_eq!(parse(r#""{{code}}""#), TemplateError::NotObject);
}

#[test]
fn a_variable_outside_a_string_is_named_on_any_line() {
    // The parser stops on the variable; its place is found by line and
    // byte column, also after multi-byte characters on the same line.
    let multi = "{\n  \"t\": \"{{code}}\",\n  \"n\": {{user}}\n}";
    assert_eq!(
        Template::parse(multi, Markup::Plain).unwrap_err(),
        TemplateError::OutsideString("user")
    );
    let wide = r#"{"é ✓": "{{code}}", "n": {{host}}}"#;
    assert_eq!(
        Template::parse(wide, Markup::Plain).unwrap_err(),
        TemplateError::OutsideString("host")
    );
    // A JSON error elsewhere stays a JSON error, located in the template.
    let e = Template::parse("{\n\"t\": \"{{code}}\"\n\"u\": 1}", Markup::Plain).unwrap_err();
    assert!(
        matches!(&e, TemplateError::InvalidJson(m) if m.contains("line 3")),
        "{e}"
    );
}

#[test]
fn values_only_ever_fill_string_contents() {
    // Numbers, booleans, nulls and nesting are kept as written; every
    // filled value is one JSON string, whatever it holds.
    let t = Template::parse(
        r#"{"n": 1, "b": true, "z": null, "a": [{"c": "{{code}}"}, "{{user}}"]}"#,
        Markup::Plain,
    )
    .unwrap();
    let v = render_json(&t, &values("\"}], \"x\": [1", ""));
    assert_eq!(v["n"], 1);
    assert_eq!(v["b"], true);
    assert!(v["z"].is_null());
    assert_eq!(v["a"][0]["c"], "04218873");
    assert_eq!(v["a"][1], "\"}], \"x\": [1");
    assert_eq!(v.as_object().unwrap().len(), 4);
}

#[test]
fn json_escaping_covers_every_class() {
    let mut s = String::new();
    push_json_escaped(&mut s, "a\"b\\c\nd\u{1}\u{7f}é\u{1F600}");
    assert_eq!(s, r#"a\"b\\c\nd\u0001\u007f\u00e9\ud83d\ude00"#);
    let back: String = serde_json::from_str(&format!("\"{s}\"")).unwrap();
    assert_eq!(back, "a\"b\\c\nd\u{1}\u{7f}é\u{1F600}");
}

#[test]
fn time_is_rfc3339_utc() {
    assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339_utc(1_700_000_000), "2023-11-14T22:13:20Z");
    assert_eq!(rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
    assert_eq!(rfc3339_utc(4_102_444_799), "2099-12-31T23:59:59Z");
    // Past the year 9999: empty, never a panic.
    assert_eq!(rfc3339_utc(u64::MAX), "");
}

#[test]
fn discord_templates_must_fit_discords_limit_with_the_longest_values() {
    // The preset fits.
    assert!(Template::for_config(WebhookPreset::Discord, None).is_ok());
    let many = format!(
        r#"{{"content": "{{{{code}}}} {}"}}"#,
        "{{command}} ".repeat(4)
    );
    let e = Template::for_config(WebhookPreset::Discord, Some(&many)).unwrap_err();
    assert!(
        matches!(e, TemplateError::TooLong { limit: 2000, .. }),
        "{e}"
    );
    // The same template is fine for Slack, whose limit is far higher.
    assert!(Template::for_config(WebhookPreset::Slack, Some(&many)).is_ok());
}

/// Every field Discord limits is checked, not only `content`: a template
/// that puts the client's command in an embed title was accepted, and
/// Discord then refused every login whose command was long enough.
#[test]
fn every_discord_limit_is_checked_on_the_longest_values() {
    let discord = |src: &str| Template::for_config(WebhookPreset::Discord, Some(src));
    let refused = |src: &str, field: &str, limit: usize| match discord(src) {
        Err(TemplateError::TooLong {
            field: f, limit: l, ..
        }) => {
            assert_eq!((f.as_str(), l), (field, limit), "{src}");
        }
        other => panic!("{src}: {other:?}"),
    };
    let code = r#""content": "{{code}}""#;
    // {{command}} is up to 256 characters, escaped up to twice that.
    refused(
        &format!(r#"{{{code}, "embeds": [{{"title": "{{{{command}}}}"}}]}}"#),
        "embeds[0].title",
        256,
    );
    refused(
        &format!(r#"{{{code}, "username": "mfa {{{{user}}}}"}}"#),
        "username",
        80,
    );
    refused(
        &format!(
            r#"{{{code}, "embeds": [{{"fields": [{{"name": "cmd", "value": "{} "}}]}}]}}"#,
            "{{command}}".repeat(3)
        ),
        "embeds[0].fields[0].value",
        1024,
    );
    refused(
        &format!(
            r#"{{{code}, "embeds": [{{"footer": {{"text": "{}"}}}}]}}"#,
            "{{command}}".repeat(5)
        ),
        "embeds[0].footer.text",
        2048,
    );
    // Each field within its own limit, together over the 6000 of a message.
    let field = r#"{"name": "c", "value": "{{command}}"}"#;
    let fields = [field; 12].join(", ");
    refused(
        &format!(r#"{{{code}, "embeds": [{{"fields": [{fields}]}}]}}"#),
        "all embed text together",
        6000,
    );
    let eleven = [r#"{"title": "t"}"#; 11].join(", ");
    refused(
        &format!(r#"{{{code}, "embeds": [{eleven}]}}"#),
        "embeds (count)",
        10,
    );
    // Within every limit: accepted.
    assert!(discord(&format!(
        r#"{{{code}, "username": "mfa", "embeds": [{{"title": "{{{{user}}}}", "description": "{{{{command}}}}", "fields": [{{"name": "host", "value": "{{{{host}}}}"}}]}}]}}"#
    ))
    .is_ok());
}
