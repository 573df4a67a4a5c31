//! One PAM authentication: the pass option decides where the code comes
//! from, the engine decides, and the decision becomes a PAM result.

use zeroize::Zeroizing;

use crate::context::AuthContext;
use crate::conversation::{Conversation, SecretAnswer};
use crate::policy::{Decision, Engine};

use super::args::PassMode;
use super::pass::{split_code, FirstPassConversation, FORWARD_PASS_PROMPT};

/// The PAM results the module can give. The glue maps them to libpam's
/// numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PamVerdict {
    /// PAM_SUCCESS: the second factor was verified (or `failmode = safe`
    /// let a provider outage through, as configured).
    Success,
    /// PAM_AUTH_ERR: anything that is not a verified success.
    AuthErr,
    /// PAM_IGNORE: `nullok` / `unenrolled = allow` / a skip rule. Never a
    /// success: another module must still say yes.
    Ignore,
    /// PAM_SERVICE_ERR: the module is misconfigured (unknown argument,
    /// unreadable or invalid config) or failed internally. Chosen over
    /// PAM_AUTHINFO_UNAVAIL because stacks commonly map that one to
    /// `ignore` (it reads as "network directory down"), which would turn an
    /// admin's typo into a login without the second factor.
    ServiceErr,
}

/// The engine's decision as a PAM result.
pub fn verdict_for(decision: &Decision) -> PamVerdict {
    match decision {
        Decision::Allow { .. } => PamVerdict::Success,
        Decision::Deny { .. } => PamVerdict::AuthErr,
        Decision::Ignore { .. } => PamVerdict::Ignore,
    }
}

/// `PAM_AUTHTOK`: the password stacked modules share.
pub trait AuthTok {
    fn get(&self) -> Option<SecretAnswer>;
    /// Store `value` for the modules after this one. A failure is logged by
    /// the caller's PAM stack; the code is already judged on its own.
    fn set(&mut self, value: &str) -> Result<(), String>;
}

/// Run one authentication under `pass`.
///
/// - `Prompt`: the factor prompts.
/// - `ForwardPass`: one prompt for password and code; the password goes to
///   `PAM_AUTHTOK` for the next module whatever the code's fate.
/// - `UseFirstPass`: the code is the tail of `PAM_AUTHTOK`; nothing is ever
///   prompted; the password part replaces `PAM_AUTHTOK` on success.
/// - `TryFirstPass`: as `UseFirstPass` when `PAM_AUTHTOK` ends in a code
///   that verifies; otherwise the factor prompts (a second engine run, so a
///   password that merely ends in digits does not lock anyone out).
pub async fn authenticate(
    engine: &Engine,
    ctx: &AuthContext,
    conv: &mut dyn Conversation,
    authtok: &mut dyn AuthTok,
    pass: PassMode,
) -> Decision {
    match pass {
        PassMode::Prompt => engine.authenticate(ctx, conv).await,
        PassMode::ForwardPass => {
            let answer = match conv.prompt_secret(FORWARD_PASS_PROMPT).await {
                Ok(a) => a,
                Err(e) => {
                    // Still let the engine decide, so the attempt is audited
                    // like any other; with nothing to answer its prompt it
                    // denies (or ignores, for an unenrolled user with nullok).
                    tracing::info!(error = %e, "forward_pass: no answer");
                    let mut c = FirstPassConversation::new(conv, None, false);
                    return engine.authenticate(ctx, &mut c).await;
                }
            };
            let split = split_code(&answer);
            if let Err(e) = authtok.set(&split.password) {
                tracing::warn!(error = %e, "forward_pass: PAM_AUTHTOK not set");
            }
            // No code after the password: ask for it like any other login.
            let may_prompt = split.code.is_none();
            let mut c = FirstPassConversation::new(conv, split.code, may_prompt);
            engine.authenticate(ctx, &mut c).await
        }
        PassMode::UseFirstPass | PassMode::TryFirstPass => {
            let first = authtok.get().map(|t| split_code(&t));
            let (password, code) = match first {
                Some(s) => (s.password, s.code),
                None => (Zeroizing::new(String::new()), None),
            };
            let try_again = pass == PassMode::TryFirstPass;
            if code.is_none() {
                if try_again {
                    return engine.authenticate(ctx, conv).await;
                }
                let mut c = FirstPassConversation::new(conv, None, false);
                return engine.authenticate(ctx, &mut c).await;
            }
            let decision = {
                let mut c = FirstPassConversation::new(conv, code, false);
                engine.authenticate(ctx, &mut c).await
            };
            match decision {
                Decision::Allow { .. } => {
                    // The next module sees the password without the code.
                    if let Err(e) = authtok.set(&password) {
                        tracing::warn!(error = %e, "PAM_AUTHTOK not set");
                    }
                    decision
                }
                Decision::Deny { .. } if try_again => engine.authenticate(ctx, conv).await,
                other => other,
            }
        }
    }
}

#[cfg(test)]
mod tests;
