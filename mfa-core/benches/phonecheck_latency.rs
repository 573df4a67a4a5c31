//! Approval-to-decision latency of the PhoneCheck factor against the tru.ID
//! simulator: from the instant the callback's PATCH turns the check
//! `COMPLETED` (recorded by the simulator) to the instant
//! `Engine::authenticate` returns allow. It is dominated by the poll
//! interval (the factor learns of the completion at its next poll) plus one
//! HTTP round trip. The tutorial's script polled every 5 s.
//!
//! Run: `cargo bench -p mfa-core --bench phonecheck_latency`
//! (RUNS=N logins per setting; default 60). Prints median, p95 and max per
//! poll interval. A custom harness, not criterion: the quantity is a
//! latency inside one login, measured against the simulator's own
//! completion instant, not an iteration time.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use mfa_core::config::{UserEntry, UsersDb};
use mfa_core::conversation::scripted::{ScriptedConversation, Step};
use mfa_core::phonecheck::callback::{CallbackService, RateLimiter};
use mfa_core::phonecheck::factor::{ENTER_PROMPT, SCAN_INFO};
use mfa_core::phonecheck::truid::{Credentials, TruIdClient};
use mfa_core::phonecheck::{PhoneCheckFactor, PhoneNumber};
use mfa_core::{AuthContext, Config, Engine};
use mfa_sim::truid::{TruIdSim, SIM_CLIENT_ID, SIM_CLIENT_SECRET};
use tokio::time::Instant;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn client(sim: &TruIdSim) -> Arc<TruIdClient> {
    Arc::new(
        TruIdClient::new(
            &sim.uri(),
            Credentials::new(SIM_CLIENT_ID, SIM_CLIENT_SECRET),
            Duration::from_secs(5),
            None,
        )
        .unwrap(),
    )
}

fn main() {
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sim = Arc::new(rt.block_on(TruIdSim::start()).unwrap());
    // Every request comes from one address here: lift the per-address limit.
    let callback = Arc::new(CallbackService::with_limiter(
        client(&sim),
        RateLimiter::new(u32::MAX, Duration::from_secs(60), 16),
    ));
    let src = format!(
        "[policy]\nfactors = [\"phonecheck\"]\n[phonecheck]\napi_base_url = \"{}\"\n\
         client_id = \"{SIM_CLIENT_ID}\"\nclient_secret = \"{SIM_CLIENT_SECRET}\"\n\
         redirect_url = \"http://127.0.0.1:9/complete-check\"\n",
        sim.uri()
    );
    let config = Config::parse(Path::new("bench.toml"), &src).unwrap();
    let mut users = UsersDb::default();
    users.users.insert(
        "alice".into(),
        UserEntry {
            phone: Some(PhoneNumber::parse("+447700900000").unwrap()),
            ..UserEntry::default()
        },
    );
    let mut ctx = AuthContext::new("alice", "sshd");
    ctx.accounts = Arc::new(mfa_core::accounts::StaticAccounts::named(&["alice"]));
    let peer: IpAddr = "203.0.113.5".parse().unwrap();

    println!("PhoneCheck approval-to-decision latency, {runs} logins per setting (simulator on loopback)");
    for poll_ms in [500u64, 150, 50] {
        let factor = PhoneCheckFactor::new(
            client(&sim),
            Arc::new(users.clone()),
            "http://127.0.0.1:9/complete-check",
            Duration::from_millis(poll_ms),
            Duration::from_secs(60),
        );
        let engine =
            Engine::with_factors(config.clone(), users.clone(), vec![Arc::new(factor)]).unwrap();
        let mut lat = Vec::with_capacity(runs);
        for i in 0..runs {
            let before = sim.last_check().map(|(id, _)| id);
            // The phone: waits for the new check, then (after a delay that
            // varies so completion is not locked to the poll phase) opens
            // the link and the callback completes the check.
            let (s, cb) = (Arc::clone(&sim), Arc::clone(&callback));
            let delay = Duration::from_millis(100 + (i as u64 * 37) % 400);
            let phone = rt.spawn(async move {
                let (id, url) = loop {
                    match s.last_check() {
                        Some((id, url)) if Some(&id) != before.as_ref() => break (id, url),
                        _ => tokio::time::sleep(Duration::from_millis(5)).await,
                    }
                };
                tokio::time::sleep(delay).await;
                let target = s.operator_redirect(&url).await.unwrap();
                let reply = cb.handle(peer, "GET", target.path(), target.query()).await;
                assert_eq!(reply.status, 200, "{reply:?}");
                id
            });
            let mut conv = ScriptedConversation::new([
                Step::InfoContaining(SCAN_INFO.into()),
                Step::Visible(ENTER_PROMPT.into(), String::new()),
            ]);
            let d = rt.block_on(engine.authenticate(&ctx, &mut conv));
            let decided = Instant::now();
            assert!(d.is_allow(), "{d:?}");
            let id = rt.block_on(phone).unwrap();
            let completed = sim
                .completed_at(&id)
                .expect("the callback completed the check");
            lat.push(decided.saturating_duration_since(completed));
        }
        lat.sort();
        println!(
            "  poll {poll_ms:>3} ms: completion->decision median {:>6.1} ms, p95 {:>6.1} ms, max {:>6.1} ms",
            percentile(&lat, 0.5).as_secs_f64() * 1e3,
            percentile(&lat, 0.95).as_secs_f64() * 1e3,
            lat[lat.len() - 1].as_secs_f64() * 1e3,
        );
    }
}
