//! Webhook factor: a one-time code posted to a team channel (Slack, Teams,
//! Discord or any JSON webhook), typed back by the person logging in.
//!
//! - [`config`]: the `[webhook]` section.
//! - [`client`]: delivery of one message (timeouts, the URL kept secret).
//! - [`code`]: uniform codes from the injected random source, session tags,
//!   expiry, single use, constant-time comparison.
//! - [`template`]: payload templates and presets, checked at config load.
//! - [`escape`]: how each value is made safe for where it lands.
//! - [`time`]: RFC 3339 time stamps for `{{time}}`.
//! - [`factor`]: the [`crate::Factor`] tying them to
//!   [`client`] and a conversation.
//!
//! See `docs/webhook.md`.

pub mod client;
pub mod code;
pub mod config;
pub mod escape;
pub mod factor;
pub mod template;
pub mod time;

pub use factor::WebhookFactor;
pub use template::{Template, TemplateError};
