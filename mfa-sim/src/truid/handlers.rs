//! The simulator's endpoints: state, checks a real client must pass, and
//! the documented answers.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use super::{Endpoint, Scenario, SIM_CLIENT_ID, SIM_CLIENT_SECRET};
use crate::plumbing::{Fault, Recorded, Shared};
use mfa_core::phonecheck::truid::{CHECKS_PATH, TOKEN_PATH};

#[derive(Debug, Clone)]
pub(super) struct Check {
    pub(super) redirect_url: String,
    pub(super) code: String,
    pub(super) status: &'static str,
    pub(super) matched: bool,
    pub(super) error_code: Option<&'static str>,
    pub(super) expires: Instant,
    pub(super) completed_at: Option<Instant>,
}

#[derive(Debug)]
pub(super) struct State {
    pub(super) scenario: Scenario,
    /// Fault per endpoint, with how many more requests it applies to
    /// (`None`: until cleared).
    pub(super) faults: HashMap<Endpoint, (Fault, Option<u32>)>,
    pub(super) tokens: HashMap<String, Instant>,
    pub(super) token_ttl: u64,
    pub(super) check_ttl: u64,
    pub(super) checks: HashMap<String, Check>,
    pub(super) order: Vec<String>,
    pub(super) requests: Vec<Recorded>,
    pub(super) counter: u64,
}

pub(super) fn problem(status: u16, detail: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .insert_header("Content-Type", "application/problem+json")
        .set_body_json(json!({
            "type": "https://tru.id/docs/api-errors",
            "title": detail,
            "status": status,
            "detail": format!("{status} {detail}"),
        }))
}

pub(super) fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    // Test harness: a failing OS RNG only makes ids less random.
    let _ = getrandom::getrandom(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl State {
    /// The fault for `ep`, counting down a limited one.
    pub(super) fn take_fault(&mut self, ep: Endpoint) -> Option<Fault> {
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

    pub(super) fn bearer_ok(&self, r: &Recorded) -> bool {
        r.header("authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
            .and_then(|t| self.tokens.get(t))
            .is_some_and(|exp| Instant::now() < *exp)
    }

    pub(super) fn check_json(&mut self, id: &str, base: &str) -> Option<Value> {
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

/// The start every Bearer-authorised API call shares: record the request,
/// check its token (401 as tru.ID answers), apply a pending fault. `Err` is
/// the answer to send now; `Ok` the request and the delay for the real one.
fn admit(
    s: &mut State,
    r: &Request,
    ep: Endpoint,
) -> Result<(Recorded, Option<Duration>), Box<ResponseTemplate>> {
    let rec = Recorded::from_request(r);
    s.requests.push(rec.clone());
    if !s.bearer_ok(&rec) {
        return Err(Box::new(problem(401, "invalid or expired token")));
    }
    match faulted(s.take_fault(ep)) {
        (Some(replace), _) => Err(Box::new(replace)),
        (None, delay) => Ok((rec, delay)),
    }
}

pub(super) async fn mount_token(server: &MockServer, state: &Shared<State>) {
    let st = state.clone();
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
        .mount(server)
        .await;
}

pub(super) async fn mount_create(server: &MockServer, state: &Shared<State>, base: String) {
    let st = state.clone();
    Mock::given(method("POST"))
        .and(path(CHECKS_PATH))
        .respond_with(move |r: &Request| {
            let mut s = st.lock();
            let (rec, delay) = match admit(&mut s, r, Endpoint::Create) {
                Ok(admitted) => admitted,
                Err(answer) => return *answer,
            };
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
        .mount(server)
        .await;
}

/// The phone opening `check_url` over mobile data; the operator
/// answers with a redirect to the customer's `redirect_url`.
pub(super) async fn mount_redirect(server: &MockServer, state: &Shared<State>) {
    let st = state.clone();
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
        .mount(server)
        .await;
}

pub(super) async fn mount_get(server: &MockServer, state: &Shared<State>, base: String) {
    let st = state.clone();
    Mock::given(method("GET"))
        .and(path_regex(r"^/phone_check/v0\.2/checks/[^/]+$"))
        .respond_with(move |r: &Request| {
            let mut s = st.lock();
            let (rec, delay) = match admit(&mut s, r, Endpoint::Get) {
                Ok(admitted) => admitted,
                Err(answer) => return *answer,
            };
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
        .mount(server)
        .await;
}

pub(super) async fn mount_patch(server: &MockServer, state: &Shared<State>, base: String) {
    let st = state.clone();
    Mock::given(method("PATCH"))
        .and(path_regex(r"^/phone_check/v0\.2/checks/[^/]+$"))
        .respond_with(move |r: &Request| {
            let mut s = st.lock();
            let (rec, delay) = match admit(&mut s, r, Endpoint::Patch) {
                Ok(admitted) => admitted,
                Err(answer) => return *answer,
            };
            if rec.header("content-type") != Some("application/json-patch+json") {
                return problem(415, "expected application/json-patch+json");
            }
            let body: Value = serde_json::from_slice(&rec.body).unwrap_or(Value::Null);
            let code = match body.as_array().map(Vec::as_slice) {
                Some([op])
                    if op["op"] == "add" && op["path"] == "/code" && op["value"].is_string() =>
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
        .mount(server)
        .await;
}
