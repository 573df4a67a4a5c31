//! Hidden `mfa generate man|completions DIR`: man pages and shell
//! completions from the clap definitions, run by scripts/package.

use std::path::{Path, PathBuf};

use clap::{Command, Subcommand};
use clap_complete::Shell;

use super::{CliError, Status};

#[derive(Debug, Subcommand)]
pub enum GenerateCommand {
    /// mfa(1) and mfa-SUBCOMMAND(1) pages into DIR.
    Man { dir: PathBuf },
    /// bash, zsh and fish completions into DIR (mfa.bash, _mfa, mfa.fish).
    Completions { dir: PathBuf },
}

fn failed(path: &Path, e: std::io::Error) -> CliError {
    CliError::Failed(format!("{}: {e}", path.display()))
}

pub fn run(c: GenerateCommand, cmd: Command) -> Result<Status, CliError> {
    match c {
        GenerateCommand::Man { dir } => {
            std::fs::create_dir_all(&dir).map_err(|e| failed(&dir, e))?;
            let mut cmd = cmd;
            cmd.build();
            man_pages(&cmd, "mfa", &dir)?;
        }
        GenerateCommand::Completions { dir } => {
            std::fs::create_dir_all(&dir).map_err(|e| failed(&dir, e))?;
            for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
                let mut cmd = cmd.clone();
                clap_complete::generate_to(shell, &mut cmd, "mfa", &dir)
                    .map_err(|e| failed(&dir, e))?;
            }
        }
    }
    Ok(Status::Success)
}

/// One page for `cmd` named `name`, then one per visible subcommand
/// (`mfa-totp-enroll`, as git names its pages).
fn man_pages(cmd: &Command, name: &str, dir: &Path) -> Result<(), CliError> {
    let page = cmd
        .clone()
        .name(name.to_owned())
        .display_name(name.to_owned());
    let mut buf = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut buf)
        .map_err(|e| failed(dir, e))?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, buf).map_err(|e| failed(&path, e))?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        if sub.get_name() == "help" {
            continue;
        }
        man_pages(sub, &format!("{name}-{}", sub.get_name()), dir)?;
    }
    Ok(())
}
