//! Self-tests of the harness: the config it writes, and a real sshd.

use super::*;

fn prerequisites() -> bool {
    require_root()
        && require_binary("sshd").is_some()
        && require_binary("ssh").is_some()
        && require_binary("ssh-keygen").is_some()
}

#[test]
fn test_lines_win_over_defaults_and_match_blocks_go_last() {
    let b = SshdBuilder::new()
        .config("UsePAM yes")
        .config("kbdinteractiveauthentication yes")
        .config("Match User alice")
        .config("    ForceCommand /bin/false");
    let text = b.render(2222, Path::new("/k"));
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.contains(&"ListenAddress 127.0.0.1:2222"));
    assert!(lines.contains(&"HostKey /k"));
    assert!(lines.contains(&"UsePAM yes"));
    assert!(!lines.contains(&"UsePAM no"), "{text}");
    assert!(
        !lines.contains(&"KbdInteractiveAuthentication no"),
        "{text}"
    );
    assert!(lines.contains(&"PasswordAuthentication no"));
    assert_eq!(
        lines[lines.len() - 2..],
        ["Match User alice", "    ForceCommand /bin/false"]
    );
}

#[test]
fn publickey_login_runs_a_command() {
    if !prerequisites() {
        return;
    }
    let user = TestUser::create("mfa-harness").unwrap();
    let mut sshd = SshdBuilder::new().start().unwrap();
    user.authorize_key(&sshd.client_public_key()).unwrap();
    let o = sshd.ssh(&user).arg("echo ok").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "ok\n",
        "{}\n{}",
        String::from_utf8_lossy(&o.stderr),
        sshd.log()
    );
    assert!(sshd.is_running());
    // Without the key authorized the same login is refused.
    let other = TestUser::create("mfa-harness").unwrap();
    let o = sshd.ssh(&other).arg("echo ok").output().unwrap();
    assert_eq!(o.status.code(), Some(255));
    assert!(o.stdout.is_empty());
}

#[test]
fn askpass_answers_a_password_prompt() {
    if !prerequisites() {
        return;
    }
    let user = TestUser::create("mfa-harness").unwrap();
    user.set_password("correct horse").unwrap();
    let sshd = SshdBuilder::new()
        .config("PasswordAuthentication yes")
        .start()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (pw, code, out) in [("correct horse", Some(0), "ok\n"), ("wrong", Some(255), "")] {
        let pass = askpass(dir.path(), &[("password:", pw)]).unwrap();
        let o = sshd
            .ssh_with(&user, "password")
            .arg("echo ok")
            .env("SSH_ASKPASS", &pass)
            .env("SSH_ASKPASS_REQUIRE", "force")
            .env("DISPLAY", ":0")
            .output()
            .unwrap();
        assert_eq!(o.status.code(), code, "{pw}: {}", sshd.log());
        assert_eq!(String::from_utf8_lossy(&o.stdout), out);
    }
    let prompts = std::fs::read_to_string(dir.path().join("askpass.log")).unwrap();
    assert!(prompts.contains("password:"), "{prompts}");
}

#[test]
fn bind_mounts_are_seen_by_sessions_only() {
    if !prerequisites() {
        return;
    }
    let user = TestUser::create("mfa-harness").unwrap();
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    for d in [src.path(), dst.path()] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::write(src.path().join("f"), "from the bind mount\n").unwrap();
    let sshd = SshdBuilder::new()
        .bind(src.path(), dst.path())
        .start()
        .unwrap();
    user.authorize_key(&sshd.client_public_key()).unwrap();
    let o = sshd
        .ssh(&user)
        .arg(format!("cat {}/f", dst.path().display()))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "from the bind mount\n",
        "{}",
        sshd.log()
    );
    assert!(
        !dst.path().join("f").exists(),
        "the host's view is untouched"
    );
}

#[test]
fn groups_and_shells_reach_the_session_and_groups_are_removed() {
    if !prerequisites() {
        return;
    }
    let user = TestUser::create("mfa-harness").unwrap();
    let group = TestGroup::create("mfa-harness").unwrap();
    user.add_to_group(&group.name).unwrap();
    user.set_shell("/bin/bash").unwrap();
    let sshd = SshdBuilder::new().start().unwrap();
    user.authorize_key(&sshd.client_public_key()).unwrap();
    let o = sshd
        .ssh(&user)
        .arg("id -G; echo $BASH_VERSION")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let mut lines = out.lines();
    let gids = lines.next().unwrap_or_default();
    assert!(
        gids.split_whitespace().any(|g| g == group.gid.to_string()),
        "{out}\n{}",
        sshd.log()
    );
    assert!(
        !lines.next().unwrap_or_default().is_empty(),
        "bash ran: {out}"
    );
    let name = group.name.clone();
    drop(group);
    assert!(nix::unistd::Group::from_name(&name).unwrap().is_none());
}
