//! `mfa serve` as a real process on loopback: the whole PhoneCheck loop
//! (factor -> simulator -> check_url -> mfa serve -> PATCH -> the poll sees
//! COMPLETED), hostile parameters, fixed pages, headers, the rate limit and
//! the request timeout.

mod common;
use common::*;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use mfa_core::config::{UserEntry, UsersDb};
use mfa_core::phonecheck::factor::SCAN_INFO;
use mfa_core::phonecheck::PhoneNumber;
use mfa_core::{AuthContext, Config, Engine};
use mfa_sim::truid::{Endpoint, TruIdSim, SIM_CLIENT_ID, SIM_CLIENT_SECRET};
use mfa_sim::Fault;
use mfa_testkit::person::OpensLink;

/// `mfa serve` on a free loopback port; killed on drop.
struct Served {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    /// Stop the server and return what it logged.
    fn logs(mut self) -> String {
        let _ = self.child.kill();
        let mut s = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut s);
        }
        s
    }
}

fn config_text(api: &str, redirect: &str) -> String {
    format!(
        "[general]\nrequest_timeout_secs = 2\n[policy]\nfactors = [\"phonecheck\"]\n\
         [phonecheck]\napi_base_url = \"{api}\"\nclient_id = \"{SIM_CLIENT_ID}\"\n\
         client_secret = \"{SIM_CLIENT_SECRET}\"\nredirect_url = \"{redirect}\"\npoll_interval_ms = 50\n"
    )
}

fn serve(api: &str, extra: &[&str]) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("mfa.toml");
    std::fs::write(
        &cfg,
        config_text(api, "https://mfa.example.com/complete-check"),
    )
    .unwrap();
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut child = mfa()
        .args(["--json", "serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&cfg)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("mfa serve did not start: {line:?}"));
    let addr = v["listening"].as_str().unwrap().parse().unwrap();
    Served {
        child,
        addr,
        _dir: dir,
    }
}

/// One raw HTTP/1.1 request; returns (status, head, body).
fn raw(addr: SocketAddr, request: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head.to_owned(), body.to_owned())
}

fn get(addr: SocketAddr, target: &str) -> (u16, String, String) {
    raw(
        addr,
        &format!("GET {target} HTTP/1.1\r\nHost: mfa.example.com\r\nConnection: close\r\n\r\n"),
    )
}

const ID: &str = "c69bc0e6-a429-11ea-bb37-0242ac130002";

#[test]
fn whole_loop_factor_simulator_phone_mfa_serve_patch_poll() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let sim = TruIdSim::start().await.unwrap();
        let served = serve(&sim.uri(), &[]);
        let redirect = format!("http://{}/complete-check", served.addr);
        let config =
            Config::parse(Path::new("t.toml"), &config_text(&sim.uri(), &redirect)).unwrap();
        let mut users = UsersDb::default();
        users.users.insert(
            "alice".into(),
            UserEntry {
                phone: Some(PhoneNumber::parse("+447700900000").unwrap()),
                ..UserEntry::default()
            },
        );
        let engine = Engine::with_users(config, users).unwrap();
        // The person at the terminal with the phone: at the prompt, the
        // phone opens the link and follows the operator's redirect to
        // `mfa serve`.
        let mut conv = OpensLink::new(&sim);
        let mut ctx = AuthContext::new("alice", "sshd");
        ctx.accounts = std::sync::Arc::new(mfa_core::accounts::StaticAccounts::named(&["alice"]));
        let d = engine.authenticate(&ctx, &mut conv).await;
        assert!(d.is_allow(), "{d:?}");
        assert!(conv.infos[0].starts_with(SCAN_INFO));
        let (status, page) = conv.page.unwrap();
        assert_eq!(status, 200);
        assert!(
            page.contains("Verification complete, return to your SSH session"),
            "{page}"
        );

        // mfa serve did the PATCH (with its own token), the factor polled.
        let patches = sim.requests_to("PATCH", "/phone_check/v0.2/checks/");
        assert_eq!(patches.len(), 1);
        let body: serde_json::Value = serde_json::from_slice(&patches[0].body).unwrap();
        assert_eq!(body[0]["op"], "add");
        assert_eq!(body[0]["path"], "/code");
        let (id, _) = sim.last_check().unwrap();
        let code = sim.code_of(&id).unwrap();
        assert_eq!(body[0]["value"], code.as_str());
        assert_eq!(sim.requests_to("POST", "/oauth2/v1/token").len(), 2);

        let logs = served.logs();
        assert!(
            logs.contains("outcome=\"verified\"") || logs.contains("outcome=verified"),
            "{logs}"
        );
        assert!(logs.contains(&id), "the check id is logged");
        assert!(!logs.contains(&code), "the code is never logged: {logs}");
    });
}

#[test]
fn hostile_parameters_get_the_fixed_failure_page() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sim = rt.block_on(TruIdSim::start()).unwrap();
    let served = serve(&sim.uri(), &["--rate-limit", "100"]);
    let a = served.addr;
    let long = "a".repeat(2000);
    let cases = [
        "/complete-check".to_owned(),
        format!("/complete-check?check_id={ID}"),
        "/complete-check?code=abc".to_owned(),
        "/complete-check?check_id=zzzz-not-hex&code=abc".to_owned(),
        format!("/complete-check?check_id={ID}&code={long}"),
        format!("/complete-check?check_id={ID}&check_id=deadbeef&code=abc"),
        format!("/complete-check?check_id={ID}&code=a&code=b"),
        format!("/complete-check?check_id={ID}&code=%3Cscript%3Ealert(1)%3C/script%3E"),
        format!("/complete-check?check_id={ID}&code=a%27%20OR%20%271%27=%271"),
        format!("/complete-check?check_id={ID}&code=a%0d%0aSet-Cookie:%20x=1"),
        "/complete-check?check_id=..%2F..%2Foauth2%2Fv1%2Ftoken&code=abc".to_owned(),
        format!("/complete-check?check_id={ID}%00&code=abc"),
    ];
    for target in &cases {
        let (status, head, body) = get(a, target);
        assert_eq!(status, 400, "{target}: {head}");
        assert!(body.contains("Verification failed"), "{target}: {body}");
        assert!(
            !body.contains("script") && !body.contains("Set-Cookie"),
            "{body}"
        );
        assert!(!head.to_ascii_lowercase().contains("set-cookie"), "{head}");
        let h = head.to_ascii_lowercase();
        assert!(
            h.contains("content-type: text/html; charset=utf-8"),
            "{head}"
        );
        assert!(h.contains("referrer-policy: no-referrer"), "{head}");
        assert!(
            h.contains("content-security-policy: default-src 'none'"),
            "{head}"
        );
        assert!(h.contains("cache-control: no-store"), "{head}");
    }

    // Far too long for the server's buffer: refused by the HTTP layer.
    let (status, _, _) = get(a, &format!("/complete-check?code={}", "a".repeat(20_000)));
    assert!(
        status == 414 || status == 431 || status == 400 || status == 0,
        "{status}"
    );

    // Well-formed but unknown to the provider: failure page, no provider text.
    let (status, _, body) = get(a, &format!("/complete-check?check_id={ID}&code=abc123"));
    assert_eq!(status, 403);
    assert!(
        body.contains("Verification failed") && !body.contains("not found"),
        "{body}"
    );

    // Provider down: still the same page, nothing internal.
    sim.fail(Endpoint::Patch, Fault::Status(503));
    let (status, _, body) = get(a, &format!("/complete-check?check_id={ID}&code=abc123"));
    assert_eq!(status, 502);
    assert!(
        body.contains("Verification failed")
            && !body.contains("503")
            && !body.contains("unavailable"),
        "{body}"
    );

    assert_eq!(get(a, "/").0, 404);
    assert_eq!(get(a, "/complete-check/../etc/passwd").0, 404);
    let (status, _, _) = raw(
        a,
        &format!("POST /complete-check?check_id={ID}&code=abc HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
    );
    assert_eq!(status, 405);
    let (status, _, _) = raw(
        a,
        &format!("HEAD /complete-check?check_id={ID}&code=abc HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    );
    assert_eq!(status, 405, "a HEAD never completes a check");
    let (status, _, _) = raw(a, "GARBAGE\r\n\r\n");
    assert!(status == 400 || status == 0, "{status}");

    let logs = served.logs();
    assert!(logs.contains("bad-request"), "{logs}");
    assert!(!logs.contains("\nSet-Cookie"), "no log injection: {logs}");
}

#[test]
fn rate_limit_per_address_answers_429_with_retry_after() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sim = rt.block_on(TruIdSim::start()).unwrap();
    let served = serve(&sim.uri(), &["--rate-limit", "3"]);
    for _ in 0..3 {
        assert_eq!(get(served.addr, "/complete-check?code=x").0, 400);
    }
    let (status, head, body) = get(served.addr, "/complete-check?code=x");
    assert_eq!(status, 429, "{head}");
    assert!(head.to_ascii_lowercase().contains("retry-after:"), "{head}");
    assert!(body.contains("too many attempts"), "{body}");
    assert!(served.logs().contains("rate-limited"));
}

/// A request from 127.0.0.1 carrying these `X-Forwarded-For` lines.
fn forwarded(addr: SocketAddr, lines: &[&str]) -> u16 {
    let xff: String = lines
        .iter()
        .map(|l| format!("X-Forwarded-For: {l}\r\n"))
        .collect();
    raw(
        addr,
        &format!(
            "GET /complete-check?code=x HTTP/1.1\r\nHost: mfa.example.com\r\n{xff}Connection: close\r\n\r\n"
        ),
    )
    .0
}

#[test]
fn behind_a_proxy_the_client_is_the_proxys_last_entry_of_every_line() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sim = rt.block_on(TruIdSim::start()).unwrap();
    let served = serve(&sim.uri(), &["--rate-limit", "1", "--behind-proxy"]);
    // The client invents a new address in a line of its own each time; the
    // proxy's line names the same client: one request per minute for it.
    assert_eq!(
        forwarded(served.addr, &["203.0.113.1", "198.51.100.3"]),
        400
    );
    assert_eq!(
        forwarded(served.addr, &["203.0.113.2", "198.51.100.3"]),
        429
    );
    // Another client behind the same proxy is counted apart.
    assert_eq!(forwarded(served.addr, &["198.51.100.4"]), 400);
}

#[test]
fn a_configured_proxy_address_is_the_only_peer_trusted() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sim = rt.block_on(TruIdSim::start()).unwrap();
    let served = serve(
        &sim.uri(),
        &["--rate-limit", "1", "--behind-proxy", "192.0.2.10"],
    );
    // From 127.0.0.1, which is not the proxy: the header is the client's
    // own claim, so both requests count against 127.0.0.1.
    assert_eq!(forwarded(served.addr, &["198.51.100.1"]), 400);
    assert_eq!(forwarded(served.addr, &["198.51.100.2"]), 429);

    // Nor may 127.0.0.1 hold more connections than any one client: only
    // the proxy carries many. The fifth idle socket is closed at once (it
    // stayed open until the header timeout while every peer got the total).
    let held: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(served.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut fifth = TcpStream::connect(served.addr).unwrap();
    fifth
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let mut buf = [0u8; 16];
    let r = fifth.read(&mut buf);
    assert!(
        matches!(&r, Ok(0))
            || matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "a fifth connection from a non-proxy peer was kept open: {r:?}"
    );
    drop(held);

    let bad = mfa()
        .args(["serve", "--behind-proxy", "proxy.example.com"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not an IP address"));
}

#[test]
fn a_client_that_sends_nothing_is_disconnected() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sim = rt.block_on(TruIdSim::start()).unwrap();
    let served = serve(&sim.uri(), &[]);
    let mut s = TcpStream::connect(served.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"GET /complete-check?check_id=").unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(15),
        "closed by the header timeout, {waited:?}"
    );
}

/// An idle connection from `source` (a loopback address of its own).
fn idle_from(source: &str, to: SocketAddr) -> std::io::Result<TcpStream> {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    s.bind(&format!("{source}:0").parse::<SocketAddr>().unwrap().into())?;
    s.connect(&to.into())?;
    Ok(s.into())
}

/// One client holding idle sockets (and reopening them as the header
/// timeout closes them) must not starve the others: a review held 75
/// sockets against the old global cap and 74 of 75 real callbacks were
/// refused.
#[test]
fn one_address_holding_idle_sockets_cannot_starve_the_callbacks() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sim = rt.block_on(TruIdSim::start()).unwrap();
    let served = serve(&sim.uri(), &["--rate-limit", "1000"]);
    let addr = served.addr;
    // More idle sockets than the whole server has slots (256), held open
    // and sending nothing, from an address of their own.
    let held: Vec<TcpStream> = (0..300)
        .map(|i| idle_from("127.0.0.2", addr).unwrap_or_else(|e| panic!("socket {i}: {e}")))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    // One more from that address is closed at once: the address is at its cap.
    let mut extra = idle_from("127.0.0.2", addr).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let mut b = [0u8; 1];
    assert!(
        matches!(extra.read(&mut b), Ok(0) | Err(_)),
        "the address is at its cap"
    );
    // Meanwhile, well within the header timeout that would free the idle
    // sockets, every request from another address is answered (the fixed
    // page for a check that does not exist).
    for i in 0..20 {
        let (status, _, body) = get(addr, &format!("/complete-check?check_id=x{i}&code=1"));
        assert_eq!(status, 400, "request {i} answered: {body}");
    }
    drop(held);
}

#[test]
fn serve_without_a_phonecheck_section_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("mfa.toml");
    std::fs::write(&cfg, "[general]\n").unwrap();
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).unwrap();
    let o = run(mfa().args(["serve", "--config"]).arg(&cfg));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no [phonecheck] section"),
        "{}",
        stderr(&o)
    );
    let o = run(mfa().args(["serve", "--listen", "not-an-address"]));
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn mock_serve_runs_the_truid_simulator() {
    let mut child = mfa()
        .args(["--json", "mock", "serve"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    let sims = v["simulators"].as_array().unwrap();
    let truid = sims
        .iter()
        .find(|s| s["name"] == "truid")
        .expect("truid listed");
    assert!(truid["url"]
        .as_str()
        .unwrap()
        .starts_with("http://127.0.0.1:"));
}
