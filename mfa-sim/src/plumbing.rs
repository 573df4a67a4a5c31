//! Plumbing shared by the provider simulators (tru.ID, Duo, webhook sink):
//! a wiremock server on a loopback address, state shared between the mocks
//! of one simulator, a record of what clients sent, and the failure
//! scenarios every provider client must survive.
//!
//! Each simulator lives in its own module beside this one and exposes a
//! `start(...)` that returns a handle with its base URL, its scenario switch
//! and the recorded requests.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use wiremock::{MockServer, Request, ResponseTemplate};

/// State shared by the mocks of one simulator and the test that drives it.
/// A poisoned lock (a panicking test thread) is recovered, not propagated:
/// the simulator keeps answering so the test reports its own failure.
#[derive(Debug, Default)]
pub struct Shared<T>(Arc<Mutex<T>>);

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T> Shared<T> {
    pub fn new(value: T) -> Self {
        Self(Arc::new(Mutex::new(value)))
    }

    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One request as a simulator received it, for assertions after the fact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub method: String,
    /// Path and query, as sent.
    pub path_and_query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn from_request(r: &Request) -> Self {
        let mut path_and_query = r.url.path().to_owned();
        if let Some(q) = r.url.query() {
            path_and_query.push('?');
            path_and_query.push_str(q);
        }
        Self {
            method: r.method.to_string(),
            path_and_query,
            headers: r
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: r.body.clone(),
        }
    }

    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A failure a simulator can be switched into, common to every provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this HTTP status and a JSON error body.
    Status(u16),
    /// 429 with a `Retry-After` header (seconds or an HTTP date, as given).
    RateLimited { retry_after: String },
    /// 200 with a body that is not JSON.
    Malformed,
    /// Answer correctly, but only after this long (past a client timeout).
    Slow(Duration),
    /// Exactly this answer: status, extra headers and body (answers no real
    /// service should send, e.g. a body past the clients' size cap, or a
    /// 429 that names its wait only in `X-Retry-After`).
    Canned {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
}

impl Fault {
    /// The canned response for faults that replace the answer; `None` for
    /// [`Fault::Slow`], which delays the real answer instead (see
    /// [`Fault::delay`]).
    pub fn response(&self) -> Option<ResponseTemplate> {
        match self {
            Fault::Status(code) => Some(ResponseTemplate::new(*code).set_body_json(
                serde_json::json!({
                    "error": "simulated failure",
                    "status": code,
                }),
            )),
            Fault::RateLimited { retry_after } => Some(
                ResponseTemplate::new(429)
                    .insert_header("Retry-After", retry_after.as_str())
                    .set_body_json(serde_json::json!({"error": "too many requests"})),
            ),
            Fault::Malformed => Some(
                ResponseTemplate::new(200)
                    .insert_header("Content-Type", "application/json")
                    .set_body_string("{\"this is\": not json"),
            ),
            Fault::Slow(_) => None,
            Fault::Canned {
                status,
                headers,
                body,
            } => Some(
                headers
                    .iter()
                    .fold(ResponseTemplate::new(*status), |t, (k, v)| {
                        t.insert_header(k.as_str(), v.as_str())
                    })
                    .set_body_raw(body.clone().into_bytes(), "application/json"),
            ),
        }
    }

    /// How long to hold the real answer back.
    pub fn delay(&self) -> Option<Duration> {
        match self {
            Fault::Slow(d) => Some(*d),
            _ => None,
        }
    }
}

/// Start a wiremock server on `bind` (port chosen by the OS). Simulators
/// listen on loopback only: anything else is refused.
pub async fn start_server(bind: IpAddr) -> std::io::Result<MockServer> {
    if !bind.is_loopback() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "simulators listen on loopback addresses only",
        ));
    }
    let listener = TcpListener::bind(SocketAddr::new(bind, 0))?;
    Ok(MockServer::builder().listener(listener).start().await)
}

/// [`start_server`] on 127.0.0.1.
pub async fn start_local() -> std::io::Result<MockServer> {
    start_server(IpAddr::V4(Ipv4Addr::LOCALHOST)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiremock::matchers::{method, path};
    use wiremock::Mock;

    #[tokio::test]
    async fn faults_answer_as_described_and_requests_are_recorded() {
        let server = start_local().await.unwrap();
        let seen: Shared<Vec<Recorded>> = Shared::default();
        let fault: Shared<Option<Fault>> = Shared::default();
        let (s2, f2) = (seen.clone(), fault.clone());
        Mock::given(method("POST"))
            .and(path("/x"))
            .respond_with(move |r: &Request| {
                s2.lock().push(Recorded::from_request(r));
                let f = f2.lock().clone();
                f.and_then(|f| f.response())
                    .unwrap_or_else(|| ResponseTemplate::new(200).set_body_string("{}"))
            })
            .mount(&server)
            .await;
        assert!(server.uri().starts_with("http://127.0.0.1:"));

        let client = reqwest::Client::new();
        let post = || client.post(format!("{}/x?a=1", server.uri())).body("hi");
        assert_eq!(post().send().await.unwrap().status(), 200);
        *fault.lock() = Some(Fault::RateLimited {
            retry_after: "7".into(),
        });
        let r = post().send().await.unwrap();
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["retry-after"], "7");
        *fault.lock() = Some(Fault::Malformed);
        let r = post().send().await.unwrap();
        assert!(r.json::<serde_json::Value>().await.is_err());
        *fault.lock() = Some(Fault::Status(503));
        assert_eq!(post().send().await.unwrap().status(), 503);

        let seen = seen.lock();
        assert_eq!(seen.len(), 4);
        assert_eq!(seen[0].method, "POST");
        assert_eq!(seen[0].path_and_query, "/x?a=1");
        assert_eq!(seen[0].body_text(), "hi");
    }

    #[tokio::test]
    async fn refuses_non_loopback_addresses() {
        let err = start_server("192.0.2.1".parse().unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    }
}
