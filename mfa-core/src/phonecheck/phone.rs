//! Phone numbers in E.164: what the users file holds and what the API gets.

use std::fmt;

use serde::Deserialize;

/// A validated E.164 number. `+447700900000` and `447700900000` are the
/// same number; the API is sent the digits only.
#[derive(Clone, PartialEq, Eq)]
pub struct PhoneNumber {
    digits: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("phone number is empty")]
    Empty,
    #[error("phone number may hold only an optional leading '+' and digits (e.g. +447700900000)")]
    BadCharacter,
    #[error("phone number must start with a country code (not 0)")]
    LeadingZero,
    #[error("phone number must have 7 to 15 digits (E.164), including the country code")]
    Length,
}

impl PhoneNumber {
    /// Parse `+447700900000` or `447700900000`. No spaces, dashes or
    /// brackets: a number written differently is refused, not guessed at.
    pub fn parse(text: &str) -> Result<Self, PhoneError> {
        if text.is_empty() {
            return Err(PhoneError::Empty);
        }
        let digits = text.strip_prefix('+').unwrap_or(text);
        if !digits.bytes().all(|b| b.is_ascii_digit()) || digits.is_empty() {
            return Err(PhoneError::BadCharacter);
        }
        if digits.starts_with('0') {
            return Err(PhoneError::LeadingZero);
        }
        if !(7..=15).contains(&digits.len()) {
            return Err(PhoneError::Length);
        }
        Ok(Self {
            digits: digits.to_owned(),
        })
    }

    /// Digits only, as the PhoneCheck API wants them.
    pub fn digits(&self) -> &str {
        &self.digits
    }

    /// `+` and digits: the canonical form stored in the users file.
    pub fn e164(&self) -> String {
        format!("+{}", self.digits)
    }

    /// For messages and logs: only the last two digits.
    pub fn masked(&self) -> String {
        let keep = self.digits.len().saturating_sub(2);
        format!("+{}{}", "•".repeat(keep), &self.digits[keep..])
    }
}

// Numbers are personal data: Debug shows the masked form.
impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

/// Stored as `+digits`.
impl serde::Serialize for PhoneNumber {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.e164())
    }
}

/// Parsed when the users file is loaded, so a malformed number is a
/// configuration error with file, line and key (the message never repeats
/// the number).
impl<'de> Deserialize<'de> for PhoneNumber {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_with_and_without_plus() {
        let a = PhoneNumber::parse("+447700900000").unwrap();
        let b = PhoneNumber::parse("447700900000").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.digits(), "447700900000");
        assert_eq!(a.e164(), "+447700900000");
        assert!(a.masked().ends_with("00") && !a.masked().contains("4477"));
        assert!(!format!("{a:?}").contains("447700900000"));
    }

    #[test]
    fn refuses_malformed_numbers() {
        use PhoneError::*;
        for (text, want) in [
            ("", Empty),
            ("+", BadCharacter),
            ("+44 7700 900000", BadCharacter),
            ("+44-7700900000", BadCharacter),
            ("++447700900000", BadCharacter),
            ("447700900000\n", BadCharacter),
            ("４４７７００９００００", BadCharacter),
            ("07700900000", LeadingZero),
            ("+123456", Length),
            ("+1234567890123456", Length),
        ] {
            assert_eq!(PhoneNumber::parse(text), Err(want), "{text:?}");
        }
        assert!(PhoneNumber::parse("+1234567").is_ok());
        assert!(PhoneNumber::parse("+123456789012345").is_ok());
    }
}
