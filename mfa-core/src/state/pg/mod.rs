//! The PostgreSQL state backend (docs/fleet.md).
//!
//! Reached only through [`fleet_for`], the network runner's
//! [`FleetHook`](super::FleetHook): the lean `pam_mfa.so` never links it.
//! One connection per login (sshd forks per connection; nothing outlives
//! the call), opened on first use and shared by the TOTP factor and the
//! audit table. Connecting and every statement are bounded by
//! `connect_timeout_secs`; a database that cannot be reached denies the
//! login whatever `failmode` says (failmode is about providers, not about
//! losing replay protection).

mod audit;
pub mod schema;
pub mod totp;
pub mod transfer;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::OnceCell;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls, Row};

use super::config::{PgTarget, TlsMode};
use super::seal::SealKey;
use super::{Fleet, StateBackend};
use crate::audit::AuditRecord;
use crate::config::{read_secret_file, Config, ConfigError};
use crate::factor::FactorError;

/// Why the database could not do what was asked. Messages name no secret
/// (statements carry values as parameters, never in their text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DbError {
    #[error("state database unreachable: {0}")]
    Unreachable(String),
    #[error("state database error: {0}")]
    Failed(String),
}

impl From<DbError> for FactorError {
    /// Never `Unavailable`: failmode = safe must not open a login whose
    /// replay protection is gone.
    fn from(e: DbError) -> Self {
        FactorError::State(e.to_string())
    }
}

fn failed(e: tokio_postgres::Error) -> DbError {
    if e.is_closed() {
        return DbError::Unreachable(e.to_string());
    }
    match e.as_db_error() {
        Some(db) => DbError::Failed(format!("{} ({})", db.message(), db.code().code())),
        None => DbError::Unreachable(e.to_string()),
    }
}

/// Everything needed to connect, read once while building (mfa-login
/// still holds its group then).
pub struct PgSettings {
    config: tokio_postgres::Config,
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    pub timeout: Duration,
    pub key: Option<Arc<SealKey>>,
    pub secrets_in_db: bool,
}

impl std::fmt::Debug for PgSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSettings")
            .field("hosts", &self.config.get_hosts())
            .field("tls", &self.tls.is_some())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl PgSettings {
    /// From `[state]`: the URL, the password file, the CA and the key.
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let state = &config.state;
        let target = match state.target() {
            Some(Ok(t)) => t,
            Some(Err(m)) => return Err(config.error("state.url", m)),
            None => return Err(config.error("state.url", "no database url is set")),
        };
        let mut pg = pg_config(&target).map_err(|m| config.error("state.url", m))?;
        pg.connect_timeout(state.connect_timeout());
        if let Some(path) = &state.credentials_file {
            let text = read_secret_file(path)?;
            let password = text.trim_end_matches(['\n', '\r']);
            if password.is_empty() {
                return Err(config.error("state.credentials_file", "the file is empty"));
            }
            pg.password(password);
        }
        let tls = match target.tls {
            TlsMode::Disable => None,
            TlsMode::Require => Some(tls_connector(state.ca_file.as_deref())?),
        };
        let key = match &state.key_file {
            Some(path) => Some(Arc::new(SealKey::load(path.get_ref())?)),
            None => None,
        };
        Ok(Self {
            config: pg,
            tls,
            timeout: state.connect_timeout(),
            key,
            secrets_in_db: state.secrets_in_db(),
        })
    }

    /// A new connection, its driver spawned on the current runtime.
    /// Bounded as a whole (a stopped server accepts the socket and then
    /// says nothing).
    pub async fn connect(&self) -> Result<Client, DbError> {
        let work = async {
            match &self.tls {
                None => {
                    let (client, conn) = self.config.connect(NoTls).await.map_err(failed)?;
                    tokio::spawn(async move { drop(conn.await) });
                    Ok(client)
                }
                Some(tls) => {
                    let (client, conn) = self.config.connect(tls.clone()).await.map_err(failed)?;
                    tokio::spawn(async move { drop(conn.await) });
                    Ok(client)
                }
            }
        };
        bounded(self.timeout, work).await
    }
}

/// `work` within `limit`, or `Unreachable`.
pub async fn bounded<T>(
    limit: Duration,
    work: impl Future<Output = Result<T, DbError>>,
) -> Result<T, DbError> {
    tokio::time::timeout(limit, work).await.unwrap_or_else(|_| {
        Err(DbError::Unreachable(format!(
            "no answer within {} s",
            limit.as_secs()
        )))
    })
}

fn pg_config(t: &PgTarget) -> Result<tokio_postgres::Config, String> {
    let mut c = tokio_postgres::Config::new();
    c.user(&t.user).dbname(&t.dbname);
    for h in &t.hosts {
        c.host(h);
    }
    for p in &t.ports {
        c.port(*p);
    }
    c.ssl_mode(match t.tls {
        TlsMode::Disable => tokio_postgres::config::SslMode::Disable,
        TlsMode::Require => tokio_postgres::config::SslMode::Require,
    });
    c.application_name("mfa");
    for (k, v) in &t.extra {
        match k.as_str() {
            "application_name" => {
                c.application_name(v);
            }
            "target_session_attrs" => {
                use tokio_postgres::config::TargetSessionAttrs;
                let attrs = match v.as_str() {
                    "any" => TargetSessionAttrs::Any,
                    "read-write" => TargetSessionAttrs::ReadWrite,
                    _ => return Err(format!("bad target_session_attrs '{v}'")),
                };
                c.target_session_attrs(attrs);
            }
            _ => {}
        }
    }
    Ok(c)
}

fn tls_connector(
    ca_file: Option<&std::path::Path>,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, ConfigError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| ConfigError::file(path, format!("cannot read: {e}")))?;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|_| ConfigError::file(path, "not a PEM certificate"))?;
                roots
                    .add(cert)
                    .map_err(|e| ConfigError::file(path, format!("bad certificate: {e}")))?;
            }
            if roots.is_empty() {
                return Err(ConfigError::file(path, "no certificate in the file"));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::file("(tls)", e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(tls))
}

/// A login's connection: opened on first use, shared, and its failure
/// remembered (the audit record must not wait a second timeout for a
/// database the factor already found dead).
pub(crate) struct Conn {
    settings: Arc<PgSettings>,
    cell: OnceCell<Result<Client, DbError>>,
}

impl Conn {
    pub(crate) async fn get(&self) -> Result<&Client, DbError> {
        self.cell
            .get_or_init(|| self.settings.connect())
            .await
            .as_ref()
            .map_err(Clone::clone)
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.settings.timeout
    }
}

/// The fleet state of one login.
pub struct PgFleet {
    conn: Arc<Conn>,
}

impl PgFleet {
    pub fn new(settings: Arc<PgSettings>) -> Self {
        Self {
            conn: Arc::new(Conn {
                settings,
                cell: OnceCell::new(),
            }),
        }
    }
}

#[async_trait]
impl Fleet for PgFleet {
    fn totp_backend(&self) -> Arc<dyn StateBackend> {
        Arc::new(totp::PgBackend::new(self.conn.clone()))
    }

    async fn audit(&self, record: &AuditRecord) {
        if let Err(e) = audit::insert(&self.conn, record).await {
            tracing::warn!(error = %e, "audit record not written to the state database");
        }
    }
}

/// The network runner's fleet hook: a [`PgFleet`] when `[state] backend =
/// "postgres"`.
pub fn fleet_for(config: &Config) -> Result<Option<Arc<dyn Fleet>>, ConfigError> {
    if !config.state.is_postgres() {
        return Ok(None);
    }
    let settings = Arc::new(PgSettings::from_config(config)?);
    Ok(Some(Arc::new(PgFleet::new(settings))))
}

/// Parameters with their types: statements go out unprepared (one round
/// trip each, and nothing cached on a connection that lives for one login).
pub(crate) type Params<'a> = &'a [(&'a (dyn ToSql + Sync), Type)];

/// Run one statement on `client` within `limit`; its rows.
pub(crate) async fn query(
    client: &Client,
    limit: Duration,
    sql: &str,
    params: Params<'_>,
) -> Result<Vec<Row>, DbError> {
    bounded(limit, async {
        client.query_typed(sql, params).await.map_err(failed)
    })
    .await
}

/// Run one statement on `client` within `limit`; the rows it changed.
pub(crate) async fn execute(
    client: &Client,
    limit: Duration,
    sql: &str,
    params: Params<'_>,
) -> Result<u64, DbError> {
    bounded(limit, async {
        client.execute_typed(sql, params).await.map_err(failed)
    })
    .await
}
