//! The append-only audit table: one row per login decision.

use tokio_postgres::types::Type;

use super::{execute, Conn, DbError};
use crate::audit::AuditRecord;

const INSERT: &str = "INSERT INTO mfa_audit \
    (time, hostname, username, rhost, service, factors, decision, reason, session) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

pub(super) async fn insert(conn: &Conn, r: &AuditRecord) -> Result<(), DbError> {
    let client = conn.get().await?;
    let time = i64::try_from(r.time).unwrap_or(i64::MAX);
    let factors: Vec<&str> = r.factors.iter().map(|f| f.as_str()).collect();
    let factors = factors.join(",");
    execute(
        client,
        conn.timeout(),
        INSERT,
        &[
            (&time, Type::INT8),
            (&r.hostname, Type::TEXT),
            (&r.user, Type::TEXT),
            (&r.rhost, Type::TEXT),
            (&r.service, Type::TEXT),
            (&factors, Type::TEXT),
            (&r.decision, Type::TEXT),
            (&r.reason, Type::TEXT),
            (&r.session, Type::TEXT),
        ],
    )
    .await
    .map(drop)
}
