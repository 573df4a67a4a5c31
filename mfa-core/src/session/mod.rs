//! One login, for every front end.
//!
//! A front end implements [`FrontEnd`] over its world (a PAM handle; argv,
//! the environment and a terminal) and calls [`Session::run`] once. The
//! session loads what the policy needs, starts the login's one deadline,
//! looks the account up once, plans the factors, builds only those, runs
//! them on the front end's [`Runner`] and returns the engine's
//! [`Decision`]; each front end turns that into its own typed verdict
//! ([`PamVerdict`], [`LoginVerdict`], [`CheckVerdict`]).

mod frontend;
mod pause;
mod runner;
mod verdict;

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Instant;

pub use frontend::{AuthTok, FrontEnd, Io, LogLevel, UserError};
pub use runner::{LocalRunner, NetworkRunner, Runner, RunnerError};
pub use verdict::{CheckVerdict, LoginVerdict, PamVerdict};

use crate::config::{Config, ConfigError, UsersDb};
use crate::context::AuthContext;
use crate::factor::FactorKind;
use crate::pam::PassMode;
use crate::policy::{plan, Decision, Engine, Plan};

/// Why a session could not decide.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    User(#[from] UserError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Runner(#[from] RunnerError),
    /// The plan names a factor this runner does not have, or the host's
    /// state is in a database: the lean PAM module hands the login to the
    /// network object. Nothing was asked.
    #[error("the plan needs a network factor")]
    NeedsNetwork,
}

/// One login's configuration, users file and deadline.
#[derive(Debug)]
pub struct Session {
    config: Config,
    users: Arc<UsersDb>,
    factors: Option<Vec<FactorKind>>,
    deadline: Instant,
}

impl Session {
    /// Load the users file `config` names; the login's deadline starts now.
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        let users = config.load_users()?;
        Ok(Self::with_users(config, users))
    }

    /// As [`Session::new`] with an already loaded users database.
    pub fn with_users(config: Config, users: UsersDb) -> Self {
        let deadline = config.login_deadline(Instant::now());
        Self {
            config,
            users: Arc::new(users),
            factors: None,
            deadline,
        }
    }

    /// Replace the factor list for every user (PAM `factor=`, `--factor`).
    pub fn override_factors(mut self, kinds: Option<Vec<FactorKind>>) -> Self {
        self.factors = kinds;
        self
    }

    /// The instant this login ends, whatever happens: front ends give it to
    /// blocking reads the engine cannot interrupt (a terminal).
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The context of this login, from what the front end supplies.
    pub fn context(&self, fe: &mut dyn FrontEnd) -> Result<AuthContext, UserError> {
        let user = fe.user()?;
        let mut ctx = AuthContext::new(user, fe.service());
        ctx.rhost = fe.rhost();
        ctx.tty = fe.tty();
        ctx.interactive = fe.interactive();
        ctx.command = fe.command();
        ctx.first_factor_verified = fe.first_factor_verified();
        ctx.deadline = self.deadline;
        Ok(ctx)
    }

    /// Every factor list a login could be planned from, with where it is
    /// written: the override (`factor=`) alone if there is one, else
    /// `policy.factors`, each rule's list and each user's in the users
    /// file.
    pub fn factor_lists(&self) -> Vec<(String, Vec<FactorKind>)> {
        if let Some(list) = &self.factors {
            return vec![("factor=".to_owned(), list.clone())];
        }
        let mut lists = vec![(
            "policy.factors".to_owned(),
            self.config.policy.factors.get_ref().clone(),
        )];
        for (i, rule) in self.config.policy.rules.iter().enumerate() {
            if let Some(list) = &rule.factors {
                lists.push((format!("policy.rules[{i}].factors"), list.clone()));
            }
        }
        for (name, entry) in &self.users.users {
            if let Some(list) = &entry.factors {
                lists.push((format!("users.{name}.factors"), list.clone()));
            }
        }
        lists
    }

    /// The factors `ctx.user` will be asked for (none when a rule skips or
    /// denies).
    pub fn planned(&self, ctx: &AuthContext) -> Vec<FactorKind> {
        let account = ctx.account().ok().flatten();
        match plan(
            &self.config,
            &self.users,
            &ctx.user,
            account.as_ref(),
            ctx.accounts.as_ref(),
            self.factors.as_deref(),
        ) {
            Plan::Run(kinds) => kinds,
            Plan::Skip | Plan::Deny | Plan::Fail(_) => Vec::new(),
        }
    }

    /// Decide one login on runner `R`: [`Session::prepare`], then
    /// [`Prepared::run`].
    pub fn run<R: Runner>(
        self,
        fe: &mut dyn FrontEnd,
        pass: PassMode,
    ) -> Result<Decision, SessionError> {
        self.prepare::<R>(fe)?.run(fe, pass)
    }

    /// Everything before the first prompt: the context, the plan, and the
    /// planned factors built (which reads provider credentials, so mfa-login
    /// does it before dropping its group). [`SessionError::NeedsNetwork`]
    /// when `R` cannot run a planned factor.
    pub fn prepare<R: Runner>(self, fe: &mut dyn FrontEnd) -> Result<Prepared<R>, SessionError> {
        let ctx = self.context(fe)?;
        self.prepare_for::<R>(ctx, fe)
    }

    /// As [`Session::prepare`] for a context already built (tests inject
    /// accounts, clocks and random sources this way).
    pub fn prepare_for<R: Runner>(
        self,
        ctx: AuthContext,
        fe: &dyn FrontEnd,
    ) -> Result<Prepared<R>, SessionError> {
        // The plan is the canonical account's (`ROOT` resolved to `root`
        // plans, and runs, as root); the engine does the same for callers
        // that come to it directly.
        let ctx = ctx.canonical().unwrap_or(ctx);
        let kinds = self.planned(&ctx);
        if !R::runs_config(&self.config) || kinds.iter().any(|&k| !R::runs(k)) {
            return Err(SessionError::NeedsNetwork);
        }
        let mut engine = Engine::for_kinds::<R>(self.config, self.users, &kinds)?;
        if let Some(list) = self.factors {
            engine = engine.override_factors(list)?;
        }
        if let Some(sink) = fe.audit_sink() {
            engine.add_audit_sink(sink);
        }
        Ok(Prepared {
            ctx,
            engine,
            runner: PhantomData,
        })
    }
}

/// A login ready to run on runner `R`.
pub struct Prepared<R> {
    ctx: AuthContext,
    engine: Engine,
    runner: PhantomData<R>,
}

impl<R: Runner> Prepared<R> {
    pub fn context(&self) -> &AuthContext {
        &self.ctx
    }

    /// Run the policy (with the pass option, under PAM) and return the
    /// decision; one audit record is written. A deny after the person gave
    /// a code returns only after `general.fail_delay_ms` (see `pause`).
    pub fn run(self, fe: &mut dyn FrontEnd, pass: PassMode) -> Result<Decision, SessionError> {
        let answered = pause::Answered::default();
        let io = fe.io();
        let mut conv = pause::WatchedConv {
            inner: io.conv,
            answered: &answered,
        };
        let mut tok = io.authtok.map(|inner| pause::WatchedTok {
            inner,
            answered: &answered,
        });
        let decision = R::block_on(crate::pam::flow::authenticate(
            &self.engine,
            &self.ctx,
            &mut conv,
            tok.as_mut().map(|t| t as &mut dyn AuthTok),
            pass,
        ))?;
        if matches!(decision, Decision::Deny { .. }) && answered.get() {
            pause::pause(self.engine.config().fail_delay(), self.ctx.deadline);
        }
        Ok(decision)
    }
}
