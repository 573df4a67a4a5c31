//! Enrolment at first login (`unenrolled = "enroll"`) under mfa-login as a
//! real ForceCommand: sshd has authenticated the key, mfa-login shows the
//! QR code and the key on the terminal, a wrong code leaves no file, the
//! right one (typed from `oathtool`, as an app would show it) starts the
//! shell and leaves a state file with that key; the next login asks for a
//! code.

mod support;

use std::os::unix::fs::MetadataExt;

use support::*;

fn enrol_fixture() -> Fixture {
    let f = Fixture::with(Options {
        config: "[general]\nunenrolled = \"enroll\"\n".into(),
        ..Options::default()
    });
    // The fixture enrols its user; this one has never enrolled.
    std::fs::remove_file(f.user.home.join(TOTP_FILE)).unwrap();
    f
}

#[test]
fn first_login_enrolment_on_the_terminal() {
    if !prerequisites() {
        return;
    }
    let f = enrol_fixture();
    let state = f.user.home.join(TOTP_FILE);

    // A wrong code each time (the app's clock an hour off): no shell, no file.
    let mut ssh = f.ssh(None);
    ssh.args(["-tt", "echo MA''RK"]);
    let mut steps = vec!["expect", "Scan this QR code"];
    for _ in 0..3 {
        steps.extend([
            "expect",
            "to confirm",
            "sendtotp",
            "secret key: ",
            "now + 1 hour",
        ]);
    }
    let o = on_terminal(&ssh, &steps, 60);
    let screen = String::from_utf8_lossy(&o.stdout);
    assert_ne!(o.status.code(), Some(0), "{}", f.explain(&o));
    assert!(!screen.contains("MARK"), "{screen}");
    assert!(screen.contains("otpauth://totp/"), "{screen}");
    assert!(
        screen.contains('\u{2580}') || screen.contains('\u{2588}'),
        "a QR code: {screen}"
    );
    assert!(!state.exists(), "a wrong code must leave no file");

    // The right code: the shell starts, the file holds the key shown.
    let mut ssh = f.ssh(None);
    ssh.args(["-tt", "echo MA''RK"]);
    let o = on_terminal(
        &ssh,
        &[
            "expect",
            "to confirm",
            "sendtotp",
            "secret key: ",
            "now",
            "expect",
            "MARK",
        ],
        60,
    );
    let screen = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{}", f.explain(&o));
    let key = screen
        .split("secret key: ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap()
        .to_owned();
    let text = std::fs::read_to_string(&state).unwrap();
    assert_eq!(text.lines().next(), Some(key.as_str()), "{text}");
    let meta = std::fs::metadata(&state).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o7777), (f.user.uid, 0o400));

    // The next login asks for a code (one step ahead: the confirming one
    // is spent), and no QR code.
    let next = std::process::Command::new("oathtool")
        .args(["--totp", "-b", "-N", "now + 30 seconds", &key])
        .output()
        .unwrap();
    let next = String::from_utf8(next.stdout).unwrap();
    let mut ssh = f.ssh(None);
    ssh.args(["-tt", "echo MA''RK"]);
    let o = on_terminal(
        &ssh,
        &[
            "expect",
            "Verification code: ",
            "send",
            &format!("{}\r", next.trim()),
            "expect",
            "MARK",
        ],
        60,
    );
    let screen = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{}", f.explain(&o));
    assert!(!screen.contains("QR"), "{screen}");
}
