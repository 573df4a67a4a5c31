//! The pause after a wrong code, for every front end.
//!
//! pam_faildelay's idea: a denied login returns only after a fixed delay,
//! so that guessing is slow even from many sessions at once (with
//! RATE_LIMIT it also keeps each session from hammering the state file).
//! PAM stacks have pam_faildelay; mfa-login and `mfa check` have nothing
//! around them, so the delay is applied here, once, by the session.
//!
//! Only a deny that followed something the person gave pauses: a code or
//! any other answer to a prompt, or under PAM the shared password the pass
//! options take a code from. A configuration error is found before anything
//! is asked (the TOTP file is checked before the prompt) and is reported at
//! once; an allow never waits. The pause ends at the login deadline at the
//! latest.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::conversation::{Conversation, ConversationError, SecretAnswer};

use super::AuthTok;

/// Whether the person gave anything during this login: shared by the
/// watched conversation and the watched `PAM_AUTHTOK`.
#[derive(Debug, Default)]
pub(super) struct Answered(AtomicBool);

impl Answered {
    fn note(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub(super) fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// The front end's conversation, noting every answer.
pub(super) struct WatchedConv<'a> {
    pub(super) inner: &'a mut dyn Conversation,
    pub(super) answered: &'a Answered,
}

#[async_trait]
impl Conversation for WatchedConv<'_> {
    async fn prompt_secret(&mut self, prompt: &str) -> Result<SecretAnswer, ConversationError> {
        let answer = self.inner.prompt_secret(prompt).await;
        if answer.is_ok() {
            self.answered.note();
        }
        answer
    }

    async fn prompt_visible(&mut self, prompt: &str) -> Result<String, ConversationError> {
        let answer = self.inner.prompt_visible(prompt).await;
        if answer.is_ok() {
            self.answered.note();
        }
        answer
    }

    async fn info(&mut self, text: &str) -> Result<(), ConversationError> {
        self.inner.info(text).await
    }

    async fn error(&mut self, text: &str) -> Result<(), ConversationError> {
        self.inner.error(text).await
    }
}

/// The front end's `PAM_AUTHTOK`: reading a password is where
/// `use_first_pass`/`try_first_pass` take a code from.
pub(super) struct WatchedTok<'a> {
    pub(super) inner: &'a mut dyn AuthTok,
    pub(super) answered: &'a Answered,
}

impl AuthTok for WatchedTok<'_> {
    fn get(&self) -> Option<SecretAnswer> {
        let tok = self.inner.get();
        if tok.is_some() {
            self.answered.note();
        }
        tok
    }

    fn set(&mut self, value: &str) -> Result<(), String> {
        self.inner.set(value)
    }
}

/// How long to pause now: `delay`, but never past `deadline`.
pub(super) fn pause_for(delay: Duration, deadline: Instant, now: Instant) -> Duration {
    delay.min(deadline.saturating_duration_since(now))
}

/// Pause after a deny (blocking: the login's runtime, if any, is gone).
pub(super) fn pause(delay: Duration, deadline: Instant) {
    let d = pause_for(delay, deadline, Instant::now());
    if !d.is_zero() {
        std::thread::sleep(d);
    }
}

#[cfg(test)]
mod tests;
