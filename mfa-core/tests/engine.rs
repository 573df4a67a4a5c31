//! The policy engine end to end with a scripted conversation: factor order,
//! enrolment, failmode, unenrolled, rules, non-enumeration, deadline, audit.

// Integration tests: helpers outside #[test] fns may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use mfa_core::accounts::{Account, StaticAccounts};
use mfa_core::config::{UserEntry, UsersDb};
use mfa_core::context::FixedClock;
use mfa_core::conversation::scripted::{ScriptedConversation, Step};
use mfa_core::otp::{format_code, hotp, time_step, Algorithm};
use mfa_core::{
    AuthContext, Config, Conversation, Decision, Engine, Factor, FactorError, FactorKind, Outcome,
};
use mfa_testkit::audit::Capture;

const NOW: u64 = 1_700_000_000;
const SECRET: &str = "JBSWY3DPEHPK3PXP";

/// A stand-in for a provider factor with a fixed behaviour.
struct Fake {
    kind: FactorKind,
    result: Result<Outcome, FactorError>,
    prompt: bool,
    hang: bool,
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
        if self.hang {
            std::future::pending::<()>().await;
        }
        if self.prompt && self.result != Ok(Outcome::NotEnrolled) {
            conv.prompt_secret("Push code: ").await?;
        }
        self.result.clone()
    }
}

fn fake(kind: FactorKind, result: Result<Outcome, FactorError>) -> Arc<Fake> {
    Arc::new(Fake {
        kind,
        result,
        prompt: false,
        hang: false,
    })
}

struct Fixture {
    _dir: tempfile::TempDir,
    home: std::path::PathBuf,
    accounts: StaticAccounts,
}

fn fixture(with_totp: bool) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("alice");
    std::fs::create_dir(&home).unwrap();
    if with_totp {
        let p = home.join(".google_authenticator");
        std::fs::write(&p, format!("{SECRET}\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n")).unwrap();
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o400)).unwrap();
    }
    let uid = nix_uid();
    // alice (group staff) and bob exist; anyone else does not.
    let accounts = StaticAccounts(vec![
        Account {
            name: "alice".into(),
            uid,
            gid: uid,
            home: home.clone(),
            shell: "/bin/sh".into(),
            groups: vec!["staff".into()],
        },
        Account {
            name: "bob".into(),
            uid,
            gid: uid,
            home: dir.path().join("bob"),
            shell: "/bin/sh".into(),
            groups: vec![],
        },
    ]);
    Fixture {
        _dir: dir,
        home,
        accounts,
    }
}

fn nix_uid() -> u32 {
    mfa_core::accounts::effective_uid()
}

fn ctx(f: &Fixture, user: &str) -> AuthContext {
    let mut c = AuthContext::new(user, "sshd");
    c.clock = Arc::new(FixedClock(NOW));
    c.accounts = Arc::new(f.accounts.clone());
    c.rhost = Some("198.51.100.4".into());
    c
}

fn code_now() -> String {
    let key = data_encoding::BASE32_NOPAD
        .decode(SECRET.as_bytes())
        .unwrap();
    format_code(hotp(Algorithm::Sha1, &key, time_step(NOW, 30), 6), 6)
}

fn config(src: &str) -> Config {
    Config::parse(Path::new("test.toml"), src).unwrap()
}

fn engine(cfg: Config, users: UsersDb, audit: &Capture) -> Engine {
    let mut e = Engine::with_users(cfg, users).unwrap();
    e.add_audit_sink(Box::new(audit.clone()));
    e
}

fn run(e: &Engine, c: &AuthContext, steps: Vec<Step>) -> Decision {
    let mut conv = ScriptedConversation::new(steps);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let d = rt.block_on(e.authenticate(c, &mut conv));
    conv.finish();
    d
}

#[test]
fn totp_right_then_reused_with_one_audit_record_each() {
    let f = fixture(true);
    let audit = Capture::default();
    let e = engine(config(""), UsersDb::default(), &audit);
    let c = ctx(&f, "alice");
    let d = run(
        &e,
        &c,
        vec![ScriptedConversation::secret(
            "Verification code: ",
            &code_now(),
        )],
    );
    assert_eq!(
        d,
        Decision::Allow {
            factor: Some(FactorKind::Totp),
            fail_open: false
        }
    );
    let d = run(
        &e,
        &c,
        vec![
            ScriptedConversation::secret("Verification code: ", &code_now()),
            Step::ErrorContaining("already used".into()),
        ],
    );
    assert!(
        matches!(&d, Decision::Deny { reason } if reason.contains("reused")),
        "{d:?}"
    );
    let recs = audit.0.lock().unwrap();
    assert_eq!(recs.len(), 2);
    assert_eq!((recs[0].decision, recs[1].decision), ("allow", "deny"));
    assert_eq!(recs[0].factors, vec![FactorKind::Totp]);
    assert_eq!(recs[0].rhost.as_deref(), Some("198.51.100.4"));
    let all = format!("{:?}", *recs);
    assert!(
        !all.contains(&code_now()),
        "the code must never reach the audit log"
    );
}

#[test]
fn unknown_and_unenrolled_users_are_prompted_like_known_ones() {
    let f = fixture(true);
    let audit = Capture::default();
    let e = engine(config(""), UsersDb::default(), &audit);
    // Known user, wrong code.
    let known = run(
        &e,
        &ctx(&f, "alice"),
        vec![ScriptedConversation::secret(
            "Verification code: ",
            "000000",
        )],
    );
    // Unknown user: the same prompt, then deny.
    let unknown = run(
        &e,
        &ctx(&f, "mallory"),
        vec![ScriptedConversation::secret(
            "Verification code: ",
            "000000",
        )],
    );
    assert!(matches!(known, Decision::Deny { .. }));
    assert!(matches!(unknown, Decision::Deny { .. }));
    // Same for a user who exists but has no state file.
    let g = fixture(false);
    let e2 = engine(config(""), UsersDb::default(), &audit);
    let d = run(
        &e2,
        &ctx(&g, "alice"),
        vec![ScriptedConversation::secret(
            "Verification code: ",
            "123456",
        )],
    );
    assert_eq!(
        d,
        Decision::Deny {
            reason: "not enrolled".into()
        }
    );
    // A name that looks like a pattern matches nothing.
    let d = run(
        &e,
        &ctx(&f, "ali*"),
        vec![ScriptedConversation::secret("Verification code: ", "1")],
    );
    assert!(matches!(d, Decision::Deny { .. }));
}

#[test]
fn unenrolled_allow_ignores_and_never_succeeds() {
    let g = fixture(false);
    let audit = Capture::default();
    let e = engine(
        config("[general]\nunenrolled = \"allow\"\n"),
        UsersDb::default(),
        &audit,
    );
    let d = run(&e, &ctx(&g, "alice"), vec![]);
    assert!(matches!(d, Decision::Ignore { .. }), "{d:?}");
    assert_eq!(audit.0.lock().unwrap()[0].decision, "ignore");
}

#[test]
fn failmode_applies_only_to_unavailable_providers() {
    let g = fixture(false);
    let audit = Capture::default();
    let down = || {
        fake(
            FactorKind::Push,
            Err(FactorError::Unavailable("connect refused".into())),
        )
    };
    // secure: deny, with a message.
    let e = Engine::with_users(
        config("[general]\nfailmode = \"secure\"\n"),
        UsersDb::default(),
    )
    .unwrap()
    .with_factor(down())
    .override_factors(vec![FactorKind::Push])
    .unwrap();
    let d = run(
        &e,
        &ctx(&g, "alice"),
        vec![Step::ErrorContaining("cannot be reached".into())],
    );
    assert!(
        matches!(&d, Decision::Deny { reason } if reason.contains("failmode=secure")),
        "{d:?}"
    );
    // safe: allow, marked as fail-open in the audit log.
    let mut e = Engine::with_users(
        config("[general]\nfailmode = \"safe\"\n"),
        UsersDb::default(),
    )
    .unwrap()
    .with_factor(down())
    .override_factors(vec![FactorKind::Push])
    .unwrap();
    e.add_audit_sink(Box::new(audit.clone()));
    let d = run(&e, &ctx(&g, "alice"), vec![]);
    assert_eq!(
        d,
        Decision::Allow {
            factor: None,
            fail_open: true
        }
    );
    assert_eq!(audit.0.lock().unwrap()[0].decision, "allow-failmode");
    // No factor was verified: the record keeps the provider's failure.
    assert!(
        audit.0.lock().unwrap()[0]
            .reason
            .contains("push: connect refused"),
        "{:?}",
        audit.0.lock().unwrap()[0].reason
    );
    // safe does not turn other errors or denials into an allow.
    for result in [
        Err(FactorError::State("corrupt".into())),
        Err(FactorError::Internal("bug".into())),
        Err(FactorError::Config("bad".into())),
        Ok(Outcome::Deny("denied by user".into())),
    ] {
        let e = Engine::with_users(
            config("[general]\nfailmode = \"safe\"\n"),
            UsersDb::default(),
        )
        .unwrap()
        .with_factor(fake(FactorKind::Push, result.clone()))
        .override_factors(vec![FactorKind::Push])
        .unwrap();
        let mut conv = ScriptedConversation::new(vec![]).lenient_messages();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let d = rt.block_on(e.authenticate(&ctx(&g, "alice"), &mut conv));
        assert!(matches!(d, Decision::Deny { .. }), "{result:?} -> {d:?}");
    }
}

#[test]
fn unavailable_provider_falls_back_to_the_next_enrolled_factor() {
    let f = fixture(true);
    let e = Engine::with_users(config(""), UsersDb::default())
        .unwrap()
        .with_factor(fake(
            FactorKind::Push,
            Err(FactorError::Unavailable("timeout".into())),
        ))
        .override_factors(vec![FactorKind::Push, FactorKind::Totp])
        .unwrap();
    let d = run(
        &e,
        &ctx(&f, "alice"),
        vec![ScriptedConversation::secret(
            "Verification code: ",
            &code_now(),
        )],
    );
    assert_eq!(
        d,
        Decision::Allow {
            factor: Some(FactorKind::Totp),
            fail_open: false
        }
    );
}

#[test]
fn first_enrolled_factor_is_used_and_a_deny_is_final() {
    let f = fixture(true);
    // Push not enrolled -> TOTP used.
    let e = Engine::with_users(config(""), UsersDb::default())
        .unwrap()
        .with_factor(fake(FactorKind::Push, Ok(Outcome::NotEnrolled)))
        .override_factors(vec![FactorKind::Push, FactorKind::Totp])
        .unwrap();
    let d = run(
        &e,
        &ctx(&f, "alice"),
        vec![ScriptedConversation::secret(
            "Verification code: ",
            &code_now(),
        )],
    );
    assert!(d.is_allow());
    // Push denies -> no second chance with TOTP.
    let e = Engine::with_users(config(""), UsersDb::default())
        .unwrap()
        .with_factor(fake(
            FactorKind::Push,
            Ok(Outcome::Deny("user said no".into())),
        ))
        .override_factors(vec![FactorKind::Push, FactorKind::Totp])
        .unwrap();
    let d = run(&e, &ctx(&f, "alice"), vec![]);
    assert_eq!(
        d,
        Decision::Deny {
            reason: "push: user said no".into()
        }
    );
}

#[test]
fn require_all_needs_every_enrolled_factor() {
    let f = fixture(true);
    let cfg = config("[policy]\nfactors = [\"push\", \"totp\"]\nrequire = \"all\"\n");
    let ok = Arc::new(Fake {
        kind: FactorKind::Push,
        result: Ok(Outcome::Allow),
        prompt: true,
        hang: false,
    });
    let e = Engine::with_factors(cfg.clone(), UsersDb::default(), vec![ok.clone()]).unwrap();
    let d = run(
        &e,
        &ctx(&f, "alice"),
        vec![
            ScriptedConversation::secret("Push code: ", "x"),
            ScriptedConversation::secret("Verification code: ", "000000"),
        ],
    );
    assert!(
        matches!(d, Decision::Deny { .. }),
        "second factor wrong: {d:?}"
    );
    let e = Engine::with_factors(cfg, UsersDb::default(), vec![ok]).unwrap();
    let d = run(
        &e,
        &ctx(&f, "alice"),
        vec![
            ScriptedConversation::secret("Push code: ", "x"),
            ScriptedConversation::secret("Verification code: ", &code_now()),
        ],
    );
    assert_eq!(
        d,
        Decision::Allow {
            factor: Some(FactorKind::Totp),
            fail_open: false
        }
    );
}

#[test]
fn rules_and_per_user_lists() {
    let f = fixture(true);
    let cfg = config(
        "[policy]\nfactors = [\"totp\"]\n[[policy.rules]]\ngroups = [\"staff\"]\naction = \"skip\"\n[[policy.rules]]\nusers = [\"bob\"]\naction = \"deny\"\n",
    );
    let e = Engine::with_users(cfg, UsersDb::default()).unwrap();
    let d = run(&e, &ctx(&f, "alice"), vec![]);
    assert!(matches!(d, Decision::Ignore { .. }), "{d:?}");
    let d = run(&e, &ctx(&f, "bob"), vec![]);
    assert_eq!(
        d,
        Decision::Deny {
            reason: "deny rule".into()
        }
    );

    let mut users = UsersDb::default();
    users.users.insert(
        "alice".into(),
        UserEntry {
            factors: Some(vec![FactorKind::Push]),
            ..Default::default()
        },
    );
    let e = Engine::with_factors(
        config(""),
        users,
        vec![fake(FactorKind::Push, Ok(Outcome::Allow))],
    )
    .unwrap();
    let d = run(&e, &ctx(&f, "alice"), vec![]);
    assert_eq!(
        d,
        Decision::Allow {
            factor: Some(FactorKind::Push),
            fail_open: false
        }
    );
}

#[test]
fn a_factor_not_built_is_a_config_error_up_front() {
    let err = Engine::with_users(
        config("[policy]\nfactors = [\"push\"]\n"),
        UsersDb::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("push"), "{err}");
}

#[test]
fn the_login_deadline_always_ends_the_attempt() {
    let g = fixture(false);
    let e = Engine::with_users(
        config("[general]\nlogin_timeout_secs = 5\n"),
        UsersDb::default(),
    )
    .unwrap()
    .with_factor(Arc::new(Fake {
        kind: FactorKind::Push,
        result: Ok(Outcome::Allow),
        prompt: false,
        hang: true,
    }))
    .override_factors(vec![FactorKind::Push])
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let mut conv = ScriptedConversation::new(vec![Step::ErrorContaining("timed out".into())]);
    let mut c = ctx(&g, "alice");
    c.deadline = e.config().login_deadline(std::time::Instant::now());
    let d = rt.block_on(e.authenticate(&c, &mut conv));
    // The person was told why the login ended.
    conv.finish();
    assert_eq!(
        d,
        Decision::Deny {
            reason: "login deadline reached".into()
        }
    );
}

#[test]
fn a_hung_up_conversation_denies() {
    let f = fixture(true);
    let e = Engine::with_users(config(""), UsersDb::default()).unwrap();
    let d = run(
        &e,
        &ctx(&f, "alice"),
        vec![Step::AbortAt("Verification code: ".into())],
    );
    assert!(
        matches!(&d, Decision::Deny { reason } if reason.contains("aborted")),
        "{d:?}"
    );
}

#[test]
fn a_corrupt_state_file_denies_without_prompting_and_is_kept() {
    let f = fixture(false);
    let p = f.home.join(".google_authenticator");
    std::fs::write(&p, "not a secret at all!\n").unwrap();
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let e = Engine::with_users(config(""), UsersDb::default()).unwrap();
    let d = run(
        &e,
        &ctx(&f, "alice"),
        vec![Step::ErrorContaining("contact your administrator".into())],
    );
    assert!(
        matches!(&d, Decision::Deny { reason } if reason.contains("corrupt")),
        "{d:?}"
    );
    assert_eq!(
        std::fs::read_to_string(&p).unwrap(),
        "not a secret at all!\n"
    );
}

/// nullok / `unenrolled = allow` steps aside only for a state file that does
/// not exist. One that cannot be looked up (here ENOTDIR: the path runs
/// through a regular file; EACCES and EIO are the same case) must deny, or
/// the password alone would log in.
#[test]
fn a_state_file_that_cannot_be_looked_up_denies_even_with_unenrolled_allow() {
    let g = fixture(false);
    let blocker = g.home.join("not-a-dir");
    std::fs::write(&blocker, "").unwrap();
    let audit = Capture::default();
    let e = engine(
        config(&format!(
            "[general]\nunenrolled = \"allow\"\n[totp]\nsecret = \"{}/ga\"\n",
            blocker.display()
        )),
        UsersDb::default(),
        &audit,
    );
    let d = run(
        &e,
        &ctx(&g, "alice"),
        vec![Step::ErrorContaining("unavailable".into())],
    );
    assert!(matches!(d, Decision::Deny { .. }), "{d:?}");
    assert_eq!(audit.0.lock().unwrap()[0].decision, "deny");
}
