//! Without a terminal (`ssh host cmd`, scp, git) and without a passcode,
//! mfa-login makes one attempt with the user's non-interactive factor:
//! here Duo push, against the Duo simulator (TLS, signatures checked),
//! through a real sshd. Also shows the context reaching the provider: the
//! user from the real uid and the address from SSH_CONNECTION.

mod support;

use mfa_sim::duo::{Answer, DuoSim, DuoState, IKEY, SKEY};
use support::*;

/// The simulator (its server threads outlive the runtime that started it).
fn duo() -> DuoSim {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(DuoSim::start())
        .unwrap()
}

/// mfa-login with push for the test user. The CA sits in /etc/mfa like the
/// config: mfa-login reads it through its group before dropping it.
fn push_fixture(sim: &DuoSim) -> Fixture {
    let f = Fixture::with(Options {
        config: format!(
            "[policy]\nfactors = [\"push\"]\n[push]\nikey = \"{IKEY}\"\nskey = \"{SKEY}\"\n\
             host = \"{}\"\nca_file = \"/etc/mfa/duo-ca.pem\"\n",
            sim.host()
        ),
        ..Options::default()
    });
    f.write_etc("duo-ca.pem", &std::fs::read(sim.ca_file()).unwrap());
    f.write_etc(
        "users.toml",
        format!("[users.{}]\nfactors = [\"push\"]\n", f.user.name).as_bytes(),
    );
    f
}

#[test]
fn without_a_terminal_one_push_decides() {
    if !prerequisites() {
        return;
    }
    let sim = duo();
    let f = push_fixture(&sim);

    let o = f.ssh(None).arg("echo hello").output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", f.explain(&o));
    assert_eq!(o.stdout, b"hello\n", "messages never reach stdout");
    {
        let state = sim.state();
        assert!(state.rejected.is_empty(), "{:?}", state.rejected);
        let auths = state.requests_to("/auth/v2/auth");
        assert_eq!(auths.len(), 1, "one attempt");
        let params = DuoState::params(auths[0]);
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("username"), Some(f.user.name.as_str()));
        assert_eq!(get("ipaddr"), Some("127.0.0.1"));
        assert_eq!(get("factor"), Some("auto"));
    }

    sim.state().push = Answer::Deny;
    let o = f.ssh(None).arg("echo hello").output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", f.explain(&o));
    assert!(o.stdout.is_empty());
    assert_eq!(sim.state().requests_to("/auth/v2/auth").len(), 2);
}

#[test]
fn on_a_terminal_the_menu_push_and_enter_lead_to_the_shell() {
    if !prerequisites() {
        return;
    }
    let sim = duo();
    let f = push_fixture(&sim);
    let mut ssh = f.ssh(None);
    ssh.arg("-tt");
    let o = on_terminal(
        &ssh,
        &[
            "expect",
            "Passcode or option (1-",
            "send",
            "1\r",
            "expect",
            "Press Enter once you have approved",
            "send",
            "\r",
            "expect",
            "$ ",
            "send",
            "echo MA''RK; exit\r",
        ],
        30,
    );
    assert_eq!(o.status.code(), Some(0), "{}", f.explain(&o));
    let screen = String::from_utf8_lossy(&o.stdout);
    assert!(screen.contains("\nMARK"), "{screen}");
    let state = sim.state();
    let auths = state.requests_to("/auth/v2/auth");
    assert_eq!(auths.len(), 1);
    let params = DuoState::params(auths[0]);
    assert!(
        params.contains(&("factor".into(), "push".into())),
        "{params:?}"
    );
}

#[test]
fn ctrl_c_at_the_menu_denies_cleanly() {
    if !prerequisites() {
        return;
    }
    let sim = duo();
    let f = push_fixture(&sim);
    let marker = f.user.home.join("ran");
    let mut ssh = f.ssh(None);
    ssh.args(["-tt", &format!("touch {}", marker.display())]);
    let o = on_terminal(
        &ssh,
        &["expect", "Passcode or option (1-", "send", "1\x03"],
        30,
    );
    assert_eq!(o.status.code(), Some(1), "{}", f.explain(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("mfa-login: access denied"),
        "{}",
        f.explain(&o)
    );
    assert!(!marker.exists());
    assert!(sim.state().requests_to("/auth/v2/auth").is_empty());
}
