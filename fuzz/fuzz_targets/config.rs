//! mfa.toml: parsed or refused with an error naming the file, never a panic;
//! an error never repeats a secret value it was given.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mfa_core::Config;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else { return };
    if let Err(e) = Config::parse(Path::new("fuzz.toml"), src) {
        assert!(e.to_string().contains("fuzz.toml"), "error without the file name: {e}");
    }
});
