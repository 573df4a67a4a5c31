//! A stateful tru.ID PhoneCheck v0.2 simulator on loopback.
//!
//! It checks what the real API requires (Basic auth + form + scope on the
//! token, Bearer tokens, E.164 digits, JSON-patch bodies) and answers with
//! the documented shapes (`fixtures/truid/`). Opening a `check_url` plays
//! the phone and the mobile operator: the check goes `PENDING` and the
//! answer is a redirect to `redirect_url?check_id=...&code=...`;
//! [`TruIdSim::phone_opens`] follows it to the callback like a phone would.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use super::sim::{start_local, Fault, Recorded, Shared};
use crate::provider::truid::{CHECKS_PATH, TOKEN_PATH};

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

#[derive(Debug, Clone)]
struct Check {
    redirect_url: String,
    code: String,
    status: &'static str,
    matched: bool,
    error_code: Option<&'static str>,
    expires: Instant,
    completed_at: Option<Instant>,
}

#[derive(Debug)]
struct State {
    scenario: Scenario,
    /// Fault per endpoint, with how many more requests it applies to
    /// (`None`: until cleared).
    faults: HashMap<Endpoint, (Fault, Option<u32>)>,
    tokens: HashMap<String, Instant>,
    token_ttl: u64,
    check_ttl: u64,
    checks: HashMap<String, Check>,
    order: Vec<String>,
    requests: Vec<Recorded>,
    counter: u64,
}

/// A running simulator. Dropping it stops the server.
pub struct TruIdSim {
    server: MockServer,
    state: Shared<State>,
}

fn problem(status: u16, detail: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .insert_header("Content-Type", "application/problem+json")
        .set_body_json(json!({
            "type": "https://tru.id/docs/api-errors",
            "title": detail,
            "status": status,
            "detail": format!("{status} {detail}"),
        }))
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    // Test harness: a failing OS RNG only makes ids less random.
    let _ = getrandom::getrandom(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl State {
    /// The fault for `ep`, counting down a limited one.
    fn take_fault(&mut self, ep: Endpoint) -> Option<Fault> {
        let (fault, left) = self.faults.get_mut(&ep)?;
        let f = fault.clone();
        match left {
            Some(0) => {
                self.faults.remove(&ep);
                return None;
            }
            Some(n) => *n -= 1,
            None => {}
        }
        Some(f)
    }

    fn bearer_ok(&self, r: &Recorded) -> bool {
        r.header("authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
            .and_then(|t| self.tokens.get(t))
            .is_some_and(|exp| Instant::now() < *exp)
    }

    fn check_json(&mut self, id: &str, base: &str) -> Option<Value> {
        let c = self.checks.get_mut(id)?;
        let open = c.status == "ACCEPTED" || c.status == "PENDING";
        if open && (Instant::now() >= c.expires || self.scenario == Scenario::Expire) {
            c.status = "EXPIRED";
        }
        let mut v = json!({
            "check_id": id,
            "status": c.status,
            "match": c.matched,
            "charge_amount": 1,
            "charge_currency": "API",
            "created_at": "2026-01-01T00:00:00+00:00",
            "_links": {"self": {"href": format!("{base}{CHECKS_PATH}/{id}")}},
        });
        if let Some(code) = c.error_code {
            v["error_code"] = json!(code);
        }
        Some(v)
    }
}

/// Apply a fault: `Some(response)` replaces the answer; a slow fault is
/// returned as a delay for the real answer.
fn faulted(fault: Option<Fault>) -> (Option<ResponseTemplate>, Option<Duration>) {
    match fault {
        Some(f) => (f.response(), f.delay()),
        None => (None, None),
    }
}

fn delayed(t: ResponseTemplate, d: Option<Duration>) -> ResponseTemplate {
    match d {
        Some(d) => t.set_delay(d),
        None => t,
    }
}

impl TruIdSim {
    /// Start on 127.0.0.1 with the [`Scenario::Match`] scenario, tokens
    /// valid for an hour and checks for 120 s.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_on(start_local().await?).await
    }

    /// Start on a given loopback address (`mfa mock serve --bind`).
    pub async fn start_at(bind: std::net::IpAddr) -> std::io::Result<Self> {
        Self::start_on(super::sim::start_server(bind).await?).await
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
        sim.mount_token().await;
        sim.mount_create(base.clone()).await;
        sim.mount_redirect().await;
        sim.mount_get(base.clone()).await;
        sim.mount_patch(base).await;
        Ok(sim)
    }

    async fn mount_token(&self) {
        let st = self.state.clone();
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .respond_with(move |r: &Request| {
                let rec = Recorded::from_request(r);
                let mut s = st.lock();
                s.requests.push(rec.clone());
                let (replace, delay) = faulted(s.take_fault(Endpoint::Token));
                if let Some(t) = replace {
                    return t;
                }
                let expected = format!(
                    "Basic {}",
                    data_encoding::BASE64
                        .encode(format!("{SIM_CLIENT_ID}:{SIM_CLIENT_SECRET}").as_bytes())
                );
                if rec.header("authorization") != Some(expected.as_str()) {
                    return problem(401, "invalid client credentials");
                }
                let form: HashMap<String, String> = url::form_urlencoded::parse(&rec.body)
                    .into_owned()
                    .collect();
                let form_ok = rec
                    .header("content-type")
                    .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
                    && form.get("grant_type").map(String::as_str) == Some("client_credentials")
                    && form
                        .get("scope")
                        .is_some_and(|sc| sc.split(' ').any(|x| x == "phone_check"));
                if !form_ok {
                    return problem(400, "invalid_request");
                }
                let token = format!("sim-token-{}", random_hex(16));
                let ttl = s.token_ttl;
                s.tokens
                    .insert(token.clone(), Instant::now() + Duration::from_secs(ttl));
                delayed(
                    ResponseTemplate::new(200).set_body_json(json!({
                        "access_token": token,
                        "expires_in": ttl,
                        "scope": "phone_check",
                        "token_type": "bearer",
                    })),
                    delay,
                )
            })
            .mount(&self.server)
            .await;
    }

    async fn mount_create(&self, base: String) {
        let st = self.state.clone();
        Mock::given(method("POST"))
            .and(path(CHECKS_PATH))
            .respond_with(move |r: &Request| {
                let rec = Recorded::from_request(r);
                let mut s = st.lock();
                s.requests.push(rec.clone());
                if !s.bearer_ok(&rec) {
                    return problem(401, "invalid or expired token");
                }
                let (replace, delay) = faulted(s.take_fault(Endpoint::Create));
                if let Some(t) = replace {
                    return t;
                }
                let body: Value = match serde_json::from_slice(&rec.body) {
                    Ok(v)
                        if rec
                            .header("content-type")
                            .is_some_and(|c| c.starts_with("application/json")) =>
                    {
                        v
                    }
                    _ => return problem(400, "body must be JSON"),
                };
                let phone = body["phone_number"].as_str().unwrap_or("");
                // The API takes E.164 digits: no '+', no spaces, 7..=15 digits.
                if !(7..=15).contains(&phone.len()) || !phone.bytes().all(|b| b.is_ascii_digit()) {
                    return problem(400, "Invalid phone number format");
                }
                let redirect_url = body["redirect_url"].as_str().unwrap_or("");
                if url::Url::parse(redirect_url).is_err() {
                    return problem(400, "Invalid redirect_url");
                }
                s.counter += 1;
                let id = format!(
                    "{}-{}-4{}-8{}-{:012x}",
                    random_hex(4),
                    random_hex(2),
                    &random_hex(2)[1..],
                    &random_hex(2)[1..],
                    s.counter
                );
                let ttl = s.check_ttl;
                s.checks.insert(
                    id.clone(),
                    Check {
                        redirect_url: redirect_url.to_owned(),
                        code: random_hex(16),
                        status: "ACCEPTED",
                        matched: false,
                        error_code: None,
                        expires: Instant::now() + Duration::from_secs(ttl),
                        completed_at: None,
                    },
                );
                s.order.push(id.clone());
                delayed(
                    ResponseTemplate::new(201).set_body_json(json!({
                        "check_id": id,
                        "status": "ACCEPTED",
                        "match": false,
                        "charge_amount": 1,
                        "charge_currency": "API",
                        "created_at": "2026-01-01T00:00:00+00:00",
                        "ttl": ttl,
                        "_links": {
                            "self": {"href": format!("{base}{CHECKS_PATH}/{id}")},
                            "check_url": {"href": format!("{base}{CHECKS_PATH}/{id}/redirect")},
                        },
                        "snapshot_balance": 100,
                    })),
                    delay,
                )
            })
            .mount(&self.server)
            .await;
    }

    /// The phone opening `check_url` over mobile data; the operator
    /// answers with a redirect to the customer's `redirect_url`.
    async fn mount_redirect(&self) {
        let st = self.state.clone();
        Mock::given(method("GET"))
            .and(path_regex(
                r"^/phone_check/v0\.2/checks/[0-9a-f-]+/redirect$",
            ))
            .respond_with(move |r: &Request| {
                let rec = Recorded::from_request(r);
                let mut s = st.lock();
                s.requests.push(rec.clone());
                let id = rec
                    .path_and_query
                    .trim_start_matches(CHECKS_PATH)
                    .trim_start_matches('/')
                    .trim_end_matches("/redirect")
                    .to_owned();
                let scenario = s.scenario;
                let Some(c) = s.checks.get_mut(&id) else {
                    return problem(404, "check not found");
                };
                let Ok(mut target) = url::Url::parse(&c.redirect_url) else {
                    return problem(500, "bad redirect_url");
                };
                if c.status != "ACCEPTED" {
                    return problem(410, "check_url already used");
                }
                if scenario == Scenario::OperatorError {
                    c.status = "ERROR";
                    c.error_code = Some("mno_redirect_unsupported");
                    target
                        .query_pairs_mut()
                        .append_pair("check_id", &id)
                        .append_pair("error", "mno_redirect_unsupported");
                } else {
                    c.status = "PENDING";
                    target
                        .query_pairs_mut()
                        .append_pair("check_id", &id)
                        .append_pair("code", &c.code);
                }
                ResponseTemplate::new(302).insert_header("Location", target.as_str())
            })
            .mount(&self.server)
            .await;
    }

    async fn mount_get(&self, base: String) {
        let st = self.state.clone();
        Mock::given(method("GET"))
            .and(path_regex(r"^/phone_check/v0\.2/checks/[^/]+$"))
            .respond_with(move |r: &Request| {
                let rec = Recorded::from_request(r);
                let mut s = st.lock();
                s.requests.push(rec.clone());
                if !s.bearer_ok(&rec) {
                    return problem(401, "invalid or expired token");
                }
                let (replace, delay) = faulted(s.take_fault(Endpoint::Get));
                if let Some(t) = replace {
                    return t;
                }
                let id = rec
                    .path_and_query
                    .rsplit('/')
                    .next()
                    .unwrap_or("")
                    .to_owned();
                match s.check_json(&id, &base) {
                    Some(v) => delayed(ResponseTemplate::new(200).set_body_json(v), delay),
                    None => problem(404, "check not found"),
                }
            })
            .mount(&self.server)
            .await;
    }

    async fn mount_patch(&self, base: String) {
        let st = self.state.clone();
        Mock::given(method("PATCH"))
            .and(path_regex(r"^/phone_check/v0\.2/checks/[^/]+$"))
            .respond_with(move |r: &Request| {
                let rec = Recorded::from_request(r);
                let mut s = st.lock();
                s.requests.push(rec.clone());
                if !s.bearer_ok(&rec) {
                    return problem(401, "invalid or expired token");
                }
                let (replace, delay) = faulted(s.take_fault(Endpoint::Patch));
                if let Some(t) = replace {
                    return t;
                }
                if rec.header("content-type") != Some("application/json-patch+json") {
                    return problem(415, "expected application/json-patch+json");
                }
                let body: Value = serde_json::from_slice(&rec.body).unwrap_or(Value::Null);
                let code = match body.as_array().map(Vec::as_slice) {
                    Some([op])
                        if op["op"] == "add"
                            && op["path"] == "/code"
                            && op["value"].is_string() =>
                    {
                        op["value"].as_str().unwrap_or("").to_owned()
                    }
                    _ => {
                        return problem(
                            400,
                            "expected [{\"op\":\"add\",\"path\":\"/code\",\"value\":...}]",
                        )
                    }
                };
                let id = rec
                    .path_and_query
                    .rsplit('/')
                    .next()
                    .unwrap_or("")
                    .to_owned();
                let scenario = s.scenario;
                let Some(c) = s.checks.get_mut(&id) else {
                    return problem(404, "check not found");
                };
                let open = c.status == "ACCEPTED" || c.status == "PENDING";
                if open && (Instant::now() >= c.expires || scenario == Scenario::Expire) {
                    c.status = "EXPIRED";
                }
                if c.status == "PENDING" {
                    c.status = "COMPLETED";
                    c.matched = scenario == Scenario::Match && code == c.code;
                    c.completed_at = Some(Instant::now());
                } else if c.status != "COMPLETED" || code != c.code {
                    // Not waiting for a code (still ACCEPTED, expired,
                    // failed), or a second attempt with another code.
                    return problem(409, "check is not awaiting this code");
                }
                match s.check_json(&id, &base) {
                    Some(v) => delayed(ResponseTemplate::new(200).set_body_json(v), delay),
                    None => problem(404, "check not found"),
                }
            })
            .mount(&self.server)
            .await;
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
