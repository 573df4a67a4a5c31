//! The conversation for sessions without a terminal (scp, sftp, git,
//! `ssh host cmd`): nothing is read from stdin, which belongs to the data
//! stream. A passcode sent by the client (`MFA_PASSCODE`) answers the first
//! secret prompt; any other question fails, so the factor denies at once
//! instead of waiting. Messages go to stderr only.

use std::io::Write;

use async_trait::async_trait;

use super::{Conversation, ConversationError, SecretAnswer};

#[derive(Debug, Default)]
pub struct NonInteractive {
    passcode: Option<SecretAnswer>,
}

impl NonInteractive {
    pub fn new(passcode: Option<SecretAnswer>) -> Self {
        Self { passcode }
    }
}

#[async_trait]
impl Conversation for NonInteractive {
    async fn prompt_secret(&mut self, _prompt: &str) -> Result<SecretAnswer, ConversationError> {
        self.passcode
            .take()
            .ok_or(ConversationError::NotInteractive)
    }

    async fn prompt_visible(&mut self, _prompt: &str) -> Result<String, ConversationError> {
        Err(ConversationError::NotInteractive)
    }

    async fn info(&mut self, text: &str) -> Result<(), ConversationError> {
        let _ = writeln!(std::io::stderr(), "{text}");
        Ok(())
    }

    async fn error(&mut self, text: &str) -> Result<(), ConversationError> {
        let _ = writeln!(std::io::stderr(), "{text}");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_once_then_refuses() {
        let mut c = NonInteractive::new(Some(zeroize::Zeroizing::new("123456".into())));
        assert_eq!(c.prompt_secret("Code: ").await.unwrap().as_str(), "123456");
        assert_eq!(
            c.prompt_secret("Code: ").await,
            Err(ConversationError::NotInteractive)
        );
        assert_eq!(
            c.prompt_visible("Option: ").await,
            Err(ConversationError::NotInteractive)
        );
        let mut none = NonInteractive::new(None);
        assert_eq!(
            none.prompt_secret("Code: ").await,
            Err(ConversationError::NotInteractive)
        );
    }
}
