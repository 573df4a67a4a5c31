//! The example configurations shipped in the mfa package
//! (/usr/share/doc/mfa/examples/) are valid.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use mfa_core::config::UsersDb;
use mfa_core::Config;

fn example(name: &str) -> (std::path::PathBuf, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../packaging/examples")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    (path, text)
}

#[test]
fn the_shipped_examples_parse() {
    for name in ["mfa.toml", "push.toml"] {
        let (path, text) = example(name);
        if let Err(e) = Config::parse(&path, &text) {
            panic!("{e}");
        }
    }
    let (path, text) = example("users.toml");
    let db = UsersDb::parse(&path, &text).unwrap();
    assert!(db.get("alice").is_some());
}
