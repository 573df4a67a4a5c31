//! sshd's PAM stack, evaluated: can anything get past pam_mfa, does a wrong
//! password still reach it, is `nullok` left on, is the module there.

use super::{Finding, Setup};
use crate::admin::pamstack::{self, Eval, Ret};

fn at(e: &Eval) -> String {
    e.cut_by
        .as_ref()
        .map(|r| format!("{}: `{} ... {}`", r.at(), r.ty, r.module))
        .unwrap_or_else(|| "the stack".to_owned())
}

pub(super) fn check(setup: &Setup<'_>, out: &mut Vec<Finding>) {
    let Ok(steps) = &setup.stack else {
        return;
    };
    let rules = pamstack::mfa_rules(steps);
    if rules.len() > 1 {
        let at: Vec<String> = rules.iter().map(|r| r.at()).collect();
        out.push(Finding::warn(
            "pam.duplicate",
            format!("pam_mfa runs {} times ({}): the code is asked twice", rules.len(), at.join(", ")),
            "keep one: either the pam-auth-update profile (common-auth) or the line `mfa install pam` wrote",
        ));
    }
    let network = setup
        .config
        .as_ref()
        .is_some_and(|c| c.push.is_some() || c.phonecheck.is_some() || c.webhook.is_some());
    for r in &rules {
        match pamstack::find_module(&setup.opts.root, &r.module) {
            None => out.push(Finding::fail(
                "pam.module",
                format!("{}: {} is not installed: PAM fails every login", r.at(), r.module),
                "install libpam-mfa (or fix the path on the line)",
            )),
            // pam_mfa.so loads the network factors from its own directory.
            Some(so) if network && !so.with_file_name("pam_mfa_net.so").is_file() => {
                out.push(Finding::fail(
                    "pam.module",
                    format!(
                        "{}: no pam_mfa_net.so beside {}: logins that need a network factor fail",
                        r.at(),
                        r.module
                    ),
                    "install libpam-mfa (it ships both), or copy libpam_mfa_net.so there as pam_mfa_net.so",
                ))
            }
            Some(_) => {}
        }
        if r.args.iter().any(|a| a == "nullok") {
            out.push(Finding::warn(
                "pam.nullok",
                format!(
                    "{}: nullok lets users without enrolment in on the first factor",
                    r.at()
                ),
                "remove nullok once everyone is enrolled (`mfa doctor` lists who is not)",
            ));
        }
    }

    let wrong_code = pamstack::evaluate(steps, &pamstack::scenario(Ret::Success, Ret::AuthErr));
    if wrong_code.success && !wrong_code.reached_mfa {
        out.push(Finding::fail(
            "pam.bypass",
            format!("{} ends the stack with success before pam_mfa runs: the first factor alone logs in", at(&wrong_code)),
            "remove it or make it `requisite`/`[success=ok default=die]`; exempt users with \
             [[policy.rules]] action = \"skip\" instead",
        ));
    } else if wrong_code.success {
        out.push(Finding::fail(
            "pam.bypass",
            "pam_mfa's failure does not fail the stack (optional/sufficient control): a wrong code logs in",
            "make the pam_mfa line `required`",
        ));
    } else {
        out.push(Finding::ok(
            "pam.bypass",
            "a wrong code fails the PAM stack",
        ));
    }

    if pamstack::first_factor_before_mfa(steps) {
        let wrong_pw = pamstack::evaluate(steps, &pamstack::scenario(Ret::AuthErr, Ret::Success));
        if wrong_pw.success {
            out.push(Finding::fail(
                "pam.wrong-password",
                "a wrong password with a right code logs in",
                "make the password module `required` or `requisite`",
            ));
        } else if wrong_pw.reached_mfa {
            out.push(Finding::warn(
                "pam.wrong-password",
                "a wrong password still reaches pam_mfa: the code is asked (a push or webhook \
                 message sent) before the password is known to be right",
                "end the password block with `auth requisite pam_deny.so` (as Debian's \
                 common-auth does) or make the password module `requisite`",
            ));
        } else {
            out.push(Finding::ok(
                "pam.wrong-password",
                format!(
                    "a wrong password ends the stack before pam_mfa ({})",
                    at(&wrong_pw)
                ),
            ));
        }
    }
}
