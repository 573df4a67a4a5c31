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

/// The canonical parameter string: encoded pairs sorted by key, then value.
pub fn canon_params<K: AsRef<str>, V: AsRef<str>>(params: &[(K, V)]) -> String {
    let mut pairs: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (encode(k.as_ref()), encode(v.as_ref())))
        .collect();
    pairs.sort();
    let parts: Vec<String> = pairs.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    parts.join("&")
}

/// The string that is signed.
pub fn canonical(date: &str, method: &str, host: &str, path: &str, params: &str) -> String {
    format!(
        "{date}\n{}\n{}\n{path}\n{params}",
        method.to_ascii_uppercase(),
        host.to_ascii_lowercase()
    )
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// RFC 2822 date, sent as `Date` and `X-Duo-Date`.
    pub date: String,
    pub authorization: String,
    /// Encoded parameters: the POST body or the GET query.
    pub params: String,
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
    // The canonical string holds every parameter, passcodes included.
    let canon = Zeroizing::new(canonical(
        &req.date, req.method, req.host, req.path, &params,
    ));
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
            assert_eq!(canon, t.canonical, "canonical string of {:?}", t.name);
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
    fn escapes_what_needs_escaping() {
        assert_eq!(encode("a b+c&d=e~f_g.h-i"), "a%20b%2Bc%26d%3De~f_g.h-i");
        assert_eq!(encode("ü✓"), "%C3%BC%E2%9C%93");
        assert_eq!(encode("/?#%*'()!\n"), "%2F%3F%23%25%2A%27%28%29%21%0A");
        // A key that prefixes another sorts first (key order, not "k=v" order).
        assert_eq!(canon_params(&[("a-b", "2"), ("a", "1")]), "a=1&a-b=2");
        assert_eq!(canon_params::<&str, &str>(&[]), "");
    }

    #[test]
    fn a_different_key_date_or_host_changes_the_signature() {
        let base = canonical("D", "post", "Host", "/p", "a=1");
        assert_eq!(base, "D\nPOST\nhost\n/p\na=1");
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
