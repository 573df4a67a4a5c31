//! The PAM handle and its conversation as an mfa-core [`FrontEnd`].

use mfa_core::audit::{AuditSink, SyslogAudit};
use mfa_core::session::{FrontEnd, Io, LogLevel, UserError};

use crate::conv::PamConversation;
use crate::ffi;
use crate::handle::Handle;

pub struct PamFrontEnd {
    pub handle: Handle,
    pub conv: PamConversation,
}

// SAFETY: both wrap pointers libpam handed to the running entry point; the
// front end lives only inside that call, on the calling thread (the
// runners are current-thread). `Send` is required only by the trait.
unsafe impl Send for PamFrontEnd {}

impl FrontEnd for PamFrontEnd {
    fn user(&mut self) -> Result<String, UserError> {
        self.handle.user()
    }
    fn service(&self) -> String {
        self.handle
            .item_string(ffi::PAM_SERVICE)
            .unwrap_or_else(|| "pam".to_owned())
    }
    fn rhost(&self) -> Option<String> {
        self.handle.item_string(ffi::PAM_RHOST)
    }
    fn tty(&self) -> Option<String> {
        self.handle.item_string(ffi::PAM_TTY)
    }
    /// sshd (7.6 and later) lists the methods that already succeeded for
    /// this login in `SSH_AUTH_INFO_0` of the PAM environment before it
    /// runs keyboard-interactive (e.g. "publickey ssh-ed25519 AAAA..." under
    /// `AuthenticationMethods publickey,keyboard-interactive`). A password
    /// checked earlier in this same stack is not in it, and cannot be
    /// known to have succeeded.
    fn first_factor_verified(&self) -> bool {
        self.handle
            .env(c"SSH_AUTH_INFO_0")
            .is_some_and(|s| !s.trim().is_empty())
    }
    fn io(&mut self) -> Io<'_> {
        Io {
            conv: &mut self.conv,
            authtok: Some(&mut self.handle),
        }
    }
    fn log(&self, level: LogLevel, message: &str) {
        let priority = match level {
            LogLevel::Error => ffi::LOG_ERR,
            LogLevel::Warning => ffi::LOG_WARNING,
            LogLevel::Notice => ffi::LOG_NOTICE,
            LogLevel::Debug => ffi::LOG_DEBUG,
        };
        self.handle.log(priority, message);
    }
    fn audit_sink(&self) -> Option<Box<dyn AuditSink>> {
        Some(Box::new(SyslogAudit::new("pam_mfa")))
    }
}
