//! `mfa mock serve`: the provider simulators as a process, for demos and
//! manual testing. Each simulator lives in its own module here and is
//! started by [`start_all`]; all listen on loopback only.

mod duo;
mod truid;
mod webhook;

use std::net::IpAddr;

use clap::{Args, Subcommand};
use serde_json::json;

use super::{runtime, CliError, Status};
use crate::output::Output;

#[derive(Debug, Subcommand)]
pub enum MockCommand {
    /// Run the simulators until interrupted; prints their base URLs.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Loopback address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
}

/// A running simulator: dropping `_guard` stops it.
pub struct Running {
    pub name: &'static str,
    pub url: String,
    pub _guard: Box<dyn std::any::Any>,
}

/// Start every simulator. Each provider's module adds one line here.
async fn start_all(bind: IpAddr) -> Result<Vec<Running>, CliError> {
    let mut running = Vec::new();
    // Duo: always 127.0.0.1, the address its test certificate names.
    running.push(duo::start().await?);
    running.push(truid::start(bind).await?);
    running.push(webhook::start(bind).await?);
    Ok(running)
}

pub fn run(cmd: MockCommand, out: &Output) -> Result<Status, CliError> {
    let MockCommand::Serve(args) = cmd;
    if !args.bind.is_loopback() {
        return Err(CliError::Usage(
            "simulators listen on loopback addresses only".into(),
        ));
    }
    let rt = runtime()?;
    rt.block_on(async {
        let running = start_all(args.bind).await?;
        if running.is_empty() {
            return Err(CliError::Failed(
                "no simulator is built into this binary yet".into(),
            ));
        }
        let list: Vec<_> = running
            .iter()
            .map(|r| json!({"name": r.name, "url": r.url}))
            .collect();
        let human: Vec<String> = running
            .iter()
            .map(|r| format!("{:<12} {}", r.name, r.url))
            .collect();
        out.result(&json!({ "simulators": list }), &human.join("\n"));
        tokio::signal::ctrl_c()
            .await
            .map_err(|e| CliError::Failed(format!("cannot wait for Ctrl-C: {e}")))?;
        drop(running);
        Ok(Status::Success)
    })
}
