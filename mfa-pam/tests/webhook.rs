//! The webhook factor through the built `libpam_mfa.so` under real libpam
//! (pam_wrapper + pamtester): the module posts the code to the webhook sink
//! (the "team channel") from inside the PAM call, and the answer typed into
//! pamtester is the code the sink received.

// Integration tests: helpers outside #[test] fns may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use mfa_sim::webhook_sink::{Service, WebhookSink, SECRET_PATH};
use mfa_sim::Fault;

const SUCCESS: &str = "successfully authenticated";

/// pamtester with stdin kept open, so the answer can be written once the
/// code has reached the sink.
fn spawn_pamtester(svc: &Services, user: &str) -> Child {
    Command::new("pamtester")
        .args(["-v", &svc.service("s"), user, "authenticate"])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LD_PRELOAD", PAM_WRAPPER)
        .env("PAM_WRAPPER", "1")
        .env("PAM_WRAPPER_SERVICE_DIR", svc.dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn output(child: Child) -> (bool, String) {
    let o = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), text)
}

fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A root-only config naming the sink, and a service using it.
fn service_for(sink: &WebhookSink, dir: &Path) -> Services {
    let config = dir.join("mfa.toml");
    std::fs::write(
        &config,
        format!(
            "[general]\nrequest_timeout_secs = 2\nusers_file = \"{}\"\n\
             [policy]\nfactors = [\"webhook\"]\n\
             [webhook]\nurl = \"{}\"\npreset = \"slack\"\n",
            dir.join("users.toml").display(),
            sink.url()
        ),
    )
    .unwrap();
    std::fs::write(dir.join("users.toml"), "").unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    let svc = Services::new();
    svc.add(
        "s",
        &[mfa_line(
            "required",
            &format!("config={}", config.display()),
        )],
    );
    svc
}

#[test]
fn the_module_posts_the_code_and_accepts_it_from_the_channel() {
    if !prerequisites() {
        return;
    }
    let user = TestUser::create("pwwh");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sink = rt.block_on(WebhookSink::start(Service::Slack)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let svc = service_for(&sink, dir.path());

    let mut child = spawn_pamtester(&svc, &user.name);
    let arrived = wait_until(Duration::from_secs(20), || !sink.received().is_empty());
    if !arrived {
        let _ = child.kill();
        panic!("no message reached the sink: {}", output(child).1);
    }
    let code = sink.last_code(8).unwrap();
    let text = sink.last_text().unwrap();
    assert!(text.contains(&user.name), "{text}");
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{code}").unwrap();
    drop(stdin);
    let (ok, out) = output(child);
    assert!(ok && out.contains(SUCCESS), "{out}");
    assert!(out.contains("posted to the team channel"), "{out}");
    assert_eq!(out.matches("Code for session ").count(), 1, "{out}");
    assert!(!out.contains(&code), "the code is not echoed: {out}");
    assert!(!out.contains(SECRET_PATH), "the URL never shows: {out}");
}

#[test]
fn a_failing_channel_fails_the_call_at_once_without_a_prompt() {
    if !prerequisites() {
        return;
    }
    let user = TestUser::create("pwwf");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sink = rt.block_on(WebhookSink::start(Service::Slack)).unwrap();
    sink.set_fault(Some(Fault::Status(500)));
    let dir = tempfile::tempdir().unwrap();
    let svc = service_for(&sink, dir.path());

    // stdin stays open and silent: a prompt would wait for ever.
    let mut child = spawn_pamtester(&svc, &user.name);
    let finished = wait_until(Duration::from_secs(20), || {
        child.try_wait().unwrap().is_some()
    });
    if !finished {
        let _ = child.kill();
        panic!("left waiting: {}", output(child).1);
    }
    let (ok, out) = output(child);
    assert!(!ok, "{out}");
    assert!(out.contains("could not be sent"), "{out}");
    assert!(!out.contains("Code for session"), "no prompt: {out}");
    assert!(!out.contains(SECRET_PATH), "the URL never shows: {out}");
    assert_eq!(sink.received().len(), 1, "one attempt");
}
