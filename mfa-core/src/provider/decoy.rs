//! Waits that stand in for a provider's answers in a decoy (what a person
//! whose name is unknown, or not enrolled, goes through): the decoy sends
//! nothing, so where an enrolled user's login would wait for the network,
//! it waits as long, give or take what a network gives or takes.

use std::time::Duration;

use tokio::time::Instant;

use crate::context::AuthContext;

/// One request to a provider and its answer, as decoys imitate it: a
/// typical round trip from a server to a provider's API over TLS. An
/// estimate; a host far from its provider answers more slowly.
pub const ROUND_TRIP: Duration = Duration::from_millis(120);

/// A login's first request costs the connection and the TLS handshake as
/// well: about three round trips.
pub const FIRST_REQUEST: u32 = 3;

/// Wait as `n` requests would: `n` × `round_trip` plus up to half of that
/// again (drawn from the login's random source, so the wait varies as a
/// network's does), never past `deadline`.
pub async fn pause(ctx: &AuthContext, round_trip: Duration, n: u32, deadline: Instant) {
    let base = round_trip.saturating_mul(n);
    let spread = u64::try_from(base.as_micros() / 2).unwrap_or(u64::MAX);
    let jitter = ctx.rng.uniform_below(spread.max(1)).unwrap_or(0);
    let until = Instant::now()
        .checked_add(base + Duration::from_micros(jitter))
        .map_or(deadline, |t| t.min(deadline));
    tokio::time::sleep_until(until).await;
}
