//! Cost of the webhook factor: drawing a code, rendering each preset, and a
//! whole login through the engine against the loopback webhook sink (one
//! HTTP POST, the prompt answered at once from the "channel", the decision
//! and the audit record). The network part here is loopback; a real
//! Slack/Teams/Discord round trip adds its own latency on top.
//!
//! Run: `cargo bench -p mfa-core --bench webhook_login`
//! (RUNS=N logins; default 300). Prints median, p95 and max.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mfa_core::accounts::{effective_uid, Account, StaticAccounts};
use mfa_core::config::{UsersDb, WebhookPreset};
use mfa_core::webhook::code::Code;
use mfa_core::webhook::template::{Template, Values};
use mfa_core::{AuthContext, Config, Engine, OsRandom};
use mfa_sim::webhook_sink::{Service, WebhookSink};
use mfa_testkit::person::ReadsChannel;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{name:<28} n={:<6} median {:>10.2?}  p95 {:>10.2?}  max {:>10.2?}",
        samples.len(),
        percentile(&samples, 0.5),
        percentile(&samples, 0.95),
        samples[samples.len() - 1]
    );
}

fn time_each(n: usize, mut f: impl FnMut()) -> Vec<Duration> {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect()
}

fn main() {
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(300);

    report(
        "code: draw 8 digits (OS)",
        time_each(10_000, || {
            std::hint::black_box(Code::generate(&OsRandom, 8).unwrap());
        }),
    );
    let values = Values {
        code: "04218873",
        session: "KX7QD",
        user: "alice",
        host: "bastion",
        rhost: "203.0.113.9",
        service: "sshd",
        command: "rsync --server -vlogDtpre.iLsfxC . /srv/backup",
        time: "2026-11-24T07:45:00Z",
    };
    for (name, p) in [
        ("render: slack", WebhookPreset::Slack),
        ("render: teams", WebhookPreset::Teams),
        ("render: discord", WebhookPreset::Discord),
        ("render: generic", WebhookPreset::Generic),
    ] {
        let t = Template::for_config(p, None).unwrap();
        report(
            name,
            time_each(10_000, || {
                std::hint::black_box(t.render(&values));
            }),
        );
    }

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sink = rt.block_on(WebhookSink::start(Service::Slack)).unwrap();
    let src = format!(
        "[policy]\nfactors = [\"webhook\"]\n[webhook]\nurl = \"{}\"\npreset = \"slack\"\n",
        sink.url()
    );
    let engine = Engine::with_users(
        Config::parse(Path::new("bench.toml"), &src).unwrap(),
        UsersDb::default(),
    )
    .unwrap();
    let mut ctx = AuthContext::new("alice", "sshd");
    ctx.rhost = Some("203.0.113.9".into());
    ctx.accounts = Arc::new(StaticAccounts(vec![Account {
        name: "alice".into(),
        uid: effective_uid(),
        gid: effective_uid(),
        home: "/nonexistent".into(),
        shell: "/bin/sh".into(),
        groups: vec![],
    }]));
    let mut conv = ReadsChannel::new(sink.channel(), 8);
    // A reused engine keeps its HTTP connection alive; the PAM module builds
    // its engine afresh for each authentication. Both are measured.
    let login = |engine: &Engine, conv: &mut ReadsChannel| {
        let d = rt.block_on(engine.authenticate(&ctx, conv));
        assert!(d.is_allow(), "{d:?}");
    };
    report(
        "login: engine reused",
        time_each(runs, || login(&engine, &mut conv)),
    );
    report(
        "login: engine built per login",
        time_each(runs, || {
            let engine = Engine::with_users(
                Config::parse(Path::new("bench.toml"), &src).unwrap(),
                UsersDb::default(),
            )
            .unwrap();
            login(&engine, &mut conv)
        }),
    );
}
