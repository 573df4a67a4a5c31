//! How a session runs its factors: in-line with no async runtime and only
//! the local factor (TOTP), or on a tokio runtime with every factor.
//!
//! sshd loads the PAM module into a fresh process for every connection, so
//! what the module links is paid on every login. The network factors need
//! an async runtime, an HTTP client and TLS; a TOTP login needs none of
//! them. [`LocalRunner`] references only TOTP, so a binary that uses only it
//! (the lean `pam_mfa.so`) links none of the network code; a plan that
//! names a network factor is handed to [`NetworkRunner`] (the
//! `pam_mfa_net.so` object, mfa-login, `mfa`). Generic code instantiated
//! per runner keeps that split at link time.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::config::{Config, ConfigError, UsersDb};
use crate::factor::{Factor, FactorKind};
use crate::policy::{Bounded, Builder, Timer, Work};
use crate::state::FleetHook;
use crate::totp::TotpFactor;

/// Why a runner could not run a login.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunnerError {
    #[error("cannot start the async runtime: {0}")]
    Runtime(String),
    /// The local runner met a future that waits for something (it has no
    /// reactor to wake it): a factor that belongs to the network runner.
    #[error("a local login waited for I/O; the network runner must run it")]
    WouldBlock,
}

/// A way to run one login's future to completion.
pub trait Runner {
    /// Builds the factors this runner can run.
    const BUILDER: Builder;
    /// Bounds the engine's work by the login deadline.
    const TIMER: &'static dyn Timer;
    /// Builds the login's shared state, for a host whose state is in a
    /// database (`[state] backend = "postgres"`). By default none: such a
    /// runner has no database client (and `runs_config` refuses those
    /// hosts, so nothing falls back to file state).
    const FLEET: FleetHook = crate::state::no_fleet;
    /// Whether this runner can run factor `kind`.
    fn runs(kind: FactorKind) -> bool;
    /// Whether this runner can run logins of a host configured so: the
    /// local runner has no database client, so a host whose state is in
    /// PostgreSQL hands every login to the network runner. By default only
    /// hosts with file state (see `FLEET`).
    fn runs_config(config: &Config) -> bool {
        !config.state.is_postgres()
    }
    /// Run `f` to completion on this thread.
    fn block_on<F: Future>(f: F) -> Result<F::Output, RunnerError>;
}

/// TOTP only, no async runtime: every await in a TOTP login completes at
/// once (the conversation and the state file are synchronous), so one poll
/// finishes it. A future that is still pending after that poll is refused
/// (and the login denied) rather than waited on forever.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalRunner;

fn build_local(
    kind: FactorKind,
    config: &Config,
    _users: &Arc<UsersDb>,
) -> Result<Arc<dyn Factor>, ConfigError> {
    match kind {
        FactorKind::Totp => Ok(Arc::new(TotpFactor::new(config.totp.clone()))),
        other => Err(ConfigError::file(
            config.source_name(),
            format!("{other}: needs the network runner"),
        )),
    }
}

/// No timers without a runtime: a local login is bounded by its
/// conversation (sshd's LoginGraceTime) and checked against the deadline
/// once its work is done.
struct InlineTimer;

impl Timer for InlineTimer {
    fn until<'a>(&'a self, deadline: Instant, work: Work<'a>) -> Bounded<'a> {
        Box::pin(async move {
            let decision = work.await;
            (Instant::now() <= deadline).then_some(decision)
        })
    }
}

impl Runner for LocalRunner {
    const BUILDER: Builder = build_local;
    const TIMER: &'static dyn Timer = &InlineTimer;

    fn runs(kind: FactorKind) -> bool {
        kind == FactorKind::Totp
    }

    fn block_on<F: Future>(f: F) -> Result<F::Output, RunnerError> {
        let mut f = pin!(f);
        match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(out) => Ok(out),
            Poll::Pending => Err(RunnerError::WouldBlock),
        }
    }
}

/// Every factor, on a current-thread tokio runtime created for this login
/// and dropped before returning (sshd forks per connection; nothing may
/// outlive the call).
#[derive(Debug, Clone, Copy, Default)]
pub struct NetworkRunner;

/// How long dropping the runtime may wait for leftover blocking work (a DNS
/// lookup in flight) before the login returns anyway.
const RUNTIME_SHUTDOWN: Duration = Duration::from_secs(1);

/// tokio's timer: the engine's work is cancelled at the deadline.
struct TokioTimer;

impl Timer for TokioTimer {
    fn until<'a>(&'a self, deadline: Instant, work: Work<'a>) -> Bounded<'a> {
        Box::pin(async move { tokio::time::timeout_at(deadline.into(), work).await.ok() })
    }
}

impl Runner for NetworkRunner {
    const BUILDER: Builder = crate::factor::build;
    const TIMER: &'static dyn Timer = &TokioTimer;
    const FLEET: FleetHook = crate::state::pg::fleet_for;

    fn runs(_kind: FactorKind) -> bool {
        true
    }

    fn runs_config(_config: &Config) -> bool {
        true
    }

    fn block_on<F: Future>(f: F) -> Result<F::Output, RunnerError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| RunnerError::Runtime(e.to_string()))?;
        let out = rt.block_on(f);
        rt.shutdown_timeout(RUNTIME_SHUTDOWN);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_runner_finishes_ready_work_and_refuses_waiting() {
        assert_eq!(LocalRunner::block_on(async { 7 }), Ok(7));
        let waits = std::future::pending::<()>();
        assert_eq!(LocalRunner::block_on(waits), Err(RunnerError::WouldBlock));
    }

    #[test]
    fn only_totp_is_local() {
        for kind in FactorKind::ALL {
            assert_eq!(LocalRunner::runs(kind), kind == FactorKind::Totp);
            assert!(NetworkRunner::runs(kind));
        }
    }

    #[test]
    fn a_host_with_database_state_is_the_network_runners() {
        let file = Config::default();
        let pg = Config::parse(
            std::path::Path::new("/etc/mfa/mfa.toml"),
            "[state]\nbackend = \"postgres\"\nurl = \"postgresql://mfa@/mfa?host=/run/postgresql\"\n",
        )
        .unwrap();
        assert!(LocalRunner::runs_config(&file));
        assert!(!LocalRunner::runs_config(&pg));
        assert!(NetworkRunner::runs_config(&pg));
        assert!((LocalRunner::FLEET)(&pg).unwrap().is_none());
        assert!((NetworkRunner::FLEET)(&file).unwrap().is_none());
        assert!((NetworkRunner::FLEET)(&pg).unwrap().is_some());
    }

    #[test]
    fn network_runner_has_timers() {
        let out = NetworkRunner::block_on(async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            3
        });
        assert_eq!(out, Ok(3));
    }
}
