//! `[push]`: Duo Auth API v2.

use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use super::{check_url, ConfigError, Locate};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushConfig {
    pub ikey: Spanned<String>,
    pub skey: Spanned<String>,
    /// `host[:port]`; always HTTPS.
    pub host: Spanned<String>,
    #[serde(default)]
    pub autopush: bool,
    #[serde(default)]
    pub pushinfo: bool,
    #[serde(default = "default_prompts")]
    pub prompts: Spanned<u32>,
    pub ca_file: Option<PathBuf>,
    /// HTTPS proxy, only ever from here (never from the environment).
    pub proxy: Option<Spanned<String>>,
}

fn default_prompts() -> Spanned<u32> {
    Spanned::new(0..0, 3)
}

impl PushConfig {
    pub(crate) fn validate(&self, at: &Locate<'_>) -> Result<(), ConfigError> {
        for (v, k) in [
            (&self.ikey, "push.ikey"),
            (&self.skey, "push.skey"),
            (&self.host, "push.host"),
        ] {
            if v.get_ref().trim().is_empty() {
                return Err(at(v.span(), k, "must not be empty".into()));
            }
        }
        if self.host.get_ref().contains("://") || self.host.get_ref().contains('/') {
            return Err(at(
                self.host.span(),
                "push.host",
                "give host[:port] only; the API is always HTTPS".into(),
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
            check_url(proxy.get_ref(), "push.proxy")
                .map_err(|m| at(proxy.span(), "push.proxy", m))?;
        }
        Ok(())
    }
}
