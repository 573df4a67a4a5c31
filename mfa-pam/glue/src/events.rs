//! Inside sshd the module has no log of its own: stderr goes nowhere and no
//! tracing subscriber is installed, so the warnings and errors mfa-core
//! reports through `tracing` (a provider unavailable, a factor error, an
//! audit log that cannot be written) were lost. [`collecting`] gathers the
//! events at WARN and above during one call; the entry point then writes
//! them with `pam_syslog`, where every PAM module's messages go.
//!
//! Collected, not written at once: the subscriber lives in a thread-local
//! scope and holds no PAM handle, so nothing outside the call can reach
//! libpam through it.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// At most this many events per call (a retry loop must not fill syslog),
/// each at most [`MAX_LINE`] bytes.
const MAX_EVENTS: usize = 32;
const MAX_LINE: usize = 1024;

/// One collected event: its level and "message key=value ..." text.
pub type Line = (Level, String);

#[derive(Default)]
struct Collector {
    lines: Arc<Mutex<Vec<Line>>>,
}

/// Runs `f` with a subscriber that collects WARN and ERROR events emitted
/// on this thread; returns `f`'s result and the events in order.
pub fn collecting<T>(f: impl FnOnce() -> T) -> (T, Vec<Line>) {
    let collector = Collector::default();
    let lines = Arc::clone(&collector.lines);
    let out = tracing::subscriber::with_default(collector, f);
    let lines = match lines.lock() {
        Ok(mut l) => std::mem::take(&mut *l),
        Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
    };
    (out, lines)
}

/// The text of one event: the message, then every other field.
#[derive(Default)]
struct Text {
    message: String,
    fields: String,
}

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }
}

impl Subscriber for Collector {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        // ERROR < WARN < INFO in tracing's order (less verbose is smaller).
        *metadata.level() <= Level::WARN
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::WARN)
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut text = Text::default();
        event.record(&mut text);
        let mut line = mfa_core::sanitize::strip_control(&(text.message + &text.fields), false);
        if line.len() > MAX_LINE {
            let mut end = MAX_LINE;
            while !line.is_char_boundary(end) {
                end -= 1;
            }
            line.truncate(end);
        }
        let mut lines = match self.lines.lock() {
            Ok(l) => l,
            Err(poisoned) => poisoned.into_inner(),
        };
        if lines.len() < MAX_EVENTS {
            lines.push((*event.metadata().level(), line));
        }
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn warnings_and_errors_are_collected_in_order_and_nothing_else() {
        let (n, lines) = collecting(|| {
            tracing::info!("not this");
            tracing::warn!(factor = "push", error = "timed out", "provider unavailable");
            tracing::debug!("nor this");
            tracing::error!(path = %"/var/log/x", "cannot write \u{1b}[2J audit log");
            7
        });
        assert_eq!(n, 7);
        assert_eq!(
            lines,
            [
                (
                    Level::WARN,
                    "provider unavailable factor=push error=timed out".to_owned()
                ),
                (
                    Level::ERROR,
                    "cannot write [2J audit log path=/var/log/x".to_owned()
                ),
            ]
        );
        // Outside the scope nothing is collected any more.
        tracing::warn!("after");
        let ((), none) = collecting(|| ());
        assert!(none.is_empty());
    }

    #[test]
    fn a_flood_of_events_is_capped() {
        let ((), lines) = collecting(|| {
            for i in 0..100 {
                tracing::warn!(i, "retrying");
            }
        });
        assert_eq!(lines.len(), MAX_EVENTS);
        let ((), long) = collecting(|| tracing::warn!("{}", "é".repeat(MAX_LINE)));
        assert!(long[0].1.len() <= MAX_LINE);
    }
}
