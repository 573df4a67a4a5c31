//! `[state]`: where the TOTP login state lives (docs/fleet.md).
//!
//! Parsed and checked with the rest of mfa.toml. This module knows nothing
//! of the PostgreSQL client (it is linked into the lean `pam_mfa.so`, which
//! only needs to see that a host's state is in a database to hand its
//! logins to the network object); the URL is checked here with the `url`
//! crate and turned into a client configuration by `state::pg`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::config::{ConfigError, Locate};

/// Where used codes, counters, rate limits and grace records are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// Each user's google_authenticator file on this host (default).
    #[default]
    File,
    /// One PostgreSQL database shared by every host of the fleet.
    Postgres,
}

/// Where the TOTP secrets themselves are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretsIn {
    /// The user's google_authenticator file on each host (default).
    #[default]
    File,
    /// The database, sealed under the host's key file.
    Postgres,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    pub backend: Spanned<BackendKind>,
    /// `postgresql://user@host/db?sslmode=require`, or a unix socket
    /// directory as `?host=/run/postgresql`. Never a password (that is
    /// `credentials_file`'s).
    pub url: Option<Spanned<String>>,
    /// The database password: root-owned, 0600 or 0640 (group `mfa`).
    pub credentials_file: Option<PathBuf>,
    /// TLS roots for the database (PEM); the built-in web roots otherwise.
    pub ca_file: Option<PathBuf>,
    /// Bound on connecting and on each statement: a database that does
    /// not answer within it denies the login.
    pub connect_timeout_secs: Spanned<u64>,
    pub secrets: Spanned<SecretsIn>,
    /// The key that seals secrets kept in the database (`mfa state keygen`).
    pub key_file: Option<Spanned<PathBuf>>,
}

impl Default for StateConfig {
    fn default() -> Self {
        Self {
            backend: Spanned::new(0..0, BackendKind::File),
            url: None,
            credentials_file: None,
            ca_file: None,
            connect_timeout_secs: Spanned::new(0..0, 3),
            secrets: Spanned::new(0..0, SecretsIn::File),
            key_file: None,
        }
    }
}

/// How the database is reached, as `[state] url` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgTarget {
    pub user: String,
    pub dbname: String,
    /// Host names or unix socket directories, in order.
    pub hosts: Vec<String>,
    pub ports: Vec<u16>,
    pub tls: TlsMode,
    /// Other query parameters tokio-postgres understands and mfa passes
    /// on unchanged (`target_session_attrs`, `application_name`).
    pub extra: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain text: only to a unix socket or a loopback address.
    Disable,
    /// TLS, the server's certificate verified against `ca_file` (or the
    /// built-in roots) and its name checked.
    Require,
}

impl PgTarget {
    /// Whether every host is a unix socket directory.
    pub fn all_unix(&self) -> bool {
        self.hosts.iter().all(|h| h.starts_with('/'))
    }
}

impl StateConfig {
    pub fn is_postgres(&self) -> bool {
        *self.backend.get_ref() == BackendKind::Postgres
    }

    pub fn secrets_in_db(&self) -> bool {
        *self.secrets.get_ref() == SecretsIn::Postgres
    }

    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(*self.connect_timeout_secs.get_ref())
    }

    /// The parsed `url` (`None` when none is set).
    pub fn target(&self) -> Option<Result<PgTarget, String>> {
        self.url.as_ref().map(|u| parse_url(u.get_ref()))
    }

    pub(crate) fn validate(&self, at: &Locate<'_>) -> Result<(), ConfigError> {
        if !(1..=30).contains(self.connect_timeout_secs.get_ref()) {
            return Err(at(
                self.connect_timeout_secs.span(),
                "state.connect_timeout_secs",
                "must be between 1 and 30 seconds".into(),
            ));
        }
        match &self.url {
            Some(url) => {
                parse_url(url.get_ref()).map_err(|m| at(url.span(), "state.url", m))?;
            }
            None if self.is_postgres() => {
                return Err(at(
                    self.backend.span(),
                    "state.url",
                    "backend = \"postgres\" needs a url".into(),
                ));
            }
            None => {}
        }
        if self.secrets_in_db() {
            if !self.is_postgres() {
                return Err(at(
                    self.secrets.span(),
                    "state.secrets",
                    "secrets = \"postgres\" needs backend = \"postgres\"".into(),
                ));
            }
            if self.key_file.is_none() {
                return Err(at(
                    self.secrets.span(),
                    "state.key_file",
                    "secrets = \"postgres\" needs a key_file (mfa state keygen)".into(),
                ));
            }
        }
        Ok(())
    }
}

const KNOWN_PARAMS: [&str; 2] = ["target_session_attrs", "application_name"];

/// Check and split a `postgresql://` URL. The message never repeats the
/// URL (it could carry a password someone pasted in by mistake).
pub fn parse_url(text: &str) -> Result<PgTarget, String> {
    // By hand: the `url` crate refuses the empty host of a unix-socket URL
    // (`postgresql://mfa@/mfa?host=/run/postgresql`) and libpq's host lists.
    let rest = ["postgresql://", "postgres://"]
        .iter()
        .find_map(|p| text.strip_prefix(p))
        .ok_or("unsupported scheme (expected postgresql://)")?;
    let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = before_query.split_once('/').unwrap_or((before_query, ""));
    let (userinfo, hostports) = authority
        .rsplit_once('@')
        .ok_or("the URL names no database user (postgresql://USER@host/db)")?;
    if userinfo.contains(':') {
        return Err("a password in the URL would be readable by whoever reads mfa.toml; put it in credentials_file".into());
    }
    if userinfo.is_empty() {
        return Err("the URL names no database user (postgresql://USER@host/db)".into());
    }
    if path.is_empty() || path.contains('/') {
        return Err("the URL names no database (postgresql://user@host/DB)".into());
    }
    let mut hosts: Vec<String> = Vec::new();
    let mut ports: Vec<u16> = Vec::new();
    for hp in hostports.split(',').filter(|h| !h.is_empty()) {
        let (host, port) = match hp.strip_prefix('[') {
            Some(v6) => {
                let (h, after) = v6.split_once(']').ok_or("unclosed [ in the host")?;
                (h, after.strip_prefix(':'))
            }
            None => match hp.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hp, None),
            },
        };
        hosts.push(percent_decode(host)?);
        ports.push(match port {
            Some(p) => p.parse().map_err(|_| format!("bad port '{p}'"))?,
            None => 5432,
        });
    }
    let user = userinfo;
    let dbname = path;
    let mut sslmode = None;
    let mut extra = Vec::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "host" => hosts.extend(v.split(',').map(str::to_owned)),
            "sslmode" => sslmode = Some(v.into_owned()),
            "port" => {
                for p in v.split(',') {
                    ports.push(p.parse().map_err(|_| format!("bad port '{p}'"))?);
                }
            }
            "target_session_attrs" if !matches!(v.as_ref(), "any" | "read-write") => {
                return Err(format!(
                    "target_session_attrs '{v}' is not supported (any, read-write)"
                ))
            }
            k if KNOWN_PARAMS.contains(&k) => extra.push((k.to_owned(), v.into_owned())),
            other => return Err(format!("unsupported parameter '{other}'")),
        }
    }
    if hosts.is_empty() {
        return Err("the URL names no host (…@host/db or ?host=/run/postgresql)".into());
    }
    if hosts.iter().any(String::is_empty) {
        return Err("an empty host name".into());
    }
    let plain_ok = hosts.iter().all(|h| h.starts_with('/') || is_loopback(h));
    let tls = match sslmode.as_deref() {
        None if hosts.iter().all(|h| h.starts_with('/')) => TlsMode::Disable,
        Some("disable") if plain_ok => TlsMode::Disable,
        Some("require" | "verify-ca" | "verify-full") => TlsMode::Require,
        Some("disable") | None => {
            return Err(
                "plain text is only allowed to a unix socket or a loopback address; add ?sslmode=require"
                    .into(),
            )
        }
        Some(other) => {
            return Err(format!(
                "sslmode '{other}' is not supported (use require, or disable for a unix socket)"
            ))
        }
    };
    if tls == TlsMode::Require && hosts.iter().any(|h| h.starts_with('/')) {
        return Err("TLS is not available over a unix socket; use sslmode=disable there".into());
    }
    Ok(PgTarget {
        user: percent_decode(user)?,
        dbname: percent_decode(dbname)?,
        hosts,
        ports,
        tls,
        extra,
    })
}

fn percent_decode(s: &str) -> Result<String, String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| "the URL is not valid UTF-8".into())
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::path::Path;

    fn parse(src: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/mfa/mfa.toml"), src)
    }

    #[test]
    fn the_default_is_the_file() {
        let c = parse("").unwrap();
        assert!(!c.state.is_postgres());
        assert!(!c.state.secrets_in_db());
        assert_eq!(c.state.connect_timeout(), Duration::from_secs(3));
    }

    #[test]
    fn a_full_state_section_parses() {
        let c = parse(
            "[state]\nbackend = \"postgres\"\nurl = \"postgresql://mfa@db.example.com/mfa?sslmode=require\"\n\
             credentials_file = \"/etc/mfa/pg.pass\"\nca_file = \"/etc/mfa/pg-ca.pem\"\n\
             connect_timeout_secs = 2\nsecrets = \"postgres\"\nkey_file = \"/etc/mfa/state.key\"\n",
        )
        .unwrap();
        assert!(c.state.is_postgres() && c.state.secrets_in_db());
        let t = c.state.target().unwrap().unwrap();
        assert_eq!(t.hosts, vec!["db.example.com".to_owned()]);
        assert_eq!((t.user.as_str(), t.dbname.as_str()), ("mfa", "mfa"));
        assert_eq!(t.tls, TlsMode::Require);
    }

    #[test]
    fn a_unix_socket_url_is_plain() {
        let t = parse_url("postgresql://mfa@/mfa?host=/run/postgresql").unwrap();
        assert_eq!(t.hosts, vec!["/run/postgresql".to_owned()]);
        assert!(t.all_unix());
        assert_eq!(t.tls, TlsMode::Disable);
        let t = parse_url("postgresql://mfa@127.0.0.1:5433/mfa?sslmode=disable").unwrap();
        assert_eq!((t.tls, t.ports[0]), (TlsMode::Disable, 5433));
    }

    fn error(src: &str) -> ConfigError {
        parse(src).unwrap_err()
    }

    #[test]
    fn mistakes_are_located_by_file_line_and_key() {
        let e = error("[state]\nbackend = \"postgres\"\n");
        assert_eq!(e.key.as_deref(), Some("state.url"));
        assert_eq!(e.line, Some(2));
        let e = error("[state]\nbackend = \"redis\"\n");
        assert_eq!(e.key.as_deref(), Some("state.backend"), "{e}");
        let e = error("[state]\nbakend = \"postgres\"\n");
        assert!(e.to_string().contains("bakend"), "{e}");
        let e = error("[state]\nconnect_timeout_secs = 0\nurl = \"postgresql://m@/m?host=/r\"\n");
        assert_eq!(
            (e.key.as_deref(), e.line),
            (Some("state.connect_timeout_secs"), Some(2))
        );
        let e = error("[state]\nbackend = \"postgres\"\nurl = \"postgresql://m@/m?host=/r\"\nsecrets = \"postgres\"\n");
        assert_eq!(
            (e.key.as_deref(), e.line),
            (Some("state.key_file"), Some(4))
        );
        let e = error("[state]\nsecrets = \"postgres\"\nkey_file = \"/k\"\n");
        assert_eq!(e.key.as_deref(), Some("state.secrets"));
    }

    #[test]
    fn urls_that_would_leak_or_downgrade_are_refused() {
        let bad = [
            (
                "postgresql://mfa:hunter2@db.example.com/mfa?sslmode=require",
                "password",
            ),
            ("postgresql://mfa@db.example.com/mfa", "plain text"),
            (
                "postgresql://mfa@db.example.com/mfa?sslmode=disable",
                "plain text",
            ),
            (
                "postgresql://mfa@db.example.com/mfa?sslmode=prefer",
                "not supported",
            ),
            (
                "postgresql://mfa@/mfa?host=/run/pg&sslmode=require",
                "unix socket",
            ),
            ("mysql://mfa@db/mfa", "scheme"),
            ("postgresql://db.example.com/mfa?sslmode=require", "user"),
            ("postgresql://mfa@/mfa", "no host"),
            (
                "postgresql://mfa@db.example.com/?sslmode=require",
                "database",
            ),
            (
                "postgresql://mfa@db.example.com/mfa?sslmode=require&options=-c",
                "parameter",
            ),
        ];
        for (url, why) in bad {
            let src = format!("[state]\nbackend = \"postgres\"\nurl = \"{url}\"\n");
            let e = error(&src);
            assert_eq!(
                (e.key.as_deref(), e.line),
                (Some("state.url"), Some(3)),
                "{url}"
            );
            assert!(e.message.contains(why), "{url}: {e}");
            assert!(!e.to_string().contains("hunter2"), "{e}");
        }
    }
}
