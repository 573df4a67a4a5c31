//! The engine against a scripted account database: a name it does not
//! know, a database that cannot answer, and a case-folding database that
//! answers with another spelling (SSSD, winbind). "Not enrolled" (which
//! `unenrolled = "allow"` / `nullok` steps over) means only an account
//! that exists and has no state file; every other case is decided.

// Integration tests: helpers outside #[test] fns may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mfa_core::accounts::{Account, AccountError, Accounts};
use mfa_core::config::UsersDb;
use mfa_core::context::FixedClock;
use mfa_core::conversation::scripted::{ScriptedConversation, Step};
use mfa_core::otp::{format_code, hotp, time_step, Algorithm};
use mfa_core::{AuthContext, Config, Decision, Engine, FactorKind};
use mfa_testkit::audit::Capture;

const NOW: u64 = 1_700_000_000;
const SECRET: &str = "JBSWY3DPEHPK3PXP";
const PROMPT: &str = "Verification code: ";

/// `alice` exists (any spelling of it, like a case-insensitive backend),
/// `dave` exists without a state file, `broken` makes the database fail,
/// and nobody else exists.
struct Scripted {
    alice: Account,
    dave: Account,
}

impl Accounts for Scripted {
    fn lookup(&self, name: &str) -> Result<Option<Account>, AccountError> {
        match name.to_ascii_lowercase().as_str() {
            "alice" => Ok(Some(self.alice.clone())),
            "dave" => Ok(Some(self.dave.clone())),
            "broken" => Err(AccountError("Input/output error".into())),
            _ => Ok(None),
        }
    }

    /// The group directory is down for the group `remote` only.
    fn member_of(&self, _account: &Account, group: &str) -> Result<bool, AccountError> {
        match group {
            "remote" => Err(AccountError("Input/output error".into())),
            _ => Ok(false),
        }
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    accounts: Arc<Scripted>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let account = |name: &str| {
        let home: PathBuf = dir.path().join(name);
        std::fs::create_dir(&home).unwrap();
        let uid = mfa_core::accounts::effective_uid();
        Account {
            name: name.into(),
            uid,
            gid: uid,
            home,
            shell: "/bin/sh".into(),
            groups: vec![],
        }
    };
    let alice = account("alice");
    let dave = account("dave");
    let p = alice.home.join(".google_authenticator");
    std::fs::write(&p, format!("{SECRET}\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n")).unwrap();
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    Fixture {
        _dir: dir,
        accounts: Arc::new(Scripted { alice, dave }),
    }
}

fn ctx(f: &Fixture, user: &str) -> AuthContext {
    let mut c = AuthContext::new(user, "sshd");
    c.clock = Arc::new(FixedClock(NOW));
    c.accounts = f.accounts.clone();
    c
}

fn code_now() -> String {
    let key = data_encoding::BASE32_NOPAD
        .decode(SECRET.as_bytes())
        .unwrap();
    format_code(hotp(Algorithm::Sha1, &key, time_step(NOW, 30), 6), 6)
}

fn engine(toml: &str, audit: &Capture) -> Engine {
    let cfg = Config::parse(Path::new("test.toml"), toml).unwrap();
    let mut e = Engine::with_users(cfg, UsersDb::default()).unwrap();
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

fn deny_reason(d: &Decision) -> &str {
    match d {
        Decision::Deny { reason } => reason,
        other => panic!("not a deny: {other:?}"),
    }
}

const NULLOK: &str = "[general]\nunenrolled = \"allow\"\n";

#[test]
fn only_an_existing_account_without_a_file_is_not_enrolled() {
    let f = fixture();
    let audit = Capture::default();
    let e = engine(NULLOK, &audit);
    let d = run(&e, &ctx(&f, "dave"), vec![]);
    assert!(matches!(d, Decision::Ignore { .. }), "{d:?}");
    assert_eq!(audit.0.lock().unwrap()[0].decision, "ignore");
}

#[test]
fn an_unknown_name_gets_the_decoy_and_is_denied_even_with_nullok() {
    let f = fixture();
    for toml in [NULLOK, ""] {
        let audit = Capture::default();
        let e = engine(toml, &audit);
        let d = run(
            &e,
            &ctx(&f, "mallory"),
            vec![ScriptedConversation::secret(PROMPT, "123456")],
        );
        assert_eq!(deny_reason(&d), "unknown user", "{toml:?}");
        let rec = &audit.0.lock().unwrap()[0];
        assert_eq!((rec.decision, rec.factors.len()), ("deny", 0));
    }
}

#[test]
fn a_database_that_cannot_answer_denies_after_the_decoy_even_with_nullok() {
    let f = fixture();
    let audit = Capture::default();
    let e = engine(NULLOK, &audit);
    let d = run(
        &e,
        &ctx(&f, "broken"),
        vec![ScriptedConversation::secret(PROMPT, "123456")],
    );
    let why = deny_reason(&d);
    assert!(
        why.starts_with("account lookup failed") && why.contains("Input/output error"),
        "{why}"
    );
    assert_eq!(audit.0.lock().unwrap()[0].decision, "deny");
}

/// `ALICE` resolved to `alice` is alice's login: her state file, her code,
/// her rules; the audit record names the account and the spelling given.
#[test]
fn another_spelling_is_checked_as_the_canonical_account_never_skipped() {
    let f = fixture();
    let audit = Capture::default();
    let e = engine(NULLOK, &audit);
    let d = run(
        &e,
        &ctx(&f, "ALICE"),
        vec![ScriptedConversation::secret(PROMPT, "000000")],
    );
    assert!(matches!(d, Decision::Deny { .. }), "{d:?}");
    let d = run(
        &e,
        &ctx(&f, "Alice"),
        vec![ScriptedConversation::secret(PROMPT, &code_now())],
    );
    assert_eq!(
        d,
        Decision::Allow {
            factor: Some(FactorKind::Totp),
            fail_open: false
        }
    );
    {
        let recs = audit.0.lock().unwrap();
        assert_eq!(recs[1].user, "alice");
        assert!(
            recs[1].reason.contains("name given as \"Alice\""),
            "{}",
            recs[1].reason
        );
    }
    // The code was recorded in alice's file under the canonical name: the
    // same code under a third spelling is a reuse.
    let d = run(
        &e,
        &ctx(&f, "aLiCe"),
        vec![
            ScriptedConversation::secret(PROMPT, &code_now()),
            Step::ErrorContaining("already used".into()),
        ],
    );
    assert!(deny_reason(&d).contains("reused"), "{d:?}");

    // Rules name accounts: a deny rule for alice catches every spelling.
    let e = engine(
        "[[policy.rules]]\nusers = [\"alice\"]\naction = \"deny\"\n",
        &audit,
    );
    let d = run(&e, &ctx(&f, "ALICE"), vec![]);
    assert_eq!(deny_reason(&d), "deny rule");
}

/// A group lookup that fails is not "not a member": a `deny` (or `skip`)
/// rule for that group denies everyone it cannot rule out, even with
/// nullok, instead of letting them by; an unaffected group's rule still
/// works.
#[test]
fn a_group_lookup_that_fails_denies_instead_of_passing_a_group_rule() {
    let f = fixture();
    for action in ["deny", "skip"] {
        let audit = Capture::default();
        let e = engine(
            &format!(
                "[general]\nunenrolled = \"allow\"\n\
                 [[policy.rules]]\ngroups = [\"remote\"]\naction = \"{action}\"\n"
            ),
            &audit,
        );
        for user in ["dave", "alice"] {
            let d = run(&e, &ctx(&f, user), vec![]);
            let why = deny_reason(&d);
            assert!(
                why.starts_with("account lookup failed") && why.contains("Input/output error"),
                "{action} {user}: {why}"
            );
        }
        assert_eq!(audit.0.lock().unwrap()[0].decision, "deny");
    }
    // The same deny rule on a group that answers: not a member, so dave
    // (not enrolled) is stepped over as before.
    let audit = Capture::default();
    let e = engine(
        "[general]\nunenrolled = \"allow\"\n\
         [[policy.rules]]\ngroups = [\"local\"]\naction = \"deny\"\n",
        &audit,
    );
    let d = run(&e, &ctx(&f, "dave"), vec![]);
    assert!(matches!(d, Decision::Ignore { .. }), "{d:?}");
}
