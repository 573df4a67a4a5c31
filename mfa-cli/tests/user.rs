//! `mfa user add|remove|list|show`: the users file edited atomically,
//! malformed numbers and odd names refused with exit 2, --json output.

mod common;
use common::*;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn user(file: &Path, args: &[&str]) -> std::process::Output {
    let mut c = mfa();
    c.arg("--json")
        .arg("user")
        .arg("--users-file")
        .arg(file)
        .args(args);
    run(&mut c)
}

fn last_json(o: &std::process::Output) -> serde_json::Value {
    let out = stdout(o);
    let line = out
        .lines()
        .last()
        .unwrap_or_else(|| panic!("no output; stderr: {}", stderr(o)));
    serde_json::from_str(line).unwrap()
}

#[test]
fn add_show_list_remove_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("users.toml");

    let o = user(&f, &["add", "alice", "--phone", "447700900000"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        last_json(&o)["added"]["phone"],
        "+447700900000",
        "stored in E.164 with '+'"
    );
    let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    let text = std::fs::read_to_string(&f).unwrap();
    assert!(
        text.contains("[users.alice]") && text.contains("phone = \"+447700900000\""),
        "{text}"
    );

    let o = user(
        &f,
        &[
            "add",
            "bob@example.com",
            "--phone",
            "+15551234567",
            "--duo-username",
            "bob.b",
            "--factors",
            "phonecheck,totp",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    let o = user(&f, &["show", "bob@example.com"]);
    assert_eq!(o.status.code(), Some(0));
    let v = last_json(&o);
    assert_eq!(v["duo_username"], "bob.b");
    assert_eq!(v["factors"], serde_json::json!(["phonecheck", "totp"]));

    let o = user(&f, &["list"]);
    let names: Vec<String> = last_json(&o)["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["alice", "bob@example.com"]);

    // Human output too.
    let o = run(mfa()
        .arg("user")
        .arg("--users-file")
        .arg(&f)
        .arg("show")
        .arg("alice"));
    assert!(stdout(&o).contains("+447700900000"), "{}", stdout(&o));

    let o = user(&f, &["remove", "alice"]);
    assert_eq!(o.status.code(), Some(0));
    let o = user(&f, &["show", "alice"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "a missing user is a failed lookup"
    );
    assert!(last_json(&o)["error"]
        .as_str()
        .unwrap()
        .contains("not in the users file"));
    let o = user(&f, &["remove", "alice"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        std::fs::read_to_string(&f)
            .unwrap()
            .contains("bob@example.com"),
        "others kept"
    );
}

#[test]
fn malformed_numbers_are_refused_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("users.toml");
    for bad in [
        "+44 7700 900000",
        "07700900000",
        "+12",
        "phone",
        "+4477009000001234",
        "+44-7700",
    ] {
        let o = user(&f, &["add", "alice", "--phone", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", stdout(&o));
        assert!(
            last_json(&o)["error"].as_str().unwrap().contains("--phone"),
            "{bad}"
        );
    }
    assert!(!f.exists(), "nothing was written");
}

#[test]
fn odd_user_names_are_refused_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("users.toml");
    for bad in [
        "a b",
        "x\ny",
        "../etc",
        "ali*",
        "user=alice:",
        "a\u{1b}[2J",
        ".hidden",
        "",
        "é",
    ] {
        let o = user(&f, &["add", "--phone", "+447700900000", "--", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", stdout(&o));
        assert!(
            last_json(&o)["error"].as_str().unwrap().contains("refused"),
            "{bad:?}"
        );
    }
    let o = user(&f, &["show", "--", "a b"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!f.exists());
}

#[test]
fn existing_users_need_replace_and_empty_adds_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("users.toml");
    assert_eq!(
        user(&f, &["add", "alice", "--phone", "+447700900000"])
            .status
            .code(),
        Some(0)
    );
    let o = user(&f, &["add", "alice", "--phone", "+447700900001"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(last_json(&o)["error"]
        .as_str()
        .unwrap()
        .contains("--replace"));
    let o = user(
        &f,
        &["add", "alice", "--phone", "+447700900001", "--replace"],
    );
    assert_eq!(o.status.code(), Some(0));
    assert!(std::fs::read_to_string(&f)
        .unwrap()
        .contains("+447700900001"));

    assert_eq!(user(&f, &["add", "carol"]).status.code(), Some(2));
    assert_eq!(
        user(&f, &["add", "carol", "--factors", "sms"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        user(&f, &["add", "carol", "--factors", "phonecheck"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn config_names_the_users_file_and_a_broken_file_is_reported_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("u.toml");
    let cfg = dir.path().join("mfa.toml");
    std::fs::write(
        &cfg,
        format!("[general]\nusers_file = \"{}\"\n", users.display()),
    )
    .unwrap();
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).unwrap();
    let o = run(mfa().arg("user").arg("--config").arg(&cfg).args([
        "add",
        "dave",
        "--phone",
        "+447700900000",
    ]));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(std::fs::read_to_string(&users)
        .unwrap()
        .contains("[users.dave]"));

    std::fs::write(
        &users,
        "[users.dave]\nphone = \"+447700900000\"\nbogus = 1\n",
    )
    .unwrap();
    let o = user(&users, &["list"]);
    assert_eq!(o.status.code(), Some(2));
    let e = last_json(&o)["error"].as_str().unwrap().to_owned();
    assert!(e.contains("u.toml:3") && e.contains("bogus"), "{e}");
}
