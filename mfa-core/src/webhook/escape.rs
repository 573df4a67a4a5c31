//! Escaping a value for where it lands in a webhook message: capped in
//! length, the destination's markup neutralised, then JSON string escaping.

use std::borrow::Cow;

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

/// serde_json's compact output with everything outside printable ASCII
/// written as `\uXXXX` (UTF-16, so astral characters become surrogate
/// pairs): the payload is pure ASCII, so no byte of a value can be read
/// differently by a service's decoder. serde_json itself escapes `"`, `\`
/// and control characters below U+0020.
pub struct AsciiJson;

impl serde_json::ser::Formatter for AsciiJson {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if (' '..='~').contains(&c) {
                continue;
            }
            writer.write_all(&fragment.as_bytes()[start..i])?;
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                write!(writer, "\\u{u:04x}")?;
            }
            start = i + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

/// Append `s` as the inside of a JSON string, as [`AsciiJson`] writes it.
pub fn push_json_escaped(out: &mut String, s: &str) {
    let mut buf = zeroize::Zeroizing::new(Vec::with_capacity(s.len() * 12 + 2));
    let mut ser = serde_json::Serializer::with_formatter(&mut *buf, AsciiJson);
    // Writing a string to memory cannot fail.
    if serde::Serialize::serialize(s, &mut ser).is_ok() {
        let inner = buf.get(1..buf.len().saturating_sub(1)).unwrap_or_default();
        out.push_str(std::str::from_utf8(inner).unwrap_or_default());
    }
}
