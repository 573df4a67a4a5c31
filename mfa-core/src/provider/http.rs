//! The one way mfa builds an HTTP client.
//!
//! rustls only (OpenSSL must never be linked into sshd), a timeout on every
//! request, proxies only from configuration and never from the environment
//! (an attacker-set `https_proxy` once turned duo_unix's failmode into a
//! bypass), redirects not followed, and the trust roots either the bundled
//! Mozilla set or exactly the configured `ca_file`.

use std::path::Path;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum HttpSetupError {
    #[error("{path}: cannot read CA file: {source}")]
    CaFile {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}: no certificate in CA file")]
    EmptyCaFile(std::path::PathBuf),
    #[error("invalid proxy URL: {0}")]
    Proxy(String),
    #[error("cannot build HTTP client: {0}")]
    Build(String),
}

/// Settings shared by every provider client.
#[derive(Debug, Clone, Default)]
pub struct HttpSettings<'a> {
    pub timeout: Duration,
    /// Trust only the certificates in this PEM file instead of the built-in roots.
    pub ca_file: Option<&'a Path>,
    /// Explicit proxy URL from the config file.
    pub proxy: Option<&'a str>,
}

pub fn client(settings: &HttpSettings<'_>) -> Result<reqwest::Client, HttpSetupError> {
    let timeout = super::effective_timeout(settings.timeout);
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .https_only(false) // scheme policy is enforced by config::check_url
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("mfa/", env!("CARGO_PKG_VERSION")))
        .tls_built_in_root_certs(settings.ca_file.is_none());
    if let Some(path) = settings.ca_file {
        let pem = std::fs::read(path).map_err(|source| HttpSetupError::CaFile {
            path: path.to_owned(),
            source,
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|_| HttpSetupError::EmptyCaFile(path.to_owned()))?;
        if certs.is_empty() {
            return Err(HttpSetupError::EmptyCaFile(path.to_owned()));
        }
        for c in certs {
            builder = builder.add_root_certificate(c);
        }
    }
    if let Some(proxy) = settings.proxy {
        let p = reqwest::Proxy::all(proxy).map_err(|e| HttpSetupError::Proxy(e.to_string()))?;
        builder = builder.proxy(p);
    }
    builder
        .build()
        .map_err(|e| HttpSetupError::Build(e.to_string()))
}
