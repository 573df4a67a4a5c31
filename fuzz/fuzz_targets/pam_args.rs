//! PAM module arguments (NUL-separated in the input): understood or refused,
//! never a panic, and an unknown argument never passes silently.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mfa_core::pam::PamArgs;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let args: Vec<&str> = text.split('\0').collect();
    let _ = PamArgs::parse(&args);
});
