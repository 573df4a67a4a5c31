//! `mfa install pam|login`: compute the change, refuse anything that could
//! lock the admin out or that sshd would reject, then back up and write.

use std::path::{Path, PathBuf};

use crate::config::{Config, Unenrolled, DEFAULT_CONFIG};

use super::accounts::RootAccounts;
use super::backup::{self, Change};
use super::enrolment::{self, Status};
use super::pamedit::{self, FirstFactor};
use super::pamstack::{self, Ret};
use super::sshdconf::{self, MAIN};
use super::{read_optional, AdminError, Root};

pub const PAM_SERVICE: &str = "/etc/pam.d/sshd";

#[derive(Debug, Clone)]
pub enum Mode {
    /// pam_mfa.so in sshd's PAM stack, keyboard-interactive required.
    Pam { first: FirstFactor, module: String },
    /// mfa-login as ForceCommand for `group` (everyone when `None`).
    Login {
        group: Option<String>,
        program: PathBuf,
    },
}

#[derive(Debug, Clone)]
pub struct Request {
    pub mode: Mode,
    pub root: Root,
    pub sshd: Option<PathBuf>,
    /// mfa's config (logical path); default /etc/mfa/mfa.toml.
    pub config: Option<PathBuf>,
    /// Who runs this (`SUDO_USER`, else the caller).
    pub admin: String,
    pub allow_unenrolled_admin: bool,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub changes: Vec<Change>,
    /// What the admin should know (rollout mode, reload, who is covered).
    pub notes: Vec<String>,
    pub command: String,
}

fn refuse(msg: impl Into<String>) -> AdminError {
    AdminError::Failed(format!("refusing: {}", msg.into()))
}

/// Everything up to, not including, writing: guard, changes, `sshd -t`.
pub fn plan(req: &Request) -> Result<Plan, AdminError> {
    let config = enrolment::load_config(&req.root, req.config.as_deref())
        .map_err(|e| AdminError::Usage(e.to_string()))?;
    // The guard first: a refusal needs no sshd.
    let mut notes = guard(req, &config)?;
    let sshd = sshdconf::find_sshd(req.sshd.as_deref())?;
    let (command, mut changes) = match &req.mode {
        Mode::Pam { first, module } => {
            let mut changes = pam_changes(&req.root, *first, module)?;
            changes.extend(sshd_changes(
                &req.root,
                &sshdconf::pam_block(*first),
                false,
            )?);
            if *first == FirstFactor::Password {
                notes.push(
                    "every SSH login now needs password and code (keyboard-interactive): \
                     users who only have keys need a password, or use --first-factor publickey"
                        .into(),
                );
            }
            ("install pam", changes)
        }
        Mode::Login { group, program } => {
            if !req.root.path(program).is_file() {
                return Err(AdminError::Usage(format!(
                    "{}: mfa-login not found (install the mfa package, or name it with --program)",
                    program.display()
                )));
            }
            let block = sshdconf::login_block(group.as_deref(), program);
            ("install login", sshd_changes(&req.root, &block, true)?)
        }
    };
    changes.retain(|c| c.before.as_deref() != Some(c.after.as_slice()));
    if changes.is_empty() {
        notes.push("already installed: nothing to change".into());
        return Ok(Plan {
            changes,
            notes,
            command: command.into(),
        });
    }
    check_sshd(req, &sshd, &changes)?;
    notes.push(rollout_note(&config, req.config.as_deref()));
    notes.push(
        "sshd was not reloaded: keep this session open, run `mfa doctor`, then reload sshd \
         (or use --reload) and test a login from a second terminal"
            .into(),
    );
    Ok(Plan {
        changes,
        notes,
        command: command.into(),
    })
}

/// Back up every file, then write the changes. Returns the backup's name.
pub fn apply(root: &Root, plan: &Plan) -> Result<String, AdminError> {
    let name = backup::create(root, &plan.command, &plan.changes)?;
    backup::apply(root, &name, &plan.changes)?;
    Ok(name)
}

/// `sshd -t` on the live configuration, then a reload (SIGHUP through
/// systemd, else the pid file): running sessions survive, and a config
/// sshd would reject is never loaded.
pub fn reload_sshd(sshd: Option<&Path>) -> Result<(), AdminError> {
    let sshd = sshdconf::find_sshd(sshd)?;
    let staged = sshdconf::stage(&Root::system(), &[])?;
    sshdconf::test(&sshd, &staged).map_err(|e| {
        refuse(format!(
            "not reloading: `sshd -t` rejects the configuration: {e}"
        ))
    })?;
    for unit in ["ssh.service", "sshd.service"] {
        let ok = std::process::Command::new("systemctl")
            .args(["reload", unit])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Ok(());
        }
    }
    let pid = std::fs::read_to_string("/run/sshd.pid")
        .ok()
        .and_then(|p| p.trim().parse::<i32>().ok())
        .ok_or_else(|| {
            AdminError::Failed("cannot reload sshd: no systemd unit, no /run/sshd.pid".into())
        })?;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGHUP,
    )
    .map_err(|e| AdminError::Failed(format!("cannot reload sshd (pid {pid}): {e}")))
}

/// The lockout guard: the admin must be able to log in afterwards.
fn guard(req: &Request, config: &Config) -> Result<Vec<String>, AdminError> {
    let accounts = RootAccounts::load(&req.root);
    let users =
        enrolment::load_users(&req.root, config).map_err(|e| AdminError::Usage(e.to_string()))?;
    let admin = &req.admin;
    let Ok(Some(account)) = crate::accounts::Accounts::lookup(&accounts, admin) else {
        return Err(refuse(format!(
            "cannot find the account of {admin} (the admin running this)"
        )));
    };
    if let Mode::Login { group: Some(g), .. } = &req.mode {
        if !matches!(
            crate::accounts::Accounts::member_of(&accounts, &account, g),
            Ok(true)
        ) {
            return Ok(vec![format!(
                "{admin} is not in group {g}: your own logins are not covered"
            )]);
        }
    }
    let config_name = req.config.clone().unwrap_or_else(|| DEFAULT_CONFIG.into());
    match enrolment::status(&req.root, config, &users, &accounts, &account) {
        Status::Enrolled(_) | Status::Skipped => Ok(Vec::new()),
        Status::DeniedByRule => Err(refuse(format!(
            "a [[policy.rules]] entry denies {admin}: you would be locked out"
        ))),
        Status::NotEnrolled(_) if config.general.unenrolled == Unenrolled::Allow => Ok(vec![
            format!("{admin} is not enrolled; unenrolled = \"allow\" lets you in on the first factor alone"),
        ]),
        Status::NotEnrolled(_)
            if config.general.unenrolled == Unenrolled::Enroll && enrols_at_login(&req.mode) =>
        {
            Ok(vec![format!(
                "{admin} is not enrolled; unenrolled = \"enroll\" shows you a QR code at your \
                 next login, to confirm with a code from your app"
            )])
        }
        Status::NotEnrolled(_) if req.allow_unenrolled_admin => Ok(vec![format!(
            "{admin} is not enrolled (--allow-unenrolled-admin): keep another way in open"
        )]),
        Status::NotEnrolled(factors) => {
            let names: Vec<&str> = factors.iter().map(|f| f.as_str()).collect();
            Err(refuse(format!(
                "{admin} (the admin running this) is not enrolled in {} and unenrolled is \
                 \"deny\": your next login would be refused. Enrol first (e.g. `mfa totp enroll \
                 --secret-file ~/.google_authenticator` as {admin}), or roll out with \
                 `unenrolled = \"allow\"` in [general] of {} (users not enrolled yet log in \
                 with their first factor only; switch to \"deny\" once `mfa doctor` reports \
                 everyone enrolled), or pass --allow-unenrolled-admin",
                names.join(", "),
                config_name.display()
            )))
        }
    }
}

/// Whether `unenrolled = "enroll"` can enrol anyone under this mode: only
/// where sshd verified a first factor before mfa runs (the key, or the
/// whole login for mfa-login), never after a password in the same stack.
fn enrols_at_login(mode: &Mode) -> bool {
    matches!(
        mode,
        Mode::Login { .. }
            | Mode::Pam {
                first: FirstFactor::Publickey,
                ..
            }
    )
}

fn rollout_note(config: &Config, path: Option<&Path>) -> String {
    let file = path.unwrap_or(Path::new(DEFAULT_CONFIG)).display();
    match config.general.unenrolled {
        Unenrolled::Allow => format!(
            "rollout mode (unenrolled = \"allow\"): users not enrolled yet log in on their \
             first factor; once `mfa doctor` reports nobody unenrolled, set \
             unenrolled = \"deny\" in {file}"
        ),
        Unenrolled::Enroll => format!(
            "rollout mode (unenrolled = \"enroll\"): users not enrolled yet are shown a QR code \
             at login (after their key, or under mfa-login) and must confirm it; with a password \
             as first factor they are refused. Once `mfa doctor` reports nobody unenrolled, set \
             unenrolled = \"deny\" in {file}"
        ),
        Unenrolled::Deny => format!(
            "unenrolled = \"deny\": users not enrolled are refused. To roll out gradually set \
             unenrolled = \"allow\" in [general] of {file}, and \"deny\" once everyone is enrolled"
        ),
    }
}

fn pam_changes(root: &Root, first: FirstFactor, module: &str) -> Result<Vec<Change>, AdminError> {
    if pamstack::find_module(root, module).is_none() {
        return Err(AdminError::Usage(format!(
            "{module}: PAM module not found in {} (install libpam-mfa, or name it with --module): \
             a stack naming a missing module fails every login",
            pamstack::module_dirs().join(", ")
        )));
    }
    let path = Path::new(PAM_SERVICE);
    let before = read_optional(root, path)?
        .ok_or_else(|| AdminError::Usage(format!("{PAM_SERVICE} not found")))?;
    let text = String::from_utf8_lossy(&before).into_owned();
    let Some(after) = pamedit::add_mfa(path, &text, first, module).map_err(refuse)? else {
        return Ok(Vec::new());
    };
    check_stack(root, &after, first)?;
    Ok(vec![Change {
        path: path.to_owned(),
        before: Some(before),
        after: after.into_bytes(),
    }])
}

/// The new stack, evaluated: a wrong code must fail, a right one pass, and
/// (password first) a wrong password must end the stack before pam_mfa.
fn check_stack(root: &Root, new_sshd: &str, first: FirstFactor) -> Result<(), AdminError> {
    let overlay = [(PathBuf::from(PAM_SERVICE), new_sshd.to_owned())];
    let steps = pamstack::auth_stack_with(root, "sshd", &overlay).map_err(refuse)?;
    let at = |e: &pamstack::Eval| {
        e.cut_by
            .as_ref()
            .map(|r| format!(" ({}: `{} ... {}`)", r.at(), r.ty, r.module))
            .unwrap_or_default()
    };
    let wrong_code = pamstack::evaluate(&steps, &pamstack::scenario(Ret::Success, Ret::AuthErr));
    if wrong_code.success {
        return Err(refuse(format!(
            "in the resulting PAM stack a wrong code would still log in{}; fix {PAM_SERVICE} by hand",
            at(&wrong_code)
        )));
    }
    let right = pamstack::evaluate(&steps, &pamstack::scenario(Ret::Success, Ret::Success));
    if !right.success {
        return Err(refuse(format!(
            "in the resulting PAM stack even a right password and code would fail{}",
            at(&right)
        )));
    }
    if first == FirstFactor::Password {
        let wrong_pw = pamstack::evaluate(&steps, &pamstack::scenario(Ret::AuthErr, Ret::Success));
        if wrong_pw.reached_mfa || wrong_pw.success {
            return Err(refuse(format!(
                "in {PAM_SERVICE} a wrong password would still reach pam_mfa (the code would be \
                 asked, a push sent): make the password module `requisite`, or end the password \
                 block with `auth requisite pam_deny.so` as Debian's common-auth does"
            )));
        }
    }
    Ok(())
}

/// The drop-in, or the block in the main file when it has no include.
fn sshd_changes(root: &Root, block: &str, at_end: bool) -> Result<Vec<Change>, AdminError> {
    let main_path = Path::new(MAIN);
    let main = read_optional(root, main_path)?
        .ok_or_else(|| AdminError::Usage(format!("{MAIN} not found")))?;
    let main_text = String::from_utf8_lossy(&main).into_owned();
    if sshdconf::includes_dropins(&main_text) {
        let path = Path::new(sshdconf::DROPIN);
        let after = sshdconf::dropin(block).into_bytes();
        let before = read_optional(root, path)?;
        if before.as_ref().is_some_and(|b| *b != after) {
            return Err(refuse(format!(
                "{} exists with other content: run `mfa uninstall` first",
                path.display()
            )));
        }
        return Ok(vec![Change {
            path: path.to_owned(),
            before,
            after,
        }]);
    }
    if main_text.contains("# BEGIN mfa") {
        return Err(refuse(format!(
            "{MAIN} already holds an mfa block: run `mfa uninstall` first"
        )));
    }
    Ok(vec![Change {
        path: main_path.to_owned(),
        after: sshdconf::add_to_main(&main_text, block, at_end).into_bytes(),
        before: Some(main),
    }])
}

/// `sshd -t` on the result, then `sshd -T`: our settings must be the ones
/// in effect (a value set earlier would win over ours).
fn check_sshd(req: &Request, sshd: &Path, changes: &[Change]) -> Result<(), AdminError> {
    let staged_changes: Vec<(PathBuf, Vec<u8>)> = changes
        .iter()
        .map(|c| (c.path.clone(), c.after.clone()))
        .collect();
    let staged = sshdconf::stage(&req.root, &staged_changes)?;
    sshdconf::test(sshd, &staged).map_err(|e| {
        refuse(format!(
            "`sshd -t` rejects the result, nothing was written: {e}"
        ))
    })?;
    let user = if RootAccounts::load(&req.root)
        .all()
        .iter()
        .any(|a| a.name == req.admin)
    {
        req.admin.as_str()
    } else {
        "root"
    };
    let eff = sshdconf::effective(sshd, &staged, user)
        .map_err(|e| refuse(format!("`sshd -T` failed: {e}")))?;
    let wrong = |key: &str| {
        refuse(format!(
            "after the change sshd would still use `{key} {}`: a value set before the \
             include wins; fix {MAIN} first",
            eff.get(key).unwrap_or("?")
        ))
    };
    match &req.mode {
        Mode::Pam { .. } => {
            if !eff.is("usepam", "yes") {
                return Err(wrong("usepam"));
            }
            if !eff.is("kbdinteractiveauthentication", "yes") {
                return Err(wrong("kbdinteractiveauthentication"));
            }
            if !sshdconf::every_method_list_has_kbdint(
                eff.get("authenticationmethods").unwrap_or("any"),
            ) {
                return Err(wrong("authenticationmethods"));
            }
        }
        Mode::Login {
            group: None,
            program,
        } => {
            if eff.get("forcecommand") != Some(&program.display().to_string()) {
                return Err(wrong("forcecommand"));
            }
            if !eff.is("disableforwarding", "yes") {
                return Err(wrong("disableforwarding"));
            }
        }
        Mode::Login { group: Some(_), .. } => {}
    }
    Ok(())
}

#[cfg(test)]
#[path = "install_tests.rs"]
mod tests;
