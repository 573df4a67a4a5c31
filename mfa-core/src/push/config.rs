//! `[push]`: Duo Auth API v2.

use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use toml::Spanned;

use crate::config::{check_url, ConfigError, Locate};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushConfig {
    pub ikey: Spanned<String>,
    /// The integration's secret key: wiped on drop, never shown by `Debug`.
    pub skey: Spanned<SecretString>,
    /// `host[:port]`; always HTTPS.
    pub host: Spanned<String>,
    #[serde(default)]
    pub autopush: bool,
    #[serde(default)]
    pub pushinfo: bool,
    #[serde(default = "default_prompts")]
    pub prompts: Spanned<u32>,
    pub ca_file: Option<PathBuf>,
    /// HTTPS proxy, only ever from here (never from the environment). It
    /// may carry credentials (`https://user:password@proxy:3128`), so it is
    /// never shown by `Debug`.
    pub proxy: Option<Spanned<SecretString>>,
}

fn default_prompts() -> Spanned<u32> {
    Spanned::new(0..0, 3)
}

impl PushConfig {
    pub(crate) fn validate(&self, at: &Locate<'_>) -> Result<(), ConfigError> {
        for (v, span, k) in [
            (self.ikey.get_ref().as_str(), self.ikey.span(), "push.ikey"),
            (
                self.skey.get_ref().expose_secret(),
                self.skey.span(),
                "push.skey",
            ),
            (self.host.get_ref().as_str(), self.host.span(), "push.host"),
        ] {
            if v.trim().is_empty() {
                return Err(at(span, k, "must not be empty".into()));
            }
        }
        if self.host.get_ref().contains("://") || self.host.get_ref().contains('/') {
            return Err(at(
                self.host.span(),
                "push.host",
                "give host[:port] only; the API is always HTTPS".into(),
            ));
        }
        // host[:port] goes into the URL and the signed string: letters,
        // digits, dots, dashes, an optional port, or a bracketed IPv6 address.
        let ok_char =
            |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']');
        if !self.host.get_ref().chars().all(ok_char) {
            return Err(at(
                self.host.span(),
                "push.host",
                "give host[:port] only (letters, digits, '.', '-', ':')".into(),
            ));
        }
        if !(1..=3).contains(self.prompts.get_ref()) {
            return Err(at(
                self.prompts.span(),
                "push.prompts",
                "must be 1, 2 or 3".into(),
            ));
        }
        if let Some(proxy) = &self.proxy {
            check_url(proxy.get_ref().expose_secret(), "push.proxy")
                .map_err(|m| at(proxy.span(), "push.proxy", m))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::path::Path;

    use secrecy::ExposeSecret;

    use crate::config::Config;

    fn parse(push: &str) -> Result<Config, crate::config::ConfigError> {
        Config::parse(
            Path::new("/etc/mfa/mfa.toml"),
            &format!("[general]\nfailmode = \"secure\"\n\n[push]\n{push}"),
        )
    }

    const OK: &str = "ikey = \"DI1\"\nskey = \"s3cr3t-skey\"\nhost = \"api-x.duosecurity.com\"\n";

    #[test]
    fn parses_and_never_shows_the_secret_key() {
        let c = parse(&format!(
            "{OK}prompts = 2\nautopush = true\nproxy = \"https://squid:pr0xy-pw@proxy.example:3128\"\n"
        ))
        .unwrap();
        let debug = format!("{c:?}");
        let p = c.push.unwrap();
        assert_eq!(p.skey.get_ref().expose_secret(), "s3cr3t-skey");
        assert_eq!(*p.prompts.get_ref(), 2);
        assert!(!debug.contains("s3cr3t"), "{debug}");
        // The proxy URL may carry credentials: never shown either.
        assert!(
            !debug.contains("pr0xy-pw") && !debug.contains("squid"),
            "{debug}"
        );
        assert!(debug.contains("[REDACTED]"), "{debug}");
    }

    #[test]
    fn the_built_factor_never_shows_the_key_or_a_number() {
        let c = parse(OK).unwrap();
        let users = crate::config::UsersDb::parse(
            Path::new("/etc/mfa/users.toml"),
            "[users.alice]\nphone = \"+447700900123\"\nduo_username = \"alice.d\"\n",
        )
        .unwrap();
        let f = crate::push::PushFactor::from_config(&c, &std::sync::Arc::new(users)).unwrap();
        let debug = format!("{f:?}");
        assert!(debug.contains("[REDACTED]"), "{debug}");
        assert!(!debug.contains("s3cr3t"), "{debug}");
        assert!(!debug.contains("7700900123"), "{debug}");
    }

    #[test]
    fn errors_name_file_line_and_key() {
        for (extra, key, line, needle) in [
            ("prompts = 4\n", "push.prompts", 8, "1, 2 or 3"),
            ("proxy = \"ftp://x\"\n", "push.proxy", 8, ""),
            (
                "ikey = \"\"\nskey = \"s\"\nhost = \"h\"\n",
                "push.ikey",
                5,
                "empty",
            ),
            (
                "ikey = \"i\"\nskey = \" \"\nhost = \"h\"\n",
                "push.skey",
                6,
                "empty",
            ),
            (
                "ikey = \"i\"\nskey = \"s\"\nhost = \"h/x\"\n",
                "push.host",
                7,
                "host[:port]",
            ),
            (
                "ikey = \"i\"\nskey = \"s\"\nhost = \"h x@evil\"\n",
                "push.host",
                7,
                "host[:port]",
            ),
        ] {
            let src = if extra.starts_with("ikey") {
                extra.to_owned()
            } else {
                format!("{OK}{extra}")
            };
            let e = parse(&src).unwrap_err();
            assert_eq!(e.key.as_deref(), Some(key), "{e}");
            assert_eq!(e.line, Some(line), "{e}");
            assert!(
                e.to_string()
                    .starts_with(&format!("/etc/mfa/mfa.toml:{line}")),
                "{e}"
            );
            assert!(e.message.contains(needle), "{e}");
            assert!(!e.to_string().contains("s3cr3t"), "{e}");
        }
    }
}
