//! The one way mfa builds an HTTP client.
//!
//! rustls only (OpenSSL must never be linked into sshd), a timeout on every
//! request, proxies only from configuration and never from the environment
//! (an attacker-set `https_proxy` once turned duo_unix's failmode into a
//! bypass), redirects not followed, and the trust roots either the bundled
//! Mozilla set or exactly the configured `ca_file`.

use std::path::Path;
use std::time::Duration;

use zeroize::{Zeroize, Zeroizing};

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

/// A request body that is wiped when reqwest is done with it.
///
/// A Duo passcode travels in the form body and a webhook message carries
/// the one-time code. reqwest keeps a body until the request is written
/// and then drops it: given an owned `String`, it would leave the code in
/// freed memory. Here the body's bytes are owned by a [`Zeroizing`], so
/// the last reference to them wipes them. hyper and rustls copy what they
/// write into their own buffers, which mfa cannot reach (docs/security.md).
pub fn wiped_body<Z>(secret: Z) -> reqwest::Body
where
    Z: Zeroize + AsRef<[u8]> + Send + 'static,
{
    reqwest::Body::from(bytes::Bytes::from_owner(Zeroizing::new(secret)))
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A body that records being wiped.
    struct Probe {
        bytes: Vec<u8>,
        wiped: Arc<AtomicBool>,
    }
    impl AsRef<[u8]> for Probe {
        fn as_ref(&self) -> &[u8] {
            &self.bytes
        }
    }
    impl Zeroize for Probe {
        fn zeroize(&mut self) {
            self.bytes.zeroize();
            self.wiped.store(true, Ordering::SeqCst);
        }
    }

    /// Answers one request with 204 and returns the bytes it received.
    async fn one_request_server() -> (String, tokio::task::JoinHandle<Vec<u8>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while !got.ends_with(b"passcode=123456") {
                let n = sock.read(&mut buf).await.unwrap();
                assert!(n > 0, "connection closed early: {got:?}");
                got.extend_from_slice(&buf[..n]);
            }
            sock.write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
                .await
                .unwrap();
            got
        });
        (url, server)
    }

    #[tokio::test]
    async fn a_wiped_body_is_sent_whole_then_wiped() {
        let (url, server) = one_request_server().await;
        let wiped = Arc::new(AtomicBool::new(false));
        let probe = Probe {
            bytes: b"passcode=123456".to_vec(),
            wiped: wiped.clone(),
        };
        let http = client(&HttpSettings::default()).unwrap();
        let body = wiped_body(probe);
        // What reqwest sends is the probe's own buffer, not a copy of it.
        assert!(!wiped.load(Ordering::SeqCst), "wiped before it was sent");
        let resp = http.post(&url).body(body).send().await.unwrap();
        assert_eq!(resp.status(), 204);
        let got = server.await.unwrap();
        assert!(got.ends_with(b"\r\n\r\npasscode=123456"), "{got:?}");
        drop(resp);
        // reqwest dropped the body once it was written.
        assert!(wiped.load(Ordering::SeqCst), "the body was never wiped");
    }
}
