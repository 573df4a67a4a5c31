//! The PAM handle as the module sees it: a few items, the user name, the
//! shared password, and syslog.

use std::ffi::{c_char, c_int, c_void, CStr, CString};

use mfa_core::conversation::SecretAnswer;
use mfa_core::session::{AuthTok, UserError};
use zeroize::Zeroizing;

use crate::ffi;

/// A `pam_handle_t` that libpam passed to an entry point; valid until that
/// entry point returns, which is longer than any `Handle` lives.
pub struct Handle(*mut ffi::PamHandle);

impl Handle {
    /// # Safety
    /// `pamh` must be the handle libpam passed to the running entry point.
    pub unsafe fn new(pamh: *mut ffi::PamHandle) -> Option<Self> {
        (!pamh.is_null()).then_some(Self(pamh))
    }

    /// `PAM_USER`, asking the application if it is not set yet.
    pub fn user(&self) -> Result<String, UserError> {
        let mut p: *const c_char = std::ptr::null();
        // SAFETY: valid handle; libpam owns the returned string.
        let rc = unsafe { ffi::pam_get_user(self.0, &mut p, std::ptr::null()) };
        if rc != ffi::PAM_SUCCESS {
            return Err(UserError::Unavailable(format!(
                "pam_get_user failed (PAM error {rc})"
            )));
        }
        if p.is_null() {
            return Err(UserError::Unusable);
        }
        // SAFETY: libpam returns a NUL-terminated string that lives as long
        // as the item; copied at once.
        let name = unsafe { CStr::from_ptr(p) };
        // A name that is not UTF-8 cannot match an account exactly.
        name.to_str()
            .map(str::to_owned)
            .map_err(|_| UserError::Unusable)
    }

    fn item_ptr(&self, item: c_int) -> Option<*const c_void> {
        let mut p: *const c_void = std::ptr::null();
        // SAFETY: valid handle; `p` receives a pointer owned by libpam.
        let rc = unsafe { ffi::pam_get_item(self.0, item, &mut p) };
        (rc == ffi::PAM_SUCCESS && !p.is_null()).then_some(p)
    }

    /// A string item (PAM_SERVICE, PAM_RHOST, PAM_TTY), lossily decoded.
    pub fn item_string(&self, item: c_int) -> Option<String> {
        let p = self.item_ptr(item)?;
        // SAFETY: string items are NUL-terminated C strings owned by libpam.
        let s = unsafe { CStr::from_ptr(p.cast::<c_char>()) };
        Some(s.to_string_lossy().into_owned()).filter(|s| !s.is_empty())
    }

    /// A variable of the PAM environment (set by the application and the
    /// modules, never by the person logging in), lossily decoded.
    pub fn env(&self, name: &std::ffi::CStr) -> Option<String> {
        // SAFETY: valid handle and NUL-terminated name; libpam returns NULL
        // or a NUL-terminated string it owns, read before any other call.
        let p = unsafe { ffi::pam_getenv(self.0, name.as_ptr()) };
        if p.is_null() {
            return None;
        }
        // SAFETY: non-NULL, NUL-terminated, owned by libpam (see above).
        let s = unsafe { CStr::from_ptr(p) };
        Some(s.to_string_lossy().into_owned())
    }

    /// The application's `struct pam_conv`.
    pub fn conv(&self) -> Option<*const ffi::PamConv> {
        self.item_ptr(ffi::PAM_CONV)
            .map(|p| p.cast::<ffi::PamConv>())
    }

    /// One line to syslog through libpam (facility of the application,
    /// normally `authpriv` for sshd), prefixed "pam_mfa(service:auth)".
    pub fn log(&self, priority: c_int, message: &str) {
        let Ok(msg) = CString::new(message.replace('\0', "")) else {
            return;
        };
        // SAFETY: valid handle; a constant "%s" format with one C string.
        unsafe { ffi::pam_syslog(self.0, priority, c"%s".as_ptr(), msg.as_ptr()) };
    }
}

impl AuthTok for Handle {
    fn get(&self) -> Option<SecretAnswer> {
        let p = self.item_ptr(ffi::PAM_AUTHTOK)?;
        // SAFETY: PAM_AUTHTOK is a NUL-terminated string owned by libpam.
        let s = unsafe { CStr::from_ptr(p.cast::<c_char>()) };
        s.to_str().ok().map(|s| Zeroizing::new(s.to_owned()))
    }

    fn set(&mut self, value: &str) -> Result<(), String> {
        if value.contains('\0') {
            return Err("password contains a NUL byte".into());
        }
        let mut bytes = Zeroizing::new(Vec::with_capacity(value.len() + 1));
        bytes.extend_from_slice(value.as_bytes());
        bytes.push(0);
        // SAFETY: valid handle; libpam copies the NUL-terminated string.
        let rc = unsafe { ffi::pam_set_item(self.0, ffi::PAM_AUTHTOK, bytes.as_ptr().cast()) };
        if rc == ffi::PAM_SUCCESS {
            Ok(())
        } else {
            Err(format!("pam_set_item(PAM_AUTHTOK) failed ({rc})"))
        }
    }
}
