//! Test fixture for `tests/unwind.rs`, never installed: a PAM module built
//! by the same build script as `pam_mfa.so` (so with the same statically
//! linked unwinder) and the same entry point, except that its runner panics
//! in the middle of the login. The shipped module has no way to make it
//! panic; this one proves that a panic unwinding through the real glue and
//! session code is still caught and becomes PAM_SERVICE_ERR.

// A fixture whose purpose is to panic.
#![allow(clippy::panic)]

use std::ffi::{c_char, c_int};
use std::future::Future;

use mfa_core::factor::FactorKind;
use mfa_core::policy::{Builder, Timer};
use mfa_core::session::{LocalRunner, Runner, RunnerError};
use mfa_pam_glue::entry::{authenticate, guarded, pam_code};
use mfa_pam_glue::ffi::PamHandle;

/// The local runner, except that running the login panics.
struct PanickingRunner;

impl Runner for PanickingRunner {
    const BUILDER: Builder = <LocalRunner as Runner>::BUILDER;
    const TIMER: &'static dyn Timer = <LocalRunner as Runner>::TIMER;

    fn runs(kind: FactorKind) -> bool {
        <LocalRunner as Runner>::runs(kind)
    }

    fn block_on<F: Future>(f: F) -> Result<F::Output, RunnerError> {
        // Both dropped by the unwinder's landing pads, as a real login's
        // locals would be: the message shows that cleanup ran.
        let _login = f;
        let _cleanup = SaysWhenDropped;
        panic!("fixture: panicking inside the login");
    }
}

struct SaysWhenDropped;

impl Drop for SaysWhenDropped {
    fn drop(&mut self) {
        eprintln!("fixture: cleanup ran while unwinding");
    }
}

/// # Safety
/// Called by libpam with a valid handle and its argc/argv.
#[no_mangle]
pub unsafe extern "C" fn pam_sm_authenticate(
    pamh: *mut PamHandle,
    flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    guarded(|| {
        // SAFETY: forwarded from libpam unchanged.
        match unsafe { authenticate::<PanickingRunner>(pamh, flags, argc, argv) } {
            Ok(verdict) => pam_code(verdict),
            Err(rc) => rc,
        }
    })
}

/// # Safety
/// Called by libpam; touches none of its arguments.
#[no_mangle]
pub unsafe extern "C" fn pam_sm_setcred(
    _pamh: *mut PamHandle,
    _flags: c_int,
    _argc: c_int,
    _argv: *const *const c_char,
) -> c_int {
    0
}
