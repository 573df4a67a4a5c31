//! `[webhook]`: one-time code posted to a team channel.

use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use super::{check_url, ConfigError, Locate};

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
    pub url: Spanned<String>,
    #[serde(default)]
    pub preset: WebhookPreset,
    pub template: Option<Spanned<String>>,
    #[serde(default = "default_code_digits")]
    pub code_digits: Spanned<u32>,
    #[serde(default = "default_expiry")]
    pub expiry_secs: u64,
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    pub ca_file: Option<PathBuf>,
}

fn default_code_digits() -> Spanned<u32> {
    Spanned::new(0..0, 8)
}
fn default_expiry() -> u64 {
    300
}
fn default_attempts() -> u32 {
    3
}

impl WebhookConfig {
    pub(crate) fn validate(&self, at: &Locate<'_>) -> Result<(), ConfigError> {
        check_url(self.url.get_ref(), "webhook.url")
            .map_err(|m| at(self.url.span(), "webhook.url", m))?;
        if !(6..=10).contains(self.code_digits.get_ref()) {
            return Err(at(
                self.code_digits.span(),
                "webhook.code_digits",
                "must be between 6 and 10".into(),
            ));
        }
        Ok(())
    }
}
