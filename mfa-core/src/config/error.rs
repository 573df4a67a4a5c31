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
    // serde names the offending field in backquotes ("unknown field `x`",
    // "missing field `y`"); keep it as the key when present.
    let key = message
        .split('`')
        .nth(1)
        .filter(|k| !k.is_empty() && !k.contains(' '))
        .map(str::to_owned);
    ConfigError {
        file: file.to_owned(),
        line: err.span().map(|s| line_of(src, s.start)),
        key,
        message,
    }
}
