//! Clock checks: TOTP codes and Duo's signed requests need the right time.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Finding, Setup};

/// Past this, TOTP codes (30 s steps) and Duo requests start failing.
const FAIL_SKEW: u64 = 30;
const WARN_SKEW: u64 = 5;

pub(super) fn check(setup: &Setup<'_>, out: &mut Vec<Finding>) {
    if !setup.opts.root.is_system() {
        return; // another tree's clock is this machine's
    }
    let fix = "enable time synchronisation (systemd-timesyncd, chrony or ntpsec)";
    match output_within(
        Command::new("timedatectl").args(["show", "-p", "NTPSynchronized", "--value"]),
        Duration::from_secs(5),
    ) {
        Some(v) if v.trim() == "yes" => {
            out.push(Finding::ok("clock.sync", "the clock is synchronised"))
        }
        Some(v) if v.trim() == "no" => out.push(Finding::warn(
            "clock.sync",
            "the clock is not synchronised: TOTP codes and Duo requests fail once it drifts",
            fix,
        )),
        _ => out.push(Finding::warn(
            "clock.sync",
            "cannot tell whether the clock is synchronised (timedatectl unavailable)",
            fix,
        )),
    }
}

/// The skew between a provider's time and ours, judged.
pub(super) fn skew(check: &'static str, who: &str, theirs: u64, ours: u64) -> Finding {
    let d = theirs.abs_diff(ours);
    let msg = format!("the clock is {d} s off {who}'s");
    if d > FAIL_SKEW {
        Finding::fail(
            check,
            msg,
            "synchronise the clock: TOTP codes and signed requests fail",
        )
    } else if d > WARN_SKEW {
        Finding::warn(check, msg, "synchronise the clock")
    } else {
        Finding::ok(check, msg)
    }
}

/// A command's stdout, or `None` if it fails or outlives `limit`.
fn output_within(cmd: &mut Command, limit: Duration) -> Option<String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => break,
            Ok(Some(_)) | Err(_) => return None,
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    let mut s = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take()?, &mut s).ok()?;
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::doctor::Level;

    #[test]
    fn skew_levels() {
        assert_eq!(skew("c", "Duo", 100, 100).level, Level::Ok);
        assert_eq!(skew("c", "Duo", 100, 110).level, Level::Warn);
        assert_eq!(skew("c", "Duo", 200, 100).level, Level::Fail);
    }
}
