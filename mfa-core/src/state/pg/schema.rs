//! Versioned schema: numbered SQL files applied in order by `mfa state
//! migrate`, each recorded in `mfa_schema_version`. Never applied by a
//! login: a host whose database is not migrated denies (the statements
//! fail) and says why in the audit record.

use tokio_postgres::Client;

use super::{bounded, failed, DbError};

/// (version, name, SQL), in order. A file, once released, never changes:
/// a new change is a new number.
pub const MIGRATIONS: &[(i32, &str, &str)] =
    &[(1, "init", include_str!("migrations/0001_init.sql"))];

/// The newest version this build knows.
pub fn latest() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS mfa_schema_version (\
    version integer PRIMARY KEY, name text NOT NULL, \
    applied_at timestamptz NOT NULL DEFAULT now())";

/// The version the database is at (0: nothing applied).
pub async fn current(client: &Client, limit: std::time::Duration) -> Result<i32, DbError> {
    bounded(limit, async {
        let row = client
            .query_one("SELECT to_regclass('mfa_schema_version') IS NOT NULL", &[])
            .await
            .map_err(failed)?;
        let exists: bool = row.try_get(0).map_err(|e| DbError::Failed(e.to_string()))?;
        if !exists {
            return Ok(0);
        }
        let row = client
            .query_one(
                "SELECT coalesce(max(version), 0) FROM mfa_schema_version",
                &[],
            )
            .await
            .map_err(failed)?;
        row.try_get(0).map_err(|e| DbError::Failed(e.to_string()))
    })
    .await
}

/// Apply every migration newer than the database, all in one transaction
/// (a failure leaves the database as it was), holding a lock so two
/// admins migrating at once do not both apply a file. Returns the
/// versions applied.
pub async fn migrate(client: &mut Client) -> Result<Vec<(i32, &'static str)>, DbError> {
    let tx = client.transaction().await.map_err(failed)?;
    tx.batch_execute(VERSION_TABLE).await.map_err(failed)?;
    tx.batch_execute("LOCK TABLE mfa_schema_version IN EXCLUSIVE MODE")
        .await
        .map_err(failed)?;
    let row = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM mfa_schema_version",
            &[],
        )
        .await
        .map_err(failed)?;
    let at: i32 = row.try_get(0).map_err(|e| DbError::Failed(e.to_string()))?;
    if at > latest() {
        return Err(DbError::Failed(format!(
            "the database is at schema version {at}, newer than this mfa ({}); upgrade mfa",
            latest()
        )));
    }
    let mut applied = Vec::new();
    for &(version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > at) {
        tx.batch_execute(sql)
            .await
            .map_err(|e| DbError::Failed(format!("migration {version} ({name}): {}", failed(e))))?;
        tx.execute(
            "INSERT INTO mfa_schema_version (version, name) VALUES ($1, $2)",
            &[&version, &name],
        )
        .await
        .map_err(failed)?;
        applied.push((version, name));
    }
    tx.commit().await.map_err(failed)?;
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.0, i as i32 + 1, "{}", m.1);
            assert!(!m.2.trim().is_empty());
        }
        assert_eq!(latest(), MIGRATIONS.len() as i32);
    }
}
