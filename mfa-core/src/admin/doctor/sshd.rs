//! The effective sshd configuration (`sshd -t`, `sshd -T`) and the
//! ForceCommand blocks of the config files.

use std::path::{Path, PathBuf};

use super::{keyword, Finding, Setup};
use crate::admin::pamstack;
use crate::admin::sshdconf::{self, DROPIN_DIR, MAIN};

/// Stage the root's sshd config, run `sshd -t` and `sshd -T`.
pub(super) fn load(setup: &mut Setup<'_>, out: &mut Vec<Finding>) {
    let sshd = match sshdconf::find_sshd(setup.opts.sshd.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            out.push(Finding::fail(
                "sshd.config",
                e.to_string(),
                "install openssh-server",
            ));
            return;
        }
    };
    let staged = match sshdconf::stage(&setup.opts.root, &[]) {
        Ok(s) => s,
        Err(e) => {
            out.push(Finding::fail(
                "sshd.config",
                e.to_string(),
                "check the sshd configuration",
            ));
            return;
        }
    };
    if let Err(e) = sshdconf::test(&sshd, &staged) {
        out.push(Finding::fail(
            "sshd.config",
            format!("`sshd -t` rejects the configuration: {e}"),
            "fix it before sshd is restarted: a restart would fail and lock everyone out",
        ));
    } else {
        out.push(Finding::ok(
            "sshd.config",
            "`sshd -t` accepts the configuration",
        ));
        match sshdconf::effective(&sshd, &staged, &setup.opts.user) {
            Ok(eff) => setup.effective = Some(eff),
            Err(e) => out.push(Finding::fail(
                "sshd.config",
                format!("`sshd -T` failed: {e}"),
                "check the configuration",
            )),
        }
    }
    setup.staged = Some(staged);
    setup.sshd = Some(sshd);
}

/// PAM mode needs UsePAM, keyboard-interactive, and every method list to
/// run it (else publickey alone, say, skips the PAM stack).
pub(super) fn check_pam_mode(setup: &Setup<'_>, out: &mut Vec<Finding>) {
    let Some(eff) = &setup.effective else {
        return;
    };
    let user = &setup.opts.user;
    if eff.is("usepam", "yes") {
        out.push(Finding::ok("sshd.usepam", "UsePAM yes"));
    } else {
        out.push(Finding::fail(
            "sshd.usepam",
            format!(
                "UsePAM is {} (for {user}): sshd never runs pam_mfa",
                eff.get("usepam").unwrap_or("?")
            ),
            "run `mfa install pam` or set `UsePAM yes`",
        ));
    }
    if eff.is("kbdinteractiveauthentication", "yes") {
        out.push(Finding::ok(
            "sshd.kbdinteractive",
            "KbdInteractiveAuthentication yes",
        ));
    } else {
        out.push(Finding::fail(
            "sshd.kbdinteractive",
            format!("KbdInteractiveAuthentication is off (for {user}): nobody can answer the code prompt"),
            "set `KbdInteractiveAuthentication yes`",
        ));
    }
    let methods = eff.get("authenticationmethods").unwrap_or("any");
    if !sshdconf::every_method_list_has_kbdint(methods) {
        out.push(Finding::fail(
            "sshd.methods",
            format!("AuthenticationMethods {methods} (for {user}): a login that skips keyboard-interactive skips the second factor"),
            "set `AuthenticationMethods keyboard-interactive` (password + code) or \
             `publickey,keyboard-interactive` (key + code)",
        ));
        return;
    }
    let pam_has_first = setup
        .stack
        .as_ref()
        .is_ok_and(|s| pamstack::first_factor_before_mfa(s));
    let all_have_other = methods
        .split_whitespace()
        .all(|l| l.split(',').any(|m| !m.starts_with("keyboard-interactive")));
    if !pam_has_first && !all_have_other {
        out.push(Finding::fail(
            "sshd.methods",
            format!("the PAM stack asks only for the code, and AuthenticationMethods {methods} lets keyboard-interactive alone in: a code without password or key logs in"),
            "use `AuthenticationMethods publickey,keyboard-interactive`, or put the password module back before pam_mfa",
        ));
    } else {
        out.push(Finding::ok(
            "sshd.methods",
            format!("AuthenticationMethods {methods}"),
        ));
    }
}

/// A `ForceCommand ...mfa-login...` and what its block says about forwarding.
#[derive(Debug, Clone)]
pub(super) struct Block {
    pub program: String,
    pub at: String,
    pub disable_forwarding: Option<bool>,
    pub permit_tunnel: Option<bool>,
}

/// The root's sshd config files in the order sshd reads them (drop-ins are
/// included at the top of the main file on Debian).
fn config_files(setup: &Setup<'_>) -> Vec<(PathBuf, String)> {
    let root = &setup.opts.root;
    let mut dropins: Vec<PathBuf> = std::fs::read_dir(root.path(Path::new(DROPIN_DIR)))
        .map(|d| {
            d.flatten()
                .map(|e| Path::new(DROPIN_DIR).join(e.file_name()))
                .filter(|p| p.extension().is_some_and(|x| x == "conf"))
                .collect()
        })
        .unwrap_or_default();
    dropins.sort();
    dropins.push(PathBuf::from(MAIN));
    dropins
        .into_iter()
        .filter_map(|p| Some((p.clone(), std::fs::read_to_string(root.path(&p)).ok()?)))
        .collect()
}

pub(super) fn forcecommand_blocks(setup: &Setup<'_>) -> Vec<Block> {
    let yes = |a: &[&str]| a.first().map(|v| v.eq_ignore_ascii_case("yes"));
    let tunnel = |a: &[&str]| a.first().map(|v| !v.eq_ignore_ascii_case("no"));
    let mut blocks = Vec::new();
    let (mut global_df, mut global_pt) = (None, None);
    for (path, text) in config_files(setup) {
        // The section being read: the global part, then each Match block.
        let mut section = Block {
            program: String::new(),
            at: String::new(),
            disable_forwarding: None,
            permit_tunnel: None,
        };
        let mut in_match = false;
        for (i, line) in text.lines().enumerate() {
            let Some((k, args)) = keyword(line) else {
                continue;
            };
            match k.as_str() {
                "match" => {
                    if !section.program.is_empty() {
                        blocks.push(section.clone());
                    }
                    section.program.clear();
                    section.disable_forwarding = None;
                    section.permit_tunnel = None;
                    in_match = true;
                }
                "forcecommand"
                    if section.program.is_empty()
                        && args.iter().any(|a| a.contains("mfa-login")) =>
                {
                    section.program = args[0].to_owned();
                    section.at = format!("{}:{}", path.display(), i + 1);
                }
                "disableforwarding" if in_match => {
                    section.disable_forwarding = section.disable_forwarding.or(yes(&args));
                }
                "disableforwarding" => global_df = global_df.or(yes(&args)),
                "permittunnel" if in_match => {
                    section.permit_tunnel = section.permit_tunnel.or(tunnel(&args));
                }
                "permittunnel" => global_pt = global_pt.or(tunnel(&args)),
                _ => {}
            }
        }
        if !section.program.is_empty() {
            blocks.push(section);
        }
    }
    for b in &mut blocks {
        b.disable_forwarding = b.disable_forwarding.or(global_df);
        b.permit_tunnel = b.permit_tunnel.or(global_pt);
    }
    blocks
}

/// ForceCommand mode: forwarding must be closed wherever mfa-login is forced.
pub(super) fn check_login_mode(setup: &Setup<'_>, out: &mut Vec<Finding>) {
    let fix =
        "add `DisableForwarding yes` and `PermitTunnel no` to the block (as `mfa install login` \
               writes it), or use the PAM module, which runs before any channel is opened";
    let mut bad = false;
    for b in forcecommand_blocks(setup) {
        if b.disable_forwarding != Some(true) {
            bad = true;
            out.push(Finding::fail(
                "sshd.forwarding",
                format!("{}: ForceCommand {} with forwarding open: `ssh -N -L/-R/-D` never runs it, so a tunnel needs the first factor only", b.at, b.program),
                fix,
            ));
        } else if b.permit_tunnel == Some(true) {
            bad = true;
            out.push(Finding::fail(
                "sshd.forwarding",
                format!("{}: ForceCommand {} with PermitTunnel on", b.at, b.program),
                fix,
            ));
        }
    }
    if let Some(eff) = &setup.effective {
        let forced = eff
            .get("forcecommand")
            .is_some_and(|c| c.contains("mfa-login"));
        if forced && !eff.is("disableforwarding", "yes") {
            bad = true;
            out.push(Finding::fail(
                "sshd.forwarding",
                format!(
                    "for {}: ForceCommand mfa-login but DisableForwarding is not yes",
                    setup.opts.user
                ),
                fix,
            ));
        }
    }
    if !bad {
        out.push(Finding::ok(
            "sshd.forwarding",
            "forwarding is closed wherever mfa-login is forced",
        ));
    }
}
