//! The push factor end to end: the real engine, a scripted conversation
//! and the TLS Duo simulator (which checks every signature and date).
//! Failure classes and failmode are in `push_failmode.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "push/common.rs"]
mod common;

use std::time::Duration;

use common::*;
use mfa_core::conversation::scripted::Step;
use mfa_core::push::Timing;
use mfa_core::Decision;
use mfa_sim::duo::{Answer, DuoSim, DuoState, PreauthScenario};

fn params(sim: &DuoSim, path: &str, i: usize) -> Vec<(String, String)> {
    let st = sim.state();
    DuoState::params(st.requests_to(path)[i])
}

fn param<'a>(p: &'a [(String, String)], k: &str) -> Option<&'a str> {
    p.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn push_approved_allows_with_signed_requests_and_pushinfo() {
    let sim = DuoSim::start().await.unwrap();
    let audit = Capture::default();
    let e = engine(&sim, "secure", "pushinfo = true\n", &audit);
    let mut steps = menu("1");
    steps.extend(pushed());
    let (d, _) = run(&e, &ctx("alice"), steps).await;
    assert_eq!(d, allowed());

    let st = sim.state();
    assert!(st.rejected.is_empty(), "{:?}", st.rejected);
    let paths: Vec<&str> = st
        .requests
        .iter()
        .map(|r| r.path_and_query.split('?').next().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "/auth/v2/ping",
            "/auth/v2/preauth",
            "/auth/v2/auth",
            "/auth/v2/auth_status"
        ]
    );
    // Signed calls carry the same RFC 2822 date twice, corrected to the
    // server's clock (the client's own clock says 2023).
    for r in &st.requests[1..] {
        let date = r.header("date").unwrap();
        assert_eq!(Some(date), r.header("x-duo-date"));
        assert!(date.ends_with(" +0000"), "{date}");
        assert!(r.header("authorization").unwrap().starts_with("Basic "));
    }
    assert!(
        st.requests[0].header("authorization").is_none(),
        "ping is unsigned"
    );
    drop(st);

    let pre = params(&sim, "/auth/v2/preauth", 0);
    assert_eq!(param(&pre, "username"), Some("alice.duo"));
    assert_eq!(param(&pre, "ipaddr"), Some("198.51.100.4"));
    assert_eq!(param(&pre, "hostname"), Some("bastion"));
    let auth = params(&sim, "/auth/v2/auth", 0);
    assert_eq!(param(&auth, "factor"), Some("push"));
    assert_eq!(param(&auth, "device"), Some("DPFZRS9FB0D46QFTM891"));
    assert_eq!(param(&auth, "async"), Some("1"));
    let info: Vec<(String, String)> =
        url::form_urlencoded::parse(param(&auth, "pushinfo").unwrap().as_bytes())
            .into_owned()
            .collect();
    assert_eq!(
        info,
        [
            ("host".into(), "bastion".into()),
            ("user".into(), "alice".into()),
            ("from".into(), "198.51.100.4".into()),
            ("command".into(), "git-upload-pack 'repo'".into()),
        ]
    );
    let recs = audit.0.lock().unwrap();
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].decision, "allow");
    assert_eq!(recs[0].reason, "push verified");
}

#[tokio::test]
async fn push_denied_each_time_uses_up_the_prompts() {
    let sim = DuoSim::start().await.unwrap();
    sim.state().push = Answer::Deny;
    let audit = Capture::default();
    let e = engine(&sim, "safe", "prompts = 2\n", &audit);
    let mut steps = Vec::new();
    for _ in 0..2 {
        steps.extend(menu("1"));
        steps.extend(pushed());
        steps.push(error("Login request denied."));
    }
    let (d, _) = run(&e, &ctx("alice"), steps).await;
    assert!(is_deny(&d, "2 attempts failed (last: push: deny)"), "{d:?}");
    assert_eq!(sim.state().requests_to("/auth/v2/auth").len(), 2);
    assert_eq!(audit.0.lock().unwrap()[0].decision, "deny");
}

#[tokio::test]
async fn push_timed_out_at_duo_denies() {
    let sim = DuoSim::start().await.unwrap();
    sim.state().push = Answer::Timeout;
    let audit = Capture::default();
    let e = engine(&sim, "safe", "prompts = 1\n", &audit);
    let mut steps = menu("1");
    steps.extend(pushed());
    steps.push(error("Login timed out."));
    let (d, _) = run(&e, &ctx("alice"), steps).await;
    assert!(is_deny(&d, "push: timeout"), "{d:?}");
}

#[tokio::test]
async fn fraud_report_denies() {
    let sim = DuoSim::start().await.unwrap();
    sim.state().push = Answer::Fraud;
    let audit = Capture::default();
    let e = engine(&sim, "secure", "prompts = 1\n", &audit);
    let mut steps = menu("1");
    steps.extend(pushed());
    steps.push(error("fraudulent"));
    let (d, _) = run(&e, &ctx("alice"), steps).await;
    assert!(is_deny(&d, "push: fraud"), "{d:?}");
}

#[tokio::test]
async fn long_wait_with_waiting_statuses_then_approved() {
    let sim = DuoSim::start().await.unwrap();
    sim.state().waiting_polls = 6;
    let audit = Capture::default();
    let e = engine(&sim, "secure", "", &audit);
    let mut steps = menu("1");
    steps.extend(pushed());
    let (d, _) = run(&e, &ctx("alice"), steps).await;
    assert_eq!(d, allowed());
    assert_eq!(sim.state().requests_to("/auth/v2/auth_status").len(), 7);
}

#[tokio::test]
async fn our_own_deadline_ends_a_wait_that_never_ends_even_in_safe_mode() {
    let sim = DuoSim::start().await.unwrap();
    sim.state().answer_after = Some(Duration::from_secs(3600));
    let audit = Capture::default();
    let timing = Timing {
        poll_interval: Duration::from_millis(50),
        deadline: Duration::from_millis(600),
    };
    let e = engine_with(config(&sim, "safe", ""), timing, &audit);
    let mut steps = menu("1");
    steps.extend(pushed());
    steps.push(error("Duo authentication failed."));
    let started = std::time::Instant::now();
    let (d, _) = run(&e, &ctx("alice"), steps).await;
    assert!(is_deny(&d, "deadline"), "{d:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(sim.state().requests_to("/auth/v2/auth_status").len() >= 3);
}

#[tokio::test]
async fn phone_call_shows_its_progress_and_allows() {
    let sim = DuoSim::start().await.unwrap();
    sim.state().waiting_polls = 2;
    let audit = Capture::default();
    let e = engine(&sim, "secure", "", &audit);
    let mut steps = menu("2");
    steps.extend(calling());
    steps.push(info("Dialing XXX-XXX-0100..."));
    steps.push(info("Answered. Press any key"));
    let (d, _) = run(&e, &ctx("alice"), steps).await;
    assert_eq!(d, allowed());
    assert_eq!(
        param(&params(&sim, "/auth/v2/auth", 0), "factor"),
        Some("phone")
    );
}

#[tokio::test]
async fn phone_call_not_answered_denies() {
    let sim = DuoSim::start().await.unwrap();
    sim.state().phone = Answer::Timeout;
    let audit = Capture::default();
    let e = engine(&sim, "secure", "prompts = 1\n", &audit);
    let mut steps = menu("2");
    steps.extend(calling());
    steps.push(error("Login timed out."));
    let (d, _) = run(&e, &ctx("alice"), steps).await;
    assert!(is_deny(&d, "phone: timeout"), "{d:?}");
}

#[tokio::test]
async fn sms_refresh_then_a_new_passcode_allows() {
    let sim = DuoSim::start().await.unwrap();
    let audit = Capture::default();
    let e = engine(&sim, "secure", "", &audit);
    // The simulator's first SMS batch is deterministic: 1000001, 1000012, ...
    let mut steps = menu("3");
    steps.push(info("New SMS passcodes sent."));
    steps.extend(menu("1000001"));
    let (d, _) = run(&e, &ctx("alice"), steps).await;
    assert_eq!(d, allowed());
    let st = sim.state();
    assert_eq!(st.sms_batches, 1);
    assert!(!st.sms_codes.contains(&"1000001".to_owned()), "used once");
    drop(st);
    assert_eq!(
        param(&params(&sim, "/auth/v2/auth", 0), "factor"),
        Some("sms")
    );
    let second = params(&sim, "/auth/v2/auth", 1);
    assert_eq!(param(&second, "factor"), Some("passcode"));
    assert_eq!(param(&second, "passcode"), Some("1000001"));
    assert_eq!(
        param(&second, "async"),
        None,
        "passcodes are checked at once"
    );
    let all = format!("{:?}", audit.0.lock().unwrap());
    assert!(
        !all.contains("1000001"),
        "a passcode never reaches the audit log"
    );
}

#[tokio::test]
async fn wrong_passcode_then_right_one() {
    let sim = DuoSim::start().await.unwrap();
    let audit = Capture::default();
    let e = engine(&sim, "secure", "", &audit);
    let mut steps = menu("999999");
    steps.push(error("Incorrect passcode. Please try again."));
    steps.extend(menu("123456"));
    let (d, _) = run(&e, &ctx("alice"), steps).await;
    assert_eq!(d, allowed());
}

#[tokio::test]
async fn invalid_answers_count_as_attempts() {
    let sim = DuoSim::start().await.unwrap();
    let audit = Capture::default();
    let e = engine(&sim, "safe", "", &audit);
    let mut steps = Vec::new();
    for bad in ["", "1; reboot", "x y"] {
        steps.extend(menu(bad));
        steps.push(error("Invalid passcode or option."));
    }
    let (d, _) = run(&e, &ctx("alice"), steps).await;
    assert!(
        is_deny(&d, "3 attempts failed (last: invalid option)"),
        "{d:?}"
    );
    assert!(sim.state().requests_to("/auth/v2/auth").is_empty());
}

#[tokio::test]
async fn autopush_skips_the_menu() {
    let sim = DuoSim::start().await.unwrap();
    let audit = Capture::default();
    let e = engine(&sim, "secure", "autopush = true\n", &audit);
    let (d, _) = run(&e, &ctx("alice"), pushed()).await;
    assert_eq!(d, allowed());
    let auth = params(&sim, "/auth/v2/auth", 0);
    assert_eq!(param(&auth, "factor"), Some("auto"));
    assert_eq!(param(&auth, "device"), Some("auto"));
}

#[tokio::test]
async fn autopush_falls_back_to_the_menu_after_a_failure() {
    let sim = DuoSim::start().await.unwrap();
    sim.state().push = Answer::Deny;
    let audit = Capture::default();
    let e = engine(&sim, "secure", "autopush = true\n", &audit);
    let mut steps = pushed();
    steps.push(error("Login request denied."));
    steps.extend(menu("123456"));
    let (d, _) = run(&e, &ctx("alice"), steps).await;
    assert_eq!(d, allowed());
}

#[tokio::test]
async fn without_a_tty_one_attempt_with_the_default_factor_and_no_menu() {
    let sim = DuoSim::start().await.unwrap();
    let audit = Capture::default();
    let e = engine(&sim, "secure", "", &audit);
    let mut c = ctx("alice");
    c.interactive = false;
    let (d, _) = run(&e, &c, vec![info("Pushed a login request")]).await;
    assert_eq!(d, allowed());
    assert_eq!(
        param(&params(&sim, "/auth/v2/auth", 0), "factor"),
        Some("auto")
    );

    sim.state().push = Answer::Deny;
    let (d, _) = run(
        &e,
        &c,
        vec![
            info("Pushed a login request"),
            error("Login request denied."),
        ],
    )
    .await;
    assert!(is_deny(&d, "auto: deny"), "{d:?}");
    assert_eq!(
        sim.state().requests_to("/auth/v2/auth").len(),
        2,
        "one attempt"
    );
}

#[tokio::test]
async fn preauth_allow_lets_in_without_auth() {
    let sim = DuoSim::start().await.unwrap();
    sim.state().preauth = PreauthScenario::Allow;
    let audit = Capture::default();
    let e = engine(&sim, "secure", "", &audit);
    let (d, _) = run(&e, &ctx("bob"), vec![]).await;
    assert_eq!(d, allowed());
    assert!(sim.state().requests_to("/auth/v2/auth").is_empty());
    // The audit record must not read like a verified push.
    let records = audit.0.lock().unwrap().clone();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].decision, "allow");
    assert_eq!(
        records[0].reason,
        "push verified (Duo preauth allowed without a second factor)"
    );
    // bob has no duo_username: the login name is used.
    assert_eq!(
        param(&params(&sim, "/auth/v2/preauth", 0), "username"),
        Some("bob")
    );
}

#[tokio::test]
async fn preauth_deny_and_enroll_deny_and_say_why_without_control_characters() {
    let sim = DuoSim::start().await.unwrap();
    {
        let mut st = sim.state();
        st.preauth = PreauthScenario::Deny;
        st.preauth_msg = Some("Denied\u{1b}[2J\u{9b}31m by \u{7}policy".into());
    }
    let audit = Capture::default();
    let e = engine(&sim, "safe", "", &audit);
    let (d, t) = run(&e, &ctx("alice"), vec![error("Denied[2J31m by policy")]).await;
    assert!(is_deny(&d, "preauth: deny"), "{d:?}");
    assert!(
        t.iter()
            .all(|l| !l.chars().any(|c| c.is_control() && c != '\n')),
        "{t:?}"
    );

    sim.state().preauth = PreauthScenario::Enroll;
    let (d, _) = run(
        &e,
        &ctx("alice"),
        vec![error(
            "Please enroll at https://127.0.0.1/portal?code=48bac5d9393fb2c2",
        )],
    )
    .await;
    assert!(is_deny(&d, "not enrolled at Duo"), "{d:?}");
    assert!(sim.state().requests_to("/auth/v2/auth").is_empty());
}

/// The decoy goes on past the menu as an enrolled user's login does: the
/// push message, its Enter prompt and Duo's timeout (issue 12, item 8;
/// `tests/decoys.rs` compares it with an enrolled user's, wait for wait).
/// The decoy phone's number is derived per name, so only its shape is
/// checked here.
#[tokio::test]
async fn unenrolled_and_unknown_users_see_the_menu_and_duo_hears_nothing() {
    let sim = DuoSim::start().await.unwrap();
    let audit = Capture::default();
    let e = engine(&sim, "safe", "prompts = 1\n", &audit);
    for (user, why) in [("carol", "not enrolled"), ("mallory", "unknown user")] {
        let (d, transcript) = run(
            &e,
            &ctx(user),
            vec![
                Step::InfoContaining(format!(
                    "Duo two-factor login for {user}\n\n 1. Duo Push to XXX-XXX-"
                )),
                Step::Visible(PROMPT.into(), "1".into()),
                info(mfa_core::push::PUSHED),
                Step::Visible(mfa_core::push::ENTER_PUSH.into(), String::new()),
                error(mfa_core::push::TIMED_OUT),
            ],
        )
        .await;
        assert_eq!(d, Decision::Deny { reason: why.into() });
        assert!(
            transcript[0].contains("2. Phone call to XXX-XXX-")
                && transcript[0].contains("3. SMS passcodes to XXX-XXX-"),
            "{transcript:?}"
        );
    }
    assert!(sim.state().requests.is_empty());
}

#[tokio::test]
async fn a_login_name_that_cannot_be_a_duo_user_name_is_denied_and_duo_hears_nothing() {
    let sim = DuoSim::start().await.unwrap();
    let audit = Capture::default();
    let e = engine(&sim, "safe", "autopush = true\n", &audit);
    let (d, _) = run(&e, &ctx(CONTROL_USER), vec![]).await;
    assert!(is_deny(&d, "login name as Duo user"), "{d:?}");
    assert!(sim.state().requests.is_empty());
}

#[tokio::test]
async fn odd_characters_in_user_names_are_signed_and_sent_intact() {
    let sim = DuoSim::start().await.unwrap();
    let audit = Capture::default();
    let e = engine(&sim, "secure", "autopush = true\npushinfo = true\n", &audit);
    let (d, _) = run(&e, &ctx(ODD_USER), pushed()).await;
    assert_eq!(d, allowed());
    assert!(sim.state().rejected.is_empty());
    let auth = params(&sim, "/auth/v2/auth", 0);
    assert_eq!(param(&auth, "username"), Some("ödd user+tag&x=y"));
    let info: Vec<(String, String)> =
        url::form_urlencoded::parse(param(&auth, "pushinfo").unwrap().as_bytes())
            .into_owned()
            .collect();
    assert_eq!(info[1], ("user".into(), ODD_USER.into()));
}

#[tokio::test]
async fn rate_limited_preauth_is_retried_after_retry_after_seconds_and_date() {
    use mfa_sim::duo::Endpoint;
    use mfa_sim::Fault;
    for retry_after in [
        "1".to_owned(),
        httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(1)),
    ] {
        let sim = DuoSim::start().await.unwrap();
        sim.state().fault(
            Endpoint::Preauth,
            Fault::RateLimited {
                retry_after: retry_after.clone(),
            },
            Some(1),
        );
        let audit = Capture::default();
        let e = engine(&sim, "secure", "autopush = true\n", &audit);
        let started = std::time::Instant::now();
        let (d, _) = run(&e, &ctx("alice"), pushed()).await;
        assert_eq!(d, allowed(), "Retry-After: {retry_after}");
        assert_eq!(sim.state().requests_to("/auth/v2/preauth").len(), 2);
        // Seconds form: waited a full second. Date form: up to one second
        // (the date has whole-second precision).
        if retry_after == "1" {
            assert!(started.elapsed() >= Duration::from_secs(1));
        }
    }
}

#[tokio::test]
async fn with_autopush_unknown_users_see_the_push_message_and_prompt() {
    let sim = DuoSim::start().await.unwrap();
    // alice cannot approve either: both pushes time out.
    sim.state().push = Answer::Timeout;
    let audit = Capture::default();
    let e = engine(&sim, "secure", "autopush = true\nprompts = 1\n", &audit);
    let mut steps = pushed();
    steps.push(error("Login timed out."));
    let known = run(&e, &ctx("alice"), steps.clone()).await.1;
    let unknown = run(&e, &ctx("mallory"), steps).await.1;
    assert_eq!(known, unknown, "the same messages and prompts");
    assert_eq!(
        sim.state().requests_to("/auth/v2/preauth").len(),
        1,
        "only alice's"
    );
}

#[tokio::test]
async fn a_long_polled_auth_status_may_outlast_the_request_timeout() {
    // Duo holds auth_status until the status changes; the 2 s request
    // timeout must not cut that short (only the factor's deadline may).
    let sim = DuoSim::start().await.unwrap();
    {
        let mut st = sim.state();
        st.long_poll = true;
        st.answer_after = Some(Duration::from_millis(3500));
    }
    let audit = Capture::default();
    let e = engine(&sim, "secure", "autopush = true\n", &audit);
    let (d, _) = run(&e, &ctx("alice"), pushed()).await;
    assert_eq!(d, allowed());
    assert_eq!(
        sim.state().requests_to("/auth/v2/auth_status").len(),
        1,
        "one held poll"
    );
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct LogBuf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
impl std::io::Write for LogBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_preauth_allow_is_logged_as_a_duo_side_bypass() {
    let logs = LogBuf::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let d = tracing::subscriber::with_default(subscriber, || {
        rt.block_on(async {
            let sim = DuoSim::start().await.unwrap();
            {
                let mut st = sim.state();
                st.preauth = PreauthScenario::Allow;
                st.preauth_msg = Some("bypass\u{1b}[2J".into());
            }
            let audit = Capture::default();
            let e = engine(&sim, "secure", "", &audit);
            run(&e, &ctx("alice"), vec![]).await.0
        })
    });
    assert_eq!(d, allowed());
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("Duo-side bypass"))
        .unwrap_or_else(|| panic!("no bypass warning in {text:?}"));
    assert!(line.contains("WARN"), "{line}");
    assert!(line.contains("user=alice"), "{line}");
    assert!(line.contains("duo_user=alice.duo"), "{line}");
    assert!(
        !line.contains('\u{1b}'),
        "server text is escaped in logs: {line}"
    );
}

#[test]
fn configuration_errors_name_the_key() {
    use mfa_core::push::PushFactor;
    let users = std::sync::Arc::new(users());
    let e = PushFactor::from_config(&mfa_core::Config::default(), &users).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("push"), "{e}");
    let src =
        "[push]\nikey = \"i\"\nskey = \"s\"\nhost = \"h\"\nca_file = \"/nonexistent/duo-ca.pem\"\n";
    let cfg = mfa_core::Config::parse(std::path::Path::new("/etc/mfa/mfa.toml"), src).unwrap();
    let e = PushFactor::from_config(&cfg, &users).unwrap_err();
    assert_eq!(e.key.as_deref(), Some("push.ca_file"), "{e}");
    assert!(e.to_string().contains("/nonexistent/duo-ca.pem"), "{e}");
    assert!(e.to_string().starts_with("/etc/mfa/mfa.toml"), "{e}");
}
