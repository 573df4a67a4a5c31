//! One-time codes and public session tags.
//!
//! webhookpam drew its digits with a modulo of a small random value, which
//! favours low digits. Here each code is one draw of
//! [`RandomSource::uniform_below`]`(10^digits)`, which rejects the top of the
//! range, so every code in `0..10^digits` is equally likely; it is then
//! zero-padded. The code is a [`SecretString`] (wiped on drop, redacted by
//! `Debug`) and is compared in constant time.

use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::context::{RandomError, RandomSource};

/// Allowed code lengths (also enforced by the config parser).
pub const DIGITS: std::ops::RangeInclusive<u32> = 6..=10;

/// Session tags use letters and digits that cannot be confused when read
/// aloud or in a proportional font: no 0/O, 1/I/L, 5/S, 8/B, U/V.
pub const TAG_ALPHABET: &[u8] = b"ACDEFGHJKMNPQRTWXYZ234679";
/// Tag length: 25^5 ≈ 9.8 million tags, so two logins waiting in the same
/// channel at the same time almost never share one.
pub const TAG_LEN: usize = 5;

/// A secret one-time code. Never printed: `Debug` is redacted and there is no
/// `Display`.
#[derive(Debug)]
pub struct Code(SecretString);

impl Code {
    /// A uniformly random code of `digits` digits (6..=10), zero-padded.
    pub fn generate(rng: &dyn RandomSource, digits: u32) -> Result<Self, RandomError> {
        if !DIGITS.contains(&digits) {
            return Err(RandomError);
        }
        let bound = 10u64.pow(digits);
        let n = Zeroizing::new(rng.uniform_below(bound)?);
        let width = digits as usize;
        let text = Zeroizing::new(format!("{:0width$}", *n));
        Ok(Self(SecretString::from(text.as_str())))
    }

    /// The digits, for the message payload only.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Constant-time comparison with what the person typed. Spaces are
    /// ignored (people copy codes as "1234 5678"); a length mismatch is
    /// answered without looking at the digits (the length is public).
    pub fn matches(&self, answer: &str) -> bool {
        let typed: Zeroizing<Vec<u8>> = Zeroizing::new(
            answer
                .bytes()
                .filter(|b| !b.is_ascii_whitespace())
                .collect(),
        );
        let mine = self.0.expose_secret().as_bytes();
        typed.len() == mine.len() && bool::from(typed.as_slice().ct_eq(mine))
    }
}

/// A short public tag naming one login, shown in the prompt and the message
/// so people can tell which message belongs to which login. Not a secret.
pub fn session_tag(rng: &dyn RandomSource) -> Result<String, RandomError> {
    let mut tag = String::with_capacity(TAG_LEN);
    for _ in 0..TAG_LEN {
        let i = rng.uniform_below(TAG_ALPHABET.len() as u64)?;
        let c = TAG_ALPHABET
            .get(usize::try_from(i).map_err(|_| RandomError)?)
            .ok_or(RandomError)?;
        tag.push(char::from(*c));
    }
    Ok(tag)
}

/// What checking one answer against a pending code concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Accepted,
    Wrong,
    Expired,
    /// The code was already accepted once; it is never accepted again.
    AlreadyUsed,
}

/// A code waiting to be typed: expires at a fixed instant and is consumed
/// by its first successful use.
#[derive(Debug)]
pub struct Pending {
    /// `None` once the code was used or has expired; then `spent` says which.
    code: Option<Code>,
    spent: Check,
    expires_at: u64,
}

impl Pending {
    pub fn new(code: Code, issued_at: u64, expiry_secs: u64) -> Self {
        Self {
            code: Some(code),
            spent: Check::AlreadyUsed,
            expires_at: issued_at.saturating_add(expiry_secs),
        }
    }

    /// Check `answer` at time `now`. Expiry is checked first, so a late
    /// right answer says "expired", not "wrong".
    pub fn check(&mut self, answer: &str, now: u64) -> Check {
        let Some(code) = &self.code else {
            return self.spent;
        };
        if now >= self.expires_at {
            // Wipe it: nothing can make an expired code valid again.
            self.code = None;
            self.spent = Check::Expired;
            return Check::Expired;
        }
        if code.matches(answer) {
            self.code = None;
            Check::Accepted
        } else {
            Check::Wrong
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::OsRandom;

    /// Returns the same 8 bytes every time.
    struct Constant(u64);
    impl RandomSource for Constant {
        fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError> {
            for (b, v) in buf.iter_mut().zip(self.0.to_le_bytes().iter().cycle()) {
                *b = *v;
            }
            Ok(())
        }
    }

    #[test]
    fn codes_are_zero_padded_to_the_configured_length() {
        assert_eq!(
            Code::generate(&Constant(42), 8).unwrap().expose(),
            "00000042"
        );
        assert_eq!(Code::generate(&Constant(7), 6).unwrap().expose(), "000007");
        for d in DIGITS {
            let c = Code::generate(&OsRandom, d).unwrap();
            assert_eq!(c.expose().len(), d as usize);
            assert!(c.expose().bytes().all(|b| b.is_ascii_digit()));
        }
        assert!(Code::generate(&OsRandom, 5).is_err());
        assert!(Code::generate(&OsRandom, 11).is_err());
    }

    #[test]
    fn debug_never_shows_the_code() {
        let c = Code::generate(&Constant(12_345_678), 8).unwrap();
        let d = format!("{c:?}");
        assert!(d.starts_with("Code(") && d.contains("[REDACTED]"), "{d}");
        assert!(!d.contains("12345678"), "{d}");
        let p = Pending::new(c, 0, 60);
        assert!(!format!("{p:?}").contains("12345678"));
    }

    #[test]
    fn matching_ignores_spaces_and_needs_every_digit() {
        let c = Code::generate(&Constant(12_345_678), 8).unwrap();
        assert!(c.matches("12345678"));
        assert!(c.matches(" 1234 5678\n"));
        assert!(!c.matches("12345679"));
        assert!(!c.matches("1234567"));
        assert!(!c.matches("123456789"));
        assert!(!c.matches(""));
    }

    #[test]
    fn pending_code_expires_and_is_used_once() {
        let code = || Code::generate(&Constant(12_345_678), 8).unwrap();
        let mut p = Pending::new(code(), 1000, 60);
        assert_eq!(p.check("00000000", 1001), Check::Wrong);
        assert_eq!(p.check("12345678", 1059), Check::Accepted);
        assert_eq!(p.check("12345678", 1059), Check::AlreadyUsed);

        let mut p = Pending::new(code(), 1000, 60);
        assert_eq!(p.check("12345678", 1060), Check::Expired);
        assert_eq!(p.check("12345678", 1000), Check::Expired, "no way back");
    }

    #[test]
    fn session_tags_use_the_unambiguous_alphabet() {
        for _ in 0..100 {
            let t = session_tag(&OsRandom).unwrap();
            assert_eq!(t.len(), TAG_LEN);
            assert!(t.bytes().all(|b| TAG_ALPHABET.contains(&b)), "{t}");
        }
        assert_eq!(session_tag(&Constant(0)).unwrap(), "AAAAA");
    }
}
