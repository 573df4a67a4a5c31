//! [`Conversation`] over the application's `pam_conv`.
//!
//! Info and error texts are not sent on their own: they are queued and
//! delivered in the same `pam_conv` call as the next prompt (a message array
//! ending in the prompt). OpenSSH before 10.3 shows PAM_TEXT_INFO only as
//! part of the next keyboard-interactive prompt anyway, so this makes the
//! pairing explicit and identical for every application; whatever is still
//! queued when the authentication ends is flushed by [`PamConversation::flush`]
//! (seen by `login`, `sudo`, pamtester and OpenSSH >= 10.3; older sshd drops
//! it, which is why factors put a prompt after anything the person must see).

use std::ffi::{c_int, CStr, CString};

use async_trait::async_trait;
use mfa_core::conversation::{Conversation, ConversationError, SecretAnswer};
use zeroize::{Zeroize, Zeroizing};

use crate::ffi;

pub struct PamConversation {
    conv: *const ffi::PamConv,
    pending: Vec<(c_int, String)>,
    /// The application passed PAM_SILENT: no info or error texts.
    silent: bool,
}

// SAFETY: the pointer is the application's pam_conv, valid for the whole
// pam_sm_authenticate call. The conversation is used only inside that call,
// on the current-thread runtime that runs on the calling thread, so it never
// reaches another thread; `Send` is required only by the trait's bound.
unsafe impl Send for PamConversation {}

fn c_text(s: &str) -> CString {
    // Interior NULs would truncate the text; drop them.
    CString::new(s.replace('\0', "")).unwrap_or_default()
}

impl PamConversation {
    /// # Safety
    /// `conv` must be the handle's PAM_CONV item (non-null), valid for as
    /// long as this value is used.
    pub unsafe fn new(conv: *const ffi::PamConv, silent: bool) -> Self {
        Self {
            conv,
            pending: Vec::new(),
            silent,
        }
    }

    fn queue(&mut self, style: c_int, text: &str) {
        if !self.silent {
            self.pending.push((style, text.to_owned()));
        }
    }

    /// Deliver queued messages that no prompt followed.
    pub fn flush(&mut self) {
        if let Err(e) = self.exchange(None) {
            tracing::debug!(error = %e, "could not deliver the last messages");
        }
    }

    /// One `pam_conv` call: the queued messages, then `prompt` if any.
    /// Returns the prompt's answer.
    fn exchange(
        &mut self,
        prompt: Option<(c_int, &str)>,
    ) -> Result<Option<SecretAnswer>, ConversationError> {
        let mut texts: Vec<(c_int, CString)> = self
            .pending
            .drain(..)
            .map(|(style, t)| (style, c_text(&t)))
            .collect();
        let asks = prompt.is_some();
        if let Some((style, p)) = prompt {
            texts.push((style, c_text(p)));
        }
        if texts.is_empty() {
            return Ok(None);
        }
        let messages: Vec<ffi::PamMessage> = texts
            .iter()
            .map(|(style, t)| ffi::PamMessage {
                msg_style: *style,
                msg: t.as_ptr(),
            })
            .collect();
        // Linux-PAM reads an array of pointers; Solaris-style applications
        // read one pointer to an array. Pointers to consecutive structs
        // satisfy both.
        let mut pointers: Vec<*const ffi::PamMessage> = messages
            .iter()
            .map(|m| m as *const ffi::PamMessage)
            .collect();
        let count = c_int::try_from(pointers.len())
            .map_err(|_| ConversationError::Failed("too many messages".into()))?;

        // SAFETY: `conv` is valid for this call (see `new`).
        let conv = unsafe { &*self.conv };
        let Some(function) = conv.conv else {
            return Err(ConversationError::Failed("no conversation function".into()));
        };
        let mut responses: *mut ffi::PamResponse = std::ptr::null_mut();
        // SAFETY: `pointers`/`messages`/`texts` outlive the call; the
        // application allocates `responses` with malloc for us to free.
        let rc = unsafe {
            function(
                count,
                pointers.as_mut_ptr(),
                &mut responses,
                conv.appdata_ptr,
            )
        };
        // SAFETY: `responses` is null or an array of `count` responses.
        let mut answers = unsafe { take_responses(responses, pointers.len()) };
        if rc != ffi::PAM_SUCCESS {
            return Err(if rc == ffi::PAM_CONV_ERR {
                ConversationError::Aborted
            } else {
                ConversationError::Failed(format!("pam_conv returned {rc}"))
            });
        }
        if !asks {
            return Ok(None);
        }
        let Some(bytes) = answers.pop().flatten() else {
            return Err(ConversationError::Aborted);
        };
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| ConversationError::Failed("the answer is not valid UTF-8".into()))?;
        Ok(Some(Zeroizing::new(text.to_owned())))
    }

    fn prompt(&mut self, style: c_int, prompt: &str) -> Result<SecretAnswer, ConversationError> {
        self.exchange(Some((style, prompt)))?
            .ok_or(ConversationError::Aborted)
    }
}

/// Copy every answer out of the application's response array, wipe the
/// application's copies, and free them (they are malloc'ed by contract).
///
/// # Safety
/// `responses` is null or points to `count` malloc'ed `pam_response`s whose
/// `resp` fields are null or malloc'ed NUL-terminated strings.
unsafe fn take_responses(
    responses: *mut ffi::PamResponse,
    count: usize,
) -> Vec<Option<Zeroizing<Vec<u8>>>> {
    if responses.is_null() {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        // SAFETY: within the array (caller's contract).
        let r = unsafe { &mut *responses.add(i) };
        if r.resp.is_null() {
            out.push(None);
            continue;
        }
        // SAFETY: NUL-terminated (caller's contract).
        let len = unsafe { CStr::from_ptr(r.resp) }.to_bytes().len();
        // SAFETY: `len` bytes before the NUL belong to the allocation.
        let raw = unsafe { std::slice::from_raw_parts_mut(r.resp.cast::<u8>(), len) };
        out.push(Some(Zeroizing::new(raw.to_vec())));
        raw.zeroize();
        // SAFETY: malloc'ed by the application; freed once.
        unsafe { nix::libc::free(r.resp.cast()) };
        r.resp = std::ptr::null_mut();
    }
    // SAFETY: the array itself is malloc'ed by the application.
    unsafe { nix::libc::free(responses.cast()) };
    out
}

#[async_trait]
impl Conversation for PamConversation {
    async fn prompt_secret(&mut self, prompt: &str) -> Result<SecretAnswer, ConversationError> {
        self.prompt(ffi::PAM_PROMPT_ECHO_OFF, prompt)
    }

    async fn prompt_visible(&mut self, prompt: &str) -> Result<String, ConversationError> {
        self.prompt(ffi::PAM_PROMPT_ECHO_ON, prompt)
            .map(|a| a.as_str().to_owned())
    }

    async fn info(&mut self, text: &str) -> Result<(), ConversationError> {
        self.queue(ffi::PAM_TEXT_INFO, text);
        Ok(())
    }

    async fn error(&mut self, text: &str) -> Result<(), ConversationError> {
        self.queue(ffi::PAM_ERROR_MSG, text);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
