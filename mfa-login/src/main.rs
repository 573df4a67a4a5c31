//! mfa-login: the second factor as an sshd `ForceCommand` (or an
//! authorized_keys `command=`), like duo_unix's login_duo.
//!
//! Thin by design: gather argv, the environment and the real uid; load the
//! session while the setgid group may still read the config; drop the
//! group; let mfa-core decide (`mfa_core::login::decide`); exec what it
//! says. Everything it says goes to the terminal or stderr, never stdout, so
//! scp/sftp/rsync/git streams stay byte-clean.

use std::io::IsTerminal;
use std::os::unix::process::CommandExt;
use std::process::ExitCode;

use mfa_core::audit::{AuditSink, SyslogAudit};
use mfa_core::conversation::noninteractive::NonInteractive;
use mfa_core::conversation::terminal::TerminalConversation;
use mfa_core::login::{decide, prepare, user_message, LoginArgs, LoginRequest, SCRUBBED_ENV};
use mfa_core::session::{FrontEnd, Io, LogLevel, LoginVerdict, SessionError, UserError};
use mfa_core::{Config, Conversation, Session};

const IDENT: &str = "mfa-login";

fn fail(msg: &str) -> ExitCode {
    eprintln!("mfa-login: {msg}");
    ExitCode::from(1)
}

/// The detail to syslog (authpriv), a generic line to the person.
fn fail_session(e: &SessionError) -> ExitCode {
    SyslogAudit::new(IDENT).line(LogLevel::Error, &e.to_string());
    fail(user_message(e))
}

/// Give up the setgid group (real, effective and saved) for good, so the
/// user's shell cannot read the configuration we could.
fn drop_group() -> Result<(), String> {
    let gid = nix::unistd::getgid();
    nix::unistd::setresgid(gid, gid, gid)
        .map_err(|e| format!("cannot drop group privileges: {e}"))?;
    let ids = nix::unistd::getresgid().map_err(|e| e.to_string())?;
    if ids.effective != gid || ids.saved != gid {
        return Err("group privileges still held".into());
    }
    Ok(())
}

/// mfa-login's world as the core's front end.
struct LoginFrontEnd<'a> {
    request: &'a LoginRequest,
    interactive: bool,
    conv: Box<dyn Conversation>,
}

impl FrontEnd for LoginFrontEnd<'_> {
    fn user(&mut self) -> Result<String, UserError> {
        Ok(self.request.account.name.clone())
    }
    fn service(&self) -> String {
        "mfa-login".into()
    }
    fn rhost(&self) -> Option<String> {
        self.request.rhost.clone()
    }
    fn tty(&self) -> Option<String> {
        self.interactive.then(|| "/dev/tty".to_owned())
    }
    fn interactive(&self) -> bool {
        self.interactive
    }
    /// A ForceCommand runs only once sshd has authenticated the user.
    fn first_factor_verified(&self) -> bool {
        true
    }
    fn command(&self) -> Option<String> {
        self.request.command.clone()
    }
    fn io(&mut self) -> Io<'_> {
        Io {
            conv: self.conv.as_mut(),
            authtok: None,
        }
    }
    /// The administrator's log is syslog: stderr goes to the person.
    fn log(&self, level: LogLevel, message: &str) {
        SyslogAudit::new(IDENT).line(level, message);
    }
    fn audit_sink(&self) -> Option<Box<dyn AuditSink>> {
        Some(Box::new(SyslogAudit::new(IDENT)))
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match LoginArgs::parse(&argv) {
        Ok(a) => a,
        Err(e) => return fail(&e.to_string()),
    };
    let real_uid = nix::unistd::getuid().as_raw();
    let env = |k: &str| std::env::var(k).ok();
    let request = match LoginRequest::from_system(args, real_uid, &env) {
        Ok(r) => r,
        Err(e) => return fail(&e.to_string()),
    };

    // Read the configuration and build the factors (provider credentials)
    // while we still hold the group that may read them.
    let session = match Config::load_or_default(request.config.as_deref()).and_then(Session::new) {
        Ok(s) => s,
        Err(e) => {
            let _ = drop_group();
            return fail_session(&SessionError::Config(e));
        }
    };
    let interactive = std::io::stdin().is_terminal() && std::fs::File::open("/dev/tty").is_ok();
    // A blocking terminal read is out of the engine's reach: it gets the
    // session's deadline itself.
    let conv: Box<dyn Conversation> = if interactive {
        Box::new(TerminalConversation::controlling_tty().until(session.deadline()))
    } else {
        Box::new(NonInteractive::new(request.passcode.clone()))
    };
    let mut fe = LoginFrontEnd {
        request: &request,
        interactive,
        conv,
    };
    let login = prepare(session, &mut fe);
    if let Err(e) = drop_group() {
        return fail(&e);
    }
    let verdict = login.and_then(|login| decide(login, &mut fe, &request));
    let plan = match verdict {
        Ok(LoginVerdict::StartShell(plan)) => plan,
        Ok(LoginVerdict::Deny) => return fail("access denied"),
        Err(e) => return fail_session(&e),
    };

    let mut cmd = std::process::Command::new(&plan.program);
    if let Some((argv0, rest)) = plan.argv.split_first() {
        cmd.arg0(argv0).args(rest);
    }
    for var in SCRUBBED_ENV {
        cmd.env_remove(var);
    }
    let err = cmd.exec();
    fail(&format!("cannot run {}: {err}", plan.program.display()))
}
