//! The Duo simulator for `mfa mock serve`: HTTPS on 127.0.0.1 with the test
//! CA; the simulated phone approves pushes and calls after two seconds.

use std::time::Duration;

use mfa_sim::duo::{DuoSim, IKEY, SKEY};

use super::Running;
use crate::cmd::CliError;

pub async fn start() -> Result<Running, CliError> {
    let sim = DuoSim::start()
        .await
        .map_err(|e| CliError::Failed(format!("cannot start the Duo simulator: {e}")))?;
    sim.state().answer_after = Some(Duration::from_secs(2));
    // Everything a [push] section needs; the keys are public test values.
    let url = format!(
        "https://{}  [push] host = \"{}\", ca_file = \"{}\", ikey = \"{IKEY}\", skey = \"{SKEY}\"",
        sim.host(),
        sim.host(),
        sim.ca_file().display()
    );
    Ok(Running {
        name: "duo",
        url,
        _guard: Box::new(sim),
    })
}
