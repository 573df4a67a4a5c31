//! The Auth API v2 client: signed requests over HTTPS, a timeout on every
//! request, 429 back-off within the caller's deadline, and an error type
//! that says whether the *service* failed (eligible for failmode) or
//! answered and refused (never eligible).

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;
use zeroize::Zeroizing;

use super::date;
use super::error::{decode, interpret, DuoError};
use super::sign::{self, Request};
use super::types::{AuthFactor, AuthStart, AuthStatus, Preauth, ServerTime, TxidOnly};
use crate::context::Clock;
use crate::provider::http::{self, HttpSettings, HttpSetupError};
use crate::provider::{
    classify_response, effective_timeout, read_capped, transport, BodyError, FailureClass, MAX_BODY,
};

/// Connection settings of one Duo integration.
pub struct DuoSettings<'a> {
    pub ikey: &'a str,
    pub skey: &'a str,
    /// `host[:port]`; always HTTPS.
    pub host: &'a str,
    pub http: HttpSettings<'a>,
}

/// A Duo Auth API v2 client. The secret key is wiped on drop and never
/// shown by `Debug`.
#[derive(Debug)]
pub struct DuoClient {
    http: reqwest::Client,
    ikey: String,
    skey: SecretString,
    host: String,
    /// First back-off when a 429 carries no usable `Retry-After`.
    backoff: Duration,
    /// Longest a single request may take (also capped by the deadline).
    timeout: Duration,
}

/// The clock corrected by the server's time (from `/ping`), so that a
/// skewed local clock does not get every request refused.
#[derive(Clone)]
pub struct Stamp {
    clock: Arc<dyn Clock>,
    offset: i64,
}

impl Stamp {
    pub fn new(clock: Arc<dyn Clock>, offset: i64) -> Self {
        Self { clock, offset }
    }

    /// From the server time reported by `/ping`.
    pub fn from_server_time(clock: Arc<dyn Clock>, server_time: u64) -> Self {
        let local = i64::try_from(clock.now_unix()).unwrap_or(i64::MAX);
        let server = i64::try_from(server_time).unwrap_or(i64::MAX);
        Self::new(clock, server.saturating_sub(local))
    }

    pub fn offset(&self) -> i64 {
        self.offset
    }

    pub fn now(&self) -> u64 {
        self.clock.now_unix().saturating_add_signed(self.offset)
    }
}

/// `/preauth` parameters.
pub struct PreauthRequest<'a> {
    pub username: &'a str,
    pub ipaddr: Option<&'a str>,
    pub hostname: &'a str,
}

/// `/auth` parameters.
pub struct AuthRequest<'a> {
    pub username: &'a str,
    pub factor: &'a AuthFactor,
    pub ipaddr: Option<&'a str>,
    pub hostname: &'a str,
    /// Already-encoded `pushinfo` (push and auto only).
    pub pushinfo: Option<&'a str>,
}

/// The shortest pause between a 429 and the retry, whatever Retry-After says.
const MIN_RETRY_PAUSE: Duration = Duration::from_millis(200);

const AUTH_STATUS: &str = "/auth/v2/auth_status";

const NO_PARAMS: &[(&str, &str)] = &[];

enum Method {
    Get,
    Post,
}

impl DuoClient {
    pub fn new(s: &DuoSettings<'_>) -> Result<Self, HttpSetupError> {
        Ok(Self {
            http: http::client(&s.http)?,
            ikey: s.ikey.to_owned(),
            skey: SecretString::from(s.skey),
            host: s.host.to_owned(),
            backoff: Duration::from_secs(1),
            timeout: effective_timeout(s.http.timeout),
        })
    }

    /// Shorter default 429 back-off (tests).
    pub fn with_backoff(mut self, backoff: Duration) -> Self {
        self.backoff = backoff;
        self
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// `/auth/v2/ping` (unsigned): the server's time.
    pub async fn ping(&self, deadline: Instant) -> Result<u64, DuoError> {
        let v = self
            .call(Method::Get, "/auth/v2/ping", NO_PARAMS, None, deadline)
            .await?;
        Ok(decode::<ServerTime>(v)?.time)
    }

    /// `/auth/v2/check`: are the integration keys accepted? The server time.
    pub async fn check(&self, stamp: &Stamp, deadline: Instant) -> Result<u64, DuoError> {
        let v = self
            .call(
                Method::Get,
                "/auth/v2/check",
                NO_PARAMS,
                Some(stamp),
                deadline,
            )
            .await?;
        Ok(decode::<ServerTime>(v)?.time)
    }

    pub async fn preauth(
        &self,
        stamp: &Stamp,
        req: &PreauthRequest<'_>,
        deadline: Instant,
    ) -> Result<Preauth, DuoError> {
        let mut params = vec![
            ("username", req.username.to_owned()),
            ("hostname", req.hostname.to_owned()),
        ];
        if let Some(ip) = req.ipaddr {
            params.push(("ipaddr", ip.to_owned()));
        }
        let v = self
            .call(
                Method::Post,
                "/auth/v2/preauth",
                &params,
                Some(stamp),
                deadline,
            )
            .await?;
        decode(v)
    }

    pub async fn auth(
        &self,
        stamp: &Stamp,
        req: &AuthRequest<'_>,
        deadline: Instant,
    ) -> Result<AuthStart, DuoError> {
        let mut params: Vec<(&str, Zeroizing<String>)> = vec![
            ("username", req.username.to_owned().into()),
            ("factor", req.factor.name().to_owned().into()),
            ("hostname", req.hostname.to_owned().into()),
        ];
        if let Some(ip) = req.ipaddr {
            params.push(("ipaddr", ip.to_owned().into()));
        }
        match req.factor {
            AuthFactor::Auto => params.push(("device", "auto".to_owned().into())),
            AuthFactor::Push { device }
            | AuthFactor::Phone { device }
            | AuthFactor::Sms { device } => params.push(("device", device.clone().into())),
            AuthFactor::Passcode(code) => {
                params.push(("passcode", code.expose_secret().to_owned().into()))
            }
        }
        if req.factor.is_async() {
            params.push(("async", "1".to_owned().into()));
        }
        if let (Some(info), AuthFactor::Auto | AuthFactor::Push { .. }) = (req.pushinfo, req.factor)
        {
            params.push(("pushinfo", info.to_owned().into()));
        }
        let plain: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let v = self
            .call(Method::Post, "/auth/v2/auth", &plain, Some(stamp), deadline)
            .await?;
        if req.factor.is_async() {
            Ok(AuthStart::Txid(decode::<TxidOnly>(v)?.txid))
        } else {
            Ok(AuthStart::Done(decode(v)?))
        }
    }

    pub async fn auth_status(
        &self,
        stamp: &Stamp,
        txid: &str,
        deadline: Instant,
    ) -> Result<AuthStatus, DuoError> {
        let v = self
            .call(
                Method::Get,
                AUTH_STATUS,
                &[("txid", txid)],
                Some(stamp),
                deadline,
            )
            .await?;
        decode(v)
    }

    /// One API call, retried only after a 429, never past `deadline`.
    async fn call<K: AsRef<str>, V: AsRef<str>>(
        &self,
        method: Method,
        path: &str,
        params: &[(K, V)],
        stamp: Option<&Stamp>,
        deadline: Instant,
    ) -> Result<serde_json::Value, DuoError> {
        let mut backoff = self.backoff;
        loop {
            let now = Instant::now();
            let Some(left) = deadline
                .checked_duration_since(now)
                .filter(|d| !d.is_zero())
            else {
                return Err(DuoError::Deadline);
            };
            // auth_status long-polls: Duo holds it until the status
            // changes, so only the deadline bounds it (connecting is still
            // bounded by the client's connect timeout).
            let limit = if path == AUTH_STATUS {
                left
            } else {
                left.min(self.timeout)
            };
            let resp = self.send(&method, path, params, stamp, limit).await?;
            let status = resp.status().as_u16();
            if let Some(FailureClass::RateLimited { retry_after }) = classify_response(&resp) {
                let wait = retry_after
                    .unwrap_or(backoff)
                    // `Retry-After: 0` must not turn into a tight loop.
                    .max(MIN_RETRY_PAUSE);
                backoff = backoff.saturating_mul(2);
                if Instant::now() + wait >= deadline {
                    return Err(DuoError::RateLimited);
                }
                tracing::info!(
                    path,
                    wait_ms = wait.as_millis() as u64,
                    "Duo rate limit (429); backing off"
                );
                tokio::time::sleep(wait).await;
                continue;
            }
            let body_deadline = deadline.min(Instant::now() + limit);
            let read = read_capped(resp, MAX_BODY);
            let body = match tokio::time::timeout_at(body_deadline, read).await {
                Ok(Ok(b)) => b,
                Ok(Err(BodyError::Transport(t))) => return Err(t.into()),
                // Not an answer Duo sends: unusable, like garbage.
                Ok(Err(e @ BodyError::TooLarge)) => return Err(DuoError::Garbage(e.describe())),
                Err(_) => return Err(DuoError::Unreachable("timed out reading the answer".into())),
            };
            return interpret(status, &body);
        }
    }

    async fn send<K: AsRef<str>, V: AsRef<str>>(
        &self,
        method: &Method,
        path: &str,
        params: &[(K, V)],
        stamp: Option<&Stamp>,
        timeout: Duration,
    ) -> Result<reqwest::Response, DuoError> {
        let (verb, params_text, signed) = {
            let verb = match method {
                Method::Get => "GET",
                Method::Post => "POST",
            };
            match stamp {
                Some(stamp) => {
                    let mut s = sign::sign(
                        &self.ikey,
                        self.skey.expose_secret().as_bytes(),
                        Request {
                            method: verb,
                            host: &self.host,
                            path,
                            params,
                            date: date::rfc2822(stamp.now()),
                        },
                    );
                    let params = std::mem::take(&mut s.params);
                    (verb, params, Some(s))
                }
                None => (verb, sign::canon_params(params), None),
            }
        };
        let base = format!("https://{}{path}", self.host);
        // Only POST carries a passcode (`/auth`); it goes in a body that is
        // wiped once sent. A GET query (a txid, a user name) becomes part
        // of the URL, which reqwest copies.
        let mut rb = match method {
            Method::Get if params_text.is_empty() => self.http.get(base),
            Method::Get => self.http.get(format!("{base}?{}", params_text.as_str())),
            Method::Post => self
                .http
                .post(base)
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(http::wiped_body(params_text)),
        };
        rb = rb.timeout(timeout);
        if let Some(s) = signed {
            rb = rb
                .header(reqwest::header::DATE, &s.date)
                .header("X-Duo-Date", &s.date)
                .header(reqwest::header::AUTHORIZATION, &s.authorization);
        }
        tracing::debug!(verb, path, "Duo request");
        rb.send().await.map_err(|e| transport(&e).into())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn stamp_corrects_the_clock() {
        let clock = Arc::new(crate::context::FixedClock(1_000));
        let s = Stamp::from_server_time(clock.clone(), 1_300);
        assert_eq!(s.offset(), 300);
        assert_eq!(s.now(), 1_300);
        assert_eq!(Stamp::from_server_time(clock, 400).now(), 400);
    }

    #[test]
    fn debug_never_shows_the_secret_key() {
        let c = DuoClient::new(&DuoSettings {
            ikey: "DIXXXXXXXXXXXXXXXXXX",
            skey: "very-secret-skey-value",
            host: "api-x.duosecurity.com",
            http: HttpSettings {
                proxy: Some("https://squid:pr0xy-pw@proxy.example:3128"),
                ..HttpSettings::default()
            },
        })
        .unwrap();
        let d = format!("{c:?}");
        assert!(!d.contains("very-secret"), "{d}");
        assert!(d.contains("[REDACTED]"), "{d}");
        assert!(!d.contains("pr0xy-pw"), "the proxy's password: {d}");
    }
}
