//! `unenrolled = "enroll"` through the real engine and the real TOTP factor
//! with a scripted conversation: the new secret is shown, nothing is kept
//! until a code from it is typed, and only a login whose first factor sshd
//! verified may enrol at all.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mfa_core::accounts::{Account, StaticAccounts};
use mfa_core::config::UsersDb;
use mfa_core::context::{FixedClock, RandomError};
use mfa_core::conversation::scripted::{ScriptedConversation, Step};
use mfa_core::otp::{format_code, hotp, time_step, Algorithm};
use mfa_core::totp::first_login::{ATTEMPTS, CONFIRM_PROMPT};
use mfa_core::totp::TotpState;
use mfa_core::{AuthContext, Config, Decision, Engine, FactorKind, RandomSource};
use mfa_testkit::audit::Capture;

const NOW: u64 = 1_700_000_000;
const BYTE: u8 = 0x42;

/// Every "random" byte is `BYTE`: the secret the person is shown is known
/// to the test, which types codes from it as an app would.
struct Constant;
impl RandomSource for Constant {
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError> {
        buf.fill(BYTE);
        Ok(())
    }
}

fn secret_b32() -> String {
    data_encoding::BASE32_NOPAD.encode(&[BYTE; 20])
}

fn code_at(t: u64) -> String {
    format_code(hotp(Algorithm::Sha1, &[BYTE; 20], time_step(t, 30), 6), 6)
}

struct Fixture {
    _dir: tempfile::TempDir,
    home: PathBuf,
    accounts: StaticAccounts,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("alice");
        std::fs::create_dir(&home).unwrap();
        let uid = mfa_core::accounts::effective_uid();
        let accounts = StaticAccounts(vec![Account {
            name: "alice".into(),
            uid,
            gid: uid,
            home: home.clone(),
            shell: "/bin/sh".into(),
            groups: vec![],
        }]);
        Self {
            _dir: dir,
            home,
            accounts,
        }
    }

    fn state_file(&self) -> PathBuf {
        self.home.join(".google_authenticator")
    }

    fn ctx(&self, user: &str, first_factor_verified: bool, now: u64) -> AuthContext {
        let mut c = AuthContext::new(user, "sshd");
        c.clock = Arc::new(FixedClock(now));
        c.rng = Arc::new(Constant);
        c.accounts = Arc::new(self.accounts.clone());
        c.hostname = "box".into();
        c.first_factor_verified = first_factor_verified;
        c
    }
}

fn engine(audit: &Capture) -> Engine {
    let cfg = Config::parse(Path::new("t.toml"), "[general]\nunenrolled = \"enroll\"\n").unwrap();
    let mut e = Engine::with_users(cfg, UsersDb::default()).unwrap();
    e.add_audit_sink(Box::new(audit.clone()));
    e
}

fn run(e: &Engine, c: &AuthContext, steps: Vec<Step>) -> (Decision, Vec<String>) {
    let mut conv = ScriptedConversation::new(steps);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let d = rt.block_on(e.authenticate(c, &mut conv));
    conv.finish();
    (d, conv.transcript.clone())
}

fn shown() -> Step {
    Step::InfoContaining("Scan this QR code".into())
}

fn confirm(code: &str) -> Step {
    ScriptedConversation::secret(CONFIRM_PROMPT, code)
}

#[test]
fn shows_the_secret_and_keeps_it_only_once_confirmed() {
    let f = Fixture::new();
    let audit = Capture::default();
    let e = engine(&audit);
    let c = f.ctx("alice", true, NOW);
    let (d, transcript) = run(
        &e,
        &c,
        vec![
            shown(),
            confirm(&code_at(NOW)),
            Step::InfoContaining("Enrolled".into()),
        ],
    );
    assert_eq!(
        d,
        Decision::Allow {
            factor: Some(FactorKind::Totp),
            fail_open: false
        }
    );
    // The QR code, the key and the otpauth URI, inside the session.
    let info = &transcript[0];
    assert!(
        info.contains('\u{2580}') || info.contains('\u{2588}'),
        "{info}"
    );
    assert!(
        info.contains(&format!("secret key: {}", secret_b32())),
        "{info}"
    );
    assert!(
        info.contains(&format!(
            "otpauth://totp/box:alice%40box?secret={}&",
            secret_b32()
        )),
        "{info}"
    );

    // The file: the shown secret, the secure defaults, read-only, and the
    // confirming code already spent.
    let path = f.state_file();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o400);
    let text = std::fs::read_to_string(&path).unwrap();
    let state = TotpState::parse(text.as_bytes()).unwrap();
    assert_eq!(state.secret(), &[BYTE; 20]);
    assert!(text.contains("\" RATE_LIMIT 3 30"), "{text}");
    assert_eq!(state.window_size, 3, "{text}");
    assert!(text.contains("\" TOTP_AUTH"), "{text}");
    assert!(
        text.contains(&format!("\" DISALLOW_REUSE {}", time_step(NOW, 30))),
        "{text}"
    );
    assert_eq!(state.scratch_codes.len(), 5);

    let rec = audit.only();
    assert_eq!(rec.decision, "allow");
    assert_eq!(rec.factors, vec![FactorKind::Totp]);
    assert!(
        rec.reason.contains("enrolled at first login"),
        "{}",
        rec.reason
    );
    assert!(!format!("{rec:?}").contains(&secret_b32()));

    // The next login asks for a code like any enrolled user's; the code
    // that confirmed the enrolment cannot be replayed.
    let (d, _) = run(
        &e,
        &c,
        vec![
            ScriptedConversation::secret("Verification code: ", &code_at(NOW)),
            Step::ErrorContaining("already used".into()),
        ],
    );
    assert!(matches!(d, Decision::Deny { .. }), "{d:?}");
    let later = f.ctx("alice", true, NOW + 30);
    let (d, _) = run(
        &e,
        &later,
        vec![ScriptedConversation::secret(
            "Verification code: ",
            &code_at(NOW + 30),
        )],
    );
    assert!(d.is_allow(), "{d:?}");
}

#[test]
fn wrong_codes_leave_nothing_behind() {
    let f = Fixture::new();
    let audit = Capture::default();
    let e = engine(&audit);
    let mut steps = vec![shown()];
    for i in 0..ATTEMPTS {
        steps.push(confirm(&code_at(NOW + 3600)));
        steps.push(Step::ErrorContaining(if i + 1 < ATTEMPTS {
            "try again".into()
        } else {
            "nothing was saved".into()
        }));
    }
    let (d, _) = run(&e, &f.ctx("alice", true, NOW), steps);
    assert!(
        matches!(&d, Decision::Deny { reason } if reason.contains("not confirmed")),
        "{d:?}"
    );
    assert!(!f.state_file().exists());
    assert_eq!(audit.only().decision, "deny");
}

#[test]
fn a_scratch_code_does_not_confirm() {
    let f = Fixture::new();
    let e = engine(&Capture::default());
    // The scratch codes are on the screen; typing one proves nothing about
    // the app. The Constant source makes every one of them the same.
    let scratch = (10_000_000 + (u64::from_le_bytes([BYTE; 8]) % 90_000_000)).to_string();
    let mut steps = vec![shown()];
    for _ in 0..ATTEMPTS {
        steps.push(confirm(&scratch));
        steps.push(Step::ErrorContaining(String::new()));
    }
    let (d, transcript) = run(&e, &f.ctx("alice", true, NOW), steps);
    assert!(transcript[0].contains(&scratch), "{}", transcript[0]);
    assert!(matches!(d, Decision::Deny { .. }), "{d:?}");
    assert!(!f.state_file().exists());
}

#[test]
fn giving_up_leaves_nothing_behind() {
    let f = Fixture::new();
    let audit = Capture::default();
    let e = engine(&audit);
    let (d, _) = run(
        &e,
        &f.ctx("alice", true, NOW),
        vec![shown(), Step::AbortAt(CONFIRM_PROMPT.into())],
    );
    assert!(
        matches!(&d, Decision::Deny { reason } if reason.contains("abandoned")),
        "{d:?}"
    );
    assert!(!f.state_file().exists());
    assert_eq!(audit.only().decision, "deny");
}

#[test]
fn without_a_verified_first_factor_it_is_deny() {
    // A password in the same PAM stack is not proof: pam_mfa may run after
    // a wrong one. No enrolment is offered, the person sees the usual
    // prompt, and is denied.
    let f = Fixture::new();
    let audit = Capture::default();
    let e = engine(&audit);
    let (d, transcript) = run(
        &e,
        &f.ctx("alice", false, NOW),
        vec![ScriptedConversation::secret(
            "Verification code: ",
            &code_at(NOW),
        )],
    );
    assert!(matches!(d, Decision::Deny { .. }), "{d:?}");
    assert!(
        !transcript.iter().any(|t| t.contains("QR")),
        "{transcript:?}"
    );
    assert!(!f.state_file().exists());
    let rec = audit.only();
    assert!(
        rec.reason.contains("first factor verified by sshd"),
        "{}",
        rec.reason
    );
}

#[test]
fn an_unknown_user_is_denied_like_under_deny() {
    let f = Fixture::new();
    let audit = Capture::default();
    let e = engine(&audit);
    let (d, _) = run(
        &e,
        &f.ctx("mallory", true, NOW),
        vec![ScriptedConversation::secret(
            "Verification code: ",
            "123456",
        )],
    );
    assert!(matches!(d, Decision::Deny { .. }), "{d:?}");
    assert_eq!(audit.only().factors, Vec::<FactorKind>::new());
}

#[test]
fn a_non_interactive_login_is_not_enrolled() {
    let f = Fixture::new();
    let e = engine(&Capture::default());
    let mut c = f.ctx("alice", true, NOW);
    c.interactive = false;
    let (d, _) = run(
        &e,
        &c,
        vec![ScriptedConversation::secret(
            "Verification code: ",
            "123456",
        )],
    );
    assert!(matches!(d, Decision::Deny { .. }), "{d:?}");
    assert!(!f.state_file().exists());
}

#[test]
fn an_enrolled_user_is_never_re_enrolled() {
    let f = Fixture::new();
    let e = engine(&Capture::default());
    let p = f.state_file();
    std::fs::write(&p, "JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\n").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o400)).unwrap();
    let before = std::fs::read(&p).unwrap();
    let (d, _) = run(
        &e,
        &f.ctx("alice", true, NOW),
        vec![ScriptedConversation::secret(
            "Verification code: ",
            "000000",
        )],
    );
    assert!(matches!(d, Decision::Deny { .. }), "{d:?}");
    assert_eq!(std::fs::read(&p).unwrap(), before);
}

/// A state backend other than files (as the fleet's database is): it
/// knows nobody, and cannot be enrolled into at login.
#[derive(Debug)]
struct Elsewhere;

#[async_trait::async_trait]
impl mfa_core::state::StateBackend for Elsewhere {
    async fn open(
        &self,
        _at: &mfa_core::state::StateRef,
    ) -> Result<Option<Box<dyn mfa_core::state::UserState>>, mfa_core::FactorError> {
        Ok(None)
    }
}

#[test]
fn a_state_backend_other_than_files_is_not_enrolled_into_at_login() {
    let f = Fixture::new();
    let audit = Capture::default();
    let cfg = Config::parse(Path::new("t.toml"), "[general]\nunenrolled = \"enroll\"\n").unwrap();
    let totp = mfa_core::totp::TotpFactor::with_backend(cfg.totp.clone(), Arc::new(Elsewhere));
    let mut e = Engine::with_factors(cfg, UsersDb::default(), vec![Arc::new(totp)]).unwrap();
    e.add_audit_sink(Box::new(audit.clone()));
    let (d, transcript) = run(
        &e,
        &f.ctx("alice", true, NOW),
        vec![ScriptedConversation::secret(
            "Verification code: ",
            "123456",
        )],
    );
    assert!(matches!(d, Decision::Deny { .. }), "{d:?}");
    assert!(
        !transcript.iter().any(|t| t.contains("QR")),
        "{transcript:?}"
    );
    assert!(!f.state_file().exists());
    assert!(
        audit.only().reason.contains("can enrol"),
        "{}",
        audit.only().reason
    );
}
