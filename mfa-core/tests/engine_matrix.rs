//! The whole policy matrix in the engine: `require` one/all × `failmode`
//! secure/safe × each of two factors (a network one, push, and the local
//! one, TOTP) available / unavailable / refusing / not enrolled.
//!
//! The expectations are a table written by hand from the rules in
//! docs/architecture.md ("The flow of one login"), not computed by the
//! engine's logic: `failmode = safe` excuses only the factor whose provider
//! is unavailable, every other required factor still runs and must pass,
//! and the local factor (TOTP) is never excused.

// Integration tests: helpers outside #[test] fns may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use mfa_core::accounts::{Account, StaticAccounts};
use mfa_core::config::UsersDb;
use mfa_core::conversation::{ConversationError, SecretAnswer};
use mfa_core::{
    AuthContext, Config, Conversation, Decision, Engine, Factor, FactorError, FactorKind, Outcome,
};
use mfa_testkit::audit::Capture;
use zeroize::Zeroizing;

/// What a fake factor does when it is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Asks, and the answer verifies.
    Available,
    /// Fails before asking: provider unreachable.
    Unavailable,
    /// Asks, and refuses.
    Refusing,
    /// No enrolment: nothing is asked.
    NotEnrolled,
}

impl State {
    fn parse(s: &str) -> Self {
        match s {
            "A" => State::Available,
            "U" => State::Unavailable,
            "D" => State::Refusing,
            "N" => State::NotEnrolled,
            other => panic!("state {other:?}"),
        }
    }
}

struct Fake {
    kind: FactorKind,
    state: State,
}

#[async_trait]
impl Factor for Fake {
    fn kind(&self) -> FactorKind {
        self.kind
    }

    async fn authenticate(
        &self,
        _ctx: &AuthContext,
        conv: &mut dyn Conversation,
    ) -> Result<Outcome, FactorError> {
        match self.state {
            State::NotEnrolled => Ok(Outcome::NotEnrolled),
            State::Unavailable => Err(FactorError::Unavailable("connection refused".into())),
            State::Available => {
                conv.prompt_secret(&format!("{}: ", self.kind)).await?;
                Ok(Outcome::Allow)
            }
            State::Refusing => {
                conv.prompt_secret(&format!("{}: ", self.kind)).await?;
                Ok(Outcome::Deny("refused".into()))
            }
        }
    }

    async fn decoy(
        &self,
        _ctx: &AuthContext,
        conv: &mut dyn Conversation,
    ) -> Result<(), ConversationError> {
        conv.prompt_secret(&format!("{} decoy: ", self.kind))
            .await
            .map(drop)
    }
}

/// Answers every prompt and remembers who asked.
#[derive(Default)]
struct Recorder {
    asked: Vec<String>,
    messages: Vec<String>,
}

#[async_trait]
impl Conversation for Recorder {
    async fn prompt_secret(&mut self, prompt: &str) -> Result<SecretAnswer, ConversationError> {
        self.asked.push(prompt.to_owned());
        Ok(Zeroizing::new("123456".into()))
    }
    async fn prompt_visible(&mut self, prompt: &str) -> Result<String, ConversationError> {
        self.asked.push(prompt.to_owned());
        Ok(String::new())
    }
    async fn info(&mut self, text: &str) -> Result<(), ConversationError> {
        self.messages.push(text.to_owned());
        Ok(())
    }
    async fn error(&mut self, text: &str) -> Result<(), ConversationError> {
        self.messages.push(text.to_owned());
        Ok(())
    }
}

/// `require failmode push totp => decision asked`, for the factor list
/// `[push, totp]` and `unenrolled = "deny"`.
///
/// States: A available (asks, verifies), U unavailable (provider down,
/// nothing asked), D refusing (asks, denies), N not enrolled.
/// Decisions: `allow:KIND` (verified, KIND the last verified factor),
/// `failopen:KIND` (allowed with a provider excused by failmode=safe, KIND
/// verified), `failopen:-` (allowed, nothing verified), `deny`.
/// Asked: the prompts shown, in order: P push, T totp, dP push's decoy,
/// `-` none.
const TABLE: &str = "
# require=one: the first enrolled factor that answers decides; an
# unavailable provider hands over to the next enrolled factor; only when
# none is left does failmode decide. TOTP unavailable is never excused.
one secure A A  allow:push    P
one secure A U  allow:push    P
one secure A D  allow:push    P
one secure A N  allow:push    P
one secure U A  allow:totp    T
one secure U U  deny          -
one secure U D  deny          T
one secure U N  deny          -
one secure D A  deny          P
one secure D U  deny          P
one secure D D  deny          P
one secure D N  deny          P
one secure N A  allow:totp    T
one secure N U  deny          -
one secure N D  deny          T
one secure N N  deny          dP
one safe   A A  allow:push    P
one safe   A U  allow:push    P
one safe   A D  allow:push    P
one safe   A N  allow:push    P
one safe   U A  allow:totp    T
one safe   U U  deny          -
one safe   U D  deny          T
one safe   U N  failopen:-    -
one safe   D A  deny          P
one safe   D U  deny          P
one safe   D D  deny          P
one safe   D N  deny          P
one safe   N A  allow:totp    T
one safe   N U  deny          -
one safe   N D  deny          T
one safe   N N  deny          dP
# require=all: every enrolled factor must verify. secure: an unavailable
# provider denies at once. safe: it alone is excused, the others still run
# and must verify. A deny is final. TOTP unavailable is never excused.
all secure A A  allow:totp    PT
all secure A U  deny          P
all secure A D  deny          PT
all secure A N  allow:push    P
all secure U A  deny          -
all secure U U  deny          -
all secure U D  deny          -
all secure U N  deny          -
all secure D A  deny          P
all secure D U  deny          P
all secure D D  deny          P
all secure D N  deny          P
all secure N A  allow:totp    T
all secure N U  deny          -
all secure N D  deny          T
all secure N N  deny          dP
all safe   A A  allow:totp    PT
all safe   A U  deny          P
all safe   A D  deny          PT
all safe   A N  allow:push    P
all safe   U A  failopen:totp T
all safe   U U  deny          -
all safe   U D  deny          T
all safe   U N  failopen:-    -
all safe   D A  deny          P
all safe   D U  deny          P
all safe   D D  deny          P
all safe   D N  deny          P
all safe   N A  allow:totp    T
all safe   N U  deny          -
all safe   N D  deny          T
all safe   N N  deny          dP
";

fn expected_decision(s: &str) -> Decision {
    let kind = |k: &str| match k {
        "-" => None,
        k => Some(k.parse::<FactorKind>().unwrap()),
    };
    match s.split_once(':') {
        Some(("allow", k)) => Decision::Allow {
            factor: kind(k),
            fail_open: false,
        },
        Some(("failopen", k)) => Decision::Allow {
            factor: kind(k),
            fail_open: true,
        },
        _ => {
            assert_eq!(s, "deny");
            Decision::Deny {
                reason: String::new(),
            }
        }
    }
}

fn asked_codes(asked: &[String]) -> String {
    let codes: String = asked
        .iter()
        .map(|p| match p.as_str() {
            "push: " => "P",
            "totp: " => "T",
            "push decoy: " => "dP",
            "totp decoy: " => "dT",
            other => panic!("unexpected prompt {other:?}"),
        })
        .collect();
    if codes.is_empty() {
        "-".into()
    } else {
        codes
    }
}

fn context() -> AuthContext {
    let mut c = AuthContext::new("alice", "sshd");
    c.accounts = Arc::new(StaticAccounts(vec![Account {
        name: "alice".into(),
        uid: 1000,
        gid: 1000,
        home: "/nonexistent".into(),
        shell: "/bin/sh".into(),
        groups: vec![],
    }]));
    c
}

#[test]
fn every_cell_of_require_failmode_and_factor_states() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut cells = 0;
    let mut wrong = Vec::new();
    for line in TABLE.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        let [require, failmode, push, totp, decision, asked] = f[..] else {
            panic!("bad row {line:?}");
        };
        let cfg = Config::parse(
            Path::new("matrix.toml"),
            &format!(
                "[general]\nfailmode = \"{failmode}\"\nunenrolled = \"deny\"\n\
                 [policy]\nrequire = \"{require}\"\nfactors = [\"push\", \"totp\"]\n"
            ),
        )
        .unwrap();
        let factors: Vec<Arc<dyn Factor>> = vec![
            Arc::new(Fake {
                kind: FactorKind::Push,
                state: State::parse(push),
            }),
            Arc::new(Fake {
                kind: FactorKind::Totp,
                state: State::parse(totp),
            }),
        ];
        let audit = Capture::default();
        let mut engine = Engine::with_factors(cfg, UsersDb::default(), factors).unwrap();
        engine.add_audit_sink(Box::new(audit.clone()));
        let mut conv = Recorder::default();
        let got = rt.block_on(engine.authenticate(&context(), &mut conv));
        let want = expected_decision(decision);
        let same = match (&got, &want) {
            (Decision::Deny { .. }, Decision::Deny { .. }) => true,
            (g, w) => g == w,
        };
        let got_asked = asked_codes(&conv.asked);
        if !same || got_asked != asked {
            wrong.push(format!(
                "{line}\n    got {got:?}, asked {got_asked}; messages {:?}",
                conv.messages
            ));
        }
        // Exactly one audit record per login, whatever the cell.
        let records = audit.0.lock().unwrap();
        assert_eq!(records.len(), 1, "{line}");
        let name = match &want {
            Decision::Allow {
                fail_open: true, ..
            } => "allow-failmode",
            Decision::Allow { .. } => "allow",
            _ => "deny",
        };
        if same {
            assert_eq!(records[0].decision, name, "{line}");
            if name == "allow-failmode" {
                // The record names the provider that was excused, and why.
                assert!(
                    records[0].reason.contains("push: connection refused"),
                    "{line}: {}",
                    records[0].reason
                );
            }
        }
        cells += 1;
    }
    assert_eq!(cells, 64, "2 x 2 x 4 x 4 cells");
    assert!(
        wrong.is_empty(),
        "{} of {cells} cells differ from the table:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
