//! Where `mfa install pam` puts pam_mfa in sshd's PAM service file.

use std::path::Path;

use super::pamstack::{self, Control, Line, Role};

/// What sshd checks before PAM asks for the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstFactor {
    /// keyboard-interactive: the PAM stack asks the password, then the code.
    Password,
    /// sshd checks the key (`AuthenticationMethods
    /// publickey,keyboard-interactive`); PAM asks only for the code.
    Publickey,
}

const MARK: &str = "# mfa install:";

/// The service file with pam_mfa added. `Ok(None)` when an active pam_mfa
/// auth line is already there (nothing to do).
pub fn add_mfa(
    file: &Path,
    text: &str,
    first: FirstFactor,
    module: &str,
) -> Result<Option<String>, String> {
    let parsed = pamstack::parse(file, text);
    let is_auth_rule = |l: &Line| matches!(l, Line::Rule(r) if r.ty == "auth");
    if parsed
        .iter()
        .any(|l| matches!(l, Line::Rule(r) if r.ty == "auth" && r.is_mfa()))
    {
        return Ok(None);
    }
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    let mfa_line = format!("auth       required     {module}");
    match first {
        FirstFactor::Password => {
            // After the password block: the include of the system's auth
            // stack (Debian common-auth, RHEL password-auth/system-auth),
            // whose failure ends with `requisite pam_deny.so`, so a wrong
            // password never reaches pam_mfa. Failing that, after the last
            // auth line; the caller checks the result by evaluation.
            let at = parsed
                .iter()
                .position(is_password_include)
                .or_else(|| parsed.iter().rposition(is_auth_rule))
                .ok_or_else(|| {
                    format!(
                        "{}: no auth line to put the second factor after",
                        file.display()
                    )
                })?;
            out.splice(
                at + 1..at + 1,
                [
                    format!("{MARK} the second factor, after the password"),
                    mfa_line,
                ],
            );
        }
        FirstFactor::Publickey => {
            // The key is the first factor: password modules leave the auth
            // stack (else keyboard-interactive would ask for a password
            // too), and pam_permit lets a user through whom pam_mfa steps
            // aside for (`unenrolled = "allow"`, skip rules): a stack of
            // nothing but PAM_IGNORE fails.
            let first_factor: Vec<usize> = parsed
                .iter()
                .enumerate()
                .filter(|(_, l)| is_password_include(l) || is_first_factor_rule(l))
                .map(|(i, _)| i)
                .collect();
            let at = first_factor
                .first()
                .copied()
                .or_else(|| parsed.iter().rposition(is_auth_rule).map(|i| i + 1))
                .unwrap_or(out.len());
            for &i in first_factor.iter().rev() {
                out[i] = format!("{MARK} publickey is the first factor: {}", lines[i]);
            }
            let insert_at = if first_factor.is_empty() { at } else { at + 1 };
            out.splice(
                insert_at..insert_at,
                [
                    format!("{MARK} the second factor after the public key"),
                    mfa_line,
                    "auth       required     pam_permit.so".to_owned(),
                ],
            );
        }
    }
    let mut result = out.join("\n");
    result.push('\n');
    Ok(Some(result))
}

fn is_password_include(l: &Line) -> bool {
    let auth_file = |f: &str| f.contains("auth");
    match l {
        Line::AtInclude(f) => auth_file(f),
        Line::Rule(r) => {
            r.ty == "auth"
                && matches!(r.control, Control::Include | Control::Substack)
                && auth_file(&r.module)
        }
        Line::Other => false,
    }
}

fn is_first_factor_rule(l: &Line) -> bool {
    matches!(l, Line::Rule(r) if r.ty == "auth"
        && matches!(r.control, Control::Actions(_))
        && pamstack::role(r) == Role::FirstFactor)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN: &str = "# PAM configuration for the Secure Shell service\n\n\
        # Standard Un*x authentication.\n@include common-auth\n\n\
        account    required     pam_nologin.so\n@include common-account\n";

    #[test]
    fn password_mode_goes_right_after_common_auth() {
        let out = add_mfa(
            Path::new("sshd"),
            DEBIAN,
            FirstFactor::Password,
            "pam_mfa.so",
        )
        .unwrap()
        .unwrap();
        let lines: Vec<&str> = out.lines().collect();
        let inc = lines
            .iter()
            .position(|l| *l == "@include common-auth")
            .unwrap();
        assert!(lines[inc + 1].starts_with(MARK));
        assert_eq!(lines[inc + 2], "auth       required     pam_mfa.so");
        assert_eq!(lines.len(), DEBIAN.lines().count() + 2);
    }

    #[test]
    fn publickey_mode_disables_the_password_and_primes_the_stack() {
        let out = add_mfa(
            Path::new("sshd"),
            DEBIAN,
            FirstFactor::Publickey,
            "pam_mfa.so",
        )
        .unwrap()
        .unwrap();
        assert!(out.contains("# mfa install: publickey is the first factor: @include common-auth"));
        let pm = out.find("required     pam_mfa.so").unwrap();
        let pp = out.find("required     pam_permit.so").unwrap();
        assert!(pm < pp);
        assert!(!out.lines().any(|l| l == "@include common-auth"));
    }

    #[test]
    fn an_existing_line_means_nothing_to_do() {
        let text = format!("{DEBIAN}auth required pam_mfa.so\n");
        assert_eq!(
            add_mfa(
                Path::new("sshd"),
                &text,
                FirstFactor::Password,
                "pam_mfa.so"
            )
            .unwrap(),
            None
        );
        // A commented-out one does not count.
        let text = format!("{DEBIAN}#auth required pam_mfa.so\n");
        assert!(add_mfa(
            Path::new("sshd"),
            &text,
            FirstFactor::Password,
            "pam_mfa.so"
        )
        .unwrap()
        .is_some());
    }

    #[test]
    fn no_auth_line_is_refused_in_password_mode() {
        let e = add_mfa(
            Path::new("sshd"),
            "account required pam_nologin.so\n",
            FirstFactor::Password,
            "pam_mfa.so",
        )
        .unwrap_err();
        assert!(e.contains("no auth line"), "{e}");
    }
}
