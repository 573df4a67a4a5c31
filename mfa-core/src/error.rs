//! Errors shared across the core that are not specific to one module.

/// An I/O failure with the path it concerned (never the file's content).
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct PathError {
    pub path: std::path::PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl PathError {
    pub fn new(path: impl Into<std::path::PathBuf>, source: std::io::Error) -> Self {
        Self {
            path: path.into(),
            source,
        }
    }
}
