//! One audit record per authentication attempt.
//!
//! Every record goes to `tracing` (target `mfa::audit`); the front ends add
//! sinks of their own (the PAM module: syslog `authpriv`), and
//! `[general] audit_log` appends JSON lines to a file. Records never hold a
//! secret: no codes, no tokens.

use std::future::Future;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::factor::FactorKind;
use crate::sanitize::for_log;
use crate::session::LogLevel;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    pub time: u64,
    pub user: String,
    pub rhost: Option<String>,
    pub service: String,
    pub hostname: String,
    /// Factors that were run, in order.
    pub factors: Vec<FactorKind>,
    /// `allow`, `allow-failmode`, `deny` or `ignore`.
    pub decision: &'static str,
    pub reason: String,
    /// The public session tag a factor showed the person (webhook), so the
    /// record can be matched with the channel message. Never a secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
}

impl AuditRecord {
    /// One line, `key=value` pairs, values escaped so a hostile user name
    /// cannot forge a second line.
    pub fn to_line(&self) -> String {
        let factors: Vec<&str> = self.factors.iter().map(|f| f.as_str()).collect();
        let session = self
            .session
            .as_deref()
            .map(|s| format!(" session=\"{}\"", for_log(s)))
            .unwrap_or_default();
        format!(
            "mfa: decision={} user=\"{}\" rhost=\"{}\" service=\"{}\" factors={} reason=\"{}\"{session}",
            self.decision,
            for_log(&self.user),
            for_log(self.rhost.as_deref().unwrap_or("")),
            for_log(&self.service),
            if factors.is_empty() {
                "-".to_owned()
            } else {
                factors.join(",")
            },
            for_log(&self.reason),
        )
    }
}

tokio::task_local! {
    /// Details a factor adds to the audit record of the login the engine is
    /// running. Task-local so that factors need no extra parameter and
    /// concurrent logins never see each other's notes.
    static NOTES: Notes;
}

#[derive(Debug, Clone, Default)]
struct Notes(Arc<Mutex<Noted>>);

/// What factors noted about the current login.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Noted {
    /// The public session tag shown to the person (webhook).
    pub session: Option<String>,
    /// How an allow came about when "verified" would mislead (a Duo-side
    /// bypass): appended to the audit reason.
    pub detail: Option<String>,
}

fn note(f: impl FnOnce(&mut Noted)) {
    let _ = NOTES.try_with(|n| {
        if let Ok(mut noted) = n.0.lock() {
            f(&mut noted);
        }
    });
}

/// Record the public session tag of the current login for its audit record.
/// Outside [`with_notes`] (a factor called directly in a test) it does
/// nothing.
pub fn note_session(tag: &str) {
    note(|n| n.session = Some(tag.to_owned()));
}

/// Record how the current login's allow came about, for its audit record
/// (e.g. a provider that let the user through without a second factor).
/// Never a secret. Outside [`with_notes`] it does nothing.
pub fn note_detail(detail: &str) {
    note(|n| n.detail = Some(detail.to_owned()));
}

/// Run `f` collecting what factors note; returns its output and the notes.
pub async fn with_notes<F: Future>(f: F) -> (F::Output, Noted) {
    let notes = Notes::default();
    let out = NOTES.scope(notes.clone(), f).await;
    let noted = notes.0.lock().map(|n| n.clone()).unwrap_or_default();
    (out, noted)
}

pub trait AuditSink: Send + Sync {
    fn record(&self, record: &AuditRecord);
}

/// Emits the record as a `tracing` event.
#[derive(Debug, Default)]
pub struct TracingAudit;

impl AuditSink for TracingAudit {
    fn record(&self, r: &AuditRecord) {
        tracing::info!(
            target: "mfa::audit",
            decision = r.decision,
            user = %for_log(&r.user),
            rhost = %for_log(r.rhost.as_deref().unwrap_or("")),
            service = %for_log(&r.service),
            reason = %for_log(&r.reason),
            session = %for_log(r.session.as_deref().unwrap_or("")),
            "authentication {}", r.decision
        );
    }
}

/// Appends one JSON object per line to a root-only file.
#[derive(Debug)]
pub struct FileAudit {
    pub path: PathBuf,
}

impl AuditSink for FileAudit {
    fn record(&self, r: &AuditRecord) {
        let Ok(mut line) = serde_json::to_string(r) else {
            return;
        };
        line.push('\n');
        let res = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
            .open(&self.path)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = res {
            tracing::error!(path = %self.path.display(), error = %e, "cannot write audit log");
        }
    }
}

/// Sends each record to the local syslog daemon, facility `authpriv`, as an
/// RFC 3164 datagram on `/dev/log` — the same destination sshd and PAM
/// modules use. No daemon listening is not an error: the record still went
/// to the other sinks.
#[derive(Debug)]
pub struct SyslogAudit {
    socket: PathBuf,
    ident: String,
}

/// syslog facility `authpriv` (10) shifted as RFC 3164 wants.
const LOG_AUTHPRIV: u8 = 10 << 3;
const LOG_ERR: u8 = 3;
const LOG_WARNING: u8 = 4;
const LOG_NOTICE: u8 = 5;
const LOG_INFO: u8 = 6;
const LOG_DEBUG: u8 = 7;

impl SyslogAudit {
    pub fn new(ident: &str) -> Self {
        Self::with_socket(ident, "/dev/log")
    }

    pub fn with_socket(ident: &str, socket: impl Into<PathBuf>) -> Self {
        Self {
            socket: socket.into(),
            ident: ident.to_owned(),
        }
    }

    /// The datagram for `record`.
    pub fn datagram(&self, r: &AuditRecord) -> String {
        let severity = if r.decision == "allow" {
            LOG_INFO
        } else {
            LOG_NOTICE
        };
        format!(
            "<{}>{}[{}]: {}",
            LOG_AUTHPRIV | severity,
            self.ident,
            std::process::id(),
            r.to_line()
        )
    }
}

impl SyslogAudit {
    /// One line for the administrator (a front end's log), on the same
    /// socket and facility as the records: mfa-login's stderr is the
    /// person logging in, never the place for a configuration detail.
    /// Control characters are escaped so a line cannot forge another.
    pub fn line(&self, level: LogLevel, message: &str) {
        let severity = match level {
            LogLevel::Error => LOG_ERR,
            LogLevel::Warning => LOG_WARNING,
            LogLevel::Notice => LOG_NOTICE,
            LogLevel::Debug => LOG_DEBUG,
        };
        let msg = format!(
            "<{}>{}[{}]: {}",
            LOG_AUTHPRIV | severity,
            self.ident,
            std::process::id(),
            for_log(message)
        );
        self.send(&msg);
    }

    fn send(&self, msg: &str) {
        let sent = std::os::unix::net::UnixDatagram::unbound()
            .and_then(|s| s.send_to(msg.as_bytes(), &self.socket));
        if let Err(e) = sent {
            tracing::debug!(error = %e, "syslog unavailable");
        }
    }
}

impl AuditSink for SyslogAudit {
    fn record(&self, r: &AuditRecord) {
        self.send(&self.datagram(r));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(user: &str) -> AuditRecord {
        AuditRecord {
            time: 1,
            user: user.into(),
            rhost: Some("192.0.2.1".into()),
            service: "sshd".into(),
            hostname: "box".into(),
            factors: vec![FactorKind::Totp],
            decision: "deny",
            reason: "wrong code".into(),
            session: None,
        }
    }

    #[test]
    fn line_escapes_hostile_names() {
        let line = rec("eve\"\nmfa: decision=allow").to_line();
        assert!(!line.contains('\n'));
        assert!(
            line.starts_with("mfa: decision=deny user=\"eve\\\"\\nmfa"),
            "{line}"
        );
    }

    #[test]
    fn syslog_sink_sends_authpriv_datagrams() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("log");
        let server = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        let sink = SyslogAudit::with_socket("pam_mfa", &path);
        sink.record(&rec("bob\nforged"));
        let mut buf = [0u8; 1024];
        let n = server.recv(&mut buf).unwrap();
        let msg = std::str::from_utf8(&buf[..n]).unwrap();
        // authpriv (10) * 8 + notice (5) = 85 for a deny.
        assert!(
            msg.starts_with(&format!(
                "<85>pam_mfa[{}]: mfa: decision=deny",
                std::process::id()
            )),
            "{msg}"
        );
        assert!(msg.contains("user=\"bob\\nforged\""), "{msg}");
        // No daemon: silently nothing, no panic.
        SyslogAudit::with_socket("x", d.path().join("absent")).record(&rec("a"));
    }

    #[test]
    fn syslog_lines_are_authpriv_with_their_severity_and_one_line() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("log");
        let server = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        let sink = SyslogAudit::with_socket("mfa-login", &path);
        let mut buf = [0u8; 1024];
        for (level, pri) in [
            (LogLevel::Error, 83),
            (LogLevel::Warning, 84),
            (LogLevel::Notice, 85),
            (LogLevel::Debug, 87),
        ] {
            sink.line(level, "config: bad\nmfa-login[1]: forged");
            let n = server.recv(&mut buf).unwrap();
            let msg = std::str::from_utf8(&buf[..n]).unwrap();
            assert_eq!(
                msg,
                format!(
                    "<{pri}>mfa-login[{}]: config: bad\\nmfa-login[1]: forged",
                    std::process::id()
                )
            );
        }
    }

    #[test]
    fn file_sink_appends_json_lines() {
        let d = tempfile::tempdir().unwrap();
        let sink = FileAudit {
            path: d.path().join("audit.log"),
        };
        sink.record(&rec("a"));
        sink.record(&rec("b"));
        let text = std::fs::read_to_string(&sink.path).unwrap();
        let users: Vec<String> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["user"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(users, ["a", "b"]);
    }
}
