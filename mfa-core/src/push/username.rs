//! Duo user names, checked when the users file is loaded.

use serde::{Deserialize, Serialize};

/// Longest Duo user name accepted, in characters.
pub const MAX_CHARS: usize = 128;

/// A user name as sent to Duo's `/preauth` and `/auth` and shown in the
/// device menu: 1 to 128 characters, no control characters (the menu is
/// printed to the person's terminal), no surrounding white space (which Duo
/// would not match). Anything else Duo accepts (non-ASCII letters, `+`,
/// `&`, inner spaces) is kept: the request is percent-encoded and signed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DuoUsername(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DuoUsernameError {
    #[error("a Duo user name must have 1 to 128 characters")]
    Length,
    #[error("a Duo user name must not contain control characters")]
    Control,
    #[error("a Duo user name must not start or end with white space")]
    Space,
}

impl DuoUsername {
    pub fn parse(text: &str) -> Result<Self, DuoUsernameError> {
        let chars = text.chars().count();
        if chars == 0 || chars > MAX_CHARS {
            return Err(DuoUsernameError::Length);
        }
        if text.chars().any(char::is_control) {
            return Err(DuoUsernameError::Control);
        }
        if text.trim() != text {
            return Err(DuoUsernameError::Space);
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Serialize for DuoUsername {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for DuoUsername {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_what_duo_accepts_and_refuses_what_a_terminal_would_interpret() {
        for ok in ["alice", "alice.smith@example.com", "ödd user+tag&x=y"] {
            assert_eq!(DuoUsername::parse(ok).unwrap().as_str(), ok);
        }
        assert_eq!(
            DuoUsername::parse(&"a".repeat(MAX_CHARS)).map(|u| u.0.len()),
            Ok(MAX_CHARS)
        );
        for (bad, why) in [
            ("", DuoUsernameError::Length),
            (&*"é".repeat(MAX_CHARS + 1), DuoUsernameError::Length),
            ("a\u{1b}[2Jb", DuoUsernameError::Control),
            ("a\nb", DuoUsernameError::Control),
            ("a\u{85}b", DuoUsernameError::Control),
            (" alice", DuoUsernameError::Space),
            ("alice\u{a0}", DuoUsernameError::Space),
        ] {
            assert_eq!(DuoUsername::parse(bad), Err(why), "{bad:?}");
        }
    }
}
