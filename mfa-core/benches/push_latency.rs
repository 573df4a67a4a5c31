//! Approval-to-decision latency of the push factor against the TLS Duo
//! simulator: the time from the moment the simulated phone approves to the
//! moment `Engine::authenticate` returns its decision. It is dominated by
//! the `auth_status` poll interval (the client cannot learn of the approval
//! before its next poll), plus one signed HTTPS round trip.
//!
//! Run: `cargo bench -p mfa-core --bench push_latency`
//! (RUNS=N to change the number of logins per setting; default 60).
//! Prints median, p95 and max per poll interval. A custom harness rather
//! than criterion: the quantity is a latency inside one login, measured
//! against the simulator's own approval instant, not an iteration time.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mfa_core::config::{UserEntry, UsersDb};
use mfa_core::conversation::scripted::ScriptedConversation;
use mfa_core::push::{DuoUsername, PushFactor, Timing};
use mfa_core::{AuthContext, Config, Engine};
use mfa_sim::duo::DuoSim;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn main() {
    // `cargo bench` passes --bench; a filter argument is ignored.
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sim = rt.block_on(DuoSim::start()).unwrap();
    let src = format!(
        "[policy]\nfactors = [\"push\"]\n{}autopush = true\n",
        sim.push_section()
    );
    let config = Config::parse(Path::new("bench.toml"), &src).unwrap();
    let mut users = UsersDb::default();
    users.users.insert(
        "alice".into(),
        UserEntry {
            duo_username: Some(DuoUsername::parse("alice").unwrap()),
            ..UserEntry::default()
        },
    );
    let mut ctx = AuthContext::new("alice", "sshd");
    ctx.accounts = Arc::new(mfa_core::accounts::StaticAccounts::named(&["alice"]));
    ctx.rhost = Some("198.51.100.4".into());
    // No terminal: no "press Enter" prompt, so nothing but the client's
    // polling stands between the approval and the decision.
    ctx.interactive = false;

    println!(
        "push approval-to-decision latency, {runs} logins per setting (TLS simulator on loopback)"
    );
    // (poll interval, long poll): short polls as against a simulator that
    // answers `waiting` at once; then Duo's own behaviour, where
    // auth_status is held until the phone answers.
    for (poll_ms, long_poll) in [(500u64, false), (100, false), (20, false), (500, true)] {
        let factor = PushFactor::from_config(&config, &Arc::new(users.clone()))
            .unwrap()
            .with_timing(Timing {
                poll_interval: Duration::from_millis(poll_ms),
                deadline: Duration::from_secs(30),
            });
        let engine =
            Engine::with_factors(config.clone(), users.clone(), vec![Arc::new(factor)]).unwrap();
        let mut lat = Vec::with_capacity(runs);
        let mut total = Vec::with_capacity(runs);
        for i in 0..runs {
            {
                let mut st = sim.state();
                // Vary the approval moment so it is not locked to the poll phase.
                st.answer_after = Some(Duration::from_millis(150 + (i as u64 * 37) % 400));
                st.answered_at = None;
                st.long_poll = long_poll;
                st.requests.clear();
            }
            let mut conv = ScriptedConversation::new([]).lenient_messages();
            let started = Instant::now();
            let d = rt.block_on(engine.authenticate(&ctx, &mut conv));
            let decided = Instant::now();
            assert!(d.is_allow(), "{d:?}");
            let answered = sim.state().answered_at.expect("the phone answered");
            lat.push(decided.saturating_duration_since(answered));
            total.push(decided - started);
        }
        lat.sort();
        total.sort();
        println!(
            "  poll {poll_ms:>3} ms{}: approval->decision median {:>6.1} ms, p95 {:>6.1} ms, max {:>6.1} ms; \
             whole login median {:>6.1} ms",
            if long_poll { ", long poll" } else { "" },
            percentile(&lat, 0.5).as_secs_f64() * 1e3,
            percentile(&lat, 0.95).as_secs_f64() * 1e3,
            lat[lat.len() - 1].as_secs_f64() * 1e3,
            percentile(&total, 0.5).as_secs_f64() * 1e3,
        );
    }
    if sim.state().rejected.is_empty() {
        println!("  (every request's signature and date were accepted by the simulator)");
    } else {
        panic!("simulator rejected requests: {:?}", sim.state().rejected);
    }
}
