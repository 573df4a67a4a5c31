//! `mfa check` on a real pseudo-terminal (python3's `pty`, as the person
//! would use it): a code typed the moment the prompt appears is never
//! echoed, and Ctrl-C at the prompt is a clean denial.
//!
//! The echo check caught rpassword, which writes the prompt and only then
//! turns echo off: typed at once, the code showed on the screen in about
//! one run in three. Several rounds make a regression visible.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

const SECRET: &str = "JBSWY3DPEHPK3PXP";

/// Waits for the prompt, then types at once; prints the exit code and
/// everything the terminal showed.
const DRIVER: &str = r#"
import os, pty, sys, time, select
mfa, cfg, keys = sys.argv[1], sys.argv[2], sys.argv[3].encode().decode("unicode_escape").encode()
pid, fd = pty.fork()
if pid == 0:
    os.execv(mfa, ["mfa", "check", "--user", "root", "--config", cfg])
out = b""
def read_until(done, seconds):
    global out
    end = time.time() + seconds
    while time.time() < end and not done():
        r, _, _ = select.select([fd], [], [], 0.01)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                return
            if not chunk:
                return
            out += chunk
read_until(lambda: b"Verification code: " in out, 10)
os.write(fd, keys)
read_until(lambda: False, 3)
_, status = os.waitpid(pid, 0)
sys.stdout.write("%d\n" % os.waitstatus_to_exitcode(status))
sys.stdout.write(out.decode(errors="replace"))
"#;

fn require_tools() -> bool {
    let ok = ["python3", "oathtool"].iter().all(|t| {
        Command::new(t)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !ok {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "python3 and oathtool are required under CI"
        );
        eprintln!("SKIPPED: needs python3 and oathtool");
    }
    ok
}

fn current_user_is_root() -> bool {
    // `mfa check --user root` reads root's state file path from the config;
    // the file must belong to the user it is for.
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

/// Runs `mfa check` for root on a pty, typing `keys` when the prompt shows.
fn on_terminal(keys: &str) -> (i32, String) {
    let d = tempfile::tempdir().unwrap();
    let ga = d.path().join("ga");
    std::fs::write(&ga, format!("{SECRET}\n\" TOTP_AUTH\n")).unwrap();
    std::fs::set_permissions(&ga, std::fs::Permissions::from_mode(0o600)).unwrap();
    let cfg = d.path().join("mfa.toml");
    std::fs::write(&cfg, format!("[totp]\nsecret = \"{}\"\n", ga.display())).unwrap();
    let out = Command::new("python3")
        .args(["-c", DRIVER, env!("CARGO_BIN_EXE_mfa")])
        .arg(&cfg)
        .arg(keys)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let (code, screen) = text.split_once('\n').unwrap();
    (code.trim().parse().unwrap(), screen.to_owned())
}

fn code_now() -> String {
    let o = Command::new("oathtool")
        .args(["--totp", "-b", SECRET])
        .output()
        .unwrap();
    String::from_utf8(o.stdout).unwrap().trim().to_owned()
}

#[test]
fn a_code_typed_as_the_prompt_appears_is_never_echoed() {
    if !require_tools() || !current_user_is_root() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI runs as root"
        );
        return;
    }
    for round in 0..6 {
        let code = code_now();
        let (exit, screen) = on_terminal(&format!("{code}\\r"));
        assert!(screen.contains("Verification code: "), "{screen:?}");
        assert!(
            !screen.contains(&code),
            "round {round}: the code was echoed: {screen:?}"
        );
        assert_eq!(exit, 0, "{screen:?}");
        assert!(screen.contains("ALLOWED"), "{screen:?}");
    }
}

#[test]
fn ctrl_c_at_the_prompt_denies_cleanly() {
    if !require_tools() || !current_user_is_root() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI runs as root"
        );
        return;
    }
    let (exit, screen) = on_terminal("\\x03");
    assert_eq!(exit, 1, "{screen:?}");
    assert!(screen.contains("DENIED"), "{screen:?}");
    assert!(screen.contains("aborted"), "{screen:?}");
}
