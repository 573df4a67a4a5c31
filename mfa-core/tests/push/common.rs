//! Helpers shared by the push tests: a simulator-backed engine with a
//! scripted conversation and an audit capture.

// Each test file uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use mfa_core::accounts::StaticAccounts;
use mfa_core::config::{UserEntry, UsersDb};
use mfa_core::context::FixedClock;
use mfa_core::conversation::scripted::{ScriptedConversation, Step};
use mfa_core::phonecheck::PhoneNumber;
use mfa_core::push::{DecoyTiming, DuoUsername, PushFactor, Timing};
use mfa_core::{AuthContext, Config, Decision, Engine, FactorKind};
use mfa_sim::duo::DuoSim;
pub use mfa_testkit::audit::Capture;

/// The client's clock is years off the simulator's: every test also proves
/// that `/ping` corrects it (the simulator refuses dates > 300 s away).
pub const NOW: u64 = 1_700_000_000;
pub const MENU: &str = "Duo two-factor login for alice.duo\n\n 1. Duo Push to XXX-XXX-0100\n \
                        2. Phone call to XXX-XXX-0100\n 3. SMS passcodes to XXX-XXX-0100\n";
pub const PROMPT: &str = "Passcode or option (1-3): ";
pub const ODD_USER: &str = "o'dd usér+&=~%";
/// Listed for push without a `duo_username`, under a login name that cannot
/// be a Duo user name (it would draw on the terminal in the menu).
pub const CONTROL_USER: &str = "ctl\u{1b}[2Juser";

pub fn users() -> UsersDb {
    let mut u = UsersDb::default();
    u.users.insert(
        "alice".into(),
        UserEntry {
            duo_username: Some(DuoUsername::parse("alice.duo").unwrap()),
            ..UserEntry::default()
        },
    );
    u.users.insert(
        "bob".into(),
        UserEntry {
            factors: Some(vec![FactorKind::Push]),
            ..UserEntry::default()
        },
    );
    u.users.insert(
        "carol".into(),
        UserEntry {
            phone: Some(PhoneNumber::parse("+447700900000").unwrap()),
            ..UserEntry::default()
        },
    );
    u.users.insert(
        CONTROL_USER.into(),
        UserEntry {
            factors: Some(vec![FactorKind::Push]),
            ..UserEntry::default()
        },
    );
    u.users.insert(
        ODD_USER.into(),
        UserEntry {
            duo_username: Some(DuoUsername::parse("ödd user+tag&x=y").unwrap()),
            ..UserEntry::default()
        },
    );
    u
}

pub fn config(sim: &DuoSim, failmode: &str, push_extra: &str) -> Config {
    let src = format!(
        "[general]\nfailmode = \"{failmode}\"\nrequest_timeout_secs = 2\n\
         [policy]\nfactors = [\"push\"]\n{}{push_extra}",
        sim.push_section()
    );
    Config::parse(Path::new("test.toml"), &src).unwrap()
}

pub fn fast() -> Timing {
    Timing {
        poll_interval: Duration::from_millis(20),
        deadline: Duration::from_secs(8),
    }
}

pub fn engine_with(cfg: Config, timing: Timing, audit: &Capture) -> Engine {
    let users = users();
    let push = cfg.push.clone().unwrap();
    let f = PushFactor::new(&push, &cfg, Arc::new(users.clone()))
        .unwrap()
        .with_timing(timing)
        .with_backoff(Duration::from_millis(50))
        .with_decoy_timing(decoy_timing());
    let mut e = Engine::with_factors(cfg, users, vec![Arc::new(f)]).unwrap();
    e.add_audit_sink(Box::new(audit.clone()));
    e
}

/// The decoy's waits, short: Duo's 60 s push timeout becomes 200 ms.
pub fn decoy_timing() -> DecoyTiming {
    DecoyTiming {
        round_trip: Duration::from_millis(1),
        answer_timeout: Duration::from_millis(200),
    }
}

pub fn engine(sim: &DuoSim, failmode: &str, push_extra: &str, audit: &Capture) -> Engine {
    engine_with(config(sim, failmode, push_extra), fast(), audit)
}

/// The accounts that exist: every name in [`users`] and `dave` (an
/// account without a push enrolment); `mallory` does not exist.
pub fn accounts() -> StaticAccounts {
    StaticAccounts::named(&["alice", "bob", "carol", "dave", CONTROL_USER, ODD_USER])
}

pub fn ctx(user: &str) -> AuthContext {
    let mut c = AuthContext::new(user, "sshd");
    c.accounts = Arc::new(accounts());
    c.clock = Arc::new(FixedClock(NOW));
    c.rhost = Some("198.51.100.4".into());
    c.hostname = "bastion".into();
    c.command = Some("git-upload-pack 'repo'".into());
    c.interactive = true;
    c
}

pub async fn run(e: &Engine, c: &AuthContext, steps: Vec<Step>) -> (Decision, Vec<String>) {
    let mut conv = ScriptedConversation::new(steps);
    let d = e.authenticate(c, &mut conv).await;
    conv.finish();
    (d, conv.transcript.clone())
}

/// Run with messages recorded but not scripted (failure-class tables).
pub async fn run_lenient(e: &Engine, c: &AuthContext) -> (Decision, Vec<String>) {
    let mut conv = ScriptedConversation::new([]).lenient_messages();
    let d = e.authenticate(c, &mut conv).await;
    (d, conv.transcript.clone())
}

pub fn menu(answer: &str) -> Vec<Step> {
    vec![
        Step::InfoContaining(MENU.into()),
        Step::Visible(PROMPT.into(), answer.into()),
    ]
}

pub fn info(s: &str) -> Step {
    Step::InfoContaining(s.into())
}

pub fn error(s: &str) -> Step {
    Step::ErrorContaining(s.into())
}

pub fn allowed() -> Decision {
    Decision::Allow {
        factor: Some(FactorKind::Push),
        fail_open: false,
    }
}

pub fn fail_open() -> Decision {
    Decision::Allow {
        factor: None,
        fail_open: true,
    }
}

pub fn is_deny(d: &Decision, needle: &str) -> bool {
    matches!(d, Decision::Deny { reason } if reason.contains(needle))
}

/// A loopback port nobody listens on: the service is down.
pub fn dead_host() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    drop(l);
    a.to_string()
}

/// The push message and the Enter prompt that makes it visible under
/// OpenSSH < 10.3.
pub fn pushed() -> Vec<Step> {
    vec![
        info(mfa_core::push::PUSHED),
        Step::Visible(mfa_core::push::ENTER_PUSH.into(), String::new()),
    ]
}

pub fn calling() -> Vec<Step> {
    vec![
        info(mfa_core::push::CALLING),
        Step::Visible(mfa_core::push::ENTER_CALL.into(), String::new()),
    ]
}
