//! A state database that cannot be reached denies, whatever failmode says,
//! within connect_timeout_secs, and claims nothing: stopped, frozen
//! (SIGSTOP), restarted (between logins, and while a code is typed), a
//! wrong password, TLS with the wrong CA. The next
//! login after recovery works, with the very code the failed one typed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fleet_common;

use std::time::{Duration, Instant};

use fleet_common::*;
use mfa_core::context::FixedClock;
use mfa_core::conversation::{Conversation, ConversationError, SecretAnswer};
use mfa_core::{Config, Decision};
use mfa_testkit::postgres::{Options, Postgres};

/// connect_timeout_secs = 2 in these configs; a deny may take that plus
/// the work around it, never the login's 90 s.
const BOUND: Duration = Duration::from_secs(5);

/// A login that must be denied for an unreachable or refusing database,
/// quickly, with nothing asked.
fn denied_fast(cfg: &Config, who: &mfa_core::accounts::StaticAccounts, now: u64) -> Decision {
    let start = Instant::now();
    let d = login(cfg, who, "frank", now, "192.0.2.1", None);
    assert!(start.elapsed() < BOUND, "took {:?}", start.elapsed());
    assert!(denied_for(&d, "state"), "{d:?}");
    d
}

fn ok_once(cfg: &Config, who: &mfa_core::accounts::StaticAccounts, now: u64) {
    let d = login(cfg, who, "frank", now, "192.0.2.1", Some(&totp_at(now)));
    assert!(d.is_allow(), "{d:?}");
    let d = login(cfg, who, "frank", now, "192.0.2.1", Some(&totp_at(now)));
    assert!(denied_for(&d, "reused"), "{d:?}");
}

/// A host with `failmode = "safe"` (it is about providers: it must not
/// open a login that lost its state database) and frank, who may use each
/// code once.
fn frank_with_reuse_ban(db: &Db) -> (Config, mfa_core::accounts::StaticAccounts) {
    let cfg = db.config("[general]\nfailmode = \"safe\"\n");
    let who = account("frank", db.dir.path());
    db.import(
        "frank",
        &format!("{SECRET}\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n"),
    );
    (cfg, who)
}

#[test]
fn stopped_frozen_and_restarted_databases_deny_and_recovery_works() {
    let Some(mut db) = Db::start(Options::default()) else {
        return;
    };
    let (cfg, who) = frank_with_reuse_ban(&db);
    ok_once(&cfg, &who, NOW);

    db.pg.stop().unwrap();
    let d = denied_fast(&cfg, &who, NOW + 30);
    assert!(denied_for(&d, "unreachable"), "{d:?}");
    db.pg.restart().unwrap();
    ok_once(&cfg, &who, NOW + 30);

    db.pg.pause().unwrap();
    let d = denied_fast(&cfg, &who, NOW + 60);
    assert!(denied_for(&d, "no answer within 2 s"), "{d:?}");
    db.pg.resume().unwrap();
    ok_once(&cfg, &who, NOW + 60);

    // Restarted between two logins: the next login connects afresh.
    db.pg.restart().unwrap();
    ok_once(&cfg, &who, NOW + 90);
    assert_eq!(db.sql("SELECT count(*) FROM mfa_used_step"), "4");
}

/// Restarts the database while the person types the code: the login read
/// the user's state over a connection that is gone when the code is
/// claimed.
struct RestartWhileTyping<'a> {
    pg: &'a mut Postgres,
    code: String,
    asked: usize,
}

#[async_trait::async_trait]
impl Conversation for RestartWhileTyping<'_> {
    async fn prompt_secret(&mut self, _prompt: &str) -> Result<SecretAnswer, ConversationError> {
        self.asked += 1;
        self.pg.restart().unwrap();
        Ok(SecretAnswer::new(self.code.clone()))
    }
    async fn prompt_visible(&mut self, prompt: &str) -> Result<String, ConversationError> {
        Err(ConversationError::Failed(format!(
            "unexpected prompt {prompt:?}"
        )))
    }
    async fn info(&mut self, _text: &str) -> Result<(), ConversationError> {
        Ok(())
    }
    async fn error(&mut self, _text: &str) -> Result<(), ConversationError> {
        Ok(())
    }
}

#[test]
fn a_database_restarted_while_the_code_is_typed_denies_that_login_and_claims_nothing() {
    let Some(mut db) = Db::start(Options::default()) else {
        return;
    };
    let (cfg, who) = frank_with_reuse_ban(&db);
    let mut conv = RestartWhileTyping {
        pg: &mut db.pg,
        code: totp_at(NOW),
        asked: 0,
    };
    let clock = std::sync::Arc::new(FixedClock(NOW));
    let d = login_conv(&cfg, &who, "frank", clock, "192.0.2.1", &mut conv);
    assert_eq!(conv.asked, 1, "the code was asked once");
    // "state database unreachable: connection closed"
    assert!(denied_for(&d, "unreachable"), "{d:?}");
    // Nothing was claimed or counted: the very code typed works, once.
    assert_eq!(db.sql("SELECT count(*) FROM mfa_used_step"), "0");
    ok_once(&cfg, &who, NOW);
}

#[test]
fn a_wrong_password_or_a_wrong_ca_denies() {
    let Some(db) = Db::start(Options { tls: true }) else {
        return;
    };
    let who = account("frank", db.dir.path());
    db.import(
        "frank",
        &format!("{SECRET}\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n"),
    );
    let ca = db.pg.ca_pem().unwrap().display().to_string();
    let tls = |ca: &str| db.config_url(&db.pg.tcp_url(), "postgres", "").with_ca(ca);
    // The right CA over TCP+TLS works.
    ok_once(&tls(&ca), &who, NOW);

    // A CA that did not issue the server's certificate.
    let other = mfa_sim::tls::TestCa::new().unwrap();
    let wrong_ca = db.dir.path().join("other-ca.pem");
    std::fs::write(&wrong_ca, other.pem()).unwrap();
    let d = denied_fast(&tls(&wrong_ca.display().to_string()), &who, NOW + 30);
    assert!(denied_for(&d, "unreachable"), "{d:?}");
    // No CA file: the built-in web roots do not trust it either.
    let mut no_ca = tls(&ca);
    no_ca.state.ca_file = None;
    denied_fast(&no_ca, &who, NOW + 30);

    // A wrong password, over TLS and over the socket.
    let bad = secret_file(db.dir.path(), "bad.pass", "not-the-password\n");
    for mut cfg in [tls(&ca), db.config("")] {
        let good = cfg.state.credentials_file.replace(bad.clone());
        let d = denied_fast(&cfg, &who, NOW + 30);
        assert!(denied_for(&d, "password authentication failed"), "{d:?}");
        cfg.state.credentials_file = good;
    }
    // Nothing was claimed by the failed logins: the same code works once.
    ok_once(&tls(&ca), &who, NOW + 30);
}

trait WithCa {
    fn with_ca(self, ca: &str) -> Self;
}

impl WithCa for Config {
    fn with_ca(mut self, ca: &str) -> Self {
        self.state.ca_file = Some(ca.into());
        self
    }
}
