//! TOTP state in PostgreSQL: each change one atomic statement.
//!
//! The code is checked locally first (`totp::verify`, on the user's state
//! with the shared parts taken out); only a code that verified is claimed:
//! - a TOTP step: `INSERT ... ON CONFLICT DO NOTHING` on (user, step), so
//!   exactly one host wins a code, whatever the timing;
//! - a scratch code: the same claim on its digest;
//! - an HOTP counter: `UPDATE ... WHERE counter = $old` (compare-and-set);
//! - rate-limit attempts: appended and counted by one upsert, timed by
//!   the database's clock under the row lock;
//! - grace records: one upsert.
//!
//! The file's options keep their meaning: without `DISALLOW_REUSE` a code
//! is not claimed, without `RATE_LIMIT` nothing is counted. Clock skew is
//! not learned (it would be per host): `noskewadj` is implied; a
//! `TIME_SKEW` already in the file still applies.

use std::sync::Arc;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use tokio_postgres::types::Type;

use super::{execute, query, Conn, DbError};
use crate::context::Clock;
use crate::factor::FactorError;
use crate::otp::time_step;
use crate::state::file::as_identity;
use crate::state::{Checked, StateBackend, StateRef, UserState};
use crate::totp::grace::usable_address;
use crate::totp::state::{Mode, RateLimit, TotpState};
use crate::totp::store;
use crate::totp::verify::{verify, Accepted, Rejected, VerifyOptions};

/// One attempt, recorded and counted in one upsert. The time is the
/// database's clock, read in the `SET` (evaluated once the conflicting row
/// is locked, after any concurrent attempt on it committed): every record
/// already in the row was written before that instant, so none is dropped
/// as lying in the future, whatever the login's own time or this host's
/// clock says (a host whose clock is behind the others' would otherwise
/// prune their newer attempts, and its users' guesses would erase each
/// other's). `$2` interval, `$3` how many to keep besides this one.
const RATE: &str = "INSERT INTO mfa_rate AS r (username, attempts) \
    VALUES ($1, ARRAY[floor(extract(epoch FROM clock_timestamp()))::int8]) \
    ON CONFLICT (username) DO UPDATE SET attempts = (\
        SELECT array_append(ARRAY(\
            SELECT t FROM (SELECT t FROM unnest(r.attempts) AS t \
                WHERE t > c.now - $2 AND t <= c.now ORDER BY t DESC LIMIT $3) AS kept \
            ORDER BY t), c.now) \
        FROM (SELECT floor(extract(epoch FROM clock_timestamp()))::int8 AS now) AS c) \
    RETURNING cardinality(attempts)::int8";
const HOTP_GET: &str = "INSERT INTO mfa_hotp (username, counter) VALUES ($1, $2) \
    ON CONFLICT (username) DO UPDATE SET counter = mfa_hotp.counter RETURNING counter";
const HOTP_CAS: &str = "UPDATE mfa_hotp SET counter = $3 WHERE username = $1 AND counter = $2";
const CLAIM_STEP: &str = "INSERT INTO mfa_used_step (username, step, hostname) \
    VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
const PRUNE_STEPS: &str = "DELETE FROM mfa_used_step WHERE username = $1 AND step < $2";
const CLAIM_SCRATCH: &str = "INSERT INTO mfa_used_scratch (username, digest, hostname) \
    VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
const GRACE_GET: &str = "SELECT at FROM mfa_grace WHERE username = $1 AND rhost = $2";
const GRACE_SET: &str = "INSERT INTO mfa_grace (username, rhost, at) VALUES ($1, $2, $3) \
    ON CONFLICT (username, rhost) DO UPDATE SET at = GREATEST(mfa_grace.at, EXCLUDED.at)";
pub(crate) const SECRET_GET: &str = "SELECT sealed FROM mfa_secret WHERE username = $1";

#[derive(Debug)]
pub struct PgBackend {
    conn: Arc<Conn>,
    hostname: String,
}

impl PgBackend {
    pub(crate) fn new(conn: Arc<Conn>) -> Self {
        Self {
            conn,
            hostname: crate::context::local_hostname(),
        }
    }
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The digest a used scratch code is recorded under (the code itself is
/// never stored; a used one is worthless anyway).
pub(crate) fn scratch_digest(user: &str, code: &str) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(b"mfa-scratch\0");
    h.update(user.as_bytes());
    h.update(b"\0");
    h.update(code.as_bytes());
    h.finalize().to_vec()
}

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[async_trait]
impl StateBackend for PgBackend {
    async fn open(&self, at: &StateRef) -> Result<Option<Box<dyn UserState>>, FactorError> {
        let state = if self.conn.settings.secrets_in_db {
            let Some(state) = load_sealed(&self.conn, &at.user).await? else {
                return Ok(None);
            };
            state
        } else {
            // Read only: in the fleet the file holds the secret and the
            // options; what changes lives in the database.
            match as_identity(at.identity, || store::open(&at.path, &at.policy))? {
                Some(opened) => opened.state,
                None => return Ok(None),
            }
        };
        // Connected before anything is asked: a database that cannot be
        // reached denies at once, without collecting a code.
        self.conn.get().await?;
        Ok(Some(Box::new(PgUser {
            conn: self.conn.clone(),
            hostname: self.hostname.clone(),
            user: at.user.clone(),
            opts: at.opts,
            state,
        })))
    }
}

/// The user's google_authenticator text, kept sealed in the database.
pub(crate) async fn load_sealed(conn: &Conn, user: &str) -> Result<Option<TotpState>, FactorError> {
    let Some(key) = conn.settings.key.as_ref() else {
        return Err(FactorError::Config("state.key_file is not set".into()));
    };
    let client = conn.get().await?;
    let rows = query(client, conn.timeout(), SECRET_GET, &[(&user, Type::TEXT)]).await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let sealed: Vec<u8> = row.try_get(0).map_err(|e| DbError::Failed(e.to_string()))?;
    let plain = key
        .open(user, &sealed)
        .map_err(|e| FactorError::State(e.to_string()))?;
    TotpState::parse(&plain)
        .map(Some)
        .map_err(|e| FactorError::State(format!("sealed state of this user: {e}")))
}

struct PgUser {
    conn: Arc<Conn>,
    hostname: String,
    user: String,
    opts: VerifyOptions,
    state: TotpState,
}

impl PgUser {
    async fn client(&self) -> Result<&tokio_postgres::Client, DbError> {
        self.conn.get().await
    }

    /// Record this attempt and count those inside the interval, on every
    /// host: one upsert, so concurrent attempts each see the others. Timed
    /// by the database (see [`RATE`]), not by the caller.
    async fn attempts(&self, rl: &RateLimit) -> Result<u64, DbError> {
        let interval = i64_of(rl.interval);
        let keep = i64::from(rl.attempts);
        let rows = query(
            self.client().await?,
            self.conn.timeout(),
            RATE,
            &[
                (&self.user, Type::TEXT),
                (&interval, Type::INT8),
                (&keep, Type::INT8),
            ],
        )
        .await?;
        let n: i64 = one(&rows)?;
        Ok(u64::try_from(n).unwrap_or(u64::MAX))
    }

    /// The shared HOTP counter, seeded from this host's file the first time.
    async fn hotp_counter(&self, seed: u64) -> Result<u64, DbError> {
        let seed = i64_of(seed);
        let rows = query(
            self.client().await?,
            self.conn.timeout(),
            HOTP_GET,
            &[(&self.user, Type::TEXT), (&seed, Type::INT8)],
        )
        .await?;
        let n: i64 = one(&rows)?;
        u64::try_from(n).map_err(|_| DbError::Failed("negative HOTP counter".into()))
    }

    async fn hotp_advance(&self, old: u64, new: u64) -> Result<bool, DbError> {
        let (old, new) = (i64_of(old), i64_of(new));
        let n = execute(
            self.client().await?,
            self.conn.timeout(),
            HOTP_CAS,
            &[
                (&self.user, Type::TEXT),
                (&old, Type::INT8),
                (&new, Type::INT8),
            ],
        )
        .await?;
        Ok(n == 1)
    }

    async fn claim(
        &self,
        sql: &str,
        key: &(dyn tokio_postgres::types::ToSql + Sync),
        ty: Type,
    ) -> Result<bool, DbError> {
        let n = execute(
            self.client().await?,
            self.conn.timeout(),
            sql,
            &[
                (&self.user, Type::TEXT),
                (key, ty),
                (&self.hostname, Type::TEXT),
            ],
        )
        .await?;
        Ok(n == 1)
    }

    /// Claim TOTP step `step`; on a win, forget steps that can no longer
    /// fall inside the window (cleanup only: the claim is the guard).
    async fn claim_step(&self, step: u64, now: u64) -> Result<bool, DbError> {
        let won = self.claim(CLAIM_STEP, &i64_of(step), Type::INT8).await?;
        if won {
            let w = i64::from(self.state.window_size);
            let base = i64_of(time_step(now, self.state.step_size)) + self.state.time_skew;
            let min = base - (w - 1) / 2 - w;
            execute(
                self.client().await?,
                self.conn.timeout(),
                PRUNE_STEPS,
                &[(&self.user, Type::TEXT), (&min, Type::INT8)],
            )
            .await?;
        }
        Ok(won)
    }

    async fn record_grace(&self, address: &str, now: u64) -> Result<(), DbError> {
        if !usable_address(address) {
            return Ok(());
        }
        let now = i64_of(now);
        execute(
            self.client().await?,
            self.conn.timeout(),
            GRACE_SET,
            &[
                (&self.user, Type::TEXT),
                (&address, Type::TEXT),
                (&now, Type::INT8),
            ],
        )
        .await
        .map(drop)
    }
}

fn one(rows: &[tokio_postgres::Row]) -> Result<i64, DbError> {
    rows.first()
        .ok_or_else(|| DbError::Failed("no row returned".into()))?
        .try_get(0)
        .map_err(|e| DbError::Failed(e.to_string()))
}

#[async_trait]
impl UserState for PgUser {
    async fn within_grace(
        &mut self,
        address: &str,
        now: u64,
        period: u64,
    ) -> Result<bool, FactorError> {
        if period == 0 || !usable_address(address) {
            return Ok(false);
        }
        let rows = query(
            self.client().await?,
            self.conn.timeout(),
            GRACE_GET,
            &[(&self.user, Type::TEXT), (&address, Type::TEXT)],
        )
        .await?;
        let Some(row) = rows.first() else {
            return Ok(false);
        };
        let at: i64 = row.try_get(0).map_err(|e| DbError::Failed(e.to_string()))?;
        let at = u64::try_from(at).unwrap_or(u64::MAX);
        Ok(at <= now && now - at < period)
    }

    async fn verify(
        self: Box<Self>,
        code: &str,
        clock: &dyn Clock,
        grace: Option<&str>,
    ) -> Result<Checked, FactorError> {
        let mut local = self.state.clone();
        // Every attempt counts, on whichever host it is made, before the
        // code is even looked at (as the file's RATE_LIMIT does).
        if let Some(rl) = local.rate_limit.take() {
            if self.attempts(&rl).await? > u64::from(rl.attempts) {
                return Ok(Err(Rejected::RateLimited));
            }
        }
        // The code is judged at the time of the answer, not of the prompt
        // (the claims below are keyed by step or counter, not by time).
        let now = clock.now_unix();
        let hotp = match local.mode {
            Mode::Hotp(seed) => {
                let counter = self.hotp_counter(seed).await?;
                local.mode = Mode::Hotp(counter);
                Some(counter)
            }
            Mode::Totp => None,
        };
        // The used steps live in the database: the local check starts from
        // none, and the step it accepts is the one to claim.
        let reuse = local.disallow_reuse.is_some();
        if reuse {
            local.disallow_reuse = Some(Vec::new());
        }
        let opts = VerifyOptions {
            noskewadj: true,
            ..self.opts
        };
        let checked = verify(&mut local, code, now, opts).result;
        let result = match (checked, hotp) {
            (Ok(Accepted::ScratchCode), _) => {
                let digits: zeroize::Zeroizing<String> =
                    zeroize::Zeroizing::new(code.chars().filter(|c| !c.is_whitespace()).collect());
                let digest = scratch_digest(&self.user, &digits);
                if self.claim(CLAIM_SCRATCH, &digest, Type::BYTEA).await? {
                    Ok(Accepted::ScratchCode)
                } else {
                    Err(Rejected::Reused)
                }
            }
            (Ok(Accepted::Code), Some(old)) => match local.mode {
                Mode::Hotp(new) if self.hotp_advance(old, new).await? => Ok(Accepted::Code),
                _ => Err(Rejected::Reused),
            },
            (Ok(Accepted::Code), None) => {
                let step = local
                    .disallow_reuse
                    .as_ref()
                    .and_then(|u| u.last().copied());
                match step {
                    Some(step) if !self.claim_step(step, now).await? => Err(Rejected::Reused),
                    _ => Ok(Accepted::Code),
                }
            }
            (Err(Rejected::WrongCode), Some(old)) if !self.opts.no_increment_hotp => {
                // As the file does: a wrong HOTP code uses up a counter
                // value. Losing this race to another login changes nothing.
                self.hotp_advance(old, old + 1).await?;
                Err(Rejected::WrongCode)
            }
            (Err(r), _) => Err(r),
        };
        if let (Ok(_), Some(address)) = (&result, grace) {
            self.record_grace(address, now).await?;
        }
        Ok(result)
    }
}
