//! users.toml: parsed or refused with an error naming the file, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mfa_core::config::UsersDb;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else { return };
    if let Err(e) = UsersDb::parse(Path::new("users.toml"), src) {
        assert!(e.to_string().contains("users.toml"), "error without the file name: {e}");
    }
});
