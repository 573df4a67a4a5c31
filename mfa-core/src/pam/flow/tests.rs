use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::accounts::{Account, StaticAccounts};
use crate::config::{Config, UsersDb};
use crate::context::FixedClock;
use crate::conversation::scripted::{ScriptedConversation, Step};
use crate::otp::{format_code, hotp, time_step, Algorithm};
use crate::session::PamVerdict;

const SECRET: &str = "JBSWY3DPEHPK3PXP";
const NOW: u64 = 1_700_000_000;
const PROMPT: &str = "Verification code: ";

struct Fixture {
    _dir: tempfile::TempDir,
    ctx: AuthContext,
    engine: Engine,
}

fn fixture() -> Fixture {
    fixture_with("", "")
}

/// The fixture with this config and these extra state-file lines.
fn fixture_with(config: &str, state_lines: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("alice");
    std::fs::create_dir(&home).unwrap();
    let p = home.join(".google_authenticator");
    std::fs::write(
        &p,
        format!("{SECRET}\n\" DISALLOW_REUSE\n{state_lines}\" TOTP_AUTH\n12345678\n"),
    )
    .unwrap();
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let uid = crate::accounts::effective_uid();
    let mut ctx = AuthContext::new("alice", "sshd");
    ctx.clock = Arc::new(FixedClock(NOW));
    ctx.accounts = Arc::new(StaticAccounts(vec![Account {
        name: "alice".into(),
        uid,
        gid: nix::unistd::getegid().as_raw(),
        home,
        shell: "/bin/sh".into(),
        groups: vec![],
    }]));
    let cfg = Config::parse(Path::new("t.toml"), config).unwrap();
    let engine = Engine::with_users(cfg, UsersDb::default()).unwrap();
    Fixture {
        _dir: dir,
        ctx,
        engine,
    }
}

fn code_now() -> String {
    let key = data_encoding::BASE32_NOPAD
        .decode(SECRET.as_bytes())
        .unwrap();
    format_code(hotp(Algorithm::Sha1, &key, time_step(NOW, 30), 6), 6)
}

fn wrong_code() -> String {
    let c = code_now();
    if c == "000000" {
        "111111".into()
    } else {
        "000000".into()
    }
}

#[derive(Default)]
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

fn run(f: &Fixture, steps: Vec<Step>, tok: &mut Tok, pass: PassMode) -> Decision {
    let mut conv = ScriptedConversation::new(steps);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let d = rt.block_on(authenticate(&f.engine, &f.ctx, &mut conv, Some(tok), pass));
    conv.finish();
    d
}

#[test]
fn prompt_mode_asks_for_the_code() {
    let f = fixture();
    let mut tok = Tok::default();
    let d = run(
        &f,
        vec![ScriptedConversation::secret(PROMPT, &code_now())],
        &mut tok,
        PassMode::Prompt,
    );
    assert!(d.is_allow(), "{d:?}");
    assert_eq!(tok.0, None, "PAM_AUTHTOK untouched");
}

#[test]
fn forward_pass_asks_once_and_forwards_the_password() {
    let f = fixture();
    let mut tok = Tok::default();
    let answer = format!("s3cret pw{}", code_now());
    let d = run(
        &f,
        vec![ScriptedConversation::secret(FORWARD_PASS_PROMPT, &answer)],
        &mut tok,
        PassMode::ForwardPass,
    );
    assert!(d.is_allow(), "{d:?}");
    assert_eq!(tok.0.as_deref(), Some("s3cret pw"));

    // A wrong code still forwards the password (the next module judges it)
    // and denies.
    let mut tok = Tok::default();
    let answer = format!("pw{}", wrong_code());
    let d = run(
        &f,
        vec![ScriptedConversation::secret(FORWARD_PASS_PROMPT, &answer)],
        &mut tok,
        PassMode::ForwardPass,
    );
    assert_eq!(PamVerdict::from(&d), PamVerdict::AuthErr, "{d:?}");
    assert_eq!(tok.0.as_deref(), Some("pw"));
}

#[test]
fn forward_pass_hang_up_denies_through_the_engine() {
    let f = fixture();
    let mut tok = Tok::default();
    let d = run(
        &f,
        vec![Step::AbortAt(FORWARD_PASS_PROMPT.into())],
        &mut tok,
        PassMode::ForwardPass,
    );
    assert_eq!(PamVerdict::from(&d), PamVerdict::AuthErr, "{d:?}");
    assert!(
        matches!(&d, Decision::Deny { reason } if reason.starts_with("totp: ")),
        "audited by the engine: {d:?}"
    );
    assert_eq!(tok.0, None, "nothing forwarded");
}

#[test]
fn forward_pass_without_a_code_prompts_for_it() {
    let f = fixture();
    let mut tok = Tok::default();
    let d = run(
        &f,
        vec![
            ScriptedConversation::secret(FORWARD_PASS_PROMPT, "just-a-password"),
            ScriptedConversation::secret(PROMPT, &code_now()),
        ],
        &mut tok,
        PassMode::ForwardPass,
    );
    assert!(d.is_allow(), "{d:?}");
    assert_eq!(tok.0.as_deref(), Some("just-a-password"));
}

#[test]
fn use_first_pass_takes_the_code_from_authtok_and_never_prompts() {
    let f = fixture();
    let mut tok = Tok(Some(format!("pw{}", code_now())));
    let d = run(&f, vec![], &mut tok, PassMode::UseFirstPass);
    assert!(d.is_allow(), "{d:?}");
    assert_eq!(
        tok.0.as_deref(),
        Some("pw"),
        "the code is cut off for the next module"
    );

    for start in [
        None,
        Some("pw".to_owned()),
        Some(format!("pw{}", wrong_code())),
    ] {
        let mut tok = Tok(start.clone());
        let d = run(&f, vec![], &mut tok, PassMode::UseFirstPass);
        assert_eq!(
            PamVerdict::from(&d),
            PamVerdict::AuthErr,
            "{start:?}: {d:?}"
        );
        assert_eq!(tok.0, start, "unchanged on failure");
    }
}

#[test]
fn use_first_pass_accepts_a_scratch_code_alone() {
    let f = fixture();
    let mut tok = Tok(Some("12345678".into()));
    assert!(run(&f, vec![], &mut tok, PassMode::UseFirstPass).is_allow());
    // Used up.
    let mut tok = Tok(Some("12345678".into()));
    assert!(!run(&f, vec![], &mut tok, PassMode::UseFirstPass).is_allow());
}

#[test]
fn try_first_pass_falls_back_to_a_prompt() {
    let f = fixture();
    // No code in the password: prompt.
    let mut tok = Tok(Some("hunter".into()));
    let d = run(
        &f,
        vec![ScriptedConversation::secret(PROMPT, &code_now())],
        &mut tok,
        PassMode::TryFirstPass,
    );
    assert!(d.is_allow(), "{d:?}");
    assert_eq!(tok.0.as_deref(), Some("hunter"));

    // A password that just ends in digits: the guess fails, then a prompt.
    let f = fixture();
    let mut tok = Tok(Some(format!("hunter{}", wrong_code())));
    let d = run(
        &f,
        vec![ScriptedConversation::secret(PROMPT, &code_now())],
        &mut tok,
        PassMode::TryFirstPass,
    );
    assert!(d.is_allow(), "{d:?}");

    // The code in the password verifies: no prompt at all.
    let f = fixture();
    let mut tok = Tok(Some(format!("hunter{}", code_now())));
    let d = run(&f, vec![], &mut tok, PassMode::TryFirstPass);
    assert!(d.is_allow(), "{d:?}");
    assert_eq!(tok.0.as_deref(), Some("hunter"));
}

/// Counts audit records.
#[derive(Clone, Default)]
struct Records(Arc<std::sync::Mutex<Vec<String>>>);

impl crate::audit::AuditSink for Records {
    fn record(&self, record: &crate::audit::AuditRecord) {
        self.0.lock().unwrap().push(record.decision.to_string());
    }
}

/// A password that ends in digits that are not a code: the first try
/// fails, the prompt's code lets the login in, and the login is one audit
/// record (it was two: the failed guess and the prompt).
#[test]
fn try_first_pass_falling_back_to_a_prompt_is_one_audit_record() {
    let mut f = fixture();
    let records = Records::default();
    f.engine.add_audit_sink(Box::new(records.clone()));
    let mut tok = Tok(Some(format!("hunter{}", wrong_code())));
    let d = run(
        &f,
        vec![ScriptedConversation::secret(PROMPT, &code_now())],
        &mut tok,
        PassMode::TryFirstPass,
    );
    assert!(d.is_allow(), "{d:?}");
    assert_eq!(*records.0.lock().unwrap(), ["allow"]);

    // Without a fallback (use_first_pass), the one attempt is recorded.
    let mut f = fixture();
    let records = Records::default();
    f.engine.add_audit_sink(Box::new(records.clone()));
    let mut tok = Tok(Some(format!("hunter{}", wrong_code())));
    assert!(!run(&f, vec![], &mut tok, PassMode::UseFirstPass).is_allow());
    assert_eq!(*records.0.lock().unwrap(), ["deny"]);
}

/// A login allowed without reading the code (a grace period) leaves
/// PAM_AUTHTOK whole: its trailing digits may be the password's own. It
/// was cut on every allow.
#[test]
fn pam_authtok_is_cut_only_when_the_code_was_used() {
    let grace = "[totp]\ngrace_period = 3600\n";
    let recent = format!("\" LAST0 10.0.0.1 {}\n", NOW - 60);
    let mut f = fixture_with(grace, &recent);
    f.ctx.rhost = Some("10.0.0.1".into());
    // Six trailing digits: they look like a code, but none is read.
    let mut tok = Tok(Some("hunter202406".into()));
    let d = run(&f, vec![], &mut tok, PassMode::UseFirstPass);
    assert!(d.is_allow(), "{d:?}");
    assert_eq!(tok.0.as_deref(), Some("hunter202406"), "no code was read");

    // The same login from elsewhere reads the code: the tail is cut.
    let mut f = fixture_with(grace, &recent);
    f.ctx.rhost = Some("192.0.2.9".into());
    let mut tok = Tok(Some(format!("hunter2024{}", code_now())));
    let d = run(&f, vec![], &mut tok, PassMode::UseFirstPass);
    assert!(d.is_allow(), "{d:?}");
    assert_eq!(tok.0.as_deref(), Some("hunter2024"));
}

#[test]
fn decisions_map_to_pam_results() {
    assert_eq!(
        PamVerdict::from(&Decision::Allow {
            factor: None,
            fail_open: true
        }),
        PamVerdict::Success
    );
    assert_eq!(
        PamVerdict::from(&Decision::Deny { reason: "x".into() }),
        PamVerdict::AuthErr
    );
    assert_eq!(
        PamVerdict::from(&Decision::Ignore { reason: "x".into() }),
        PamVerdict::Ignore
    );
}
