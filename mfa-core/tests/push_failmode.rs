//! failmode for the push factor, class by class and in both modes:
//! `safe` may allow ONLY when the Duo service cannot be used (unreachable,
//! TLS failure, timeout, 5xx, unparseable answer) BEFORE the authentication
//! starts (ping, preauth). Every 4xx, every refusal and every failure
//! during /auth or /auth_status denies, whatever the mode. The same table
//! is in docs/push.md.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "push/common.rs"]
mod common;

use std::time::Duration;

use common::*;
use mfa_core::{Config, Decision};
use mfa_sim::duo::{DuoSim, Endpoint, PreauthScenario, SimCert};
use mfa_sim::Fault;

/// How a case breaks the service.
enum Break {
    At(Endpoint, Fault),
    Answer(PreauthScenario),
    Cert(SimCert),
    Down,
    WrongSkey,
}

/// Expected: `true` = failmode applies (safe allows, secure denies with the
/// unavailable message); `false` = denied in both modes.
fn cases() -> Vec<(&'static str, Break, bool)> {
    use Break::{Answer, At, Cert, Down, WrongSkey};
    use Endpoint::*;
    let mut v: Vec<(&'static str, Break, bool)> = vec![
        ("service down", Down, true),
        (
            "TLS: wrong certificate host",
            Cert(SimCert::WrongHost),
            true,
        ),
        (
            "TLS: self-signed certificate",
            Cert(SimCert::SelfSigned),
            true,
        ),
        ("ping 503", At(Ping, Fault::Status(503)), true),
        ("ping garbage", At(Ping, Fault::Malformed), true),
        (
            "preauth times out",
            At(Preauth, Fault::Slow(Duration::from_secs(4))),
            true,
        ),
        ("preauth garbage JSON", At(Preauth, Fault::Malformed), true),
        ("preauth bad stat", Answer(PreauthScenario::BadStat), true),
        (
            "preauth missing response",
            Answer(PreauthScenario::MissingResponse),
            true,
        ),
        (
            "preauth unknown result",
            Answer(PreauthScenario::UnknownResult),
            false,
        ),
        ("wrong secret key (401)", WrongSkey, false),
        (
            "preauth 429 beyond the deadline",
            At(
                Preauth,
                Fault::RateLimited {
                    retry_after: "3600".into(),
                },
            ),
            false,
        ),
        ("auth garbage JSON", At(Auth, Fault::Malformed), false),
        (
            "auth times out",
            At(Auth, Fault::Slow(Duration::from_secs(4))),
            false,
        ),
        (
            "auth_status garbage JSON",
            At(AuthStatus, Fault::Malformed),
            false,
        ),
        (
            "auth 429 beyond the deadline",
            At(
                Auth,
                Fault::RateLimited {
                    retry_after: "3600".into(),
                },
            ),
            false,
        ),
        (
            "preauth allow without status_msg",
            Answer(PreauthScenario::AllowWithoutStatusMsg),
            true,
        ),
        (
            "preauth auth without devices",
            Answer(PreauthScenario::AuthWithoutDevices),
            true,
        ),
        (
            "preauth answer past 64 KiB",
            At(Preauth, oversized(r#""result":"allow""#)),
            true,
        ),
        (
            "auth_status allow without status or status_msg",
            At(AuthStatus, canned_ok(r#"{"result":"allow"}"#)),
            false,
        ),
        (
            "auth_status answer past 64 KiB",
            At(
                AuthStatus,
                oversized(r#""result":"allow","status":"allow""#),
            ),
            false,
        ),
    ];
    for code in [500u16, 502, 503, 504] {
        v.push(("preauth 5xx", At(Preauth, Fault::Status(code)), true));
        v.push(("auth 5xx", At(Auth, Fault::Status(code)), false));
        v.push((
            "auth_status 5xx",
            At(AuthStatus, Fault::Status(code)),
            false,
        ));
    }
    for code in [400u16, 401, 403, 404, 405, 409, 410, 418, 422] {
        v.push(("preauth 4xx", At(Preauth, Fault::Status(code)), false));
        v.push(("ping 4xx", At(Ping, Fault::Status(code)), false));
        v.push(("auth 4xx", At(Auth, Fault::Status(code)), false));
        v.push((
            "auth_status 4xx",
            At(AuthStatus, Fault::Status(code)),
            false,
        ));
    }
    v
}

/// A 200 with `stat: OK` and this `response`.
fn canned_ok(response: &str) -> Fault {
    Fault::Canned {
        status: 200,
        headers: vec![],
        body: format!(r#"{{"stat":"OK","response":{response}}}"#),
    }
}

/// A well-formed answer with these `fields` whose `status_msg` carries it
/// past the clients' 64 KiB cap: read whole, it would decide.
fn oversized(fields: &str) -> Fault {
    canned_ok(&format!(
        r#"{{{fields},"status_msg":"{}"}}"#,
        "x".repeat(mfa_core::provider::MAX_BODY)
    ))
}

async fn start(b: &Break) -> DuoSim {
    let cert = match b {
        Break::Cert(c) => *c,
        _ => SimCert::Trusted,
    };
    let sim = DuoSim::start_with(cert).await.unwrap();
    match b {
        Break::At(ep, f) => sim.state().fault(*ep, f.clone(), None),
        Break::Answer(p) => sim.state().preauth = p.clone(),
        _ => {}
    }
    sim
}

fn config_for(sim: &DuoSim, b: &Break, failmode: &str) -> Config {
    let mut section = sim.push_section();
    match b {
        Break::Down => section = section.replace(&sim.host(), &dead_host()),
        Break::WrongSkey => section = section.replace("skey = \"", "skey = \"x"),
        _ => {}
    }
    let src = format!(
        "[general]\nfailmode = \"{failmode}\"\nrequest_timeout_secs = 1\n\
         [policy]\nfactors = [\"push\"]\n{section}"
    );
    Config::parse(std::path::Path::new("t.toml"), &src).unwrap()
}

#[tokio::test]
async fn failmode_outcomes_for_every_failure_class() {
    let mut failures = Vec::new();
    for (name, b, forgivable) in cases() {
        for failmode in ["secure", "safe"] {
            let sim = start(&b).await;
            let audit = Capture::default();
            let e = engine_with(config_for(&sim, &b, failmode), fast(), &audit);
            // No terminal: one attempt with the default factor, so failures
            // during /auth and /auth_status are reached without a menu.
            let mut c = ctx("alice");
            c.interactive = false;
            let (d, transcript) = run_lenient(&e, &c).await;
            let rec = audit.0.lock().unwrap()[0].clone();
            let ok = match (forgivable, failmode) {
                (true, "safe") => d == fail_open() && rec.decision == "allow-failmode",
                (true, _) => {
                    is_deny(&d, "provider unavailable")
                        && is_deny(&d, "failmode=secure")
                        && transcript.iter().any(|l| l.contains("cannot be reached"))
                }
                (false, _) => {
                    matches!(&d, Decision::Deny { reason } if !reason.contains("provider unavailable"))
                        && rec.decision == "deny"
                }
            };
            if !ok {
                failures.push(format!("{name} / {failmode}: {d:?} {transcript:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn with_a_terminal_a_5xx_during_auth_denies_even_in_safe_mode() {
    let sim = DuoSim::start().await.unwrap();
    sim.state().fault(Endpoint::Auth, Fault::Status(503), None);
    let audit = Capture::default();
    let e = engine(&sim, "safe", "", &audit);
    let mut steps = menu("1");
    steps.push(error("Duo authentication failed."));
    let (d, _) = run(&e, &ctx("alice"), steps).await;
    assert!(
        is_deny(&d, "duo auth: the Duo service failed (HTTP 503)"),
        "{d:?}"
    );
}

#[tokio::test]
async fn a_4xx_at_preauth_tells_the_person_and_denies_in_safe_mode() {
    let sim = DuoSim::start().await.unwrap();
    sim.state()
        .fault(Endpoint::Preauth, Fault::Status(400), None);
    let audit = Capture::default();
    let e = engine(&sim, "safe", "", &audit);
    let (d, _) = run(&e, &ctx("alice"), vec![error("Duo refused the request")]).await;
    assert!(is_deny(&d, "HTTP 400"), "{d:?}");
}

#[tokio::test]
async fn a_transient_5xx_at_preauth_in_secure_mode_says_unreachable() {
    let sim = DuoSim::start().await.unwrap();
    sim.state()
        .fault(Endpoint::Preauth, Fault::Status(502), Some(1));
    let audit = Capture::default();
    let e = engine(&sim, "secure", "", &audit);
    let (d, _) = run(&e, &ctx("alice"), vec![error("cannot be reached")]).await;
    assert!(is_deny(&d, "HTTP 502"), "{d:?}");
    assert_eq!(audit.0.lock().unwrap()[0].decision, "deny");
}
