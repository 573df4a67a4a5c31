//! The TOTP/HOTP [`Factor`]: google_authenticator state file + a prompt.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

use crate::accounts::Account;
use crate::config::TotpSettings;
use crate::context::AuthContext;
use crate::conversation::Conversation;
use crate::factor::{Factor, FactorError, FactorKind, Outcome};
use crate::state::{FileBackend, StateBackend, StateRef};

use super::store::StorePolicy;
use super::verify::{Accepted, Rejected, VerifyOptions};

pub const DEFAULT_PROMPT: &str = "Verification code: ";

#[derive(Debug, Clone)]
pub struct TotpFactor {
    settings: TotpSettings,
    backend: Arc<dyn StateBackend>,
}

impl TotpFactor {
    /// Over each user's state file on this host (the default).
    pub fn new(settings: TotpSettings) -> Self {
        Self::with_backend(settings, Arc::new(FileBackend))
    }

    /// Over another state backend (the fleet's database).
    pub fn with_backend(settings: TotpSettings, backend: Arc<dyn StateBackend>) -> Self {
        Self { settings, backend }
    }

    pub fn settings(&self) -> &TotpSettings {
        &self.settings
    }

    fn prompt(&self) -> &str {
        self.settings
            .authtok_prompt
            .as_deref()
            .unwrap_or(DEFAULT_PROMPT)
    }

    /// The state file of `account`: `~`, `${HOME}` and `${USER}` expanded.
    pub fn secret_path(&self, account: &Account) -> PathBuf {
        expand_secret_path(&self.settings.secret, account)
    }

    /// Store checks for `account`: owned by the user (or by `user=`).
    pub fn store_policy(
        &self,
        ctx: &AuthContext,
        account: &Account,
    ) -> Result<StorePolicy, FactorError> {
        let owner = if self.settings.no_strict_owner {
            None
        } else if let Some(name) = &self.settings.user {
            Some(user_account(ctx, name)?.uid)
        } else {
            Some(account.uid)
        };
        Ok(StorePolicy {
            owner,
            allowed_perm: self.settings.allowed_perm,
            allow_readonly: self.settings.allow_readonly,
        })
    }

    /// Whose filesystem identity touches the state file: the `user=`
    /// account if set, else the person logging in (as
    /// pam_google_authenticator does).
    pub fn file_identity(
        &self,
        ctx: &AuthContext,
        account: &Account,
    ) -> Result<(u32, u32), FactorError> {
        match &self.settings.user {
            Some(name) => user_account(ctx, name).map(|a| (a.uid, a.gid)),
            None => Ok((account.uid, account.gid)),
        }
    }
}

/// The `user=` account that owns every state file.
fn user_account(ctx: &AuthContext, name: &str) -> Result<Account, FactorError> {
    match ctx.accounts.lookup(name) {
        Ok(Some(a)) => Ok(a),
        Ok(None) => Err(FactorError::Config(format!(
            "totp.user: no such user '{}'",
            crate::sanitize::for_log(name)
        ))),
        Err(e) => Err(FactorError::State(format!("totp.user: {e}"))),
    }
}

/// Expand `~` (leading), `${HOME}` and `${USER}` in a secret path template.
pub fn expand_secret_path(template: &str, account: &Account) -> PathBuf {
    let home = account.home.to_string_lossy();
    let mut s = template
        .replace("${HOME}", &home)
        .replace("${USER}", &account.name);
    if s == "~" || s.starts_with("~/") {
        s = format!("{home}{}", &s[1..]);
    }
    PathBuf::from(s)
}

#[async_trait]
impl Factor for TotpFactor {
    fn kind(&self) -> FactorKind {
        FactorKind::Totp
    }

    async fn authenticate(
        &self,
        ctx: &AuthContext,
        conv: &mut dyn Conversation,
    ) -> Result<Outcome, FactorError> {
        // Not enrolled means only: the account exists and has no state file.
        // The engine denies unknown names (after the decoy) before any
        // factor runs; a caller that did not gets a deny here, never
        // "not enrolled", which `nullok` would step over.
        let account = match ctx.account() {
            Ok(Some(account)) => account,
            Ok(None) => return Ok(Outcome::Deny("no such account".into())),
            Err(e) => return Err(FactorError::State(e.to_string())),
        };
        let opts = VerifyOptions {
            noskewadj: self.settings.noskewadj,
            no_increment_hotp: self.settings.no_increment_hotp,
        };
        let at = StateRef {
            user: ctx.user.clone(),
            path: self.secret_path(&account),
            identity: self.file_identity(ctx, &account)?,
            policy: self.store_policy(ctx, &account)?,
            opts,
        };
        // Read (and checked) before anything is asked: a broken state is an
        // administrator's problem, not a reason to collect a code.
        let Some(mut state) = self.backend.open(&at).await? else {
            return Ok(Outcome::NotEnrolled);
        };
        // grace_period: a recent login from this same address needs no code.
        let now = ctx.now();
        let grace = self
            .settings
            .grace_period
            .filter(|p| *p > 0)
            .zip(ctx.rhost.as_deref());
        if let Some((period, address)) = grace {
            if state.within_grace(address, now, period).await? {
                tracing::info!(user = %crate::sanitize::for_log(&ctx.user), "within grace_period");
                // No code was checked: the audit record must say so.
                crate::audit::note_detail("grace_period: recent login from this address, no code");
                return Ok(Outcome::Allow);
            }
        }

        let code = if self.settings.echo_verification_code {
            zeroize::Zeroizing::new(conv.prompt_visible(self.prompt()).await?)
        } else {
            conv.prompt_secret(self.prompt()).await?
        };
        // The backend reads the clock itself: at the answer, not the prompt,
        // and again under its lock (see `UserState::verify`).
        let verdict = state
            .verify(&code, ctx.clock.as_ref(), grace.map(|(_, a)| a))
            .await?;
        match verdict {
            Ok(Accepted::Code) => Ok(Outcome::Allow),
            Ok(Accepted::ScratchCode) => {
                tracing::info!(user = %crate::sanitize::for_log(&ctx.user), "scratch code used");
                crate::audit::note_detail("scratch code");
                Ok(Outcome::Allow)
            }
            Err(r) => {
                let msg = match r {
                    Rejected::Reused => Some("This code was already used; wait for the next one."),
                    Rejected::RateLimited => Some("Too many attempts; try again later."),
                    Rejected::Malformed | Rejected::WrongCode => None,
                };
                if let Some(m) = msg {
                    conv.error(m).await?;
                }
                Ok(Outcome::Deny(r.as_str().to_owned()))
            }
        }
    }

    async fn decoy(
        &self,
        _ctx: &AuthContext,
        conv: &mut dyn Conversation,
    ) -> Result<(), crate::ConversationError> {
        if self.settings.echo_verification_code {
            conv.prompt_visible(self.prompt()).await.map(drop)
        } else {
            conv.prompt_secret(self.prompt()).await.map(drop)
        }
    }

    async fn enroll(
        &self,
        ctx: &AuthContext,
        conv: &mut dyn Conversation,
    ) -> Result<Outcome, FactorError> {
        if !self.backend.enrols_at_login() {
            return Ok(Outcome::NotEnrolled);
        }
        super::first_login::enroll(self, ctx, conv).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::StaticAccounts;
    use crate::context::Clock;
    use crate::conversation::scripted::ScriptedConversation;
    use crate::session::{LocalRunner, Runner};
    use crate::totp::store;
    use std::sync::{Arc, Mutex};

    /// A clock that gives these instants in turn, then the last one again.
    struct Steps(Mutex<Vec<u64>>);
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

    /// A login prompts at T and is answered at T+6; meanwhile another
    /// login recorded a wrong attempt at T+5. That record must survive:
    /// judged with the prompt's time it lay "in the future" and was
    /// dropped, so parallel sessions that wait at the prompt erased each
    /// other's attempts and the rate limit never bit (lost RATE_LIMIT
    /// records under load in `mfa-cli/tests/concurrency.rs`).
    #[test]
    fn a_slow_answer_keeps_the_attempts_recorded_while_it_was_typed() {
        const T: u64 = 1_700_000_000;
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("alice");
        std::fs::create_dir(&home).unwrap();
        let file = home.join(".google_authenticator");
        let other = T + 5;
        std::fs::write(
            &file,
            format!("JBSWY3DPEHPK3PXP\n\" RATE_LIMIT 3 30 {other}\n\" TOTP_AUTH\n"),
        )
        .unwrap();
        std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let mut ctx = AuthContext::new("alice", "sshd");
        ctx.accounts = Arc::new(StaticAccounts(vec![Account {
            name: "alice".into(),
            uid: crate::accounts::effective_uid(),
            gid: nix::unistd::getegid().as_raw(),
            home,
            shell: "/bin/sh".into(),
            groups: vec![],
        }]));
        ctx.clock = Arc::new(Steps(Mutex::new(vec![T, T + 6])));
        let factor = TotpFactor::new(crate::config::Config::default().totp);
        // Not a 6-digit code: wrong at any step, no skew search.
        let mut conv =
            ScriptedConversation::new([ScriptedConversation::secret(DEFAULT_PROMPT, "12345")]);
        let out = LocalRunner::block_on(factor.authenticate(&ctx, &mut conv)).unwrap();
        assert!(matches!(out, Ok(Outcome::Deny(_))), "{out:?}");
        let state = store::read(
            &file,
            &StorePolicy::owned_by(crate::accounts::effective_uid()),
        )
        .unwrap();
        assert_eq!(
            state.rate_limit.unwrap().timestamps,
            vec![other, T + 6],
            "the other login's attempt is kept and ours is recorded at the answer's time"
        );
    }

    #[test]
    fn expands_templates() {
        let a = Account {
            name: "alice".into(),
            uid: 1,
            gid: 1,
            home: "/home/alice".into(),
            shell: "/bin/sh".into(),
            groups: vec![],
        };
        assert_eq!(
            expand_secret_path("~/.google_authenticator", &a),
            PathBuf::from("/home/alice/.google_authenticator")
        );
        assert_eq!(
            expand_secret_path("/var/lib/mfa/${USER}/ga", &a),
            PathBuf::from("/var/lib/mfa/alice/ga")
        );
        assert_eq!(
            expand_secret_path("${HOME}/x", &a),
            PathBuf::from("/home/alice/x")
        );
        assert_eq!(expand_secret_path("/srv/~x", &a), PathBuf::from("/srv/~x"));
    }
}
