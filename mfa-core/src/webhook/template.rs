//! Message templates: a JSON object with `{{variable}}` placeholders
//! inside its string values.
//!
//! webhookpam pasted raw values into its JSON, so a quote in a user name or
//! command changed the payload's structure. Here:
//! - a template is parsed once, at config load, into a JSON tree: an
//!   unknown variable, an unclosed `{{`, a variable outside a string value
//!   (or in an object key), a template that is not a JSON object, or one
//!   without `{{code}}` is an error;
//! - a message is that tree with each string's variables filled in, written
//!   by serde_json: values can only ever be string contents, whatever they
//!   hold. Each value is first capped in length and escaped for the
//!   service's markup (Slack `&<>`, Discord markdown); the JSON writer
//!   escapes everything outside printable ASCII as `\uXXXX`;
//! - values are filled in one pass over the parsed segments, so text inside
//!   a value (say a user named `{{code}}`) is never expanded;
//! - values a client controls are capped in length, so nobody can make the
//!   service reject the message as too long (which would look like an outage
//!   and reach `failmode`).

use std::ops::Range;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;
use zeroize::{Zeroize, Zeroizing};

use crate::config::WebhookPreset;

use super::escape::{cap, escape_markup, AsciiJson};
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
    #[error("not valid JSON: {0}")]
    InvalidJson(String),
    #[error("must be a JSON object ({{...}})")]
    NotObject,
    #[error("variables may only be used in JSON string values, not in object keys")]
    VariableInKey,
    #[error("with the longest allowed values {field} is {worst} characters; Discord refuses more than {limit} (use fewer variables)")]
    TooLong {
        field: String,
        worst: usize,
        limit: usize,
    },
}

/// One piece of a string value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Text(String),
    Var(Var),
}

/// The template's JSON tree; strings that hold variables are split into
/// segments, everything else is kept as written.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Fixed(Value),
    Text(Vec<Segment>),
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
}

/// A parsed, checked template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    root: Node,
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

    /// Parse and check `src`.
    pub fn parse(src: &str, markup: Markup) -> Result<Self, TemplateError> {
        // The text as written first: every `{{` must be closed and name a
        // known variable, wherever it is.
        let placeholders: Vec<(Range<usize>, Var)> = scan(src)?
            .into_iter()
            .filter_map(|p| p.var.map(|v| (p.range, v)))
            .collect();
        let value: Value =
            serde_json::from_str(src).map_err(|e| invalid_json(src, &placeholders, &e))?;
        if !value.is_object() {
            return Err(TemplateError::NotObject);
        }
        let mut has_code = false;
        let root = node(value, &mut has_code)?;
        if !has_code {
            return Err(TemplateError::NoCode);
        }
        let t = Self { root, markup };
        t.check_discord_limit()?;
        Ok(t)
    }

    /// Discord refuses a message over any of its size limits. So the
    /// longest message any values can produce (each at its cap, every
    /// character one that markup escaping doubles) must fit every limit
    /// (`template/discord.rs`), or a client could choose a long command and
    /// break the delivery of its own login's code.
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
        let v: Value = serde_json::from_str(&self.render(&worst))
            .map_err(|e| TemplateError::InvalidJson(json_error_place(&e)))?;
        discord::check(&v)
    }

    /// The message: the template's tree with `values` filled in, as pure
    /// ASCII JSON. It holds the code: it is wiped when dropped, and so is
    /// every filled string on the way.
    pub fn render(&self, values: &Values<'_>) -> Zeroizing<String> {
        // Room for any message a service accepts, so the buffer holding
        // the code is not reallocated (leaving an unwiped copy behind).
        let mut buf = Zeroizing::new(Vec::with_capacity(32 * 1024));
        let filled = Filled {
            node: &self.root,
            values,
            markup: self.markup,
        };
        let mut ser = serde_json::Serializer::with_formatter(&mut *buf, AsciiJson);
        if filled.serialize(&mut ser).is_err() {
            // Cannot happen (memory writer, string keys). An empty payload
            // is refused by every service: the login is denied.
            buf.clear();
        }
        match String::from_utf8(std::mem::take(&mut *buf)) {
            Ok(text) => Zeroizing::new(text),
            Err(e) => {
                e.into_bytes().zeroize();
                Zeroizing::new(String::new())
            }
        }
    }
}

/// A stretch of text: literal, or a `{{variable}}`.
struct Piece {
    range: Range<usize>,
    var: Option<Var>,
}

/// Split `text` into literal stretches and variables. An unclosed `{{` or
/// an unknown name is an error.
fn scan(text: &str) -> Result<Vec<Piece>, TemplateError> {
    let mut pieces = Vec::new();
    let mut at = 0;
    while let Some(found) = text[at..].find("{{") {
        let open = at + found;
        if open > at {
            pieces.push(Piece {
                range: at..open,
                var: None,
            });
        }
        let inner = open + 2;
        let close = text[inner..]
            .find("}}")
            .map(|i| inner + i)
            .ok_or_else(|| TemplateError::Unclosed(text[..open].chars().count()))?;
        let name = text[inner..close].trim();
        let var = Var::from_name(name).ok_or_else(|| TemplateError::Unknown(short(name)))?;
        pieces.push(Piece {
            range: open..close + 2,
            var: Some(var),
        });
        at = close + 2;
    }
    if at < text.len() {
        pieces.push(Piece {
            range: at..text.len(),
            var: None,
        });
    }
    Ok(pieces)
}

/// The tree of a parsed template. Object keys are fixed: a variable there
/// could add, rename or shadow a field.
fn node(value: Value, has_code: &mut bool) -> Result<Node, TemplateError> {
    Ok(match value {
        Value::String(s) => {
            let pieces = scan(&s)?;
            if pieces.iter().all(|p| p.var.is_none()) {
                Node::Fixed(Value::String(s))
            } else {
                let segments = pieces
                    .into_iter()
                    .map(|p| match p.var {
                        Some(v) => {
                            *has_code |= v == Var::Code;
                            Segment::Var(v)
                        }
                        None => Segment::Text(s[p.range].to_owned()),
                    })
                    .collect();
                Node::Text(segments)
            }
        }
        Value::Array(items) => Node::Array(
            items
                .into_iter()
                .map(|v| node(v, has_code))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(fields) => {
            let mut out = Vec::with_capacity(fields.len());
            for (key, v) in fields {
                if key.contains("{{") {
                    return Err(TemplateError::VariableInKey);
                }
                out.push((key, node(v, has_code)?));
            }
            Node::Object(out)
        }
        other => Node::Fixed(other),
    })
}

/// A JSON error in the template. When the parser stopped on a variable,
/// that variable stands outside a string, where no value can be escaped.
fn invalid_json(
    src: &str,
    placeholders: &[(Range<usize>, Var)],
    e: &serde_json::Error,
) -> TemplateError {
    // serde_json counts lines from 1 and columns in bytes from 1.
    let line_start = src
        .split_inclusive('\n')
        .take(e.line().saturating_sub(1))
        .map(str::len)
        .sum::<usize>();
    let at = line_start + e.column().saturating_sub(1);
    match placeholders.iter().find(|(range, _)| range.contains(&at)) {
        Some((_, var)) => TemplateError::OutsideString(var.name()),
        None => TemplateError::InvalidJson(json_error_place(e)),
    }
}

/// Describe a serde_json error by position only: the message may quote
/// text.
fn json_error_place(e: &serde_json::Error) -> String {
    format!(
        "{:?} error at line {}, column {}",
        e.classify(),
        e.line(),
        e.column()
    )
}

/// One node of the template with the values of one message.
struct Filled<'a> {
    node: &'a Node,
    values: &'a Values<'a>,
    markup: Markup,
}

impl Filled<'_> {
    fn at<'b>(&'b self, node: &'b Node) -> Filled<'b> {
        Filled {
            node,
            values: self.values,
            markup: self.markup,
        }
    }
}

impl Serialize for Filled<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.node {
            Node::Fixed(v) => v.serialize(s),
            Node::Text(segments) => {
                // Sized for the longest fill (4-byte characters, each
                // doubled by markup escaping) so it is never reallocated.
                let room = segments
                    .iter()
                    .map(|seg| match seg {
                        Segment::Text(t) => t.len(),
                        Segment::Var(v) => v.max_chars() * 8,
                    })
                    .sum();
                let mut text = Zeroizing::new(String::with_capacity(room));
                for seg in segments {
                    match seg {
                        Segment::Text(t) => text.push_str(t),
                        Segment::Var(v) => {
                            let capped = cap(self.values.get(*v), v.max_chars());
                            text.push_str(&escape_markup(&capped, self.markup));
                        }
                    }
                }
                s.serialize_str(&text)
            }
            Node::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&self.at(item))?;
                }
                seq.end()
            }
            Node::Object(fields) => {
                let mut map = s.serialize_map(Some(fields.len()))?;
                for (key, item) in fields {
                    map.serialize_entry(key, &self.at(item))?;
                }
                map.end()
            }
        }
    }
}

/// An unknown name as shown in an error: short and printable.
fn short(name: &str) -> String {
    let s: String = name.chars().take(40).collect();
    s.escape_debug().to_string()
}

pub mod discord;
#[cfg(test)]
mod tests;
