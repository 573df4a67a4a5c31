//! The engine: runs the planned factors, applies `failmode` and
//! `unenrolled`, writes exactly one audit record, returns one decision.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::audit::{AuditRecord, AuditSink, FileAudit, Noted, TracingAudit};
use crate::config::{
    Config, ConfigError, FailMode, Require, Unenrolled, UsersDb, DEFAULT_USERS_FILE,
};
use crate::context::AuthContext;
use crate::conversation::Conversation;
use crate::factor::{self, Factor, FactorError, FactorKind, Outcome};

use super::plan::{plan, Plan};

/// The engine's answer, for the front end to map (PAM codes, exit status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Verified; or, with `fail_open`, allowed by `failmode = safe` because
    /// the provider was unreachable.
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

pub struct Engine {
    config: Config,
    users: Arc<UsersDb>,
    factors: HashMap<FactorKind, Arc<dyn Factor>>,
    override_factors: Option<Vec<FactorKind>>,
    audit: Vec<Box<dyn AuditSink>>,
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
        let users_path = config.users_file();
        let optional = config.general.users_file.is_none()
            && users_path == std::path::Path::new(DEFAULT_USERS_FILE);
        let users = UsersDb::load(&users_path, optional)?;
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
        let mut audit: Vec<Box<dyn AuditSink>> = vec![Box::new(TracingAudit)];
        if let Some(path) = &config.general.audit_log {
            audit.push(Box::new(FileAudit { path: path.clone() }));
        }
        let mut engine = Self {
            config,
            users: Arc::new(users),
            factors: HashMap::new(),
            override_factors: None,
            audit,
        };
        for f in given {
            engine.factors.insert(f.kind(), f);
        }
        for kind in engine.referenced_kinds() {
            if !engine.factors.contains_key(&kind) {
                let f = factor::build(kind, &engine.config, &engine.users)?;
                engine.factors.insert(kind, f);
            }
        }
        Ok(engine)
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
            if !self.factors.contains_key(&k) {
                let f = factor::build(k, &self.config, &self.users)?;
                self.factors.insert(k, f);
            }
        }
        self.override_factors = Some(kinds);
        Ok(self)
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

    /// Decide one login. Always returns; never longer than the configured
    /// login timeout.
    pub async fn authenticate(&self, ctx: &AuthContext, conv: &mut dyn Conversation) -> Decision {
        let limit = Duration::from_secs(*self.config.general.login_timeout_secs.get_ref());
        let mut ran = Vec::new();
        let (decided, noted) = crate::audit::with_notes(tokio::time::timeout(
            limit,
            self.decide(ctx, conv, &mut ran),
        ))
        .await;
        let decision = match decided {
            Ok(d) => d,
            Err(_) => {
                let _ = conv.error("Authentication timed out.").await;
                Decision::Deny {
                    reason: "login deadline reached".into(),
                }
            }
        };
        self.write_audit(ctx, &ran, &decision, noted);
        decision
    }

    fn write_audit(
        &self,
        ctx: &AuthContext,
        ran: &[FactorKind],
        decision: &Decision,
        noted: Noted,
    ) {
        let mut reason = match decision {
            Decision::Allow { factor, fail_open } => match (factor, fail_open) {
                (_, true) => "provider unavailable; failmode=safe".to_owned(),
                (Some(f), false) => format!("{f} verified"),
                (None, false) => "verified".to_owned(),
            },
            Decision::Deny { reason } | Decision::Ignore { reason } => reason.clone(),
        };
        if let (Decision::Allow { .. }, Some(detail)) = (decision, &noted.detail) {
            reason = format!("{reason} ({detail})");
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
    }

    async fn decide(
        &self,
        ctx: &AuthContext,
        conv: &mut dyn Conversation,
        ran: &mut Vec<FactorKind>,
    ) -> Decision {
        let account = ctx.accounts.lookup(&ctx.user);
        let kinds = match plan(
            &self.config,
            &self.users,
            &ctx.user,
            account.as_ref(),
            self.override_factors.as_deref(),
        ) {
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
            Plan::Run(k) => k,
        };

        let mut unavailable: Option<String> = None;
        let mut allowed: Option<FactorKind> = None;
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
                    if self.config.policy.require == Require::One {
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
                Err(FactorError::Unavailable(why)) => {
                    tracing::warn!(factor = %kind, error = %why, "provider unavailable");
                    if self.config.policy.require == Require::All {
                        return self.fail_mode(conv, format!("{kind}: {why}")).await;
                    }
                    // With one-of, try the next enrolled factor before failmode.
                    unavailable.get_or_insert(format!("{kind}: {why}"));
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
        if let Some(kind) = allowed {
            return Decision::Allow {
                factor: Some(kind),
                fail_open: false,
            };
        }
        if let Some(why) = unavailable {
            return self.fail_mode(conv, why).await;
        }
        self.unenrolled(ctx, conv, &kinds).await
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

    /// No factor applies to this user (or the user does not exist). With
    /// `unenrolled = deny` the person is prompted exactly as an enrolled
    /// user would be, so that account names cannot be probed.
    async fn unenrolled(
        &self,
        ctx: &AuthContext,
        conv: &mut dyn Conversation,
        kinds: &[FactorKind],
    ) -> Decision {
        match self.config.general.unenrolled {
            Unenrolled::Allow => Decision::Ignore {
                reason: "not enrolled; unenrolled=allow".into(),
            },
            Unenrolled::Deny => {
                if let Some(first) = kinds.first().and_then(|k| self.factors.get(k)) {
                    let _ = first.decoy(ctx, conv).await;
                }
                Decision::Deny {
                    reason: "not enrolled".into(),
                }
            }
        }
    }
}
