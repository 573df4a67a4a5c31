use super::*;

const COMMON_AUTH: &str = "auth\t[success=1 default=ignore]\tpam_unix.so nullok\n\
    auth\trequisite\t\t\tpam_deny.so\nauth\trequired\t\t\tpam_permit.so\n\
    auth\toptional\t\t\tpam_cap.so \n";

fn root_with(sshd: &str) -> (tempfile::TempDir, Root) {
    let dir = tempfile::tempdir().unwrap();
    let pam = dir.path().join("etc/pam.d");
    std::fs::create_dir_all(&pam).unwrap();
    std::fs::write(pam.join("common-auth"), COMMON_AUTH).unwrap();
    std::fs::write(pam.join("sshd"), sshd).unwrap();
    let root = Root::new(dir.path());
    (dir, root)
}

fn eval(sshd: &str, first: Ret, mfa: Ret) -> Eval {
    let (_d, root) = root_with(sshd);
    let steps = auth_stack(&root, "sshd").unwrap();
    evaluate(&steps, &scenario(first, mfa))
}

#[test]
fn parses_controls_brackets_comments_and_continuations() {
    let text = "auth [success=2 default=ignore] pam_unix.so nullok # note\n\
        -auth optional pam_foo.so a \\\n  b\n@include common-auth\n\
        auth required pam_mfa.so [authtok_prompt=Your code: ] nullok\n";
    let lines = parse(Path::new("x"), text);
    let Line::Rule(r) = &lines[0] else { panic!() };
    assert_eq!(r.module, "pam_unix.so");
    assert_eq!(r.args, ["nullok"]);
    assert_eq!(r.action(Ret::Success), Action::Jump(2));
    assert_eq!(r.action(Ret::AuthErr), Action::Ignore);
    let Line::Rule(r) = &lines[2] else { panic!() };
    assert_eq!((r.ty.as_str(), r.args.len(), r.line), ("auth", 2, 2));
    assert_eq!(lines[3], Line::AtInclude("common-auth".into()));
    let Line::Rule(r) = &lines[4] else { panic!() };
    assert!(r.is_mfa());
    assert_eq!(r.args, ["[authtok_prompt=Your code: ]", "nullok"]);
}

#[test]
fn debian_stack_with_mfa_after_common_auth_is_safe() {
    let sshd = "@include common-auth\nauth required pam_mfa.so\n";
    // Right password, wrong code: denied.
    let e = eval(sshd, Ret::Success, Ret::AuthErr);
    assert!(!e.success && e.reached_mfa);
    // Right password and code: allowed.
    assert!(eval(sshd, Ret::Success, Ret::Success).success);
    // Wrong password: pam_deny (requisite) ends the stack before pam_mfa.
    let e = eval(sshd, Ret::AuthErr, Ret::Success);
    assert!(!e.success && !e.reached_mfa);
    assert_eq!(module_name(&e.cut_by.unwrap().module), "pam_deny.so");
}

#[test]
fn both_required_reaches_mfa_after_a_wrong_password() {
    let sshd = "auth required pam_unix.so\nauth required pam_mfa.so\n";
    let e = eval(sshd, Ret::AuthErr, Ret::Success);
    assert!(!e.success);
    assert!(
        e.reached_mfa,
        "the code is asked although the password was wrong"
    );
}

#[test]
fn sufficient_before_mfa_skips_it() {
    let sshd = "auth sufficient pam_unix.so\nauth required pam_mfa.so\n";
    let e = eval(sshd, Ret::Success, Ret::AuthErr);
    assert!(e.success && !e.reached_mfa);
    assert_eq!(e.cut_by.unwrap().line, 1);
}

#[test]
fn a_jump_over_mfa_is_found() {
    let sshd = "@include common-auth\n\
        auth [success=1 default=ignore] pam_succeed_if.so user ingroup wheel\n\
        auth required pam_mfa.so\n";
    let e = eval(sshd, Ret::Success, Ret::AuthErr);
    assert!(e.success && !e.reached_mfa);
    assert_eq!(e.cut_by.unwrap().line, 2);
}

#[test]
fn optional_mfa_does_not_decide() {
    let sshd = "@include common-auth\nauth optional pam_mfa.so\n";
    let e = eval(sshd, Ret::Success, Ret::AuthErr);
    assert!(e.success && e.reached_mfa);
}

#[test]
fn publickey_stack_has_no_first_factor_before_mfa() {
    let (_d, root) = root_with("auth required pam_mfa.so\nauth required pam_permit.so\n");
    let steps = auth_stack(&root, "sshd").unwrap();
    assert!(!first_factor_before_mfa(&steps));
    // pam_mfa stepping aside (PAM_IGNORE) still lets pam_permit decide...
    assert!(evaluate(&steps, &scenario(Ret::AuthErr, Ret::Ignore)).success);
    // ...and its failure fails the stack.
    assert!(!evaluate(&steps, &scenario(Ret::Success, Ret::AuthErr)).success);
    let (_d, root) = root_with("@include common-auth\nauth required pam_mfa.so\n");
    assert!(first_factor_before_mfa(&auth_stack(&root, "sshd").unwrap()));
}

#[test]
fn only_ignores_fail_the_stack() {
    assert!(!eval("auth required pam_mfa.so\n", Ret::Success, Ret::Ignore).success);
}

#[test]
fn substack_done_does_not_end_the_parent() {
    let (_d, root) = root_with("auth substack pw\nauth required pam_mfa.so\n");
    std::fs::write(
        root.path(Path::new("/etc/pam.d/pw")),
        "auth sufficient pam_unix.so\nauth requisite pam_deny.so\n",
    )
    .unwrap();
    let steps = auth_stack(&root, "sshd").unwrap();
    let e = evaluate(&steps, &scenario(Ret::Success, Ret::AuthErr));
    assert!(!e.success && e.reached_mfa);
    let e = evaluate(&steps, &scenario(Ret::AuthErr, Ret::Success));
    assert!(!e.success);
}

#[test]
fn a_missing_include_is_an_error() {
    let (_d, root) = root_with("@include nowhere\n");
    let e = auth_stack(&root, "sshd").unwrap_err();
    assert!(e.contains("/etc/pam.d/nowhere"), "{e}");
}
