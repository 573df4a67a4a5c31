//! Issue 12, item 8: a name that is unknown (or not enrolled) goes through
//! what an enrolled user who cannot complete the factor goes through: the
//! same messages and prompts, in the same order, with the same waits, and
//! no provider hears of it. Each test runs an enrolled user against the
//! provider's simulator (the phone does nothing) and a stranger through the
//! decoy with the same answers, and compares the two transcripts (user
//! names, masked numbers, session tags and QR codes normalised) and the
//! waits.

// Integration tests: helpers outside #[test] fns may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use mfa_core::accounts::StaticAccounts;
use mfa_core::config::{UserEntry, UsersDb};
use mfa_core::context::Clock;
use mfa_core::conversation::{ConversationError, SecretAnswer};
use mfa_core::phonecheck::factor::{ENTER_PROMPT, MSG_TIMEOUT, SCAN_INFO};
use mfa_core::phonecheck::PhoneNumber;
use mfa_core::provider::decoy::{FIRST_REQUEST, ROUND_TRIP};
use mfa_core::push::{DecoyTiming, PushFactor, Timing, ENTER_PUSH, PUSHED, TIMED_OUT};
use mfa_core::{AuthContext, Config, Conversation, Decision, Engine, FactorKind};
use mfa_sim::duo::{Answer, DuoSim};
use mfa_sim::truid::TruIdSim;
use mfa_sim::webhook_sink::{Service, WebhookSink};
use zeroize::Zeroizing;

/// Everything shown, with when; answers given from a list.
struct Person {
    answers: VecDeque<String>,
    events: Vec<(Instant, String)>,
    /// Moves this clock on by the given seconds at every prompt.
    clock: Option<(Arc<Manual>, u64)>,
}

impl Person {
    fn answering(answers: &[&str]) -> Self {
        Self {
            answers: answers.iter().map(|a| (*a).to_owned()).collect(),
            events: Vec::new(),
            clock: None,
        }
    }

    fn ask(&mut self, kind: &str, prompt: &str) -> String {
        self.events
            .push((Instant::now(), format!("{kind} {prompt}")));
        if let Some((clock, secs)) = &self.clock {
            clock.0.fetch_add(*secs, Ordering::SeqCst);
        }
        self.answers.pop_front().unwrap_or_default()
    }

    /// The transcript with what differs by design made uniform.
    fn transcript(&self, user: &str) -> Vec<String> {
        self.events
            .iter()
            .map(|(_, e)| normalise(e, user))
            .collect()
    }

    /// When the first event containing `text` happened.
    fn at(&self, text: &str) -> Instant {
        self.events
            .iter()
            .find(|(_, e)| e.contains(text))
            .unwrap_or_else(|| panic!("no {text:?} in {:?}", self.events))
            .0
    }
}

fn normalise(event: &str, user: &str) -> String {
    if event.contains(SCAN_INFO) {
        return "info QR".into();
    }
    let mut s = event.replace(user, "USER");
    for marker in ["XXX-XXX-", "session "] {
        let mut out = String::new();
        let mut rest = s.as_str();
        while let Some(i) = rest.find(marker) {
            let end = i + marker.len();
            out.push_str(&rest[..end]);
            let tail = &rest[end..];
            let n = tail
                .char_indices()
                .take_while(|(_, c)| c.is_ascii_alphanumeric())
                .count();
            out.push('#');
            rest = &tail[n..];
        }
        out.push_str(rest);
        s = out;
    }
    s
}

#[async_trait]
impl Conversation for Person {
    async fn prompt_secret(&mut self, prompt: &str) -> Result<SecretAnswer, ConversationError> {
        Ok(Zeroizing::new(self.ask("secret", prompt)))
    }
    async fn prompt_visible(&mut self, prompt: &str) -> Result<String, ConversationError> {
        Ok(self.ask("visible", prompt))
    }
    async fn info(&mut self, text: &str) -> Result<(), ConversationError> {
        self.events.push((Instant::now(), format!("info {text}")));
        Ok(())
    }
    async fn error(&mut self, text: &str) -> Result<(), ConversationError> {
        self.events.push((Instant::now(), format!("error {text}")));
        Ok(())
    }
}

struct Manual(AtomicU64);

impl Clock for Manual {
    fn now_unix(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

fn ctx(user: &str) -> AuthContext {
    let mut c = AuthContext::new(user, "sshd");
    c.accounts = Arc::new(StaticAccounts::named(&["alice", "carol", "dave"]));
    c.rhost = Some("198.51.100.4".into());
    c
}

async fn login(e: &Engine, c: &AuthContext, person: &mut Person) -> Decision {
    let d = e.authenticate(c, person).await;
    assert!(matches!(d, Decision::Deny { .. }), "{d:?}");
    d
}

fn close(a: Duration, b: Duration, tolerance: Duration) -> bool {
    a.abs_diff(b) <= tolerance
}

/// Push: the menu, "Pushed…" and its Enter prompt, then Duo's timeout;
/// an SMS batch; a wrong passcode. alice is enrolled (the phone does not
/// answer), carol has an account but no push enrolment, mallory has no
/// account.
#[tokio::test]
async fn push_strangers_go_through_what_an_enrolled_user_without_the_phone_does() {
    const WAIT: Duration = Duration::from_millis(400);
    let sim = DuoSim::start().await.unwrap();
    {
        let mut st = sim.state();
        st.push = Answer::Timeout;
        st.answer_after = Some(WAIT);
    }
    let cfg = Config::parse(
        Path::new("mfa.toml"),
        &format!(
            "[general]\nrequest_timeout_secs = 2\n[policy]\nfactors = [\"push\"]\n{}prompts = 3\n",
            sim.push_section()
        ),
    )
    .unwrap();
    let mut users = UsersDb::default();
    users.users.insert(
        "alice".into(),
        UserEntry {
            factors: Some(vec![FactorKind::Push]),
            ..UserEntry::default()
        },
    );
    let push = PushFactor::new(cfg.push.as_ref().unwrap(), &cfg, Arc::new(users.clone()))
        .unwrap()
        .with_timing(Timing {
            poll_interval: Duration::from_millis(20),
            deadline: Duration::from_secs(8),
        })
        .with_decoy_timing(DecoyTiming {
            round_trip: Duration::from_millis(1),
            answer_timeout: WAIT,
        });
    let e = Engine::with_factors(cfg, users, vec![Arc::new(push)]).unwrap();
    // Push (Enter), new SMS passcodes, a wrong passcode.
    let answers = ["1", "", "3", "999999"];

    let mut enrolled = Person::answering(&answers);
    login(&e, &ctx("alice"), &mut enrolled).await;
    let expected = enrolled.transcript("alice");
    let menu = "info Duo two-factor login for USER\n\n 1. Duo Push to XXX-XXX-#\n \
                2. Phone call to XXX-XXX-#\n 3. SMS passcodes to XXX-XXX-#\n"
        .to_owned();
    let prompt = "visible Passcode or option (1-3): ".to_owned();
    assert_eq!(
        expected,
        vec![
            menu.clone(),
            prompt.clone(),
            format!("info {PUSHED}"),
            format!("visible {ENTER_PUSH}"),
            format!("error {TIMED_OUT}"),
            menu.clone(),
            prompt.clone(),
            "info New SMS passcodes sent.".to_owned(),
            menu,
            prompt,
            "error Incorrect passcode. Please try again.".to_owned(),
        ]
    );
    let requests = sim.state().requests.len();
    let real_wait = enrolled.at(TIMED_OUT) - enrolled.at(ENTER_PUSH);

    let mut numbers = Vec::new();
    for user in ["carol", "mallory"] {
        let mut stranger = Person::answering(&answers);
        login(&e, &ctx(user), &mut stranger).await;
        assert_eq!(stranger.transcript(user), expected, "{user}");
        let decoy_wait = stranger.at(TIMED_OUT) - stranger.at(ENTER_PUSH);
        assert!(
            close(real_wait, decoy_wait, Duration::from_millis(200)),
            "{user}: push pending {decoy_wait:?}, enrolled {real_wait:?}"
        );
        numbers.push(stranger.events[0].1.clone());
        // The same name sees the same phone every time, as with a real one.
        let mut again = Person::answering(&["999999"]);
        login(&e, &ctx(user), &mut again).await;
        assert_eq!(again.events[0].1, stranger.events[0].1, "{user}");
    }
    // A fixed decoy number would itself tell strangers from users.
    assert_ne!(
        numbers[0].replace("carol", "x"),
        numbers[1].replace("mallory", "x")
    );
    assert_eq!(
        sim.state().requests.len(),
        requests,
        "Duo heard nothing of the strangers"
    );
}

/// Webhook: the "sent" message after the post's wait, the prompt, the
/// wrong-code messages; and an expired code.
#[tokio::test]
async fn webhook_strangers_go_through_what_an_enrolled_user_with_wrong_codes_does() {
    let sink = WebhookSink::start(Service::Slack).await.unwrap();
    let cfg = Config::parse(
        Path::new("mfa.toml"),
        &format!(
            "[general]\nrequest_timeout_secs = 2\n[policy]\nfactors = [\"webhook\"]\n\
             [webhook]\nurl = \"{}\"\npreset = \"slack\"\nattempts = 2\nexpiry_secs = 60\n",
            sink.url()
        ),
    )
    .unwrap();
    let e = Engine::with_users(cfg, UsersDb::default()).unwrap();
    let answers = ["00000000", "00000000"];

    let mut enrolled = Person::answering(&answers);
    login(&e, &ctx("alice"), &mut enrolled).await;
    let expected = enrolled.transcript("alice");
    assert_eq!(
        expected,
        [
            "info A login code was posted to the team channel (session #).",
            "secret Code for session #: ",
            "error Wrong code; 1 attempt(s) left.",
            "secret Code for session #: ",
            "error Too many wrong codes.",
        ]
        .map(String::from)
    );
    assert_eq!(sink.received().len(), 1);
    let mut stranger = Person::answering(&answers);
    let started = Instant::now();
    login(&e, &ctx("mallory"), &mut stranger).await;
    assert_eq!(stranger.transcript("mallory"), expected);
    // The post's round trips are waited for, not skipped.
    assert!(
        stranger.at("posted") - started >= ROUND_TRIP * FIRST_REQUEST,
        "{:?}",
        stranger.at("posted") - started
    );
    assert_eq!(sink.received().len(), 1, "nothing posted for mallory");

    // A code typed after it expired: "expired", for both.
    let clock = Arc::new(Manual(AtomicU64::new(1_700_000_000)));
    let mut transcripts = Vec::new();
    for user in ["alice", "mallory"] {
        let mut c = ctx(user);
        c.clock = clock.clone();
        let mut p = Person::answering(&answers);
        p.clock = Some((clock.clone(), 61));
        login(&e, &c, &mut p).await;
        transcripts.push(p.transcript(user));
    }
    assert_eq!(transcripts[0], transcripts[1]);
    assert!(
        transcripts[0][2].contains("expired"),
        "{:?}",
        transcripts[0]
    );
}

/// PhoneCheck: the QR code (of a plausible check URL) and its prompt, then
/// the check's timeout at the same moment.
#[tokio::test]
async fn phonecheck_strangers_go_through_what_an_enrolled_user_whose_phone_does_nothing_does() {
    let sim = TruIdSim::start().await.unwrap();
    let cfg = Config::parse(
        Path::new("mfa.toml"),
        &format!(
            "[general]\nrequest_timeout_secs = 1\nlogin_timeout_secs = 5\n\
             [policy]\nfactors = [\"phonecheck\"]\n\
             [phonecheck]\napi_base_url = \"{}\"\nclient_id = \"{}\"\nclient_secret = \"{}\"\n\
             redirect_url = \"http://127.0.0.1:9/complete-check\"\npoll_interval_ms = 50\n",
            sim.uri(),
            mfa_sim::truid::SIM_CLIENT_ID,
            mfa_sim::truid::SIM_CLIENT_SECRET,
        ),
    )
    .unwrap();
    let mut users = UsersDb::default();
    users.users.insert(
        "alice".into(),
        UserEntry {
            phone: Some(PhoneNumber::parse("+447700900000").unwrap()),
            ..UserEntry::default()
        },
    );
    let e = Engine::with_users(cfg, users).unwrap();

    let started = Instant::now();
    let mut enrolled = Person::answering(&[""]);
    login(&e, &ctx("alice"), &mut enrolled).await;
    let real = enrolled.at(MSG_TIMEOUT) - started;
    let expected = enrolled.transcript("alice");
    assert_eq!(
        expected,
        [
            "info QR".to_owned(),
            format!("visible {ENTER_PROMPT}"),
            format!("error {MSG_TIMEOUT}"),
        ]
    );
    let requests = sim.requests().len();
    for user in ["dave", "mallory"] {
        let started = Instant::now();
        let mut stranger = Person::answering(&[""]);
        login(&e, &ctx(user), &mut stranger).await;
        assert_eq!(stranger.transcript(user), expected, "{user}");
        let decoy = stranger.at(MSG_TIMEOUT) - started;
        assert!(
            close(real, decoy, Duration::from_millis(500)),
            "{user}: timed out after {decoy:?}, enrolled after {real:?}"
        );
    }
    assert_eq!(sim.requests().len(), requests, "no check for strangers");
}
