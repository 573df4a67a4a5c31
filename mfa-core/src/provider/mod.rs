//! Provider clients (tru.ID, Duo, webhooks), kept apart from the factors
//! that use them: the factor logic is tested with a scripted conversation
//! and a simulator, the clients with recorded payloads.

pub mod duo;
pub mod http;
pub mod truid;
pub mod webhook;

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
