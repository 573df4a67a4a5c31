//! Creating a new state: secret, scratch codes, otpauth URI.

use url::form_urlencoded::byte_serialize;
use zeroize::Zeroizing;

use crate::context::{RandomError, RandomSource};
use crate::otp::Algorithm;

use super::state::{Mode, RateLimit, TotpState};

/// What `mfa totp enroll` asks for. The defaults are google-authenticator's
/// except where its prompts offer something safer: every code single-use
/// (DISALLOW_REUSE) and at most 3 attempts every 30 s (RATE_LIMIT 3 30),
/// the values its own prompts propose. Without them a code is guessed in
/// minutes from a few parallel sessions (benches/guess_rate.py).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollOptions {
    pub hotp: bool,
    pub secret_bytes: usize,
    pub step_size: u64,
    pub window_size: u32,
    /// (attempts, seconds)
    pub rate_limit: Option<(u32, u64)>,
    pub disallow_reuse: bool,
    pub scratch_codes: usize,
    pub algorithm: Algorithm,
    pub digits: u32,
}

impl Default for EnrollOptions {
    fn default() -> Self {
        Self {
            hotp: false,
            secret_bytes: 20,
            step_size: 30,
            window_size: 3,
            rate_limit: Some((3, 30)),
            disallow_reuse: true,
            scratch_codes: 5,
            algorithm: Algorithm::Sha1,
            digits: 6,
        }
    }
}

/// A new state drawn from `rng`.
pub fn new_state(opts: &EnrollOptions, rng: &dyn RandomSource) -> Result<TotpState, RandomError> {
    let mut secret = Zeroizing::new(vec![0u8; opts.secret_bytes.max(10)]);
    rng.fill(&mut secret)?;
    let mut state = TotpState::new_totp(&secret);
    state.mode = if opts.hotp { Mode::Hotp(1) } else { Mode::Totp };
    state.step_size = opts.step_size;
    state.window_size = opts.window_size;
    state.rate_limit = opts.rate_limit.map(|(attempts, interval)| RateLimit {
        attempts,
        interval,
        timestamps: Vec::new(),
    });
    state.disallow_reuse = opts.disallow_reuse.then(Vec::new);
    state.algorithm = opts.algorithm;
    state.digits = opts.digits;
    for _ in 0..opts.scratch_codes {
        // 8 digits, no leading zero, uniform.
        let code = 10_000_000 + rng.uniform_below(90_000_000)?;
        state.scratch_codes.push(Zeroizing::new(code.to_string()));
    }
    Ok(state)
}

/// The Key Uri Format string an authenticator app scans.
pub fn otpauth_uri(state: &TotpState, issuer: &str, label: &str) -> Zeroizing<String> {
    let enc = |s: &str| {
        byte_serialize(s.as_bytes())
            .collect::<String>()
            .replace('+', "%20")
    };
    let (kind, counter) = match state.mode {
        Mode::Totp => ("totp", String::new()),
        Mode::Hotp(c) => ("hotp", format!("&counter={c}")),
    };
    let label = if issuer.is_empty() {
        enc(label)
    } else {
        format!("{}:{}", enc(issuer), enc(label))
    };
    let mut uri = format!(
        "otpauth://{kind}/{label}?secret={}&algorithm={}&digits={}",
        state.secret_base32().as_str(),
        state.algorithm.as_str(),
        state.digits
    );
    if state.mode == Mode::Totp {
        uri.push_str(&format!("&period={}", state.step_size));
    }
    uri.push_str(&counter);
    if !issuer.is_empty() {
        uri.push_str(&format!("&issuer={}", enc(issuer)));
    }
    Zeroizing::new(uri)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::OsRandom;

    #[test]
    fn new_state_has_requested_shape() {
        let opts = EnrollOptions {
            rate_limit: Some((3, 30)),
            disallow_reuse: true,
            window_size: 17,
            scratch_codes: 5,
            ..Default::default()
        };
        let s = new_state(&opts, &OsRandom).unwrap();
        assert_eq!(s.secret().len(), 20);
        assert_eq!(s.scratch_codes.len(), 5);
        assert!(s
            .scratch_codes
            .iter()
            .all(|c| c.len() == 8 && !c.starts_with('0')));
        let text = s.serialize();
        let back = TotpState::parse(text.as_bytes()).unwrap();
        assert_eq!(back.window_size, 17);
        assert_eq!(back.disallow_reuse, Some(vec![]));
        assert!(text.contains("\" RATE_LIMIT 3 30\n"));
        assert!(text.contains("\" TOTP_AUTH\n"));
    }

    #[test]
    fn defaults_forbid_reuse_and_limit_guessing() {
        let text = new_state(&EnrollOptions::default(), &OsRandom)
            .unwrap()
            .serialize();
        assert!(text.contains("\" RATE_LIMIT 3 30\n"), "{}", *text);
        assert!(text.contains("\" DISALLOW_REUSE\n"), "{}", *text);
    }

    #[test]
    fn uri_escapes_issuer_and_label() {
        let s = TotpState::parse(b"JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\n").unwrap();
        let uri = otpauth_uri(&s, "My Host&co", "alice@box");
        assert_eq!(
            uri.as_str(),
            "otpauth://totp/My%20Host%26co:alice%40box?secret=JBSWY3DPEHPK3PXP&algorithm=SHA1&digits=6&period=30&issuer=My%20Host%26co"
        );
        let h = TotpState::parse(b"JBSWY3DPEHPK3PXP\n\" HOTP_COUNTER 1\n").unwrap();
        assert!(otpauth_uri(&h, "", "bob").ends_with("&counter=1"));
    }
}
