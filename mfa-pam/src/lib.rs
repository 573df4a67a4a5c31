//! `pam_mfa.so`: PAM glue around mfa-core.
//!
//! The module turns the PAM handle into an [`AuthContext`], a
//! [`conv::PamConversation`] and `PAM_AUTHTOK` access, runs
//! [`mfa_core::pam::authenticate`] once on a current-thread runtime that is
//! dropped before returning, and maps the decision to a PAM code. Every
//! decision is made in mfa-core; see `docs/pam.md`.

// Design rule 4, also set in Cargo.toml [lints]: nothing in the trusted
// crates may unwrap, expect or panic outside tests (clippy.toml allows
// them in tests).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod conv;
mod ffi;
mod handle;

use std::ffi::{c_char, c_int, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use mfa_core::audit::SyslogAudit;
use mfa_core::pam::{verdict_for, PamArgs, PamVerdict};
use mfa_core::sanitize::for_log;
use mfa_core::{AuthContext, Engine};

use conv::PamConversation;
use handle::Handle;

/// How long dropping the runtime may wait for leftover blocking work
/// (a DNS lookup in flight) before the module returns anyway.
const RUNTIME_SHUTDOWN: Duration = Duration::from_secs(1);

/// Run an entry point so that no panic crosses into the application: an
/// unwind becomes PAM_SERVICE_ERR (fail closed; sshd's child carries on).
fn guarded(entry: impl FnOnce() -> c_int) -> c_int {
    catch_unwind(AssertUnwindSafe(entry)).unwrap_or(ffi::PAM_SERVICE_ERR)
}

fn pam_code(v: PamVerdict) -> c_int {
    match v {
        PamVerdict::Success => ffi::PAM_SUCCESS,
        PamVerdict::AuthErr => ffi::PAM_AUTH_ERR,
        PamVerdict::Ignore => ffi::PAM_IGNORE,
        PamVerdict::ServiceErr => ffi::PAM_SERVICE_ERR,
    }
}

/// The module's argv as strings; a non-UTF-8 argument is reported by its
/// position only.
///
/// # Safety
/// `argv` holds `argc` NUL-terminated strings (libpam's contract).
unsafe fn module_args(argc: c_int, argv: *const *const c_char) -> Result<Vec<String>, String> {
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

/// # Safety
/// The arguments are those libpam passed to `pam_sm_authenticate`.
unsafe fn authenticate(
    pamh: *mut ffi::PamHandle,
    flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    // SAFETY: the handle libpam passed in.
    let Some(mut handle) = (unsafe { Handle::new(pamh) }) else {
        return ffi::PAM_SERVICE_ERR;
    };
    // SAFETY: libpam's argc/argv.
    let args = match unsafe { module_args(argc, argv) }
        .and_then(|a| PamArgs::parse(&a).map_err(|e| e.to_string()))
    {
        Ok(a) => a,
        Err(e) => {
            handle.log(ffi::LOG_ERR, &e);
            return ffi::PAM_SERVICE_ERR;
        }
    };
    let config = match args.load_config() {
        Ok(c) => c,
        Err(e) => {
            handle.log(ffi::LOG_ERR, &e.to_string());
            return ffi::PAM_SERVICE_ERR;
        }
    };
    let engine = Engine::new(config).and_then(|e| match args.factors.clone() {
        Some(kinds) => e.override_factors(kinds),
        None => Ok(e),
    });
    let mut engine = match engine {
        Ok(e) => e,
        Err(e) => {
            handle.log(ffi::LOG_ERR, &e.to_string());
            return ffi::PAM_SERVICE_ERR;
        }
    };
    engine.add_audit_sink(Box::new(SyslogAudit::new("pam_mfa")));

    let user = match handle.user() {
        Ok(u) => u,
        Err(rc) => return rc,
    };
    let Some(conv_ptr) = handle.conv() else {
        handle.log(ffi::LOG_ERR, "the application set no conversation function");
        return ffi::PAM_CONV_ERR;
    };
    let silent = flags & ffi::PAM_SILENT != 0;
    // SAFETY: the handle's PAM_CONV item, used only during this call.
    let mut conv = unsafe { PamConversation::new(conv_ptr, silent) };
    let service = handle
        .item_string(ffi::PAM_SERVICE)
        .unwrap_or_else(|| "pam".to_owned());
    let mut ctx = AuthContext::new(user, service);
    ctx.rhost = handle.item_string(ffi::PAM_RHOST);
    ctx.tty = handle.item_string(ffi::PAM_TTY);

    // One runtime per authentication, on this thread, gone before we
    // return: sshd forks per connection and nothing may outlive the call.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            handle.log(ffi::LOG_ERR, &format!("cannot start the runtime: {e}"));
            return ffi::PAM_SERVICE_ERR;
        }
    };
    let decision = runtime.block_on(mfa_core::pam::authenticate(
        &engine,
        &ctx,
        &mut conv,
        &mut handle,
        args.pass,
    ));
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
    conv.flush();
    if args.debug {
        handle.log(
            ffi::LOG_DEBUG,
            &format!(
                "user \"{}\": {}",
                for_log(&ctx.user),
                for_log(&format!("{decision:?}"))
            ),
        );
    }
    pam_code(verdict_for(&decision))
}

/// The `auth` entry point.
///
/// # Safety
/// Called by libpam with a valid handle and its argc/argv.
#[no_mangle]
pub unsafe extern "C" fn pam_sm_authenticate(
    pamh: *mut ffi::PamHandle,
    flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    // SAFETY: forwarded from libpam unchanged.
    guarded(|| unsafe { authenticate(pamh, flags, argc, argv) })
}

/// sshd calls setcred after a successful auth stack and fails the login on
/// anything but PAM_SUCCESS; the module has no credentials to set.
///
/// # Safety
/// Called by libpam; touches none of its arguments.
#[no_mangle]
pub unsafe extern "C" fn pam_sm_setcred(
    _pamh: *mut ffi::PamHandle,
    _flags: c_int,
    _argc: c_int,
    _argv: *const *const c_char,
) -> c_int {
    ffi::PAM_SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }

    #[test]
    fn setcred_succeeds() {
        // SAFETY: the entry point touches none of its arguments.
        let rc = unsafe { pam_sm_setcred(std::ptr::null_mut(), 0, 0, std::ptr::null()) };
        assert_eq!(rc, ffi::PAM_SUCCESS);
    }

    #[test]
    fn null_handle_and_bad_argv_fail_closed() {
        // SAFETY: a null handle is rejected before anything is read.
        let rc = unsafe { pam_sm_authenticate(std::ptr::null_mut(), 0, 0, std::ptr::null()) };
        assert_eq!(rc, ffi::PAM_SERVICE_ERR);
        let bad = c"\xff\xfe";
        let argv = [bad.as_ptr()];
        // SAFETY: one valid C string.
        let e = unsafe { module_args(1, argv.as_ptr()) }.unwrap_err();
        assert_eq!(e, "module argument 0 is not valid UTF-8");
    }
}
