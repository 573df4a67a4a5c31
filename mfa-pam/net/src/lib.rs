//! `pam_mfa_net.so`: the PAM module with every factor (TOTP, PhoneCheck,
//! webhook, Duo push) on mfa-core's `NetworkRunner`. The lean `pam_mfa.so`
//! loads it only for a login whose plan names a network factor; it also
//! works on its own in a PAM stack.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::ffi::{c_char, c_int};

use mfa_core::session::NetworkRunner;
use mfa_pam_glue::entry::{authenticate, guarded, pam_code, setcred};
use mfa_pam_glue::ffi::PamHandle;

/// The `auth` entry point.
///
/// # Safety
/// Called by libpam (or the lean module) with a valid handle and argc/argv.
#[no_mangle]
pub unsafe extern "C" fn pam_sm_authenticate(
    pamh: *mut PamHandle,
    flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    guarded(|| {
        // SAFETY: forwarded from libpam unchanged.
        match unsafe { authenticate::<NetworkRunner>(pamh, flags, argc, argv) } {
            Ok(verdict) => pam_code(verdict),
            Err(rc) => rc,
        }
    })
}

/// sshd fails the login unless setcred says PAM_SUCCESS.
///
/// # Safety
/// Called by libpam; touches none of its arguments.
#[no_mangle]
pub unsafe extern "C" fn pam_sm_setcred(
    _pamh: *mut PamHandle,
    _flags: c_int,
    _argc: c_int,
    _argv: *const *const c_char,
) -> c_int {
    setcred()
}
