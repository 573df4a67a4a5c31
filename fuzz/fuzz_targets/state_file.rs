//! google_authenticator state files: anything is parsed or refused, never a
//! panic; a file that parses survives its own serialisation unchanged.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mfa_core::totp::state::TotpState;

fuzz_target!(|data: &[u8]| {
    if let Ok(state) = TotpState::parse(data) {
        let text = state.serialize();
        let again = TotpState::parse(text.as_bytes()).expect("our own output parses");
        assert!(again == state, "round trip changed the state");
    }
});
