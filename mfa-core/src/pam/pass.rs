//! pam_google_authenticator's stacking options: the code typed at the end
//! of a password, and a conversation that hands that code to the factor's
//! prompt instead of asking the person again.

use async_trait::async_trait;
use zeroize::Zeroizing;

use crate::conversation::{Conversation, ConversationError, SecretAnswer};

/// The single prompt of `forward_pass` (pam_google_authenticator's wording).
pub const FORWARD_PASS_PROMPT: &str = "Password & verification code: ";

/// The pass options hand the code typed with the password to TOTP, the
/// only factor checked on this host. Any other factor would be answered
/// with bytes from the password line (a Duo passcode, a webhook code):
/// so with a pass option, every factor list the login could be planned
/// from (`lists`: where it is written, and the list) must name TOTP alone,
/// or the module line is refused, naming the argument.
pub fn check_plan(
    pass: super::PassMode,
    lists: &[(String, Vec<crate::factor::FactorKind>)],
) -> Result<(), super::PamArgsError> {
    let Some(arg) = pass.argument() else {
        return Ok(());
    };
    for (place, kinds) in lists {
        if let Some(other) = kinds.iter().find(|k| !k.is_local()) {
            return Err(super::PamArgsError::Invalid {
                arg: arg.to_owned(),
                message: format!(
                    "the code typed with the password is only ever checked by TOTP, but {} \
                     names {other}; remove the option or put factor=totp on this line",
                    crate::sanitize::for_log(place)
                ),
            });
        }
    }
    Ok(())
}

/// Length of a TOTP/HOTP code as google-authenticator issues them.
const CODE_DIGITS: usize = 6;
/// Length of a scratch (emergency) code.
const SCRATCH_DIGITS: usize = 8;

/// A password with a code typed after it.
#[derive(Debug, PartialEq, Eq)]
pub struct Split {
    pub password: SecretAnswer,
    pub code: Option<SecretAnswer>,
}

/// Split `input` into password and trailing code.
///
/// - exactly 8 digits and nothing else: a scratch code alone;
/// - otherwise the last 6 characters, if they are all digits, are the code
///   and the rest is the password (possibly empty);
/// - otherwise there is no code and everything is the password.
///
/// A scratch code typed after a password cannot be told apart from a
/// password ending in two digits followed by a TOTP code, so it is not
/// recognised there; `docs/pam.md` says so.
pub fn split_code(input: &str) -> Split {
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if input.len() == SCRATCH_DIGITS && all_digits(input) {
        return Split {
            password: Zeroizing::new(String::new()),
            code: Some(Zeroizing::new(input.to_owned())),
        };
    }
    if input.len() >= CODE_DIGITS {
        let at = input.len() - CODE_DIGITS;
        if input.is_char_boundary(at) && all_digits(&input[at..]) {
            return Split {
                password: Zeroizing::new(input[..at].to_owned()),
                code: Some(Zeroizing::new(input[at..].to_owned())),
            };
        }
    }
    Split {
        password: Zeroizing::new(input.to_owned()),
        code: None,
    }
}

/// Answers the factor's first prompt with a code known in advance (from
/// `PAM_AUTHTOK`), without showing it; later prompts go to the person,
/// unless prompting is not allowed (`use_first_pass`), in which case they
/// fail and the factor denies.
pub struct FirstPassConversation<'a> {
    inner: &'a mut dyn Conversation,
    answer: Option<SecretAnswer>,
    may_prompt: bool,
    /// The given answer went to a prompt (the factor read the code).
    used: bool,
}

impl<'a> FirstPassConversation<'a> {
    pub fn new(
        inner: &'a mut dyn Conversation,
        answer: Option<SecretAnswer>,
        may_prompt: bool,
    ) -> Self {
        Self {
            inner,
            answer,
            may_prompt,
            used: false,
        }
    }

    /// Whether a prompt was answered with the given answer.
    pub fn answer_used(&self) -> bool {
        self.used
    }

    fn take(&mut self) -> Result<Option<SecretAnswer>, ConversationError> {
        match self.answer.take() {
            Some(a) => {
                self.used = true;
                Ok(Some(a))
            }
            None if self.may_prompt => Ok(None),
            None => Err(ConversationError::NotInteractive),
        }
    }
}

#[async_trait]
impl Conversation for FirstPassConversation<'_> {
    async fn prompt_secret(&mut self, prompt: &str) -> Result<SecretAnswer, ConversationError> {
        match self.take()? {
            Some(a) => Ok(a),
            None => self.inner.prompt_secret(prompt).await,
        }
    }

    async fn prompt_visible(&mut self, prompt: &str) -> Result<String, ConversationError> {
        match self.take()? {
            // The caller owns the copy now (echo_verification_code prompts
            // are wrapped back into Zeroizing by the TOTP factor).
            Some(a) => Ok(a.as_str().to_owned()),
            None => self.inner.prompt_visible(prompt).await,
        }
    }

    async fn info(&mut self, text: &str) -> Result<(), ConversationError> {
        self.inner.info(text).await
    }

    async fn error(&mut self, text: &str) -> Result<(), ConversationError> {
        self.inner.error(text).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::scripted::{ScriptedConversation, Step};

    fn split(s: &str) -> (String, Option<String>) {
        let r = split_code(s);
        (r.password.to_string(), r.code.map(|c| c.to_string()))
    }

    #[test]
    fn splits_trailing_codes() {
        assert_eq!(
            split("hunter2123456"),
            ("hunter2".into(), Some("123456".into()))
        );
        assert_eq!(split("123456"), ("".into(), Some("123456".into())));
        assert_eq!(split("12345678"), ("".into(), Some("12345678".into())));
        assert_eq!(split("pw12345678"), ("pw12".into(), Some("345678".into())));
        assert_eq!(split("hunter2"), ("hunter2".into(), None));
        assert_eq!(split("12345"), ("12345".into(), None));
        assert_eq!(split(""), ("".into(), None));
        // Multi-byte characters never cause a split inside a character.
        assert_eq!(split("pässwörd"), ("pässwörd".into(), None));
        assert_eq!(split("é123456"), ("é".into(), Some("123456".into())));
        assert_eq!(split("abc12３456"), ("abc12３456".into(), None));
    }

    #[tokio::test]
    async fn first_prompt_answered_then_passes_through() {
        let mut inner = ScriptedConversation::new([
            Step::InfoContaining("hello".into()),
            ScriptedConversation::secret("Again: ", "654321"),
        ]);
        let mut c =
            FirstPassConversation::new(&mut inner, Some(Zeroizing::new("123456".into())), true);
        assert_eq!(
            c.prompt_secret("Verification code: ")
                .await
                .unwrap()
                .as_str(),
            "123456"
        );
        c.info("hello").await.unwrap();
        assert_eq!(c.prompt_secret("Again: ").await.unwrap().as_str(), "654321");
        inner.finish();
        assert!(
            !inner
                .transcript
                .iter()
                .any(|t| t.contains("Verification code")),
            "the answered prompt is never shown: {:?}",
            inner.transcript
        );
    }

    #[tokio::test]
    async fn use_first_pass_never_prompts() {
        let mut inner = ScriptedConversation::new([]);
        let mut c = FirstPassConversation::new(&mut inner, None, false);
        assert_eq!(
            c.prompt_visible("Verification code: ").await,
            Err(ConversationError::NotInteractive)
        );
        inner.finish();
    }
}
