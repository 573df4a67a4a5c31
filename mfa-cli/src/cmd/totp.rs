//! `mfa totp enroll` and `mfa totp verify`.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use mfa_core::otp::Algorithm;
use mfa_core::totp::enroll::{new_state, otpauth_uri, EnrollOptions};
use mfa_core::totp::store::{self, StorePolicy};
use mfa_core::totp::verify::{verify, Accepted, VerifyOptions};
use mfa_core::{Clock, OsRandom, SystemClock};
use serde_json::json;

use super::qr_out::{check_target, render, QrFormat};
use super::{CliError, Status};
use crate::output::Output;

#[derive(Debug, Subcommand)]
pub enum TotpCommand {
    /// Create a google_authenticator-format state file and show its QR code.
    Enroll(EnrollArgs),
    /// Check a code against a state file, updating it as a login would.
    Verify(VerifyArgs),
}

/// Where `mfa totp enroll` keeps the new state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Store {
    /// A google_authenticator file (--secret-file).
    File,
    /// The fleet's database, sealed ([state] secrets = "postgres").
    Postgres,
}

#[derive(Debug, Args)]
pub struct EnrollArgs {
    #[arg(long, required_if_eq("store", "file"))]
    secret_file: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "file")]
    store: Store,
    /// With --store postgres: whose state it is (default: you).
    #[arg(long)]
    user: Option<String>,
    /// With --store postgres: the configuration naming the database.
    #[arg(long)]
    config: Option<PathBuf>,
    #[arg(long, default_value = "mfa")]
    issuer: String,
    /// Account label shown by the app (default: user@host).
    #[arg(long)]
    label: Option<String>,
    /// At most N logins every SECS seconds (default 3/30).
    #[arg(long, value_name = "N/SECS", value_parser = parse_rate, conflicts_with = "no_rate_limit")]
    rate_limit: Option<(u32, u64)>,
    /// No RATE_LIMIT line: unlimited guessing, unless something else limits it.
    #[arg(long)]
    no_rate_limit: bool,
    /// Window size in codes (google-authenticator's -w), 1 to 100.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
    window: Option<u32>,
    /// Refuse a time-based code that was already used (the default; kept
    /// so that older scripts still work).
    #[arg(long, conflicts_with = "allow_reuse")]
    disallow_reuse: bool,
    /// No DISALLOW_REUSE line: a code stays valid for its whole window, so
    /// one seen over a shoulder can be used again.
    #[arg(long)]
    allow_reuse: bool,
    /// Emergency scratch codes to create (0 to 10).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u8).range(0..=10))]
    scratch_codes: u8,
    /// Counter-based (HOTP) instead of time-based.
    #[arg(long)]
    hotp: bool,
    #[arg(long, default_value = "utf8", value_parser = str::parse::<QrFormat>)]
    qr: QrFormat,
    /// HMAC algorithm (SHA1, SHA256, SHA512). Only SHA1 with 6 digits is
    /// understood by pam_google_authenticator and most apps.
    #[arg(long, default_value = "SHA1", value_parser = parse_alg)]
    algorithm: Algorithm,
    #[arg(long, default_value_t = 6, value_parser = parse_digits)]
    digits: u32,
    /// File mode: 400 (google-authenticator's default) or 600.
    #[arg(long, default_value = "400", value_parser = clap::builder::PossibleValuesParser::new(["400", "600"]))]
    mode: String,
    /// Replace an existing file.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[arg(long)]
    secret_file: PathBuf,
    code: String,
    /// Permission bits the file may have (octal: 600, 0600 or 0o600).
    #[arg(long, default_value = "600")]
    allowed_perm: String,
    #[arg(long)]
    noskewadj: bool,
    #[arg(long)]
    no_increment_hotp: bool,
}

fn parse_rate(s: &str) -> Result<(u32, u64), String> {
    let (n, secs) = s.split_once('/').ok_or("expected N/SECS, e.g. 3/30")?;
    let n: u32 = n.parse().map_err(|_| "N must be a number")?;
    let secs: u64 = secs.parse().map_err(|_| "SECS must be a number")?;
    if !(1..=100).contains(&n) || !(1..=3600).contains(&secs) {
        return Err("N must be 1..100 and SECS 1..3600".into());
    }
    Ok((n, secs))
}

fn parse_digits(s: &str) -> Result<u32, String> {
    match s {
        "6" => Ok(6),
        "8" => Ok(8),
        _ => Err("digits must be 6 or 8".into()),
    }
}

fn parse_alg(s: &str) -> Result<Algorithm, String> {
    Algorithm::parse(s).ok_or_else(|| "expected SHA1, SHA256 or SHA512".into())
}

pub fn run(cmd: TotpCommand, out: &Output) -> Result<Status, CliError> {
    match cmd {
        TotpCommand::Enroll(a) => enroll(a, out),
        TotpCommand::Verify(a) => verify_cmd(a, out),
    }
}

fn enroll(a: EnrollArgs, out: &Output) -> Result<Status, CliError> {
    check_target(&a.qr)?;
    let defaults = EnrollOptions::default();
    let opts = EnrollOptions {
        hotp: a.hotp,
        window_size: a.window.unwrap_or(3),
        rate_limit: if a.no_rate_limit {
            None
        } else {
            a.rate_limit.or(defaults.rate_limit)
        },
        disallow_reuse: !a.allow_reuse,
        scratch_codes: usize::from(a.scratch_codes),
        algorithm: a.algorithm,
        digits: a.digits,
        ..defaults
    };
    let state = new_state(&opts, &OsRandom).map_err(|e| CliError::Failed(e.to_string()))?;
    let me = || {
        mfa_core::accounts::name_of_uid(mfa_core::accounts::effective_uid())
            .unwrap_or_else(|| "user".into())
    };
    let written = match (a.store, &a.secret_file) {
        (Store::File, Some(path)) => {
            let mode = if a.mode == "600" { 0o600 } else { 0o400 };
            store::create(path, &state, mode, a.force)
                .map_err(|e| CliError::Failed(e.to_string()))?;
            path.display().to_string()
        }
        (Store::File, None) => return Err(CliError::Usage("--secret-file is required".into())),
        (Store::Postgres, _) => {
            let user = a.user.clone().unwrap_or_else(me);
            let text = state.serialize();
            super::state::store_enrolled(a.config.as_deref(), &user, text.as_bytes(), a.force)?;
            format!("the state database (user {user})")
        }
    };
    let label = a
        .label
        .unwrap_or_else(|| format!("{}@{}", me(), mfa_core::context::local_hostname()));
    let uri = otpauth_uri(&state, &a.issuer, &label);
    if let Some(art) = render(&uri, &a.qr)? {
        eprintln!("{art}");
    }
    let scratch: Vec<&str> = state.scratch_codes.iter().map(|c| c.as_str()).collect();
    let human = format!(
        "{}\nWrote {}\nEmergency scratch codes (each works once):\n  {}",
        uri.as_str(),
        written,
        scratch.join("\n  ")
    );
    out.result(
        &json!({
            "secret_file": a.secret_file,
            "store": if a.store == Store::Postgres { "postgres" } else { "file" },
            "uri": uri.as_str(),
            "scratch_codes": scratch,
        }),
        &human,
    );
    Ok(Status::Success)
}

fn verify_cmd(a: VerifyArgs, out: &Output) -> Result<Status, CliError> {
    let allowed_perm = mfa_core::fsutil::parse_mode(&a.allowed_perm)
        .map_err(|e| CliError::Usage(format!("--allowed-perm: {e}")))?;
    let euid = mfa_core::accounts::effective_uid();
    // root may check anyone's file; anyone else only their own.
    let owner = if euid == 0 {
        std::fs::symlink_metadata(&a.secret_file)
            .ok()
            .map(|m| m.uid())
    } else {
        Some(euid)
    };
    let policy = StorePolicy {
        owner,
        allowed_perm,
        allow_readonly: false,
    };
    let opts = VerifyOptions {
        noskewadj: a.noskewadj,
        no_increment_hotp: a.no_increment_hotp,
    };
    let code = zeroize::Zeroizing::new(a.code);
    let result = store::update(&a.secret_file, &policy, |state| {
        // The clock is read under the lock, so no record another process
        // wrote while we waited is dropped as lying in the future.
        let v = verify(state, &code, SystemClock.now_unix(), opts);
        (v.result, v.changed)
    })
    .map_err(|e| CliError::Failed(e.to_string()))?;
    match result {
        Ok(kind) => {
            let kind = match kind {
                Accepted::Code => "code",
                Accepted::ScratchCode => "scratch_code",
            };
            out.result(
                &json!({ "ok": true, "accepted": kind }),
                &format!("OK ({})", kind.replace('_', " ")),
            );
            Ok(Status::Success)
        }
        Err(r) => {
            out.result(
                &json!({ "ok": false, "reason": r.as_str() }),
                &format!("DENIED: {}", r.as_str()),
            );
            Ok(Status::Denied)
        }
    }
}
