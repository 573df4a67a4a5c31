//! `[phonecheck]`: tru.ID PhoneCheck v0.2.

use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use super::{check_url, ConfigError, Locate};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhoneCheckConfig {
    pub api_base_url: Spanned<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// tru.ID's `tru.json` credentials file, instead of the two keys above.
    pub credentials_file: Option<PathBuf>,
    pub redirect_url: Spanned<String>,
    pub ca_file: Option<PathBuf>,
}

impl PhoneCheckConfig {
    pub(crate) fn validate(&self, at: &Locate<'_>) -> Result<(), ConfigError> {
        check_url(self.api_base_url.get_ref(), "phonecheck.api_base_url")
            .map_err(|m| at(self.api_base_url.span(), "phonecheck.api_base_url", m))?;
        check_url(self.redirect_url.get_ref(), "phonecheck.redirect_url")
            .map_err(|m| at(self.redirect_url.span(), "phonecheck.redirect_url", m))?;
        let inline = self.client_id.is_some() && self.client_secret.is_some();
        if inline == self.credentials_file.is_some() {
            return Err(at(
                self.api_base_url.span(),
                "phonecheck.client_secret",
                "set either client_id and client_secret, or credentials_file".into(),
            ));
        }
        Ok(())
    }
}
