//! mfa-login: the second factor as an sshd `ForceCommand` (or an
//! authorized_keys `command=`), like duo_unix's login_duo.
//!
//! Thin by design: gather argv, environment and real uid; let mfa-core build
//! the request and decide; drop the setgid group; exec the user's shell.
//! Everything it says goes to the terminal or stderr, never stdout, so
//! scp/sftp/rsync/git streams stay byte-clean.

use std::io::IsTerminal;
use std::os::unix::process::CommandExt;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mfa_core::accounts::{Account, SystemAccounts};
use mfa_core::audit::SyslogAudit;
use mfa_core::conversation::noninteractive::NonInteractive;
use mfa_core::conversation::terminal::TerminalConversation;
use mfa_core::login::{LoginArgs, LoginRequest, ShellPlan, SCRUBBED_ENV};
use mfa_core::{Accounts, AuthContext, Config, Conversation, Decision, Engine};

fn fail(msg: &str) -> ExitCode {
    eprintln!("mfa-login: {msg}");
    ExitCode::from(1)
}

fn account_of_uid(uid: u32) -> Option<Account> {
    let name = mfa_core::accounts::name_of_uid(uid)?;
    SystemAccounts.lookup(&name).filter(|a| a.uid == uid)
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

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match LoginArgs::parse(&argv) {
        Ok(a) => a,
        Err(e) => return fail(&e.to_string()),
    };
    let real_uid = nix::unistd::getuid().as_raw();
    let env = |k: &str| std::env::var(k).ok();
    let req = match LoginRequest::from_parts(args, real_uid, &env, &account_of_uid, &|n| {
        SystemAccounts.lookup(n)
    }) {
        Ok(r) => r,
        Err(e) => return fail(&e.to_string()),
    };

    // Read the configuration while we still hold the group that may read it.
    let engine = Config::load_or_default(req.config.as_deref())
        .and_then(Engine::new)
        .map(|mut e| {
            e.add_audit_sink(Box::new(SyslogAudit::new("mfa-login")));
            e
        });
    if let Err(e) = drop_group() {
        return fail(&e);
    }
    let engine = match engine {
        Ok(e) => e,
        Err(e) => {
            eprintln!("mfa-login: configuration error: {e}");
            return ExitCode::from(1);
        }
    };

    let interactive = std::io::stdin().is_terminal() && std::fs::File::open("/dev/tty").is_ok();
    let mut ctx = AuthContext::new(req.account.name.clone(), "mfa-login");
    ctx.rhost = req.rhost.clone();
    ctx.command = req.command.clone();
    ctx.interactive = interactive;
    ctx.tty = interactive.then(|| "/dev/tty".to_owned());
    // The same limit the engine applies; the terminal needs it too, as a
    // blocking read is out of the engine's reach.
    let limit = Duration::from_secs(*engine.config().general.login_timeout_secs.get_ref());
    let mut conv: Box<dyn Conversation> = if interactive {
        Box::new(TerminalConversation::controlling_tty().until(Instant::now() + limit))
    } else {
        Box::new(NonInteractive::new(req.passcode.clone()))
    };

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(&format!("cannot start: {e}")),
    };
    let decision = runtime.block_on(engine.authenticate(&ctx, conv.as_mut()));
    drop(runtime);
    match decision {
        Decision::Allow { .. } => {}
        // `unenrolled = "allow"` or a skip rule: sshd already authenticated
        // the user and there is no further module to defer to, so stepping
        // aside means letting the session start (the audit record says so).
        Decision::Ignore { .. } => {}
        Decision::Deny { .. } => return fail("access denied"),
    }

    let plan = ShellPlan::new(&req.account, req.command.as_deref());
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
