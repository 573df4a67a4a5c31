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

/// Turn a toml/serde error into a located [`ConfigError`].
pub(crate) fn from_toml(file: &std::path::Path, src: &str, err: &toml::de::Error) -> ConfigError {
    let message = err.message().trim().to_owned();
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
        .filter(|k| !k.is_empty());
    ConfigError {
        file: file.to_owned(),
        line: err.span().map(|s| line_of(src, s.start)),
        key: err.span().and_then(|s| key_at(src, s.start, missing)),
        message,
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
