//! A conversation that plays a fixed script and fails the test on anything
//! it did not expect: a different prompt, a prompt of the wrong kind, a
//! message too many, or script steps left over at the end.

// This is a test double: failing loudly is its whole purpose.
#![allow(clippy::panic)]

use std::collections::VecDeque;

use async_trait::async_trait;
use zeroize::Zeroizing;

use crate::conversation::{Conversation, ConversationError, SecretAnswer};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Expect exactly this echo-off prompt; answer with the string.
    Secret(String, String),
    /// Expect exactly this echo-on prompt; answer with the string.
    Visible(String, String),
    /// Expect an info message containing this text.
    InfoContaining(String),
    /// Expect an error message containing this text.
    ErrorContaining(String),
    /// Expect an echo-off prompt and answer as if the person hung up.
    AbortAt(String),
}

#[derive(Debug, Default)]
pub struct ScriptedConversation {
    steps: VecDeque<Step>,
    /// Everything shown, in order, for assertions after the fact.
    pub transcript: Vec<String>,
    /// Accept (and record) info/error messages not in the script.
    lenient_messages: bool,
}

impl ScriptedConversation {
    pub fn new(steps: impl IntoIterator<Item = Step>) -> Self {
        Self {
            steps: steps.into_iter().collect(),
            transcript: Vec::new(),
            lenient_messages: false,
        }
    }

    /// Messages (info/error) not in the script are recorded, not fatal.
    pub fn lenient_messages(mut self) -> Self {
        self.lenient_messages = true;
        self
    }

    pub fn secret(prompt: &str, answer: &str) -> Step {
        Step::Secret(prompt.into(), answer.into())
    }

    /// Panics unless every step was played.
    pub fn finish(&mut self) {
        let left: Vec<Step> = self.steps.drain(..).collect();
        if !left.is_empty() {
            panic!(
                "script not finished; left: {left:?}; transcript: {:?}",
                self.transcript
            );
        }
    }

    fn next(&mut self, what: &str) -> Step {
        match self.steps.pop_front() {
            Some(s) => s,
            None => panic!("unexpected {what}; transcript: {:?}", self.transcript),
        }
    }

    fn message(&mut self, kind: &str, text: &str) {
        self.transcript.push(format!("{kind}: {text}"));
        let expected = self.steps.front().cloned();
        let matches = match (&expected, kind) {
            (Some(Step::InfoContaining(t)), "info") | (Some(Step::ErrorContaining(t)), "error") => {
                text.contains(t.as_str())
            }
            _ => false,
        };
        if matches {
            self.steps.pop_front();
        } else if !self.lenient_messages {
            panic!("unexpected {kind} {text:?}; expected {expected:?}");
        }
    }
}

#[async_trait]
impl Conversation for ScriptedConversation {
    async fn prompt_secret(&mut self, prompt: &str) -> Result<SecretAnswer, ConversationError> {
        self.transcript.push(format!("secret: {prompt}"));
        match self.next(&format!("secret prompt {prompt:?}")) {
            Step::Secret(p, a) if p == prompt => Ok(Zeroizing::new(a)),
            Step::AbortAt(p) if p == prompt => Err(ConversationError::Aborted),
            other => panic!("secret prompt {prompt:?} but script expected {other:?}"),
        }
    }

    async fn prompt_visible(&mut self, prompt: &str) -> Result<String, ConversationError> {
        self.transcript.push(format!("visible: {prompt}"));
        match self.next(&format!("visible prompt {prompt:?}")) {
            Step::Visible(p, a) if p == prompt => Ok(a),
            other => panic!("visible prompt {prompt:?} but script expected {other:?}"),
        }
    }

    async fn info(&mut self, text: &str) -> Result<(), ConversationError> {
        self.message("info", text);
        Ok(())
    }

    async fn error(&mut self, text: &str) -> Result<(), ConversationError> {
        self.message("error", text);
        Ok(())
    }
}

impl Drop for ScriptedConversation {
    fn drop(&mut self) {
        if !std::thread::panicking() && !self.steps.is_empty() {
            panic!("script not finished; left: {:?}", self.steps);
        }
    }
}
