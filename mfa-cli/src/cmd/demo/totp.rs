//! The TOTP leg: enrol, show the QR code, log in, and watch a replay fail.

use std::path::Path;
use std::sync::Arc;

use mfa_core::accounts::{effective_uid, name_of_uid, Account, StaticAccounts};
use mfa_core::config::UsersDb;
use mfa_core::otp::{format_code, hotp, time_step};
use mfa_core::totp::enroll::{new_state, otpauth_uri, EnrollOptions};
use mfa_core::totp::store;
use mfa_core::{AuthContext, Clock, Config, Decision, Engine, OsRandom};

use super::{conversation, describe, Leg};
use crate::cmd::qr_out::{render, QrFormat};
use crate::cmd::{runtime, CliError};

/// A demo account whose home is inside the throw-away directory.
pub fn demo_account(home: &Path) -> Account {
    let uid = effective_uid();
    Account {
        name: name_of_uid(uid).unwrap_or_else(|| "demo".into()),
        uid,
        gid: uid,
        home: home.to_owned(),
        shell: "/bin/sh".into(),
        groups: vec![],
    }
}

pub fn leg(dir: &Path, auto: bool, qr: &QrFormat) -> Result<Leg, CliError> {
    println!("\n== TOTP (google_authenticator file) ==");
    let home = dir.join("home");
    std::fs::create_dir(&home).map_err(|e| CliError::Failed(e.to_string()))?;
    let account = demo_account(&home);
    let opts = EnrollOptions {
        disallow_reuse: true,
        rate_limit: Some((3, 30)),
        ..EnrollOptions::default()
    };
    let state = new_state(&opts, &OsRandom).map_err(|e| CliError::Failed(e.to_string()))?;
    let file = home.join(".google_authenticator");
    store::create(&file, &state, 0o400, false).map_err(|e| CliError::Failed(e.to_string()))?;
    let uri = otpauth_uri(&state, "mfa-demo", &account.name);
    println!(
        "1. Enrolled {} (mode 0400). Scan with an authenticator app:",
        file.display()
    );
    if let Some(art) = render(&uri, qr)? {
        println!("{art}");
    }
    println!("{}", uri.as_str());
    let secret = state.secret().to_vec();
    let current_code = move || {
        let now = mfa_core::SystemClock.now_unix();
        format_code(hotp(opts.algorithm, &secret, time_step(now, 30), 6), 6)
    };
    println!("   The simulated phone shows: {}", current_code());

    let engine = Engine::with_users(Config::default(), UsersDb::default())?;
    let mut ctx = AuthContext::new(account.name.clone(), "mfa-demo");
    ctx.rhost = Some("203.0.113.7".into());
    ctx.accounts = Arc::new(StaticAccounts(vec![account]));
    let rt = runtime()?;

    println!("\n2. Log in with the code:");
    let code_for_replay = current_code();
    let replay = code_for_replay.clone();
    let mut conv = conversation(auto, move || code_for_replay);
    let first = rt.block_on(engine.authenticate(&ctx, conv.as_mut()));
    println!("   engine says: {}", describe(&first));

    println!("\n3. Replay the same code (DISALLOW_REUSE must refuse it):");
    if !auto {
        println!("   Type the code you just used again.");
    }
    let mut conv = conversation(auto, move || replay);
    let second = rt.block_on(engine.authenticate(&ctx, conv.as_mut()));
    println!("   engine says: {}", describe(&second));

    let passed = first.is_allow()
        && matches!(&second, Decision::Deny { reason } if reason.contains("reused"));
    Ok(Leg {
        name: "totp",
        passed,
        detail: format!("login: {}; replay: {}", describe(&first), describe(&second)),
    })
}
