//! Three real sshd on 127.0.0.1 (three "hosts", each its own port) with
//! pam_mfa.so and one shared PostgreSQL: many simultaneous logins with the
//! same valid code, spread over the hosts, and exactly one is accepted in
//! every round; the same for a scratch code and an HOTP code.
//!
//! The short version runs in the suite; `scripts/fleet-race` runs the long
//! one (MFA_FLEET_ROUNDS=200 MFA_FLEET_LOGINS=24) for each of the three.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;
use std::sync::{Arc, Barrier, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use common::*;
use mfa_core::otp::{format_code, hotp, time_step, Algorithm};
use mfa_testkit::postgres::{self, Options, Postgres, MFA_PASSWORD};
use mfa_testkit::sshd::{askpass, require_binary, Sshd};

const HOSTS: usize = 3;
/// TOTP steps a race user accepts around now (WINDOW_SIZE 41): room for
/// many rounds per user without waiting for the clock.
const WINDOW: i64 = 41;
const STEPS_PER_USER: usize = 25;
const SCRATCH: [&str; 5] = ["11111111", "22222222", "33333333", "44444444", "55555555"];

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn key() -> Vec<u8> {
    data_encoding::BASE32_NOPAD
        .decode(SECRET.as_bytes())
        .unwrap()
}

fn now_step() -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    time_step(now, 30) as i64
}

/// One fleet at a time. pam_wrapper gives every process that starts PAM a
/// config dir `/tmp/pam.<letter>`, and two processes that pick the same
/// free letter at the same instant both use it (its `mkdir` failing with
/// EEXIST is only logged), each copying its own PAM services into it. With
/// one service name for every fleet, two fleets in parallel let a login
/// read the other fleet's `config=` and database (CI saw 38 and 34 audit
/// rows for 36 logins). Each `Services` now has names of its own, and the
/// fleets still take turns: a race of 24 logins is load enough.
static ONE_FLEET: Mutex<()> = Mutex::new(());

struct Fleet {
    hosts: Vec<Sshd>,
    pg: Postgres,
    _services: Services,
    _dir: tempfile::TempDir,
    cfg: std::path::PathBuf,
    /// pam_mfa's local audit log (`[general] audit_log`): one line per
    /// login it decided, whether or not the database answered.
    audit_log: std::path::PathBuf,
    // Last: released after the hosts are stopped.
    _alone: MutexGuard<'static, ()>,
}

fn secret_file(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

impl Fleet {
    fn start() -> Option<Self> {
        if !(prerequisites()
            && require_binary("sshd").is_some()
            && require_binary("ssh").is_some()
            && postgres::available())
        {
            return None;
        }
        // A test that failed while holding it poisoned it; the fleet it
        // guarded is gone all the same.
        let alone = ONE_FLEET.lock().unwrap_or_else(|e| e.into_inner());
        let pg = Postgres::start(Options::default()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let pass = secret_file(dir.path(), "pg.pass", MFA_PASSWORD);
        let mut k = [0u8; 32];
        getrandom::getrandom(&mut k).unwrap();
        let key = secret_file(dir.path(), "state.key", &data_encoding::HEXLOWER.encode(&k));
        let audit_log = dir.path().join("audit.log");
        let cfg = secret_file(
            dir.path(),
            "mfa.toml",
            &format!(
                // No fail delay: it slows guessing, and here would only
                // hold every losing login of a round for 2 s.
                "[general]\nfail_delay_ms = 0\naudit_log = \"{}\"\n\
                 [state]\nbackend = \"postgres\"\nurl = \"{}\"\ncredentials_file = \"{}\"\n\
                 secrets = \"postgres\"\nkey_file = \"{}\"\nconnect_timeout_secs = 5\n",
                audit_log.display(),
                pg.socket_url(),
                pass.display(),
                key.display()
            ),
        );
        let mfa = release_artefact("mfa");
        let o = std::process::Command::new(&mfa)
            .args(["state", "migrate", "--config"])
            .arg(&cfg)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let services = Services::new();
        let auth = [mfa_line("required", &format!("config={}", cfg.display()))];
        let hosts = (0..HOSTS)
            .map(|_| {
                services
                    .sshd(&auth)
                    .config("UsePAM yes")
                    .config("KbdInteractiveAuthentication yes")
                    .config("AuthenticationMethods keyboard-interactive")
                    .config("MaxStartups 100")
                    .start()
                    .unwrap()
            })
            .collect();
        Some(Self {
            hosts,
            pg,
            _services: services,
            _dir: dir,
            cfg,
            audit_log,
            _alone: alone,
        })
    }

    /// A user whose sealed state is `text`, imported with `mfa state import`.
    fn user(&self, prefix: &str, text: &str) -> TestUser {
        let user = new_user(prefix);
        user.write_file(".google_authenticator", text, 0o400);
        let o = std::process::Command::new(release_artefact("mfa"))
            .args(["state", "import", "--user", &user.name, "--config"])
            .arg(&self.cfg)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        // Not on disk any more: the hosts read it from the database.
        std::fs::remove_file(user.home.join(".google_authenticator")).unwrap();
        user
    }

    /// `n` logins of `user` answering `code`, released together and spread
    /// over the hosts: how many got a shell, and what ssh said for each
    /// login that was never asked for the code.
    fn race(&self, user: &TestUser, code: &str, n: usize) -> (usize, Vec<String>) {
        let barrier = Arc::new(Barrier::new(n));
        let results: Vec<(Output, bool)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..n)
                .map(|i| {
                    let (barrier, host) = (barrier.clone(), &self.hosts[i % HOSTS]);
                    s.spawn(move || {
                        barrier.wait();
                        login(host, user, code)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let won = results
            .iter()
            .filter(|(o, _)| o.status.success() && o.stdout == b"ok\n")
            .count();
        let unprompted = results
            .iter()
            .filter(|(_, p)| !*p)
            .map(|(o, _)| String::from_utf8_lossy(&o.stderr).into_owned())
            .collect();
        (won, unprompted)
    }

    /// The local audit log's decisions, one per login pam_mfa decided.
    fn decisions(&self) -> Vec<String> {
        std::fs::read_to_string(&self.audit_log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn explain(&self) -> String {
        let logs: Vec<String> = self.hosts.iter().map(|h| h.log()).collect();
        format!(
            "sshd logs:\n{}\npostgres log:\n{}",
            logs.join("\n---\n"),
            self.pg.log()
        )
    }
}

/// One login answering `code`; whether pam_mfa asked for it is recorded by
/// the askpass program (a marker file beside it).
fn login(server: &Sshd, user: &TestUser, code: &str) -> (Output, bool) {
    let dir = tempfile::tempdir().unwrap();
    let answer = askpass(dir.path(), &[("Verification code", code)]).unwrap();
    let marker = dir.path().join("prompted");
    let script = dir.path().join("askpass-marking");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ntouch '{}'\nexec '{}' \"$@\"\n",
            marker.display(),
            answer.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = server
        .ssh_with(user, "keyboard-interactive")
        .args(["-o", "NumberOfPasswordPrompts=1", "-o", "BatchMode=no"])
        .arg("echo ok")
        .env("SSH_ASKPASS", &script)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env("DISPLAY", ":0")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (out, marker.exists())
}

/// Rounds and simultaneous logins per round: 3 of 12 in the suite,
/// `scripts/fleet-race` asks for 200 of 24.
fn race_size() -> (usize, usize) {
    (
        env_or("MFA_FLEET_ROUNDS", 3),
        env_or("MFA_FLEET_LOGINS", 12),
    )
}

impl Fleet {
    /// Races `rounds` rounds of `logins` (`code_for(r)` gives round r's user
    /// and code) and checks that exactly one login won each round, and that
    /// the audit table holds one row per login and one allow per round.
    fn race_rounds(
        &self,
        kind: &str,
        rounds: usize,
        logins: usize,
        mut code_for: impl FnMut(usize) -> (usize, String),
        users: &[TestUser],
    ) {
        let started = Instant::now();
        let mut unprompted = Vec::new();
        for r in 0..rounds {
            let (u, code) = code_for(r);
            let (won, missed) = self.race(&users[u], &code, logins);
            assert_eq!(
                won,
                1,
                "{kind} round {r}: {won} of {logins} accepted\n{}",
                self.explain()
            );
            unprompted.extend(missed);
        }
        // Every login pam_mfa decided reached the database's audit table.
        let decided = self.decisions();
        let rows = self
            .pg
            .sql("mfa", "SELECT count(*) FROM mfa_audit")
            .unwrap();
        assert_eq!(
            rows,
            decided.len().to_string(),
            "decisions: {decided:#?}\n{}",
            self.explain()
        );
        // Under a heavy load the odd login dies before pam_mfa runs (its
        // client reset the connection, or its stack was being rewritten by
        // a pam_wrapper neighbour; runs before the fix met 3 to 5 in 4800):
        // it is never asked for a code and is denied. The suite's 36 logins
        // may lose one.
        let total = rounds * logins;
        let prompted = total - unprompted.len();
        assert!(
            decided.len() >= prompted,
            "{prompted} logins asked for a code, {} decided",
            decided.len()
        );
        let lost = total - decided.len();
        assert!(
            lost <= (total / 100).max(1),
            "{lost} of {total} logins never reached pam_mfa; ssh said: {unprompted:#?}\n{}",
            self.explain()
        );
        let allows = self
            .pg
            .sql(
                "mfa",
                "SELECT count(*) FROM mfa_audit WHERE decision = 'allow'",
            )
            .unwrap();
        assert_eq!(allows, rounds.to_string(), "{}", self.explain());
        eprintln!(
            "fleet race: {rounds} {kind} rounds of {logins} logins over {HOSTS} sshd in {:.1?} \
             ({lost} never reached pam_mfa{})",
            started.elapsed(),
            if unprompted.is_empty() {
                String::new()
            } else {
                format!("; ssh said: {unprompted:?}")
            }
        );
    }
}

#[test]
fn one_totp_code_is_accepted_once_across_three_sshd_hosts() {
    let Some(fleet) = Fleet::start() else {
        return;
    };
    let (rounds, logins) = race_size();
    // Round r uses user r % users and a step that no earlier round of that
    // user used, from the oldest still accepted upwards.
    let users: Vec<TestUser> = (0..rounds.div_ceil(STEPS_PER_USER))
        .map(|_| {
            fleet.user(
                "fleet",
                &format!("{SECRET}\n\" WINDOW_SIZE {WINDOW}\n\" DISALLOW_REUSE\n\" TOTP_AUTH\n"),
            )
        })
        .collect();
    let base = now_step();
    let n = users.len();
    fleet.race_rounds(
        "TOTP",
        rounds,
        logins,
        |r| {
            let step = base + (r / n) as i64 - (STEPS_PER_USER as i64 / 2);
            let code = format_code(hotp(Algorithm::Sha1, &key(), step as u64, 6), 6);
            (r % n, code)
        },
        &users,
    );
}

#[test]
fn one_scratch_code_is_accepted_once_across_three_sshd_hosts() {
    let Some(fleet) = Fleet::start() else {
        return;
    };
    let (rounds, logins) = race_size();
    // Each round races one of a user's scratch codes; a user has five.
    let users: Vec<TestUser> = (0..rounds.div_ceil(SCRATCH.len()))
        .map(|_| {
            fleet.user(
                "fleetsc",
                &format!("{SECRET}\n\" TOTP_AUTH\n{}\n", SCRATCH.join("\n")),
            )
        })
        .collect();
    fleet.race_rounds(
        "scratch",
        rounds,
        logins,
        |r| (r / SCRATCH.len(), SCRATCH[r % SCRATCH.len()].to_string()),
        &users,
    );
}

#[test]
fn one_hotp_code_is_accepted_once_across_three_sshd_hosts() {
    let Some(fleet) = Fleet::start() else {
        return;
    };
    let (rounds, logins) = race_size();
    // Each round races the code at the shared counter as it is now.
    let users = [fleet.user("fleeth", &format!("{SECRET}\n\" HOTP_COUNTER 1\n"))];
    let name = users[0].name.clone();
    fleet.race_rounds(
        "HOTP",
        rounds,
        logins,
        |_| {
            let counter: u64 = fleet
                .pg
                .sql(
                    "mfa",
                    &format!("SELECT counter FROM mfa_hotp WHERE username = '{name}'"),
                )
                .unwrap()
                .parse()
                .unwrap();
            (0, format_code(hotp(Algorithm::Sha1, &key(), counter, 6), 6))
        },
        &users,
    );
}
