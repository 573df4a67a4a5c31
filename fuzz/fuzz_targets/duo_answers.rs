//! Duo Auth API answers as the client reads them (status + raw body through
//! the envelope, then each answer shape): parsed or refused as a service
//! failure, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use mfa_core::push::duo::error::interpret;
use mfa_core::push::duo::{AuthStatus, Preauth};

fuzz_target!(|data: &[u8]| {
    for status in [200, 400, 401, 403, 404, 500, 503] {
        if let Ok(v) = interpret(status, data) {
            let _ = serde_json::from_value::<Preauth>(v.clone());
            let _ = serde_json::from_value::<AuthStatus>(v);
        }
    }
});
