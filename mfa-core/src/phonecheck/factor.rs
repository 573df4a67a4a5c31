//! The PhoneCheck [`Factor`].
//!
//! 1. The user's number comes from the users file (exact name match); no
//!    number means not enrolled, and nobody is contacted.
//! 2. A check is created (429 backs off within the deadline). Failing here
//!    with the provider unreachable/5xx/timeout/garbage is
//!    [`FactorError::Unavailable`]: nothing was shown yet, failmode applies.
//! 3. The check URL is shown as a QR code, FOLLOWED BY A PROMPT: before
//!    OpenSSH 10.3 an info message only reaches the screen with the next
//!    prompt.
//! 4. The status is polled every `poll_interval_ms` until a final status or
//!    the deadline, min(check ttl, login timeout). Only `COMPLETED` with
//!    `match: true` allows.
//!
//! Prompt and polling: the poll loop runs concurrently with the prompt
//! (`select!`), so a conversation that can wait asynchronously finishes as
//! soon as the phone does, and the prompt is withdrawn. The PAM and
//! terminal conversations block the thread until Enter (and sshd's
//! keyboard-interactive cannot withdraw a prompt anyway); for them this
//! degenerates to "poll after Enter", and the deadline still counts from
//! the check's creation, so time spent at the prompt is deducted.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::phone::PhoneNumber;
use crate::config::{Config, ConfigError, UsersDb};
use crate::context::AuthContext;
use crate::conversation::{Conversation, ConversationError};
use crate::factor::{Factor, FactorError, FactorKind, Outcome};
use crate::phonecheck::truid::{
    CheckState, CheckStatus, CreatedCheck, TruIdClient, TruIdError, CHECKS_PATH,
};
use crate::provider::decoy;
use crate::sanitize::strip_control;

pub const SCAN_INFO: &str =
    "Scan this QR code with your phone, on mobile data (Wi-Fi off), to confirm your number:";
pub const ENTER_PROMPT: &str = "Press Enter once your phone shows the result: ";
pub const MSG_NO_MATCH: &str =
    "The phone that opened the link does not hold this account's SIM; access denied.";
pub const MSG_EXPIRED: &str = "The phone check expired; access denied.";
pub const MSG_OPERATOR: &str = "Your mobile operator could not verify the number; access denied.";
pub const MSG_TIMEOUT: &str = "The phone check timed out; access denied.";
pub const MSG_REFUSED: &str =
    "The phone check service refused to check your number; contact your administrator.";
pub const MSG_BUSY: &str = "The phone check service is busy; try again in a minute.";
pub const MSG_FAILED: &str = "The phone check failed; access denied.";
pub const MSG_NEEDS_TERMINAL: &str =
    "The phone check needs an interactive terminal to show its QR code; access denied.";

/// Lifetime assumed when the provider does not give a ttl.
const DEFAULT_TTL: Duration = Duration::from_secs(120);
/// Create attempts under 429 before giving up.
const MAX_CREATE_ATTEMPTS: u32 = 3;
/// Back-off when a 429 carries no usable Retry-After.
const DEFAULT_BACKOFF: Duration = Duration::from_secs(1);
/// Longest pause between polls after transient errors.
const MAX_ERROR_BACKOFF: Duration = Duration::from_secs(2);

/// `Debug` shows no secret: the client redacts its secret and token,
/// numbers in the users file are masked.
#[derive(Debug)]
pub struct PhoneCheckFactor {
    client: Arc<TruIdClient>,
    users: Arc<UsersDb>,
    redirect_url: String,
    poll_interval: Duration,
    login_timeout: Duration,
}

/// How polling ended.
#[derive(Debug)]
enum PollEnd {
    Final(CheckState),
    Deadline,
    /// A non-transient error (4xx, credentials).
    Failed(TruIdError),
}

impl PhoneCheckFactor {
    pub fn new(
        client: Arc<TruIdClient>,
        users: Arc<UsersDb>,
        redirect_url: impl Into<String>,
        poll_interval: Duration,
        login_timeout: Duration,
    ) -> Self {
        Self {
            client,
            users,
            redirect_url: redirect_url.into(),
            poll_interval,
            login_timeout,
        }
    }

    /// Build from `[phonecheck]` and `[general]`; credentials are read now,
    /// so a bad `credentials_file` is a configuration error at load time.
    pub fn from_config(config: &Config, users: &Arc<UsersDb>) -> Result<Self, ConfigError> {
        let err = |key: &str, message: String| config.error(key, message);
        let Some(pc) = &config.phonecheck else {
            return Err(err(
                "phonecheck",
                "the phonecheck factor needs a [phonecheck] section".into(),
            ));
        };
        let timeout = Duration::from_secs(*config.general.request_timeout_secs.get_ref());
        let client = TruIdClient::from_config(pc, timeout)
            .map_err(|e| err("phonecheck.credentials_file", e.to_string()))?;
        Ok(Self::new(
            Arc::new(client),
            Arc::clone(users),
            pc.redirect_url.get_ref().clone(),
            Duration::from_millis(pc.poll_interval()),
            Duration::from_secs(*config.general.login_timeout_secs.get_ref()),
        ))
    }

    /// When this login's phone check must be over: a margin before the
    /// factor's login timeout (counted from now) and the login's deadline.
    fn login_deadline(&self, ctx: &AuthContext) -> Instant {
        let margin = Duration::from_secs(2);
        (Instant::now() + self.login_timeout.saturating_sub(margin)).min(Instant::from_std(
            ctx.deadline.checked_sub(margin).unwrap_or(ctx.deadline),
        ))
    }

    /// Create the check, backing off on 429 while the deadline allows.
    async fn create(
        &self,
        phone: &PhoneNumber,
        deadline: Instant,
        conv: &mut dyn Conversation,
    ) -> Result<Result<CreatedCheck, Outcome>, FactorError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            // The request has its own timeout, but the login's deadline may
            // come first: past it nobody could scan a code anyway, and a
            // slow provider must not hold the login past what the admin set.
            // Our own deadline, not the provider's failure: never failmode.
            let call = self.client.create_check(phone.digits(), &self.redirect_url);
            let Ok(answer) = tokio::time::timeout_at(deadline, call).await else {
                conv.error(MSG_TIMEOUT).await?;
                return Ok(Err(Outcome::Deny(
                    "login deadline reached while creating the check".into(),
                )));
            };
            match answer {
                Ok(c) => return Ok(Ok(c)),
                Err(TruIdError::RateLimited { retry_after }) => {
                    let wait = retry_after.unwrap_or(DEFAULT_BACKOFF);
                    if attempt >= MAX_CREATE_ATTEMPTS || Instant::now() + wait >= deadline {
                        conv.error(MSG_BUSY).await?;
                        return Ok(Err(Outcome::Deny("tru.ID rate limit (429)".into())));
                    }
                    tokio::time::sleep(wait).await;
                }
                Err(TruIdError::Unavailable(why)) => return Err(FactorError::Unavailable(why)),
                Err(e @ (TruIdError::Unauthorized(_) | TruIdError::Config(_))) => {
                    return Err(FactorError::Config(e.to_string()))
                }
                Err(TruIdError::Rejected { status, detail }) => {
                    conv.error(MSG_REFUSED).await?;
                    return Ok(Err(Outcome::Deny(format!(
                        "tru.ID refused the check (HTTP {status}): {detail}"
                    ))));
                }
            }
        }
    }

    /// Poll until the check leaves ACCEPTED/PENDING or `deadline` passes.
    /// Transient errors (unreachable, 5xx, timeout, garbage) and 429 are
    /// retried with back-off until the deadline; the deadline bounds every
    /// request and every pause.
    async fn poll(&self, check_id: &str, deadline: Instant) -> PollEnd {
        let mut errors: u32 = 0;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return PollEnd::Deadline;
            }
            let pause =
                match tokio::time::timeout(deadline - now, self.client.get_check(check_id)).await {
                    Err(_) => return PollEnd::Deadline,
                    Ok(Ok(state)) if !state.status.is_open() => return PollEnd::Final(state),
                    Ok(Ok(_)) => {
                        errors = 0;
                        self.poll_interval
                    }
                    Ok(Err(TruIdError::RateLimited { retry_after })) => retry_after
                        .unwrap_or(DEFAULT_BACKOFF)
                        .max(self.poll_interval),
                    Ok(Err(TruIdError::Unavailable(why))) => {
                        errors = errors.saturating_add(1);
                        tracing::debug!(error = %why, "tru.ID poll failed; retrying");
                        (self.poll_interval * errors).min(MAX_ERROR_BACKOFF)
                    }
                    Ok(Err(e)) => return PollEnd::Failed(e),
                };
            tokio::time::sleep_until((Instant::now() + pause).min(deadline)).await;
        }
    }

    /// Show the QR code and the prompt, polling meanwhile.
    async fn wait_for_phone(
        &self,
        check: &CreatedCheck,
        deadline: Instant,
        conv: &mut dyn Conversation,
    ) -> Result<PollEnd, FactorError> {
        show_qr(conv, &check.check_url).await?;
        enum First {
            Polled(PollEnd),
            Entered(Result<String, ConversationError>),
        }
        let first = tokio::select! {
            biased;
            end = self.poll(&check.check_id, deadline) => First::Polled(end),
            answer = conv.prompt_visible(ENTER_PROMPT) => First::Entered(answer),
        };
        match first {
            First::Polled(end) => Ok(end),
            First::Entered(answer) => {
                answer?;
                Ok(self.poll(&check.check_id, deadline).await)
            }
        }
    }
}

/// The QR code of `url` and the same URL as text (for terminals that draw
/// the QR badly), as one info message.
async fn show_qr(conv: &mut dyn Conversation, url: &str) -> Result<(), FactorError> {
    let art = crate::qr::to_terminal(url).map_err(|e| FactorError::Internal(e.to_string()))?;
    let text = format!(
        "{SCAN_INFO}\n{art}\nOr open on the phone: {}",
        strip_control(url, false)
    );
    conv.info(&text).await?;
    Ok(())
}

#[async_trait]
impl Factor for PhoneCheckFactor {
    fn kind(&self) -> FactorKind {
        FactorKind::Phonecheck
    }

    async fn authenticate(
        &self,
        ctx: &AuthContext,
        conv: &mut dyn Conversation,
    ) -> Result<Outcome, FactorError> {
        // Checked when the users file was loaded (a malformed number is a
        // configuration error there, never guessed at here).
        let Some(phone) = self.users.get(&ctx.user).and_then(|u| u.phone.as_ref()) else {
            return Ok(Outcome::NotEnrolled);
        };
        if !ctx.interactive {
            // No terminal (scp, sftp, `ssh host cmd` under mfa-login): a QR
            // code would corrupt the stream and nobody could scan it. A deny,
            // not NotEnrolled, so `unenrolled = allow` is no way around it;
            // no check is created (each one is charged).
            conv.error(MSG_NEEDS_TERMINAL).await?;
            return Ok(Outcome::Deny(
                "no terminal to show the QR code; no check created".into(),
            ));
        }
        let login_deadline = self.login_deadline(ctx);
        let check = match self.create(phone, login_deadline, conv).await? {
            Ok(c) => c,
            Err(outcome) => return Ok(outcome),
        };
        let ttl = check
            .ttl
            .map_or(DEFAULT_TTL, crate::provider::provider_secs);
        let deadline = (Instant::now() + ttl).min(login_deadline);
        tracing::info!(
            user = %crate::sanitize::for_log(&ctx.user),
            check_id = %check.check_id,
            phone = %phone.masked(),
            "PhoneCheck created"
        );
        let end = self.wait_for_phone(&check, deadline, conv).await?;
        let (message, outcome) = match end {
            PollEnd::Final(s) if s.verified() => return Ok(Outcome::Allow),
            PollEnd::Final(s) => match s.status {
                CheckStatus::Completed => (
                    MSG_NO_MATCH,
                    "no match: the SIM is not this number's".to_owned(),
                ),
                CheckStatus::Expired => (MSG_EXPIRED, "check expired".to_owned()),
                CheckStatus::Error => (
                    MSG_OPERATOR,
                    format!(
                        "operator error: {}",
                        s.error_code.as_deref().unwrap_or("no error code")
                    ),
                ),
                _ => (MSG_FAILED, "unexpected check status".to_owned()),
            },
            PollEnd::Deadline => (MSG_TIMEOUT, "timed out waiting for the phone".to_owned()),
            PollEnd::Failed(e) => (MSG_FAILED, format!("polling failed: {e}")),
        };
        conv.error(message).await?;
        Ok(Outcome::Deny(outcome))
    }

    /// What an enrolled user whose phone does nothing goes through: the
    /// wait for the token and the check, a QR code of a plausible (random)
    /// check URL and the same prompt, then the check's timeout. Nothing is
    /// sent to the provider (each check is charged); no check has a ttl,
    /// so the provider's usual one is assumed.
    async fn decoy(
        &self,
        ctx: &AuthContext,
        conv: &mut dyn Conversation,
    ) -> Result<(), ConversationError> {
        if !ctx.interactive {
            return conv.error(MSG_NEEDS_TERMINAL).await;
        }
        let login_deadline = self.login_deadline(ctx);
        let mut b = [0u8; 16];
        let _ = ctx.rng.fill(&mut b);
        let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
        let id = format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        );
        let url = format!("{}{CHECKS_PATH}/{id}/redirect", self.client.base_url());
        // The token and the check: a new connection and two requests.
        decoy::pause(
            ctx,
            decoy::ROUND_TRIP,
            decoy::FIRST_REQUEST + 1,
            login_deadline,
        )
        .await;
        let deadline = (Instant::now() + DEFAULT_TTL).min(login_deadline);
        if let Err(FactorError::Conversation(e)) = show_qr(conv, &url).await {
            return Err(e);
        }
        // As the real factor: the check's deadline runs while the prompt is
        // open, and after Enter the wait goes on until it passes.
        let entered = tokio::select! {
            biased;
            () = tokio::time::sleep_until(deadline) => false,
            answer = conv.prompt_visible(ENTER_PROMPT) => {
                answer?;
                true
            }
        };
        if entered {
            tokio::time::sleep_until(deadline).await;
        }
        conv.error(MSG_TIMEOUT).await
    }
}
