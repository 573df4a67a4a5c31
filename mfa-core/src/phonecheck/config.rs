//! `[phonecheck]`: tru.ID PhoneCheck v0.2.

use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;
use toml::Spanned;

use crate::config::{check_url, ConfigError, Locate};

/// Poll interval when `poll_interval_ms` is not set. Short, so the login
/// goes through within a few hundred milliseconds of the phone finishing
/// (the tutorial's script waited 5 s between polls).
pub const DEFAULT_POLL_INTERVAL_MS: u64 = 150;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhoneCheckConfig {
    pub api_base_url: Spanned<String>,
    pub client_id: Option<String>,
    /// Wiped from memory when the config is dropped; never shown by `Debug`.
    #[serde(default)]
    pub client_secret: Option<SecretString>,
    /// tru.ID's `tru.json` credentials file, instead of the two keys above.
    pub credentials_file: Option<PathBuf>,
    pub redirect_url: Spanned<String>,
    pub ca_file: Option<PathBuf>,
    /// Milliseconds between two status polls (50..=5000).
    #[serde(default)]
    pub poll_interval_ms: Option<Spanned<u64>>,
}

impl PhoneCheckConfig {
    /// The configured poll interval in milliseconds.
    pub fn poll_interval(&self) -> u64 {
        self.poll_interval_ms
            .as_ref()
            .map_or(DEFAULT_POLL_INTERVAL_MS, |s| *s.get_ref())
    }

    pub(crate) fn validate(&self, at: &Locate<'_>) -> Result<(), ConfigError> {
        check_url(self.api_base_url.get_ref(), "phonecheck.api_base_url")
            .map_err(|m| at(self.api_base_url.span(), "phonecheck.api_base_url", m))?;
        check_url(self.redirect_url.get_ref(), "phonecheck.redirect_url")
            .map_err(|m| at(self.redirect_url.span(), "phonecheck.redirect_url", m))?;
        let inline = self.client_id.is_some() && self.client_secret.is_some();
        if inline == self.credentials_file.is_some() {
            return Err(at(
                self.api_base_url.span(),
                "phonecheck.client_secret",
                "set either client_id and client_secret, or credentials_file".into(),
            ));
        }
        if let Some(p) = &self.poll_interval_ms {
            if !(50..=5000).contains(p.get_ref()) {
                return Err(at(
                    p.span(),
                    "phonecheck.poll_interval_ms",
                    "must be between 50 and 5000 milliseconds".into(),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::Config;

    fn parse(src: &str) -> Result<Config, crate::ConfigError> {
        Config::parse(Path::new("/etc/mfa/mfa.toml"), src)
    }

    const BASE: &str = "[phonecheck]\napi_base_url = \"https://eu.api.tru.id\"\nredirect_url = \"https://mfa.example.com/complete-check\"\n";

    #[test]
    fn poll_interval_defaults_and_parses() {
        let c = parse(&format!("{BASE}client_id = \"i\"\nclient_secret = \"s\"\n")).unwrap();
        let p = c.phonecheck.clone().unwrap();
        assert_eq!(p.poll_interval(), super::DEFAULT_POLL_INTERVAL_MS);
        let dbg = format!("{p:?}");
        assert!(!dbg.contains("\"s\""), "secret leaked into Debug: {dbg}");
        assert!(dbg.contains("[REDACTED]"), "{dbg}");
        let users = crate::config::UsersDb::parse(
            Path::new("/etc/mfa/users.toml"),
            "[users.alice]\nphone = \"+447700900123\"\n",
        )
        .unwrap();
        let f = crate::phonecheck::PhoneCheckFactor::from_config(&c, &std::sync::Arc::new(users))
            .unwrap();
        let dbg = format!("{f:?}");
        assert!(dbg.contains("[REDACTED]"), "{dbg}");
        assert!(
            !dbg.contains("\"s\"") && !dbg.contains("7700900123"),
            "{dbg}"
        );

        let c = parse(&format!(
            "{BASE}credentials_file = \"/etc/mfa/tru.json\"\npoll_interval_ms = 300\n"
        ))
        .unwrap();
        assert_eq!(c.phonecheck.unwrap().poll_interval(), 300);
    }

    #[test]
    fn poll_interval_out_of_range_names_file_line_and_key() {
        let e = parse(&format!(
            "{BASE}credentials_file = \"/x\"\npoll_interval_ms = 10\n"
        ))
        .unwrap_err();
        assert_eq!(e.file, Path::new("/etc/mfa/mfa.toml"));
        assert_eq!(e.line, Some(5));
        assert_eq!(e.key.as_deref(), Some("phonecheck.poll_interval_ms"));
        assert!(e.message.contains("between 50 and 5000"), "{e}");
    }

    #[test]
    fn credentials_must_be_given_exactly_once() {
        let e = parse(BASE).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("phonecheck.client_secret"));
        let e = parse(&format!(
            "{BASE}client_id = \"i\"\nclient_secret = \"s\"\ncredentials_file = \"/x\"\n"
        ))
        .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("phonecheck.client_secret"));
        assert_eq!(e.line, Some(2));
    }

    #[test]
    fn plain_http_only_to_loopback() {
        let e = parse("[phonecheck]\napi_base_url = \"http://api.example.com\"\nredirect_url = \"https://x.example\"\ncredentials_file = \"/x\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("phonecheck.api_base_url"));
        assert_eq!(e.line, Some(2));
        assert!(parse("[phonecheck]\napi_base_url = \"http://127.0.0.1:9\"\nredirect_url = \"http://localhost:8080/complete-check\"\ncredentials_file = \"/x\"\n").is_ok());
    }
}
