//! Moving google_authenticator files into the database and back
//! (`mfa state import|export`, `mfa totp enroll --store postgres`).
//!
//! The database keeps the file's text whole, sealed: every option line
//! (known or not), the secret line as written and the scratch codes come
//! back out as they went in. Export applies what the fleet changed since:
//! the shared HOTP counter, scratch codes used on any host (dropped), and
//! the used TOTP steps (as the `DISALLOW_REUSE` list). A file nothing
//! changed comes back byte for byte.

use tokio_postgres::types::Type;
use tokio_postgres::Client;
use zeroize::Zeroizing;

use super::totp::{scratch_digest, SECRET_GET};
use super::{execute, query, DbError, PgSettings};
use crate::state::seal::SealKey;
use crate::totp::state::{Mode, TotpState};

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("the state file is not valid: {0}")]
    Invalid(String),
    #[error("{0} already has a state in the database (use --force to replace it)")]
    Exists(String),
    #[error("{0} has no state in the database")]
    Missing(String),
    #[error("secrets: {0}")]
    Seal(String),
    /// A value no migration allows (a schema changed by hand, a restore
    /// gone wrong): exporting it would write a state that accepts codes
    /// the fleet already used.
    #[error("the database's state for {user} is not valid: {what}")]
    Corrupt { user: String, what: String },
}

const SECRET_PUT: &str = "INSERT INTO mfa_secret (username, sealed) VALUES ($1, $2) \
    ON CONFLICT (username) DO UPDATE SET sealed = EXCLUDED.sealed, updated_at = now()";
const SECRET_NEW: &str =
    "INSERT INTO mfa_secret (username, sealed) VALUES ($1, $2) ON CONFLICT DO NOTHING";
/// Importing never moves a counter back (that would accept old codes again).
const HOTP_PUT: &str = "INSERT INTO mfa_hotp (username, counter) VALUES ($1, $2) \
    ON CONFLICT (username) DO UPDATE SET counter = GREATEST(mfa_hotp.counter, EXCLUDED.counter)";
const HOTP_OF: &str = "SELECT counter FROM mfa_hotp WHERE username = $1";
const USED_SCRATCH: &str = "SELECT digest FROM mfa_used_scratch WHERE username = $1";
const USED_STEPS: &str = "SELECT step FROM mfa_used_step WHERE username = $1 ORDER BY step";

fn key_of(settings: &PgSettings) -> Result<&SealKey, TransferError> {
    settings
        .key
        .as_deref()
        .ok_or_else(|| TransferError::Seal("[state] key_file is not set".into()))
}

/// Store `text` (a google_authenticator file) as `user`'s state, sealed.
/// Refused when the user already has one, unless `replace`.
pub async fn import(
    client: &Client,
    settings: &PgSettings,
    user: &str,
    text: &[u8],
    replace: bool,
) -> Result<(), TransferError> {
    let state = TotpState::parse(text).map_err(|e| TransferError::Invalid(e.to_string()))?;
    let sealed = key_of(settings)?
        .seal(user, text)
        .map_err(|e| TransferError::Seal(e.to_string()))?;
    let limit = settings.timeout;
    let sql = if replace { SECRET_PUT } else { SECRET_NEW };
    let n = execute(
        client,
        limit,
        sql,
        &[(&user, Type::TEXT), (&sealed, Type::BYTEA)],
    )
    .await?;
    if n != 1 {
        return Err(TransferError::Exists(user.to_owned()));
    }
    if let Mode::Hotp(counter) = state.mode {
        let counter = i64::try_from(counter).unwrap_or(i64::MAX);
        execute(
            client,
            limit,
            HOTP_PUT,
            &[(&user, Type::TEXT), (&counter, Type::INT8)],
        )
        .await?;
    }
    Ok(())
}

/// `user`'s state as a google_authenticator file, with what the fleet
/// changed applied.
pub async fn export(
    client: &Client,
    settings: &PgSettings,
    user: &str,
) -> Result<Zeroizing<Vec<u8>>, TransferError> {
    let limit = settings.timeout;
    let rows = query(client, limit, SECRET_GET, &[(&user, Type::TEXT)]).await?;
    let row = rows
        .first()
        .ok_or_else(|| TransferError::Missing(user.to_owned()))?;
    let sealed: Vec<u8> = row.try_get(0).map_err(|e| DbError::Failed(e.to_string()))?;
    let plain = key_of(settings)?
        .open(user, &sealed)
        .map_err(|e| TransferError::Seal(e.to_string()))?;
    let mut state = TotpState::parse(&plain).map_err(|e| TransferError::Invalid(e.to_string()))?;
    let mut changed = false;

    if let Mode::Hotp(counter) = state.mode {
        let rows = query(client, limit, HOTP_OF, &[(&user, Type::TEXT)]).await?;
        if let Some(row) = rows.first() {
            let shared: i64 = row.try_get(0).map_err(|e| DbError::Failed(e.to_string()))?;
            let shared = u64::try_from(shared).map_err(|_| TransferError::Corrupt {
                user: user.to_owned(),
                what: format!("HOTP counter {shared}"),
            })?;
            if shared != counter {
                state.mode = Mode::Hotp(shared);
                changed = true;
            }
        }
    }
    let rows = query(client, limit, USED_SCRATCH, &[(&user, Type::TEXT)]).await?;
    // A row that cannot be read is an error, never skipped: a skipped
    // used code would be exported as unused.
    let used: Vec<Vec<u8>> = rows
        .iter()
        .map(|r| r.try_get(0).map_err(|e| DbError::Failed(e.to_string())))
        .collect::<Result<_, _>>()?;
    let before = state.scratch_codes.len();
    state
        .scratch_codes
        .retain(|c| !used.contains(&scratch_digest(user, c)));
    changed |= state.scratch_codes.len() != before;
    if state.disallow_reuse.is_some() {
        let rows = query(client, limit, USED_STEPS, &[(&user, Type::TEXT)]).await?;
        let steps: Vec<u64> = rows
            .iter()
            .map(|r| {
                let step: i64 = r.try_get(0).map_err(|e| DbError::Failed(e.to_string()))?;
                u64::try_from(step).map_err(|_| TransferError::Corrupt {
                    user: user.to_owned(),
                    what: format!("used TOTP step {step}"),
                })
            })
            .collect::<Result<_, _>>()?;
        if !steps.is_empty() {
            state.disallow_reuse = Some(steps);
            changed = true;
        }
    }
    if !changed {
        return Ok(plain);
    }
    let text = state.serialize();
    Ok(Zeroizing::new(text.as_bytes().to_vec()))
}
