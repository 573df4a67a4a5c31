//! Building factor implementations from configuration.

use std::sync::Arc;

use crate::config::{Config, ConfigError};
use crate::factor::{Factor, FactorKind};
use crate::totp::TotpFactor;

/// Build the implementation of `kind` from `config`.
pub fn build(kind: FactorKind, config: &Config) -> Result<Arc<dyn Factor>, ConfigError> {
    let file = config
        .source
        .clone()
        .unwrap_or_else(|| "(built-in default)".into());
    match kind {
        FactorKind::Totp => Ok(Arc::new(TotpFactor::new(config.totp.clone()))),
        FactorKind::Phonecheck | FactorKind::Webhook | FactorKind::Push => Err(ConfigError {
            file,
            line: None,
            key: Some("policy.factors".into()),
            message: format!("the {kind} factor is not available in this build yet"),
        }),
    }
}
