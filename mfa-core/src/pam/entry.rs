//! `pam_sm_authenticate`, decided: the module arguments, the config, one
//! session on the module's runner, and the PAM result. The glue in
//! `mfa-pam` only builds the [`FrontEnd`] over the PAM handle and maps the
//! [`PamVerdict`] to libpam's numbers.

use crate::sanitize::for_log;
use crate::session::{FrontEnd, LogLevel, PamVerdict, Runner, Session, SessionError};

use super::PamArgs;

/// One PAM authentication on runner `R` (the lean module runs
/// `LocalRunner` and hands [`PamVerdict::NeedsNetwork`] to the network
/// object, which runs `NetworkRunner`).
pub fn authenticate_pam<R: Runner>(fe: &mut dyn FrontEnd, argv: &[String]) -> PamVerdict {
    let args = match PamArgs::parse(argv) {
        Ok(a) => a,
        Err(e) => {
            fe.log(LogLevel::Error, &e.to_string());
            return PamVerdict::ServiceErr;
        }
    };
    let session = match args.load_config().and_then(Session::new) {
        Ok(s) => s.override_factors(args.factors.clone()),
        Err(e) => {
            fe.log(LogLevel::Error, &e.to_string());
            return PamVerdict::ServiceErr;
        }
    };
    // A pass option with a plan that names any factor but TOTP is a
    // misconfigured line, refused before anything is asked or sent.
    if let Err(e) = super::pass::check_plan(args.pass, &session.factor_lists()) {
        fe.log(LogLevel::Error, &e.to_string());
        return PamVerdict::ServiceErr;
    }
    let ctx = match session.context(fe) {
        Ok(c) => c,
        Err(e) => {
            // pam_google_authenticator also fails the login here.
            fe.log(LogLevel::Error, &format!("cannot get the user name: {e}"));
            return PamVerdict::AuthErr;
        }
    };
    let user = ctx.user.clone();
    match session
        .prepare_for::<R>(ctx, fe)
        .and_then(|login| login.run(fe, args.pass))
    {
        Ok(decision) => {
            if args.debug {
                let line = format!(
                    "user \"{}\": {}",
                    for_log(&user),
                    for_log(&format!("{decision:?}"))
                );
                fe.log(LogLevel::Debug, &line);
            }
            PamVerdict::from(&decision)
        }
        Err(SessionError::NeedsNetwork) => PamVerdict::NeedsNetwork,
        Err(e) => {
            fe.log(LogLevel::Error, &e.to_string());
            PamVerdict::ServiceErr
        }
    }
}

#[cfg(test)]
mod tests;
