//! `/etc/mfa/mfa.toml`: parsed and validated in full at load time, so a
//! mistake is reported once with file, line and key, and never discovered
//! halfway through a login.

mod error;
mod file;
pub mod users;

use std::net::IpAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

pub use error::{is_secret_key, ConfigError, SECRET_KEYS};
pub use file::{read_config_file, read_secret_file};
pub use users::{UserEntry, UsersDb};
// Each provider's section lives with its factor and client; the config
// names them here so `Config` stays the one place that parses mfa.toml.
pub use crate::phonecheck::config::PhoneCheckConfig;
pub use crate::push::config::PushConfig;
pub use crate::state::config::StateConfig;
pub use crate::webhook::config::{WebhookConfig, WebhookPreset};

use crate::factor::FactorKind;

pub const DEFAULT_CONFIG: &str = "/etc/mfa/mfa.toml";
pub const DEFAULT_USERS_FILE: &str = "/etc/mfa/users.toml";
/// pam_faildelay's usual setting (Debian's sshd stack asks 2 s of libpam).
pub const DEFAULT_FAIL_DELAY_MS: u64 = 2000;

/// What to do when a provider cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailMode {
    /// Deny (default).
    #[default]
    Secure,
    /// Allow, but only for provider unreachable / 5xx / timeout.
    Safe,
}

/// What to do with a user enrolled in none of the applicable factors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unenrolled {
    /// Prompt like for anyone else, then deny (default).
    #[default]
    Deny,
    /// Step aside (PAM_IGNORE), never a success.
    Allow,
    /// Enrol at first login: a user with no TOTP state file whose first
    /// factor sshd has already verified is shown a new secret (QR code, key,
    /// otpauth URI) and must confirm it with a valid code; only then is the
    /// file written and the login allowed. Where that cannot happen (no
    /// verified first factor, no TOTP in the plan, nobody to ask) it is
    /// `Deny`. See `totp::first_login`.
    Enroll,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct General {
    pub users_file: Option<PathBuf>,
    pub failmode: FailMode,
    pub unenrolled: Unenrolled,
    /// Timeout of each provider request, seconds.
    pub request_timeout_secs: Spanned<u64>,
    /// Deadline of a whole authentication, seconds; below sshd's
    /// LoginGraceTime (120 s by default).
    pub login_timeout_secs: Spanned<u64>,
    /// Pause after a wrong code, milliseconds (pam_faildelay's idea, for
    /// every front end); 0 disables it. See `session::pause`.
    pub fail_delay_ms: Spanned<u64>,
    pub audit_log: Option<PathBuf>,
}

impl Default for General {
    fn default() -> Self {
        Self {
            users_file: None,
            failmode: FailMode::Secure,
            unenrolled: Unenrolled::Deny,
            request_timeout_secs: Spanned::new(0..0, crate::provider::DEFAULT_TIMEOUT.as_secs()),
            login_timeout_secs: Spanned::new(0..0, 90),
            fail_delay_ms: Spanned::new(0..0, DEFAULT_FAIL_DELAY_MS),
            audit_log: None,
        }
    }
}

/// Whether one enrolled factor suffices or all must pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Require {
    #[default]
    One,
    All,
}

/// What a matching rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleAction {
    /// Use the rule's factor list (default).
    #[default]
    Require,
    /// Step aside (PAM_IGNORE): the rest of the PAM stack decides.
    Skip,
    /// Deny outright.
    Deny,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub factors: Option<Vec<FactorKind>>,
    #[serde(default)]
    pub action: RuleAction,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Ordered: the first factor the user is enrolled in is used.
    pub factors: Spanned<Vec<FactorKind>>,
    pub require: Require,
    /// First matching rule wins.
    pub rules: Vec<Rule>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            factors: Spanned::new(0..0, vec![FactorKind::Totp]),
            require: Require::One,
            rules: Vec::new(),
        }
    }
}

/// `[totp]`: the pam_google_authenticator options, with the same meanings.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct TotpSettings {
    /// Path of the state file; `~`, `${HOME}` and `${USER}` are expanded.
    pub secret: String,
    pub authtok_prompt: Option<String>,
    pub echo_verification_code: bool,
    pub noskewadj: bool,
    pub no_increment_hotp: bool,
    /// Seconds during which a new login from the same host needs no code.
    pub grace_period: Option<u64>,
    /// Permission bits the state file may have, a quoted octal string
    /// such as "0600" (an integer is refused: see `fsutil::deserialize_mode`).
    #[serde(deserialize_with = "crate::fsutil::deserialize_mode")]
    pub allowed_perm: u32,
    pub no_strict_owner: bool,
    pub allow_readonly: bool,
    /// Owner of the state files, when they do not belong to the user.
    pub user: Option<String>,
}

impl Default for TotpSettings {
    fn default() -> Self {
        Self {
            secret: "~/.google_authenticator".to_owned(),
            authtok_prompt: None,
            echo_verification_code: false,
            noskewadj: false,
            no_increment_hotp: false,
            grace_period: None,
            allowed_perm: 0o600,
            no_strict_owner: false,
            allow_readonly: false,
            user: None,
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub general: General,
    pub policy: Policy,
    pub totp: TotpSettings,
    pub phonecheck: Option<PhoneCheckConfig>,
    pub webhook: Option<WebhookConfig>,
    pub push: Option<PushConfig>,
    /// `[state]`: the TOTP state in each user's file or in PostgreSQL.
    pub state: StateConfig,
    /// Where it was read from (`None` for the built-in default).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

impl Config {
    /// Parse and validate TOML text. `file` is used only in error messages.
    pub fn parse(file: &Path, src: &str) -> Result<Self, ConfigError> {
        let mut cfg: Config = toml::from_str(src).map_err(|e| error::from_toml(file, src, &e))?;
        cfg.source = Some(file.to_owned());
        cfg.validate(file, src)?;
        Ok(cfg)
    }

    /// Load from a file, checking ownership and permissions first.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        // The mode checked is the one of the file read, not whatever the
        // path names once it has been parsed.
        let (src, mode) = file::read_with_mode(path)?;
        let cfg = Self::parse(path, &src)?;
        if cfg.holds_secrets() {
            file::check_secret_mode(path, mode)?;
        }
        Ok(cfg)
    }

    /// The front ends' rule: an explicit path must exist; the default path
    /// may be missing, and then the built-in default applies (TOTP with
    /// `~/.google_authenticator`, a drop-in for pam_google_authenticator).
    pub fn load_or_default(path: Option<&Path>) -> Result<Self, ConfigError> {
        match path {
            Some(p) => Self::load(p),
            None => Self::load_if_present(Path::new(DEFAULT_CONFIG)),
        }
    }

    /// Only a file that is really absent means "use the default". A file we
    /// cannot even look at (e.g. mfa-login installed without its setgid
    /// group, so /etc/mfa is closed to it) is an error: silently falling
    /// back would replace the admin's policy with the built-in one.
    pub(crate) fn load_if_present(p: &Path) -> Result<Self, ConfigError> {
        match p.symlink_metadata() {
            Ok(_) => Self::load(p),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(ConfigError::file(p, format!("cannot look up: {e}"))),
        }
    }

    /// The file name for messages: its path, or `(built-in default)`.
    pub fn source_name(&self) -> PathBuf {
        self.source
            .clone()
            .unwrap_or_else(|| "(built-in default)".into())
    }

    /// A problem with `key` found after parsing (e.g. while building a
    /// factor): located by file and key, without a line.
    pub fn error(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.source_name(),
            line: None,
            key: Some(key.to_owned()),
            message: message.into(),
        }
    }

    /// The users file this config points to.
    /// The users file this config names; the default path may be absent
    /// (no one enrolled through it), a path given explicitly may not.
    pub fn load_users(&self) -> Result<UsersDb, ConfigError> {
        let path = self.users_file();
        let optional = self.general.users_file.is_none() && path == Path::new(DEFAULT_USERS_FILE);
        UsersDb::load(&path, optional)
    }

    /// The deadline of a login that starts at `start`: the one place the
    /// login timeout becomes an instant (the session puts it in the
    /// context; the engine, the factors and the front end's terminal all
    /// stop there).
    pub fn login_deadline(&self, start: std::time::Instant) -> std::time::Instant {
        start + std::time::Duration::from_secs(*self.general.login_timeout_secs.get_ref())
    }

    /// How long a front end pauses after a wrong code.
    pub fn fail_delay(&self) -> std::time::Duration {
        std::time::Duration::from_millis(*self.general.fail_delay_ms.get_ref())
    }

    pub fn users_file(&self) -> PathBuf {
        self.general
            .users_file
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_USERS_FILE))
    }

    /// Whether any provider secret is stored in the file itself.
    pub fn holds_secrets(&self) -> bool {
        self.phonecheck
            .as_ref()
            .is_some_and(|p| p.client_secret.is_some())
            || self.webhook.is_some()
            || self.push.is_some()
    }

    fn validate(&self, file: &Path, src: &str) -> Result<(), ConfigError> {
        let at = |span: Range<usize>, key: &str, msg: String| ConfigError {
            file: file.to_owned(),
            line: (span.end > 0).then(|| error::line_of(src, span.start)),
            key: Some(key.to_owned()),
            message: msg,
        };
        let g = &self.general;
        if !(1..=60).contains(g.request_timeout_secs.get_ref()) {
            return Err(at(
                g.request_timeout_secs.span(),
                "general.request_timeout_secs",
                "must be between 1 and 60 seconds".into(),
            ));
        }
        if !(5..=600).contains(g.login_timeout_secs.get_ref()) {
            return Err(at(
                g.login_timeout_secs.span(),
                "general.login_timeout_secs",
                "must be between 5 and 600 seconds (keep it below sshd's LoginGraceTime)".into(),
            ));
        }
        if *g.fail_delay_ms.get_ref() > 10_000 {
            return Err(at(
                g.fail_delay_ms.span(),
                "general.fail_delay_ms",
                "must be between 0 (no pause) and 10000 milliseconds".into(),
            ));
        }
        if self.policy.factors.get_ref().is_empty() {
            return Err(at(
                self.policy.factors.span(),
                "policy.factors",
                "must name at least one factor".into(),
            ));
        }
        for (i, rule) in self.policy.rules.iter().enumerate() {
            if rule.users.is_empty() && rule.groups.is_empty() {
                return Err(ConfigError {
                    file: file.to_owned(),
                    line: None,
                    key: Some(format!("policy.rules[{i}]")),
                    message: "a rule must name users or groups".into(),
                });
            }
        }
        if let Some(p) = &self.phonecheck {
            p.validate(&at)?;
        }
        if let Some(w) = &self.webhook {
            w.validate(&at)?;
        }
        if let Some(p) = &self.push {
            p.validate(&at)?;
        }
        self.state.validate(&at)?;
        Ok(())
    }
}

/// Builds a located error from a span, a dotted key and a message.
pub(crate) type Locate<'a> = dyn Fn(Range<usize>, &str, String) -> ConfigError + 'a;

/// `https://` anywhere; plain `http://` only to a loopback host.
///
/// Host names must be ASCII: an internationalised one is written in its
/// `xn--` form. The workspace pins idna's back end to the one without
/// Unicode tables (`idna_adapter` 1.0 in Cargo.lock): it keeps 22 crates
/// and ~100 kB of tables out of every binary (in the PAM module they lay
/// between the strings a login reads: one more page fault in every sshd
/// child, docs/pam.md), and a host an admin reads in the config is then
/// exactly the host contacted, with no look-alike letters.
pub fn check_url(url: &str, what: &str) -> Result<url::Url, String> {
    let parsed = url::Url::parse(url).map_err(|e| {
        let ascii = if url.is_ascii() {
            ""
        } else {
            "; write a non-ASCII host name in its ASCII (xn--) form"
        };
        format!("{what}: not a valid URL ({e}{ascii})")
    })?;
    match parsed.scheme() {
        "https" => {}
        "http" if is_loopback(&parsed) => {}
        "http" => {
            return Err(format!(
                "{what}: plain http:// is only allowed to a loopback host (127.0.0.0/8, ::1, localhost); use https://"
            ))
        }
        // The scheme is not repeated: it is part of a value that may be a
        // credential (webhook.url).
        _ => return Err(format!("{what}: unsupported scheme (use https://)")),
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("{what}: the URL has no host"));
    }
    Ok(parsed)
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests;
