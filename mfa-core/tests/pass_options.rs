//! Issue 12, item 4: pam_google_authenticator's pass options
//! (`forward_pass`, `use_first_pass`, `try_first_pass`) never send a byte
//! of the password line to a provider. Run through the PAM flow
//! (`mfa_core::pam::authenticate`) with the real push and webhook factors
//! against the Duo simulator and the webhook sink, the providers record
//! nothing at all: the trailing digits once answered Duo's menu as a
//! passcode.

// Integration tests: helpers outside #[test] fns may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use mfa_core::accounts::StaticAccounts;
use mfa_core::config::{UserEntry, UsersDb};
use mfa_core::conversation::{ConversationError, SecretAnswer};
use mfa_core::pam::PassMode;
use mfa_core::push::{DuoUsername, PushFactor};
use mfa_core::session::AuthTok;
use mfa_core::{AuthContext, Config, Conversation, Decision, Engine};
use mfa_sim::duo::DuoSim;
use mfa_sim::webhook_sink::{Service, WebhookSink};
use mfa_testkit::audit::Capture;
use zeroize::Zeroizing;

const PASSWORD: &str = "hunter2";
const DIGITS: &str = "123456";

/// A person who answers every secret prompt with password and code, and
/// presses Enter at every visible one (a menu, "press Enter").
#[derive(Default)]
struct Typist {
    asked: Vec<String>,
}

#[async_trait]
impl Conversation for Typist {
    async fn prompt_secret(&mut self, prompt: &str) -> Result<SecretAnswer, ConversationError> {
        self.asked.push(prompt.to_owned());
        Ok(Zeroizing::new(format!("{PASSWORD}{DIGITS}")))
    }
    async fn prompt_visible(&mut self, prompt: &str) -> Result<String, ConversationError> {
        self.asked.push(prompt.to_owned());
        Ok("1".into())
    }
    async fn info(&mut self, _text: &str) -> Result<(), ConversationError> {
        Ok(())
    }
    async fn error(&mut self, _text: &str) -> Result<(), ConversationError> {
        Ok(())
    }
}

/// `PAM_AUTHTOK` as a password module before us left it.
struct Tok(Option<String>);

impl AuthTok for Tok {
    fn get(&self) -> Option<SecretAnswer> {
        self.0.clone().map(Zeroizing::new)
    }
    fn set(&mut self, value: &str) -> Result<(), String> {
        self.0 = Some(value.to_owned());
        Ok(())
    }
}

fn ctx() -> AuthContext {
    let mut c = AuthContext::new("alice", "sshd");
    c.accounts = Arc::new(StaticAccounts::named(&["alice"]));
    c.rhost = Some("198.51.100.4".into());
    c
}

const MODES: [PassMode; 3] = [
    PassMode::ForwardPass,
    PassMode::UseFirstPass,
    PassMode::TryFirstPass,
];

/// One login per pass option; every one is refused, with its audit record.
async fn each_mode(engine: &Engine, audit: &Capture) {
    for (i, mode) in MODES.into_iter().enumerate() {
        let mut conv = Typist::default();
        let mut tok = Tok(Some(format!("{PASSWORD}{DIGITS}")));
        let d = mfa_core::pam::authenticate(engine, &ctx(), &mut conv, Some(&mut tok), mode).await;
        assert!(
            matches!(&d, Decision::Deny { reason } if reason.contains("TOTP only")),
            "{mode:?}: {d:?}"
        );
        assert!(conv.asked.is_empty(), "{mode:?}: asked {:?}", conv.asked);
        assert_eq!(audit.0.lock().unwrap().len(), i + 1, "one audit record");
    }
}

fn derived(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    text.contains(PASSWORD) || text.contains(DIGITS)
}

#[tokio::test]
async fn duo_hears_nothing_from_the_password_line() {
    let sim = DuoSim::start().await.unwrap();
    let src = format!(
        "[general]\nrequest_timeout_secs = 2\n[policy]\nfactors = [\"push\", \"totp\"]\n{}",
        sim.push_section()
    );
    let cfg = Config::parse(Path::new("mfa.toml"), &src).unwrap();
    let mut users = UsersDb::default();
    users.users.insert(
        "alice".into(),
        UserEntry {
            duo_username: Some(DuoUsername::parse("alice.duo").unwrap()),
            ..UserEntry::default()
        },
    );
    let push = PushFactor::new(cfg.push.as_ref().unwrap(), &cfg, Arc::new(users.clone())).unwrap();
    let mut engine = Engine::with_factors(cfg, users, vec![Arc::new(push)]).unwrap();
    let audit = Capture::default();
    engine.add_audit_sink(Box::new(audit.clone()));

    each_mode(&engine, &audit).await;
    let st = sim.state();
    for r in &st.requests {
        assert!(
            !derived(r.path_and_query.as_bytes()) && !derived(&r.body),
            "sent to Duo: {} {}",
            r.path_and_query,
            String::from_utf8_lossy(&r.body)
        );
    }
    assert!(st.requests.is_empty(), "Duo was not contacted at all");
}

#[tokio::test]
async fn the_team_channel_gets_nothing_from_the_password_line() {
    let sink = WebhookSink::start(Service::Slack).await.unwrap();
    let src = format!(
        "[general]\nrequest_timeout_secs = 2\n[policy]\nfactors = [\"webhook\"]\n\
         [webhook]\nurl = \"{}\"\npreset = \"slack\"\n",
        sink.url()
    );
    let cfg = Config::parse(Path::new("mfa.toml"), &src).unwrap();
    let mut engine = Engine::with_users(cfg, UsersDb::default()).unwrap();
    let audit = Capture::default();
    engine.add_audit_sink(Box::new(audit.clone()));

    each_mode(&engine, &audit).await;
    for m in sink.received() {
        assert!(!derived(&m.request.body), "posted: {:?}", m.json);
    }
    assert!(sink.received().is_empty(), "nothing was posted");
}
