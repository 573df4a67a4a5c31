//! The body of `pam_sm_authenticate` for both module objects: catch every
//! unwind, read the module arguments, build the [`PamFrontEnd`], run one
//! login on the object's runner, and map the verdict to libpam's number.

use std::ffi::{c_char, c_int, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use mfa_core::pam::authenticate_pam;
use mfa_core::session::{PamVerdict, Runner};

use tracing::Level;

use crate::conv::PamConversation;
use crate::events::collecting;
use crate::ffi;
use crate::frontend::PamFrontEnd;
use crate::handle::Handle;

/// Run an entry point so that no panic crosses into the application: an
/// unwind becomes PAM_SERVICE_ERR (fail closed; sshd's child carries on).
pub fn guarded(entry: impl FnOnce() -> c_int) -> c_int {
    catch_unwind(AssertUnwindSafe(entry)).unwrap_or(ffi::PAM_SERVICE_ERR)
}

/// libpam's number for a verdict. `NeedsNetwork` is the caller's to handle
/// (the lean object hands the call over); anywhere else it fails closed.
pub fn pam_code(v: PamVerdict) -> c_int {
    match v {
        PamVerdict::Success => ffi::PAM_SUCCESS,
        PamVerdict::AuthErr => ffi::PAM_AUTH_ERR,
        PamVerdict::Ignore => ffi::PAM_IGNORE,
        PamVerdict::ServiceErr | PamVerdict::NeedsNetwork => ffi::PAM_SERVICE_ERR,
    }
}

/// The module's argv as strings; a non-UTF-8 argument is reported by its
/// position only.
///
/// # Safety
/// `argv` holds `argc` NUL-terminated strings (libpam's contract).
pub unsafe fn module_args(argc: c_int, argv: *const *const c_char) -> Result<Vec<String>, String> {
    let n = usize::try_from(argc).unwrap_or(0);
    if argv.is_null() {
        return Ok(Vec::new());
    }
    (0..n)
        .map(|i| {
            // SAFETY: within the argv array (caller's contract).
            let p = unsafe { *argv.add(i) };
            if p.is_null() {
                return Err(format!("module argument {i} is missing"));
            }
            // SAFETY: NUL-terminated (caller's contract).
            unsafe { CStr::from_ptr(p) }
                .to_str()
                .map(str::to_owned)
                .map_err(|_| format!("module argument {i} is not valid UTF-8"))
        })
        .collect()
}

/// One authentication on runner `R`, as a verdict.
///
/// # Safety
/// The arguments are those libpam passed to `pam_sm_authenticate`.
pub unsafe fn authenticate<R: Runner>(
    pamh: *mut ffi::PamHandle,
    flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
) -> Result<PamVerdict, c_int> {
    // SAFETY: the handle libpam passed in.
    let handle = unsafe { Handle::new(pamh) }.ok_or(ffi::PAM_SERVICE_ERR)?;
    // SAFETY: libpam's argc/argv.
    let args = match unsafe { module_args(argc, argv) } {
        Ok(a) => a,
        Err(e) => {
            handle.log(ffi::LOG_ERR, &e);
            return Err(ffi::PAM_SERVICE_ERR);
        }
    };
    let Some(conv_ptr) = handle.conv() else {
        handle.log(ffi::LOG_ERR, "the application set no conversation function");
        return Err(ffi::PAM_CONV_ERR);
    };
    let silent = flags & ffi::PAM_SILENT != 0;
    // SAFETY: the handle's PAM_CONV item, used only during this call.
    let conv = unsafe { PamConversation::new(conv_ptr, silent) };
    let mut fe = PamFrontEnd { handle, conv };
    let (verdict, events) = collecting(|| authenticate_pam::<R>(&mut fe, &args));
    fe.conv.flush();
    for (level, line) in events {
        let priority = if level == Level::ERROR {
            ffi::LOG_ERR
        } else {
            ffi::LOG_WARNING
        };
        fe.handle.log(priority, &line);
    }
    Ok(verdict)
}

/// The `pam_sm_setcred` of both objects: sshd calls it after a successful
/// auth stack and fails the login on anything but PAM_SUCCESS; the module
/// has no credentials to set.
pub fn setcred() -> c_int {
    ffi::PAM_SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;
    use mfa_core::session::LocalRunner;

    #[test]
    #[allow(clippy::panic)]
    fn a_panic_becomes_service_err() {
        assert_eq!(guarded(|| panic!("internal error")), ffi::PAM_SERVICE_ERR);
        assert_eq!(guarded(|| ffi::PAM_IGNORE), ffi::PAM_IGNORE);
    }

    #[test]
    fn verdicts_map_to_linux_pam_numbers() {
        assert_eq!(pam_code(PamVerdict::Success), 0);
        assert_eq!(pam_code(PamVerdict::AuthErr), 7);
        assert_eq!(pam_code(PamVerdict::ServiceErr), 3);
        assert_eq!(pam_code(PamVerdict::Ignore), 25);
        assert_eq!(pam_code(PamVerdict::NeedsNetwork), 3, "never a pass");
    }

    #[test]
    fn null_handle_and_bad_argv_fail_closed() {
        // SAFETY: a null handle is rejected before anything is read.
        let rc =
            unsafe { authenticate::<LocalRunner>(std::ptr::null_mut(), 0, 0, std::ptr::null()) };
        assert_eq!(rc, Err(ffi::PAM_SERVICE_ERR));
        let bad = c"\xff\xfe";
        let argv = [bad.as_ptr()];
        // SAFETY: one valid C string.
        let e = unsafe { module_args(1, argv.as_ptr()) }.unwrap_err();
        assert_eq!(e, "module argument 0 is not valid UTF-8");
    }
}
