//! One TOTP verification including the locked state-file update (open,
//! checks, flock, parse, verify, temp file, fsync, rename, directory fsync).
//!
//! Each iteration moves the clock one step on so that every verification is a
//! fresh success that must be recorded (DISALLOW_REUSE + RATE_LIMIT), i.e. the
//! full write path runs every time.

// Benchmark harness code, like tests, may stop on a broken fixture.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;

use criterion::{criterion_group, criterion_main, Criterion};
use mfa_core::otp::{format_code, hotp, time_step, Algorithm};
use mfa_core::totp::store::{self, StorePolicy};
use mfa_core::totp::verify::{verify, VerifyOptions};

const SECRET: &str = "JBSWY3DPEHPK3PXP";

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".google_authenticator");
    std::fs::write(
        &path,
        format!("{SECRET}\n\" RATE_LIMIT 100 1\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n11111111\n22222222\n33333333\n44444444\n55555555\n"),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let policy = StorePolicy::owned_by(mfa_core::accounts::effective_uid());
    let key = data_encoding::BASE32_NOPAD
        .decode(SECRET.as_bytes())
        .unwrap();
    let opts = VerifyOptions {
        noskewadj: true,
        no_increment_hotp: false,
    };
    let mut now = 1_700_000_000u64;

    c.bench_function("totp verify + locked state update", |b| {
        b.iter(|| {
            now += 30;
            let code = format_code(hotp(Algorithm::Sha1, &key, time_step(now, 30), 6), 6);
            let r = store::update(&path, &policy, |s| {
                let v = verify(s, &code, now, opts);
                (v.result, v.changed)
            })
            .unwrap();
            assert!(r.is_ok());
        })
    });

    c.bench_function("totp verify in memory (no I/O)", |b| {
        let mut state = store::read(&path, &policy).unwrap();
        b.iter(|| {
            now += 30;
            let code = format_code(hotp(Algorithm::Sha1, &key, time_step(now, 30), 6), 6);
            assert!(verify(&mut state, &code, now, opts).result.is_ok());
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
