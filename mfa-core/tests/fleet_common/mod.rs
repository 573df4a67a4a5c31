//! What the fleet-state tests share: a real PostgreSQL (mfa-testkit),
//! the hosts' `[state]` configuration, and logins run as the PAM module
//! runs them (a new engine, connection and runtime per login).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mfa_core::accounts::{Account, StaticAccounts};
use mfa_core::config::UsersDb;
use mfa_core::context::{Clock, FixedClock};
use mfa_core::conversation::scripted::ScriptedConversation;
use mfa_core::conversation::Conversation;
use mfa_core::otp::{format_code, hotp, time_step, Algorithm};
use mfa_core::state::pg::{schema, transfer, PgSettings};
use mfa_core::{AuthContext, Config, Decision, Engine};
use mfa_testkit::postgres::{self, Options, Postgres, MFA_PASSWORD};

pub const SECRET: &str = "JBSWY3DPEHPK3PXP";
pub const NOW: u64 = 1_700_000_000;
pub const PROMPT: &str = "Verification code: ";

pub struct Db {
    pub pg: Postgres,
    pub dir: tempfile::TempDir,
    pub pass: PathBuf,
    pub key: PathBuf,
}

/// A root-only file (what credentials_file and key_file must be).
pub fn secret_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

pub fn key_text() -> String {
    let mut k = [0u8; 32];
    getrandom::getrandom(&mut k).unwrap();
    format!("{}\n", data_encoding::HEXLOWER.encode(&k))
}

impl Db {
    /// A new cluster, migrated; `None` (skipped) outside CI without
    /// PostgreSQL or root.
    pub fn start(opts: Options) -> Option<Self> {
        if !postgres::available() {
            return None;
        }
        let pg = Postgres::start(opts).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let pass = secret_file(dir.path(), "pg.pass", &format!("{MFA_PASSWORD}\n"));
        let key = secret_file(dir.path(), "state.key", &key_text());
        let db = Self { pg, dir, pass, key };
        db.migrate();
        Some(db)
    }

    /// A host's mfa.toml: database state over the unix socket, secrets
    /// sealed in the database, `extra` appended.
    pub fn config(&self, extra: &str) -> Config {
        self.config_url(&self.pg.socket_url(), "postgres", extra)
    }

    pub fn config_url(&self, url: &str, secrets: &str, extra: &str) -> Config {
        let src = format!(
            "[state]\nbackend = \"postgres\"\nurl = \"{url}\"\ncredentials_file = \"{}\"\n\
             key_file = \"{}\"\nsecrets = \"{secrets}\"\nconnect_timeout_secs = 2\n{extra}",
            self.pass.display(),
            self.key.display()
        );
        Config::parse(Path::new("fleet.toml"), &src).unwrap()
    }

    pub fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    pub fn migrate(&self) {
        let settings = PgSettings::from_config(&self.config("")).unwrap();
        Self::runtime().block_on(async {
            let mut c = settings.connect().await.unwrap();
            schema::migrate(&mut c).await.unwrap();
        });
    }

    /// Store `text` as `user`'s sealed state.
    pub fn import(&self, user: &str, text: &str) {
        let settings = PgSettings::from_config(&self.config("")).unwrap();
        Self::runtime().block_on(async {
            let c = settings.connect().await.unwrap();
            transfer::import(&c, &settings, user, text.as_bytes(), true)
                .await
                .unwrap();
        });
    }

    /// One value from the database, as the superuser.
    pub fn sql(&self, sql: &str) -> String {
        self.pg.sql("mfa", sql).unwrap()
    }
}

pub fn account(name: &str, home: &Path) -> StaticAccounts {
    let uid = mfa_core::accounts::effective_uid();
    StaticAccounts(vec![Account {
        name: name.into(),
        uid,
        gid: uid,
        home: home.to_owned(),
        shell: "/bin/sh".into(),
        groups: vec![],
    }])
}

pub fn totp_at(now: u64) -> String {
    let key = data_encoding::BASE32_NOPAD
        .decode(SECRET.as_bytes())
        .unwrap();
    format_code(hotp(Algorithm::Sha1, &key, time_step(now, 30), 6), 6)
}

pub fn hotp_at(counter: u64) -> String {
    let key = data_encoding::BASE32_NOPAD
        .decode(SECRET.as_bytes())
        .unwrap();
    format_code(hotp(Algorithm::Sha1, &key, counter, 6), 6)
}

/// One login of `user` on a host configured by `config`, answering
/// `answer` to the code prompt (`None`: expect no prompt). A new engine
/// and connection each time, as sshd's fork per connection gives.
pub fn login(
    config: &Config,
    accounts: &StaticAccounts,
    user: &str,
    now: u64,
    rhost: &str,
    answer: Option<&str>,
) -> Decision {
    login_clock(
        config,
        accounts,
        user,
        Arc::new(FixedClock(now)),
        rhost,
        answer,
    )
}

/// A clock that gives these instants in turn, then the last one again
/// (the prompt's time, then the answer's).
pub struct Steps(pub std::sync::Mutex<Vec<u64>>);

impl Clock for Steps {
    fn now_unix(&self) -> u64 {
        let mut v = self.0.lock().unwrap();
        if v.len() > 1 {
            v.remove(0)
        } else {
            v[0]
        }
    }
}

/// [`login`] with the login's clock given.
pub fn login_clock(
    config: &Config,
    accounts: &StaticAccounts,
    user: &str,
    clock: Arc<dyn Clock>,
    rhost: &str,
    answer: Option<&str>,
) -> Decision {
    let steps = answer.map(|a| ScriptedConversation::secret(PROMPT, a));
    let mut conv = ScriptedConversation::new(steps).lenient_messages();
    let d = login_conv(config, accounts, user, clock, rhost, &mut conv);
    conv.finish();
    d
}

/// [`login_clock`] with the conversation given.
pub fn login_conv(
    config: &Config,
    accounts: &StaticAccounts,
    user: &str,
    clock: Arc<dyn Clock>,
    rhost: &str,
    conv: &mut dyn Conversation,
) -> Decision {
    let engine = Engine::with_users(config.clone(), UsersDb::default()).unwrap();
    let mut ctx = AuthContext::new(user, "sshd");
    ctx.clock = clock;
    ctx.accounts = Arc::new(accounts.clone());
    ctx.rhost = Some(rhost.to_owned());
    Db::runtime().block_on(engine.authenticate(&ctx, conv))
}

/// `n` logins at once (threads released together), each its own host
/// connection; the decisions.
pub fn race(
    config: &Config,
    accounts: &StaticAccounts,
    user: &str,
    now: u64,
    answer: &str,
    n: usize,
) -> Vec<Decision> {
    let barrier = Arc::new(std::sync::Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let (config, accounts, user, answer) = (
                config.clone(),
                accounts.clone(),
                user.to_owned(),
                answer.to_owned(),
            );
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                login(
                    &config,
                    &accounts,
                    &user,
                    now,
                    &format!("192.0.2.{i}"),
                    Some(&answer),
                )
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

pub fn allowed(d: &[Decision]) -> usize {
    d.iter().filter(|d| d.is_allow()).count()
}

pub fn denied_for(d: &Decision, why: &str) -> bool {
    matches!(d, Decision::Deny { reason } if reason.contains(why))
}
