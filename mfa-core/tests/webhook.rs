//! The webhook factor end to end: the real engine, built from a real config,
//! posting to the webhook sink simulator, with a scripted conversation that
//! asserts every prompt and message. Randomness and time are injected, so
//! each test knows the code and session tag in advance.

// Integration tests: helpers outside #[test] fns may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use mfa_core::accounts::{effective_uid, Account, StaticAccounts};
use mfa_core::config::UsersDb;
use mfa_core::context::RandomError;
use mfa_core::conversation::scripted::{ScriptedConversation, Step};
use mfa_core::conversation::SecretAnswer;
use mfa_core::webhook::code::{session_tag, Code};
use mfa_core::{
    AuthContext, Clock, Config, Conversation, ConversationError, Decision, Engine, FactorKind,
    OsRandom, RandomSource,
};
use mfa_sim::webhook_sink::{refusing_url, Service, WebhookSink, SECRET_PATH};
use mfa_sim::Fault;
use mfa_testkit::audit::Capture;

const T0: u64 = 1_800_000_000;
const RHOST: &str = "198.51.100.4";

/// SplitMix64: a deterministic stand-in for the OS CSPRNG.
struct Seeded(Mutex<u64>);

impl Seeded {
    fn new(seed: u64) -> Self {
        Self(Mutex::new(seed))
    }
    fn next(&self) -> u64 {
        let mut s = self.0.lock().unwrap();
        *s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl RandomSource for Seeded {
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError> {
        for chunk in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        Ok(())
    }
}

/// The code and session tag the factor will draw from `Seeded::new(seed)`
/// (code first, then tag).
fn expected(seed: u64, digits: u32) -> (String, String) {
    let r = Seeded::new(seed);
    let code = Code::generate(&r, digits).unwrap().expose().to_owned();
    (code, session_tag(&r).unwrap())
}

/// A clock the test moves.
#[derive(Default)]
struct Manual(AtomicU64);
impl Clock for Manual {
    fn now_unix(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

struct Setup {
    engine: Engine,
    audit: Capture,
    clock: Arc<Manual>,
}

fn setup(url: &str, general: &str, webhook: &str) -> Setup {
    let src = format!(
        "[general]\nrequest_timeout_secs = 1\n{general}\n[policy]\nfactors = [\"webhook\"]\n\
         [webhook]\nurl = \"{url}\"\n{webhook}\n"
    );
    let cfg = Config::parse(Path::new("mfa.toml"), &src).unwrap();
    let audit = Capture::default();
    let mut engine = Engine::with_users(cfg, UsersDb::default()).unwrap();
    engine.add_audit_sink(Box::new(audit.clone()));
    Setup {
        engine,
        audit,
        clock: Arc::new(Manual(AtomicU64::new(T0))),
    }
}

fn account(name: &str) -> Account {
    Account {
        name: name.into(),
        uid: effective_uid(),
        gid: effective_uid(),
        home: "/nonexistent".into(),
        shell: "/bin/sh".into(),
        groups: vec![],
    }
}

fn ctx(s: &Setup, user: &str, seed: u64) -> AuthContext {
    let mut c = AuthContext::new(user, "sshd");
    c.rng = Arc::new(Seeded::new(seed));
    c.clock = s.clock.clone();
    c.accounts = Arc::new(StaticAccounts(vec![account(user)]));
    c.rhost = Some(RHOST.into());
    c.hostname = "bastion".into();
    c
}

fn prompt(tag: &str) -> String {
    format!("Code for session {tag}: ")
}

fn sent(tag: &str) -> Step {
    Step::InfoContaining(format!("posted to the team channel (session {tag})"))
}

/// The scripted conversation, moving the clock forward before each answer
/// (how long the person took to type).
struct Typing {
    script: ScriptedConversation,
    clock: Arc<Manual>,
    delay: u64,
}

#[async_trait]
impl Conversation for Typing {
    async fn prompt_secret(&mut self, p: &str) -> Result<SecretAnswer, ConversationError> {
        self.clock.0.fetch_add(self.delay, Ordering::SeqCst);
        self.script.prompt_secret(p).await
    }
    async fn prompt_visible(&mut self, p: &str) -> Result<String, ConversationError> {
        self.clock.0.fetch_add(self.delay, Ordering::SeqCst);
        self.script.prompt_visible(p).await
    }
    async fn info(&mut self, t: &str) -> Result<(), ConversationError> {
        self.script.info(t).await
    }
    async fn error(&mut self, t: &str) -> Result<(), ConversationError> {
        self.script.error(t).await
    }
}

async fn run_typing(s: &Setup, c: &AuthContext, steps: Vec<Step>, delay: u64) -> Decision {
    let mut conv = Typing {
        script: ScriptedConversation::new(steps),
        clock: s.clock.clone(),
        delay,
    };
    let d = s.engine.authenticate(c, &mut conv).await;
    conv.script.finish();
    d
}

async fn run(s: &Setup, c: &AuthContext, steps: Vec<Step>) -> Decision {
    run_typing(s, c, steps, 5).await
}

fn allowed() -> Decision {
    Decision::Allow {
        factor: Some(FactorKind::Webhook),
        fail_open: false,
    }
}

fn denied_because(d: &Decision, what: &str) -> bool {
    matches!(d, Decision::Deny { reason } if reason.contains(what))
}

#[tokio::test]
async fn right_code_allows_and_the_audit_names_the_session_not_the_code() {
    let sink = WebhookSink::start(Service::Slack).await.unwrap();
    let s = setup(&sink.url(), "", "preset = \"slack\"");
    let (code, tag) = expected(1, 8);
    let d = run(
        &s,
        &ctx(&s, "alice", 1),
        vec![
            sent(&tag),
            ScriptedConversation::secret(&prompt(&tag), &code),
        ],
    )
    .await;
    assert_eq!(d, allowed());

    let got = sink.received();
    assert_eq!(got.len(), 1);
    let req = &got[0].request;
    assert_eq!(req.method, "POST");
    assert_eq!(req.header("content-type"), Some("application/json"));
    let text = sink.last_text().unwrap();
    for part in [code.as_str(), &tag, "alice", "bastion", RHOST, "sshd"] {
        assert!(text.contains(part), "{part} missing from {text}");
    }
    assert!(
        text.contains("2027-01-15T08:00:"),
        "time of sending: {text}"
    );

    let rec = s.audit.last();
    assert_eq!(rec.decision, "allow");
    assert_eq!(rec.session.as_deref(), Some(tag.as_str()));
    assert_eq!(
        (
            rec.user.as_str(),
            rec.rhost.as_deref(),
            rec.service.as_str()
        ),
        ("alice", Some(RHOST), "sshd")
    );
    let line = rec.to_line();
    assert!(line.contains(&format!("session=\"{tag}\"")), "{line}");
    let all = format!("{rec:?} {line} {}", serde_json::to_string(&rec).unwrap());
    assert!(!all.contains(&code), "the code never reaches the audit");
    assert!(!all.contains(SECRET_PATH), "nor the webhook URL");
}

#[tokio::test]
async fn each_preset_posts_the_documented_shape() {
    for (preset, service) in [
        ("slack", Service::Slack),
        ("teams", Service::Teams),
        ("discord", Service::Discord),
        ("generic", Service::Generic),
    ] {
        // The sink refuses (400) what the real service would refuse, so an
        // allow here means the shape was accepted.
        let sink = WebhookSink::start(service).await.unwrap();
        let s = setup(&sink.url(), "", &format!("preset = \"{preset}\""));
        let (code, tag) = expected(2, 8);
        let d = run(
            &s,
            &ctx(&s, "alice", 2),
            vec![
                sent(&tag),
                ScriptedConversation::secret(&prompt(&tag), &code),
            ],
        )
        .await;
        assert_eq!(d, allowed(), "{preset}");
        let j = sink.last().unwrap().json.unwrap();
        let keys: Vec<&str> = j.as_object().unwrap().keys().map(String::as_str).collect();
        match service {
            Service::Slack => assert_eq!(keys, ["text"]),
            Service::Discord => {
                assert_eq!(keys, ["allowed_mentions", "content"]);
                assert_eq!(j["allowed_mentions"]["parse"], serde_json::json!([]));
            }
            Service::Teams => {
                assert_eq!(keys, ["attachments", "type"]);
                assert_eq!(j["attachments"][0]["content"]["version"], "1.4");
            }
            Service::Generic => {
                assert_eq!(j["code"], code.as_str());
                assert_eq!(j["session"], tag.as_str());
                assert_eq!(j["user"], "alice");
                assert_eq!(j["rhost"], RHOST);
                assert_eq!(j["host"], "bastion");
                assert_eq!(j["service"], "sshd");
                assert_eq!(j["command"], "");
                assert!(j["time"].as_str().unwrap().ends_with('Z'));
            }
        }
        assert_eq!(
            sink.last_code(8).as_deref(),
            Some(code.as_str()),
            "{preset}"
        );
    }
}

#[tokio::test]
async fn hostile_values_cannot_break_the_json_or_leak_the_code() {
    let sink = WebhookSink::start(Service::Generic).await.unwrap();
    let s = setup(&sink.url(), "", "");
    let user = "eve\", \"code\": \"00000000\\\n{{code}}";
    let command = format!(
        "{} {{{{code}}}} \"}}]}} \u{1b}[2J\r\n\t\u{0}",
        String::from_utf8_lossy(b"cat /tmp/\xff\xfe\xc3")
    );
    let rhost = "{{session}}\"\\";
    let (code, tag) = expected(3, 8);
    let mut c = ctx(&s, user, 3);
    c.command = Some(command.clone());
    c.rhost = Some(rhost.into());
    let d = run(
        &s,
        &c,
        vec![
            sent(&tag),
            ScriptedConversation::secret(&prompt(&tag), &code),
        ],
    )
    .await;
    assert_eq!(d, allowed());
    let m = sink.last().unwrap();
    assert!(m.request.body.is_ascii(), "all non-ASCII is \\u-escaped");
    let j = m.json.expect("still valid JSON");
    assert_eq!(j.as_object().unwrap().len(), 9, "no field added: {j}");
    assert_eq!(j["user"], user);
    assert_eq!(j["command"], command.as_str());
    assert!(
        command.contains('\u{fffd}'),
        "lossy conversion of non-UTF-8"
    );
    assert_eq!(j["rhost"], rhost);
    assert_eq!(j["code"], code.as_str(), "the forged code field lost");
    // The code is only where the template put it.
    for (k, v) in j.as_object().unwrap() {
        let has = v.as_str().unwrap().contains(&code);
        assert_eq!(has, k == "code" || k == "text", "{k}: {v}");
    }
}

#[tokio::test]
async fn wrong_codes_use_up_the_attempts() {
    let sink = WebhookSink::start(Service::Slack).await.unwrap();
    let s = setup(&sink.url(), "", "preset = \"slack\"");
    let (code, tag) = expected(4, 8);
    let p = prompt(&tag);
    // Wrong, then right: allowed on the second attempt.
    let d = run(
        &s,
        &ctx(&s, "alice", 4),
        vec![
            sent(&tag),
            ScriptedConversation::secret(&p, "11111111"),
            Step::ErrorContaining("2 attempt(s) left".into()),
            ScriptedConversation::secret(&p, &code),
        ],
    )
    .await;
    assert_eq!(d, allowed());
    // Three wrong: denied, even though the right code follows.
    let d = run(
        &s,
        &ctx(&s, "alice", 4),
        vec![
            sent(&tag),
            ScriptedConversation::secret(&p, "11111111"),
            Step::ErrorContaining("2 attempt(s) left".into()),
            ScriptedConversation::secret(&p, "1234"),
            Step::ErrorContaining("1 attempt(s) left".into()),
            ScriptedConversation::secret(&p, ""),
            Step::ErrorContaining("Too many wrong codes".into()),
        ],
    )
    .await;
    assert!(denied_because(&d, "attempts exhausted"), "{d:?}");
    assert_eq!(s.audit.last().session.as_deref(), Some(tag.as_str()));
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let sink = WebhookSink::start(Service::Slack).await.unwrap();
    let s = setup(&sink.url(), "", "preset = \"slack\"\nexpiry_secs = 60");
    let (code, tag) = expected(5, 8);
    // 59 s to type it: fine.
    let d = run_typing(
        &s,
        &ctx(&s, "alice", 5),
        vec![
            sent(&tag),
            ScriptedConversation::secret(&prompt(&tag), &code),
        ],
        59,
    )
    .await;
    assert_eq!(d, allowed());
    // 60 s: expired, and no further attempt is offered.
    let d = run_typing(
        &s,
        &ctx(&s, "alice", 5),
        vec![
            sent(&tag),
            ScriptedConversation::secret(&prompt(&tag), &code),
            Step::ErrorContaining("expired".into()),
        ],
        60,
    )
    .await;
    assert!(denied_because(&d, "code expired"), "{d:?}");
}

#[tokio::test]
async fn a_used_code_does_not_open_the_next_login() {
    let sink = WebhookSink::start(Service::Slack).await.unwrap();
    let s = setup(&sink.url(), "", "preset = \"slack\"\nattempts = 1");
    let (code, tag) = expected(6, 8);
    let d = run(
        &s,
        &ctx(&s, "alice", 6),
        vec![
            sent(&tag),
            ScriptedConversation::secret(&prompt(&tag), &code),
        ],
    )
    .await;
    assert_eq!(d, allowed());
    // The next login gets a fresh code; replaying the old one fails.
    let (code2, tag2) = expected(7, 8);
    assert_ne!(code, code2);
    let d = run(
        &s,
        &ctx(&s, "alice", 7),
        vec![
            sent(&tag2),
            ScriptedConversation::secret(&prompt(&tag2), &code),
            Step::ErrorContaining("Too many wrong codes".into()),
        ],
    )
    .await;
    assert!(denied_because(&d, "attempts exhausted"), "{d:?}");
    assert_eq!(sink.received().len(), 2);
}

/// A delivery failure: the person is told at once, never prompted, and the
/// engine treats it as an unavailable provider.
async fn delivery_fails(url: &str, fault: Option<Fault>, why: &str) {
    let sink = WebhookSink::start(Service::Slack).await.unwrap();
    sink.set_fault(fault.clone());
    let url = if url.is_empty() {
        sink.url()
    } else {
        url.to_owned()
    };
    let s = setup(&url, "", "preset = \"slack\"");
    let (_, tag) = expected(8, 8);
    let d = run(
        &s,
        &ctx(&s, "alice", 8),
        vec![
            Step::ErrorContaining(format!(
                "could not be sent to the team channel (session {tag})"
            )),
            Step::ErrorContaining("cannot be reached".into()),
        ],
    )
    .await;
    assert!(
        denied_because(&d, "provider unavailable"),
        "{fault:?}: {d:?}"
    );
    assert!(denied_because(&d, why), "{fault:?}: {d:?}");
    assert!(denied_because(&d, "failmode=secure"), "{d:?}");
    let rec = s.audit.last();
    assert_eq!(rec.session.as_deref(), Some(tag.as_str()));
    assert!(
        !format!("{d:?} {rec:?}").contains(SECRET_PATH),
        "URL leaked"
    );

    // failmode = safe lets exactly this case through, and says so.
    let s = setup(&url, "failmode = \"safe\"", "preset = \"slack\"");
    let d = run(
        &s,
        &ctx(&s, "alice", 8),
        vec![Step::ErrorContaining("could not be sent".into())],
    )
    .await;
    assert_eq!(
        d,
        Decision::Allow {
            factor: None,
            fail_open: true
        }
    );
    assert_eq!(s.audit.last().decision, "allow-failmode");
}

#[tokio::test]
async fn sink_answering_500_is_unavailable() {
    delivery_fails("", Some(Fault::Status(500)), "HTTP 500").await;
}

/// A 4xx, 429 included, is the service refusing the message: denied
/// whatever the failmode, since a person holding the first factor can
/// provoke one (parallel logins meet the channel's rate limit).
async fn delivery_refused(fault: Fault, why: &str) {
    for failmode in ["", "failmode = \"safe\""] {
        let sink = WebhookSink::start(Service::Slack).await.unwrap();
        sink.set_fault(Some(fault.clone()));
        let s = setup(&sink.url(), failmode, "preset = \"slack\"");
        let (_, tag) = expected(8, 8);
        let d = run(
            &s,
            &ctx(&s, "alice", 8),
            vec![Step::ErrorContaining(format!(
                "could not be sent to the team channel (session {tag})"
            ))],
        )
        .await;
        assert!(denied_because(&d, "delivery refused"), "{failmode}: {d:?}");
        assert!(denied_because(&d, why), "{failmode}: {d:?}");
        assert_eq!(s.audit.last().decision, "deny", "{failmode}");
    }
}

#[tokio::test]
async fn sink_answering_404_denies_in_both_failmodes() {
    delivery_refused(Fault::Status(404), "HTTP 404").await;
}

#[tokio::test]
async fn sink_answering_429_denies_in_both_failmodes() {
    let f = Fault::RateLimited {
        retry_after: "30".into(),
    };
    delivery_refused(f, "HTTP 429").await;
}

#[tokio::test]
async fn sink_slower_than_the_timeout_is_unavailable() {
    let started = std::time::Instant::now();
    delivery_fails(
        "",
        Some(Fault::Slow(Duration::from_secs(5))),
        "did not answer",
    )
    .await;
    // Two logins with a 1 s timeout each: nobody waited for the sink.
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn refused_connection_is_unavailable() {
    delivery_fails(&refusing_url().unwrap(), None, "cannot connect").await;
}

/// Services answer `ok` (Slack), nothing (Discord 204) or JSON: the body of
/// a 2xx answer is never parsed, so garbage there still means delivered.
#[tokio::test]
async fn a_2xx_answer_with_a_garbage_body_counts_as_delivered() {
    let sink = WebhookSink::start(Service::Slack).await.unwrap();
    sink.set_fault(Some(Fault::Malformed));
    let s = setup(&sink.url(), "", "preset = \"slack\"");
    let (code, tag) = expected(13, 8);
    let d = run(
        &s,
        &ctx(&s, "alice", 13),
        vec![
            sent(&tag),
            ScriptedConversation::secret(&prompt(&tag), &code),
        ],
    )
    .await;
    assert_eq!(d, allowed());
}

#[tokio::test]
async fn unknown_users_see_the_same_prompts_and_nothing_is_posted() {
    let sink = WebhookSink::start(Service::Slack).await.unwrap();
    // An unknown name is never "not enrolled": unenrolled = allow does not
    // step aside for it (issue 12, item 2).
    for general in ["", "unenrolled = \"allow\""] {
        let s = setup(&sink.url(), general, "preset = \"slack\"\nattempts = 2");
        let mut c = ctx(&s, "alice", 9);
        c.user = "mallory".into();
        // The decoy draws only a tag.
        let tag = session_tag(&Seeded::new(9)).unwrap();
        let d = run(
            &s,
            &c,
            vec![
                sent(&tag),
                ScriptedConversation::secret(&prompt(&tag), "12345678"),
                Step::ErrorContaining("1 attempt(s) left".into()),
                ScriptedConversation::secret(&prompt(&tag), "12345678"),
                Step::ErrorContaining("Too many wrong codes".into()),
            ],
        )
        .await;
        assert!(denied_because(&d, "unknown user"), "{general}: {d:?}");
    }
    assert!(
        sink.received().is_empty(),
        "nothing posted for unknown names"
    );
}

/// `ssh host cmd`, scp, sftp: nobody can type a code that does not exist
/// yet. Nothing is posted, and it is a deny (not "not enrolled", which
/// `unenrolled = allow` would wave through).
#[tokio::test]
async fn without_a_terminal_nothing_is_posted_and_the_login_is_denied() {
    let sink = WebhookSink::start(Service::Slack).await.unwrap();
    for unenrolled in ["deny", "allow"] {
        let s = setup(
            &sink.url(),
            &format!("unenrolled = \"{unenrolled}\""),
            "preset = \"slack\"",
        );
        let mut c = ctx(&s, "alice", 14);
        c.interactive = false;
        let d = run(
            &s,
            &c,
            vec![Step::ErrorContaining("needs an interactive login".into())],
        )
        .await;
        assert!(denied_because(&d, "no terminal"), "{unenrolled}: {d:?}");
        // An unknown user without a terminal: the same message (the
        // decoy) and a deny, whatever `unenrolled` says.
        c.user = "mallory".into();
        let steps = vec![Step::ErrorContaining("needs an interactive login".into())];
        let d = run(&s, &c, steps).await;
        assert!(denied_because(&d, "unknown user"), "{d:?}");
    }
    assert!(sink.received().is_empty());
}

#[tokio::test]
async fn echo_code_uses_a_visible_prompt() {
    let sink = WebhookSink::start(Service::Slack).await.unwrap();
    let s = setup(
        &sink.url(),
        "",
        "preset = \"slack\"\necho_code = true\ncode_digits = 6",
    );
    let (code, tag) = expected(10, 6);
    assert_eq!(code.len(), 6);
    let d = run(
        &s,
        &ctx(&s, "alice", 10),
        vec![sent(&tag), Step::Visible(prompt(&tag), code.clone())],
    )
    .await;
    assert_eq!(d, allowed());
}

#[tokio::test]
async fn custom_template_is_what_gets_posted() {
    let sink = WebhookSink::start(Service::Generic).await.unwrap();
    let s = setup(
        &sink.url(),
        "",
        "template = '{\"msg\": \"{{user}} needs {{code}}\", \"tag\": \"{{session}}\"}'",
    );
    let (code, tag) = expected(11, 8);
    let d = run(
        &s,
        &ctx(&s, "bob", 11),
        vec![
            sent(&tag),
            ScriptedConversation::secret(&prompt(&tag), &code),
        ],
    )
    .await;
    assert_eq!(d, allowed());
    let j = sink.last().unwrap().json.unwrap();
    assert_eq!(
        j,
        serde_json::json!({"msg": format!("bob needs {code}"), "tag": tag})
    );
}

/// Real HTTPS: the sink behind a rustls front with a certificate from the
/// front's own CA, trusted only through `ca_file`.
#[tokio::test]
async fn https_with_ca_file_delivers_and_an_untrusted_certificate_fails_closed() {
    use mfa_sim::tls::{SimCert, TlsFront};
    let sink = WebhookSink::start(Service::Slack).await.unwrap();
    let front = TlsFront::start(sink.addr(), SimCert::Trusted).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, front.ca_pem()).unwrap();
    let url = format!("https://127.0.0.1:{}{SECRET_PATH}", front.addr().port());
    let webhook = format!("preset = \"slack\"\nca_file = \"{}\"", ca.display());
    let s = setup(&url, "", &webhook);
    let (code, tag) = expected(12, 8);
    let d = run(
        &s,
        &ctx(&s, "alice", 12),
        vec![
            sent(&tag),
            ScriptedConversation::secret(&prompt(&tag), &code),
        ],
    )
    .await;
    assert_eq!(d, allowed());
    assert_eq!(sink.received().len(), 1);

    // Without ca_file the built-in roots do not know the test CA; a
    // self-signed certificate is refused even with ca_file naming the
    // front's own CA.
    for (cert, webhook) in [
        (SimCert::Trusted, "preset = \"slack\"".to_owned()),
        (SimCert::SelfSigned, webhook.clone()),
    ] {
        let front = TlsFront::start(sink.addr(), cert).unwrap();
        std::fs::write(&ca, front.ca_pem()).unwrap();
        let url = format!("https://127.0.0.1:{}{SECRET_PATH}", front.addr().port());
        let s = setup(&url, "", &webhook);
        let d = run(
            &s,
            &ctx(&s, "alice", 12),
            vec![
                Step::ErrorContaining("could not be sent".into()),
                Step::ErrorContaining("cannot be reached".into()),
            ],
        )
        .await;
        assert!(
            denied_because(&d, "provider unavailable"),
            "{cert:?}: {d:?}"
        );
        assert!(!format!("{d:?}").contains(SECRET_PATH));
    }
    assert_eq!(
        sink.received().len(),
        1,
        "nothing got through untrusted TLS"
    );
}

#[test]
fn a_missing_ca_file_is_a_config_error_when_the_engine_is_built() {
    let src = "[policy]\nfactors = [\"webhook\"]\n[webhook]\nurl = \"https://hooks.example/x\"\n\
               ca_file = \"/nonexistent/ca.pem\"\n";
    let cfg = Config::parse(Path::new("mfa.toml"), src).unwrap();
    let e = Engine::with_users(cfg, UsersDb::default()).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("webhook.ca_file"), "{e}");
    assert!(e.message.contains("/nonexistent/ca.pem"), "{e}");
    assert!(!e.to_string().contains("hooks.example/x"), "{e}");
}

#[test]
fn presets_render_the_recorded_fixtures() {
    use mfa_core::config::WebhookPreset;
    use mfa_core::webhook::template::{Template, Values};
    let v = Values {
        code: "04218873",
        session: "KX7QD",
        user: "alice",
        host: "bastion",
        rhost: "203.0.113.9",
        service: "sshd",
        command: "",
        time: "2026-11-24T07:45:00Z",
    };
    for (name, preset) in [
        ("slack", WebhookPreset::Slack),
        ("teams", WebhookPreset::Teams),
        ("discord", WebhookPreset::Discord),
        ("generic", WebhookPreset::Generic),
    ] {
        let want: serde_json::Value = serde_json::from_str(&mfa_testkit::fixtures::read(&format!(
            "webhook/{name}.json"
        )))
        .unwrap();
        let t = Template::for_config(preset, None).unwrap();
        let got: serde_json::Value = serde_json::from_str(&t.render(&v)).unwrap();
        assert_eq!(got, want, "{name}");
    }
}

// ---- uniformity of the codes ----------------------------------------------

/// Pearson's chi-square statistic of `counts` against a uniform expectation.
fn chi_square(counts: &[u64]) -> f64 {
    let n: u64 = counts.iter().sum();
    let e = n as f64 / counts.len() as f64;
    counts.iter().map(|&c| (c as f64 - e).powi(2) / e).sum()
}

/// Thresholds for the WORST of up to 11 chi-square(9) statistics (10 digit
/// positions + all digits), Bonferroni-corrected: each is the chi-square(9)
/// quantile at upper tail alpha/11, so a uniform source exceeds it with
/// probability below alpha overall. alpha = 1e-3 (seeded: a fixed outcome)
/// and 1e-6 (OS source: a test that must not flake).
const CHI2_WORST_P001: f64 = 33.956;
const CHI2_WORST_P1E6: f64 = 50.392;

/// The largest statistic over each digit position and over all digits
/// together (each a 10-cell test with 9 degrees of freedom).
fn worst_digit_statistic(codes: impl Iterator<Item = String>, digits: usize) -> f64 {
    let mut per_pos = vec![[0u64; 10]; digits];
    let mut all = [0u64; 10];
    for c in codes {
        assert_eq!(c.len(), digits, "zero-padded");
        for (pos, b) in c.bytes().enumerate() {
            let d = usize::from(b - b'0');
            per_pos[pos][d] += 1;
            all[d] += 1;
        }
    }
    per_pos
        .iter()
        .map(|c| chi_square(c))
        .chain([chi_square(&all)])
        .fold(0.0, f64::max)
}

/// 200 000 codes: enough that the 22:21 skew of `rand31 % 10^8` scores
/// about 100 (threshold 50.4), while the worst of a uniform source's 9 to
/// 11 statistics is typically 15 to 25 (each has mean 9).
const SAMPLES: usize = 200_000;

fn codes(rng: &dyn RandomSource, digits: u32) -> impl Iterator<Item = String> + '_ {
    (0..SAMPLES).map(move |_| Code::generate(rng, digits).unwrap().expose().to_owned())
}

#[test]
fn code_digits_are_uniform_with_a_seeded_source() {
    for digits in [6u32, 8, 10] {
        // One seed per length: the same draws would give the same low digits.
        let rng = Seeded::new(0x5eed + u64::from(digits));
        let stat = worst_digit_statistic(codes(&rng, digits), digits as usize);
        eprintln!("seeded, {digits} digits: worst chi2 = {stat:.2}");
        assert!(stat < CHI2_WORST_P001, "{digits} digits: chi2 = {stat}");
    }
}

#[test]
fn code_digits_are_uniform_with_the_os_source() {
    // Not reproducible, so a loose threshold: a uniform source fails it by
    // chance less than once in a million runs.
    let stat = worst_digit_statistic(codes(&OsRandom, 8), 8);
    eprintln!("OsRandom, 8 digits: worst chi2 = {stat:.2}");
    assert!(stat < CHI2_WORST_P1E6, "chi2 = {stat}");
}

#[test]
fn the_uniformity_test_catches_modulo_bias() {
    let rng = Seeded::new(0x5eed);
    // A C-style rand() (31 bits) reduced with `% 10^8`: low codes are 22/21
    // as likely as high ones, so the leading digit leans to 0..4.
    let rand31_mod = (0..SAMPLES).map(|_| {
        let x = rng.next() & 0x7fff_ffff;
        format!("{:08}", x % 100_000_000)
    });
    let stat = worst_digit_statistic(rand31_mod, 8);
    eprintln!("rand31 % 10^8: worst chi2 = {stat:.2}");
    assert!(
        stat > CHI2_WORST_P1E6,
        "rand31 % 10^8 not caught: chi2 = {stat}"
    );

    // Each digit from one random byte `% 10`: digits 0..5 are 26/256 likely,
    // 6..9 only 25/256.
    let byte_mod = (0..SAMPLES).map(|_| {
        (0..8)
            .map(|_| char::from(b'0' + (rng.next() as u8) % 10))
            .collect::<String>()
    });
    let stat = worst_digit_statistic(byte_mod, 8);
    eprintln!("byte % 10: worst chi2 = {stat:.2}");
    assert!(
        stat > CHI2_WORST_P1E6,
        "byte % 10 not caught: chi2 = {stat}"
    );
}
