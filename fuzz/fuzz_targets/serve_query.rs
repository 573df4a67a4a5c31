//! `mfa serve`'s query string: parsed or refused with the fixed failure,
//! never a panic; what it accepts is a plain check id and code.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mfa_core::phonecheck::callback::parse_query;

fuzz_target!(|data: &[u8]| {
    let Ok(q) = std::str::from_utf8(data) else { return };
    let _ = parse_query(Some(q));
});
