//! `[webhook]`: one-time code posted to a team channel.

use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use secrecy::{ExposeSecret, SecretString};

use crate::config::{check_url, ConfigError, Locate};
use crate::webhook::template::Template;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookPreset {
    Slack,
    Teams,
    Discord,
    #[default]
    Generic,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// The incoming-webhook URL: a credential (it authorizes posting), so
    /// never shown by `Debug`.
    pub url: Spanned<SecretString>,
    #[serde(default)]
    pub preset: WebhookPreset,
    /// Custom JSON payload with `{{variables}}`; overrides the preset's.
    pub template: Option<Spanned<String>>,
    #[serde(default = "default_code_digits")]
    pub code_digits: Spanned<u32>,
    /// Seconds a code stays valid after it was sent.
    #[serde(default = "default_expiry")]
    pub expiry_secs: Spanned<u64>,
    /// How many codes a person may type for one message.
    #[serde(default = "default_attempts")]
    pub attempts: Spanned<u32>,
    /// Show the code while it is typed (off by default).
    #[serde(default)]
    pub echo_code: bool,
    pub ca_file: Option<PathBuf>,
}

fn default_code_digits() -> Spanned<u32> {
    Spanned::new(0..0, 8)
}
fn default_expiry() -> Spanned<u64> {
    Spanned::new(0..0, 300)
}
fn default_attempts() -> Spanned<u32> {
    Spanned::new(0..0, 3)
}

impl WebhookConfig {
    /// The message template (custom or preset), parsed and checked.
    pub fn template(&self) -> Result<Template, crate::webhook::template::TemplateError> {
        Template::for_config(
            self.preset,
            self.template.as_ref().map(|t| t.get_ref().as_str()),
        )
    }

    pub(crate) fn validate(&self, at: &Locate<'_>) -> Result<(), ConfigError> {
        // The error message never repeats the URL: it is a credential.
        check_url(self.url.get_ref().expose_secret(), "webhook.url")
            .map_err(|m| at(self.url.span(), "webhook.url", m))?;
        if !(6..=10).contains(self.code_digits.get_ref()) {
            return Err(at(
                self.code_digits.span(),
                "webhook.code_digits",
                "must be between 6 and 10".into(),
            ));
        }
        if !(30..=900).contains(self.expiry_secs.get_ref()) {
            return Err(at(
                self.expiry_secs.span(),
                "webhook.expiry_secs",
                "must be between 30 and 900 seconds".into(),
            ));
        }
        if !(1..=10).contains(self.attempts.get_ref()) {
            return Err(at(
                self.attempts.span(),
                "webhook.attempts",
                "must be between 1 and 10".into(),
            ));
        }
        if let Err(e) = self.template() {
            let (span, key) = match &self.template {
                Some(t) => (t.span(), "webhook.template"),
                None => (0..0, "webhook.preset"),
            };
            return Err(at(span, key, e.to_string()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{Config, ConfigError};

    fn parse(src: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/mfa/mfa.toml"), src)
    }

    fn located(src: &str) -> (Option<usize>, Option<String>, String) {
        let e = parse(src).unwrap_err();
        assert!(e.to_string().starts_with("/etc/mfa/mfa.toml:"), "{e}");
        (e.line, e.key, e.message)
    }

    #[test]
    fn defaults_and_full_section() {
        let c = parse("[webhook]\nurl = \"https://hooks.slack.com/services/T/B/X\"\n").unwrap();
        // The URL authorizes posting: Debug of the config never shows it.
        let debug = format!("{c:?}");
        assert!(!debug.contains("hooks.slack.com"), "{debug}");
        let w = c.webhook.unwrap();
        assert_eq!(*w.code_digits.get_ref(), 8);
        assert_eq!(*w.expiry_secs.get_ref(), 300);
        assert_eq!(*w.attempts.get_ref(), 3);
        assert!(!w.echo_code);
        let c = parse(
            "[webhook]\nurl = \"https://x/y\"\npreset = \"teams\"\ncode_digits = 10\n\
             expiry_secs = 60\nattempts = 1\necho_code = true\n\
             template = '''\n{\"text\": \"{{code}} {{session}}\"}\n'''\n",
        )
        .unwrap();
        assert!(c.webhook.unwrap().template().is_ok());
    }

    #[test]
    fn template_errors_name_file_line_and_key() {
        let (line, key, msg) = located(
            "[webhook]\nurl = \"https://x/y\"\n\ntemplate = '{\"text\": \"{{code}} {{usr}}\"}'\n",
        );
        assert_eq!((line, key.as_deref()), (Some(4), Some("webhook.template")));
        assert!(msg.contains("unknown variable {{usr}}"), "{msg}");

        let (line, key, msg) = located(
            "[webhook]\nurl = \"https://x/y\"\ntemplate = '''\n{\"text\": \"{{code}}\",}\n'''\n",
        );
        assert_eq!((line, key.as_deref()), (Some(3), Some("webhook.template")));
        assert!(msg.contains("not valid JSON"), "{msg}");

        let (_, key, msg) =
            located("[webhook]\nurl = \"https://x/y\"\ntemplate = '{\"n\": {{code}}}'\n");
        assert_eq!(key.as_deref(), Some("webhook.template"));
        assert!(msg.contains("inside a JSON string"), "{msg}");

        let (_, _, msg) =
            located("[webhook]\nurl = \"https://x/y\"\ntemplate = '{\"t\": \"hi\"}'\n");
        assert!(msg.contains("{{code}}"), "{msg}");
    }

    #[test]
    fn numeric_keys_are_range_checked_with_their_line() {
        for (src, key) in [
            ("expiry_secs = 5", "webhook.expiry_secs"),
            ("expiry_secs = 3600", "webhook.expiry_secs"),
            ("attempts = 0", "webhook.attempts"),
            ("attempts = 11", "webhook.attempts"),
            ("code_digits = 11", "webhook.code_digits"),
        ] {
            let (line, k, _) = located(&format!("[webhook]\nurl = \"https://x/y\"\n{src}\n"));
            assert_eq!((line, k.as_deref()), (Some(3), Some(key)), "{src}");
        }
        // (The key serde reports for a bad enum value is the value itself;
        // the line and message still point at the mistake.)
        let (line, _, msg) = located("[webhook]\nurl = \"https://x/y\"\npreset = \"irc\"\n");
        assert_eq!(line, Some(3));
        assert!(msg.contains("slack") && msg.contains("discord"), "{msg}");
    }

    #[test]
    fn url_errors_never_repeat_the_url() {
        let (line, key, msg) =
            located("[webhook]\nurl = \"http://hooks.example.com/services/SECRET123\"\n");
        assert_eq!((line, key.as_deref()), (Some(2), Some("webhook.url")));
        assert!(!msg.contains("SECRET123"), "{msg}");
    }
}
