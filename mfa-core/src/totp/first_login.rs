//! Enrolment at first login (`unenrolled = "enroll"`).
//!
//! A user with no state file, whose first factor sshd has already verified
//! (the engine checks that), is shown a new secret inside the SSH session:
//! the QR code, the key and the otpauth URI, and the emergency scratch
//! codes. The state file is written only once the person typed a valid code
//! from their app, so a wrong code, a closed connection or the login
//! deadline leave nothing behind, and nobody ends up with a secret they
//! never saw. The new state has the secure defaults below.

use zeroize::Zeroizing;

use crate::context::AuthContext;
use crate::conversation::Conversation;
use crate::factor::{FactorError, Outcome};
use crate::fsid;
use crate::state::as_identity;

use super::enroll::{new_state, otpauth_uri, EnrollOptions};
use super::factor::TotpFactor;
use super::store::{self, StoreError};
use super::verify::{verify, Accepted, VerifyOptions};

/// The prompt that confirms the new enrolment.
pub const CONFIRM_PROMPT: &str = "Code from your authenticator app, to confirm: ";
/// Typing mistakes allowed before the enrolment is dropped.
pub const ATTEMPTS: usize = 3;
/// The state file's mode: read-only, as `google-authenticator` writes it.
const MODE: u32 = 0o400;

/// What a user enrolled at login gets: the answers `google-authenticator`
/// recommends (time-based, reuse disallowed, at most 3 attempts per 30 s,
/// the default window of 3 steps, 5 scratch codes).
pub fn secure_defaults() -> EnrollOptions {
    EnrollOptions {
        hotp: false,
        rate_limit: Some((3, 30)),
        disallow_reuse: true,
        window_size: 3,
        scratch_codes: 5,
        ..EnrollOptions::default()
    }
}

/// Show a new enrolment, have it confirmed, write it. `NotEnrolled` (nothing
/// said) when the account is unknown; `Deny` when it was not confirmed.
pub(super) async fn enroll(
    factor: &TotpFactor,
    ctx: &AuthContext,
    conv: &mut dyn Conversation,
) -> Result<Outcome, FactorError> {
    // The engine denies unknown names and lookup errors before any
    // factor runs; here too they are never "not enrolled".
    let account = match ctx.account() {
        Ok(Some(account)) => account,
        Ok(None) => return Ok(Outcome::Deny("no such account".into())),
        Err(e) => return Err(FactorError::State(e.to_string())),
    };
    let path = factor.secret_path(&account);
    let id = factor.file_identity(ctx, &account)?;
    // Enrolled since the engine looked (another login): that file decides,
    // not a second secret.
    if as_identity(id, || store::exists(&path))? {
        return Ok(Outcome::Deny("enrolled meanwhile; log in again".into()));
    }
    let mut state = new_state(&secure_defaults(), ctx.rng.as_ref())
        .map_err(|e| FactorError::Internal(e.to_string()))?;
    let label = format!("{}@{}", ctx.user, ctx.hostname);
    let uri = otpauth_uri(&state, &ctx.hostname, &label);
    let qr = crate::qr::to_terminal(&uri).map_err(|e| FactorError::Internal(e.to_string()))?;
    let scratch = state
        .scratch_codes
        .iter()
        .map(|c| c.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    // The secret itself: held in wiped memory, shown only to the person.
    let text = Zeroizing::new(format!(
        "You have no second factor yet: enrol now.\n\
         Scan this QR code with an authenticator app:\n\
         {qr}\n\
         Or enter the secret key: {key}\n\
         otpauth URI: {uri}\n\
         Emergency scratch codes (each works once; keep them safe): {scratch}\n\
         Then type the code the app shows.",
        key = state.secret_base32().as_str(),
        uri = uri.as_str(),
    ));
    conv.info(&text).await?;
    drop(text);

    for attempt in 1..=ATTEMPTS {
        let code = conv.prompt_secret(CONFIRM_PROMPT).await?;
        // Tried on a copy: a wrong code must not count against the new
        // state's rate limit, and nothing is kept unless a code verifies.
        let mut candidate = state.clone();
        let verdict = verify(&mut candidate, &code, ctx.now(), VerifyOptions::default());
        // Only a code from the app proves the app has the secret; a scratch
        // code typed from the screen proves nothing.
        if verdict.result == Ok(Accepted::Code) {
            // The confirming code is recorded (DISALLOW_REUSE): it cannot
            // be replayed for the next login.
            state = candidate;
            let created =
                fsid::with_identity(id.0, id.1, || store::create(&path, &state, MODE, false))
                    .map_err(|e| FactorError::State(e.to_string()))?;
            return match created {
                Ok(()) => {
                    tracing::info!(
                        user = %crate::sanitize::for_log(&ctx.user),
                        "TOTP enrolled at first login"
                    );
                    crate::audit::note_detail("enrolled at first login");
                    conv.info("Enrolled: from now on, log in with a code from your app.")
                        .await?;
                    Ok(Outcome::Allow)
                }
                // Another login enrolled between our check and the link:
                // its file stands, ours is dropped.
                Err(StoreError::WriteFailed { source, .. })
                    if source.kind() == std::io::ErrorKind::AlreadyExists =>
                {
                    Ok(Outcome::Deny("enrolled meanwhile; log in again".into()))
                }
                Err(e) => Err(FactorError::State(e.to_string())),
            };
        }
        if attempt < ATTEMPTS {
            conv.error("That code is not right; try again.").await?;
        }
    }
    conv.error("Enrolment not confirmed; nothing was saved.")
        .await?;
    Ok(Outcome::Deny("enrolment not confirmed".into()))
}
