//! One PAM authentication: the pass option decides where the code comes
//! from, the engine decides, and the decision becomes a PAM result.

use zeroize::Zeroizing;

use crate::context::AuthContext;
use crate::conversation::{Conversation, SecretAnswer};
use crate::policy::{Decision, Engine, Plan};
use crate::session::AuthTok;

use super::args::PassMode;
use super::pass::{split_code, FirstPassConversation, FORWARD_PASS_PROMPT};

/// Stands in for `PAM_AUTHTOK` where the front end has none.
struct NoAuthTok;

impl AuthTok for NoAuthTok {
    fn get(&self) -> Option<SecretAnswer> {
        None
    }
    fn set(&mut self, _value: &str) -> Result<(), String> {
        Err("this front end has no shared password".into())
    }
}

/// Run one authentication under `pass`.
///
/// - `Prompt`: the factor prompts.
/// - `ForwardPass`: one prompt for password and code; the password goes to
///   `PAM_AUTHTOK` for the next module whatever the code's fate.
/// - `UseFirstPass`: the code is the tail of `PAM_AUTHTOK`; nothing is ever
///   prompted; the password part replaces `PAM_AUTHTOK` when the login was
///   allowed by that code (not, say, by a grace period that read no code:
///   then the digits may be the password's own, and it is left whole).
/// - `TryFirstPass`: as `UseFirstPass` when `PAM_AUTHTOK` ends in a code
///   that verifies; otherwise the factor prompts (a second engine run, so a
///   password that merely ends in digits does not lock anyone out). Only
///   the run that ends the login is audited: one record per login.
pub async fn authenticate(
    engine: &Engine,
    ctx: &AuthContext,
    conv: &mut dyn Conversation,
    authtok: Option<&mut dyn AuthTok>,
    pass: PassMode,
) -> Decision {
    let mut none = NoAuthTok;
    let authtok = authtok.unwrap_or(&mut none);
    // The code from the password line is for TOTP alone (`pass::check_plan`
    // refuses such a module line at load); should a plan with another
    // factor get here anyway, nothing runs and nothing is sent.
    if let (Some(arg), Plan::Run(kinds)) = (pass.argument(), engine.plan(ctx)) {
        if let Some(other) = kinds.iter().find(|k| !k.is_local()) {
            return engine
                .refuse(
                    ctx,
                    format!("{arg} with the {other} factor: the password line is for TOTP only"),
                )
                .await;
        }
    }
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
            let (attempt, code_used) = {
                let mut c = FirstPassConversation::new(conv, code, false);
                let attempt = engine.attempt(ctx, &mut c).await;
                (attempt, c.answer_used())
            };
            match attempt.decision() {
                Decision::Allow { .. } => {
                    // The next module sees the password without the code,
                    // if the code is what let the login in.
                    if code_used {
                        if let Err(e) = authtok.set(&password) {
                            tracing::warn!(error = %e, "PAM_AUTHTOK not set");
                        }
                    }
                    engine.record(ctx, attempt).await
                }
                // The first try ends unrecorded: the prompt's run is the
                // login's one audit record.
                Decision::Deny { .. } if try_again => {
                    drop(attempt);
                    engine.authenticate(ctx, conv).await
                }
                _ => engine.record(ctx, attempt).await,
            }
        }
    }
}

#[cfg(test)]
mod tests;
