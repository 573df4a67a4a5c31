//! What every provider client shares. Each client lives with its factor
//! and its config section (`push/duo/`, `phonecheck/truid/`,
//! `webhook/client.rs`), kept apart from the factor logic so that is tested
//! with a scripted conversation and a simulator, the client with recorded
//! payloads.

pub mod http;

use std::time::Duration;

/// The longest wait a provider may ask for (Retry-After, a check's ttl, a
/// token's lifetime). Far above any login deadline (at most 600 s), so
/// "past the deadline" decisions are unchanged, and `Instant::now() + wait`
/// cannot overflow (which would panic) whatever number a provider sends.
pub const MAX_PROVIDER_WAIT: Duration = Duration::from_secs(24 * 60 * 60);

/// `secs` from a provider, capped at [`MAX_PROVIDER_WAIT`].
pub fn provider_secs(secs: u64) -> Duration {
    Duration::from_secs(secs).min(MAX_PROVIDER_WAIT)
}
