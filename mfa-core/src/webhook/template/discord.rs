//! Discord's documented size limits, checked on the longest message a
//! template can produce. Discord refuses an oversized message with a 400,
//! which the webhook factor reports as the service refusing: a template
//! that some values push over a limit would deny those logins, and one
//! that only the client's own long command pushes over would let a client
//! choose to break delivery. So the worst case must fit every limit.
//!
//! Limits from Discord's "Execute Webhook" and embed documentation, in
//! characters.

use serde_json::Value;

use super::TemplateError;

/// `content`.
pub const CONTENT_MAX: usize = 2000;
/// `username` (overrides the webhook's name).
pub const USERNAME_MAX: usize = 80;
/// `thread_name` (forum channels).
pub const THREAD_NAME_MAX: usize = 100;
/// Embeds per message, fields per embed.
pub const EMBEDS_MAX: usize = 10;
pub const FIELDS_MAX: usize = 25;
/// All embed text of one message together (titles, descriptions, field
/// names and values, footers, author names).
pub const EMBED_TOTAL_MAX: usize = 6000;

/// The text limits inside one embed: (path, limit).
const EMBED_TEXT: [(&[&str], usize); 4] = [
    (&["title"], 256),
    (&["description"], 4096),
    (&["footer", "text"], 2048),
    (&["author", "name"], 256),
];
const FIELD_TEXT: [(&str, usize); 2] = [("name", 256), ("value", 1024)];

fn chars(v: Option<&Value>) -> usize {
    v.and_then(Value::as_str).map_or(0, |s| s.chars().count())
}

fn too_long(field: String, worst: usize, limit: usize) -> TemplateError {
    TemplateError::TooLong {
        field,
        worst,
        limit,
    }
}

fn at_most(field: &str, worst: usize, limit: usize) -> Result<(), TemplateError> {
    if worst > limit {
        return Err(too_long(field.to_owned(), worst, limit));
    }
    Ok(())
}

/// Check `message` (a rendering with every value at its longest) against
/// each limit; the error names the first field over its limit.
pub fn check(message: &Value) -> Result<(), TemplateError> {
    at_most("content", chars(message.get("content")), CONTENT_MAX)?;
    at_most("username", chars(message.get("username")), USERNAME_MAX)?;
    at_most(
        "thread_name",
        chars(message.get("thread_name")),
        THREAD_NAME_MAX,
    )?;
    let Some(embeds) = message.get("embeds").and_then(Value::as_array) else {
        return Ok(());
    };
    at_most("embeds (count)", embeds.len(), EMBEDS_MAX)?;
    let mut total = 0;
    for (i, embed) in embeds.iter().enumerate() {
        for (path, limit) in EMBED_TEXT {
            let n = chars(path.iter().try_fold(embed, |v, k| v.get(k)));
            at_most(&format!("embeds[{i}].{}", path.join(".")), n, limit)?;
            total += n;
        }
        let fields = embed
            .get("fields")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        at_most(
            &format!("embeds[{i}].fields (count)"),
            fields.len(),
            FIELDS_MAX,
        )?;
        for (j, field) in fields.iter().enumerate() {
            for (key, limit) in FIELD_TEXT {
                let n = chars(field.get(key));
                at_most(&format!("embeds[{i}].fields[{j}].{key}"), n, limit)?;
                total += n;
            }
        }
    }
    at_most("all embed text together", total, EMBED_TOTAL_MAX)
}
