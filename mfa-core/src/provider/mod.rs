//! What every provider client shares. Each client lives with its factor
//! and its config section (`push/duo/`, `phonecheck/truid/`,
//! `webhook/client.rs`), kept apart from the factor logic so that is tested
//! with a scripted conversation and a simulator, the client with recorded
//! payloads.

pub mod body;
pub mod decoy;
pub mod error;
pub mod http;

use std::time::Duration;

pub use body::{read_capped, BodyError, MAX_BODY};
pub use error::{
    classify_response, classify_status, transport, FailureClass, Transport, TransportKind,
};

/// Timeout of one provider request when none is configured: the default
/// of `[general] request_timeout_secs`, and what every client falls back
/// to when given zero.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// `timeout`, or [`DEFAULT_TIMEOUT`] for zero (which would mean "fail at
/// once" to reqwest).
pub fn effective_timeout(timeout: Duration) -> Duration {
    if timeout.is_zero() {
        DEFAULT_TIMEOUT
    } else {
        timeout
    }
}

/// The longest wait a provider may ask for (Retry-After, a check's ttl, a
/// token's lifetime). Far above any login deadline (at most 600 s), so
/// "past the deadline" decisions are unchanged, and `Instant::now() + wait`
/// cannot overflow (which would panic) whatever number a provider sends.
pub const MAX_PROVIDER_WAIT: Duration = Duration::from_secs(24 * 60 * 60);

/// `secs` from a provider, capped at [`MAX_PROVIDER_WAIT`].
pub fn provider_secs(secs: u64) -> Duration {
    Duration::from_secs(secs).min(MAX_PROVIDER_WAIT)
}
