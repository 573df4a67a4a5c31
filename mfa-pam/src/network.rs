//! Handing a login to `pam_mfa_net.so`, the object with the network
//! factors, loaded only by a login whose plan needs one: those logins wait
//! seconds for a phone anyway, TOTP logins never pay for the load.
//!
//! The network object is a complete PAM module; the lean one calls its
//! `pam_sm_authenticate` with the arguments libpam gave. It is found beside
//! this object (`pam_mfa.so` → `pam_mfa_net.so`, `libpam_mfa.so` →
//! `libpam_mfa_net.so` in a build tree) and loaded only if it is a regular
//! file owned by this object's owner and writable by no one else.

use std::ffi::{c_char, c_int, c_void, CStr, CString, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use mfa_pam_glue::ffi::{self, PamHandle};
use mfa_pam_glue::handle::Handle;

#[repr(C)]
struct DlInfo {
    dli_fname: *const c_char,
    dli_fbase: *mut c_void,
    dli_sname: *const c_char,
    dli_saddr: *mut c_void,
}

const RTLD_NOW: c_int = 0x2;
const RTLD_LOCAL: c_int = 0;
/// Never unmapped: the object keeps thread-local destructors and a runtime
/// (it is also linked `-z nodelete`).
const RTLD_NODELETE: c_int = 0x1000;

// glibc >= 2.34 has these in libc itself.
extern "C" {
    fn dladdr(addr: *const c_void, info: *mut DlInfo) -> c_int;
    fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void;
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
    fn dlerror() -> *const c_char;
}

type AuthenticateFn =
    unsafe extern "C" fn(*mut PamHandle, c_int, c_int, *const *const c_char) -> c_int;

/// The network object's file name beside `own`: `_net` before `.so`.
pub fn sibling(own: &Path) -> Option<PathBuf> {
    let name = own.file_name()?.as_bytes();
    let stem = name.strip_suffix(b".so")?;
    let mut net = stem.to_vec();
    net.extend_from_slice(b"_net.so");
    Some(own.with_file_name(OsString::from_vec(net)))
}

/// This object's own path, from the dynamic loader.
fn own_path() -> Result<PathBuf, String> {
    let mut info = DlInfo {
        dli_fname: std::ptr::null(),
        dli_fbase: std::ptr::null_mut(),
        dli_sname: std::ptr::null(),
        dli_saddr: std::ptr::null_mut(),
    };
    let addr = crate::pam_sm_authenticate as *const c_void;
    // SAFETY: `addr` is a function of this object; `info` is writable.
    let ok = unsafe { dladdr(addr, &mut info) };
    if ok == 0 || info.dli_fname.is_null() {
        return Err("cannot find this module's own path".into());
    }
    // SAFETY: the loader's NUL-terminated path of this object.
    let name = unsafe { CStr::from_ptr(info.dli_fname) };
    Ok(PathBuf::from(std::ffi::OsStr::from_bytes(name.to_bytes())))
}

/// Refuse a network object anyone but this object's owner could have
/// written.
pub fn check_trusted(net: &Path, own: &Path) -> Result<(), String> {
    let owner = std::fs::metadata(own)
        .map_err(|e| format!("{}: {e}", own.display()))?
        .uid();
    let m = std::fs::symlink_metadata(net).map_err(|e| format!("{}: {e}", net.display()))?;
    if !m.file_type().is_file() {
        return Err(format!("{}: not a regular file", net.display()));
    }
    if m.uid() != owner {
        return Err(format!(
            "{}: owned by uid {}, not {owner}",
            net.display(),
            m.uid()
        ));
    }
    if m.mode() & 0o022 != 0 {
        return Err(format!("{}: writable by group or others", net.display()));
    }
    Ok(())
}

fn load() -> Result<AuthenticateFn, String> {
    let own = own_path()?;
    let net = sibling(&own).ok_or_else(|| format!("{}: not a .so name", own.display()))?;
    check_trusted(&net, &own)?;
    let c_path =
        CString::new(net.as_os_str().as_bytes()).map_err(|_| "path with a NUL byte".to_owned())?;
    // SAFETY: a NUL-terminated path; the flags are glibc's.
    let handle = unsafe { dlopen(c_path.as_ptr(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE) };
    if handle.is_null() {
        // SAFETY: dlerror returns a NUL-terminated message or null.
        let why = unsafe { dlerror() };
        let why = if why.is_null() {
            "unknown error".into()
        } else {
            // SAFETY: as above.
            unsafe { CStr::from_ptr(why) }
                .to_string_lossy()
                .into_owned()
        };
        return Err(format!("cannot load {}: {why}", net.display()));
    }
    // SAFETY: `handle` is a loaded object; the name is NUL-terminated.
    let sym = unsafe { dlsym(handle, c"pam_sm_authenticate".as_ptr()) };
    if sym.is_null() {
        return Err(format!("{}: no pam_sm_authenticate", net.display()));
    }
    // SAFETY: the network object's pam_sm_authenticate has libpam's
    // signature (it is built from this workspace's glue).
    Ok(unsafe { std::mem::transmute::<*mut c_void, AuthenticateFn>(sym) })
}

/// Run this login in the network object. A network object that is
/// missing or untrusted fails the login (PAM_SERVICE_ERR), logged.
///
/// # Safety
/// The arguments are those libpam passed to `pam_sm_authenticate`.
pub unsafe fn authenticate(
    pamh: *mut PamHandle,
    flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    match load() {
        // SAFETY: libpam's arguments, unchanged, to a PAM entry point.
        Ok(entry) => unsafe { entry(pamh, flags, argc, argv) },
        Err(e) => {
            // SAFETY: the handle libpam passed in.
            if let Some(h) = unsafe { Handle::new(pamh) } {
                h.log(ffi::LOG_ERR, &format!("network factors unavailable: {e}"));
            }
            ffi::PAM_SERVICE_ERR
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_network_object_sits_beside_the_module() {
        assert_eq!(
            sibling(Path::new("/lib/x86_64-linux-gnu/security/pam_mfa.so")),
            Some(PathBuf::from(
                "/lib/x86_64-linux-gnu/security/pam_mfa_net.so"
            ))
        );
        assert_eq!(
            sibling(Path::new("target/release/libpam_mfa.so")),
            Some(PathBuf::from("target/release/libpam_mfa_net.so"))
        );
        assert_eq!(sibling(Path::new("pam_mfa")), None);
    }

    #[test]
    fn an_untrusted_network_object_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let own = dir.path().join("pam_mfa.so");
        let net = dir.path().join("pam_mfa_net.so");
        std::fs::write(&own, b"").unwrap();
        assert!(check_trusted(&net, &own)
            .unwrap_err()
            .contains("No such file"));
        std::fs::write(&net, b"").unwrap();
        std::fs::set_permissions(&net, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(check_trusted(&net, &own).unwrap_err().contains("writable"));
        std::fs::set_permissions(&net, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(check_trusted(&net, &own), Ok(()));
        std::fs::remove_file(&net).unwrap();
        std::os::unix::fs::symlink(&own, &net).unwrap();
        assert!(check_trusted(&net, &own).unwrap_err().contains("regular"));
    }
}
