//! The push [`Factor`]: preauth, then the menu (or autopush, or one
//! default attempt without a terminal), then `/auth` and `/auth_status`.
//!
//! failmode: only a service that cannot be used (unreachable, TLS, timeout,
//! 5xx, garbage) *before* the authentication starts (ping, preauth) becomes
//! [`FactorError::Unavailable`]; every other failure is an
//! [`Outcome::Deny`], so `failmode = safe` can never open it.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::ExposeSecret;
use tokio::time::Instant;

use super::decoy::{Decoy, DecoyKey, DecoyTiming};
use super::menu::{Choice, Menu};
use super::username::{DuoUsername, DuoUsernameError};
use crate::config::{Config, ConfigError, PushConfig, UsersDb};
use crate::context::AuthContext;
use crate::conversation::{Conversation, ConversationError};
use crate::factor::{Factor, FactorError, FactorKind, Outcome};
use crate::provider::http::{HttpSettings, HttpSetupError};
use crate::push::duo::sign::encode;
use crate::push::duo::{
    AuthFactor, AuthRequest, AuthResult, AuthStart, DuoClient, DuoError, DuoSettings,
    PreauthRequest, PreauthResult, Stamp,
};
use crate::sanitize::{for_log, strip_control};

pub const PUSHED: &str = "Pushed a login request to your phone...";
pub const CALLING: &str = "Calling your phone...";
pub const INVALID: &str = "Invalid passcode or option.";
/// Before OpenSSH 10.3 a PAM info message is shown only with the next
/// prompt: without this one, "Pushed a login request..." would stay hidden
/// while the push is pending (duo_unix's problem).
pub const ENTER_PUSH: &str = "Press Enter once you have approved the login on your phone: ";
pub const ENTER_CALL: &str = "Press Enter once you have answered the call: ";

/// How long to wait, and how often to ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Pause between two `auth_status` polls.
    pub poll_interval: Duration,
    /// The whole Duo exchange (ping to the last poll) must end within this.
    pub deadline: Duration,
}

impl Timing {
    /// From `[general]`: five seconds below the login deadline, so the
    /// factor reports its own timeout before the engine cuts it off.
    pub fn from_config(config: &Config) -> Self {
        let login = *config.general.login_timeout_secs.get_ref();
        Self {
            poll_interval: Duration::from_millis(500),
            deadline: Duration::from_secs(login.saturating_sub(5).max(5)),
        }
    }
}

/// How long before the login deadline the push exchange gives up.
const DEADLINE_MARGIN: Duration = Duration::from_secs(5);

/// `Debug` shows no secret: the key is redacted by the client, numbers in
/// the users file are masked.
#[derive(Debug)]
pub struct PushFactor {
    client: DuoClient,
    autopush: bool,
    pushinfo: bool,
    prompts: u32,
    users: Arc<UsersDb>,
    timing: Timing,
    decoy_timing: DecoyTiming,
    decoy_key: DecoyKey,
}

/// Why an attempt stopped early.
enum Stop {
    Duo(DuoError),
    /// The person went away (Ctrl-C, closed connection).
    Conversation(ConversationError),
}

impl From<DuoError> for Stop {
    fn from(e: DuoError) -> Self {
        Stop::Duo(e)
    }
}

impl From<ConversationError> for Stop {
    fn from(e: ConversationError) -> Self {
        Stop::Conversation(e)
    }
}

/// How one attempt ended.
enum Attempt {
    Allow,
    /// Refused; shown to the person, who may try again.
    Failed(String),
}

impl PushFactor {
    pub fn new(
        push: &PushConfig,
        config: &Config,
        users: Arc<UsersDb>,
    ) -> Result<Self, HttpSetupError> {
        let skey = push.skey.get_ref().expose_secret();
        let client = DuoClient::new(&DuoSettings {
            ikey: push.ikey.get_ref(),
            skey,
            host: push.host.get_ref(),
            http: HttpSettings {
                timeout: Duration::from_secs(*config.general.request_timeout_secs.get_ref()),
                ca_file: push.ca_file.as_deref(),
                proxy: push.proxy.as_ref().map(|p| p.get_ref().expose_secret()),
            },
        })?;
        Ok(Self {
            client,
            autopush: push.autopush,
            pushinfo: push.pushinfo,
            prompts: *push.prompts.get_ref(),
            users,
            timing: Timing::from_config(config),
            decoy_timing: DecoyTiming::default(),
            decoy_key: DecoyKey::from_skey(skey),
        })
    }

    /// Build from `[push]` (and `[general]` timeouts); a missing section
    /// or an unusable `ca_file`/`proxy` is a located configuration error.
    pub fn from_config(config: &Config, users: &Arc<UsersDb>) -> Result<Self, ConfigError> {
        let err = |key: &str, message: String| config.error(key, message);
        let Some(push) = &config.push else {
            return Err(err("push", "the push factor needs a [push] section".into()));
        };
        Self::new(push, config, Arc::clone(users)).map_err(|e| {
            let key = match e {
                HttpSetupError::Proxy(_) => "push.proxy",
                HttpSetupError::Build(_) => "push",
                _ => "push.ca_file",
            };
            err(key, e.to_string())
        })
    }

    /// Other poll interval and deadline (tests, demo, benchmarks).
    pub fn with_timing(mut self, timing: Timing) -> Self {
        self.timing = timing;
        self
    }

    /// Other waits for the decoy (tests: Duo's 60 s push timeout is long).
    pub fn with_decoy_timing(mut self, timing: DecoyTiming) -> Self {
        self.decoy_timing = timing;
        self
    }

    /// The whole exchange's deadline: the factor's own limit, and in any
    /// case a margin before the login's so it reports its own timeout
    /// first.
    fn deadline(&self, ctx: &AuthContext) -> Instant {
        (Instant::now() + self.timing.deadline).min(Instant::from_std(
            ctx.deadline
                .checked_sub(DEADLINE_MARGIN)
                .unwrap_or(ctx.deadline),
        ))
    }

    /// Other 429 back-off when no `Retry-After` is given (tests).
    pub fn with_backoff(mut self, backoff: Duration) -> Self {
        self.client = self.client.with_backoff(backoff);
        self
    }

    /// The Duo user name: `duo_username` from the users file (checked when
    /// it was loaded), else the login name. `None` (not enrolled) unless the
    /// users file has an entry for exactly this name with `duo_username` or
    /// `push` in `factors`. `Some(Err)` when the login name itself cannot be
    /// a Duo user name (e.g. it holds control characters).
    pub fn duo_username(&self, user: &str) -> Option<Result<DuoUsername, DuoUsernameError>> {
        let e = self.users.get(user)?;
        if let Some(name) = &e.duo_username {
            return Some(Ok(name.clone()));
        }
        let listed = e
            .factors
            .as_ref()
            .is_some_and(|f| f.contains(&FactorKind::Push));
        listed.then(|| DuoUsername::parse(user))
    }

    /// `pushinfo`: what the phone shows about the login, form-encoded.
    fn pushinfo(&self, ctx: &AuthContext) -> Option<String> {
        if !self.pushinfo {
            return None;
        }
        let mut pairs = vec![("host", ctx.hostname.as_str()), ("user", ctx.user.as_str())];
        if let Some(r) = &ctx.rhost {
            pairs.push(("from", r));
        }
        if let Some(c) = &ctx.command {
            pairs.push(("command", c));
        }
        let parts: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        Some(parts.join("&"))
    }

    async fn attempt(
        &self,
        ctx: &AuthContext,
        conv: &mut dyn Conversation,
        stamp: &Stamp,
        duo_user: &str,
        factor: &AuthFactor,
        deadline: Instant,
    ) -> Result<Attempt, Stop> {
        let ipaddr = remote_ip(ctx);
        let pushinfo = self.pushinfo(ctx);
        let req = AuthRequest {
            username: duo_user,
            factor,
            ipaddr: ipaddr.as_deref(),
            hostname: &ctx.hostname,
            pushinfo: pushinfo.as_deref(),
        };
        let txid = match self.client.auth(stamp, &req, deadline).await? {
            AuthStart::Done(s) => {
                let msg = strip_control(&s.status_msg, false);
                return Ok(match s.result {
                    AuthResult::Allow => Attempt::Allow,
                    _ if s.status == "sent" => {
                        let _ = conv.info(&msg).await;
                        Attempt::Failed(format!("{}: {}", factor.name(), s.status))
                    }
                    _ => {
                        let _ = conv.error(or(&msg, "Access denied.")).await;
                        Attempt::Failed(format!("{}: {}", factor.name(), s.status))
                    }
                });
            }
            AuthStart::Txid(t) => t,
        };
        let (text, enter, mut last) = match factor {
            AuthFactor::Phone { .. } => (CALLING, ENTER_CALL, String::new()),
            _ => (PUSHED, ENTER_PUSH, "pushed".to_owned()),
        };
        conv.info(text).await?;
        if ctx.interactive {
            // The answer is only a signal; the decision comes from Duo.
            drop(zeroize::Zeroizing::new(conv.prompt_visible(enter).await?));
        }
        loop {
            let s = self.client.auth_status(stamp, &txid, deadline).await?;
            let msg = strip_control(&s.status_msg, false);
            match s.result {
                AuthResult::Allow => return Ok(Attempt::Allow),
                AuthResult::Waiting => {
                    if s.status != last && !msg.is_empty() {
                        conv.info(&msg).await?;
                    }
                    last = s.status;
                }
                AuthResult::Deny => {
                    let _ = conv.error(or(&msg, "Access denied.")).await;
                    return Ok(Attempt::Failed(format!(
                        "{}: {}",
                        factor.name(),
                        strip_control(&s.status, false)
                    )));
                }
                AuthResult::Other(r) => {
                    return Err(Stop::Duo(DuoError::Garbage(format!(
                        "unknown auth_status result {:?}",
                        strip_control(&r, false)
                    ))))
                }
            }
            if Instant::now() + self.timing.poll_interval >= deadline {
                return Err(Stop::Duo(DuoError::Deadline));
            }
            tokio::time::sleep(self.timing.poll_interval).await;
        }
    }
}

fn or<'a>(msg: &'a str, default: &'a str) -> &'a str {
    if msg.trim().is_empty() {
        default
    } else {
        msg
    }
}

/// Duo's `ipaddr` must be an address; a host name is not sent.
fn remote_ip(ctx: &AuthContext) -> Option<String> {
    ctx.rhost
        .as_deref()
        .and_then(|r| r.parse::<IpAddr>().ok())
        .map(|ip| ip.to_string())
}

/// Before the authentication starts: a service that cannot be used is
/// `Unavailable` (failmode decides); any answer that refuses denies.
fn before_auth(stage: &str, e: DuoError) -> Result<Outcome, FactorError> {
    if e.service_failed() {
        Err(FactorError::Unavailable(format!("duo {stage}: {e}")))
    } else {
        Ok(Outcome::Deny(format!("duo {stage}: {e}")))
    }
}

#[async_trait]
impl Factor for PushFactor {
    fn kind(&self) -> FactorKind {
        FactorKind::Push
    }

    async fn authenticate(
        &self,
        ctx: &AuthContext,
        conv: &mut dyn Conversation,
    ) -> Result<Outcome, FactorError> {
        let duo_name = match self.duo_username(&ctx.user) {
            None => return Ok(Outcome::NotEnrolled),
            Some(Ok(name)) => name,
            // Nothing is sent: fail closed, as for any refusal.
            Some(Err(e)) => return Ok(Outcome::Deny(format!("login name as Duo user: {e}"))),
        };
        let duo_user = duo_name.as_str();
        let deadline = self.deadline(ctx);

        // Stage 1, before the authentication starts: failmode may apply.
        let server_time = match self.client.ping(deadline).await {
            Ok(t) => t,
            Err(e) => return before_auth("ping", e),
        };
        let stamp = Stamp::from_server_time(ctx.clock.clone(), server_time);
        if stamp.offset().abs() > 60 {
            tracing::warn!(
                offset = stamp.offset(),
                "local clock differs from Duo's; correcting"
            );
        }
        let ipaddr = remote_ip(ctx);
        let pre = self
            .client
            .preauth(
                &stamp,
                &PreauthRequest {
                    username: duo_user,
                    ipaddr: ipaddr.as_deref(),
                    hostname: &ctx.hostname,
                },
                deadline,
            )
            .await;
        let pre = match pre {
            Ok(p) => p,
            Err(e) => {
                if !e.service_failed() {
                    let _ = conv
                        .error("Duo refused the request; contact your administrator.")
                        .await;
                }
                return before_auth("preauth", e);
            }
        };
        let status_msg = strip_control(&pre.status_msg, false);
        match pre.result {
            PreauthResult::Allow => {
                tracing::warn!(
                    user = %for_log(&ctx.user),
                    duo_user = %for_log(duo_user),
                    status = %for_log(&status_msg),
                    "Duo preauth allowed the login without a second factor (Duo-side bypass)"
                );
                crate::audit::note_detail("Duo preauth allowed without a second factor");
                return Ok(Outcome::Allow);
            }
            PreauthResult::Deny => {
                let _ = conv.error(or(&status_msg, "Access denied by Duo.")).await;
                return Ok(Outcome::Deny(format!("duo preauth: deny ({status_msg})")));
            }
            PreauthResult::Enroll => {
                let url = strip_control(pre.enroll_portal_url.as_deref().unwrap_or(""), false);
                let text = if url.is_empty() {
                    "You are not enrolled in Duo; ask your administrator.".to_owned()
                } else {
                    format!("Please enroll at {url}")
                };
                let _ = conv.error(&text).await;
                return Ok(Outcome::Deny("duo preauth: not enrolled at Duo".into()));
            }
            PreauthResult::Other(r) => {
                return Ok(Outcome::Deny(format!(
                    "duo preauth: unknown result {:?}",
                    strip_control(&r, false)
                )));
            }
            PreauthResult::Auth => {}
        }

        // Stage 2, the authentication: every failure from here on denies.
        let fail = |e: DuoError| {
            tracing::warn!(error = %e, "Duo authentication failed");
            Outcome::Deny(format!("duo auth: {e}"))
        };
        if !ctx.interactive {
            return match self
                .attempt(ctx, conv, &stamp, duo_user, &AuthFactor::Auto, deadline)
                .await
            {
                Ok(Attempt::Allow) => Ok(Outcome::Allow),
                Ok(Attempt::Failed(why)) => Ok(Outcome::Deny(format!("duo auth: {why}"))),
                Err(Stop::Duo(e)) => Ok(fail(e)),
                Err(Stop::Conversation(e)) => Err(e.into()),
            };
        }
        let menu = Menu::from_devices(&pre.devices);
        let mut autopush = self.autopush;
        let mut last = String::from("no attempt");
        for _ in 0..self.prompts {
            let factor = if autopush {
                autopush = false; // after a failure, fall back to the menu
                AuthFactor::Auto
            } else {
                conv.info(&menu.render(duo_user)).await?;
                let answer = zeroize::Zeroizing::new(conv.prompt_visible(&menu.prompt()).await?);
                match menu.choose(&answer) {
                    Choice::Factor(f) => f,
                    Choice::Invalid => {
                        conv.error(INVALID).await?;
                        last = "invalid option".into();
                        continue;
                    }
                }
            };
            match self
                .attempt(ctx, conv, &stamp, duo_user, &factor, deadline)
                .await
            {
                Ok(Attempt::Allow) => return Ok(Outcome::Allow),
                Ok(Attempt::Failed(why)) => last = why,
                Err(Stop::Duo(e)) => {
                    let _ = conv.error("Duo authentication failed.").await;
                    return Ok(fail(e));
                }
                Err(Stop::Conversation(e)) => return Err(e.into()),
            }
        }
        Ok(Outcome::Deny(format!(
            "duo auth: {} attempts failed (last: {last})",
            self.prompts
        )))
    }

    /// An unknown or unenrolled user goes through what an enrolled one
    /// who cannot approve goes through, message for message and wait for
    /// wait (`decoy.rs`); Duo hears nothing.
    async fn decoy(
        &self,
        ctx: &AuthContext,
        conv: &mut dyn Conversation,
    ) -> Result<(), ConversationError> {
        Decoy {
            timing: self.decoy_timing,
            autopush: self.autopush,
            prompts: self.prompts,
            deadline: self.deadline(ctx),
            key: &self.decoy_key,
        }
        .run(ctx, conv)
        .await
    }
}
