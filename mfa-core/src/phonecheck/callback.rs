//! The PhoneCheck redirect endpoint's logic, used by `mfa serve`:
//! `GET /complete-check?check_id=...&code=...` arrives from the phone after
//! the operator's redirect; we validate both parameters, complete the check
//! with a PATCH, and answer a small fixed page.
//!
//! The HTTP server itself (mfa-cli) only moves bytes: every decision is
//! here. Pages are constants: no parameter, provider text or internal error
//! ever reaches them. The code is never logged.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;
use zeroize::Zeroizing;

use crate::phonecheck::truid::{valid_check_id, valid_code, TruIdClient, TruIdError};

pub const CALLBACK_PATH: &str = "/complete-check";
/// Longest query string considered; the real one is well under 200 bytes.
pub const MAX_QUERY: usize = 1024;
/// At most this many parameters (tru.ID may add some we ignore).
const MAX_PARAMS: usize = 16;

/// Validated parameters. The code is wiped on drop and redacted by `Debug`.
#[derive(Debug)]
pub struct CallbackParams {
    pub check_id: String,
    pub code: SecretString,
}

/// Why a request was refused before talking to the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadRequest {
    Missing(&'static str),
    Repeated(&'static str),
    Malformed(&'static str),
    TooLong,
}

impl BadRequest {
    /// For the log (never shown on the page).
    pub fn describe(&self) -> String {
        match self {
            BadRequest::Missing(p) => format!("missing {p}"),
            BadRequest::Repeated(p) => format!("repeated {p}"),
            BadRequest::Malformed(p) => format!("malformed {p}"),
            BadRequest::TooLong => "query too long".into(),
        }
    }
}

/// Fill `slot` unless it was filled already (a repeated parameter is an
/// attempt to confuse whichever copy a proxy or framework would pick).
fn once<T>(slot: &mut Option<T>, value: T, name: &'static str) -> Result<(), BadRequest> {
    if slot.is_some() {
        return Err(BadRequest::Repeated(name));
    }
    *slot = Some(value);
    Ok(())
}

/// Parse and validate the query string of a callback.
pub fn parse_query(query: Option<&str>) -> Result<CallbackParams, BadRequest> {
    let query = query.unwrap_or("");
    if query.len() > MAX_QUERY {
        return Err(BadRequest::TooLong);
    }
    let mut check_id: Option<String> = None;
    let mut code: Option<Zeroizing<String>> = None;
    for (n, (k, v)) in url::form_urlencoded::parse(query.as_bytes()).enumerate() {
        if n >= MAX_PARAMS {
            return Err(BadRequest::TooLong);
        }
        match k.as_ref() {
            "check_id" => once(&mut check_id, v.into_owned(), "check_id")?,
            "code" => once(&mut code, Zeroizing::new(v.into_owned()), "code")?,
            _ => {}
        }
    }
    let check_id = check_id.ok_or(BadRequest::Missing("check_id"))?;
    let code = code.ok_or(BadRequest::Missing("code"))?;
    if !valid_check_id(&check_id) {
        return Err(BadRequest::Malformed("check_id"));
    }
    if !valid_code(&code) {
        return Err(BadRequest::Malformed("code"));
    }
    Ok(CallbackParams {
        check_id,
        code: SecretString::from(code.as_str()),
    })
}

/// What the page says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageKind {
    Complete,
    Failed,
    TooMany,
    NotFound,
}

/// A response: status, fixed HTML, and for the log what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub kind: PageKind,
    /// `Retry-After` seconds for 429.
    pub retry_after: Option<u64>,
    /// One word for the structured log: verified, no-match, bad-request...
    pub outcome: &'static str,
    /// Detail for the log (sanitised; never the code).
    pub detail: String,
}

const PAGE_HEAD: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><meta name=\"robots\" content=\"noindex\"><title>";

/// The fixed HTML for a page.
pub fn page_html(kind: PageKind) -> String {
    let (title, text) = match kind {
        PageKind::Complete => (
            "Verification complete",
            "Verification complete, return to your SSH session.",
        ),
        PageKind::Failed => (
            "Verification failed",
            "Verification failed. Return to your SSH session and try again.",
        ),
        PageKind::TooMany => (
            "Verification failed",
            "Verification failed: too many attempts. Wait a minute and try again.",
        ),
        PageKind::NotFound => ("Not found", "Not found."),
    };
    format!("{PAGE_HEAD}{title}</title></head><body><h1>{title}</h1><p>{text}</p></body></html>\n")
}

/// A per-address fixed-window rate limiter with a bounded table. IPv6
/// addresses count per /64, so one host cannot rotate through its prefix.
#[derive(Debug)]
pub struct RateLimiter {
    limit: u32,
    window: Duration,
    max_clients: usize,
    table: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl RateLimiter {
    pub fn new(limit: u32, window: Duration, max_clients: usize) -> Self {
        Self {
            limit,
            window,
            max_clients,
            table: Mutex::new(HashMap::new()),
        }
    }

    fn key(ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let s = v6.segments();
                    IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
                }
            },
            v4 => v4,
        }
    }

    /// Whether `ip` may make one more request at `now`; if not, how many
    /// seconds until it may.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), u64> {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let key = Self::key(ip);
        if !table.contains_key(&key) && table.len() >= self.max_clients {
            let window = self.window;
            table.retain(|_, (start, _)| now.duration_since(*start) < window);
            if table.len() >= self.max_clients {
                // Full of active clients: the oldest window makes room. The
                // table stays bounded, and a flood of addresses cannot lock
                // every newcomer (a real phone among them) out for a
                // minute, which refusing newcomers did.
                let oldest = table
                    .iter()
                    .min_by_key(|(_, (start, _))| *start)
                    .map(|(ip, _)| *ip);
                if let Some(ip) = oldest {
                    table.remove(&ip);
                }
            }
        }
        let entry = table.entry(key).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.limit {
            let left = self.window.saturating_sub(now.duration_since(entry.0));
            return Err(left.as_secs().max(1));
        }
        entry.1 += 1;
        Ok(())
    }
}

/// Which TCP peer may name the client in `X-Forwarded-For`. Anyone else
/// who sends that header is only a client lying about its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyTrust {
    /// No proxy: every request counts against its TCP peer.
    None,
    /// A reverse proxy on this machine: any loopback peer (a bare
    /// `--behind-proxy`).
    Loopback,
    /// Exactly this proxy (`--behind-proxy ADDR`).
    Address(IpAddr),
}

impl ProxyTrust {
    /// Whether `peer` is the proxy. An IPv4 peer reaching a dual-stack
    /// socket shows as `::ffff:a.b.c.d` and is compared as `a.b.c.d`.
    pub fn trusts(self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        match self {
            ProxyTrust::None => false,
            ProxyTrust::Loopback => peer.is_loopback(),
            ProxyTrust::Address(proxy) => proxy.to_canonical() == peer,
        }
    }
}

/// The address a request counts against: its TCP peer, or, when the peer
/// is the trusted proxy, the last `X-Forwarded-For` entry. `forwarded_for`
/// is every line of that header in order: a proxy appends the address it
/// saw to the end (of the last line, or as a line of its own), so only the
/// very last entry is the proxy's word; every entry and line before it came
/// from the client. Without a readable last entry the request counts
/// against the proxy itself (shared, never bypassed).
pub fn client_address<'a>(
    peer: IpAddr,
    forwarded_for: impl IntoIterator<Item = &'a str>,
    trust: ProxyTrust,
) -> IpAddr {
    let peer = peer.to_canonical();
    if !trust.trusts(peer) {
        return peer;
    }
    forwarded_for
        .into_iter()
        .last()
        .and_then(|line| line.rsplit(',').next())
        .and_then(|last| last.trim().parse::<IpAddr>().ok())
        .map(|ip| ip.to_canonical())
        .unwrap_or(peer)
}

/// The endpoint: rate limiter + validation + completion.
pub struct CallbackService {
    client: Arc<TruIdClient>,
    limiter: RateLimiter,
}

impl std::fmt::Debug for CallbackService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackService")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl CallbackService {
    /// Defaults: 10 requests per address per minute, 10 000 addresses.
    pub fn new(client: Arc<TruIdClient>) -> Self {
        Self::with_limiter(
            client,
            RateLimiter::new(10, Duration::from_secs(60), 10_000),
        )
    }

    pub fn with_limiter(client: Arc<TruIdClient>, limiter: RateLimiter) -> Self {
        Self { client, limiter }
    }

    fn reply(status: u16, kind: PageKind, outcome: &'static str, detail: String) -> Reply {
        Reply {
            status,
            kind,
            retry_after: None,
            outcome,
            detail,
        }
    }

    /// Answer one request from `peer`.
    pub async fn handle(
        &self,
        peer: IpAddr,
        method: &str,
        path: &str,
        query: Option<&str>,
    ) -> Reply {
        if path != CALLBACK_PATH {
            return Self::reply(404, PageKind::NotFound, "not-found", String::new());
        }
        // Only GET: completing a check is what the phone's redirect does;
        // a HEAD (link checkers, prefetchers) must not consume the code.
        if method != "GET" {
            return Self::reply(405, PageKind::Failed, "bad-method", String::new());
        }
        if let Err(secs) = self.limiter.check(peer, Instant::now()) {
            let mut r = Self::reply(429, PageKind::TooMany, "rate-limited", String::new());
            r.retry_after = Some(secs);
            return r;
        }
        let params = match parse_query(query) {
            Ok(p) => p,
            Err(e) => return Self::reply(400, PageKind::Failed, "bad-request", e.describe()),
        };
        let detail = format!("check_id={}", params.check_id);
        match self
            .client
            .patch_check(&params.check_id, params.code.expose_secret())
            .await
        {
            Ok(state) if state.verified() => {
                Self::reply(200, PageKind::Complete, "verified", detail)
            }
            Ok(state) => Self::reply(
                403,
                PageKind::Failed,
                "not-verified",
                format!("{detail} status={:?} match={}", state.status, state.matched),
            ),
            Err(e @ (TruIdError::Rejected { .. } | TruIdError::RateLimited { .. })) => {
                Self::reply(403, PageKind::Failed, "refused", format!("{detail} {e}"))
            }
            Err(e) => Self::reply(
                502,
                PageKind::Failed,
                "provider-error",
                format!("{detail} {e}"),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "c69bc0e6-a429-11ea-bb37-0242ac130002";

    #[test]
    fn good_query_parses() {
        let p = parse_query(Some(&format!("check_id={ID}&code=abc123&extra=1"))).unwrap();
        assert_eq!(p.check_id, ID);
        assert_eq!(p.code.expose_secret(), "abc123");
        let d = format!("{p:?}");
        assert!(!d.contains("abc123") && d.contains("[REDACTED]"), "{d}");
    }

    #[test]
    fn hostile_queries_are_refused() {
        use BadRequest::*;
        let long = "a".repeat(200);
        let cases: Vec<(String, BadRequest)> = vec![
            (String::new(), Missing("check_id")),
            (format!("check_id={ID}"), Missing("code")),
            ("code=abc".into(), Missing("check_id")),
            (
                format!("check_id={ID}&check_id={ID}&code=a"),
                Repeated("check_id"),
            ),
            (format!("check_id={ID}&code=a&code=b"), Repeated("code")),
            ("check_id=not-hex-zzzz&code=a".into(), Malformed("check_id")),
            (
                "check_id=..%2F..%2Foauth2&code=a".into(),
                Malformed("check_id"),
            ),
            (
                format!("check_id={ID}&code=%3Cscript%3E"),
                Malformed("code"),
            ),
            (
                format!("check_id={ID}&code=a%22%3B%20DROP"),
                Malformed("code"),
            ),
            (
                format!("check_id={ID}&code=a%0D%0ASet-Cookie:x"),
                Malformed("code"),
            ),
            (format!("check_id={ID}&code={long}"), Malformed("code")),
            (
                format!("check_id={}&code=a", "a".repeat(65)),
                Malformed("check_id"),
            ),
            (
                format!("check_id={ID}&code={}", "a".repeat(MAX_QUERY)),
                TooLong,
            ),
            ("a=1&".repeat(20), TooLong),
        ];
        for (q, want) in cases {
            assert_eq!(parse_query(Some(&q)).unwrap_err(), want, "{q}");
        }
        assert_eq!(parse_query(None).unwrap_err(), Missing("check_id"));
    }

    #[test]
    fn forwarded_for_is_trusted_only_from_the_proxy() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let local = ip("127.0.0.1");
        let remote = ip("192.0.2.7");
        let xff = ["10.0.0.1, 198.51.100.3"];
        assert_eq!(
            client_address(local, xff, ProxyTrust::Loopback),
            ip("198.51.100.3")
        );
        assert_eq!(client_address(local, xff, ProxyTrust::None), local);
        assert_eq!(
            client_address(remote, xff, ProxyTrust::Loopback),
            remote,
            "only a loopback proxy is trusted"
        );
        assert_eq!(
            client_address(local, ["garbage"], ProxyTrust::Loopback),
            local
        );
        assert_eq!(client_address(local, [], ProxyTrust::Loopback), local);

        // A configured proxy address: that peer only, loopback or not.
        let proxy = ProxyTrust::Address(ip("192.0.2.10"));
        assert_eq!(
            client_address(ip("192.0.2.10"), xff, proxy),
            ip("198.51.100.3")
        );
        assert_eq!(
            client_address(local, xff, proxy),
            local,
            "another local process"
        );
        assert_eq!(client_address(remote, xff, proxy), remote);
    }

    #[test]
    fn the_proxys_entry_is_the_last_of_every_header_line() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let local = ip("127.0.0.1");
        // The client sent a line of its own; the proxy added its own line:
        // reading only the first line took the client's word for it.
        let lines = ["203.0.113.99", "198.51.100.3"];
        assert_eq!(
            client_address(local, lines, ProxyTrust::Loopback),
            ip("198.51.100.3")
        );
        let lines = ["203.0.113.99, 203.0.113.98", "10.0.0.1, 198.51.100.3"];
        assert_eq!(
            client_address(local, lines, ProxyTrust::Loopback),
            ip("198.51.100.3")
        );
    }

    #[test]
    fn an_ipv4_mapped_loopback_peer_is_the_local_proxy() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let mapped = ip("::ffff:127.0.0.1");
        assert!(ProxyTrust::Loopback.trusts(mapped));
        assert_eq!(
            client_address(mapped, ["198.51.100.3"], ProxyTrust::Loopback),
            ip("198.51.100.3")
        );
        assert!(ProxyTrust::Address(ip("192.0.2.10")).trusts(ip("::ffff:192.0.2.10")));
        assert!(!ProxyTrust::Loopback.trusts(ip("::ffff:192.0.2.10")));
        // Not a proxy: a mapped peer counts as its IPv4 address.
        assert_eq!(
            client_address(ip("::ffff:192.0.2.7"), ["1.2.3.4"], ProxyTrust::None),
            ip("192.0.2.7")
        );
    }

    #[test]
    fn pages_are_fixed_text() {
        assert!(page_html(PageKind::Complete)
            .contains("Verification complete, return to your SSH session"));
        assert!(page_html(PageKind::Failed).contains("Verification failed"));
        assert!(page_html(PageKind::TooMany).contains("Verification failed"));
    }

    #[test]
    fn rate_limiter_counts_per_address_and_window() {
        let rl = RateLimiter::new(2, Duration::from_secs(60), 3);
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(rl.check(a, t0).is_ok());
        assert!(rl.check(a, t0).is_ok());
        assert_eq!(rl.check(a, t0), Err(60));
        assert!(rl.check(b, t0).is_ok(), "other addresses are not affected");
        assert!(
            rl.check(a, t0 + Duration::from_secs(61)).is_ok(),
            "a new window"
        );

        // IPv6 counts per /64.
        let x: IpAddr = "2001:db8::1".parse().unwrap();
        let y: IpAddr = "2001:db8::2".parse().unwrap();
        assert!(rl.check(x, t0).is_ok());
        assert!(rl.check(y, t0).is_ok());
        assert!(rl.check(x, t0).is_err());

        // The table is bounded: a fourth active client takes the place of
        // an oldest window (b's or the /64's, both at t0) and is served.
        let c: IpAddr = "198.51.100.9".parse().unwrap();
        assert!(rl.check(c, t0 + Duration::from_secs(1)).is_ok());
        assert_eq!(rl.table.lock().unwrap().len(), 3, "still bounded");
    }

    #[test]
    fn a_full_table_makes_room_by_evicting_the_oldest_window() {
        let rl = RateLimiter::new(1, Duration::from_secs(60), 2);
        let t0 = Instant::now();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let s = Duration::from_secs;
        assert!(rl.check(ip("192.0.2.1"), t0).is_ok());
        assert!(rl.check(ip("192.0.2.2"), t0 + s(10)).is_ok());
        // Full of active clients: a newcomer is served (it was refused for
        // the rest of the window before), and the oldest entry made room.
        assert!(rl.check(ip("192.0.2.3"), t0 + s(20)).is_ok());
        let table = rl.table.lock().unwrap();
        assert_eq!(table.len(), 2);
        assert!(!table.contains_key(&ip("192.0.2.1")), "the oldest went");
        assert!(table.contains_key(&ip("192.0.2.2")));
        drop(table);
        // The clients still in the table keep their counts.
        assert!(rl.check(ip("192.0.2.2"), t0 + s(21)).is_err());
    }
}
