//! The pause through a whole session on the lean runner: a TOTP state
//! file for the user running the tests, a scripted conversation.

use std::time::{Duration, Instant};

use toml::Spanned;
use zeroize::Zeroizing;

use super::*;
use crate::config::{Config, UsersDb};
use crate::conversation::scripted::{ScriptedConversation, Step};
use crate::otp::{format_code, hotp, time_step, Algorithm};
use crate::pam::PassMode;
use crate::policy::Decision;
use crate::session::{FrontEnd, Io, LocalRunner, LogLevel, Session};
use crate::{Clock, SystemClock};

const SECRET: &str = "JBSWY3DPEHPK3PXP";
const PROMPT: &str = "Verification code: ";
/// Long enough that an allow or an error never takes it by chance, short
/// enough for a test.
const DELAY: Duration = Duration::from_millis(1500);

struct Tok(String);

impl AuthTok for Tok {
    fn get(&self) -> Option<SecretAnswer> {
        Some(Zeroizing::new(self.0.clone()))
    }
    fn set(&mut self, value: &str) -> Result<(), String> {
        self.0 = value.to_owned();
        Ok(())
    }
}

struct Fe {
    user: String,
    conv: ScriptedConversation,
    tok: Option<Tok>,
}

impl Fe {
    fn new(user: &str, steps: Vec<Step>) -> Self {
        Self {
            user: user.to_owned(),
            conv: ScriptedConversation::new(steps),
            tok: None,
        }
    }
}

impl FrontEnd for Fe {
    fn user(&mut self) -> Result<String, crate::session::UserError> {
        Ok(self.user.clone())
    }
    fn service(&self) -> String {
        "pause-test".into()
    }
    fn rhost(&self) -> Option<String> {
        None
    }
    fn tty(&self) -> Option<String> {
        None
    }
    fn io(&mut self) -> Io<'_> {
        Io {
            conv: &mut self.conv,
            authtok: self.tok.as_mut().map(|t| t as &mut dyn AuthTok),
        }
    }
    fn log(&self, _level: LogLevel, _message: &str) {}
}

/// A state file holding `content` for the current user, and a config
/// pausing `delay` after a wrong code.
fn setup(content: &str, delay: Duration) -> (tempfile::TempDir, String, Config) {
    let dir = tempfile::tempdir().unwrap();
    let user = crate::accounts::name_of_uid(crate::accounts::effective_uid()).unwrap();
    let p = dir.path().join(&user);
    std::fs::write(&p, content).unwrap();
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let mut config = Config::default();
    config.totp.secret = format!("{}/${{USER}}", dir.path().display());
    config.general.fail_delay_ms = Spanned::new(0..0, delay.as_millis() as u64);
    (dir, user, config)
}

fn enrolled(delay: Duration) -> (tempfile::TempDir, String, Config) {
    setup(&format!("{SECRET}\n\" TOTP_AUTH\n"), delay)
}

fn code_now() -> String {
    let key = data_encoding::BASE32_NOPAD
        .decode(SECRET.as_bytes())
        .unwrap();
    let now = SystemClock.now_unix();
    format_code(hotp(Algorithm::Sha1, &key, time_step(now, 30), 6), 6)
}

fn wrong_code() -> String {
    let right = code_now();
    (0..10)
        .map(|d| d.to_string().repeat(6))
        .find(|c| *c != right)
        .unwrap()
}

/// Run one login; the decision and how long it took.
fn login(config: Config, fe: &mut Fe, pass: PassMode) -> (Decision, Duration) {
    let start = Instant::now();
    let session = Session::with_users(config, UsersDb::default());
    let decision = session.run::<LocalRunner>(fe, pass).unwrap();
    (decision, start.elapsed())
}

#[test]
fn a_wrong_code_pauses_and_a_right_one_does_not() {
    let (_d, user, config) = enrolled(DELAY);
    let mut fe = Fe::new(
        &user,
        vec![ScriptedConversation::secret(PROMPT, &wrong_code())],
    );
    let (decision, took) = login(config.clone(), &mut fe, PassMode::Prompt);
    assert!(matches!(decision, Decision::Deny { .. }), "{decision:?}");
    assert!(took >= DELAY, "denied after {took:?}");

    let mut fe = Fe::new(
        &user,
        vec![ScriptedConversation::secret(PROMPT, &code_now())],
    );
    let (decision, took) = login(config, &mut fe, PassMode::Prompt);
    assert!(decision.is_allow(), "{decision:?}");
    assert!(took < DELAY, "an allow waited {took:?}");
}

#[test]
fn no_pause_when_the_delay_is_zero() {
    let (_d, user, config) = enrolled(Duration::ZERO);
    let mut fe = Fe::new(
        &user,
        vec![ScriptedConversation::secret(PROMPT, &wrong_code())],
    );
    let (decision, took) = login(config, &mut fe, PassMode::Prompt);
    assert!(matches!(decision, Decision::Deny { .. }));
    assert!(took < DELAY, "{took:?}");
}

#[test]
fn a_broken_state_file_is_reported_at_once() {
    // An administrator's problem, found before anything is asked: no code
    // was checked, so nothing to slow down.
    let (_d, user, config) = setup("not base32 !\n\" TOTP_AUTH\n", Duration::from_secs(10));
    let mut fe = Fe::new(&user, vec![]);
    fe.conv = ScriptedConversation::new(vec![]).lenient_messages();
    let (decision, took) = login(config, &mut fe, PassMode::Prompt);
    assert!(matches!(decision, Decision::Deny { .. }), "{decision:?}");
    assert!(took < DELAY, "{took:?}");
}

#[test]
fn an_unknown_user_pauses_like_an_enrolled_one() {
    let (_d, _user, config) = enrolled(DELAY);
    let mut fe = Fe::new(
        "mfa-pause-no-such-user",
        vec![ScriptedConversation::secret(PROMPT, "123456")],
    );
    let (decision, took) = login(config, &mut fe, PassMode::Prompt);
    assert!(matches!(decision, Decision::Deny { .. }), "{decision:?}");
    assert!(took >= DELAY, "{took:?}");
}

#[test]
fn a_code_taken_from_the_shared_password_pauses_too() {
    let (_d, user, config) = enrolled(DELAY);
    let mut fe = Fe::new(&user, vec![]);
    fe.tok = Some(Tok(format!("hunter2{}", wrong_code())));
    let (decision, took) = login(config, &mut fe, PassMode::UseFirstPass);
    assert!(matches!(decision, Decision::Deny { .. }), "{decision:?}");
    assert!(took >= DELAY, "{took:?}");
}

#[test]
fn the_pause_ends_at_the_login_deadline() {
    let (_d, user, config) = enrolled(Duration::from_secs(10));
    let mut fe = Fe::new(
        &user,
        vec![ScriptedConversation::secret(PROMPT, &wrong_code())],
    );
    let start = Instant::now();
    let session = Session::with_users(config, UsersDb::default());
    let mut ctx = session.context(&mut fe).unwrap();
    ctx.deadline = Instant::now() + Duration::from_millis(300);
    let decision = session
        .prepare_for::<LocalRunner>(ctx, &fe)
        .unwrap()
        .run(&mut fe, PassMode::Prompt)
        .unwrap();
    let took = start.elapsed();
    assert!(matches!(decision, Decision::Deny { .. }), "{decision:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[test]
fn pause_for_never_passes_the_deadline() {
    let now = Instant::now();
    let s = Duration::from_secs;
    assert_eq!(pause_for(s(2), now + s(10), now), s(2));
    assert_eq!(pause_for(s(2), now + s(1), now), s(1));
    assert_eq!(pause_for(s(2), now, now + s(1)), Duration::ZERO);
    assert_eq!(pause_for(Duration::ZERO, now + s(10), now), Duration::ZERO);
}
