//! PAM module arguments: `config=`, `factor=`, `debug`, and the
//! pam_google_authenticator options with that module's meanings.
//!
//! Arguments on the PAM line override the config file, because they are the
//! more specific statement (one service, one stack line). Anything not
//! understood is an error, never ignored: a typo such as `nulok` must not
//! silently change who gets in.

use std::path::PathBuf;

use crate::config::{Config, ConfigError, TotpSettings, Unenrolled};
use crate::factor::FactorKind;
use crate::sanitize::for_log;

/// How the code reaches the module (pam_google_authenticator's stacking
/// options; see `docs/pam.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PassMode {
    /// Prompt for the code.
    #[default]
    Prompt,
    /// Take the code from the end of the previous module's password
    /// (`PAM_AUTHTOK`); prompt if that does not verify.
    TryFirstPass,
    /// As `TryFirstPass`, but never prompt.
    UseFirstPass,
    /// Ask once for password and code together, keep the code, and hand the
    /// password on to the next module as `PAM_AUTHTOK`.
    ForwardPass,
}

impl PassMode {
    /// The module argument that chose this mode (`None` for prompting).
    pub fn argument(self) -> Option<&'static str> {
        match self {
            PassMode::Prompt => None,
            PassMode::TryFirstPass => Some("try_first_pass"),
            PassMode::UseFirstPass => Some("use_first_pass"),
            PassMode::ForwardPass => Some("forward_pass"),
        }
    }
}

/// The TOTP options given on the PAM line; `None`/`false` leaves the config
/// file's value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TotpArgs {
    pub secret: Option<String>,
    pub authtok_prompt: Option<String>,
    pub echo_verification_code: bool,
    pub noskewadj: bool,
    pub no_increment_hotp: bool,
    pub grace_period: Option<u64>,
    pub allowed_perm: Option<u32>,
    pub no_strict_owner: bool,
    pub allow_readonly: bool,
    pub user: Option<String>,
}

impl TotpArgs {
    fn apply(&self, t: &mut TotpSettings) {
        if let Some(s) = &self.secret {
            t.secret = s.clone();
        }
        if let Some(p) = &self.authtok_prompt {
            t.authtok_prompt = Some(p.clone());
        }
        t.echo_verification_code |= self.echo_verification_code;
        t.noskewadj |= self.noskewadj;
        t.no_increment_hotp |= self.no_increment_hotp;
        if let Some(g) = self.grace_period {
            t.grace_period = Some(g);
        }
        if let Some(m) = self.allowed_perm {
            t.allowed_perm = m;
        }
        t.no_strict_owner |= self.no_strict_owner;
        t.allow_readonly |= self.allow_readonly;
        if let Some(u) = &self.user {
            t.user = Some(u.clone());
        }
    }
}

/// Everything the PAM line said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PamArgs {
    /// `config=PATH`; `None` means the default path, which may be absent.
    pub config: Option<PathBuf>,
    /// `factor=KIND[,KIND]`: replaces the policy's factor list.
    pub factors: Option<Vec<FactorKind>>,
    pub debug: bool,
    /// `nullok`: a user without enrolment is stepped over (PAM_IGNORE).
    pub nullok: bool,
    pub pass: PassMode,
    pub totp: TotpArgs,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PamArgsError {
    /// Only the argument's name is kept: the value might be anything.
    #[error("unknown module argument '{0}'")]
    Unknown(String),
    #[error("module argument '{arg}': {message}")]
    Invalid { arg: String, message: String },
}

fn invalid(arg: &str, message: impl Into<String>) -> PamArgsError {
    PamArgsError::Invalid {
        arg: for_log(arg),
        message: message.into(),
    }
}

/// A non-empty value.
fn value<'a>(name: &str, v: Option<&'a str>) -> Result<&'a str, PamArgsError> {
    match v {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(invalid(name, "needs a value (name=value)")),
    }
}

fn flag(name: &str, v: Option<&str>) -> Result<bool, PamArgsError> {
    match v {
        None => Ok(true),
        Some(_) => Err(invalid(name, "takes no value")),
    }
}

fn octal_mode(name: &str, s: &str) -> Result<u32, PamArgsError> {
    crate::fsutil::parse_mode(s).map_err(|e| invalid(name, e.to_string()))
}

fn factor_list(name: &str, s: &str) -> Result<Vec<FactorKind>, PamArgsError> {
    let mut kinds = Vec::new();
    for part in s.split(',') {
        let k = part
            .trim()
            .parse::<FactorKind>()
            .map_err(|e| invalid(name, e))?;
        if !kinds.contains(&k) {
            kinds.push(k);
        }
    }
    Ok(kinds)
}

impl PamArgs {
    /// Parse the module's argv. Linux-PAM has already removed the `[...]`
    /// quoting that lets a value hold spaces (`[authtok_prompt=Code: ]`).
    pub fn parse<S: AsRef<str>>(args: &[S]) -> Result<Self, PamArgsError> {
        let mut out = PamArgs::default();
        let mut pass_seen: Option<&'static str> = None;
        for raw in args {
            let raw = raw.as_ref();
            let (name, v) = match raw.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (raw, None),
            };
            let t = &mut out.totp;
            match name {
                "config" => out.config = Some(PathBuf::from(value(name, v)?)),
                "factor" => out.factors = Some(factor_list(name, value(name, v)?)?),
                "debug" => out.debug = flag(name, v)?,
                "nullok" => out.nullok = flag(name, v)?,
                "try_first_pass" | "use_first_pass" | "forward_pass" => {
                    flag(name, v)?;
                    let mode = match name {
                        "try_first_pass" => PassMode::TryFirstPass,
                        "use_first_pass" => PassMode::UseFirstPass,
                        _ => PassMode::ForwardPass,
                    };
                    // pam_google_authenticator documents these as one
                    // choice; two of them is a mistake worth stopping on.
                    if let Some(prev) = pass_seen.filter(|_| out.pass != mode) {
                        return Err(invalid(name, format!("conflicts with '{prev}'")));
                    }
                    pass_seen = mode.argument();
                    out.pass = mode;
                }
                "secret" => t.secret = Some(value(name, v)?.to_owned()),
                "authtok_prompt" => t.authtok_prompt = Some(value(name, v)?.to_owned()),
                "echo_verification_code" => t.echo_verification_code = flag(name, v)?,
                "noskewadj" => t.noskewadj = flag(name, v)?,
                "no_increment_hotp" => t.no_increment_hotp = flag(name, v)?,
                "grace_period" => {
                    let secs = value(name, v)?
                        .parse::<u64>()
                        .map_err(|_| invalid(name, "expected a number of seconds"))?;
                    t.grace_period = Some(secs);
                }
                "allowed_perm" => t.allowed_perm = Some(octal_mode(name, value(name, v)?)?),
                "no_strict_owner" => t.no_strict_owner = flag(name, v)?,
                "allow_readonly" => t.allow_readonly = flag(name, v)?,
                "user" => t.user = Some(value(name, v)?.to_owned()),
                _ => return Err(PamArgsError::Unknown(for_log(name))),
            }
        }
        Ok(out)
    }

    /// Put the PAM line's options over `config`.
    pub fn apply(&self, config: &mut Config) {
        self.totp.apply(&mut config.totp);
        if self.nullok {
            config.general.unenrolled = Unenrolled::Allow;
        }
    }

    /// The configuration for this PAM line: `config=` (which must exist), or
    /// the default path if present, or the built-in default (TOTP with
    /// `~/.google_authenticator`); then the line's options on top.
    pub fn load_config(&self) -> Result<Config, ConfigError> {
        let mut cfg = Config::load_or_default(self.config.as_deref())?;
        self.apply(&mut cfg);
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(a: &[&str]) -> Result<PamArgs, PamArgsError> {
        PamArgs::parse(a)
    }

    #[test]
    fn empty_line_is_the_drop_in_default() {
        let a = parse(&[]).unwrap();
        assert_eq!(a, PamArgs::default());
        let mut cfg = Config::default();
        a.apply(&mut cfg);
        assert_eq!(cfg.totp, TotpSettings::default());
        assert_eq!(cfg.totp.secret, "~/.google_authenticator");
        assert_eq!(cfg.general.unenrolled, Unenrolled::Deny);
        assert_eq!(cfg.policy.factors.get_ref(), &vec![FactorKind::Totp]);
    }

    #[test]
    fn every_google_authenticator_option_maps_onto_totp_settings() {
        let a = parse(&[
            "secret=/var/lib/ga/${USER}",
            "authtok_prompt=Your token: ",
            "echo_verification_code",
            "noskewadj",
            "no_increment_hotp",
            "grace_period=3600",
            "allowed_perm=0640",
            "no_strict_owner",
            "allow_readonly",
            "user=gauth",
            "nullok",
            "debug",
            "forward_pass",
            "config=/etc/mfa/other.toml",
            "factor=totp,webhook,totp",
        ])
        .unwrap();
        let mut cfg = Config::default();
        a.apply(&mut cfg);
        assert_eq!(
            cfg.totp,
            TotpSettings {
                secret: "/var/lib/ga/${USER}".into(),
                authtok_prompt: Some("Your token: ".into()),
                echo_verification_code: true,
                noskewadj: true,
                no_increment_hotp: true,
                grace_period: Some(3600),
                allowed_perm: 0o640,
                no_strict_owner: true,
                allow_readonly: true,
                user: Some("gauth".into()),
            }
        );
        assert_eq!(cfg.general.unenrolled, Unenrolled::Allow);
        assert!(a.debug);
        assert_eq!(a.pass, PassMode::ForwardPass);
        assert_eq!(a.config, Some(PathBuf::from("/etc/mfa/other.toml")));
        assert_eq!(a.factors, Some(vec![FactorKind::Totp, FactorKind::Webhook]));
    }

    #[test]
    fn allowed_perm_takes_the_same_spellings_as_the_config() {
        for v in ["0600", "600", "0o600"] {
            let a = parse(&[&format!("allowed_perm={v}")]).unwrap();
            assert_eq!(a.totp.allowed_perm, Some(0o600), "{v}");
        }
    }

    #[test]
    fn pass_modes() {
        assert_eq!(
            parse(&["try_first_pass"]).unwrap().pass,
            PassMode::TryFirstPass
        );
        assert_eq!(
            parse(&["use_first_pass"]).unwrap().pass,
            PassMode::UseFirstPass
        );
        assert_eq!(
            parse(&["forward_pass", "forward_pass"]).unwrap().pass,
            PassMode::ForwardPass
        );
        let e = parse(&["try_first_pass", "forward_pass"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "module argument 'forward_pass': conflicts with 'try_first_pass'"
        );
    }

    #[test]
    fn unknown_and_malformed_arguments_are_errors() {
        assert_eq!(
            parse(&["nulok"]).unwrap_err(),
            PamArgsError::Unknown("nulok".into())
        );
        // Only the name is reported, never the value.
        let e = parse(&["pasword=hunter2"]).unwrap_err().to_string();
        assert_eq!(e, "unknown module argument 'pasword'");
        // A hostile name cannot forge a log line.
        let e = parse(&["x\nmfa: decision=allow"]).unwrap_err().to_string();
        assert!(!e.contains('\n'), "{e}");
        for (arg, msg) in [
            ("nullok=1", "takes no value"),
            ("secret=", "needs a value"),
            ("config", "needs a value"),
            ("grace_period=soon", "seconds"),
            ("grace_period=-1", "seconds"),
            ("allowed_perm=0999", "octal"),
            ("allowed_perm=17777", "out of range"),
            ("allowed_perm=+600", "octal"),
            ("allowed_perm= 600", "octal"),
            ("factor=sms", "unknown factor 'sms'"),
            ("factor=totp,,push", "unknown factor ''"),
        ] {
            let e = parse(&[arg]).unwrap_err().to_string();
            assert!(e.contains(msg), "{arg}: {e}");
        }
    }

    #[test]
    fn explicit_config_must_exist_and_errors_name_the_file() {
        let d = tempfile::tempdir().unwrap();
        let missing = d.path().join("absent.toml");
        let a = PamArgs {
            config: Some(missing.clone()),
            ..Default::default()
        };
        let e = a.load_config().unwrap_err();
        assert_eq!(e.file, missing);

        let bad = d.path().join("bad.toml");
        std::fs::write(&bad, "[general]\nfailmode = \"open\"\n").unwrap();
        let a = PamArgs {
            config: Some(bad.clone()),
            nullok: true,
            ..Default::default()
        };
        let e = a.load_config().unwrap_err();
        assert_eq!((e.file.clone(), e.line), (bad, Some(2)), "{e}");
    }

    #[test]
    fn line_overrides_config_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("mfa.toml");
        std::fs::write(
            &p,
            "[totp]\nsecret = \"/srv/ga/${USER}\"\nallowed_perm = \"0400\"\n",
        )
        .unwrap();
        let a = parse(&[&format!("config={}", p.display()), "allowed_perm=0600"]).unwrap();
        let cfg = a.load_config().unwrap();
        assert_eq!(cfg.totp.secret, "/srv/ga/${USER}");
        assert_eq!(cfg.totp.allowed_perm, 0o600);
    }
}
