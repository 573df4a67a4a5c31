//! Answering ssh's prompts (keyboard-interactive, password) without a
//! terminal, through an `SSH_ASKPASS` program.

use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Writes `dir/askpass`, a script that answers a prompt containing one of
/// the substrings with its answer (first match wins) and fails on any other
/// prompt (so ssh gives up instead of waiting). Every prompt it is asked is
/// appended to `dir/askpass.log`, for assertions on the exact prompts.
///
/// Use it on a client command with:
/// `.env("SSH_ASKPASS", path).env("SSH_ASKPASS_REQUIRE", "force").env("DISPLAY", ":0")`.
/// A second call with the same `dir` replaces the script.
pub fn askpass(dir: &Path, answers: &[(&str, &str)]) -> io::Result<PathBuf> {
    let path = dir.join("askpass");
    let log = dir.join("askpass.log");
    let mut script = format!(
        "#!/bin/sh\n[ \"$1\" = {PROBE} ] && exit 0\nprintf '%s\\n' \"$1\" >> {}\ncase \"$1\" in\n",
        quote(&log.display().to_string())
    );
    for (prompt, answer) in answers {
        script.push_str(&format!(
            "  *{}*) printf '%s\\n' {} ;;\n",
            quote(prompt),
            quote(answer)
        ));
    }
    script.push_str("  *) exit 1 ;;\nesac\n");
    let _ = std::fs::remove_file(&path);
    // Written then closed before anyone runs it; 0700: it holds answers.
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o700)
        .open(&path)
        .and_then(|mut f| io::Write::write_all(&mut f, script.as_bytes()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))?;
    wait_until_executable(&path)?;
    Ok(path)
}

/// The argument the script answers with nothing, unlogged.
const PROBE: &str = "--mfa-askpass-probe";

/// Tests run in parallel threads, and a thread that forks while our write
/// descriptor is open gives its child a copy until that child execs. While
/// any such copy lives, exec of the script fails with ETXTBSY ("Text file
/// busy"), and so would ssh's. Children forked after we closed it have no
/// copy, so once one exec succeeds every later one will.
fn wait_until_executable(path: &Path) -> io::Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match std::process::Command::new(path).arg(PROBE).status() {
            Ok(status) if status.success() => return Ok(()),
            Ok(status) => return Err(io::Error::other(format!("askpass probe: {status}"))),
            Err(e)
                if e.raw_os_error() == Some(nix::libc::ETXTBSY)
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) => return Err(e),
        }
    }
}

/// `s` as one single-quoted shell word: literal, even in a `case` pattern.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn ask(script: &Path, prompt: &str) -> (Option<i32>, String) {
        let o = Command::new(script).arg(prompt).output().unwrap();
        (o.status.code(), String::from_utf8(o.stdout).unwrap())
    }

    #[test]
    fn answers_by_substring_and_refuses_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let p = askpass(
            dir.path(),
            &[("Verification code", "123456"), ("it's *", "a'b $x")],
        )
        .unwrap();
        assert_eq!(ask(&p, "Verification code: "), (Some(0), "123456\n".into()));
        // Quotes and glob characters in prompts and answers are literal.
        assert_eq!(ask(&p, "so it's * here"), (Some(0), "a'b $x\n".into()));
        assert_eq!(ask(&p, "it's x"), (Some(1), String::new()));
        assert_eq!(ask(&p, "Password: "), (Some(1), String::new()));
        let log = std::fs::read_to_string(dir.path().join("askpass.log")).unwrap();
        assert_eq!(
            log,
            "Verification code: \nso it's * here\nit's x\nPassword: \n"
        );
    }
}
