//! The one parser of octal file modes (`allowed_perm` in the config and as
//! a PAM argument, `mfa totp verify --allowed-perm`).
//!
//! A mode is text: `"0600"`, `"600"` or `"0o600"`, octal digits only, at
//! most 0o7777. In TOML it must be a quoted string: after parsing, the
//! integers `600` (decimal, which is 0o1130) and `0o600` (384) look like
//! any other number, so no reading of an integer can be right for both;
//! an integer is refused with a message that says to quote it.

use std::fmt;

/// Why a mode was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModeError {
    #[error("expected an octal mode such as 0600")]
    NotOctal,
    #[error("mode out of range (at most 7777)")]
    OutOfRange,
}

/// Parse an octal mode: optional `0o` prefix, then 1 or more digits 0-7
/// (nothing else: no sign, no spaces), value at most 0o7777.
pub fn parse_mode(s: &str) -> Result<u32, ModeError> {
    let digits = s.strip_prefix("0o").unwrap_or(s);
    if digits.is_empty() {
        return Err(ModeError::NotOctal);
    }
    let mut value: u32 = 0;
    for b in digits.bytes() {
        if !(b'0'..=b'7').contains(&b) {
            return Err(ModeError::NotOctal);
        }
        value = value * 8 + u32::from(b - b'0');
        if value > 0o7777 {
            return Err(ModeError::OutOfRange);
        }
    }
    Ok(value)
}

/// serde `deserialize_with` for a mode written as a string. An integer is
/// refused (see the module comment).
pub fn deserialize_mode<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    d.deserialize_any(ModeVisitor)
}

struct ModeVisitor;

const QUOTE_IT: &str = "write the mode as a quoted string, e.g. \"0600\": \
     a TOML integer cannot be read as a mode (600 is decimal, and 0o600 \
     cannot be told apart from the number 384)";

impl serde::de::Visitor<'_> for ModeVisitor {
    type Value = u32;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an octal mode as a string, such as \"0600\"")
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<u32, E> {
        parse_mode(s).map_err(E::custom)
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<u32, E> {
        Err(E::custom(QUOTE_IT))
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<u32, E> {
        Err(E::custom(QUOTE_IT))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_three_spellings() {
        for s in ["0600", "600", "0o600", "00600"] {
            assert_eq!(parse_mode(s), Ok(0o600), "{s}");
        }
        assert_eq!(parse_mode("0"), Ok(0));
        assert_eq!(parse_mode("7777"), Ok(0o7777));
        assert_eq!(parse_mode("0o4755"), Ok(0o4755));
    }

    #[test]
    fn refuses_anything_else() {
        for s in [
            "", "0o", "0999", "8", "60a", "+600", "-600", " 600", "600 ", "0x180", "0O600",
            "0o0o600", "6_00",
        ] {
            assert_eq!(parse_mode(s), Err(ModeError::NotOctal), "{s:?}");
        }
        for s in ["17777", "10000", "0o77777", "777777777777777777777777"] {
            assert_eq!(parse_mode(s), Err(ModeError::OutOfRange), "{s:?}");
        }
    }

    #[derive(Debug, serde::Deserialize)]
    struct T {
        #[serde(deserialize_with = "deserialize_mode")]
        m: u32,
    }

    #[test]
    fn toml_takes_strings_and_refuses_integers() {
        let t: T = toml::from_str("m = \"0640\"").unwrap();
        assert_eq!(t.m, 0o640);
        let t: T = toml::from_str("m = \"0o640\"").unwrap();
        assert_eq!(t.m, 0o640);
        // 600 used to be read as decimal (0o1130); 0o600 as 384: both refused.
        for src in ["m = 600", "m = 0o600", "m = 384"] {
            let e = toml::from_str::<T>(src).unwrap_err().to_string();
            assert!(e.contains("quoted string"), "{src}: {e}");
        }
        let e = toml::from_str::<T>("m = \"0999\"").unwrap_err().to_string();
        assert!(e.contains("octal mode"), "{e}");
        let e = toml::from_str::<T>("m = true").unwrap_err().to_string();
        assert!(e.contains("as a string"), "{e}");
    }
}
