//! Duo Auth API request signing (signature version 2).
//!
//! ```text
//! canonical = date \n METHOD \n lowercased host \n path \n params
//! params    = key=value, both percent-encoded (A-Za-z0-9 _ . ~ - kept,
//!             everything else %XX upper-case over UTF-8, space %20),
//!             sorted by key then value, joined with &
//! Authorization: Basic base64(ikey ":" hex(HMAC-SHA512(skey, canonical)))
//! Date: <the same date>
//! ```
//! The same encoded parameter string is the POST body or the GET query, so
//! what is signed is exactly what is sent. Checked against independent
//! vectors in `fixtures/duo/sign_vectors.json` (a Python stdlib script).
//! Reading a signature back is the server's job: the simulator's
//! (`mfa_sim::duo`).

use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::Sha512;
use zeroize::Zeroizing;

type HmacSha512 = Hmac<Sha512>;

/// What Duo leaves unencoded: RFC 3986 unreserved characters.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'-');

/// Percent-encode one key or value as Duo canonicalises it (upper-case
/// `%XX` over UTF-8, space as `%20`).
pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

/// [`encode`] for a value that may be a secret (a passcode): sized once
/// (an escape is at most three bytes per byte), so that no reallocation
/// leaves a partial copy behind, and wiped on drop.
fn encode_wiped(s: &str) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(s.len() * 3));
    out.extend(utf8_percent_encode(s, UNRESERVED));
    out
}

/// The canonical parameter string: encoded pairs sorted by key, then value.
/// It is the request's body or query, and holds every value (a passcode
/// among them), so it and every intermediate are wiped on drop.
pub fn canon_params<K: AsRef<str>, V: AsRef<str>>(params: &[(K, V)]) -> Zeroizing<String> {
    let mut pairs: Vec<(Zeroizing<String>, Zeroizing<String>)> = params
        .iter()
        .map(|(k, v)| (encode_wiped(k.as_ref()), encode_wiped(v.as_ref())))
        .collect();
    pairs.sort_by(|a, b| (a.0.as_str(), a.1.as_str()).cmp(&(b.0.as_str(), b.1.as_str())));
    let len = pairs.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
    let mut out = Zeroizing::new(String::with_capacity(len));
    for (k, v) in &pairs {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// The string that is signed; it holds the parameters, so it is sized once
/// and wiped like them.
pub fn canonical(
    date: &str,
    method: &str,
    host: &str,
    path: &str,
    params: &str,
) -> Zeroizing<String> {
    let parts = [date, method, host, path, params];
    let len = parts.iter().map(|p| p.len() + 1).sum();
    let mut out = Zeroizing::new(String::with_capacity(len));
    out.push_str(date);
    out.push('\n');
    out.push_str(&method.to_ascii_uppercase());
    out.push('\n');
    out.push_str(&host.to_ascii_lowercase());
    out.push('\n');
    out.push_str(path);
    out.push('\n');
    out.push_str(params);
    out
}

/// Lower-case hex HMAC-SHA512 of `canonical` under `skey`.
pub fn signature(skey: &[u8], canonical: &str) -> String {
    // HMAC accepts keys of any length; the error branch cannot happen, but
    // an empty signature (which no server accepts) is the fail-closed answer.
    let Ok(mut mac) = HmacSha512::new_from_slice(skey) else {
        return String::new();
    };
    mac.update(canonical.as_bytes());
    data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes())
}

/// The `Authorization` header value.
pub fn authorization(ikey: &str, sig: &str) -> String {
    let creds = Zeroizing::new(format!("{ikey}:{sig}"));
    format!("Basic {}", data_encoding::BASE64.encode(creds.as_bytes()))
}

/// The headers of one signed request.
#[derive(Clone, PartialEq, Eq)]
pub struct Signed {
    /// RFC 2822 date, sent as `Date` and `X-Duo-Date`.
    pub date: String,
    pub authorization: String,
    /// Encoded parameters: the POST body or the GET query (wiped on drop:
    /// a passcode is one of them).
    pub params: Zeroizing<String>,
}

/// The parameters may hold a passcode: never printed.
impl std::fmt::Debug for Signed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signed")
            .field("date", &self.date)
            .field("authorization", &"[REDACTED]")
            .field("params", &"[REDACTED]")
            .finish()
    }
}

/// Everything a request needs to be signed.
pub struct Request<'a, K, V> {
    pub method: &'a str,
    pub host: &'a str,
    pub path: &'a str,
    pub params: &'a [(K, V)],
    pub date: String,
}

/// Sign one request.
pub fn sign<K: AsRef<str>, V: AsRef<str>>(
    ikey: &str,
    skey: &[u8],
    req: Request<'_, K, V>,
) -> Signed {
    let params = canon_params(req.params);
    let canon = canonical(&req.date, req.method, req.host, req.path, &params);
    let sig = signature(skey, &canon);
    Signed {
        authorization: authorization(ikey, &sig),
        date: req.date,
        params,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[derive(serde::Deserialize)]
    struct Vectors {
        ikey: String,
        skey: String,
        date: String,
        vectors: Vec<Vector>,
    }
    #[derive(serde::Deserialize)]
    struct Vector {
        name: String,
        method: String,
        host: String,
        path: String,
        params: Vec<(String, String)>,
        canonical: String,
        signature: String,
        authorization: String,
    }

    const VECTORS: &str = include_str!("../../../../fixtures/duo/sign_vectors.json");

    #[test]
    fn matches_the_independent_python_vectors() {
        let v: Vectors = serde_json::from_str(VECTORS).unwrap();
        assert!(v.vectors.len() >= 5);
        for t in &v.vectors {
            let params = canon_params(&t.params);
            let canon = canonical(&v.date, &t.method, &t.host, &t.path, &params);
            assert_eq!(*canon, t.canonical, "canonical string of {:?}", t.name);
            let s = sign(
                &v.ikey,
                v.skey.as_bytes(),
                Request {
                    method: &t.method,
                    host: &t.host,
                    path: &t.path,
                    params: &t.params,
                    date: v.date.clone(),
                },
            );
            assert_eq!(
                signature(v.skey.as_bytes(), &canon),
                t.signature,
                "{}",
                t.name
            );
            assert_eq!(s.authorization, t.authorization, "{}", t.name);
            assert_eq!(s.params, params);
            assert_eq!(s.date, v.date);
        }
    }

    #[test]
    fn debug_of_a_signed_request_hides_the_parameters_and_credentials() {
        let s = sign(
            "DIXXXXXXXXXXXXXXXXXX",
            b"skey",
            Request {
                method: "POST",
                host: "api-x.duosecurity.com",
                path: "/auth/v2/auth",
                params: &[("passcode", "947361")],
                date: "Tue, 21 Aug 2012 17:29:18 -0000".into(),
            },
        );
        assert_eq!(*s.params, "passcode=947361");
        let d = format!("{s:?}");
        assert!(!d.contains("947361") && !d.contains("Basic"), "{d}");
    }

    #[test]
    fn escapes_what_needs_escaping() {
        assert_eq!(encode("a b+c&d=e~f_g.h-i"), "a%20b%2Bc%26d%3De~f_g.h-i");
        assert_eq!(encode("ü✓"), "%C3%BC%E2%9C%93");
        assert_eq!(encode("/?#%*'()!\n"), "%2F%3F%23%25%2A%27%28%29%21%0A");
        // A key that prefixes another sorts first (key order, not "k=v" order).
        assert_eq!(*canon_params(&[("a-b", "2"), ("a", "1")]), "a=1&a-b=2");
        assert_eq!(*canon_params::<&str, &str>(&[]), "");
        // Sorted by key, then by value; escapes sort by their encoding.
        assert_eq!(
            *canon_params(&[("b", "2"), ("a", "z"), ("a", " ")]),
            "a=%20&a=z&b=2"
        );
    }

    #[test]
    fn a_different_key_date_or_host_changes_the_signature() {
        let base = canonical("D", "post", "Host", "/p", "a=1");
        assert_eq!(*base, "D\nPOST\nhost\n/p\na=1");
        let s = signature(b"k", &base);
        assert_eq!(s.len(), 128);
        assert_ne!(s, signature(b"k2", &base));
        assert_ne!(
            s,
            signature(b"k", &canonical("E", "POST", "host", "/p", "a=1"))
        );
        assert_ne!(
            s,
            signature(b"k", &canonical("D", "POST", "h0st", "/p", "a=1"))
        );
    }
}
