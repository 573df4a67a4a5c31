//! Human or JSON output, and logging setup.

use std::io::{IsTerminal, Write};

use crate::cmd::CliError;

pub fn init_logging(debug: bool) {
    init_logging_filter(if debug { "debug" } else { "warn" });
}

/// Log to stderr at `filter` (an env-filter directive such as "info").
pub fn init_logging_filter(filter: &str) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        // Colour codes only for a person; log files and journald get plain
        // key=value lines.
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
}

impl Output {
    pub fn new(json: bool) -> Self {
        Self { json }
    }

    /// Print a result: `value` as one JSON line with --json, else `human`.
    pub fn result(&self, value: &serde_json::Value, human: &str) {
        let mut stdout = std::io::stdout().lock();
        let _ = if self.json {
            writeln!(stdout, "{value}")
        } else {
            writeln!(stdout, "{human}")
        };
    }

    pub fn error(&self, e: &CliError) {
        if self.json {
            let v = serde_json::json!({ "error": e.to_string(), "exit": e.exit_code() });
            println!("{v}");
        } else {
            eprintln!("mfa: {e}");
        }
    }
}
