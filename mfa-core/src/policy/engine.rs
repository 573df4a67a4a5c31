//! The engine: runs the planned factors, applies `failmode` and
//! `unenrolled`, writes exactly one audit record, returns one decision.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use crate::audit::{AuditRecord, AuditSink, FileAudit, Noted, TracingAudit};
use crate::config::{Config, ConfigError, FailMode, Require, Unenrolled, UsersDb};
use crate::context::AuthContext;
use crate::conversation::Conversation;
use crate::factor::{Factor, FactorError, FactorKind, Outcome};
use crate::sanitize::for_log;
use crate::session::{NetworkRunner, Runner};
use crate::state::Fleet;
use crate::totp::TotpFactor;

use super::plan::{plan, Plan};

/// The engine's answer, for the front end to map (PAM codes, exit status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Verified; or, with `fail_open`, allowed although a provider was
    /// unreachable, because `failmode = safe` excused that one factor
    /// (`factor` is then the factor that did verify, if any).
    Allow {
        factor: Option<FactorKind>,
        fail_open: bool,
    },
    Deny {
        reason: String,
    },
    /// Step aside (PAM_IGNORE): unenrolled with `unenrolled = allow`, or a
    /// skip rule. Never a success.
    Ignore {
        reason: String,
    },
}

/// A decided login whose audit record is not written yet
/// ([`Engine::attempt`], [`Engine::record`]).
#[derive(Debug)]
#[must_use = "an attempt is audited only by Engine::record"]
pub struct Attempt {
    decision: Decision,
    ran: Vec<FactorKind>,
    noted: Noted,
    /// The name as given, when the account's own spelling differs.
    given: Option<String>,
}

impl Attempt {
    pub fn decision(&self) -> &Decision {
        &self.decision
    }
}

impl Decision {
    pub fn is_allow(&self) -> bool {
        matches!(self, Decision::Allow { .. })
    }

    fn audit_name(&self) -> &'static str {
        match self {
            Decision::Allow {
                fail_open: false, ..
            } => "allow",
            Decision::Allow {
                fail_open: true, ..
            } => "allow-failmode",
            Decision::Deny { .. } => "deny",
            Decision::Ignore { .. } => "ignore",
        }
    }
}

/// Builds the implementation of one factor kind from the config and the
/// users file. Which builder an engine gets decides which factors the
/// binary links (see `session::runner`).
pub type Builder = fn(FactorKind, &Config, &Arc<UsersDb>) -> Result<Arc<dyn Factor>, ConfigError>;

/// The engine's work for one login.
pub type Work<'a> = Pin<Box<dyn Future<Output = Decision> + Send + 'a>>;
/// That work bounded by the deadline: `None` when the deadline passed.
pub type Bounded<'a> = Pin<Box<dyn Future<Output = Option<Decision>> + Send + 'a>>;

/// Bounds a login's work by its deadline (tokio's timer, or a check after
/// the fact where there is no runtime).
pub trait Timer: Sync {
    fn until<'a>(&'a self, deadline: Instant, work: Work<'a>) -> Bounded<'a>;
}

pub struct Engine {
    config: Config,
    users: Arc<UsersDb>,
    factors: HashMap<FactorKind, Arc<dyn Factor>>,
    override_factors: Option<Vec<FactorKind>>,
    audit: Vec<Box<dyn AuditSink>>,
    builder: Builder,
    timer: &'static dyn Timer,
    /// The shared state of a fleet host (`[state] backend = "postgres"`):
    /// TOTP runs over it and every audit record is appended to it.
    fleet: Option<Arc<dyn Fleet>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("factors", &self.factors.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Build the engine: load the users file and construct every factor the
    /// policy can name, so configuration errors surface now.
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        let users = config.load_users()?;
        Self::with_users(config, users)
    }

    /// As [`Engine::new`] with an already loaded users database.
    pub fn with_users(config: Config, users: UsersDb) -> Result<Self, ConfigError> {
        Self::with_factors(config, users, Vec::new())
    }

    /// As [`Engine::with_users`], using the given implementations for their
    /// kinds (simulator-backed factors in tests and the demo) and building
    /// the rest from the config.
    pub fn with_factors(
        config: Config,
        users: UsersDb,
        given: Vec<Arc<dyn Factor>>,
    ) -> Result<Self, ConfigError> {
        let mut engine = Self::bare::<NetworkRunner>(config, Arc::new(users))?;
        for f in given {
            engine.factors.insert(f.kind(), f);
        }
        for kind in engine.referenced_kinds() {
            engine.ensure(kind)?;
        }
        Ok(engine)
    }

    /// An engine that runs on `R` and builds only `kinds` (the plan of the
    /// login at hand), so a runner without the network factors never meets
    /// one.
    pub fn for_kinds<R: Runner>(
        config: Config,
        users: Arc<UsersDb>,
        kinds: &[FactorKind],
    ) -> Result<Self, ConfigError> {
        let mut engine = Self::bare::<R>(config, users)?;
        for &kind in kinds {
            engine.ensure(kind)?;
        }
        Ok(engine)
    }

    fn bare<R: Runner>(config: Config, users: Arc<UsersDb>) -> Result<Self, ConfigError> {
        let fleet = (R::FLEET)(&config)?;
        let mut audit: Vec<Box<dyn AuditSink>> = vec![Box::new(TracingAudit)];
        if let Some(path) = &config.general.audit_log {
            audit.push(Box::new(FileAudit { path: path.clone() }));
        }
        Ok(Self {
            config,
            users,
            factors: HashMap::new(),
            override_factors: None,
            audit,
            builder: R::BUILDER,
            timer: R::TIMER,
            fleet,
        })
    }

    fn ensure(&mut self, kind: FactorKind) -> Result<(), ConfigError> {
        if !self.factors.contains_key(&kind) {
            let f: Arc<dyn Factor> = match (&self.fleet, kind) {
                (Some(fleet), FactorKind::Totp) => Arc::new(TotpFactor::with_backend(
                    self.config.totp.clone(),
                    fleet.totp_backend(),
                )),
                _ => (self.builder)(kind, &self.config, &self.users)?,
            };
            self.factors.insert(kind, f);
        }
        Ok(())
    }

    fn referenced_kinds(&self) -> Vec<FactorKind> {
        let mut kinds: Vec<FactorKind> = self.config.policy.factors.get_ref().clone();
        for r in &self.config.policy.rules {
            kinds.extend(r.factors.iter().flatten());
        }
        for u in self.users.users.values() {
            kinds.extend(u.factors.iter().flatten());
        }
        kinds.extend(self.override_factors.iter().flatten());
        kinds.sort_by_key(|k| k.as_str());
        kinds.dedup();
        kinds
    }

    /// Replace the factor list for every user (PAM `factor=`, `--factor`).
    pub fn override_factors(mut self, kinds: Vec<FactorKind>) -> Result<Self, ConfigError> {
        for &k in &kinds {
            self.ensure(k)?;
        }
        self.override_factors = Some(kinds);
        Ok(self)
    }

    /// The factors `ctx.user` would be asked for, or `None` when a rule
    /// skips or denies them.
    pub fn plan(&self, ctx: &AuthContext) -> Plan {
        let account = ctx.account().ok().flatten();
        plan(
            &self.config,
            &self.users,
            &ctx.user,
            account.as_ref(),
            ctx.accounts.as_ref(),
            self.override_factors.as_deref(),
        )
    }

    /// Use this implementation for its kind (tests, simulators).
    pub fn with_factor(mut self, factor: Arc<dyn Factor>) -> Self {
        self.factors.insert(factor.kind(), factor);
        self
    }

    pub fn add_audit_sink(&mut self, sink: Box<dyn AuditSink>) {
        self.audit.push(sink);
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Decide one login. Always returns; never after `ctx.deadline`.
    pub async fn authenticate(&self, ctx: &AuthContext, conv: &mut dyn Conversation) -> Decision {
        let attempt = self.attempt(ctx, conv).await;
        self.record(ctx, attempt).await
    }

    /// Write the one audit record of a login decided by [`Engine::attempt`]
    /// and return its decision.
    pub async fn record(&self, ctx: &AuthContext, attempt: Attempt) -> Decision {
        let Attempt {
            decision,
            ran,
            noted,
            given,
        } = attempt;
        let canonical = given.as_ref().and_then(|_| ctx.canonical());
        let ctx = canonical.as_ref().unwrap_or(ctx);
        let record = self.write_audit(ctx, &ran, &decision, noted, given.as_deref());
        if let Some(fleet) = &self.fleet {
            fleet.audit(&record).await;
        }
        decision
    }

    /// Decide one login without writing its audit record yet: a caller
    /// that may still try again (`try_first_pass` falling back to a
    /// prompt) records only the attempt that ends the login, so a login is
    /// always one record. Dropping an attempt records nothing.
    pub async fn attempt(&self, ctx: &AuthContext, conv: &mut dyn Conversation) -> Attempt {
        // A case-insensitive account database (SSSD, winbind) may answer
        // `root` for `ROOT`: the login is then root's for every rule,
        // enrolment and state file, never skipped for the near miss.
        let renamed = ctx.canonical();
        let given = renamed.as_ref().map(|_| ctx.user.clone());
        let ctx = renamed.as_ref().unwrap_or(ctx);
        if let Some(given) = &given {
            tracing::info!(
                given = %for_log(given),
                account = %for_log(&ctx.user),
                "user name resolved to the account's own spelling"
            );
        }
        let mut ran = Vec::new();
        let work: Work<'_> = Box::pin(self.decide(ctx, conv, &mut ran));
        let (decided, noted) = crate::audit::with_notes(self.timer.until(ctx.deadline, work)).await;
        let decision = match decided {
            Some(d) => d,
            None => {
                let _ = conv.error("Authentication timed out.").await;
                Decision::Deny {
                    reason: "login deadline reached".into(),
                }
            }
        };
        Attempt {
            decision,
            ran,
            noted,
            given,
        }
    }

    /// Deny without running anything (a misuse found at run time), with
    /// the login's one audit record.
    pub async fn refuse(&self, ctx: &AuthContext, reason: String) -> Decision {
        let decision = Decision::Deny { reason };
        let record = self.write_audit(ctx, &[], &decision, Noted::default(), None);
        if let Some(fleet) = &self.fleet {
            fleet.audit(&record).await;
        }
        decision
    }

    fn write_audit(
        &self,
        ctx: &AuthContext,
        ran: &[FactorKind],
        decision: &Decision,
        noted: Noted,
        given: Option<&str>,
    ) -> AuditRecord {
        let mut reason = match decision {
            Decision::Allow { factor, fail_open } => match (factor, fail_open) {
                (Some(f), true) => {
                    format!("{f} verified; provider unavailable, excused by failmode=safe")
                }
                (None, true) => "provider unavailable; failmode=safe".to_owned(),
                (Some(f), false) => format!("{f} verified"),
                (None, false) => "verified".to_owned(),
            },
            Decision::Deny { reason } | Decision::Ignore { reason } => reason.clone(),
        };
        if let (Decision::Allow { .. }, Some(detail)) = (decision, &noted.detail) {
            reason = format!("{reason} ({detail})");
        }
        if let Some(given) = given {
            reason = format!("{reason} (name given as \"{given}\")");
        }
        let session = noted.session;
        let record = AuditRecord {
            time: ctx.now(),
            user: ctx.user.clone(),
            rhost: ctx.rhost.clone(),
            service: ctx.service.clone(),
            hostname: ctx.hostname.clone(),
            factors: ran.to_vec(),
            decision: decision.audit_name(),
            reason,
            session,
        };
        for sink in &self.audit {
            sink.record(&record);
        }
        record
    }

    async fn decide(
        &self,
        ctx: &AuthContext,
        conv: &mut dyn Conversation,
        ran: &mut Vec<FactorKind>,
    ) -> Decision {
        let plan = self.plan(ctx);
        // Only an account that exists can be enrolled, skipped or checked.
        // An unknown name gets the decoy and is denied, whatever
        // `unenrolled` or `nullok` say (as pam_google_authenticator fails
        // there); a database that cannot answer denies the same way.
        let stranger = match ctx.account() {
            Ok(Some(_)) => None,
            Ok(None) => Some("unknown user".to_owned()),
            Err(e) => {
                tracing::error!(error = %e, "account lookup failed");
                Some(format!("account lookup failed: {e}"))
            }
        };
        if let Some(reason) = stranger {
            if let Plan::Run(kinds) = &plan {
                self.decoy(ctx, conv, kinds).await;
            }
            return Decision::Deny { reason };
        }
        let kinds = match plan {
            Plan::Skip => {
                return Decision::Ignore {
                    reason: "skip rule".into(),
                }
            }
            Plan::Deny => {
                return Decision::Deny {
                    reason: "deny rule".into(),
                }
            }
            Plan::Fail(why) => {
                tracing::error!(error = %why, "the policy's group rules cannot be evaluated");
                return Decision::Deny {
                    reason: format!("account lookup failed: {why}"),
                };
            }
            Plan::Run(k) => k,
        };

        // A provider that could not be reached, kept for failmode. Under
        // `require = "one"` the next enrolled factor may still decide; under
        // `"all"` with `failmode = "safe"` that factor alone is excused and
        // every other one still runs and must verify.
        let mut unavailable: Option<String> = None;
        let mut allowed: Option<FactorKind> = None;
        let require = self.config.policy.require;
        for kind in &kinds {
            let Some(factor) = self.factors.get(kind) else {
                return Decision::Deny {
                    reason: format!("{kind} factor not configured"),
                };
            };
            ran.push(*kind);
            match factor.authenticate(ctx, conv).await {
                Ok(Outcome::Allow) => {
                    allowed = Some(*kind);
                    if require == Require::One {
                        return Decision::Allow {
                            factor: Some(*kind),
                            fail_open: false,
                        };
                    }
                }
                Ok(Outcome::Deny(reason)) => {
                    return Decision::Deny {
                        reason: format!("{kind}: {reason}"),
                    }
                }
                Ok(Outcome::NotEnrolled) => {
                    ran.pop();
                }
                Err(FactorError::Unavailable(why)) if kind.is_local() => {
                    // Nothing outside this host can be down for a local
                    // factor: failmode never applies to it.
                    tracing::error!(factor = %kind, error = %why, "local factor unavailable");
                    let _ = conv
                        .error("Authentication is unavailable; contact your administrator.")
                        .await;
                    return Decision::Deny {
                        reason: format!("{kind}: {why} (a local factor is never excused)"),
                    };
                }
                Err(FactorError::Unavailable(why)) => {
                    tracing::warn!(factor = %kind, error = %why, "provider unavailable");
                    let why = format!("{kind}: {why}");
                    if require == Require::All && self.config.general.failmode == FailMode::Secure {
                        return self.fail_mode(conv, why).await;
                    }
                    unavailable.get_or_insert(why);
                }
                Err(FactorError::Conversation(e)) => {
                    return Decision::Deny {
                        reason: format!("{kind}: {e}"),
                    };
                }
                Err(e) => {
                    tracing::error!(factor = %kind, error = %e, "factor error");
                    let _ = conv
                        .error("Authentication is unavailable; contact your administrator.")
                        .await;
                    return Decision::Deny {
                        reason: format!("{kind}: {e}"),
                    };
                }
            }
        }
        match (allowed, unavailable) {
            // Every enrolled factor verified.
            (Some(kind), None) => Decision::Allow {
                factor: Some(kind),
                fail_open: false,
            },
            // `require = "all"`, failmode=safe: the others verified, one
            // provider was excused. The record says which and why.
            (Some(kind), Some(why)) => {
                crate::audit::note_detail(&why);
                Decision::Allow {
                    factor: Some(kind),
                    fail_open: true,
                }
            }
            (None, Some(why)) => self.fail_mode(conv, why).await,
            (None, None) => self.unenrolled(ctx, conv, &kinds, ran).await,
        }
    }

    async fn fail_mode(&self, conv: &mut dyn Conversation, why: String) -> Decision {
        match self.config.general.failmode {
            FailMode::Safe => {
                // An allow without any verified factor: the audit record
                // carries the cause (the PAM module has no tracing output).
                crate::audit::note_detail(&why);
                Decision::Allow {
                    factor: None,
                    fail_open: true,
                }
            }
            FailMode::Secure => {
                let _ = conv
                    .error("The second-factor service cannot be reached; access denied.")
                    .await;
                Decision::Deny {
                    reason: format!("provider unavailable ({why}); failmode=secure"),
                }
            }
        }
    }

    /// No factor applies to this user. With
    /// `unenrolled = deny` the person is prompted exactly as an enrolled
    /// user would be, so that account names cannot be probed.
    async fn unenrolled(
        &self,
        ctx: &AuthContext,
        conv: &mut dyn Conversation,
        kinds: &[FactorKind],
        ran: &mut Vec<FactorKind>,
    ) -> Decision {
        match self.config.general.unenrolled {
            Unenrolled::Allow => Decision::Ignore {
                reason: "not enrolled; unenrolled=allow".into(),
            },
            Unenrolled::Enroll => {
                let reason =
                    match super::enrol::at_login(&self.factors, ctx, conv, kinds, ran).await {
                        Ok(decision) => return decision,
                        Err(why) => why,
                    };
                if let Some(first) = kinds.first().and_then(|k| self.factors.get(k)) {
                    let _ = first.decoy(ctx, conv).await;
                }
                Decision::Deny {
                    reason: format!("not enrolled; {reason}"),
                }
            }
            Unenrolled::Deny => {
                self.decoy(ctx, conv, kinds).await;
                Decision::Deny {
                    reason: "not enrolled".into(),
                }
            }
        }
    }

    /// What an enrolled user of the plan's first factor goes through (that
    /// factor's failure ends an enrolled user's login too), then nothing.
    async fn decoy(&self, ctx: &AuthContext, conv: &mut dyn Conversation, kinds: &[FactorKind]) {
        if let Some(first) = kinds.first().and_then(|k| self.factors.get(k)) {
            let _ = first.decoy(ctx, conv).await;
        }
    }
}
