//! Escaping a value for where it lands in a webhook message: capped in
//! length, the destination's markup neutralised, then JSON string escaping.

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::config::WebhookPreset;

/// Markup of the service the message lands in, escaped before JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Markup {
    /// No markup (generic JSON, Teams' plain TextBlock text).
    Plain,
    /// Slack mrkdwn: `&`, `<`, `>` as entities, as Slack documents, so a
    /// value cannot form `<!channel>` or a link.
    Slack,
    /// Discord markdown: specials backslash-escaped and line breaks turned
    /// into spaces, so a value cannot form a masked link, a mention, a
    /// heading or other formatting.
    Discord,
}

impl Markup {
    pub fn of(preset: WebhookPreset) -> Self {
        match preset {
            WebhookPreset::Slack => Markup::Slack,
            WebhookPreset::Discord => Markup::Discord,
            WebhookPreset::Teams | WebhookPreset::Generic => Markup::Plain,
        }
    }
}

/// At most `max` characters; a cut value ends in `…`.
pub(crate) fn cap(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => Cow::Borrowed(s),
        Some(_) => {
            let keep: String = s.chars().take(max.saturating_sub(1)).collect();
            Cow::Owned(keep + "…")
        }
    }
}

pub(crate) fn escape_markup(s: &str, markup: Markup) -> Cow<'_, str> {
    let special: &[char] = match markup {
        Markup::Plain => return Cow::Borrowed(s),
        Markup::Slack => &['&', '<', '>'],
        Markup::Discord => &[
            '\\', '*', '_', '~', '`', '|', '>', '<', '[', ']', '(', ')', '@', '\n', '\r',
        ],
    };
    if !s.contains(special) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match (markup, c) {
            (Markup::Slack, '&') => out.push_str("&amp;"),
            (Markup::Slack, '<') => out.push_str("&lt;"),
            (Markup::Slack, '>') => out.push_str("&gt;"),
            // A value cannot start a line, where `#` and `-` would make a
            // heading or a list.
            (Markup::Discord, '\n' | '\r') => out.push(' '),
            (Markup::Discord, c) if special.contains(&c) => {
                out.push('\\');
                out.push(c);
            }
            (_, c) => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Append `s` as the inside of a JSON string: `"` and `\` escaped, control
/// characters and everything outside printable ASCII as `\uXXXX` (UTF-16,
/// so astral characters become surrogate pairs). The output is pure ASCII.
pub fn push_json_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    // Writing to a String cannot fail.
                    let _ = write!(out, "\\u{u:04x}");
                }
            }
        }
    }
}
