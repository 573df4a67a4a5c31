//! Delivery of one message to an incoming webhook (Slack, Teams, Discord or
//! any JSON endpoint).
//!
//! The webhook URL is a credential: whoever has it can post to the channel.
//! It is never logged and never part of an error: `reqwest` errors quote the
//! URL, so they are reduced to a category here before anything sees them.
//! webhookpam ignored delivery failures and had no timeout; here every
//! request has the configured timeout and anything but a 2xx answer is a
//! [`DeliveryError`].

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::provider::http::{client, wiped_body, HttpSettings, HttpSetupError};
use crate::provider::{
    classify_response, classify_status, effective_timeout, transport, FailureClass, TransportKind,
};

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
    /// The shared failure class. A non-2xx answer is classified by its
    /// status; no answer at all is unavailable.
    pub fn class(&self) -> FailureClass {
        match self {
            DeliveryError::Timeout(_) | DeliveryError::Connect | DeliveryError::Other(_) => {
                FailureClass::Unavailable
            }
            DeliveryError::Status(status) => {
                classify_status(*status, None).unwrap_or(FailureClass::Refused)
            }
        }
    }

    /// Whether the service could not be reached at all (timeout, connection
    /// or TLS failure, 5xx): the only failures `failmode = safe` may forgive.
    /// A 4xx, 429 included, is the service refusing the message, and a
    /// person holding the first factor can provoke one (a burst of parallel
    /// logins meets the channel's rate limit): forgiving it would open
    /// `failmode = safe` on demand.
    pub fn is_unavailable(&self) -> bool {
        self.class() == FailureClass::Unavailable
    }
}

/// A client for one configured webhook. `Debug` never shows the URL.
#[derive(Debug)]
pub struct WebhookClient {
    http: reqwest::Client,
    url: SecretString,
    timeout: Duration,
}

impl WebhookClient {
    /// `url` must already have passed `config::check_url` (https, or http to
    /// loopback).
    pub fn new(url: &str, settings: &HttpSettings<'_>) -> Result<Self, HttpSetupError> {
        Ok(Self {
            http: client(settings)?,
            url: SecretString::from(url),
            timeout: effective_timeout(settings.timeout),
        })
    }

    /// POST `json` (an already rendered payload, holding the code: it is
    /// wiped once sent) and wait for a 2xx answer. The body of the answer
    /// is not read: services answer `ok`, 204 or a short error text, none
    /// of which changes the outcome.
    pub async fn post(&self, json: Zeroizing<String>) -> Result<(), DeliveryError> {
        let sent = self
            .http
            .post(self.url.expose_secret())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(wiped_body(json))
            .send()
            .await;
        let response = sent.map_err(|e| self.no_answer(&e))?;
        match classify_response(&response) {
            None => Ok(()),
            Some(_) => Err(DeliveryError::Status(response.status().as_u16())),
        }
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Only the kind of failure: the causes below reqwest's message could
    /// still echo the URL, which is a credential.
    fn no_answer(&self, e: &reqwest::Error) -> DeliveryError {
        match transport(e).kind {
            TransportKind::Timeout => DeliveryError::Timeout(self.timeout),
            TransportKind::Connect => DeliveryError::Connect,
            TransportKind::Request => DeliveryError::Other("request"),
            TransportKind::Other => DeliveryError::Other("transport"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_no_answer_or_5xx_is_unavailable() {
        for e in [
            DeliveryError::Timeout(Duration::from_secs(1)),
            DeliveryError::Connect,
            DeliveryError::Other("transport"),
            DeliveryError::Status(500),
            DeliveryError::Status(503),
        ] {
            assert!(e.is_unavailable(), "{e}");
        }
        for status in [301, 302, 400, 403, 404, 410, 429] {
            assert!(!DeliveryError::Status(status).is_unavailable(), "{status}");
        }
    }

    #[test]
    fn debug_never_shows_the_url() {
        let c = WebhookClient::new(
            "https://hooks.example.com/services/T0/B0/SECRET-TOKEN",
            &HttpSettings::default(),
        )
        .unwrap();
        let d = format!("{c:?}");
        assert!(
            !d.contains("SECRET-TOKEN") && !d.contains("hooks.example"),
            "{d}"
        );
        assert_eq!(c.timeout(), crate::provider::DEFAULT_TIMEOUT);
    }
}
