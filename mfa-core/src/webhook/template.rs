//! Message templates: JSON text with `{{variable}}` placeholders.
//!
//! webhookpam pasted raw values into its JSON, so a quote in a user name or
//! command changed the payload's structure. Here:
//! - a template is parsed once, at config load: an unknown variable, an
//!   unclosed `{{`, or a variable outside a JSON string literal is an error;
//!   so is a template that is not a JSON object once filled with hostile
//!   sample values, or one without `{{code}}`;
//! - every value is escaped for where it lands: the service's markup first
//!   (Slack `&<>`, Discord markdown), then JSON string escaping with
//!   everything outside printable ASCII as `\uXXXX`;
//! - values are substituted in one pass over the parsed template, so text
//!   inside a value (say a user named `{{code}}`) is never expanded;
//! - values a client controls are capped in length, so nobody can make the
//!   service reject the message as too long (which would look like an outage
//!   and reach `failmode`).

use zeroize::Zeroizing;

use crate::config::WebhookPreset;

use super::escape::{cap, escape_markup};
pub use super::escape::{push_json_escaped, Markup};
pub use super::time::rfc3339_utc;

/// The variables a template may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    Code,
    Session,
    User,
    Host,
    Rhost,
    Service,
    Command,
    Time,
}

impl Var {
    pub const ALL: [Var; 8] = [
        Var::Code,
        Var::Session,
        Var::User,
        Var::Host,
        Var::Rhost,
        Var::Service,
        Var::Command,
        Var::Time,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Var::Code => "code",
            Var::Session => "session",
            Var::User => "user",
            Var::Host => "host",
            Var::Rhost => "rhost",
            Var::Service => "service",
            Var::Command => "command",
            Var::Time => "time",
        }
    }

    /// Longest value kept, in characters; longer values are cut and end in
    /// `…`. Generous for real names and commands, far below every service's
    /// message limit (Discord: 2000 characters) even with all of them used.
    pub fn max_chars(self) -> usize {
        match self {
            Var::User | Var::Service => 64,
            Var::Host | Var::Rhost => 255,
            Var::Command => 256,
            Var::Code | Var::Session | Var::Time => 64,
        }
    }

    fn from_name(name: &str) -> Option<Var> {
        Var::ALL.into_iter().find(|v| v.name() == name)
    }
}

/// The text of each variable for one message.
#[derive(Debug, Clone, Copy)]
pub struct Values<'a> {
    pub code: &'a str,
    pub session: &'a str,
    pub user: &'a str,
    pub host: &'a str,
    pub rhost: &'a str,
    pub service: &'a str,
    pub command: &'a str,
    pub time: &'a str,
}

impl Values<'_> {
    fn get(&self, v: Var) -> &str {
        match v {
            Var::Code => self.code,
            Var::Session => self.session,
            Var::User => self.user,
            Var::Host => self.host,
            Var::Rhost => self.rhost,
            Var::Service => self.service,
            Var::Command => self.command,
            Var::Time => self.time,
        }
    }
}

/// Why a template was refused. Messages never contain a value, only the
/// template's own text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unknown variable {{{{{0}}}}} (known: code, session, user, host, rhost, service, command, time)")]
    Unknown(String),
    #[error("'{{{{' at character {0} is never closed with '}}}}'")]
    Unclosed(usize),
    #[error("{{{{{0}}}}} must be inside a JSON string (\"...\"), where its value can be escaped")]
    OutsideString(&'static str),
    #[error("the template must contain {{{{code}}}}, or nobody can read the code")]
    NoCode,
    #[error("not valid JSON once filled in: {0}")]
    InvalidJson(String),
    #[error("must be a JSON object ({{...}}) once filled in")]
    NotObject,
    #[error("variables may only be used in JSON string values, not in object keys")]
    VariableInKey,
    #[error("with the longest allowed values the message is {worst} characters; Discord refuses more than {limit} (use fewer variables)")]
    TooLong { worst: usize, limit: usize },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Text(String),
    Var(Var),
}

/// A parsed, checked template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    segments: Vec<Segment>,
    markup: Markup,
}

/// Shared message text of the chat presets.
const TEXT: &str = "SSH login code {{code}} for {{user}} on {{host}} (session {{session}}) from {{rhost}} via {{service}} at {{time}}";

/// The documented incoming-webhook payload of each service.
pub fn preset_source(preset: WebhookPreset) -> String {
    match preset {
        // https://api.slack.com/messaging/webhooks: `text` is required.
        WebhookPreset::Slack => format!(r#"{{"text": "{TEXT}"}}"#),
        // Discord "Execute Webhook": `content`; `allowed_mentions` with an
        // empty `parse` list so nothing in the message pings anyone.
        WebhookPreset::Discord => {
            format!(r#"{{"content": "{TEXT}", "allowed_mentions": {{"parse": []}}}}"#)
        }
        // Teams: a message with one Adaptive Card attachment, the format both
        // the Workflows "When a Teams webhook request is received" trigger
        // and the retiring Office 365 connector accept.
        WebhookPreset::Teams => format!(
            r#"{{"type": "message", "attachments": [{{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": null, "content": {{"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard", "version": "1.4", "body": [{{"type": "TextBlock", "text": "{TEXT}", "wrap": true}}]}}}}]}}"#
        ),
        // A flat object with every variable, plus a ready-made `text`
        // (which Mattermost and Rocket.Chat display as is).
        WebhookPreset::Generic => format!(
            r#"{{"code": "{{{{code}}}}", "session": "{{{{session}}}}", "user": "{{{{user}}}}", "host": "{{{{host}}}}", "rhost": "{{{{rhost}}}}", "service": "{{{{service}}}}", "command": "{{{{command}}}}", "time": "{{{{time}}}}", "text": "{TEXT}"}}"#
        ),
    }
}

impl Template {
    /// The template for a `[webhook]` section: the custom `template` if set,
    /// else the preset's. The preset also picks the markup escaping, since it
    /// names the service the message goes to.
    pub fn for_config(preset: WebhookPreset, custom: Option<&str>) -> Result<Self, TemplateError> {
        match custom {
            Some(src) => Self::parse(src, Markup::of(preset)),
            None => Self::parse(&preset_source(preset), Markup::of(preset)),
        }
    }

    /// Parse `src` and check it with hostile sample values.
    pub fn parse(src: &str, markup: Markup) -> Result<Self, TemplateError> {
        let segments = split(src)?;
        if !segments.contains(&Segment::Var(Var::Code)) {
            return Err(TemplateError::NoCode);
        }
        let t = Self { segments, markup };
        let fill = |values: &Values<'_>| {
            serde_json::from_str::<serde_json::Value>(&t.render(values))
                .map_err(|e| TemplateError::InvalidJson(json_error_place(&e)))
        };
        let hostile = fill(&SAMPLE)?;
        if !hostile.is_object() {
            return Err(TemplateError::NotObject);
        }
        // Values may only ever change string contents. If two different
        // fillings give differently shaped JSON, a variable sits in an
        // object key, where a user name could add, rename or shadow a field.
        if shape(&hostile) != shape(&fill(&PLAIN)?) {
            return Err(TemplateError::VariableInKey);
        }
        t.check_discord_limit()?;
        Ok(t)
    }

    /// Discord refuses a `content` over 2000 characters, and a refusal
    /// counts as "unreachable" (failmode). So the longest message any values
    /// can produce (each at its cap, every character one that markup
    /// escaping doubles) must fit, or a client could choose a long command
    /// and turn `failmode = safe` into a way in.
    fn check_discord_limit(&self) -> Result<(), TemplateError> {
        if self.markup != Markup::Discord {
            return Ok(());
        }
        let fill = |v: Var| "*".repeat(v.max_chars());
        let (code, session, user, host) = (
            fill(Var::Code),
            fill(Var::Session),
            fill(Var::User),
            fill(Var::Host),
        );
        let (rhost, service, command, time) = (
            fill(Var::Rhost),
            fill(Var::Service),
            fill(Var::Command),
            fill(Var::Time),
        );
        let worst = Values {
            code: &code,
            session: &session,
            user: &user,
            host: &host,
            rhost: &rhost,
            service: &service,
            command: &command,
            time: &time,
        };
        let v: serde_json::Value = serde_json::from_str(&self.render(&worst))
            .map_err(|e| TemplateError::InvalidJson(json_error_place(&e)))?;
        let chars = v["content"].as_str().map_or(0, |c| c.chars().count());
        if chars > DISCORD_CONTENT_MAX {
            return Err(TemplateError::TooLong {
                worst: chars,
                limit: DISCORD_CONTENT_MAX,
            });
        }
        Ok(())
    }

    /// Fill in `values`, escaped. The result holds the code: it is wiped
    /// when dropped.
    pub fn render(&self, values: &Values<'_>) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::with_capacity(512));
        for seg in &self.segments {
            match seg {
                Segment::Text(t) => out.push_str(t),
                Segment::Var(v) => {
                    let capped = cap(values.get(*v), v.max_chars());
                    let marked = escape_markup(&capped, self.markup);
                    push_json_escaped(&mut out, &marked);
                }
            }
        }
        out
    }
}

/// Hostile samples: if the template is valid JSON with these, it is valid
/// with anything (each value is escaped the same way).
const SAMPLE: Values<'static> = Values {
    code: "0123456789",
    session: "ACDEF",
    user: "o'brien \"x\" \\ {{code}}",
    host: "host\n\"}",
    rhost: "198.51.100.7",
    service: "sshd\t<!channel>",
    command: "echo \"}]} \\\" \u{1b}[2J é ✓ \u{1F600}",
    time: "2026-01-01T00:00:00Z",
};

/// Discord's limit on `content`, in characters.
pub const DISCORD_CONTENT_MAX: usize = 2000;

/// Harmless samples, all different from [`SAMPLE`].
const PLAIN: Values<'static> = Values {
    code: "1",
    session: "s",
    user: "u",
    host: "h",
    rhost: "r",
    service: "v",
    command: "c",
    time: "t",
};

/// The structure of a JSON value with every string emptied.
fn shape(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::String(_) => Value::String(String::new()),
        Value::Array(a) => Value::Array(a.iter().map(shape).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        other => other.clone(),
    }
}

/// Describe a serde_json error by position only: the message may quote the
/// sample text.
fn json_error_place(e: &serde_json::Error) -> String {
    format!("{:?} error at column {}", e.classify(), e.column())
}

/// Split into text and variables, tracking the JSON lexer state of the text
/// so a variable outside a string literal is refused.
fn split(src: &str) -> Result<Vec<Segment>, TemplateError> {
    let mut segments = Vec::new();
    let mut text = String::new();
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = src;
    let mut offset = 0usize;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("{{") {
            let close = after
                .find("}}")
                .ok_or(TemplateError::Unclosed(src[..offset].chars().count()))?;
            let name = after[..close].trim();
            let var = Var::from_name(name).ok_or_else(|| TemplateError::Unknown(short(name)))?;
            if !in_string {
                return Err(TemplateError::OutsideString(var.name()));
            }
            if !text.is_empty() {
                segments.push(Segment::Text(std::mem::take(&mut text)));
            }
            segments.push(Segment::Var(var));
            let used = 2 + close + 2;
            rest = &rest[used..];
            offset += used;
            // A variable ends on a character that is not a backslash.
            escaped = false;
            continue;
        }
        let Some(c) = rest.chars().next() else { break };
        match (in_string, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (true, false, '"') | (false, _, '"') => in_string = !in_string,
            _ => {}
        }
        text.push(c);
        rest = &rest[c.len_utf8()..];
        offset += c.len_utf8();
    }
    if !text.is_empty() {
        segments.push(Segment::Text(text));
    }
    Ok(segments)
}

/// An unknown name as shown in an error: short and printable.
fn short(name: &str) -> String {
    let s: String = name.chars().take(40).collect();
    s.escape_debug().to_string()
}

#[cfg(test)]
mod tests;
