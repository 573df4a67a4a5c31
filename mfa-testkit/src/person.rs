//! Simulated people: conversations that answer the way the person at the
//! terminal would, with a phone or a team channel at hand, for tests that
//! need more than a fixed script (`mfa_core::conversation::scripted`).
//! A panic here is a test failure: each person fails on what it never
//! expects to be asked.

use async_trait::async_trait;
use mfa_core::conversation::{Conversation, ConversationError, SecretAnswer};
use mfa_core::phonecheck::factor::ENTER_PROMPT;
use mfa_sim::truid::TruIdSim;
use mfa_sim::webhook_sink::Channel;

/// Reads the team channel: answers a code prompt with the newest code of
/// `digits` digits the webhook sink received, and hangs up on anything
/// else (and when nothing arrived). Silent about messages.
pub struct ReadsChannel {
    channel: Channel,
    digits: usize,
}

impl ReadsChannel {
    pub fn new(channel: Channel, digits: usize) -> Self {
        Self { channel, digits }
    }
}

#[async_trait]
impl Conversation for ReadsChannel {
    async fn prompt_secret(&mut self, _p: &str) -> Result<SecretAnswer, ConversationError> {
        let code = self
            .channel
            .last_code(self.digits)
            .ok_or(ConversationError::Aborted)?;
        Ok(zeroize::Zeroizing::new(code))
    }
    async fn prompt_visible(&mut self, _p: &str) -> Result<String, ConversationError> {
        Err(ConversationError::Aborted)
    }
    async fn info(&mut self, _t: &str) -> Result<(), ConversationError> {
        Ok(())
    }
    async fn error(&mut self, _t: &str) -> Result<(), ConversationError> {
        Ok(())
    }
}

/// Has the phone for a tru.ID PhoneCheck: at the "press Enter" prompt the
/// phone opens the newest check's link (and follows the operator's
/// redirect to the callback), then the person presses Enter. Records the
/// info messages and the page the phone showed.
pub struct OpensLink<'a> {
    sim: &'a TruIdSim,
    pub infos: Vec<String>,
    /// Status and body of the page the phone ended on.
    pub page: Option<(u16, String)>,
}

impl<'a> OpensLink<'a> {
    pub fn new(sim: &'a TruIdSim) -> Self {
        Self {
            sim,
            infos: Vec::new(),
            page: None,
        }
    }
}

#[async_trait]
impl Conversation for OpensLink<'_> {
    async fn prompt_secret(&mut self, p: &str) -> Result<SecretAnswer, ConversationError> {
        panic!("unexpected secret prompt {p}")
    }
    async fn prompt_visible(&mut self, prompt: &str) -> Result<String, ConversationError> {
        assert_eq!(prompt, ENTER_PROMPT);
        let Some((_, url)) = self.sim.last_check() else {
            panic!("the prompt opened before any check was created");
        };
        let page = self
            .sim
            .phone_opens(&url)
            .await
            .unwrap_or_else(|e| panic!("the phone could not open {url}: {e}"));
        self.page = Some(page);
        Ok(String::new())
    }
    async fn info(&mut self, text: &str) -> Result<(), ConversationError> {
        self.infos.push(text.to_owned());
        Ok(())
    }
    async fn error(&mut self, text: &str) -> Result<(), ConversationError> {
        panic!("unexpected error message {text}")
    }
}

/// Never presses Enter: the PhoneCheck prompt stays open for ever, so the
/// login ends only when the factor's polling (or a deadline) ends it.
/// Records the info messages; any error message or other prompt fails.
#[derive(Debug, Default)]
pub struct NeverEnter {
    pub infos: Vec<String>,
}

#[async_trait]
impl Conversation for NeverEnter {
    async fn prompt_secret(&mut self, _: &str) -> Result<SecretAnswer, ConversationError> {
        std::future::pending().await
    }
    async fn prompt_visible(&mut self, prompt: &str) -> Result<String, ConversationError> {
        assert_eq!(prompt, ENTER_PROMPT);
        std::future::pending().await
    }
    async fn info(&mut self, text: &str) -> Result<(), ConversationError> {
        self.infos.push(text.to_owned());
        Ok(())
    }
    async fn error(&mut self, text: &str) -> Result<(), ConversationError> {
        panic!("unexpected error message {text}")
    }
}
