//! The simulators' TLS front: a rustls listener on 127.0.0.1 that
//! terminates TLS and relays the bytes to a plain wiremock server behind
//! it. It runs on its own thread and runtime, like wiremock itself, so it
//! works under any caller's runtime (tests, the demo, criterion).
//!
//! Its certificates are made when it starts ([`TestCa`], rcgen on ring):
//! no private key is committed to the repository or embedded in a binary.
//! Each front has its own CA; a client trusts it through the PEM that
//! [`TlsFront::ca_pem`] returns (Duo's `push.ca_file`, the webhook's
//! `ca_file`).

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread::JoinHandle;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use tokio::sync::oneshot;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// The names a trusted simulator certificate is valid for.
const LOOPBACK_NAMES: [&str; 3] = ["127.0.0.1", "::1", "localhost"];

/// Which certificate the simulator presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SimCert {
    /// Signed by the front's CA for 127.0.0.1, ::1 and localhost.
    #[default]
    Trusted,
    /// Signed by the front's CA, but for `duo.invalid` only.
    WrongHost,
    /// Self-signed for 127.0.0.1/::1/localhost, not from the front's CA.
    SelfSigned,
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

/// A certificate authority made at run time (ECDSA P-256), and the server
/// certificates it issues. Its key lives only in this process's memory.
pub struct TestCa {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl TestCa {
    pub fn new() -> io::Result<Self> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(invalid)?;
        params
            .distinguished_name
            .push(DnType::CommonName, "mfa simulator test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().map_err(invalid)?;
        let cert = params.self_signed(&key).map_err(invalid)?;
        Ok(Self { cert, key })
    }

    /// The CA certificate (PEM), what a client is told to trust.
    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A server certificate chain and its key, as `which` describes.
    pub fn issue(
        &self,
        which: SimCert,
    ) -> io::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
        let names: Vec<String> = match which {
            SimCert::Trusted | SimCert::SelfSigned => {
                LOOPBACK_NAMES.iter().map(|n| (*n).to_owned()).collect()
            }
            SimCert::WrongHost => vec!["duo.invalid".to_owned()],
        };
        let mut params = CertificateParams::new(names).map_err(invalid)?;
        params
            .distinguished_name
            .push(DnType::CommonName, "mfa simulator");
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().map_err(invalid)?;
        let cert = match which {
            SimCert::SelfSigned => params.self_signed(&key),
            SimCert::Trusted | SimCert::WrongHost => params.signed_by(&key, &self.cert, &self.key),
        }
        .map_err(invalid)?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Ok((vec![cert.der().clone()], key))
    }
}

fn server_config(ca: &TestCa, cert: SimCert) -> io::Result<ServerConfig> {
    let (chain, key) = ca.issue(cert)?;
    ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(invalid)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(invalid)
}

/// A running TLS front; dropping it stops the listener.
pub struct TlsFront {
    addr: SocketAddr,
    ca_pem: String,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TlsFront {
    /// Listen on 127.0.0.1 (OS-chosen port) and relay to `backend`,
    /// presenting `cert` (made now, with a new CA).
    pub fn start(backend: SocketAddr, cert: SimCert) -> io::Result<Self> {
        let ca = TestCa::new()?;
        let acceptor = TlsAcceptor::from(Arc::new(server_config(&ca, cert)?));
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (stop, mut stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("duo-sim-tls".into())
            .spawn(move || {
                rt.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    loop {
                        tokio::select! {
                            _ = &mut stopped => break,
                            conn = listener.accept() => {
                                if let Ok((tcp, _)) = conn {
                                    tokio::spawn(relay(acceptor.clone(), tcp, backend));
                                }
                            }
                        }
                    }
                });
            })?;
        Ok(Self {
            addr,
            ca_pem: ca.pem(),
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// This front's CA (PEM): trusting it makes [`SimCert::Trusted`]
    /// valid, and leaves the other two certificates refused.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }
}

/// One connection: finish the handshake (a client that rejects the
/// certificate simply goes away), then copy bytes both ways.
async fn relay(acceptor: TlsAcceptor, tcp: tokio::net::TcpStream, backend: SocketAddr) {
    let Ok(mut tls) = acceptor.accept(tcp).await else {
        return;
    };
    let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await else {
        return;
    };
    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::ServerName;
    use tokio_rustls::rustls::{ClientConfig, RootCertStore};
    use tokio_rustls::TlsConnector;

    /// A TLS handshake with `front` as a client trusting only `ca_pem`.
    async fn handshake(front: &TlsFront, ca_pem: &str, name: &str) -> io::Result<()> {
        let mut roots = RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
        let config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
        let tcp = tokio::net::TcpStream::connect(front.addr()).await?;
        let name = ServerName::try_from(name.to_owned()).unwrap();
        TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map(drop)
    }

    #[tokio::test]
    async fn certificates_are_made_at_run_time_and_only_the_trusted_one_verifies() {
        // Nothing listens behind the front: the handshake is all we test.
        let backend = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let backend = backend.local_addr().unwrap();
        let trusted = TlsFront::start(backend, SimCert::Trusted).unwrap();
        assert!(trusted.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(!trusted.ca_pem().contains("PRIVATE KEY"));
        for name in ["127.0.0.1", "localhost"] {
            handshake(&trusted, trusted.ca_pem(), name).await.unwrap();
        }

        // Every front has its own CA (same name, new key): another front's
        // does not verify it.
        let other = TlsFront::start(backend, SimCert::Trusted).unwrap();
        assert_ne!(other.ca_pem(), trusted.ca_pem());
        let e = handshake(&trusted, other.ca_pem(), "127.0.0.1")
            .await
            .unwrap_err();
        assert!(e.to_string().contains("BadSignature"), "{e}");

        let wrong = TlsFront::start(backend, SimCert::WrongHost).unwrap();
        let e = handshake(&wrong, wrong.ca_pem(), "127.0.0.1")
            .await
            .unwrap_err();
        assert!(e.to_string().contains("not valid for name"), "{e}");
        handshake(&wrong, wrong.ca_pem(), "duo.invalid")
            .await
            .unwrap();

        let selfsigned = TlsFront::start(backend, SimCert::SelfSigned).unwrap();
        let e = handshake(&selfsigned, selfsigned.ca_pem(), "127.0.0.1")
            .await
            .unwrap_err();
        assert!(e.to_string().contains("UnknownIssuer"), "{e}");
    }
}
