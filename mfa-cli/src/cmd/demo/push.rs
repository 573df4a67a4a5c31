//! The Duo push leg: a simulated Duo over TLS (trusting only the test CA),
//! the real engine and push factor; the simulated phone approves after a
//! moment, then denies.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use mfa_core::accounts::{effective_uid, name_of_uid};
use mfa_core::config::{UserEntry, UsersDb};
use mfa_core::push::{DuoUsername, PushFactor, Timing};
use mfa_core::{AuthContext, Config, Conversation, Engine};
use mfa_sim::duo::{Answer, DuoSim};

use super::{conversation, describe, AutoTyper, Leg};
use crate::cmd::{runtime, CliError};

/// How long the simulated phone takes to answer.
const PHONE_DELAY: Duration = Duration::from_millis(1500);

/// The terminal, or the auto-typer choosing option 1 and pressing Enter.
fn answers(auto: bool) -> Box<dyn Conversation> {
    if auto {
        Box::new(AutoTyper::new(["1".to_owned(), String::new()]))
    } else {
        conversation(false, String::new)
    }
}

pub fn leg(dir: &Path, auto: bool) -> Result<Leg, CliError> {
    println!("\n== Duo push (Auth API v2 against a simulated Duo over TLS) ==");
    let rt = runtime()?;
    let sim = rt
        .block_on(DuoSim::start())
        .map_err(|e| CliError::Failed(format!("cannot start the Duo simulator: {e}")))?;
    sim.state().answer_after = Some(PHONE_DELAY);
    println!(
        "1. Duo runs at https://{} with a certificate from the test CA {}.\n   \
         It checks every request's HMAC-SHA512 signature and date.",
        sim.host(),
        sim.ca_file().display()
    );

    let user = name_of_uid(effective_uid()).unwrap_or_else(|| "demo".into());
    let src = format!(
        "[general]\nlogin_timeout_secs = 60\n[policy]\nfactors = [\"push\"]\n{}\
         pushinfo = true\nprompts = 1\n",
        sim.push_section()
    );
    let config = Config::parse(&dir.join("push.toml"), &src)?;
    let mut users = UsersDb::default();
    users.users.insert(
        user.clone(),
        UserEntry {
            duo_username: Some(
                DuoUsername::parse("demo.user").map_err(|e| CliError::Failed(e.to_string()))?,
            ),
            ..UserEntry::default()
        },
    );
    let users_arc = Arc::new(users.clone());
    let factor = PushFactor::from_config(&config, &users_arc)?.with_timing(Timing {
        poll_interval: Duration::from_millis(200),
        deadline: Duration::from_secs(30),
    });
    let engine = Engine::with_factors(config, users, vec![Arc::new(factor)])?;
    let mut ctx = AuthContext::new(user.clone(), "mfa-demo");
    // The demo's user need not exist on this machine.
    ctx.accounts = Arc::new(mfa_core::accounts::StaticAccounts::named(&[user.as_str()]));
    ctx.rhost = Some("203.0.113.7".into());

    println!(
        "\n2. Log in, choose Duo Push and press Enter; the simulated phone approves after {:.1} s:",
        PHONE_DELAY.as_secs_f32()
    );
    let mut conv = answers(auto);
    let first = rt.block_on(engine.authenticate(&ctx, conv.as_mut()));
    println!("   engine says: {}", describe(&first));

    println!("\n3. Again, but this time the phone says \"deny\":");
    sim.state().push = Answer::Deny;
    let mut conv = answers(auto);
    let second = rt.block_on(engine.authenticate(&ctx, conv.as_mut()));
    println!("   engine says: {}", describe(&second));

    let (seen, rejected) = {
        let st = sim.state();
        (st.requests.len(), st.rejected.len())
    };
    println!("\n   The simulator received {seen} requests and refused {rejected} signatures.");
    Ok(Leg {
        name: "push",
        passed: first.is_allow() && !second.is_allow() && rejected == 0,
        detail: format!(
            "approved: {}; denied: {}",
            describe(&first),
            describe(&second)
        ),
    })
}
