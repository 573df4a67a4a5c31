//! A conversation that plays a fixed script and fails the test on anything
//! it did not expect: a different prompt, a prompt of the wrong kind, a
//! message too many, or script steps left over at the end (checked by
//! [`ScriptedConversation::finish`], and again on drop, so a test that
//! forgets `finish()` still fails).

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
    /// Unplayed steps are expectations nobody checked: fail the test. Not
    /// while already unwinding, where a second panic would abort the run
    /// and hide the first failure.
    fn drop(&mut self) {
        if !std::thread::panicking() && !self.steps.is_empty() {
            panic!(
                "script not finished; left: {:?}; transcript: {:?}",
                self.steps, self.transcript
            );
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    #[should_panic(expected = "script not finished")]
    fn a_forgotten_finish_fails_on_drop() {
        let mut c = ScriptedConversation::new([
            ScriptedConversation::secret("Code: ", "1"),
            Step::InfoContaining("never shown".into()),
        ]);
        let answer = block_on(c.prompt_secret("Code: ")).unwrap();
        assert_eq!(answer.as_str(), "1");
        // No finish(): the unplayed InfoContaining must still fail the test.
    }

    #[test]
    fn a_played_script_drops_quietly() {
        let mut c = ScriptedConversation::new([Step::ErrorContaining("timed".into())]);
        block_on(c.error("login timed out")).unwrap();
        drop(c);
    }

    #[test]
    fn drop_while_unwinding_keeps_the_first_failure() {
        // A second panic during unwinding would abort the whole test run;
        // the first failure must be the one reported.
        let r = std::panic::catch_unwind(|| {
            let _c = ScriptedConversation::new([Step::InfoContaining("x".into())]);
            panic!("the test's own failure");
        });
        let msg = r.unwrap_err();
        assert_eq!(msg.downcast_ref::<&str>(), Some(&"the test's own failure"));
    }
}
