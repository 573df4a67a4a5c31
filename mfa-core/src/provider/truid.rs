//! tru.ID PhoneCheck v0.2 client: OAuth2 client-credentials token (cached
//! until shortly before it expires), create / get / patch a check.
//!
//! Errors are typed so the factor can tell "the provider is not there"
//! ([`TruIdError::Unavailable`], the only class `failmode = safe` may turn
//! into an allow) from "the provider said no" (everything else).
//! Secrets are zeroized, never shown by `Debug`, never put in an error.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use tokio::sync::Mutex;
use tokio::time::Instant;
use zeroize::Zeroizing;

use super::http::{client, HttpSettings};
use crate::config::{check_secret_file_permissions, check_url, read_config_file, PhoneCheckConfig};
use crate::sanitize::strip_control;

pub const TOKEN_PATH: &str = "/oauth2/v1/token";
pub const CHECKS_PATH: &str = "/phone_check/v0.2/checks";
/// The scope a PhoneCheck token needs (and the only one we ask for).
pub const SCOPE: &str = "phone_check";

/// Longest provider text kept for logs (problem details, error codes).
const MAX_DETAIL: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TruIdError {
    /// Unreachable, timed out, 5xx, or an answer that is not what the API
    /// documents. `failmode` applies only if this happens before the user
    /// was shown anything.
    #[error("tru.ID unavailable: {0}")]
    Unavailable(String),
    /// 429: try again after the given delay (if the provider said).
    #[error("tru.ID rate limit reached")]
    RateLimited { retry_after: Option<Duration> },
    /// 401/403 on the token: the configured credentials are wrong.
    #[error("tru.ID refused the credentials (HTTP {0})")]
    Unauthorized(u16),
    /// Any other 4xx: the request was refused (bad number, operator not
    /// supported, conflict...). `detail` is the provider's text, sanitised.
    #[error("tru.ID refused the request (HTTP {status}): {detail}")]
    Rejected { status: u16, detail: String },
    /// Local misconfiguration (credentials file, URL, CA file).
    #[error("tru.ID client configuration: {0}")]
    Config(String),
}

/// Client id and secret. The secret is wiped on drop and never printed.
#[derive(Clone)]
pub struct Credentials {
    pub client_id: String,
    client_secret: Zeroizing<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish()
    }
}

#[derive(Deserialize)]
struct TruJson {
    credentials: Vec<TruJsonCredential>,
}

#[derive(Deserialize)]
struct TruJsonCredential {
    client_id: String,
    #[serde(deserialize_with = "zeroizing")]
    client_secret: Zeroizing<String>,
}

/// Deserialize a secret string straight into wiped-on-drop storage.
fn zeroizing<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Zeroizing<String>, D::Error> {
    String::deserialize(d).map(Zeroizing::new)
}

impl Credentials {
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: Zeroizing::new(client_secret.into()),
        }
    }

    /// Read tru.ID's `tru.json` (`{"credentials":[{"client_id", "client_secret", ...}], ...}`,
    /// as written by `tru projects:create`). The file must be root-owned,
    /// not writable by others and not readable by others: it holds the
    /// secret the tutorial left world-readable.
    pub fn from_tru_json(path: &Path) -> Result<Self, TruIdError> {
        let text =
            Zeroizing::new(read_config_file(path).map_err(|e| TruIdError::Config(e.to_string()))?);
        check_secret_file_permissions(path).map_err(|e| TruIdError::Config(e.to_string()))?;
        let parsed: TruJson = serde_json::from_str(&text).map_err(|e| {
            // serde's message names the line and column, never the value.
            TruIdError::Config(format!(
                "{}: not a tru.json credentials file (line {}, column {})",
                path.display(),
                e.line(),
                e.column()
            ))
        })?;
        let first = parsed.credentials.into_iter().next().ok_or_else(|| {
            TruIdError::Config(format!("{}: \"credentials\" is empty", path.display()))
        })?;
        if first.client_id.is_empty() || first.client_secret.is_empty() {
            return Err(TruIdError::Config(format!(
                "{}: client_id or client_secret is empty",
                path.display()
            )));
        }
        Ok(Self {
            client_id: first.client_id,
            client_secret: first.client_secret,
        })
    }

    /// From `[phonecheck]`: inline keys or `credentials_file`.
    pub fn from_config(cfg: &PhoneCheckConfig) -> Result<Self, TruIdError> {
        match (&cfg.client_id, &cfg.client_secret, &cfg.credentials_file) {
            (Some(id), Some(secret), None) => Ok(Self::new(id.clone(), secret.as_str())),
            (_, _, Some(path)) => Self::from_tru_json(path),
            _ => Err(TruIdError::Config(
                "set either client_id and client_secret, or credentials_file".into(),
            )),
        }
    }
}

/// Status of a PhoneCheck, as the API spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CheckStatus {
    Accepted,
    Pending,
    Completed,
    Expired,
    Error,
    /// Anything the API adds later: never an allow.
    #[serde(other)]
    Unknown,
}

impl CheckStatus {
    /// Still waiting for the phone.
    pub fn is_open(self) -> bool {
        matches!(self, CheckStatus::Accepted | CheckStatus::Pending)
    }
}

/// A check as returned by GET or PATCH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckState {
    pub check_id: String,
    pub status: CheckStatus,
    /// `match`: the phone that opened the link has the SIM of the number.
    pub matched: bool,
    /// With `ERROR`: the provider's code, sanitised.
    pub error_code: Option<String>,
}

impl CheckState {
    /// The only state that allows a login.
    pub fn verified(&self) -> bool {
        self.status == CheckStatus::Completed && self.matched
    }
}

/// A freshly created check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedCheck {
    pub check_id: String,
    pub status: CheckStatus,
    /// Seconds the check stays open, if the provider said.
    pub ttl: Option<u64>,
    /// The URL the phone must open over mobile data.
    pub check_url: String,
}

#[derive(Deserialize)]
struct TokenBody {
    #[serde(deserialize_with = "zeroizing")]
    access_token: Zeroizing<String>,
    expires_in: u64,
}

#[derive(Deserialize)]
struct Href {
    href: String,
}

#[derive(Deserialize)]
struct CreateLinks {
    check_url: Href,
}

#[derive(Deserialize)]
struct CreateBody {
    check_id: String,
    status: CheckStatus,
    #[serde(default)]
    ttl: Option<u64>,
    #[serde(rename = "_links")]
    links: CreateLinks,
}

#[derive(Deserialize)]
struct StateBody {
    check_id: String,
    status: CheckStatus,
    #[serde(rename = "match", default)]
    matched: bool,
    #[serde(default)]
    error_code: Option<String>,
}

struct CachedToken {
    value: Zeroizing<String>,
    refresh_at: Instant,
}

/// The tru.ID API client. One per factor; it is `Sync` and caches the
/// access token across logins of one process.
pub struct TruIdClient {
    http: reqwest::Client,
    base: String,
    creds: Credentials,
    token: Mutex<Option<CachedToken>>,
}

impl fmt::Debug for TruIdClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TruIdClient")
            .field("base", &self.base)
            .field("creds", &self.creds)
            .finish_non_exhaustive()
    }
}

/// Whether `id` can be a tru.ID check id: hex digits and dashes (UUIDs),
/// 8 to 64 characters. Anything else never reaches a URL path.
pub fn valid_check_id(id: &str) -> bool {
    (8..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

/// Whether `code` can be an operator code from the redirect: 1 to 128
/// URL-safe characters (letters, digits, `-`, `_`, `.`, `~`).
pub fn valid_code(code: &str) -> bool {
    (1..=128).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
}

fn clip(text: &str) -> String {
    strip_control(text, false)
        .chars()
        .take(MAX_DETAIL)
        .collect()
}

/// Seconds in a `Retry-After` header (the HTTP-date form is treated as
/// absent: the caller then uses its own back-off).
fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    resp.headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

fn transport(e: &reqwest::Error) -> TruIdError {
    let what = if e.is_timeout() {
        "request timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    TruIdError::Unavailable(what.into())
}

/// Map a non-success status to an error; `detail` from problem+json.
async fn status_error(resp: reqwest::Response) -> TruIdError {
    let status = resp.status().as_u16();
    if status == 429 {
        return TruIdError::RateLimited {
            retry_after: retry_after(&resp),
        };
    }
    if status >= 500 {
        return TruIdError::Unavailable(format!("HTTP {status}"));
    }
    let body: Option<serde_json::Value> = resp.json().await.ok();
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
    let bytes = resp.bytes().await.map_err(|e| transport(&e))?;
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

    /// A valid access token: the cached one, or a new one. The lock is held
    /// while fetching so concurrent callers share one token request.
    async fn token(&self) -> Result<Zeroizing<String>, TruIdError> {
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
                Some(self.creds.client_secret.as_str()),
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
        if body.access_token.is_empty() {
            return Err(TruIdError::Unavailable("empty access token".into()));
        }
        // Refresh a minute early (or at half-life for short tokens) so a
        // token never expires between our check and the provider's.
        let margin = (body.expires_in / 2).min(60);
        let lifetime = Duration::from_secs(body.expires_in.saturating_sub(margin));
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
            let resp = build(&token).send().await.map_err(|e| transport(&e))?;
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
        let body =
            Zeroizing::new(json!([{ "op": "add", "path": "/code", "value": code }]).to_string());
        let resp = self
            .send(|token| {
                self.http
                    .patch(&url)
                    .bearer_auth(token)
                    .header(reqwest::header::CONTENT_TYPE, "application/json-patch+json")
                    .body(body.as_bytes().to_vec())
            })
            .await?;
        state_of(check_id, json_body(resp).await?)
    }
}

fn state_of(asked: &str, b: StateBody) -> Result<CheckState, TruIdError> {
    // An answer about another check is not an answer about ours.
    if b.check_id != asked {
        return Err(TruIdError::Unavailable(
            "answer is about another check".into(),
        ));
    }
    Ok(CheckState {
        check_id: b.check_id,
        status: b.status,
        matched: b.matched,
        error_code: b.error_code.as_deref().map(clip),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures/truid")
            .join(name);
        std::fs::read_to_string(p).unwrap()
    }

    #[test]
    fn recorded_payloads_parse() {
        let t: TokenBody = serde_json::from_str(&fixture("token.json")).unwrap();
        assert_eq!(t.expires_in, 3599);
        let c: CreateBody = serde_json::from_str(&fixture("check_created.json")).unwrap();
        assert_eq!(c.status, CheckStatus::Accepted);
        assert_eq!(c.ttl, Some(60));
        assert!(valid_check_id(&c.check_id));
        assert!(c.links.check_url.href.ends_with("/redirect"));
        let s = state_of(
            "c69bc0e6-a429-11ea-bb37-0242ac130002",
            serde_json::from_str(&fixture("check_completed.json")).unwrap(),
        )
        .unwrap();
        assert!(s.verified());
        let e = state_of(
            "c69bc0e6-a429-11ea-bb37-0242ac130002",
            serde_json::from_str(&fixture("check_error.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(e.status, CheckStatus::Error);
        assert_eq!(e.error_code.as_deref(), Some("mno_redirect_unsupported"));
        assert!(!e.verified());
    }

    #[test]
    fn unknown_status_and_missing_match_never_verify() {
        let s = state_of(
            "abcdef01",
            serde_json::from_str(
                r#"{"check_id":"abcdef01","status":"SOMETHING_NEW","match":true}"#,
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(s.status, CheckStatus::Unknown);
        assert!(!s.verified());
        let s = state_of(
            "abcdef01",
            serde_json::from_str(r#"{"check_id":"abcdef01","status":"COMPLETED"}"#).unwrap(),
        )
        .unwrap();
        assert!(
            !s.verified(),
            "COMPLETED without match:true must not verify"
        );
        let other = state_of(
            "abcdef01",
            serde_json::from_str(r#"{"check_id":"abcdef02","status":"COMPLETED","match":true}"#)
                .unwrap(),
        );
        assert!(matches!(other, Err(TruIdError::Unavailable(_))));
    }

    #[test]
    fn ids_and_codes_are_checked() {
        assert!(valid_check_id("c69bc0e6-a429-11ea-bb37-0242ac130002"));
        for bad in [
            "",
            "short",
            "../../oauth2",
            "c69bc0e6-a429-11ea-bb37-0242ac13000z",
            &"a".repeat(65),
        ] {
            assert!(!valid_check_id(bad), "{bad}");
        }
        assert!(valid_code("Zx9_-.~a"));
        for bad in ["", "a b", "<script>", "a&b=c", "é", &"a".repeat(129)] {
            assert!(!valid_code(bad), "{bad}");
        }
    }

    #[test]
    fn tru_json_is_read_and_its_secret_kept_out_of_debug() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tru.json");
        std::fs::write(&p, fixture("tru.json")).unwrap();
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        let c = Credentials::from_tru_json(&p).unwrap();
        assert_eq!(c.client_id, "fixture-client-id");
        assert_eq!(c.client_secret.as_str(), "fixture-client-secret");
        assert!(!format!("{c:?}").contains("fixture-client-secret"));

        // World-readable: the tutorial's mistake, refused.
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
        let e = Credentials::from_tru_json(&p).unwrap_err();
        assert!(e.to_string().contains("o-rwx"), "{e}");

        // Not tru.json: the error names the place, not the content.
        std::fs::write(&p, "{\"credentials\": \"fixture-secret-x\"}").unwrap();
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        let e = Credentials::from_tru_json(&p).unwrap_err().to_string();
        assert!(
            e.contains("not a tru.json") && !e.contains("fixture-secret-x"),
            "{e}"
        );
        std::fs::write(&p, "{\"credentials\": []}").unwrap();
        assert!(Credentials::from_tru_json(&p)
            .unwrap_err()
            .to_string()
            .contains("empty"));
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
}
