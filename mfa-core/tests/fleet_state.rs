//! The PostgreSQL state backend against a real server: a code, a scratch
//! code and an HOTP code are accepted once across hosts even when raced,
//! rate limits and grace periods hold across hosts, the audit table is
//! append-only, sealed secrets, import/export, migrations.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fleet_common;

use fleet_common::*;
use mfa_core::state::pg::{schema, transfer, PgSettings};
use mfa_testkit::postgres::Options;

/// Simultaneous logins per round (the long version is scripts/fleet-race).
const RACERS: usize = 12;

#[test]
fn codes_scratch_codes_and_hotp_codes_are_accepted_once_across_hosts_even_when_raced() {
    let Some(db) = Db::start(Options::default()) else {
        return;
    };
    let home = db.dir.path().to_owned();
    let cfg = db.config("");
    let alice = account("alice", &home);
    db.import(
        "alice",
        &format!("{SECRET}\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n11111111\n22222222\n"),
    );
    for round in 0..3 {
        let now = NOW + 30 * round;
        let d = race(&cfg, &alice, "alice", now, &totp_at(now), RACERS);
        assert_eq!(allowed(&d), 1, "round {round}: {d:?}");
        assert!(
            d.iter()
                .filter(|d| !d.is_allow())
                .all(|d| denied_for(d, "reused")),
            "{d:?}"
        );
    }
    assert_eq!(
        db.sql("SELECT count(*) FROM mfa_used_step WHERE username = 'alice'"),
        "3"
    );
    let d = race(&cfg, &alice, "alice", NOW, "11111111", RACERS);
    assert_eq!(allowed(&d), 1, "scratch code: {d:?}");
    // The other scratch code is still good, once.
    assert!(login(&cfg, &alice, "alice", NOW, "192.0.2.1", Some("22222222")).is_allow());
    assert!(!login(&cfg, &alice, "alice", NOW, "192.0.2.1", Some("22222222")).is_allow());
    // A wrong code claims nothing.
    assert!(!login(
        &cfg,
        &alice,
        "alice",
        NOW + 300,
        "192.0.2.1",
        Some("000000")
    )
    .is_allow());
    assert!(login(
        &cfg,
        &alice,
        "alice",
        NOW + 300,
        "192.0.2.1",
        Some(&totp_at(NOW + 300))
    )
    .is_allow());

    let bob = account("bob", &home);
    db.import("bob", &format!("{SECRET}\n\" HOTP_COUNTER 5\n"));
    // (A wrong HOTP code uses up a counter value, as in the file; without
    // that, the losers leave the counter where the winner put it.)
    let hotp_cfg = db.config("[totp]\nno_increment_hotp = true\n");
    let d = race(&hotp_cfg, &bob, "bob", NOW, &hotp_at(5), RACERS);
    assert_eq!(allowed(&d), 1, "HOTP: {d:?}");
    assert_eq!(
        db.sql("SELECT counter FROM mfa_hotp WHERE username = 'bob'"),
        "6"
    );
    assert!(!login(&hotp_cfg, &bob, "bob", NOW, "192.0.2.1", Some(&hotp_at(5))).is_allow());
    assert!(login(&hotp_cfg, &bob, "bob", NOW, "192.0.2.1", Some(&hotp_at(6))).is_allow());
    // With the default, a wrong code moves the shared counter on too.
    assert!(!login(&cfg, &bob, "bob", NOW, "192.0.2.1", Some("000000")).is_allow());
    assert_eq!(
        db.sql("SELECT counter FROM mfa_hotp WHERE username = 'bob'"),
        "8"
    );
}

#[test]
fn state_files_on_each_host_share_their_used_codes_and_rate_limit_through_the_database() {
    let Some(db) = Db::start(Options::default()) else {
        return;
    };
    // Two hosts, each with its own copy of carol's file (secrets = "file").
    let hosts: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|h| {
            let home = db.dir.path().join(h);
            std::fs::create_dir(&home).unwrap();
            let p = home.join(".google_authenticator");
            std::fs::write(
                &p,
                format!("{SECRET}\n\" RATE_LIMIT 3 30\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n"),
            )
            .unwrap();
            std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o400))
                .unwrap();
            (
                db.config_url(&db.pg.socket_url(), "file", ""),
                account("carol", &home),
            )
        })
        .collect();
    let (a, b) = (&hosts[0], &hosts[1]);
    assert!(login(&a.0, &a.1, "carol", NOW, "192.0.2.1", Some(&totp_at(NOW))).is_allow());
    let d = login(&b.0, &b.1, "carol", NOW, "192.0.2.1", Some(&totp_at(NOW)));
    assert!(denied_for(&d, "reused"), "{d:?}");
    // The files were never rewritten: the state is in the database.
    let text = std::fs::read_to_string(db.dir.path().join("a/.google_authenticator")).unwrap();
    assert!(!text.contains("DISALLOW_REUSE 5"), "{text}");

    // Attempts are timed by the database's clock: age the two above by a
    // minute, as if their interval had passed.
    let age = "UPDATE mfa_rate SET attempts = ARRAY(SELECT t - 60 FROM unnest(attempts) AS t)";
    db.sql(age);
    // RATE_LIMIT 3 30, counted on every host: three attempts (two wrong,
    // one above), spread over the hosts, and the fourth is refused on any.
    let t = NOW + 120;
    for (i, h) in hosts.iter().enumerate() {
        let d = login(&h.0, &h.1, "carol", t, "192.0.2.1", Some("000000"));
        assert!(denied_for(&d, "wrong code"), "attempt {i}: {d:?}");
    }
    for h in &hosts {
        let d = login(&h.0, &h.1, "carol", t + 1, "192.0.2.1", Some(&totp_at(t)));
        assert!(denied_for(&d, "rate limited"), "{d:?}");
    }
    // Once the interval has passed, the right code works again.
    db.sql(age);
    let later = t + 60;
    assert!(login(
        &a.0,
        &a.1,
        "carol",
        later,
        "192.0.2.1",
        Some(&totp_at(later))
    )
    .is_allow());
}

#[test]
fn grace_periods_hold_across_hosts_and_the_audit_table_is_append_only() {
    let Some(db) = Db::start(Options::default()) else {
        return;
    };
    let cfg = db.config("[totp]\ngrace_period = 3600\n");
    let dave = account("dave", db.dir.path());
    db.import("dave", &format!("{SECRET}\n\" TOTP_AUTH\n"));
    assert!(login(&cfg, &dave, "dave", NOW, "203.0.113.9", Some(&totp_at(NOW))).is_allow());
    // Another host, same address, within the period: no code asked.
    assert!(login(&cfg, &dave, "dave", NOW + 60, "203.0.113.9", None).is_allow());
    // Another address is asked.
    let d = login(
        &cfg,
        &dave,
        "dave",
        NOW + 60,
        "203.0.113.10",
        Some("000000"),
    );
    assert!(denied_for(&d, "wrong code"), "{d:?}");
    let rows = db.sql("SELECT decision || ':' || username || ':' || coalesce(rhost, '') || ':' || factors FROM mfa_audit ORDER BY id");
    assert_eq!(
        rows.lines().collect::<Vec<_>>(),
        [
            "allow:dave:203.0.113.9:totp",
            "allow:dave:203.0.113.9:totp",
            "deny:dave:203.0.113.10:totp"
        ]
    );
    let host = mfa_core::context::local_hostname();
    assert_eq!(
        db.sql("SELECT count(DISTINCT hostname) FROM mfa_audit"),
        "1"
    );
    assert_eq!(db.sql("SELECT min(hostname) FROM mfa_audit"), host);
    // Not even the superuser rewrites history.
    for sql in [
        "UPDATE mfa_audit SET decision = 'allow'",
        "DELETE FROM mfa_audit",
        "TRUNCATE mfa_audit",
    ] {
        let e = db.pg.sql("mfa", sql).unwrap_err();
        assert!(e.to_string().contains("append-only"), "{sql}: {e}");
    }
    assert_eq!(db.sql("SELECT count(*) FROM mfa_audit"), "3");
}

#[test]
fn sealed_secrets_export_and_migrations() {
    let Some(db) = Db::start(Options::default()) else {
        return;
    };
    // A file with every kind of line, including ones mfa does not know.
    let original = format!(
        "{SECRET}\n\" RATE_LIMIT 3 30 1699999990\n\" WINDOW_SIZE 5\n\" DISALLOW_REUSE\n\
         \" TOTP_AUTH\n\" LAST0 198.51.100.7 1699990000\n\" SOMETHING_NEW x y\n12345678\n87654321\n"
    );
    db.import("erin", &original);
    let cfg = db.config("");
    let settings = PgSettings::from_config(&cfg).unwrap();
    let rt = Db::runtime();
    let export = |settings: &PgSettings| {
        rt.block_on(async {
            let c = settings.connect().await.unwrap();
            transfer::export(&c, settings, "erin").await
        })
    };
    // Nothing used yet: byte for byte.
    assert_eq!(
        String::from_utf8(export(&settings).unwrap().to_vec()).unwrap(),
        original
    );
    // The dump holds no secret and no scratch code.
    let dump = db.sql("SELECT encode(sealed, 'escape') FROM mfa_secret");
    for needle in [SECRET, "12345678", "RATE_LIMIT", "SOMETHING_NEW"] {
        assert!(!dump.contains(needle), "{needle} in {dump}");
    }
    // Another host's key opens nothing, and a login there is denied.
    let other_key = secret_file(db.dir.path(), "other.key", &key_text());
    let mut other = cfg.clone();
    other.state.key_file = Some(toml::Spanned::new(0..0, other_key));
    let wrong = PgSettings::from_config(&other).unwrap();
    assert!(export(&wrong).unwrap_err().to_string().contains("unseal"));
    let erin = account("erin", db.dir.path());
    // (Refused before anything is asked.)
    let d = login(&other, &erin, "erin", NOW, "192.0.2.1", None);
    assert!(denied_for(&d, "unseal"), "{d:?}");
    // A row moved to another user does not open either.
    db.sql("INSERT INTO mfa_secret (username, sealed) SELECT 'mallory', sealed FROM mfa_secret WHERE username = 'erin'");
    let mallory = account("mallory", db.dir.path());
    let d = login(&cfg, &mallory, "mallory", NOW, "192.0.2.1", None);
    assert!(denied_for(&d, "unseal"), "{d:?}");

    // What the fleet used comes back out: the scratch code is gone, the
    // used step is in DISALLOW_REUSE; every other line is kept.
    assert!(login(&cfg, &erin, "erin", NOW, "192.0.2.1", Some("12345678")).is_allow());
    assert!(login(&cfg, &erin, "erin", NOW, "192.0.2.1", Some(&totp_at(NOW))).is_allow());
    let out = String::from_utf8(export(&settings).unwrap().to_vec()).unwrap();
    let step = NOW / 30;
    assert_eq!(
        out,
        format!(
            "{SECRET}\n\" RATE_LIMIT 3 30 1699999990\n\" WINDOW_SIZE 5\n\" DISALLOW_REUSE {step}\n\
             \" TOTP_AUTH\n\" LAST0 198.51.100.7 1699990000\n\" SOMETHING_NEW x y\n87654321\n"
        )
    );

    // Migrations: recorded, and a second run applies nothing.
    rt.block_on(async {
        let mut c = settings.connect().await.unwrap();
        assert_eq!(
            schema::current(&c, settings.timeout).await.unwrap(),
            schema::latest()
        );
        assert!(schema::migrate(&mut c).await.unwrap().is_empty());
    });
    // A database nobody migrated denies, and says why.
    db.pg
        .sql("postgres", "CREATE DATABASE empty OWNER mfa")
        .unwrap();
    let url = db.pg.socket_url().replace("/mfa?", "/empty?");
    let bare = db.config_url(&url, "postgres", "");
    let d = login(&bare, &erin, "erin", NOW + 30, "192.0.2.1", None);
    assert!(denied_for(&d, "state database"), "{d:?}");
    let s = PgSettings::from_config(&bare).unwrap();
    rt.block_on(async {
        let c = s.connect().await.unwrap();
        assert_eq!(schema::current(&c, s.timeout).await.unwrap(), 0);
    });
}

/// The database's clock now (Unix seconds).
fn db_now(db: &Db) -> u64 {
    db.sql("SELECT floor(extract(epoch FROM clock_timestamp()))::int8")
        .parse()
        .unwrap()
}

/// A login whose own time is behind (taken at its prompt, or a host whose
/// clock is slow) keeps the attempts other hosts recorded since: the
/// upsert times attempts by the database's clock under the row lock.
/// Judged by the login's time, another host's attempt 2 s ago lay "in the
/// future" and was dropped, so logins erased each other's attempts and
/// the limit never bit.
#[test]
fn rate_limit_records_newer_than_a_logins_own_time_survive() {
    let Some(db) = Db::start(Options::default()) else {
        return;
    };
    let cfg = db.config("");
    let gina = account("gina", db.dir.path());
    db.import(
        "gina",
        &format!("{SECRET}\n\" RATE_LIMIT 3 30\n\" TOTP_AUTH\n"),
    );
    let now = db_now(&db);
    let other = now - 2;
    db.sql(&format!(
        "INSERT INTO mfa_rate (username, attempts) VALUES ('gina', ARRAY[{other}::int8])"
    ));
    let prompt = now - 20;
    let d = login(&cfg, &gina, "gina", prompt, "192.0.2.1", Some("000000"));
    assert!(denied_for(&d, "wrong code"), "{d:?}");
    let kept: Vec<u64> = db
        .sql("SELECT array_to_string(attempts, ' ') FROM mfa_rate WHERE username = 'gina'")
        .split(' ')
        .map(|t| t.parse().unwrap())
        .collect();
    assert_eq!(
        kept.len(),
        2,
        "the other host's attempt was dropped: {kept:?}"
    );
    assert_eq!(kept[0], other);
    assert!(kept[1] >= other && kept[1] <= db_now(&db), "{kept:?}");
    // So the limit bites: a third attempt is judged, the fourth refused
    // even with the right code.
    let d = login(&cfg, &gina, "gina", prompt, "192.0.2.1", Some("000000"));
    assert!(denied_for(&d, "wrong code"), "{d:?}");
    let d = login(
        &cfg,
        &gina,
        "gina",
        prompt,
        "192.0.2.1",
        Some(&totp_at(prompt)),
    );
    assert!(denied_for(&d, "rate limited"), "{d:?}");
}

/// The code is judged at the time of the answer, not of the prompt: a
/// code of the step the person typed it in is accepted after a slow
/// answer, and one of the prompt's step (outside the window by then) is
/// not.
#[test]
fn the_code_is_judged_at_the_answers_time() {
    let Some(db) = Db::start(Options::default()) else {
        return;
    };
    let cfg = db.config("");
    let hal = account("hal", db.dir.path());
    db.import(
        "hal",
        &format!("{SECRET}\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n"),
    );
    let (prompt, answer) = (NOW, NOW + 120);
    let slow = |code: &str| {
        let clock = std::sync::Arc::new(Steps(std::sync::Mutex::new(vec![prompt, answer])));
        login_clock(&cfg, &hal, "hal", clock, "192.0.2.1", Some(code))
    };
    let d = slow(&totp_at(prompt));
    assert!(denied_for(&d, "wrong code"), "{d:?}");
    assert!(slow(&totp_at(answer)).is_allow());
    assert_eq!(
        db.sql("SELECT step FROM mfa_used_step WHERE username = 'hal'"),
        (answer / 30).to_string()
    );
}
