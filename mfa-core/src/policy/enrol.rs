//! `unenrolled = "enroll"`: when the engine may enrol a user inside the
//! login, and what it concludes. The enrolment itself is the factor's
//! ([`Factor::enroll`]; only TOTP can).

use std::collections::HashMap;
use std::sync::Arc;

use crate::context::AuthContext;
use crate::conversation::Conversation;
use crate::factor::{Factor, FactorError, FactorKind, Outcome};

use super::Decision;

/// Enrol the person in the first planned factor that can enrol at login.
/// `Err(why)` when no enrolment may be offered: the engine then treats the
/// user as `unenrolled = "deny"` does (decoy prompt, deny) and audits why.
///
/// The first factor must already be verified by sshd: otherwise anyone who
/// reaches this prompt (a wrong password in a stack that still runs
/// pam_mfa, a user name alone) could put their own secret on an account.
pub(super) async fn at_login(
    factors: &HashMap<FactorKind, Arc<dyn Factor>>,
    ctx: &AuthContext,
    conv: &mut dyn Conversation,
    kinds: &[FactorKind],
    ran: &mut Vec<FactorKind>,
) -> Result<Decision, String> {
    if !ctx.first_factor_verified {
        return Err("enrolment at login needs a first factor verified by sshd \
                    (AuthenticationMethods publickey,keyboard-interactive, or mfa-login)"
            .into());
    }
    if !ctx.interactive {
        return Err("enrolment at login needs an interactive session".into());
    }
    for kind in kinds {
        let Some(factor) = factors.get(kind) else {
            continue;
        };
        ran.push(*kind);
        return Ok(match factor.enroll(ctx, conv).await {
            Ok(Outcome::Allow) => Decision::Allow {
                factor: Some(*kind),
                fail_open: false,
            },
            Ok(Outcome::Deny(reason)) => Decision::Deny {
                reason: format!("{kind}: {reason}"),
            },
            Ok(Outcome::NotEnrolled) => {
                ran.pop();
                continue;
            }
            Err(FactorError::Conversation(e)) => Decision::Deny {
                reason: format!("{kind}: enrolment abandoned: {e}"),
            },
            Err(e) => {
                tracing::error!(factor = %kind, error = %e, "enrolment at login failed");
                let _ = conv
                    .error("Enrolment is unavailable; contact your administrator.")
                    .await;
                Decision::Deny {
                    reason: format!("{kind}: enrolment failed: {e}"),
                }
            }
        });
    }
    Err("no planned factor can enrol at login (only totp can)".into())
}
