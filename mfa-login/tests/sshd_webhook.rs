//! The webhook factor through mfa-login under a real sshd: the code goes to
//! the webhook sink (the "team channel"), the person on the terminal types
//! what the channel shows, and the shell starts; without a terminal nothing
//! is posted and the command never runs.
//!
//! Needs root, sshd, ssh and python3 (terminal driver): under CI=true their
//! absence fails the test.

mod support;

use std::io::Write;

use mfa_sim::webhook_sink::{Service, WebhookSink};
use support::*;

fn webhook_config(sink: &WebhookSink) -> String {
    format!(
        "[policy]\nfactors = [\"webhook\"]\n[webhook]\nurl = \"{}\"\npreset = \"slack\"\n",
        sink.url()
    )
}

#[test]
fn the_code_from_the_channel_opens_an_interactive_login() {
    if !prerequisites() {
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sink = rt.block_on(WebhookSink::start(Service::Slack)).unwrap();
    let f = Fixture::with(Options {
        config: webhook_config(&sink),
        ..Options::default()
    });
    // The person reads the channel: the sink writes each code where the
    // terminal driver picks it up.
    let answer = f.dir.path().join("code-from-channel");
    let (channel, to) = (sink.channel(), answer.clone());
    sink.on_message(move |_| {
        if let Some(code) = channel.last_code(8) {
            let mut file = std::fs::File::create(&to).unwrap();
            write!(file, "{code}\r").unwrap();
        }
    });
    let mut ssh = f.ssh(None);
    ssh.arg("-tt");
    let o = on_terminal(
        &ssh,
        &[
            "expect",
            "Code for session ",
            "sendfile",
            answer.to_str().unwrap(),
            "expect",
            "$ ",
            "send",
            "echo MA''RK; exit\r",
        ],
        30,
    );
    let screen = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{}", f.explain(&o));
    assert!(screen.contains("MARK"), "{screen}");
    assert!(
        screen.contains("posted to the team channel"),
        "the person was told where to look: {screen}"
    );
    let got = sink.received();
    assert_eq!(got.len(), 1);
    let text = sink.last_text().unwrap();
    assert!(text.contains(&f.user.name), "{text}");
    assert!(
        text.contains("127.0.0.1"),
        "rhost from SSH_CONNECTION: {text}"
    );
    let code = sink.last_code(8).unwrap();
    assert!(!screen.contains(&code), "the code is not echoed: {screen}");
    assert!(
        !screen.contains("/hooks/"),
        "the URL never reaches the user"
    );
}

#[test]
fn without_a_terminal_nothing_is_posted_and_the_command_never_runs() {
    if !prerequisites() {
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sink = rt.block_on(WebhookSink::start(Service::Slack)).unwrap();
    let f = Fixture::with(Options {
        config: webhook_config(&sink),
        ..Options::default()
    });
    let o = f.ssh(None).arg("echo hello").output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", f.explain(&o));
    assert!(o.stdout.is_empty(), "{}", f.explain(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("needs an interactive login"),
        "{}",
        f.explain(&o)
    );
    assert!(sink.received().is_empty(), "nothing posted");
}
