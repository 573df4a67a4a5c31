//! A stateful tru.ID PhoneCheck v0.2 simulator on loopback.
//!
//! It checks what the real API requires (Basic auth + form + scope on the
//! token, Bearer tokens, E.164 digits, JSON-patch bodies) and answers with
//! the documented shapes (`fixtures/truid/`). Opening a `check_url` plays
//! the phone and the mobile operator: the check goes `PENDING` and the
//! answer is a redirect to `redirect_url?check_id=...&code=...`;
//! [`TruIdSim::phone_opens`] follows it to the callback like a phone would.

mod handlers;

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;
use wiremock::MockServer;

use crate::plumbing::{start_local, Fault, Recorded, Shared};
use handlers::State;
use mfa_core::phonecheck::truid::CHECKS_PATH;

pub const SIM_CLIENT_ID: &str = "sim-client-id";
pub const SIM_CLIENT_SECRET: &str = "sim-client-secret";

/// What happens to a check once the phone opens its link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scenario {
    /// The SIM matches: PATCH with the right code gives `COMPLETED`, match.
    #[default]
    Match,
    /// Another SIM opened the link: `COMPLETED`, `match: false`.
    NoMatch,
    /// The check expired before anyone completed it: `EXPIRED`.
    Expire,
    /// The operator failed: `ERROR` with an `error_code`, no code handed out.
    OperatorError,
}

/// Which endpoint a [`Fault`] applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Token,
    Create,
    Get,
    Patch,
}

/// A running simulator. Dropping it stops the server.
pub struct TruIdSim {
    server: MockServer,
    state: Shared<State>,
}

impl TruIdSim {
    /// Start on 127.0.0.1 with the [`Scenario::Match`] scenario, tokens
    /// valid for an hour and checks for 120 s.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_on(start_local().await?).await
    }

    /// Start on a given loopback address (`mfa mock serve --bind`).
    pub async fn start_at(bind: std::net::IpAddr) -> std::io::Result<Self> {
        Self::start_on(crate::plumbing::start_server(bind).await?).await
    }

    async fn start_on(server: MockServer) -> std::io::Result<Self> {
        let state = Shared::new(State {
            scenario: Scenario::Match,
            faults: HashMap::new(),
            tokens: HashMap::new(),
            token_ttl: 3600,
            check_ttl: 120,
            checks: HashMap::new(),
            order: Vec::new(),
            requests: Vec::new(),
            counter: 0,
        });
        let base = server.uri();
        let sim = Self { server, state };
        handlers::mount_token(&sim.server, &sim.state).await;
        handlers::mount_create(&sim.server, &sim.state, base.clone()).await;
        handlers::mount_redirect(&sim.server, &sim.state).await;
        handlers::mount_get(&sim.server, &sim.state, base.clone()).await;
        handlers::mount_patch(&sim.server, &sim.state, base).await;
        Ok(sim)
    }

    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    pub fn set_scenario(&self, s: Scenario) {
        self.state.lock().scenario = s;
    }

    /// `fault` on every request to `ep` until [`TruIdSim::clear_faults`].
    pub fn fail(&self, ep: Endpoint, fault: Fault) {
        self.state.lock().faults.insert(ep, (fault, None));
    }

    /// `fault` on the next `times` requests to `ep` only.
    pub fn fail_times(&self, ep: Endpoint, fault: Fault, times: u32) {
        self.state.lock().faults.insert(ep, (fault, Some(times)));
    }

    pub fn clear_faults(&self) {
        self.state.lock().faults.clear();
    }

    /// Lifetime of new checks (seconds).
    pub fn set_check_ttl(&self, secs: u64) {
        self.state.lock().check_ttl = secs;
    }

    /// Lifetime of new access tokens (seconds).
    pub fn set_token_ttl(&self, secs: u64) {
        self.state.lock().token_ttl = secs;
    }

    /// Revoke every access token (the provider may do so at any time).
    pub fn revoke_tokens(&self) {
        self.state.lock().tokens.clear();
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().requests.clone()
    }

    /// Requests of this method whose path starts with `prefix`.
    pub fn requests_to(&self, method: &str, prefix: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method && r.path_and_query.starts_with(prefix))
            .collect()
    }

    /// The check id and check_url of the most recent check.
    pub fn last_check(&self) -> Option<(String, String)> {
        let s = self.state.lock();
        s.order.last().map(|id| {
            (
                id.clone(),
                format!("{}{CHECKS_PATH}/{id}/redirect", self.server.uri()),
            )
        })
    }

    /// The code the operator hands out for `check_id` (tests forging
    /// callbacks).
    pub fn code_of(&self, check_id: &str) -> Option<String> {
        self.state
            .lock()
            .checks
            .get(check_id)
            .map(|c| c.code.clone())
    }

    /// When the check became `COMPLETED` (benchmarks).
    pub fn completed_at(&self, check_id: &str) -> Option<Instant> {
        self.state
            .lock()
            .checks
            .get(check_id)
            .and_then(|c| c.completed_at)
    }

    /// Play the phone and the operator: open `check_url` and return where
    /// the operator redirects (the callback URL with `check_id` and `code`).
    pub async fn operator_redirect(&self, check_url: &str) -> Result<url::Url, String> {
        let first = phone_client()?
            .get(check_url)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if first.status().as_u16() != 302 {
            return Err(format!("check_url answered HTTP {}", first.status()));
        }
        let location = first
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .ok_or("redirect without Location")?;
        url::Url::parse(location).map_err(|e| e.to_string())
    }

    /// Play the phone: open `check_url` and follow the redirect to the
    /// callback over HTTP. Returns the callback's status and page.
    pub async fn phone_opens(&self, check_url: &str) -> Result<(u16, String), String> {
        let target = self.operator_redirect(check_url).await?;
        self.phone_follows(&target).await
    }

    /// The phone following the operator's redirect to `target` (the
    /// callback). Returns the status and page.
    pub async fn phone_follows(&self, target: &url::Url) -> Result<(u16, String), String> {
        let cb = phone_client()?
            .get(target.clone())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = cb.status().as_u16();
        Ok((status, cb.text().await.map_err(|e| e.to_string())?))
    }
}

/// What the phone's browser is here: no proxy, a timeout, and redirects
/// taken one at a time so each hop can be checked.
fn phone_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())
}

impl std::fmt::Debug for TruIdSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TruIdSim")
            .field("uri", &self.uri())
            .finish()
    }
}
