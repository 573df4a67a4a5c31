//! The built `libpam_mfa.so` loaded by real libpam (through pam_wrapper,
//! which lets a test own the service files) and driven by pamtester, which
//! answers the module's prompts from stdin.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;

use common::*;

const AUTH_FAILURE: &str = "Authentication failure";
const SERVICE_ERROR: &str = "Error in service module";
const SUCCESS: &str = "successfully authenticated";
const PROMPT: &str = "Verification code: ";

#[test]
fn drop_in_line_accepts_the_right_code_and_refuses_its_reuse() {
    let Some((user, svc)) = setup("pwok") else {
        return;
    };
    // Exactly a pam_google_authenticator line with the module swapped.
    svc.add("s", &[mfa_line("required", "")]);
    let code = code(SECRET);
    let r = svc.pamtester("s", &user.name, &["authenticate"], &format!("{code}\n"));
    assert!(r.ok && r.out.contains(SUCCESS), "{r:?}");
    assert_eq!(r.prompts(PROMPT), 1, "{r:?}");
    // Updated in place under the user's identity: still the user's, 0600.
    let meta = std::fs::metadata(user.home.join(".google_authenticator")).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o777), (user.uid, 0o600));

    let r = svc.pamtester("s", &user.name, &["authenticate"], &format!("{code}\n"));
    assert!(!r.ok && r.out.contains(AUTH_FAILURE), "{r:?}");
    assert!(r.out.contains("already used"), "{r:?}");
    // PAM_SILENT: the same refusal without the message.
    let r = svc.pamtester(
        "s",
        &user.name,
        &["authenticate(PAM_SILENT)"],
        &format!("{code}\n"),
    );
    assert!(!r.ok && r.out.contains(AUTH_FAILURE), "{r:?}");
    assert!(!r.out.contains("already used"), "{r:?}");
    // The audit record went to syslog (pam_wrapper does not capture
    // /dev/log datagrams), the decision to pamtester: nothing leaks the code.
    assert!(!r.out.contains(&code[..]), "code echoed: {r:?}");
}

#[test]
fn wrong_code_and_garbage_are_refused() {
    let Some((user, svc)) = setup("pwwr") else {
        return;
    };
    svc.add("s", &[mfa_line("required", "")]);
    for answer in [
        wrong_code(SECRET),
        "abcdef".into(),
        "".into(),
        "1".repeat(300),
    ] {
        let r = svc.pamtester("s", &user.name, &["authenticate"], &format!("{answer}\n"));
        assert!(!r.ok && r.out.contains(AUTH_FAILURE), "{answer:?}: {r:?}");
    }
    // Hanging up at the prompt (EOF) is a failure too.
    let r = svc.pamtester("s", &user.name, &["authenticate"], "");
    assert!(!r.ok, "{r:?}");
}

/// mfa-core reports internal trouble through `tracing`; inside the module
/// that went nowhere. Now WARN and ERROR events reach syslog through
/// pam_syslog (pam_wrapper prints what it captures of LOG_ERR on stderr).
#[test]
fn a_factor_error_reaches_syslog_through_pam_syslog() {
    let Some((user, svc)) = setup("pwev") else {
        return;
    };
    svc.add("s", &[mfa_line("required", "")]);
    // Corrupt the state file in place (owner and mode stay the user's).
    std::fs::write(user.home.join(".google_authenticator"), "not base32 !!!\n").unwrap();
    let r = svc.pamtester("s", &user.name, &["authenticate"], "");
    assert!(!r.ok, "{r:?}");
    assert!(
        r.out.contains("factor error factor=totp"),
        "no factor error in the module's log: {r:?}"
    );
}

#[test]
fn scratch_code_works_once() {
    let Some((user, svc)) = setup("pwsc") else {
        return;
    };
    svc.add("s", &[mfa_line("required", "")]);
    let r = svc.pamtester("s", &user.name, &["authenticate"], &format!("{SCRATCH}\n"));
    assert!(r.ok, "{r:?}");
    let r = svc.pamtester("s", &user.name, &["authenticate"], &format!("{SCRATCH}\n"));
    assert!(!r.ok && r.out.contains(AUTH_FAILURE), "{r:?}");
    let left = std::fs::read_to_string(user.home.join(".google_authenticator")).unwrap();
    assert!(!left.contains(SCRATCH), "scratch code removed");
}

#[test]
fn missing_file_denies_after_a_prompt_unless_nullok() {
    let Some((user, svc)) = setup("pwnf") else {
        return;
    };
    std::fs::remove_file(user.home.join(".google_authenticator")).unwrap();
    // Without nullok: prompted like an enrolled user (no account probing),
    // then refused.
    svc.add("plain", &[mfa_line("required", "")]);
    let r = svc.pamtester("plain", &user.name, &["authenticate"], "123456\n");
    assert!(!r.ok && r.out.contains(AUTH_FAILURE), "{r:?}");
    assert_eq!(r.prompts(PROMPT), 1, "{r:?}");

    // With nullok: PAM_IGNORE, never PAM_SUCCESS. Alone in the stack that
    // cannot log anyone in...
    svc.add("alone", &[mfa_line("required", "nullok")]);
    let r = svc.pamtester("alone", &user.name, &["authenticate"], "");
    assert!(!r.ok, "PAM_IGNORE must not be a success: {r:?}");
    assert_eq!(r.prompts(PROMPT), 0, "{r:?}");
    // ...and with another module saying yes, the login goes through.
    svc.add(
        "permit",
        &[
            mfa_line("required", "nullok"),
            format!("required {PAM_PERMIT}"),
        ],
    );
    let r = svc.pamtester("permit", &user.name, &["authenticate"], "");
    assert!(r.ok, "{r:?}");
    // An account that does not exist is not "not enrolled": it gets the
    // decoy prompt and is refused, nullok or not (issue 12, item 2; as
    // pam_google_authenticator fails there).
    for service in ["permit", "plain"] {
        let r = svc.pamtester(service, "no-such-user-mfa", &["authenticate"], "123456\n");
        assert!(!r.ok && r.out.contains(AUTH_FAILURE), "{service}: {r:?}");
        assert_eq!(r.prompts(PROMPT), 1, "{service}: {r:?}");
    }

    // nullok does not excuse a file that exists but is unusable.
    user.write_file(".google_authenticator", &state_file(), 0o644);
    let r = svc.pamtester("permit", &user.name, &["authenticate"], "");
    assert!(!r.ok && r.out.contains(AUTH_FAILURE), "{r:?}");
}

#[test]
fn unknown_or_malformed_argument_is_a_logged_service_error() {
    let Some((user, svc)) = setup("pwua") else {
        return;
    };
    for (args, logged) in [
        ("nulok", "unknown module argument 'nulok'"),
        ("grace_period=soon", "module argument 'grace_period'"),
        ("factor=sms", "unknown factor 'sms'"),
        ("forward_pass use_first_pass", "conflicts"),
    ] {
        svc.add(
            "s",
            &[mfa_line("required", args), format!("required {PAM_PERMIT}")],
        );
        let r = svc.pamtester(
            "s",
            &user.name,
            &["authenticate"],
            &format!("{}\n", code(SECRET)),
        );
        assert!(!r.ok && r.out.contains(SERVICE_ERROR), "{args}: {r:?}");
        assert!(r.out.contains(logged), "{args}: not logged: {r:?}");
        assert_eq!(r.prompts(PROMPT), 0, "{args}: {r:?}");
    }
}

#[test]
fn unreadable_or_invalid_config_is_a_service_error() {
    let Some((user, svc)) = setup("pwcf") else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let invalid = d.path().join("invalid.toml");
    std::fs::write(&invalid, "[general]\nfailmode = \"open\"\n").unwrap();
    let world = d.path().join("world.toml");
    std::fs::write(
        &world,
        "[push]\nikey = \"DIXXXXXXXXXXXXXXXXXX\"\nskey = \"s\"\nhost = \"api-x.duosecurity.com\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&world, std::fs::Permissions::from_mode(0o644)).unwrap();
    for (path, logged) in [
        (d.path().join("absent.toml"), "absent.toml".to_owned()),
        (d.path().to_owned(), d.path().display().to_string()),
        (invalid.clone(), format!("{}", invalid.display())),
        (world.clone(), format!("{}", world.display())),
    ] {
        svc.add(
            "s",
            &[
                mfa_line("required", &format!("config={}", path.display())),
                format!("required {PAM_PERMIT}"),
            ],
        );
        let r = svc.pamtester(
            "s",
            &user.name,
            &["authenticate"],
            &format!("{}\n", code(SECRET)),
        );
        assert!(!r.ok && r.out.contains(SERVICE_ERROR), "{path:?}: {r:?}");
        assert!(
            r.out.contains(&logged),
            "{path:?}: error must name the file: {r:?}"
        );
    }
    // A valid config file works.
    let good = d.path().join("good.toml");
    std::fs::write(&good, "[totp]\nallowed_perm = \"0600\"\n").unwrap();
    svc.add(
        "s",
        &[mfa_line("required", &format!("config={}", good.display()))],
    );
    let r = svc.pamtester(
        "s",
        &user.name,
        &["authenticate"],
        &format!("{}\n", code(SECRET)),
    );
    assert!(r.ok, "{r:?}");
}

#[test]
fn state_file_is_touched_with_the_users_identity() {
    let Some((user, svc)) = setup("pwid") else {
        return;
    };
    // The file sits in a directory only root may write. As root the update
    // (temp file + rename) would succeed; as the user it cannot, so the
    // module must refuse rather than accept a code it could not record.
    let d = tempfile::tempdir().unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let f = d.path().join("ga");
    std::fs::write(&f, state_file()).unwrap();
    std::os::unix::fs::chown(&f, Some(user.uid), Some(user.gid)).unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    svc.add(
        "s",
        &[mfa_line("required", &format!("secret={}", f.display()))],
    );
    let r = svc.pamtester(
        "s",
        &user.name,
        &["authenticate"],
        &format!("{}\n", code(SECRET)),
    );
    assert!(!r.ok && r.out.contains(AUTH_FAILURE), "{r:?}");
    assert_eq!(
        std::fs::read_to_string(&f).unwrap(),
        state_file(),
        "unchanged"
    );

    // Given the directory, the same login works and the file stays the user's.
    std::os::unix::fs::chown(d.path(), Some(user.uid), Some(user.gid)).unwrap();
    let r = svc.pamtester(
        "s",
        &user.name,
        &["authenticate"],
        &format!("{}\n", code(SECRET)),
    );
    assert!(r.ok, "{r:?}");
    assert_eq!(std::fs::metadata(&f).unwrap().uid(), user.uid);
}

#[test]
fn user_option_keeps_state_files_with_a_service_account() {
    let Some((user, svc)) = setup("pwus") else {
        return;
    };
    let keeper = new_user("pwke");
    // /srv-like directory only the keeper may enter, one file per user.
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("ga");
    std::fs::create_dir(&dir).unwrap();
    std::os::unix::fs::chown(&dir, Some(keeper.uid), Some(keeper.gid)).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let f = dir.join(&user.name);
    std::fs::write(&f, state_file()).unwrap();
    std::os::unix::fs::chown(&f, Some(keeper.uid), Some(keeper.gid)).unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    let secret = format!("secret={}/${{USER}}", dir.display());

    // Owned by the keeper, not the user: refused unless user= names it.
    svc.add("plain", &[mfa_line("required", &secret)]);
    let r = svc.pamtester(
        "plain",
        &user.name,
        &["authenticate"],
        &format!("{}\n", code(SECRET)),
    );
    assert!(!r.ok && r.out.contains(AUTH_FAILURE), "{r:?}");

    svc.add(
        "keeper",
        &[mfa_line(
            "required",
            &format!("{secret} user={}", keeper.name),
        )],
    );
    let r = svc.pamtester(
        "keeper",
        &user.name,
        &["authenticate"],
        &format!("{}\n", code(SECRET)),
    );
    assert!(r.ok, "{r:?}");
    // Replaced as the keeper (the directory is the keeper's alone).
    assert_eq!(std::fs::metadata(&f).unwrap().uid(), keeper.uid);
    assert!(
        std::fs::read_to_string(&f)
            .unwrap()
            .contains("DISALLOW_REUSE "),
        "reuse recorded"
    );

    svc.add(
        "nobody",
        &[mfa_line(
            "required",
            &format!("{secret} user=no-such-keeper-mfa"),
        )],
    );
    let r = svc.pamtester(
        "nobody",
        &user.name,
        &["authenticate"],
        &format!("{}\n", code(SECRET)),
    );
    assert!(!r.ok, "{r:?}");
}

#[test]
fn secret_path_templates_and_prompt_option() {
    let Some((user, svc)) = setup("pwtp") else {
        return;
    };
    let f = user.write_file("ga-file", &state_file(), 0o400);
    svc.add(
        "s",
        &[mfa_line(
            "required",
            "secret=${HOME}/ga-file [authtok_prompt=Your token please: ] allowed_perm=0400",
        )],
    );
    let r = svc.pamtester(
        "s",
        &user.name,
        &["authenticate"],
        &format!("{}\n", code(SECRET)),
    );
    assert!(r.ok, "{r:?}");
    assert!(r.out.contains("Your token please: "), "{r:?}");
    assert!(f.exists());
}

#[test]
fn grace_period_skips_the_code_for_a_recent_address_and_agrees_with_google_authenticator() {
    let Some((user, svc)) = setup("pwgp") else {
        return;
    };
    svc.add("s", &[mfa_line("required", "grace_period=3600")]);
    let r = svc.pamtester_from(
        "192.0.2.7",
        "s",
        &user.name,
        &["authenticate"],
        &format!("{}\n", code(SECRET)),
    );
    assert!(r.ok && r.prompts(PROMPT) == 1, "{r:?}");
    let text = std::fs::read_to_string(user.home.join(".google_authenticator")).unwrap();
    assert!(text.contains("\" LAST0 192.0.2.7 "), "{text}");

    // Same address within the period: no prompt at all.
    let r = svc.pamtester_from("192.0.2.7", "s", &user.name, &["authenticate"], "");
    assert!(r.ok && r.prompts(PROMPT) == 0, "{r:?}");
    // Another address: asked, and nothing typed means no login.
    let r = svc.pamtester_from("192.0.2.8", "s", &user.name, &["authenticate"], "");
    assert!(!r.ok && r.prompts(PROMPT) == 1, "{r:?}");
    // Without grace_period on the line the record is not honoured.
    svc.add("strict", &[mfa_line("required", "")]);
    let r = svc.pamtester_from("192.0.2.7", "strict", &user.name, &["authenticate"], "");
    assert!(!r.ok, "{r:?}");

    // pam_google_authenticator reads the record we wrote.
    if require(
        std::path::Path::new(PAM_GA).exists(),
        "libpam-google-authenticator",
    ) {
        svc.add("ga", &[format!("required {PAM_GA} grace_period=3600")]);
        let r = svc.pamtester_from("192.0.2.7", "ga", &user.name, &["authenticate"], "");
        assert!(r.ok, "{r:?}");
    }
}

#[test]
fn setcred_succeeds_after_authentication() {
    let Some((user, svc)) = setup("pwcr") else {
        return;
    };
    svc.add("s", &[mfa_line("required", "")]);
    std::fs::write(
        svc.path("s"),
        format!(
            "auth required {m}\naccount required {PAM_PERMIT}\n",
            m = module().display()
        ),
    )
    .unwrap();
    let r = svc.pamtester(
        "s",
        &user.name,
        &["authenticate", "setcred"],
        &format!("{}\n", code(SECRET)),
    );
    assert!(r.ok, "{r:?}");
    assert!(
        r.out.contains("credential info has successfully been set"),
        "{r:?}"
    );
}

#[test]
fn built_module_is_nodelete_and_links_no_openssl() {
    if !require(which("readelf"), "readelf (binutils)") {
        return;
    }
    let so = module();
    let o = Command::new("readelf")
        .arg("-dW")
        .arg(&so)
        .output()
        .unwrap();
    let dynamic = String::from_utf8_lossy(&o.stdout);
    let flags1 = dynamic
        .lines()
        .find(|l| l.contains("(FLAGS_1)"))
        .unwrap_or_default();
    assert!(flags1.contains("NODELETE"), "{dynamic}");
    let needed: Vec<&str> = dynamic.lines().filter(|l| l.contains("(NEEDED)")).collect();
    assert!(needed.iter().any(|l| l.contains("libpam.so")), "{needed:?}");
    for bad in ["libssl", "libcrypto", "libgnutls"] {
        assert!(
            !needed.iter().any(|l| l.contains(bad)),
            "{bad} linked: {needed:?}"
        );
    }
    let o = Command::new("readelf")
        .arg("--dyn-syms")
        .arg("-W")
        .arg(&so)
        .output()
        .unwrap();
    let syms = String::from_utf8_lossy(&o.stdout);
    for entry in ["pam_sm_authenticate", "pam_sm_setcred"] {
        assert!(syms.contains(entry), "{entry} not exported");
    }
}

/// The pause after a wrong code (`general.fail_delay_ms`) holds under real
/// libpam: the module returns the failure only after it, a success at once.
#[test]
fn a_wrong_code_is_refused_only_after_the_fail_delay() {
    let Some((user, svc)) = setup("pwdl") else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let cfg = d.path().join("mfa.toml");
    std::fs::write(&cfg, "[general]\nfail_delay_ms = 1500\n").unwrap();
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).unwrap();
    svc.add(
        "s",
        &[mfa_line("required", &format!("config={}", cfg.display()))],
    );
    let delay = std::time::Duration::from_millis(1500);
    let timed = |answer: &str| {
        let start = std::time::Instant::now();
        let r = svc.pamtester("s", &user.name, &["authenticate"], &format!("{answer}\n"));
        (r, start.elapsed())
    };
    let (r, took) = timed(&wrong_code(SECRET));
    assert!(!r.ok && r.out.contains(AUTH_FAILURE), "{r:?}");
    assert!(took >= delay, "refused after {took:?}");
    let (r, took) = timed(&code(SECRET));
    assert!(r.ok, "{r:?}");
    assert!(took < delay, "a success waited {took:?}");
}

/// Issue 12, item 2: a name the account database does not know under that
/// spelling (an upper-case variant of a real user's, which a
/// case-insensitive NSS backend would resolve and the files backend does
/// not) is never "not enrolled": with nullok and another module saying
/// yes, it is prompted and refused, not stepped over (PAM_IGNORE) as it
/// used to be.
#[test]
fn a_name_in_another_spelling_is_never_stepped_over() {
    let Some((user, svc)) = setup("pwcs") else {
        return;
    };
    std::fs::remove_file(user.home.join(".google_authenticator")).unwrap();
    svc.add(
        "permit",
        &[
            mfa_line("required", "nullok"),
            format!("required {PAM_PERMIT}"),
        ],
    );
    // The real spelling, without a file: not enrolled, stepped over.
    let r = svc.pamtester("permit", &user.name, &["authenticate"], "");
    assert!(r.ok && r.prompts(PROMPT) == 0, "{r:?}");
    for name in [user.name.to_uppercase(), "ROOT".to_owned()] {
        let r = svc.pamtester("permit", &name, &["authenticate"], "123456\n");
        assert!(!r.ok && r.out.contains(AUTH_FAILURE), "{name}: {r:?}");
        assert_eq!(r.prompts(PROMPT), 1, "{name}: the decoy prompt: {r:?}");
    }
}
