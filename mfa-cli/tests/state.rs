//! `mfa state` against a real PostgreSQL: keygen, migrate, import of a
//! user's google_authenticator file, export back byte for byte, enroll
//! straight into the database.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use mfa_testkit::postgres::{self, Options, Postgres, MFA_PASSWORD};
use mfa_testkit::sshd::TestUser;

fn json(o: &std::process::Output) -> serde_json::Value {
    serde_json::from_str(&stdout(o)).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

#[test]
fn keygen_migrate_import_export_and_enroll() {
    if !postgres::available() {
        return;
    }
    let pg = Postgres::start(Options::default()).unwrap();
    let d = tempfile::tempdir().unwrap();
    let key = d.path().join("state.key");
    let o = run(mfa().args(["state", "keygen", "--key-file"]).arg(&key));
    assert!(o.status.success(), "{}{}", stderr(&o), stdout(&o));
    let meta = std::fs::metadata(&key).unwrap();
    assert_eq!((meta.mode() & 0o777, meta.uid()), (0o600, 0));
    assert_eq!(std::fs::read_to_string(&key).unwrap().trim().len(), 64);
    // Never over an existing key: that would lose every sealed secret.
    let before = std::fs::read(&key).unwrap();
    let o = run(mfa().args(["state", "keygen", "--key-file"]).arg(&key));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        (stderr(&o) + &stdout(&o)).contains("exists (a new key would make every sealed secret"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(&key).unwrap(), before);

    let pass = d.path().join("pg.pass");
    std::fs::write(&pass, format!("{MFA_PASSWORD}\n")).unwrap();
    std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o640)).unwrap();
    let cfg = d.path().join("mfa.toml");
    std::fs::write(
        &cfg,
        format!(
            "[state]\nbackend = \"postgres\"\nurl = \"{}\"\ncredentials_file = \"{}\"\n\
             secrets = \"postgres\"\nkey_file = \"{}\"\n",
            pg.socket_url(),
            pass.display(),
            key.display()
        ),
    )
    .unwrap();
    let with_cfg = |args: &[&str]| {
        let mut c = mfa();
        c.arg("--json").args(args).arg("--config").arg(&cfg);
        run(&mut c)
    };
    let export = |user: &str, file: &str| {
        with_cfg(&["state", "export", "--user", user, "--secret-file", file])
    };
    let o = with_cfg(&["state", "migrate"]);
    assert!(o.status.success(), "{}{}", stderr(&o), stdout(&o));
    assert_eq!(
        (json(&o)["from"].clone(), json(&o)["to"].clone()),
        (0.into(), 1.into())
    );
    let o = with_cfg(&["state", "migrate"]);
    assert_eq!(json(&o)["applied"], serde_json::json!([]));

    let user = TestUser::create("mfaimp").unwrap();
    let original = "JBSWY3DPEHPK3PXP\n\" RATE_LIMIT 3 30 1699999990\n\" WINDOW_SIZE 17\n\
                    \" DISALLOW_REUSE\n\" TOTP_AUTH\n\" LAST0 198.51.100.7 1699990000\n\
                    \" UNKNOWN_OPTION kept\n12345678\n";
    user.write_file(".google_authenticator", original.as_bytes(), 0o400)
        .unwrap();
    let o = with_cfg(&["state", "import", "--user", &user.name]);
    assert!(o.status.success(), "{}{}", stderr(&o), stdout(&o));
    // Twice is refused unless --force.
    let o = with_cfg(&["state", "import", "--user", &user.name]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let said = stdout(&o) + &stderr(&o);
    assert!(said.contains("--force"), "{said}");
    let dump = pg
        .sql("mfa", "SELECT encode(sealed, 'hex') FROM mfa_secret")
        .unwrap();
    assert!(
        !dump.contains(&data_hex("JBSWY3DP")),
        "the secret is sealed"
    );

    let out = d.path().join("exported");
    let o = export(&user.name, out.to_str().unwrap());
    assert!(o.status.success(), "{}{}", stderr(&o), stdout(&o));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), original);
    let meta = std::fs::metadata(&out).unwrap();
    assert_eq!((meta.mode() & 0o777, meta.uid()), (0o600, user.uid));
    let o = export(&user.name, out.to_str().unwrap());
    assert_eq!(
        o.status.code(),
        Some(1),
        "an existing file is kept: {}",
        stderr(&o)
    );
    assert!(
        (stderr(&o) + &stdout(&o)).contains("exists (use --force to replace it)"),
        "{}",
        stderr(&o)
    );

    // A database the schema would never allow (a hand-changed table, a
    // bad restore) is refused, not exported with the file's own counter.
    let hotp = TestUser::create("mfahotp").unwrap();
    hotp.write_file(
        ".google_authenticator",
        b"JBSWY3DPEHPK3PXP\n\" HOTP_COUNTER 7\n",
        0o400,
    )
    .unwrap();
    let o = with_cfg(&["state", "import", "--user", &hotp.name]);
    assert!(o.status.success(), "{}{}", stderr(&o), stdout(&o));
    pg.sql(
        "mfa",
        &format!(
            "ALTER TABLE mfa_hotp DROP CONSTRAINT mfa_hotp_counter_check; \
             UPDATE mfa_hotp SET counter = -1 WHERE username = '{}'",
            hotp.name
        ),
    )
    .unwrap();
    let bad = d.path().join("negative");
    let o = export(&hotp.name, bad.to_str().unwrap());
    assert_eq!(o.status.code(), Some(1), "{}{}", stderr(&o), stdout(&o));
    let said = stderr(&o) + &stdout(&o);
    assert!(
        said.contains(&format!(
            "the database's state for {} is not valid: HOTP counter -1",
            hotp.name
        )),
        "{said}"
    );
    assert!(!bad.exists(), "nothing written");

    // Enrolled straight into the database, then readable back.
    let o = with_cfg(&[
        "totp",
        "enroll",
        "--store",
        "postgres",
        "--user",
        "newcomer",
        "--qr",
        "none",
        "--disallow-reuse",
    ]);
    assert!(o.status.success(), "{}{}", stderr(&o), stdout(&o));
    assert_eq!(json(&o)["store"], "postgres");
    let o = export("newcomer", "-");
    let text = stdout(&o);
    assert!(
        text.contains("\" DISALLOW_REUSE\n") && text.contains("\" TOTP_AUTH\n"),
        "{text}"
    );

    // A config without sealed secrets refuses --store postgres.
    let plain = d.path().join("plain.toml");
    std::fs::write(&plain, format!("[state]\nurl = \"{}\"\n", pg.socket_url())).unwrap();
    let o = run(mfa()
        .args([
            "totp", "enroll", "--store", "postgres", "--user", "x", "--qr", "none", "--config",
        ])
        .arg(&plain));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

fn data_hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}
