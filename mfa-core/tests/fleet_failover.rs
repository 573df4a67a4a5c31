//! Failover (issue 14): a primary with a synchronous standby
//! (`synchronous_commit = remote_apply`), both started by the test on unix
//! sockets and listed in the hosts' URL with
//! `target_session_attrs=read-write`. The primary dies the instant after
//! its last login; the standby is promoted; every code, scratch code and
//! HOTP code the dead primary accepted is refused there, the rate-limit
//! attempts made before carry over, and logins keep working.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fleet_common;

use std::time::{Duration, Instant};

use fleet_common::*;
use mfa_testkit::postgres::Options;

/// connect_timeout_secs = 2: a login that cannot commit is denied within
/// that (twice: the claim and the audit insert) plus the work around it.
const BOUND: Duration = Duration::from_secs(8);

#[test]
fn a_promoted_synchronous_standby_refuses_what_the_dead_primary_accepted() {
    let Some(mut db) = Db::start(Options::default()) else {
        return;
    };
    let standby = db.pg.start_standby("standby1").unwrap();
    db.pg.make_synchronous("standby1").unwrap();
    let url = format!(
        "postgresql://mfa@/mfa?host={},{}&port={},{}&target_session_attrs=read-write",
        db.pg.socket_dir().display(),
        standby.socket_dir().display(),
        db.pg.port(),
        standby.port()
    );
    let cfg = db.config_url(&url, "postgres", "");
    let hotp_cfg = db.config_url(&url, "postgres", "[totp]\nno_increment_hotp = true\n");
    let home = db.dir.path().to_owned();
    let (ivy, jay, kim) = (
        account("ivy", &home),
        account("jay", &home),
        account("kim", &home),
    );
    db.import(
        "ivy",
        &format!(
            "{SECRET}\n\" RATE_LIMIT 6 30\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n11111111\n22222222\n"
        ),
    );
    db.import("jay", &format!("{SECRET}\n\" HOTP_COUNTER 5\n"));
    db.import(
        "kim",
        &format!("{SECRET}\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n"),
    );
    let ip = "192.0.2.1";

    // On the primary: a code, a scratch code, a wrong code (ivy: three
    // attempts of six), an HOTP code.
    assert!(login(&cfg, &ivy, "ivy", NOW, ip, Some(&totp_at(NOW))).is_allow());
    assert!(login(&cfg, &ivy, "ivy", NOW, ip, Some("11111111")).is_allow());
    let d = login(&cfg, &ivy, "ivy", NOW, ip, Some("000000"));
    assert!(denied_for(&d, "wrong code"), "{d:?}");
    assert!(login(&hotp_cfg, &jay, "jay", NOW, ip, Some(&hotp_at(5))).is_allow());

    // remote_apply: while the standby does not apply what it receives, no
    // write is acknowledged, so no login is allowed (it is denied within
    // the timeout; what it wrote is applied later, and only ever counts
    // against the person: fail closed).
    standby.pause_replay(true).unwrap();
    let start = Instant::now();
    let d = login(&cfg, &kim, "kim", NOW, ip, Some(&totp_at(NOW)));
    assert!(start.elapsed() < BOUND, "took {:?}", start.elapsed());
    assert!(denied_for(&d, "state database"), "{d:?}");
    standby.pause_replay(false).unwrap();
    assert!(login(&cfg, &kim, "kim", NOW + 30, ip, Some(&totp_at(NOW + 30))).is_allow());

    // The primary dies right after its last acknowledged login.
    db.pg.crash().unwrap();
    // No primary yet: the standby is read-only, so logins are denied (the
    // URL asks for a read-write server), quickly, nothing asked.
    let start = Instant::now();
    let d = login(&cfg, &ivy, "ivy", NOW + 30, ip, None);
    assert!(start.elapsed() < BOUND, "took {:?}", start.elapsed());
    assert!(denied_for(&d, "state database"), "{d:?}");

    standby.promote().unwrap();
    // Replays are refused by the new primary.
    let d = login(&cfg, &ivy, "ivy", NOW, ip, Some(&totp_at(NOW)));
    assert!(
        denied_for(&d, "reused"),
        "TOTP replay after failover: {d:?}"
    );
    let d = login(&cfg, &ivy, "ivy", NOW, ip, Some("11111111"));
    assert!(
        denied_for(&d, "reused"),
        "scratch replay after failover: {d:?}"
    );
    let d = login(&cfg, &kim, "kim", NOW + 30, ip, Some(&totp_at(NOW + 30)));
    assert!(
        denied_for(&d, "reused"),
        "kim's replay after failover: {d:?}"
    );
    assert!(!login(&hotp_cfg, &jay, "jay", NOW, ip, Some(&hotp_at(5))).is_allow());
    // Unused codes still work, once.
    assert!(login(&hotp_cfg, &jay, "jay", NOW, ip, Some(&hotp_at(6))).is_allow());
    assert!(login(&cfg, &ivy, "ivy", NOW, ip, Some("22222222")).is_allow());
    // ivy's attempts before the failover count: this is her seventh
    // within the interval, refused even with a fresh code.
    let d = login(&cfg, &ivy, "ivy", NOW + 30, ip, Some(&totp_at(NOW + 30)));
    assert!(denied_for(&d, "rate limited"), "{d:?}");
    // Once the interval has passed (attempts aged in the database), the
    // fresh code works, once.
    standby
        .sql(
            "mfa",
            "UPDATE mfa_rate SET attempts = ARRAY(SELECT t - 60 FROM unnest(attempts) AS t)",
        )
        .unwrap();
    assert!(login(&cfg, &ivy, "ivy", NOW + 30, ip, Some(&totp_at(NOW + 30))).is_allow());
    let d = login(&cfg, &ivy, "ivy", NOW + 30, ip, Some(&totp_at(NOW + 30)));
    assert!(denied_for(&d, "reused"), "{d:?}");
    assert_eq!(
        standby
            .sql("mfa", "SELECT counter FROM mfa_hotp WHERE username = 'jay'")
            .unwrap(),
        "7"
    );
}
