//! Building factor implementations from configuration.
//!
//! Every factor is built from the whole config (its own section plus
//! `[general]` timeouts) and the users file (phone numbers, Duo user names),
//! shared read-only for the life of one engine.

use std::sync::Arc;

use super::{Factor, FactorKind};
use crate::config::{Config, ConfigError, UsersDb};
use crate::phonecheck::PhoneCheckFactor;
use crate::push::PushFactor;
use crate::totp::TotpFactor;
use crate::webhook::WebhookFactor;

/// Build the implementation of `kind` from `config` and the users file.
pub fn build(
    kind: FactorKind,
    config: &Config,
    users: &Arc<UsersDb>,
) -> Result<Arc<dyn Factor>, ConfigError> {
    match kind {
        FactorKind::Totp => Ok(Arc::new(TotpFactor::new(config.totp.clone()))),
        FactorKind::Phonecheck => Ok(Arc::new(PhoneCheckFactor::from_config(config, users)?)),
        FactorKind::Webhook => Ok(Arc::new(WebhookFactor::from_config(config)?)),
        FactorKind::Push => Ok(Arc::new(PushFactor::from_config(config, users)?)),
    }
}
