//! Delivery of one message to an incoming webhook (Slack, Teams, Discord or
//! any JSON endpoint).
//!
//! The webhook URL is a credential: whoever has it can post to the channel.
//! It is never logged and never part of an error: `reqwest` errors quote the
//! URL, so they are reduced to a category here before anything sees them.
//! webhookpam ignored delivery failures and had no timeout; here every
//! request has the configured timeout and anything but a 2xx answer is a
//! [`DeliveryError`].

use std::fmt;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::provider::http::{client, HttpSettings, HttpSetupError};

/// Why a message was not delivered. Never holds the URL or the payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    #[error("the webhook did not answer within {0:?}")]
    Timeout(Duration),
    #[error("cannot connect to the webhook host")]
    Connect,
    #[error("the webhook answered HTTP {0}")]
    Status(u16),
    #[error("the webhook request failed ({0})")]
    Other(&'static str),
}

impl DeliveryError {
    /// Whether the service could not be reached at all (timeout, connection
    /// or TLS failure, 5xx): the only failures `failmode = safe` may forgive.
    /// A 4xx, 429 included, is the service refusing the message, and a
    /// person holding the first factor can provoke one (a burst of parallel
    /// logins meets the channel's rate limit): forgiving it would open
    /// `failmode = safe` on demand.
    pub fn is_unavailable(&self) -> bool {
        match self {
            DeliveryError::Timeout(_) | DeliveryError::Connect | DeliveryError::Other(_) => true,
            DeliveryError::Status(status) => (500..=599).contains(status),
        }
    }
}

/// A client for one configured webhook.
pub struct WebhookClient {
    http: reqwest::Client,
    url: Zeroizing<String>,
    timeout: Duration,
}

impl fmt::Debug for WebhookClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookClient")
            .field("url", &"<redacted>")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl WebhookClient {
    /// `url` must already have passed `config::check_url` (https, or http to
    /// loopback).
    pub fn new(url: &str, settings: &HttpSettings<'_>) -> Result<Self, HttpSetupError> {
        Ok(Self {
            http: client(settings)?,
            url: Zeroizing::new(url.to_owned()),
            timeout: effective_timeout(settings.timeout),
        })
    }

    /// POST `json` (an already rendered payload) and wait for a 2xx answer.
    /// The body of the answer is not read: services answer `ok`, 204 or a
    /// short error text, none of which changes the outcome.
    pub async fn post(&self, json: &str) -> Result<(), DeliveryError> {
        let sent = self
            .http
            .post(self.url.as_str())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(json.to_owned())
            .send()
            .await;
        let response = sent.map_err(|e| self.classify(&e))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(DeliveryError::Status(status.as_u16()))
        }
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn classify(&self, e: &reqwest::Error) -> DeliveryError {
        if e.is_timeout() {
            DeliveryError::Timeout(self.timeout)
        } else if e.is_connect() {
            DeliveryError::Connect
        } else if e.is_redirect() {
            DeliveryError::Other("redirect")
        } else if e.is_request() {
            DeliveryError::Other("request")
        } else {
            DeliveryError::Other("transport")
        }
    }
}

/// The timeout `http::client` applies (zero means its default).
fn effective_timeout(t: Duration) -> Duration {
    if t.is_zero() {
        Duration::from_secs(10)
    } else {
        t
    }
}
