//! The decisions behind `mfa-login` (ForceCommand mode), kept here so the
//! binary only gathers its inputs, calls the engine and execs.
//!
//! - [`LoginRequest::from_parts`]: who is logging in, from where, to run
//!   what, with which passcode — from argv, the environment and the real
//!   uid, never trusting `$USER`.
//! - [`ShellPlan`]: what to exec after success (`shell -c CMD` or a login
//!   shell with argv0 `-name`), exactly as login_duo does.

use std::ffi::OsString;
use std::path::PathBuf;

use zeroize::Zeroizing;

use crate::accounts::{Account, Accounts, SystemAccounts};
use crate::pam::PassMode;
use crate::session::{FrontEnd, LoginVerdict, NetworkRunner, Prepared, Session, SessionError};

/// The environment variable a non-interactive client may send (sshd
/// `AcceptEnv MFA_PASSCODE`) to answer the code prompt. Removed before exec.
pub const PASSCODE_ENV: &str = "MFA_PASSCODE";

/// Variables that must never reach the user's shell from us.
pub const SCRUBBED_ENV: &[&str] = &[PASSCODE_ENV];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    #[error("{0} may only be used by root")]
    RootOnly(&'static str),
    #[error("no account for uid {0}")]
    NoAccount(u32),
    #[error("unknown user '{0}'")]
    UnknownUser(String),
    #[error("usage: mfa-login [-c CONFIG] [-f USER] [COMMAND...]")]
    Usage,
}

/// Parsed `mfa-login [-c CONFIG] [-f USER] [COMMAND...]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoginArgs {
    pub config: Option<PathBuf>,
    pub user: Option<String>,
    pub command: Vec<String>,
}

impl LoginArgs {
    /// Parse argv (without argv0). Options end at the first non-option or
    /// `--`; everything after is the command.
    pub fn parse(args: &[String]) -> Result<Self, LoginError> {
        let mut out = Self::default();
        let mut i = 0;
        while i < args.len() {
            match args[i].as_str() {
                "-c" => {
                    out.config = Some(PathBuf::from(args.get(i + 1).ok_or(LoginError::Usage)?));
                    i += 2;
                }
                "-f" => {
                    out.user = Some(args.get(i + 1).ok_or(LoginError::Usage)?.clone());
                    i += 2;
                }
                "--" => {
                    i += 1;
                    break;
                }
                s if s.starts_with('-') && s.len() > 1 => return Err(LoginError::Usage),
                _ => break,
            }
        }
        out.command = args[i..].to_vec();
        Ok(out)
    }
}

/// Everything mfa-login needs to know about this login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginRequest {
    pub config: Option<PathBuf>,
    pub account: Account,
    pub rhost: Option<String>,
    /// The command to run: argv's, else `SSH_ORIGINAL_COMMAND`.
    pub command: Option<String>,
    pub passcode: Option<Zeroizing<String>>,
}

/// The remote address: first field of `SSH_CONNECTION`
/// ("client_ip client_port server_ip server_port"), else of `SSH_CLIENT`.
pub fn remote_address(ssh_connection: Option<&str>, ssh_client: Option<&str>) -> Option<String> {
    [ssh_connection, ssh_client]
        .into_iter()
        .flatten()
        .filter_map(|v| v.split_whitespace().next())
        .find(|ip| ip.parse::<std::net::IpAddr>().is_ok())
        .map(str::to_owned)
}

impl LoginRequest {
    /// Build the request. `real_uid` is `getuid()`; `env` is looked up by
    /// name; `lookup_uid`/`lookup_name` read the account database.
    pub fn from_parts(
        args: LoginArgs,
        real_uid: u32,
        env: &dyn Fn(&str) -> Option<String>,
        lookup_uid: &dyn Fn(u32) -> Option<Account>,
        lookup_name: &dyn Fn(&str) -> Option<Account>,
    ) -> Result<Self, LoginError> {
        if real_uid != 0 {
            if args.config.is_some() {
                return Err(LoginError::RootOnly("-c"));
            }
            if args.user.is_some() {
                return Err(LoginError::RootOnly("-f"));
            }
        }
        let account = match &args.user {
            Some(name) => lookup_name(name).ok_or_else(|| LoginError::UnknownUser(name.clone()))?,
            None => lookup_uid(real_uid).ok_or(LoginError::NoAccount(real_uid))?,
        };
        let command = if args.command.is_empty() {
            env("SSH_ORIGINAL_COMMAND").filter(|c| !c.is_empty())
        } else {
            Some(args.command.join(" "))
        };
        let rhost = remote_address(
            env("SSH_CONNECTION").as_deref(),
            env("SSH_CLIENT").as_deref(),
        );
        let passcode = env(PASSCODE_ENV)
            .filter(|p| !p.is_empty())
            .map(Zeroizing::new);
        Ok(Self {
            config: args.config,
            account,
            rhost,
            command,
            passcode,
        })
    }
}

/// The account whose uid is `uid`, looked up by name and cross-checked:
/// a name that resolves to another uid (two entries, a case-folding NSS
/// backend) is no account at all, and neither is a database that cannot
/// answer (the session is refused).
pub fn account_of_uid(uid: u32) -> Option<Account> {
    let name = crate::accounts::name_of_uid(uid)?;
    SystemAccounts
        .lookup(&name)
        .ok()
        .flatten()
        .filter(|a| a.uid == uid)
}

impl LoginRequest {
    /// [`LoginRequest::from_parts`] against the system's account database.
    pub fn from_system(
        args: LoginArgs,
        real_uid: u32,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, LoginError> {
        // `-f NAME` (root only): a database error refuses the session
        // like an unknown name.
        Self::from_parts(args, real_uid, env, &account_of_uid, &|n| {
            SystemAccounts.lookup(n).ok().flatten()
        })
    }
}

/// Build mfa-login's login: called while the setgid group can still read
/// provider credentials.
pub fn prepare(
    session: Session,
    fe: &mut dyn FrontEnd,
) -> Result<Prepared<NetworkRunner>, SessionError> {
    session.prepare::<NetworkRunner>(fe)
}

/// Decide mfa-login's session: the whole policy on the network runner,
/// then what to exec (see [`LoginVerdict::new`] for why `Ignore` starts
/// the shell too).
pub fn decide(
    login: Prepared<NetworkRunner>,
    fe: &mut dyn FrontEnd,
    request: &LoginRequest,
) -> Result<LoginVerdict, SessionError> {
    let decision = login.run(fe, PassMode::Prompt)?;
    Ok(LoginVerdict::new(
        &decision,
        &request.account,
        request.command.as_deref(),
    ))
}

/// What mfa-login tells the person when it cannot decide. Anyone who can
/// log in sees it, so it never describes the problem (a configuration
/// error names files and keys, and once echoed a secret's value): the
/// detail, `e` itself, goes to the system log.
pub fn user_message(e: &SessionError) -> &'static str {
    match e {
        SessionError::Config(_) => "configuration error; see the system log",
        SessionError::User(_) | SessionError::Runner(_) | SessionError::NeedsNetwork => {
            "internal error; see the system log"
        }
    }
}

/// What to exec once the factor passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellPlan {
    pub program: PathBuf,
    /// argv, including argv0.
    pub argv: Vec<OsString>,
}

impl ShellPlan {
    /// `shell -c COMMAND`, or a login shell named `-basename`.
    pub fn new(account: &Account, command: Option<&str>) -> Self {
        let shell = if account.shell.as_os_str().is_empty() {
            PathBuf::from("/bin/sh")
        } else {
            account.shell.clone()
        };
        let base = shell
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_else(|| OsString::from("sh"));
        let argv = match command {
            Some(cmd) => vec![base, OsString::from("-c"), OsString::from(cmd)],
            None => {
                let mut login = OsString::from("-");
                login.push(&base);
                vec![login]
            }
        };
        Self {
            program: shell,
            argv,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acct(name: &str, uid: u32, shell: &str) -> Account {
        Account {
            name: name.into(),
            uid,
            gid: uid,
            home: format!("/home/{name}").into(),
            shell: shell.into(),
            groups: vec![],
        }
    }

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_options_and_command() {
        assert_eq!(
            LoginArgs::parse(&args(&["-c", "/x.toml", "-f", "bob", "ls", "-l"])).unwrap(),
            LoginArgs {
                config: Some("/x.toml".into()),
                user: Some("bob".into()),
                command: args(&["ls", "-l"])
            }
        );
        assert_eq!(
            LoginArgs::parse(&args(&["--", "-c"])).unwrap().command,
            args(&["-c"])
        );
        assert_eq!(LoginArgs::parse(&args(&["-c"])), Err(LoginError::Usage));
        assert_eq!(LoginArgs::parse(&args(&["-x"])), Err(LoginError::Usage));
    }

    #[test]
    fn user_comes_from_the_real_uid_not_the_environment() {
        let env = |k: &str| match k {
            "USER" | "LOGNAME" => Some("root".to_owned()),
            "SSH_CONNECTION" => Some("203.0.113.5 51234 192.0.2.1 22".to_owned()),
            "SSH_ORIGINAL_COMMAND" => Some("scp -t /tmp".to_owned()),
            "MFA_PASSCODE" => Some("123456".to_owned()),
            _ => None,
        };
        let by_uid = |u: u32| (u == 1000).then(|| acct("alice", 1000, "/bin/bash"));
        let by_name = |n: &str| (n == "root").then(|| acct("root", 0, "/bin/sh"));
        let r =
            LoginRequest::from_parts(LoginArgs::default(), 1000, &env, &by_uid, &by_name).unwrap();
        assert_eq!(r.account.name, "alice");
        assert_eq!(r.rhost.as_deref(), Some("203.0.113.5"));
        assert_eq!(r.command.as_deref(), Some("scp -t /tmp"));
        assert_eq!(r.passcode.as_deref().map(|s| s.as_str()), Some("123456"));

        // -c and -f are root's only.
        let a = LoginArgs {
            user: Some("root".into()),
            ..Default::default()
        };
        assert_eq!(
            LoginRequest::from_parts(a.clone(), 1000, &env, &by_uid, &by_name),
            Err(LoginError::RootOnly("-f"))
        );
        let c = LoginArgs {
            config: Some("/tmp/evil.toml".into()),
            ..Default::default()
        };
        assert_eq!(
            LoginRequest::from_parts(c, 1000, &env, &by_uid, &by_name),
            Err(LoginError::RootOnly("-c"))
        );
        assert_eq!(
            LoginRequest::from_parts(a, 0, &env, &by_uid, &by_name)
                .unwrap()
                .account
                .name,
            "root"
        );
        assert_eq!(
            LoginRequest::from_parts(LoginArgs::default(), 4242, &env, &by_uid, &by_name),
            Err(LoginError::NoAccount(4242))
        );
    }

    #[test]
    fn argv_command_wins_and_remote_address_is_validated() {
        let env = |k: &str| match k {
            "SSH_ORIGINAL_COMMAND" => Some("rm -rf /".to_owned()),
            "SSH_CONNECTION" => Some("not-an-ip 1 2 3".to_owned()),
            "SSH_CLIENT" => Some("2001:db8::7 5555 22".to_owned()),
            _ => None,
        };
        let by_uid = |_: u32| Some(acct("alice", 1000, "/bin/bash"));
        let by_name = |_: &str| None;
        let a = LoginArgs {
            command: args(&["echo", "hi"]),
            ..Default::default()
        };
        let r = LoginRequest::from_parts(a, 1000, &env, &by_uid, &by_name).unwrap();
        assert_eq!(r.command.as_deref(), Some("echo hi"));
        assert_eq!(r.rhost.as_deref(), Some("2001:db8::7"));
        assert_eq!(r.passcode, None);
    }

    #[test]
    fn shell_plans() {
        let a = acct("alice", 1000, "/bin/bash");
        assert_eq!(
            ShellPlan::new(&a, Some("echo hello")).argv,
            vec![
                OsString::from("bash"),
                OsString::from("-c"),
                OsString::from("echo hello")
            ]
        );
        let login = ShellPlan::new(&a, None);
        assert_eq!(login.program, PathBuf::from("/bin/bash"));
        assert_eq!(login.argv, vec![OsString::from("-bash")]);
        assert_eq!(
            ShellPlan::new(&acct("x", 1, ""), None).program,
            PathBuf::from("/bin/sh")
        );
    }
}
