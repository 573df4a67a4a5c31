//! The simulator's TLS front: a rustls listener on 127.0.0.1 that
//! terminates TLS with one of the test certificates in `fixtures/duo/`
//! (made by `fixtures/duo/make-certs.sh`) and relays the bytes to the
//! plain wiremock server behind it. It runs on its own thread and runtime,
//! like wiremock itself, so it works under any caller's runtime (tests,
//! the demo, criterion).

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::oneshot;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// The test CA that signed [`SimCert::Trusted`] and [`SimCert::WrongHost`].
pub const CA_PEM: &[u8] = include_bytes!("../../../../fixtures/duo/ca.pem");

/// Which certificate the simulator presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SimCert {
    /// Signed by the test CA for 127.0.0.1, ::1 and localhost.
    #[default]
    Trusted,
    /// Signed by the test CA, but for `duo.invalid` only.
    WrongHost,
    /// Self-signed for 127.0.0.1/localhost, not from the test CA.
    SelfSigned,
}

impl SimCert {
    fn pem(self) -> (&'static [u8], &'static [u8]) {
        match self {
            SimCert::Trusted => (
                include_bytes!("../../../../fixtures/duo/server.pem"),
                include_bytes!("../../../../fixtures/duo/server.key"),
            ),
            SimCert::WrongHost => (
                include_bytes!("../../../../fixtures/duo/wronghost.pem"),
                include_bytes!("../../../../fixtures/duo/wronghost.key"),
            ),
            SimCert::SelfSigned => (
                include_bytes!("../../../../fixtures/duo/selfsigned.pem"),
                include_bytes!("../../../../fixtures/duo/selfsigned.key"),
            ),
        }
    }
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

fn server_config(cert: SimCert) -> io::Result<ServerConfig> {
    let (cert_pem, key_pem) = cert.pem();
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(invalid)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(invalid)?;
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
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TlsFront {
    /// Listen on 127.0.0.1 (OS-chosen port) and relay to `backend`.
    pub fn start(backend: SocketAddr, cert: SimCert) -> io::Result<Self> {
        let acceptor = TlsAcceptor::from(Arc::new(server_config(cert)?));
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
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
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
