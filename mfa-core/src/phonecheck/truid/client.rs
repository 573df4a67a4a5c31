//! The HTTP client: token cache, create / get / patch, error mapping.

use std::path::Path;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use tokio::sync::Mutex;
use tokio::time::Instant;
use zeroize::Zeroizing;

use super::credentials::Credentials;
use super::types::{state_of, CheckState, CreateBody, CreatedCheck, TokenBody};
use super::{clip, valid_check_id, TruIdError, CHECKS_PATH, SCOPE, TOKEN_PATH};
use crate::config::{check_url, PhoneCheckConfig};
use crate::provider::http::{client, wiped_body, HttpSettings};
use crate::provider::{self, FailureClass};

#[derive(Debug)]
struct CachedToken {
    value: SecretString,
    refresh_at: Instant,
}

/// The tru.ID API client. One per factor; it is `Sync` and caches the
/// access token across logins of one process. `Debug` shows neither the
/// client secret nor the token.
#[derive(Debug)]
pub struct TruIdClient {
    http: reqwest::Client,
    base: String,
    creds: Credentials,
    token: Mutex<Option<CachedToken>>,
}

fn transport(e: &reqwest::Error) -> TruIdError {
    TruIdError::Unavailable(provider::transport(e).kind.as_str().into())
}

/// Map a non-success status to an error by the shared classifier; a
/// refusal's `detail` comes from problem+json.
async fn status_error(resp: reqwest::Response) -> TruIdError {
    let status = resp.status().as_u16();
    match provider::classify_response(&resp) {
        Some(FailureClass::RateLimited { retry_after }) => {
            return TruIdError::RateLimited { retry_after }
        }
        Some(FailureClass::Unavailable) => {
            return TruIdError::Unavailable(format!("HTTP {status}"))
        }
        Some(FailureClass::Refused) | None => {}
    }
    let body: Option<serde_json::Value> = provider::read_capped(resp, provider::MAX_BODY)
        .await
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let detail = body
        .as_ref()
        .and_then(|b| b.get("detail").or_else(|| b.get("title")))
        .and_then(|d| d.as_str())
        .map(clip)
        .unwrap_or_default();
    TruIdError::Rejected { status, detail }
}

async fn json_body<T: serde::de::DeserializeOwned>(
    resp: reqwest::Response,
) -> Result<T, TruIdError> {
    let bytes = provider::read_capped(resp, provider::MAX_BODY)
        .await
        .map_err(|e| match e {
            provider::BodyError::Transport(t) => TruIdError::Unavailable(t.kind.as_str().into()),
            too_large => TruIdError::Unavailable(too_large.describe()),
        })?;
    serde_json::from_slice(&bytes)
        .map_err(|_| TruIdError::Unavailable("answer is not the documented JSON".into()))
}

impl TruIdClient {
    /// `base` is the API base URL (`https://eu.api.tru.id`); it must pass
    /// the config's URL rule (https, or http to loopback).
    pub fn new(
        base: &str,
        creds: Credentials,
        timeout: Duration,
        ca_file: Option<&Path>,
    ) -> Result<Self, TruIdError> {
        check_url(base, "phonecheck.api_base_url").map_err(TruIdError::Config)?;
        let http = client(&HttpSettings {
            timeout,
            ca_file,
            proxy: None,
        })
        .map_err(|e| TruIdError::Config(e.to_string()))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            creds,
            token: Mutex::new(None),
        })
    }

    pub fn from_config(cfg: &PhoneCheckConfig, timeout: Duration) -> Result<Self, TruIdError> {
        Self::new(
            cfg.api_base_url.get_ref(),
            Credentials::from_config(cfg)?,
            timeout,
            cfg.ca_file.as_deref(),
        )
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Are the credentials accepted? (A token is fetched, as `mfa doctor`
    /// checks; it stays cached for the next call.)
    pub async fn check_credentials(&self) -> Result<(), TruIdError> {
        self.token().await.map(|_| ())
    }

    /// A valid access token: the cached one, or a new one. The lock is held
    /// while fetching so concurrent callers share one token request.
    async fn token(&self) -> Result<SecretString, TruIdError> {
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref() {
            if Instant::now() < t.refresh_at {
                return Ok(t.value.clone());
            }
        }
        *cached = None;
        let resp = self
            .http
            .post(format!("{}{TOKEN_PATH}", self.base))
            .basic_auth(
                &self.creds.client_id,
                Some(self.creds.client_secret.expose_secret()),
            )
            .form(&[("grant_type", "client_credentials"), ("scope", SCOPE)])
            .send()
            .await
            .map_err(|e| transport(&e))?;
        let status = resp.status().as_u16();
        if status == 401 || status == 403 {
            return Err(TruIdError::Unauthorized(status));
        }
        if !resp.status().is_success() {
            return Err(status_error(resp).await);
        }
        let body: TokenBody = json_body(resp).await?;
        if body.access_token.expose_secret().is_empty() {
            return Err(TruIdError::Unavailable("empty access token".into()));
        }
        // Refresh a minute early (or at half-life for short tokens) so a
        // token never expires between our check and the provider's.
        let margin = (body.expires_in / 2).min(60);
        let lifetime = provider::provider_secs(body.expires_in.saturating_sub(margin));
        if !lifetime.is_zero() {
            *cached = Some(CachedToken {
                value: body.access_token.clone(),
                refresh_at: Instant::now() + lifetime,
            });
        }
        Ok(body.access_token)
    }

    async fn forget_token(&self) {
        *self.token.lock().await = None;
    }

    /// Send an authorised request; on 401 with a cached token, fetch a new
    /// token once and retry (the provider may have revoked it early).
    async fn send(
        &self,
        build: impl Fn(&str) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, TruIdError> {
        for attempt in 0..2 {
            let token = self.token().await?;
            let resp = build(token.expose_secret())
                .send()
                .await
                .map_err(|e| transport(&e))?;
            if resp.status().as_u16() == 401 && attempt == 0 {
                self.forget_token().await;
                continue;
            }
            if !resp.status().is_success() {
                return Err(status_error(resp).await);
            }
            return Ok(resp);
        }
        Err(TruIdError::Unauthorized(401))
    }

    /// Create a PhoneCheck for `phone_digits` (E.164 without `+`).
    pub async fn create_check(
        &self,
        phone_digits: &str,
        redirect_url: &str,
    ) -> Result<CreatedCheck, TruIdError> {
        let url = format!("{}{CHECKS_PATH}", self.base);
        let body = json!({ "phone_number": phone_digits, "redirect_url": redirect_url });
        let resp = self
            .send(|token| self.http.post(&url).bearer_auth(token).json(&body))
            .await?;
        let b: CreateBody = json_body(resp).await?;
        if !valid_check_id(&b.check_id) {
            return Err(TruIdError::Unavailable(
                "answer holds a malformed check_id".into(),
            ));
        }
        // The phone will open this URL: it must be https (or loopback in
        // tests), never e.g. javascript: or plain http to the internet.
        check_url(&b.links.check_url.href, "check_url")
            .map_err(|_| TruIdError::Unavailable("answer holds an unusable check_url".into()))?;
        Ok(CreatedCheck {
            check_id: b.check_id,
            status: b.status,
            ttl: b.ttl,
            check_url: b.links.check_url.href,
        })
    }

    fn check_path(&self, check_id: &str) -> Result<String, TruIdError> {
        if !valid_check_id(check_id) {
            return Err(TruIdError::Rejected {
                status: 400,
                detail: "malformed check id".into(),
            });
        }
        Ok(format!("{}{CHECKS_PATH}/{check_id}", self.base))
    }

    /// The current state of a check.
    pub async fn get_check(&self, check_id: &str) -> Result<CheckState, TruIdError> {
        let url = self.check_path(check_id)?;
        let resp = self
            .send(|token| self.http.get(&url).bearer_auth(token))
            .await?;
        state_of(check_id, json_body(resp).await?)
    }

    /// Complete a check with the code the operator handed to the phone.
    pub async fn patch_check(&self, check_id: &str, code: &str) -> Result<CheckState, TruIdError> {
        let url = self.check_path(check_id)?;
        let body = patch_body(code);
        let resp = self
            .send(|token| {
                self.http
                    .patch(&url)
                    .bearer_auth(token)
                    .header(reqwest::header::CONTENT_TYPE, "application/json-patch+json")
                    .body(wiped_body(body.clone()))
            })
            .await?;
        state_of(check_id, json_body(resp).await?)
    }
}

/// The JSON Patch that hands the check its code, written straight into a
/// buffer that is wiped (no `serde_json::Value` holding a copy of the
/// code), sized for the worst escaping (`\uXXXX`, six bytes per byte) so it
/// never reallocates.
fn patch_body(code: &str) -> Zeroizing<Vec<u8>> {
    #[derive(serde::Serialize)]
    struct Op<'a> {
        op: &'static str,
        path: &'static str,
        value: &'a str,
    }
    let mut buf = Zeroizing::new(Vec::with_capacity(64 + code.len() * 6));
    let op = [Op {
        op: "add",
        path: "/code",
        value: code,
    }];
    // Writing to a Vec cannot fail; an empty body is refused by the server.
    if serde_json::to_writer(&mut *buf, &op).is_err() {
        buf.clear();
    }
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_patch_body_is_the_json_patch_with_the_code() {
        for code in ["123456", "a\"b\\c\u{1}é"] {
            let body = patch_body(code);
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v, json!([{ "op": "add", "path": "/code", "value": code }]));
            assert!(body.len() <= 64 + code.len() * 6, "{}", body.len());
        }
    }

    #[test]
    fn client_refuses_plain_http_to_the_internet() {
        let e = TruIdClient::new(
            "http://api.example.com",
            Credentials::new("i", "s"),
            Duration::from_secs(1),
            None,
        )
        .unwrap_err();
        assert!(matches!(e, TruIdError::Config(_)));
    }

    #[test]
    fn debug_never_shows_the_secret_or_the_token() {
        let c = TruIdClient::new(
            "https://eu.api.tru.id",
            Credentials::new("client-id", "very-secret-xyz"),
            Duration::from_secs(1),
            None,
        )
        .unwrap();
        *c.token.try_lock().unwrap() = Some(CachedToken {
            value: "access-token-abc".into(),
            refresh_at: Instant::now(),
        });
        let d = format!("{c:?}");
        assert!(d.contains("client-id") && d.contains("[REDACTED]"), "{d}");
        assert!(
            !d.contains("very-secret") && !d.contains("access-token-abc"),
            "{d}"
        );
    }
}
