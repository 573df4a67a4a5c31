//! tru.ID PhoneCheck answers as the client reads them: the documented JSON
//! about the asked check, or unavailable; never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mfa_core::phonecheck::truid::types::parse_state;

fuzz_target!(|data: &[u8]| {
    let _ = parse_state("c69bc0e6a42911eabb370242ac130002", data);
});
