//! The tru.ID PhoneCheck simulator for `mfa mock serve`. It accepts the
//! client id `sim-client-id` and secret `sim-client-secret`; opening a
//! check's `check_url` in a browser plays the phone and the operator and
//! redirects to the check's `redirect_url` (e.g. a local `mfa serve`).

use std::net::IpAddr;

use mfa_sim::truid::TruIdSim;

use super::Running;
use crate::cmd::CliError;

pub async fn start(bind: IpAddr) -> Result<Running, CliError> {
    let sim = TruIdSim::start_at(bind)
        .await
        .map_err(|e| CliError::Failed(format!("cannot start the tru.ID simulator: {e}")))?;
    Ok(Running {
        name: "truid",
        url: sim.uri(),
        _guard: Box::new(sim),
    })
}
