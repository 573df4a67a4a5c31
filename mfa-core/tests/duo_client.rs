//! The Duo client against the TLS simulator: signatures and dates the
//! simulator accepts or refuses, certificates, proxies, 429 handling.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use mfa_core::context::FixedClock;
use mfa_core::provider::http::HttpSettings;
use mfa_core::push::duo::{DuoClient, DuoError, DuoSettings, Stamp};
use mfa_core::SystemClock;
use mfa_sim::duo::{DuoSim, Endpoint, SimCert, IKEY, SKEY};
use mfa_sim::Fault;
use tokio::time::Instant;

fn client(sim: &DuoSim, skey: &str, proxy: Option<&str>) -> DuoClient {
    DuoClient::new(&DuoSettings {
        ikey: IKEY,
        skey,
        host: &sim.host(),
        http: HttpSettings {
            timeout: Duration::from_secs(2),
            ca_file: Some(sim.ca_file()),
            proxy,
        },
    })
    .unwrap()
    .with_backoff(Duration::from_millis(20))
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

fn real_clock() -> Stamp {
    Stamp::new(Arc::new(SystemClock), 0)
}

#[tokio::test]
async fn check_accepts_the_right_keys_and_refuses_a_wrong_secret() {
    let sim = DuoSim::start().await.unwrap();
    let t = client(&sim, SKEY, None)
        .check(&real_clock(), soon())
        .await
        .unwrap();
    assert!(t.abs_diff(SystemClock.now()) < 5);
    let err = client(&sim, "not-the-skey", None)
        .check(&real_clock(), soon())
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            DuoError::Refused {
                status: 401,
                code: 40103,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.service_failed());
    assert_eq!(
        sim.state().rejected,
        ["Invalid signature in request credentials"]
    );
}

trait Now {
    fn now(&self) -> u64;
}
impl Now for SystemClock {
    fn now(&self) -> u64 {
        mfa_core::Clock::now_unix(self)
    }
}

#[tokio::test]
async fn a_skewed_clock_is_refused_until_ping_corrects_it() {
    let sim = DuoSim::start().await.unwrap();
    let c = client(&sim, SKEY, None);
    let skewed: Arc<FixedClock> = Arc::new(FixedClock(1_700_000_000));
    let err = c
        .check(&Stamp::new(skewed.clone(), 0), soon())
        .await
        .unwrap_err();
    assert!(
        matches!(err, DuoError::Refused { status: 401, .. }),
        "{err:?}"
    );
    assert!(sim.state().rejected[0].contains("too far from server time"));
    let server = c.ping(soon()).await.unwrap();
    let stamp = Stamp::from_server_time(skewed, server);
    assert!(stamp.offset() > 0);
    c.check(&stamp, soon()).await.unwrap();
}

#[tokio::test]
async fn wrong_host_and_self_signed_certificates_are_refused() {
    for cert in [SimCert::WrongHost, SimCert::SelfSigned] {
        let sim = DuoSim::start_with(cert).await.unwrap();
        let err = client(&sim, SKEY, None).ping(soon()).await.unwrap_err();
        let DuoError::Unreachable(why) = &err else {
            panic!("{cert:?}: {err:?}");
        };
        assert!(why.contains("certificate"), "{cert:?}: {why}");
        assert!(
            sim.state().requests.is_empty(),
            "no request crosses a bad TLS session"
        );
    }
}

#[tokio::test]
async fn the_trusted_ca_is_required_not_the_system_roots() {
    let sim = DuoSim::start().await.unwrap();
    let c = DuoClient::new(&DuoSettings {
        ikey: IKEY,
        skey: SKEY,
        host: &sim.host(),
        http: HttpSettings {
            timeout: Duration::from_secs(2),
            ca_file: None,
            proxy: None,
        },
    })
    .unwrap();
    assert!(matches!(
        c.ping(soon()).await,
        Err(DuoError::Unreachable(_))
    ));
}

#[tokio::test]
async fn proxies_come_from_the_config_never_from_the_environment() {
    let sim = DuoSim::start().await.unwrap();
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    // An attacker-set proxy variable must change nothing (duo_unix's
    // failmode bypass). Every test in this binary tolerates it.
    for var in [
        "https_proxy",
        "HTTPS_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        std::env::set_var(var, &dead);
    }
    client(&sim, SKEY, None).ping(soon()).await.unwrap();
    // A configured proxy is used: this one is dead, so the call fails.
    let err = client(&sim, SKEY, Some(&dead))
        .ping(soon())
        .await
        .unwrap_err();
    assert!(matches!(err, DuoError::Unreachable(_)), "{err:?}");
}

#[tokio::test]
async fn a_429_beyond_the_deadline_gives_up_at_once() {
    let sim = DuoSim::start().await.unwrap();
    sim.state().fault(
        Endpoint::Check,
        Fault::RateLimited {
            retry_after: "30".into(),
        },
        None,
    );
    let started = std::time::Instant::now();
    let err = client(&sim, SKEY, None)
        .check(&real_clock(), soon())
        .await
        .unwrap_err();
    assert_eq!(err, DuoError::RateLimited);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no sleeping past the deadline"
    );
}

/// A 429 whose wait is only in Duo's `X-Retry-After`.
fn x_retry_after(secs: &str) -> Fault {
    Fault::Canned {
        status: 429,
        headers: vec![("X-Retry-After".into(), secs.into())],
        body: r#"{"stat":"FAIL","code":42901,"message":"Too Many Requests"}"#.into(),
    }
}

#[tokio::test]
async fn duos_x_retry_after_is_honoured_like_retry_after() {
    // A wait past the deadline: give up at once instead of retrying on our
    // own 20 ms back-off (which sent 8 requests before the fix).
    let sim = DuoSim::start().await.unwrap();
    sim.state()
        .fault(Endpoint::Check, x_retry_after("30"), None);
    let err = client(&sim, SKEY, None)
        .check(&real_clock(), soon())
        .await
        .unwrap_err();
    assert_eq!(err, DuoError::RateLimited);
    assert_eq!(sim.state().requests_to("/auth/v2/check").len(), 1);

    // A wait within the deadline: the retry comes after it, not before.
    let sim = DuoSim::start().await.unwrap();
    sim.state()
        .fault(Endpoint::Check, x_retry_after("1"), Some(1));
    let started = std::time::Instant::now();
    client(&sim, SKEY, None)
        .check(&real_clock(), soon())
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(sim.state().requests_to("/auth/v2/check").len(), 2);
}

#[tokio::test]
async fn a_429_without_retry_after_backs_off_and_retries() {
    let sim = DuoSim::start().await.unwrap();
    sim.state().fault(
        Endpoint::Check,
        Fault::RateLimited {
            retry_after: "not a number".into(),
        },
        Some(2),
    );
    client(&sim, SKEY, None)
        .check(&real_clock(), soon())
        .await
        .unwrap();
    assert_eq!(sim.state().requests_to("/auth/v2/check").len(), 3);
}

#[tokio::test]
async fn unknown_endpoints_and_bad_parameters_are_refusals() {
    let sim = DuoSim::start().await.unwrap();
    let err = client(&sim, SKEY, None)
        .auth_status(&real_clock(), "no-such-txid", soon())
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            DuoError::Refused {
                status: 400,
                code: 40002,
                ..
            }
        ),
        "{err:?}"
    );
}

/// The simulator itself refuses what a real Duo refuses: a test that could
/// not fail if the simulator accepted anything would prove nothing.
#[tokio::test]
async fn the_simulator_refuses_unsigned_misdated_and_mismatched_requests() {
    use mfa_core::push::duo::{date, sign};
    let sim = DuoSim::start().await.unwrap();
    let http = mfa_core::provider::http::client(&HttpSettings {
        timeout: Duration::from_secs(2),
        ca_file: Some(sim.ca_file()),
        proxy: None,
    })
    .unwrap();
    let host = sim.host();
    let url = format!("https://{host}/auth/v2/preauth");
    let now = mfa_core::Clock::now_unix(&SystemClock);
    let signed = |d: &str, params: &[(&str, &str)]| {
        sign::sign(
            IKEY,
            SKEY.as_bytes(),
            sign::Request {
                method: "POST",
                host: &host,
                path: "/auth/v2/preauth",
                params,
                date: d.to_owned(),
            },
        )
    };
    let good = signed(&date::rfc2822(now), &[("username", "alice")]);
    let form = "application/x-www-form-urlencoded";

    // The reference request is accepted...
    let r = http
        .post(&url)
        .header("Date", &good.date)
        .header("Authorization", &good.authorization)
        .header("Content-Type", form)
        .body(good.params.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // ...and each deviation from it is a 401 with Duo's reason.
    let other_body = signed(&date::rfc2822(now), &[("username", "mallory")]);
    let wrong_ikey = sign::authorization("DIWRONG", "00");
    type Headers = Vec<(&'static str, String)>;
    let cases: Vec<(&str, Headers, String)> = vec![
        (
            "Missing request credentials",
            vec![("Date", good.date.clone())],
            good.params.to_string(),
        ),
        (
            "Invalid integration key",
            vec![("Date", good.date.clone()), ("Authorization", wrong_ikey)],
            good.params.to_string(),
        ),
        (
            "Invalid signature",
            vec![
                ("Date", good.date.clone()),
                ("Authorization", good.authorization.clone()),
            ],
            other_body.params.to_string(),
        ),
        (
            "differ",
            vec![
                ("Date", good.date.clone()),
                ("X-Duo-Date", date::rfc2822(now + 1)),
                ("Authorization", good.authorization.clone()),
            ],
            good.params.to_string(),
        ),
        (
            "Malformed date",
            vec![
                ("Date", "yesterday".into()),
                ("Authorization", good.authorization.clone()),
            ],
            good.params.to_string(),
        ),
    ];
    for (why, headers, body) in cases {
        let mut rb = http.post(&url).header("Content-Type", form).body(body);
        for (k, v) in headers {
            rb = rb.header(k, v);
        }
        let r = rb.send().await.unwrap();
        assert_eq!(r.status(), 401, "{why}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["stat"], "FAIL", "{why}");
        assert!(v["message"].as_str().unwrap().contains(why), "{why}: {v}");
    }
    // JSON instead of a form body is refused even when correctly signed.
    let r = http
        .post(&url)
        .header("Date", &good.date)
        .header("Authorization", &good.authorization)
        .header("Content-Type", "application/json")
        .body(good.params.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}
