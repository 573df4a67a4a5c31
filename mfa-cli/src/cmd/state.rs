//! `mfa state migrate|import|export|keygen`: the PostgreSQL state backend
//! (docs/fleet.md).

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use mfa_core::accounts::{Accounts, SystemAccounts};
use mfa_core::config::DEFAULT_CONFIG;
use mfa_core::fsutil::{self, CheckPolicy, Owner, ReplaceOptions};
use mfa_core::state::pg::{schema, transfer, PgSettings};
use mfa_core::state::seal::SealKey;
use mfa_core::totp::factor::expand_secret_path;
use mfa_core::totp::state::MAX_FILE_SIZE;
use mfa_core::Config;
use serde_json::json;

use super::{CliError, Status};
use crate::output::Output;

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Apply the schema migrations this mfa knows to the database.
    Migrate(ConfigArg),
    /// Move users' google_authenticator files into the database (sealed).
    Import(ImportArgs),
    /// Write a user's state from the database as a google_authenticator file.
    Export(ExportArgs),
    /// Make a new key file for `[state] key_file` (same file on every host).
    Keygen(KeygenArgs),
}

#[derive(Debug, Args)]
pub struct ConfigArg {
    /// Configuration file (default /etc/mfa/mfa.toml).
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Users to import (their `[totp] secret` file).
    #[arg(long = "user", required = true)]
    users: Vec<String>,
    /// Read this file instead (only with one --user).
    #[arg(long)]
    secret_file: Option<PathBuf>,
    /// Replace a state the database already has.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    config: ConfigArg,
    #[arg(long)]
    user: String,
    /// Where to write (default the user's `[totp] secret` file; `-` for
    /// standard output).
    #[arg(long)]
    secret_file: Option<PathBuf>,
    /// Replace an existing file.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Args)]
pub struct KeygenArgs {
    #[arg(long)]
    key_file: PathBuf,
    /// Group that may read it (mode 0640), e.g. mfa for mfa-login;
    /// otherwise root only (0600).
    #[arg(long)]
    group: Option<String>,
}

pub fn run(cmd: StateCommand, out: &Output) -> Result<Status, CliError> {
    match cmd {
        StateCommand::Migrate(a) => migrate(a, out),
        StateCommand::Import(a) => import(a, out),
        StateCommand::Export(a) => export(a, out),
        StateCommand::Keygen(a) => keygen(a, out),
    }
}

fn load(arg: &ConfigArg) -> Result<(Config, PgSettings), CliError> {
    let path = arg.config.as_deref().unwrap_or(Path::new(DEFAULT_CONFIG));
    let config = Config::load(path)?;
    let settings = PgSettings::from_config(&config)?;
    Ok((config, settings))
}

fn failed(e: impl std::fmt::Display) -> CliError {
    CliError::Failed(e.to_string())
}

/// A refused overwrite (the file exists and was not to be replaced) says
/// what to do about it; any other error is passed on whole.
fn exists_or_failed(e: fsutil::FsError, path: &Path, advice: &str) -> CliError {
    match e {
        fsutil::FsError::Io { ref source, .. }
            if source.kind() == std::io::ErrorKind::AlreadyExists =>
        {
            CliError::Failed(format!("{}: exists ({advice})", path.display()))
        }
        e => failed(e),
    }
}

fn migrate(a: ConfigArg, out: &Output) -> Result<Status, CliError> {
    let (_, settings) = load(&a)?;
    let rt = super::runtime()?;
    let (before, applied) = rt.block_on(async {
        let mut client = settings.connect().await.map_err(failed)?;
        let before = schema::current(&client, settings.timeout)
            .await
            .map_err(failed)?;
        let applied = schema::migrate(&mut client).await.map_err(failed)?;
        Ok::<_, CliError>((before, applied))
    })?;
    let now = applied.last().map_or(before, |m| m.0);
    let names: Vec<String> = applied.iter().map(|(v, n)| format!("{v:04} {n}")).collect();
    let human = if applied.is_empty() {
        format!("schema at version {now}: nothing to apply")
    } else {
        format!("applied {}; schema at version {now}", names.join(", "))
    };
    out.result(
        &json!({ "from": before, "to": now, "applied": names }),
        &human,
    );
    Ok(Status::Success)
}

/// A user's account, or a usage error. The name must be the account
/// database's own spelling (state is stored under it); a database that
/// cannot answer is a failure, not "no such user".
fn account(name: &str) -> Result<mfa_core::Account, CliError> {
    match SystemAccounts.lookup(name) {
        Ok(Some(a)) if a.name == name => Ok(a),
        Ok(Some(a)) => Err(CliError::Usage(format!(
            "user '{name}' is spelled '{}' in the account database",
            a.name
        ))),
        Ok(None) => Err(CliError::Usage(format!("no such user '{name}'"))),
        Err(e) => Err(CliError::Failed(e.to_string())),
    }
}

/// The file's bytes as written (the database keeps them whole), after the
/// checks a login makes: regular file, no symlink, the user's, mode.
fn read_state_file(
    path: &Path,
    owner: Option<u32>,
    allowed: u32,
) -> Result<zeroize::Zeroizing<Vec<u8>>, CliError> {
    let policy = CheckPolicy {
        owner: owner.map_or(Owner::Any, Owner::Uid),
        allowed_mode: allowed,
        max_size: MAX_FILE_SIZE as u64,
        follow_symlinks: false,
    };
    let (mut file, _) = fsutil::open_checked(path, &policy).map_err(failed)?;
    fsutil::read_limited(&mut file, path, MAX_FILE_SIZE as u64).map_err(failed)
}

fn import(a: ImportArgs, out: &Output) -> Result<Status, CliError> {
    if a.secret_file.is_some() && a.users.len() != 1 {
        return Err(CliError::Usage(
            "--secret-file goes with exactly one --user".into(),
        ));
    }
    let (config, settings) = load(&a.config)?;
    let mut files = Vec::new();
    for user in &a.users {
        let acct = account(user)?;
        let (path, owner) = match &a.secret_file {
            Some(p) => (p.clone(), None),
            None => {
                let owner = (!config.totp.no_strict_owner).then_some(acct.uid);
                (expand_secret_path(&config.totp.secret, &acct), owner)
            }
        };
        let bytes = read_state_file(&path, owner, config.totp.allowed_perm)?;
        files.push((user.clone(), path, bytes));
    }
    let rt = super::runtime()?;
    let done = rt.block_on(async {
        let client = settings.connect().await.map_err(failed)?;
        let mut done = Vec::new();
        for (user, path, bytes) in &files {
            transfer::import(&client, &settings, user, bytes, a.force)
                .await
                .map_err(|e| CliError::Failed(format!("{user}: {e}")))?;
            done.push(json!({ "user": user, "from": path }));
        }
        Ok::<_, CliError>(done)
    })?;
    out.result(
        &json!({ "imported": done }),
        &format!("imported {} user(s) into the database", done.len()),
    );
    Ok(Status::Success)
}

fn export(a: ExportArgs, out: &Output) -> Result<Status, CliError> {
    let (config, settings) = load(&a.config)?;
    let rt = super::runtime()?;
    let text = rt.block_on(async {
        let client = settings.connect().await.map_err(failed)?;
        transfer::export(&client, &settings, &a.user)
            .await
            .map_err(failed)
    })?;
    if a.secret_file.as_deref() == Some(Path::new("-")) {
        use std::io::Write;
        std::io::stdout().write_all(&text).map_err(failed)?;
        return Ok(Status::Success);
    }
    let acct = account(&a.user)?;
    let path = a
        .secret_file
        .clone()
        .unwrap_or_else(|| expand_secret_path(&config.totp.secret, &acct));
    let owner = (mfa_core::accounts::effective_uid() == 0).then_some((acct.uid, acct.gid));
    let opts = ReplaceOptions {
        mode: 0o600,
        owner,
        clobber: a.force,
        sync_dir: true,
    };
    fsutil::replace(&path, &text, &opts)
        .map_err(|e| exists_or_failed(e, &path, "use --force to replace it"))?;
    out.result(
        &json!({ "user": a.user, "secret_file": path }),
        &format!("wrote {}", path.display()),
    );
    Ok(Status::Success)
}

fn keygen(a: KeygenArgs, out: &Output) -> Result<Status, CliError> {
    let (_, text) = SealKey::generate().map_err(failed)?;
    let (mode, owner) = match &a.group {
        Some(g) => {
            let gid = nix::unistd::Group::from_name(g)
                .map_err(failed)?
                .ok_or_else(|| CliError::Usage(format!("no such group '{g}'")))?
                .gid
                .as_raw();
            (0o640, Some((0, gid)))
        }
        None => (0o600, None),
    };
    let opts = ReplaceOptions {
        mode,
        owner,
        clobber: false,
        sync_dir: true,
    };
    fsutil::replace(&a.key_file, text.as_bytes(), &opts).map_err(|e| {
        exists_or_failed(
            e,
            &a.key_file,
            "a new key would make every sealed secret unreadable",
        )
    })?;
    out.result(
        &json!({ "key_file": a.key_file, "mode": format!("{mode:04o}") }),
        &format!(
            "wrote {} ({mode:04o}); copy it to every host and keep a copy offline",
            a.key_file.display()
        ),
    );
    Ok(Status::Success)
}

/// `mfa totp enroll --store postgres`: a new state goes straight into the
/// database, sealed, instead of a file.
pub fn store_enrolled(
    config: Option<&Path>,
    user: &str,
    text: &[u8],
    replace: bool,
) -> Result<(), CliError> {
    let (config, settings) = load(&ConfigArg {
        config: config.map(Path::to_owned),
    })?;
    if !config.state.secrets_in_db() {
        return Err(CliError::Usage(
            "--store postgres needs [state] secrets = \"postgres\" (and key_file)".into(),
        ));
    }
    let rt = super::runtime()?;
    rt.block_on(async {
        let client = settings.connect().await.map_err(failed)?;
        transfer::import(&client, &settings, user, text, replace)
            .await
            .map_err(failed)
    })
}
