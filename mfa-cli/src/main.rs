//! `mfa`: the scriptable command. Each subcommand lives in `cmd/`; this file
//! only parses arguments and maps results to exit codes
//! (0 success, 1 denied or failed check, 2 usage or configuration error).

mod cmd;
mod output;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "mfa",
    version,
    about = "Second-factor authentication for OpenSSH servers"
)]
struct Cli {
    /// Print results as JSON.
    #[arg(long, global = true)]
    json: bool,
    /// Log debug information to stderr.
    #[arg(long, global = true)]
    debug: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Enrol and verify TOTP/HOTP secrets (google_authenticator files).
    #[command(subcommand)]
    Totp(cmd::totp::TotpCommand),
    /// Run the real engine for a user, talking on this terminal.
    Check(cmd::check::CheckArgs),
    /// Walk through every factor against the built-in simulators.
    Demo(cmd::demo::DemoArgs),
    /// Provider simulators (tru.ID, Duo, webhook sink) on loopback.
    #[command(subcommand)]
    Mock(cmd::mock::MockCommand),
    /// Manage the users file (phone numbers, Duo user names, factors).
    User(cmd::user::UserArgs),
    /// Serve the PhoneCheck redirect endpoint (GET /complete-check).
    Serve(cmd::serve::ServeArgs),
    /// The fleet's PostgreSQL state: migrate, import, export, keygen.
    #[command(subcommand)]
    State(cmd::state::StateCommand),
    /// Put the second factor in front of sshd (PAM or ForceCommand), safely.
    #[command(subcommand)]
    Install(cmd::install::InstallCommand),
    /// Undo `mfa install`: restore the files from its backup, byte for byte.
    Uninstall(cmd::install::UninstallArgs),
    /// Find a broken or unsafe setup before you log out.
    Doctor(cmd::doctor::DoctorArgs),
    /// Man pages and shell completions (used when packaging).
    #[command(subcommand, hide = true)]
    Generate(cmd::generate::GenerateCommand),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    // The callback server logs every request (info); other commands only
    // warnings unless --debug.
    if !cli.debug && matches!(cli.command, Command::Serve(_)) {
        output::init_logging_filter("info");
    } else {
        output::init_logging(cli.debug);
    }
    let out = output::Output::new(cli.json);
    let result = match cli.command {
        Command::Totp(c) => cmd::totp::run(c, &out),
        Command::Check(a) => cmd::check::run(a, &out),
        Command::Demo(a) => cmd::demo::run(a, &out),
        Command::Mock(c) => cmd::mock::run(c, &out),
        Command::User(a) => cmd::user::run(a, &out),
        Command::Serve(a) => cmd::serve::run(a, &out),
        Command::State(c) => cmd::state::run(c, &out),
        Command::Install(c) => cmd::install::run(c, &out),
        Command::Uninstall(a) => cmd::install::uninstall(a, &out),
        Command::Doctor(a) => cmd::doctor::run(a, &out),
        Command::Generate(c) => cmd::generate::run(c, Cli::command()),
    };
    match result {
        Ok(cmd::Status::Success) => ExitCode::SUCCESS,
        Ok(cmd::Status::Denied) => ExitCode::from(1),
        Err(e) => {
            out.error(&e);
            ExitCode::from(e.exit_code())
        }
    }
}
