//! What a person whose name is unknown (or not enrolled) sees when push is
//! the first factor: the messages, prompts and waits of an enrolled user
//! who cannot approve the push, without a single request to Duo.
//!
//! Each step stands in for the real factor's (`factor.rs`): a wait for
//! `ping` and `preauth`, the menu and its prompt, then per choice what Duo
//! would answer someone without the phone: the push (or call) message and
//! its Enter prompt, then Duo's timeout; new SMS passcodes; a wrong
//! passcode. The device is a phone whose masked number is derived from the
//! name and a key derived from `skey`: stable across attempts, as a real
//! device is, and different per name (one fixed decoy number would itself
//! tell strangers from users).

use std::time::Duration;

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretBox};
use sha2::Sha256;
use tokio::time::Instant;

use super::factor::{CALLING, ENTER_CALL, ENTER_PUSH, INVALID, PUSHED};
use super::menu::{Choice, Menu};
use crate::context::AuthContext;
use crate::conversation::{Conversation, ConversationError};
use crate::provider::decoy::{pause, FIRST_REQUEST, ROUND_TRIP};
use crate::push::duo::{AuthFactor, Device};

/// Duo's answers the decoy gives, as Duo words them.
pub const TIMED_OUT: &str = "Login timed out.";
pub const SMS_SENT: &str = "New SMS passcodes sent.";
pub const WRONG_PASSCODE: &str = "Incorrect passcode. Please try again.";
/// What the real factor says when its own deadline ends a wait.
pub const FAILED: &str = "Duo authentication failed.";

/// The waits the decoy imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecoyTiming {
    /// One request to Duo and its answer (see `provider::decoy`).
    pub round_trip: Duration,
    /// How long Duo waits for the phone before answering `timeout`.
    pub answer_timeout: Duration,
}

impl Default for DecoyTiming {
    fn default() -> Self {
        Self {
            round_trip: ROUND_TRIP,
            answer_timeout: Duration::from_secs(60),
        }
    }
}

/// Keys the decoy's phone numbers.
#[derive(Debug)]
pub struct DecoyKey(SecretBox<[u8; 32]>);

impl DecoyKey {
    pub fn from_skey(skey: &str) -> Self {
        let mut key = [0u8; 32];
        if let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(skey.as_bytes()) {
            mac.update(b"mfa push decoy device");
            key.copy_from_slice(&mac.finalize().into_bytes());
        }
        Self(SecretBox::new(Box::new(key)))
    }

    /// The last four digits of `user`'s decoy phone.
    fn last4(&self, user: &str) -> u16 {
        Hmac::<Sha256>::new_from_slice(self.0.expose_secret())
            .map(|mut m| {
                m.update(user.as_bytes());
                let tag = m.finalize().into_bytes();
                u16::from_be_bytes([tag[0], tag[1]]) % 10_000
            })
            .unwrap_or(100)
    }
}

/// One decoy run: the factor's settings for this login.
pub(super) struct Decoy<'a> {
    pub timing: DecoyTiming,
    pub autopush: bool,
    pub prompts: u32,
    /// The factor's own deadline (already capped by the login's).
    pub deadline: Instant,
    pub key: &'a DecoyKey,
}

impl Decoy<'_> {
    /// A phone with push, call and SMS, like Duo's usual single device.
    fn device(&self, user: &str) -> Device {
        Device {
            device: "decoy".into(),
            kind: "phone".into(),
            number: Some(format!("XXX-XXX-{:04}", self.key.last4(user))),
            name: Some(String::new()),
            display_name: None,
            capabilities: ["auto", "push", "sms", "phone", "mobile_otp"]
                .map(String::from)
                .to_vec(),
            sms_nextcode: None,
        }
    }

    /// A push or call was "sent": its message, the Enter prompt (with a
    /// terminal), then Duo's timeout, or the factor's own deadline if that
    /// comes first. `false` when the deadline ended the exchange.
    async fn pending(
        &self,
        ctx: &AuthContext,
        conv: &mut dyn Conversation,
        call: Option<&str>,
    ) -> Result<bool, ConversationError> {
        pause(ctx, self.timing.round_trip, 1, self.deadline).await;
        let sent = Instant::now();
        let (text, enter) = match call {
            Some(_) => (CALLING, ENTER_CALL),
            None => (PUSHED, ENTER_PUSH),
        };
        conv.info(text).await?;
        if ctx.interactive {
            drop(zeroize::Zeroizing::new(conv.prompt_visible(enter).await?));
        }
        if let Some(number) = call {
            conv.info(&format!("Dialing {number}...")).await?;
        }
        let answered = sent + self.timing.answer_timeout;
        if answered >= self.deadline {
            tokio::time::sleep_until(self.deadline).await;
            conv.error(FAILED).await?;
            return Ok(false);
        }
        tokio::time::sleep_until(answered).await;
        conv.error(TIMED_OUT).await?;
        Ok(true)
    }

    pub(super) async fn run(
        &self,
        ctx: &AuthContext,
        conv: &mut dyn Conversation,
    ) -> Result<(), ConversationError> {
        // ping (with the connection) and preauth.
        pause(
            ctx,
            self.timing.round_trip,
            FIRST_REQUEST + 1,
            self.deadline,
        )
        .await;
        if !ctx.interactive {
            self.pending(ctx, conv, None).await?;
            return Ok(());
        }
        let device = self.device(&ctx.user);
        let number = device.label();
        let menu = Menu::from_devices(std::slice::from_ref(&device));
        let mut autopush = self.autopush;
        for _ in 0..self.prompts {
            let factor = if autopush {
                autopush = false;
                AuthFactor::Auto
            } else {
                conv.info(&menu.render(&ctx.user)).await?;
                let answer = zeroize::Zeroizing::new(conv.prompt_visible(&menu.prompt()).await?);
                match menu.choose(&answer) {
                    Choice::Factor(f) => f,
                    Choice::Invalid => {
                        conv.error(INVALID).await?;
                        continue;
                    }
                }
            };
            let go_on = match factor {
                AuthFactor::Phone { .. } => self.pending(ctx, conv, Some(&number)).await?,
                AuthFactor::Sms { .. } => {
                    pause(ctx, self.timing.round_trip, 1, self.deadline).await;
                    conv.info(SMS_SENT).await?;
                    true
                }
                AuthFactor::Passcode(_) => {
                    pause(ctx, self.timing.round_trip, 1, self.deadline).await;
                    conv.error(WRONG_PASSCODE).await?;
                    true
                }
                AuthFactor::Auto | AuthFactor::Push { .. } => self.pending(ctx, conv, None).await?,
            };
            if !go_on {
                break;
            }
        }
        Ok(())
    }
}
