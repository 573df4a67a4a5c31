//! The PhoneCheck factor through the REAL engine, against the tru.ID
//! simulator, with a scripted conversation: every provider state and
//! failure class, the decision, the audit record, and what the simulator
//! received.

// Integration tests: helpers outside #[test] fns may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mfa_core::accounts::StaticAccounts;
use mfa_core::config::{UserEntry, UsersDb};
use mfa_core::conversation::scripted::{ScriptedConversation, Step};
use mfa_core::conversation::SecretAnswer;
use mfa_core::phonecheck::callback::{CallbackService, PageKind, Reply};
use mfa_core::phonecheck::factor::{
    ENTER_PROMPT, MSG_BUSY, MSG_EXPIRED, MSG_NEEDS_TERMINAL, MSG_NO_MATCH, MSG_OPERATOR,
    MSG_REFUSED, MSG_TIMEOUT, SCAN_INFO,
};
use mfa_core::phonecheck::truid::{Credentials, TruIdClient};
use mfa_core::phonecheck::{PhoneCheckFactor, PhoneNumber};
use mfa_core::{AuthContext, Config, Conversation, ConversationError, Decision, Engine};
use mfa_sim::truid::{Endpoint, Scenario, TruIdSim, SIM_CLIENT_ID, SIM_CLIENT_SECRET};
use mfa_sim::Fault;
use mfa_testkit::audit::Capture;
use mfa_testkit::person::NeverEnter;

const PHONE: &str = "+447700900000";

fn users() -> UsersDb {
    let mut db = UsersDb::default();
    db.users.insert(
        "alice".into(),
        UserEntry {
            phone: Some(PhoneNumber::parse(PHONE).unwrap()),
            ..UserEntry::default()
        },
    );
    db.users.insert(
        "bob".into(),
        UserEntry {
            phone: Some(PhoneNumber::parse("447700900111").unwrap()),
            ..UserEntry::default()
        },
    );
    db.users.insert("dave".into(), UserEntry::default());
    db
}

fn config(sim: &TruIdSim, extra: &str, secret: &str) -> Config {
    Config::parse(Path::new("test.toml"), &config_text(sim, extra, secret)).unwrap()
}

fn config_text(sim: &TruIdSim, extra: &str, secret: &str) -> String {
    format!(
        r#"
[general]
request_timeout_secs = 1
{extra}
[policy]
factors = ["phonecheck"]
[phonecheck]
api_base_url = "{}"
client_id = "{SIM_CLIENT_ID}"
client_secret = "{secret}"
redirect_url = "http://127.0.0.1:9/complete-check"
poll_interval_ms = 50
"#,
        sim.uri()
    )
}

fn engine(sim: &TruIdSim, extra: &str, audit: &Capture) -> Engine {
    let mut e = Engine::with_users(config(sim, extra, SIM_CLIENT_SECRET), users()).unwrap();
    e.add_audit_sink(Box::new(audit.clone()));
    e
}

fn callback(sim: &TruIdSim) -> CallbackService {
    let client = TruIdClient::new(
        &sim.uri(),
        Credentials::new(SIM_CLIENT_ID, SIM_CLIENT_SECRET),
        Duration::from_secs(2),
        None,
    )
    .unwrap();
    CallbackService::new(Arc::new(client))
}

/// What the phone does while the prompt is open.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PhoneDoes {
    Nothing,
    /// Opens the link; the operator redirects it to our callback.
    OpensLink,
    /// Someone else calls the callback with a made-up code.
    ForgedCode,
}

/// A scripted conversation plus the phone: the phone acts as soon as the
/// QR code is shown, before the "press Enter" prompt opens. The factor polls
/// while that prompt is open, so if the phone acted inside the prompt, a
/// final status could reach the poll before the prompt was recorded and the
/// transcript order would depend on scheduling.
struct WithPhone<'a> {
    script: ScriptedConversation,
    sim: &'a TruIdSim,
    cb: &'a CallbackService,
    does: PhoneDoes,
    reply: Option<Reply>,
}

impl<'a> WithPhone<'a> {
    fn new(sim: &'a TruIdSim, cb: &'a CallbackService, does: PhoneDoes, steps: Vec<Step>) -> Self {
        Self {
            script: ScriptedConversation::new(steps),
            sim,
            cb,
            does,
            reply: None,
        }
    }
}

async fn phone_via_callback(sim: &TruIdSim, cb: &CallbackService, forged: bool) -> Reply {
    let (id, check_url) = sim.last_check().expect("a check was created");
    let target = sim.operator_redirect(&check_url).await.unwrap();
    let mut query = target.query().unwrap_or("").to_owned();
    if forged {
        query = format!("check_id={id}&code=0123456789abcdef");
    }
    let peer: IpAddr = "203.0.113.5".parse().unwrap();
    cb.handle(peer, "GET", target.path(), Some(&query)).await
}

#[async_trait]
impl Conversation for WithPhone<'_> {
    async fn prompt_secret(&mut self, prompt: &str) -> Result<SecretAnswer, ConversationError> {
        self.script.prompt_secret(prompt).await
    }
    async fn prompt_visible(&mut self, prompt: &str) -> Result<String, ConversationError> {
        self.script.prompt_visible(prompt).await
    }
    async fn info(&mut self, text: &str) -> Result<(), ConversationError> {
        self.script.info(text).await?;
        if text.contains(SCAN_INFO) && self.does != PhoneDoes::Nothing && self.reply.is_none() {
            let forged = self.does == PhoneDoes::ForgedCode;
            self.reply = Some(phone_via_callback(self.sim, self.cb, forged).await);
        }
        Ok(())
    }
    async fn error(&mut self, text: &str) -> Result<(), ConversationError> {
        self.script.error(text).await
    }
}

/// Accounts alice, bob, carol and dave exist; `mallory` and the near
/// misses of `alice` do not.
fn ctx(user: &str) -> AuthContext {
    let mut c = AuthContext::new(user, "sshd");
    c.accounts = Arc::new(StaticAccounts::named(&["alice", "bob", "carol", "dave"]));
    c.rhost = Some("198.51.100.4".into());
    c
}

fn qr_and_prompt() -> Vec<Step> {
    vec![
        Step::InfoContaining(SCAN_INFO.into()),
        Step::Visible(ENTER_PROMPT.into(), String::new()),
    ]
}

fn with(mut steps: Vec<Step>, more: &[Step]) -> Vec<Step> {
    steps.extend_from_slice(more);
    steps
}

async fn login(
    e: &Engine,
    sim: &TruIdSim,
    user: &str,
    does: PhoneDoes,
    steps: Vec<Step>,
) -> (Decision, Option<Reply>) {
    login_via(e, sim, &callback(sim), user, does, steps).await
}

async fn login_via(
    e: &Engine,
    sim: &TruIdSim,
    cb: &CallbackService,
    user: &str,
    does: PhoneDoes,
    steps: Vec<Step>,
) -> (Decision, Option<Reply>) {
    let mut conv = WithPhone::new(sim, cb, does, steps);
    let d = e.authenticate(&ctx(user), &mut conv).await;
    conv.script.finish();
    (d, conv.reply)
}

fn deny_reason(d: &Decision) -> &str {
    match d {
        Decision::Deny { reason } => reason,
        other => panic!("expected a deny, got {other:?}"),
    }
}

#[tokio::test]
async fn match_allows_and_the_simulator_saw_what_the_api_requires() {
    let sim = TruIdSim::start().await.unwrap();
    let audit = Capture::default();
    let e = engine(&sim, "", &audit);
    let (d, reply) = login(&e, &sim, "alice", PhoneDoes::OpensLink, qr_and_prompt()).await;
    assert!(d.is_allow(), "{d:?}");
    let reply = reply.unwrap();
    assert_eq!((reply.status, reply.kind), (200, PageKind::Complete));
    let a = audit.only();
    assert_eq!(a.decision, "allow");
    assert_eq!(a.reason, "phonecheck verified");

    let tokens = sim.requests_to("POST", "/oauth2/v1/token");
    assert_eq!(
        tokens.len(),
        2,
        "one token for the factor (create + polls), one for the callback"
    );
    let basic = format!(
        "Basic {}",
        data_encoding::BASE64.encode(format!("{SIM_CLIENT_ID}:{SIM_CLIENT_SECRET}").as_bytes())
    );
    assert_eq!(tokens[0].header("authorization"), Some(basic.as_str()));
    assert_eq!(
        tokens[0].body_text(),
        "grant_type=client_credentials&scope=phone_check"
    );
    let creates = sim.requests_to("POST", "/phone_check/v0.2/checks");
    assert_eq!(creates.len(), 1);
    assert!(creates[0]
        .header("authorization")
        .unwrap()
        .starts_with("Bearer sim-token-"));
    let body: serde_json::Value = serde_json::from_slice(&creates[0].body).unwrap();
    assert_eq!(body["phone_number"], "447700900000", "E.164 digits, no '+'");
    assert_eq!(body["redirect_url"], "http://127.0.0.1:9/complete-check");
    let patches = sim.requests_to("PATCH", "/phone_check/v0.2/checks/");
    assert_eq!(patches.len(), 1);
    assert_eq!(
        patches[0].header("content-type"),
        Some("application/json-patch+json")
    );
    let gets = sim.requests_to("GET", "/phone_check/v0.2/checks/");
    assert!(
        gets.iter()
            .any(|g| !g.path_and_query.ends_with("/redirect")),
        "the factor polled"
    );
}

#[tokio::test]
async fn number_without_plus_is_accepted_and_sent_as_digits() {
    let sim = TruIdSim::start().await.unwrap();
    let e = engine(&sim, "", &Capture::default());
    let (d, _) = login(&e, &sim, "bob", PhoneDoes::OpensLink, qr_and_prompt()).await;
    assert!(d.is_allow(), "{d:?}");
    let creates = sim.requests_to("POST", "/phone_check/v0.2/checks");
    let body: serde_json::Value = serde_json::from_slice(&creates[0].body).unwrap();
    assert_eq!(body["phone_number"], "447700900111");
}

#[tokio::test]
async fn no_match_denies() {
    let sim = TruIdSim::start().await.unwrap();
    sim.set_scenario(Scenario::NoMatch);
    let audit = Capture::default();
    let e = engine(&sim, "", &audit);
    let steps = with(
        qr_and_prompt(),
        &[Step::ErrorContaining(MSG_NO_MATCH.into())],
    );
    let (d, reply) = login(&e, &sim, "alice", PhoneDoes::OpensLink, steps).await;
    assert!(deny_reason(&d).contains("no match"), "{d:?}");
    assert_eq!(reply.unwrap().kind, PageKind::Failed);
    assert_eq!(audit.only().decision, "deny");
}

#[tokio::test]
async fn forged_callback_code_cannot_allow() {
    let sim = TruIdSim::start().await.unwrap();
    let e = engine(&sim, "", &Capture::default());
    let steps = with(
        qr_and_prompt(),
        &[Step::ErrorContaining(MSG_NO_MATCH.into())],
    );
    let (d, reply) = login(&e, &sim, "alice", PhoneDoes::ForgedCode, steps).await;
    assert!(deny_reason(&d).contains("no match"), "{d:?}");
    assert_eq!(reply.unwrap().status, 403);
}

#[tokio::test]
async fn expired_check_denies() {
    let sim = TruIdSim::start().await.unwrap();
    sim.set_scenario(Scenario::Expire);
    let e = engine(&sim, "", &Capture::default());
    let steps = with(
        qr_and_prompt(),
        &[Step::ErrorContaining(MSG_EXPIRED.into())],
    );
    let (d, _) = login(&e, &sim, "alice", PhoneDoes::Nothing, steps).await;
    assert!(deny_reason(&d).contains("expired"), "{d:?}");
    // The phone arriving late gets nowhere, and even the right code cannot
    // complete the check any more.
    let (id, url) = sim.last_check().unwrap();
    assert!(sim
        .operator_redirect(&url)
        .await
        .unwrap_err()
        .contains("410"));
    let q = format!("check_id={id}&code={}", sim.code_of(&id).unwrap());
    let peer: IpAddr = "203.0.113.5".parse().unwrap();
    let late = callback(&sim)
        .handle(peer, "GET", "/complete-check", Some(&q))
        .await;
    assert_eq!((late.status, late.kind), (403, PageKind::Failed));
}

#[tokio::test]
async fn operator_error_denies_with_its_code() {
    let sim = TruIdSim::start().await.unwrap();
    sim.set_scenario(Scenario::OperatorError);
    let audit = Capture::default();
    let e = engine(&sim, "", &audit);
    let steps = with(
        qr_and_prompt(),
        &[Step::ErrorContaining(MSG_OPERATOR.into())],
    );
    let (d, reply) = login(&e, &sim, "alice", PhoneDoes::OpensLink, steps).await;
    assert!(
        deny_reason(&d).contains("mno_redirect_unsupported"),
        "{d:?}"
    );
    let reply = reply.unwrap();
    assert_eq!(
        (reply.status, reply.outcome),
        (400, "bad-request"),
        "no code in the redirect"
    );
    assert!(audit.only().reason.contains("operator error"));
}

#[tokio::test]
async fn create_refusals_deny_without_showing_a_qr_code() {
    for status in [400u16, 409, 412] {
        let sim = TruIdSim::start().await.unwrap();
        sim.fail(Endpoint::Create, Fault::Status(status));
        let e = engine(&sim, "", &Capture::default());
        let steps = vec![Step::ErrorContaining(MSG_REFUSED.into())];
        let (d, _) = login(&e, &sim, "alice", PhoneDoes::Nothing, steps).await;
        assert!(deny_reason(&d).contains(&format!("HTTP {status}")), "{d:?}");
    }
}

#[tokio::test]
async fn create_429_waits_retry_after_then_succeeds() {
    let sim = TruIdSim::start().await.unwrap();
    sim.fail_times(
        Endpoint::Create,
        Fault::RateLimited {
            retry_after: "1".into(),
        },
        1,
    );
    let e = engine(&sim, "", &Capture::default());
    let started = std::time::Instant::now();
    let (d, _) = login(&e, &sim, "alice", PhoneDoes::OpensLink, qr_and_prompt()).await;
    assert!(d.is_allow(), "{d:?}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was honoured"
    );
    assert_eq!(sim.requests_to("POST", "/phone_check/v0.2/checks").len(), 2);
}

#[tokio::test]
async fn create_429_past_the_deadline_denies_at_once_and_never_fails_open() {
    let sim = TruIdSim::start().await.unwrap();
    sim.fail(
        Endpoint::Create,
        Fault::RateLimited {
            retry_after: "3600".into(),
        },
    );
    let e = engine(&sim, "failmode = \"safe\"", &Capture::default());
    let steps = vec![Step::ErrorContaining(MSG_BUSY.into())];
    let (d, _) = login(&e, &sim, "alice", PhoneDoes::Nothing, steps).await;
    assert!(deny_reason(&d).contains("429"), "{d:?}");
}

#[tokio::test]
async fn wrong_credentials_401_on_token_deny_even_with_failmode_safe() {
    let sim = TruIdSim::start().await.unwrap();
    let audit = Capture::default();
    let mut e = Engine::with_users(
        config(&sim, "failmode = \"safe\"", "not-the-secret"),
        users(),
    )
    .unwrap();
    e.add_audit_sink(Box::new(audit.clone()));
    let steps = vec![Step::ErrorContaining("contact your administrator".into())];
    let (d, _) = login(&e, &sim, "alice", PhoneDoes::Nothing, steps).await;
    assert!(deny_reason(&d).contains("refused the credentials"), "{d:?}");
    assert!(sim.requests_to("POST", "/phone_check").is_empty());
    let a = audit.only();
    assert!(
        !a.reason.contains("not-the-secret"),
        "secret in the audit: {a:?}"
    );
}

/// Unreachable/5xx/timeout/garbage before anything was shown: failmode.
/// A create slower than the login's deadline (but within the request's own
/// timeout) ends the login at the deadline, denied, in both failmodes: it
/// once waited for the provider's answer whatever the deadline said.
#[tokio::test]
async fn a_create_slower_than_the_login_deadline_ends_at_the_deadline() {
    for failmode in ["secure", "safe"] {
        let sim = TruIdSim::start().await.unwrap();
        sim.fail(Endpoint::Create, Fault::Slow(Duration::from_secs(8)));
        let audit = Capture::default();
        let extra =
            format!("request_timeout_secs = 10\nlogin_timeout_secs = 5\nfailmode = \"{failmode}\"");
        let e = engine_replacing_timeout(&sim, &extra, &audit);
        let started = std::time::Instant::now();
        let steps = vec![Step::ErrorContaining(MSG_TIMEOUT.into())];
        let (d, _) = login(&e, &sim, "alice", PhoneDoes::Nothing, steps).await;
        let took = started.elapsed();
        assert!(deny_reason(&d).contains("deadline"), "{failmode}: {d:?}");
        assert_eq!(audit.only().decision, "deny");
        // login_timeout_secs 5 minus the factor's 2 s margin.
        assert!(
            took >= Duration::from_secs(3) && took < Duration::from_secs(6),
            "{failmode}: ended after {took:?}"
        );
    }
}

/// [`engine`] with `extra` replacing the default request timeout.
fn engine_replacing_timeout(sim: &TruIdSim, extra: &str, audit: &Capture) -> Engine {
    let src = config_text(sim, extra, SIM_CLIENT_SECRET).replace("request_timeout_secs = 1\n", "");
    let mut e = Engine::with_users(
        Config::parse(Path::new("test.toml"), &src).unwrap(),
        users(),
    )
    .unwrap();
    e.add_audit_sink(Box::new(audit.clone()));
    e
}

#[tokio::test]
async fn provider_unavailable_follows_failmode() {
    let faults = [
        (Endpoint::Token, Fault::Status(503)),
        (Endpoint::Create, Fault::Status(500)),
        (Endpoint::Create, Fault::Malformed),
        (Endpoint::Create, Fault::Slow(Duration::from_secs(3))),
        // Well-formed JSON, but past the 64 KiB cap on provider answers.
        (
            Endpoint::Create,
            Fault::Canned {
                status: 201,
                headers: vec![],
                body: {
                    let mut created: serde_json::Value = serde_json::from_str(include_str!(
                        "../../fixtures/truid/check_created.json"
                    ))
                    .unwrap();
                    created["pad"] = "x".repeat(mfa_core::provider::MAX_BODY).into();
                    created.to_string()
                },
            },
        ),
    ];
    for (ep, fault) in faults {
        let sim = TruIdSim::start().await.unwrap();
        sim.fail(ep, fault.clone());
        let audit = Capture::default();
        let e = engine(&sim, "", &audit);
        let steps = vec![Step::ErrorContaining("cannot be reached".into())];
        let (d, _) = login(&e, &sim, "alice", PhoneDoes::Nothing, steps).await;
        assert!(
            deny_reason(&d).contains("failmode=secure"),
            "{fault:?}: {d:?}"
        );

        let audit = Capture::default();
        let e = engine(&sim, "failmode = \"safe\"", &audit);
        let (d, _) = login(&e, &sim, "alice", PhoneDoes::Nothing, vec![]).await;
        assert_eq!(
            d,
            Decision::Allow {
                factor: None,
                fail_open: true
            },
            "{fault:?}"
        );
        assert_eq!(audit.only().decision, "allow-failmode");
    }
}

#[tokio::test]
async fn unreachable_provider_is_unavailable() {
    // A port nobody listens on: connection refused.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let sim = TruIdSim::start().await.unwrap();
    let src = config(&sim, "", SIM_CLIENT_SECRET);
    let mut cfg = src.clone();
    let pc = cfg.phonecheck.as_mut().unwrap();
    *pc.api_base_url.get_mut() = format!("http://127.0.0.1:{port}");
    let e = Engine::with_users(cfg, users()).unwrap();
    let steps = vec![Step::ErrorContaining("cannot be reached".into())];
    let (d, _) = login(&e, &sim, "alice", PhoneDoes::Nothing, steps).await;
    assert!(deny_reason(&d).contains("cannot connect"), "{d:?}");
}

#[tokio::test]
async fn polling_survives_429_and_transient_5xx() {
    let sim = TruIdSim::start().await.unwrap();
    sim.fail_times(
        Endpoint::Get,
        Fault::RateLimited {
            retry_after: "1".into(),
        },
        1,
    );
    let e = engine(&sim, "", &Capture::default());
    let (d, _) = login(&e, &sim, "alice", PhoneDoes::OpensLink, qr_and_prompt()).await;
    assert!(d.is_allow(), "{d:?}");

    let sim = TruIdSim::start().await.unwrap();
    sim.fail_times(Endpoint::Get, Fault::Status(502), 3);
    let e = engine(&sim, "", &Capture::default());
    let (d, _) = login(&e, &sim, "alice", PhoneDoes::OpensLink, qr_and_prompt()).await;
    assert!(d.is_allow(), "{d:?}");
    let polls = sim
        .requests_to("GET", "/phone_check/v0.2/checks/")
        .into_iter()
        .filter(|r| !r.path_and_query.ends_with("/redirect"))
        .count();
    assert!(polls >= 4, "three failed polls, then the good one: {polls}");
}

/// The phone never opens the link: the hard deadline denies; polling
/// errors after the QR was shown never fail open.
#[tokio::test]
async fn deadline_is_min_of_ttl_and_login_timeout_and_never_fails_open() {
    // ttl shorter than the login timeout.
    let sim = TruIdSim::start().await.unwrap();
    sim.set_check_ttl(1);
    sim.fail(Endpoint::Get, Fault::Status(503));
    let e = engine(&sim, "failmode = \"safe\"", &Capture::default());
    let started = std::time::Instant::now();
    let steps = with(
        qr_and_prompt(),
        &[Step::ErrorContaining(MSG_TIMEOUT.into())],
    );
    let (d, _) = login(&e, &sim, "alice", PhoneDoes::Nothing, steps).await;
    assert!(deny_reason(&d).contains("timed out"), "{d:?}");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(5),
        "{took:?}"
    );

    // Login timeout shorter than the ttl (120 s in the simulator).
    let sim = TruIdSim::start().await.unwrap();
    let client = TruIdClient::new(
        &sim.uri(),
        Credentials::new(SIM_CLIENT_ID, SIM_CLIENT_SECRET),
        Duration::from_secs(1),
        None,
    )
    .unwrap();
    let factor = PhoneCheckFactor::new(
        Arc::new(client),
        Arc::new(users()),
        "http://127.0.0.1:9/complete-check",
        Duration::from_millis(50),
        Duration::from_secs(3),
    );
    let e = Engine::with_factors(
        config(&sim, "", SIM_CLIENT_SECRET),
        users(),
        vec![Arc::new(factor)],
    )
    .unwrap();
    let started = std::time::Instant::now();
    let steps = with(
        qr_and_prompt(),
        &[Step::ErrorContaining(MSG_TIMEOUT.into())],
    );
    let (d, _) = login(&e, &sim, "alice", PhoneDoes::Nothing, steps).await;
    assert!(deny_reason(&d).contains("timed out"), "{d:?}");
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[tokio::test]
async fn token_is_cached_across_logins_and_refetched_when_revoked() {
    let sim = TruIdSim::start().await.unwrap();
    let cb = callback(&sim);
    let e = engine(&sim, "", &Capture::default());
    for _ in 0..2 {
        let (d, _) = login_via(
            &e,
            &sim,
            &cb,
            "alice",
            PhoneDoes::OpensLink,
            qr_and_prompt(),
        )
        .await;
        assert!(d.is_allow(), "{d:?}");
    }
    assert_eq!(
        sim.requests_to("POST", "/oauth2/v1/token").len(),
        2,
        "factor + callback, each once"
    );
    sim.revoke_tokens();
    let (d, _) = login_via(
        &e,
        &sim,
        &cb,
        "alice",
        PhoneDoes::OpensLink,
        qr_and_prompt(),
    )
    .await;
    assert!(d.is_allow(), "a revoked token is replaced: {d:?}");
    assert_eq!(sim.requests_to("POST", "/oauth2/v1/token").len(), 4);
}

#[tokio::test]
async fn short_lived_tokens_are_refreshed_before_expiry() {
    let sim = TruIdSim::start().await.unwrap();
    sim.set_token_ttl(2); // refreshed after 1 s (half-life for short tokens)
    let cb = callback(&sim);
    let e = engine(&sim, "", &Capture::default());
    let (d, _) = login_via(
        &e,
        &sim,
        &cb,
        "alice",
        PhoneDoes::OpensLink,
        qr_and_prompt(),
    )
    .await;
    assert!(d.is_allow());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (d, _) = login_via(
        &e,
        &sim,
        &cb,
        "alice",
        PhoneDoes::OpensLink,
        qr_and_prompt(),
    )
    .await;
    assert!(d.is_allow(), "{d:?}");
    let creates = sim.requests_to("POST", "/phone_check/v0.2/checks");
    assert_ne!(
        creates[0].header("authorization"),
        creates[1].header("authorization"),
        "a new token for the second login"
    );
}

/// No number (not enrolled), unknown user, or a name that only looks like
/// an enrolled one (unknown): the same prompts as an enrolled user whose
/// phone does nothing, up to the check's timeout (3 s here: the login
/// timeout is 5 s), then deny; the provider is never contacted.
#[tokio::test]
async fn unenrolled_users_see_the_same_prompts_and_nothing_is_sent() {
    let sim = TruIdSim::start().await.unwrap();
    let audit = Capture::default();
    let e = engine(&sim, "login_timeout_secs = 5", &audit);
    let mut steps = qr_and_prompt();
    steps.push(Step::ErrorContaining(MSG_TIMEOUT.into()));
    for user in [
        "dave",
        "mallory",
        "Alice",
        "alice ",
        "alice\n",
        "ali.*",
        "user=alice:",
    ] {
        let (d, _) = login(&e, &sim, user, PhoneDoes::Nothing, steps.clone()).await;
        let why = if user == "dave" {
            "not enrolled"
        } else {
            "unknown user"
        };
        assert_eq!(deny_reason(&d), why, "{user:?}");
    }
    assert!(
        sim.requests().is_empty(),
        "the decoy never talks to the provider"
    );
    assert_eq!(audit.0.lock().unwrap().len(), 7);
}

/// A hand-edited number `mfa user` would have refused is found when the
/// users file is loaded, located by file, line and key (never repeating
/// the number), and no engine is built from it: nobody is contacted.
#[tokio::test]
async fn malformed_number_in_the_users_file_is_refused() {
    let sim = TruIdSim::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.toml");
    std::fs::write(
        &path,
        format!("[users.alice]\nphone = \"{PHONE}\"\n\n[users.carol]\nphone = \"07700 900222\"\n"),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let e = UsersDb::load(&path, false).unwrap_err();
    assert_eq!(
        (e.file.as_path(), e.line, e.key.as_deref()),
        (path.as_path(), Some(5), Some("users.carol.phone")),
        "{e}"
    );
    assert!(e.message.contains("digits"), "{e}");
    assert!(!e.to_string().contains("900222"), "{e}");

    let users_file = format!("users_file = \"{}\"", path.display());
    let built = Engine::new(config(&sim, &users_file, SIM_CLIENT_SECRET));
    assert_eq!(built.unwrap_err(), e);
    assert!(sim.requests().is_empty());
}

/// The person never presses Enter (`NeverEnter`): polling runs while the
/// prompt is open and the login completes as soon as the phone does.
#[tokio::test]
async fn polling_runs_while_the_prompt_is_open() {
    let sim = Arc::new(TruIdSim::start().await.unwrap());
    let e = engine(&sim, "", &Capture::default());
    let phone_sim = Arc::clone(&sim);
    let phone = tokio::spawn(async move {
        let cb = callback(&phone_sim);
        while phone_sim.last_check().is_none() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        phone_via_callback(&phone_sim, &cb, false).await
    });
    let mut conv = NeverEnter::default();
    let d = e.authenticate(&ctx("alice"), &mut conv).await;
    assert!(d.is_allow(), "{d:?}");
    assert_eq!(phone.await.unwrap().kind, PageKind::Complete);
    assert!(conv.infos[0].starts_with(SCAN_INFO));
    assert!(conv.infos[0].contains("Or open on the phone: http://127.0.0.1:"));
}

/// Misconfiguration surfaces when the engine is built, naming the key and
/// file, never the secret.
#[tokio::test]
async fn configuration_errors_surface_when_the_engine_is_built() {
    let src = "[policy]\nfactors = [\"phonecheck\"]\n";
    let e =
        Engine::with_users(Config::parse(Path::new("m.toml"), src).unwrap(), users()).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("phonecheck"), "{e}");
    assert!(e.to_string().contains("[phonecheck] section"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    let tru = dir.path().join("tru.json");
    let with_file = |path: &Path| {
        format!(
            "[policy]\nfactors = [\"phonecheck\"]\n[phonecheck]\napi_base_url = \"https://eu.api.tru.id\"\n\
             redirect_url = \"https://mfa.example.com/complete-check\"\ncredentials_file = \"{}\"\n",
            path.display()
        )
    };
    let build = |src: String| {
        Engine::with_users(Config::parse(Path::new("m.toml"), &src).unwrap(), users())
    };
    let e = build(with_file(&tru)).unwrap_err().to_string();
    assert!(e.contains("tru.json") && e.contains("cannot open"), "{e}");

    std::fs::write(
        &tru,
        r#"{"credentials":[{"client_id":"id","client_secret":"very-secret-value"}]}"#,
    )
    .unwrap();
    std::fs::set_permissions(&tru, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let e = build(with_file(&tru)).unwrap_err().to_string();
    assert!(
        e.contains("o-rwx") && !e.contains("very-secret-value"),
        "{e}"
    );

    std::fs::set_permissions(&tru, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    assert!(build(with_file(&tru)).is_ok());
}

/// Without a terminal (scp, sftp, `ssh host cmd`) no QR code is shown and
/// no check is created, for enrolled and unknown users alike.
#[tokio::test]
async fn no_terminal_denies_without_creating_a_check() {
    let sim = TruIdSim::start().await.unwrap();
    let e = engine(&sim, "unenrolled = \"allow\"", &Capture::default());
    let mut c = ctx("alice");
    c.interactive = false;
    let mut conv = ScriptedConversation::new([Step::ErrorContaining(MSG_NEEDS_TERMINAL.into())]);
    let d = e.authenticate(&c, &mut conv).await;
    conv.finish();
    assert!(deny_reason(&d).contains("no terminal"), "{d:?}");

    let e = engine(&sim, "", &Capture::default());
    for (user, why) in [("dave", "not enrolled"), ("mallory", "unknown user")] {
        let mut c = ctx(user);
        c.interactive = false;
        let mut conv =
            ScriptedConversation::new([Step::ErrorContaining(MSG_NEEDS_TERMINAL.into())]);
        let d = e.authenticate(&c, &mut conv).await;
        conv.finish();
        assert_eq!(deny_reason(&d), why);
    }
    assert!(sim.requests().is_empty(), "nothing was sent to tru.ID");
}
