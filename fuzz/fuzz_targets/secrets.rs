//! Base32 secrets (state files, otpauth URIs): decoded or refused, never a
//! panic; a decoded secret is never empty.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mfa_core::totp::state::decode_secret;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Some(key) = decode_secret(text) {
        assert!(!key.is_empty(), "an empty key must be refused");
    }
});
