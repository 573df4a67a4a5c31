//! The PAM flow with a scripted handle, without libpam: what the module
//! logs, asks and answers for each kind of PAM line.

use std::sync::Mutex;

use zeroize::Zeroizing;

use super::*;
use crate::conversation::scripted::{ScriptedConversation, Step};
use crate::conversation::SecretAnswer;
use crate::otp::{format_code, hotp, time_step, Algorithm};
use crate::session::{AuthTok, Io, LocalRunner, NetworkRunner, UserError};

const SECRET: &str = "JBSWY3DPEHPK3PXP";
const PROMPT: &str = "Verification code: ";

/// `PAM_AUTHTOK` of the scripted handle.
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

/// A PAM handle played from a script: the user name it gives, the
/// password it holds, the conversation it expects and the log lines it
/// must see. Dropping it with an expected log line unseen (or, through
/// the scripted conversation, with prompts left) fails the test.
struct ScriptedHandle {
    user: Result<String, UserError>,
    tok: Tok,
    conv: ScriptedConversation,
    expect_logs: Vec<(LogLevel, String)>,
    logs: Mutex<Vec<(LogLevel, String)>>,
}

impl ScriptedHandle {
    fn new(user: &str, steps: Vec<Step>) -> Self {
        Self {
            user: Ok(user.to_owned()),
            tok: Tok::default(),
            conv: ScriptedConversation::new(steps),
            expect_logs: Vec::new(),
            logs: Mutex::new(Vec::new()),
        }
    }

    fn expect_log(mut self, level: LogLevel, containing: &str) -> Self {
        self.expect_logs.push((level, containing.to_owned()));
        self
    }

    fn logged(&self) -> Vec<(LogLevel, String)> {
        self.logs.lock().unwrap().clone()
    }
}

impl Drop for ScriptedHandle {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let logs = self.logged();
        for (level, text) in &self.expect_logs {
            assert!(
                logs.iter().any(|(l, m)| l == level && m.contains(text)),
                "expected a {level:?} log containing {text:?}; logged: {logs:?}"
            );
        }
    }
}

impl FrontEnd for ScriptedHandle {
    fn user(&mut self) -> Result<String, UserError> {
        self.user.clone()
    }
    fn service(&self) -> String {
        "sshd".into()
    }
    fn rhost(&self) -> Option<String> {
        Some("192.0.2.7".into())
    }
    fn tty(&self) -> Option<String> {
        Some("ssh".into())
    }
    fn io(&mut self) -> Io<'_> {
        Io {
            conv: &mut self.conv,
            authtok: Some(&mut self.tok),
        }
    }
    fn log(&self, level: LogLevel, message: &str) {
        self.logs.lock().unwrap().push((level, message.to_owned()));
    }
}

/// A state file for the user running the tests (its owner), reached
/// through `secret=DIR/${USER}`.
struct Enrolled {
    dir: tempfile::TempDir,
    user: String,
}

fn enrolled(options: &str) -> Enrolled {
    let dir = tempfile::tempdir().unwrap();
    let user = crate::accounts::name_of_uid(crate::accounts::effective_uid()).unwrap();
    let p = dir.path().join(&user);
    std::fs::write(&p, format!("{SECRET}\n{options}\" TOTP_AUTH\n")).unwrap();
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    Enrolled { dir, user }
}

impl Enrolled {
    /// A PAM line naming an empty config file (the built-in defaults,
    /// whatever /etc/mfa holds on the test machine).
    fn args(&self, extra: &[&str]) -> Vec<String> {
        let empty = self.dir.path().join("empty.toml");
        std::fs::write(&empty, "").unwrap();
        let mut a = vec![
            format!("config={}", empty.display()),
            format!("secret={}/${{USER}}", self.dir.path().display()),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    }

    /// The same line with a config file that holds `toml`.
    fn args_with_config(&self, toml: &str, extra: &[&str]) -> Vec<String> {
        let cfg = self.dir.path().join("mfa.toml");
        std::fs::write(&cfg, toml).unwrap();
        std::fs::set_permissions(&cfg, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let mut a = self.args(extra);
        a[0] = format!("config={}", cfg.display());
        a
    }
}

fn code_now() -> String {
    let key = data_encoding::BASE32_NOPAD
        .decode(SECRET.as_bytes())
        .unwrap();
    let now = crate::context::SystemClock.now_unix();
    format_code(hotp(Algorithm::Sha1, &key, time_step(now, 30), 6), 6)
}

fn wrong_code() -> String {
    if code_now() == "000000" {
        "111111".into()
    } else {
        "000000".into()
    }
}

use crate::context::Clock;

#[test]
fn an_unknown_argument_is_a_logged_service_error_and_asks_nothing() {
    let mut h = ScriptedHandle::new("nobody", vec![])
        .expect_log(LogLevel::Error, "unknown module argument 'nulok'");
    let v = authenticate_pam::<LocalRunner>(&mut h, &["nulok".to_owned()]);
    assert_eq!(v, PamVerdict::ServiceErr);
}

#[test]
fn a_missing_config_file_is_a_logged_service_error() {
    let mut h =
        ScriptedHandle::new("nobody", vec![]).expect_log(LogLevel::Error, "/nonexistent/mfa.toml");
    let v = authenticate_pam::<LocalRunner>(&mut h, &["config=/nonexistent/mfa.toml".into()]);
    assert_eq!(v, PamVerdict::ServiceErr);
}

#[test]
fn no_user_name_fails_the_login_and_says_why() {
    let e = enrolled("");
    let mut h =
        ScriptedHandle::new("x", vec![]).expect_log(LogLevel::Error, "cannot get the user name");
    h.user = Err(UserError::Unavailable("conversation failed".into()));
    assert_eq!(
        authenticate_pam::<LocalRunner>(&mut h, &e.args(&[])),
        PamVerdict::AuthErr
    );
}

#[test]
fn a_totp_login_runs_in_the_lean_runner() {
    let e = enrolled("");
    let mut h = ScriptedHandle::new(
        &e.user,
        vec![ScriptedConversation::secret(PROMPT, &code_now())],
    );
    assert_eq!(
        authenticate_pam::<LocalRunner>(&mut h, &e.args(&[])),
        PamVerdict::Success
    );
    let mut h = ScriptedHandle::new(
        &e.user,
        vec![ScriptedConversation::secret(PROMPT, &wrong_code())],
    );
    assert_eq!(
        authenticate_pam::<LocalRunner>(&mut h, &e.args(&[])),
        PamVerdict::AuthErr
    );
}

#[test]
fn the_network_runner_runs_totp_the_same_way() {
    let e = enrolled("");
    let mut h = ScriptedHandle::new(
        &e.user,
        vec![ScriptedConversation::secret(PROMPT, &code_now())],
    );
    assert_eq!(
        authenticate_pam::<NetworkRunner>(&mut h, &e.args(&[])),
        PamVerdict::Success
    );
}

#[test]
fn nullok_steps_aside_for_a_user_without_a_file() {
    let e = enrolled("");
    std::fs::remove_file(e.dir.path().join(&e.user)).unwrap();
    let mut h = ScriptedHandle::new(&e.user, vec![]);
    assert_eq!(
        authenticate_pam::<LocalRunner>(&mut h, &e.args(&["nullok"])),
        PamVerdict::Ignore
    );
    // Without nullok the same user is prompted (the decoy) and denied.
    let mut h = ScriptedHandle::new(
        &e.user,
        vec![ScriptedConversation::secret(PROMPT, "123456")],
    );
    assert_eq!(
        authenticate_pam::<LocalRunner>(&mut h, &e.args(&[])),
        PamVerdict::AuthErr
    );
}

#[test]
fn a_network_plan_is_handed_over_before_anything_is_asked() {
    let e = enrolled("");
    let cfg = "[policy]\nfactors = [\"webhook\", \"totp\"]\n\
               [webhook]\nurl = \"http://127.0.0.1:9/hook\"\npreset = \"generic\"\n";
    // An empty script: the lean runner must not prompt, log or audit, and
    // leaves PAM_AUTHTOK alone.
    let mut h = ScriptedHandle::new(&e.user, vec![]);
    h.tok = Tok(Some("hunter2".into()));
    let args = e.args_with_config(cfg, &["debug"]);
    assert_eq!(
        authenticate_pam::<LocalRunner>(&mut h, &args),
        PamVerdict::NeedsNetwork
    );
    assert!(h.logged().is_empty(), "{:?}", h.logged());
    assert_eq!(h.tok.0.as_deref(), Some("hunter2"));
    // factor= on the PAM line narrows the plan back to TOTP: no hand-over.
    let mut h = ScriptedHandle::new(
        &e.user,
        vec![ScriptedConversation::secret(PROMPT, &code_now())],
    );
    let args = e.args_with_config(cfg, &["factor=totp"]);
    assert_eq!(
        authenticate_pam::<LocalRunner>(&mut h, &args),
        PamVerdict::Success
    );
}

#[test]
fn use_first_pass_takes_the_code_from_the_handle_and_passes_the_password_on() {
    let e = enrolled("");
    let mut h = ScriptedHandle::new(&e.user, vec![]);
    h.tok = Tok(Some(format!("hunter2{}", code_now())));
    assert_eq!(
        authenticate_pam::<LocalRunner>(&mut h, &e.args(&["use_first_pass"])),
        PamVerdict::Success
    );
    assert_eq!(h.tok.0.as_deref(), Some("hunter2"));
}

#[test]
fn debug_logs_the_decision_without_the_code() {
    let e = enrolled("");
    let code = code_now();
    let mut h = ScriptedHandle::new(&e.user, vec![ScriptedConversation::secret(PROMPT, &code)])
        .expect_log(LogLevel::Debug, "Allow");
    assert_eq!(
        authenticate_pam::<LocalRunner>(&mut h, &e.args(&["debug"])),
        PamVerdict::Success
    );
    assert!(h.logged().iter().all(|(_, m)| !m.contains(&code)));
}

/// Issue 12, item 4: the pass options hand the code typed with the
/// password to TOTP alone. With a plan that could name any other factor,
/// from any list (policy, a rule, a user's entry, `factor=`), the line is
/// refused as a configuration error naming the argument, in both objects,
/// before anything is asked, sent or stored in PAM_AUTHTOK.
#[test]
fn a_pass_option_with_any_factor_but_totp_is_a_config_error() {
    let e = enrolled("");
    let webhook = "[webhook]\nurl = \"http://127.0.0.1:9/hook\"\npreset = \"generic\"\n";
    let users = e.dir.path().join("users.toml");
    std::fs::write(&users, "[users.someone]\nfactors = [\"webhook\"]\n").unwrap();
    let cases = [
        (
            format!("[policy]\nfactors = [\"totp\", \"webhook\"]\n{webhook}"),
            vec![],
            "policy.factors names webhook",
        ),
        (
            format!("[[policy.rules]]\ngroups = [\"ops\"]\nfactors = [\"webhook\"]\n{webhook}"),
            vec![],
            "policy.rules[0].factors names webhook",
        ),
        (
            format!("[general]\nusers_file = \"{}\"\n{webhook}", users.display()),
            vec![],
            "users.someone.factors names webhook",
        ),
        (
            webhook.to_owned(),
            vec!["factor=webhook"],
            "factor= names webhook",
        ),
    ];
    for option in ["forward_pass", "use_first_pass", "try_first_pass"] {
        for (cfg, extra, names) in &cases {
            let mut extra = extra.clone();
            extra.push(option);
            let args = e.args_with_config(cfg, &extra);
            let expected = format!("module argument '{option}'");
            for lean in [true, false] {
                let mut h = ScriptedHandle::new(&e.user, vec![])
                    .expect_log(LogLevel::Error, &expected)
                    .expect_log(LogLevel::Error, names);
                h.tok = Tok(Some(format!("hunter2{}", code_now())));
                let v = if lean {
                    authenticate_pam::<LocalRunner>(&mut h, &args)
                } else {
                    authenticate_pam::<NetworkRunner>(&mut h, &args)
                };
                assert_eq!(v, PamVerdict::ServiceErr, "{option} {names}");
                assert_eq!(
                    h.tok.0,
                    Some(format!("hunter2{}", code_now())),
                    "PAM_AUTHTOK untouched"
                );
            }
        }
        // factor=totp on the line narrows every plan to TOTP: allowed.
        let args = e.args_with_config(&cases[0].0, &["factor=totp", option]);
        let typed = format!("hunter2{}", code_now());
        let steps = match option {
            "forward_pass" => vec![ScriptedConversation::secret(
                crate::pam::pass::FORWARD_PASS_PROMPT,
                &typed,
            )],
            _ => vec![],
        };
        let mut h = ScriptedHandle::new(&e.user, steps);
        h.tok = Tok(Some(typed));
        let v = authenticate_pam::<LocalRunner>(&mut h, &args);
        assert_eq!(v, PamVerdict::Success, "{option} with factor=totp");
    }
}
