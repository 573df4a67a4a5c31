//! Everything a factor may know about one login attempt.
//!
//! The clock and the random source are injected so that every test is
//! deterministic; production uses [`SystemClock`] and [`OsRandom`].

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::accounts::{Account, AccountError, Accounts, SystemAccounts};

/// The login deadline of a context built without a session (the default
/// `general.login_timeout_secs`).
const DEFAULT_DEADLINE: Duration = Duration::from_secs(90);

/// Wall-clock time in seconds since the Unix epoch.
pub trait Clock: Send + Sync {
    fn now_unix(&self) -> u64;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

/// A clock frozen at a fixed instant (tests, vectors).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub u64);

impl Clock for FixedClock {
    fn now_unix(&self) -> u64 {
        self.0
    }
}

/// Source of secret randomness. Production must use the OS CSPRNG.
pub trait RandomSource: Send + Sync {
    /// Fill `buf` with random bytes.
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError>;

    /// A uniformly distributed integer in `0..bound` (rejection sampling, so
    /// there is no modulo bias). `bound` must be non-zero.
    fn uniform_below(&self, bound: u64) -> Result<u64, RandomError> {
        if bound == 0 {
            return Err(RandomError);
        }
        // Largest multiple of `bound` that fits in u64; values at or above it
        // are rejected so every residue is equally likely.
        let zone = u64::MAX - (u64::MAX % bound);
        loop {
            let mut b = [0u8; 8];
            self.fill(&mut b)?;
            let v = u64::from_le_bytes(b);
            if v < zone {
                return Ok(v % bound);
            }
        }
    }
}

/// The OS random source could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the operating system's random source is unavailable")]
pub struct RandomError;

/// The operating system's CSPRNG (`getrandom(2)`).
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRandom;

impl RandomSource for OsRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError> {
        getrandom::getrandom(buf).map_err(|_| RandomError)
    }
}

/// What looking a name up gave.
pub type Lookup = Result<Option<Account>, AccountError>;

/// A looked-up account and the name it was looked up by.
type CachedAccount = (String, Lookup);

/// One login attempt, as seen by the core.
#[derive(Clone)]
pub struct AuthContext {
    /// The account name exactly as the front end received it.
    pub user: String,
    /// Remote host (address or name) if known.
    pub rhost: Option<String>,
    /// PAM service name, or the front end's name (`mfa-login`, `mfa`).
    pub service: String,
    /// Controlling terminal name, if any.
    pub tty: Option<String>,
    /// Whether a person can answer interactive prompts.
    pub interactive: bool,
    /// The command the client asked to run (`SSH_ORIGINAL_COMMAND`).
    pub command: Option<String>,
    /// Whether sshd has already verified another authentication method for
    /// this login (the front end knows: mfa-login runs only after sshd
    /// authenticated the user; under PAM, sshd says so in
    /// `SSH_AUTH_INFO_0`). Only then may `unenrolled = "enroll"` enrol:
    /// otherwise whoever reaches the prompt could enrol an account.
    pub first_factor_verified: bool,
    /// This machine's host name.
    pub hostname: String,
    pub clock: Arc<dyn Clock>,
    pub rng: Arc<dyn RandomSource>,
    pub accounts: Arc<dyn Accounts>,
    /// The one deadline of this login: the engine stops here, and factors
    /// that wait (polls, terminal reads) never wait past it.
    pub deadline: Instant,
    /// `user` looked up once, on first use, for the policy and every
    /// factor; keyed by the name so a changed `user` is looked up afresh.
    account: Arc<Mutex<Option<CachedAccount>>>,
}

impl AuthContext {
    /// A context with the real clock, the OS random source and the system's
    /// account database.
    pub fn new(user: impl Into<String>, service: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            rhost: None,
            service: service.into(),
            tty: None,
            interactive: true,
            command: None,
            first_factor_verified: false,
            hostname: local_hostname(),
            clock: Arc::new(SystemClock),
            rng: Arc::new(OsRandom),
            accounts: Arc::new(SystemAccounts),
            deadline: Instant::now() + DEFAULT_DEADLINE,
            account: Arc::default(),
        }
    }

    pub fn now(&self) -> u64 {
        self.clock.now_unix()
    }

    /// The account of `user`, looked up in `accounts` on the first call and
    /// remembered: one lookup per login however many factors ask.
    /// `Ok(None)`: no such account; `Err`: the database could not say.
    pub fn account(&self) -> Lookup {
        let Ok(mut cache) = self.account.lock() else {
            return self.accounts.lookup(&self.user);
        };
        if let Some((name, account)) = cache.as_ref() {
            if *name == self.user {
                return account.clone();
            }
        }
        let account = self.accounts.lookup(&self.user);
        *cache = Some((self.user.clone(), account.clone()));
        account
    }

    /// This login under the account database's spelling of the name, when
    /// that differs from the name given (a case-insensitive backend
    /// resolving `ROOT` to `root`): every rule, enrolment and state file is
    /// then the canonical account's, never skipped for a near miss.
    /// `None` when the name is already canonical, unknown, or the lookup
    /// failed.
    pub fn canonical(&self) -> Option<AuthContext> {
        let account = self.account().ok().flatten()?;
        if account.name == self.user {
            return None;
        }
        let mut renamed = self.clone();
        renamed.user = account.name.clone();
        renamed.account = Arc::new(Mutex::new(Some((account.name.clone(), Ok(Some(account))))));
        Some(renamed)
    }

    /// Time left before the deadline (zero once it passed).
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

impl fmt::Debug for AuthContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthContext")
            .field("user", &self.user)
            .field("rhost", &self.rhost)
            .field("service", &self.service)
            .field("tty", &self.tty)
            .field("interactive", &self.interactive)
            .field("command", &self.command)
            .field("first_factor_verified", &self.first_factor_verified)
            .field("hostname", &self.hostname)
            .finish_non_exhaustive()
    }
}

/// The local host name, or `localhost` if it cannot be read.
pub fn local_hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cycles through fixed bytes: deterministic "randomness" for tests.
    struct Counter(std::sync::Mutex<u8>);
    impl RandomSource for Counter {
        fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError> {
            let mut c = self.0.lock().map_err(|_| RandomError)?;
            for b in buf {
                *b = *c;
                *c = c.wrapping_add(1);
            }
            Ok(())
        }
    }

    #[test]
    fn uniform_below_stays_in_range() {
        let r = Counter(std::sync::Mutex::new(0));
        for bound in [1u64, 2, 7, 10, 1_000_000, 100_000_000] {
            for _ in 0..50 {
                assert!(r.uniform_below(bound).unwrap() < bound);
            }
        }
        assert_eq!(r.uniform_below(0), Err(RandomError));
    }

    #[test]
    fn os_random_fills() {
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        OsRandom.fill(&mut a).unwrap();
        OsRandom.fill(&mut b).unwrap();
        assert_ne!(a, b);
    }
}
