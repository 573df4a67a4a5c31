//! pam_google_authenticator's stacking options (forward_pass,
//! use_first_pass, try_first_pass) with the built `libpam_mfa.so` and real
//! pam_unix under libpam (pam_wrapper + pamtester).

// Test helpers outside #[test] functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;

const PROMPT: &str = "Verification code: ";

#[test]
fn forward_pass_asks_once_and_hands_the_password_to_pam_unix() {
    let Some((user, svc)) = setup("pwfp") else {
        return;
    };
    user.set_password("correct horse");
    svc.add(
        "s",
        &[
            mfa_line("required", "forward_pass"),
            format!("required {PAM_UNIX} use_first_pass"),
        ],
    );
    let code = code(SECRET);
    let r = svc.pamtester(
        "s",
        &user.name,
        &["authenticate"],
        &format!("correct horse{code}\n"),
    );
    assert!(r.ok, "{r:?}");
    assert_eq!(r.prompts("Password & verification code: "), 1, "{r:?}");
    assert_eq!(r.prompts("Password:"), 0, "pam_unix did not prompt: {r:?}");

    let other = wrong_code(SECRET);
    for answer in [
        format!("wrong horse{other}"),
        format!("correct horse{other}"),
    ] {
        let r = svc.pamtester("s", &user.name, &["authenticate"], &format!("{answer}\n"));
        assert!(!r.ok, "{answer}: {r:?}");
    }
}

#[test]
fn use_first_pass_takes_the_code_from_the_stacked_password_and_never_prompts() {
    let Some((user, svc)) = setup("pwuf") else {
        return;
    };
    user.set_password("s3cret");
    // pam_set_items puts $PAM_AUTHTOK into the item, like a module that
    // collected "password+code" before us.
    svc.add(
        "s",
        &[
            format!("required {PAM_SET_ITEMS}"),
            mfa_line("required", "use_first_pass"),
            format!("required {PAM_UNIX} use_first_pass"),
        ],
    );
    let tok = format!("s3cret{}", code(SECRET));
    let r = svc.pamtester_env(
        "s",
        &user.name,
        &["authenticate"],
        "",
        &[("PAM_AUTHTOK", &tok)],
    );
    assert!(r.ok, "code consumed, bare password forwarded: {r:?}");
    assert_eq!(r.prompts(PROMPT), 0, "{r:?}");

    // No code in the password: refused without a prompt.
    let r = svc.pamtester_env(
        "s",
        &user.name,
        &["authenticate"],
        "123456\n",
        &[("PAM_AUTHTOK", "s3cret")],
    );
    assert!(!r.ok && r.prompts(PROMPT) == 0, "{r:?}");
}

#[test]
fn try_first_pass_uses_the_stacked_password_or_prompts() {
    let Some((user, svc)) = setup("pwtf") else {
        return;
    };
    user.set_password("pw");
    // pam_unix prompts for the password; our module then finds no code in
    // it and prompts for one.
    svc.add(
        "unix-first",
        &[
            format!("required {PAM_UNIX}"),
            mfa_line("required", "try_first_pass"),
        ],
    );
    let r = svc.pamtester(
        "unix-first",
        &user.name,
        &["authenticate"],
        &format!("pw\n{}\n", code(SECRET)),
    );
    assert!(r.ok, "{r:?}");
    assert_eq!(r.prompts(PROMPT), 1, "{r:?}");

    // A password that carries the code: no prompt at all.
    let svc2 = Services::new();
    svc2.add(
        "s",
        &[
            format!("required {PAM_SET_ITEMS}"),
            mfa_line("required", "try_first_pass"),
            format!("required {PAM_UNIX} use_first_pass"),
        ],
    );
    let user2 = new_user("pwtg");
    user2.enrol();
    user2.set_password("pw");
    let tok = format!("pw{}", code(SECRET));
    let r = svc2.pamtester_env(
        "s",
        &user2.name,
        &["authenticate"],
        "",
        &[("PAM_AUTHTOK", &tok)],
    );
    assert!(r.ok && r.prompts(PROMPT) == 0, "{r:?}");
}
