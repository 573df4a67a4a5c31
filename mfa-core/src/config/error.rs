use std::fmt;
use std::path::PathBuf;

/// A configuration problem, located as precisely as we can: file, line, key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line, when the problem is at a place in the file.
    pub line: Option<usize>,
    /// Dotted key, e.g. `general.failmode`.
    pub key: Option<String>,
    pub message: String,
}

impl ConfigError {
    pub fn file(file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            line: None,
            key: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// 1-based line number of a byte offset in `src`.
pub(crate) fn line_of(src: &str, offset: usize) -> usize {
    src.as_bytes()
        .iter()
        .take(offset.min(src.len()))
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Turn a toml/serde error into a located [`ConfigError`]. serde's
/// messages quote the offending value (``invalid type: integer `42`,
/// expected a string``): for a secret key the value is left out.
pub(crate) fn from_toml(file: &std::path::Path, src: &str, err: &toml::de::Error) -> ConfigError {
    let message = err.message().trim().to_owned();
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
        .filter(|k| !k.is_empty());
    let key = err.span().and_then(|s| key_at(src, s.start, missing));
    let message = redact(src, key.as_deref(), message);
    ConfigError {
        file: file.to_owned(),
        line: err.span().map(|s| line_of(src, s.start)),
        key,
        message,
    }
}

/// Keys whose value is a credential, half of one (Duo's ikey, tru.ID's
/// client_id), or may carry one (a proxy URL's user:password): their
/// values never appear in an error, a log or the terminal.
pub const SECRET_KEYS: &[&str] = &[
    "push.ikey",
    "push.skey",
    "push.proxy",
    "phonecheck.client_id",
    "phonecheck.client_secret",
    "webhook.url",
];

/// Whether the value of dotted `key` is secret: one of [`SECRET_KEYS`], or
/// a key whose name says so (for sections yet to come).
pub fn is_secret_key(key: &str) -> bool {
    let name = key.rsplit('.').next().unwrap_or(key).to_ascii_lowercase();
    SECRET_KEYS.contains(&key)
        || ["secret", "password", "passwd", "token", "skey"]
            .iter()
            .any(|w| name.contains(w))
}

const NOT_SHOWN: &str = "[value not shown: it is a credential]";

/// `message` without any secret value: replaced whole when the error is
/// about a secret key (only what was expected is kept), and in any case
/// with every secret value found in `src` cut out (an inline table or an
/// error located elsewhere must not repeat one either).
fn redact(src: &str, key: Option<&str>, message: String) -> String {
    // Messages about the key itself (missing, unknown, repeated) name keys,
    // never values, and are kept.
    let about_key = ["missing field", "unknown field", "duplicate key"]
        .iter()
        .any(|p| message.starts_with(p));
    let mut message = match key {
        Some(k) if is_secret_key(k) && !about_key => match message.rsplit_once(", expected ") {
            Some((_, expected)) => format!("invalid value {NOT_SHOWN}; expected {expected}"),
            None => format!("invalid value {NOT_SHOWN}"),
        },
        _ => message,
    };
    let mut values = Vec::new();
    if let Ok(table) = src.parse::<toml::Table>() {
        secret_values("", &toml::Value::Table(table), false, &mut values);
    }
    // Longest first, so a value that contains another is cut out whole.
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    for v in values.iter().filter(|v| !v.is_empty()) {
        message = message.replace(v.as_str(), NOT_SHOWN);
    }
    message
}

/// Every scalar under a secret key, as text (a string's content, any other
/// value as TOML writes it).
fn secret_values(path: &str, value: &toml::Value, secret: bool, out: &mut Vec<String>) {
    match value {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                secret_values(&p, v, secret || is_secret_key(&p), out);
            }
        }
        toml::Value::Array(a) => {
            for v in a {
                secret_values(path, v, secret, out);
            }
        }
        toml::Value::String(s) if secret => out.push(s.clone()),
        other if secret => out.push(other.to_string()),
        _ => {}
    }
}

/// The dotted key an error at byte `offset` is about: the table header above
/// it and the key assigned on its line (`general.failmode`). Taken from the
/// place, not from serde's message, which quotes the offending *value* for
/// a bad enum variant (`unknown variant `irc``). For "missing field" errors,
/// which point at the table, the field named in the message.
fn key_at(src: &str, offset: usize, missing: Option<&str>) -> Option<String> {
    let offset = offset.min(src.len());
    let line_start = src
        .get(..offset)
        .and_then(|head| head.rfind('\n'))
        .map_or(0, |i| i + 1);
    let line = src
        .get(line_start..)
        .and_then(|rest| rest.lines().next())
        .unwrap_or("");
    let (table, name) = match table_header(line) {
        Some(header) => (Some(header), missing.map(str::to_owned)),
        None => {
            let table = src
                .get(..line_start)
                .and_then(|head| head.lines().rev().find_map(table_header));
            let assigned = line
                .split_once('=')
                .map(|(k, _)| k.trim().to_owned())
                .filter(|k| !k.is_empty() && !k.contains(char::is_whitespace));
            (table, assigned.or_else(|| missing.map(str::to_owned)))
        }
    };
    match (table, name) {
        (Some(t), Some(n)) => Some(format!("{t}.{n}")),
        (t, n) => n.or(t),
    }
}

/// `general` for a `[general]` line, `policy.rules` for `[[policy.rules]]`.
fn table_header(line: &str) -> Option<String> {
    let inner = line.trim().strip_prefix('[')?.trim_start_matches('[');
    let name = inner.split(']').next()?.trim();
    (!name.is_empty()).then(|| name.to_owned())
}
#[cfg(test)]
mod tests;
