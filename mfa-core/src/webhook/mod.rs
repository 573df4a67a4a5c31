//! Webhook factor: a one-time code posted to a team channel (Slack, Teams,
//! Discord or any JSON webhook), typed back by the person logging in.
//!
//! - [`code`]: uniform codes from the injected random source, session tags,
//!   expiry, single use, constant-time comparison.
//! - [`template`]: payload templates and presets, with per-destination
//!   escaping checked at config load.
//! - [`factor`]: the [`crate::Factor`] tying them to
//!   [`crate::provider::webhook`] and a conversation.
//!
//! See `docs/webhook.md`.

pub mod code;
pub mod factor;
pub mod template;

pub use factor::WebhookFactor;
pub use template::{Template, TemplateError};
