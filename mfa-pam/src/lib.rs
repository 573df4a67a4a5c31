//! `pam_mfa.so`: the lean PAM module.
//!
//! sshd loads the module into a fresh process for every connection, so
//! whatever it links is paid on every login. This object carries the glue,
//! the config, the policy and TOTP, and nothing of the network factors (no
//! async runtime, HTTP client or TLS): it runs a login on mfa-core's
//! `LocalRunner`, and when a user's plan names a network factor it hands
//! the call, unchanged and before asking anything, to `pam_mfa_net.so`
//! beside it ([`network`]). See `docs/pam.md` and `docs/architecture.md`.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod network;

use std::ffi::{c_char, c_int};

use mfa_core::session::{LocalRunner, PamVerdict};
use mfa_pam_glue::entry::{authenticate, guarded, pam_code, setcred};
use mfa_pam_glue::ffi::PamHandle;

/// The `auth` entry point.
///
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
        match unsafe { authenticate::<LocalRunner>(pamh, flags, argc, argv) } {
            // SAFETY: the same arguments, forwarded to the network object.
            Ok(PamVerdict::NeedsNetwork) => unsafe {
                network::authenticate(pamh, flags, argc, argv)
            },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setcred_succeeds() {
        // SAFETY: the entry point touches none of its arguments.
        let rc = unsafe { pam_sm_setcred(std::ptr::null_mut(), 0, 0, std::ptr::null()) };
        assert_eq!(rc, 0);
    }

    #[test]
    fn a_null_handle_fails_closed() {
        // SAFETY: a null handle is rejected before anything is read.
        let rc = unsafe { pam_sm_authenticate(std::ptr::null_mut(), 0, 0, std::ptr::null()) };
        assert_eq!(rc, 3, "PAM_SERVICE_ERR");
    }
}
