//! The `~/.google_authenticator` file format.
//!
//! ```text
//! JBSWY3DPEHPK3PXP            <- base32 secret
//! " RATE_LIMIT 3 30 1700000000 <- options: `" KEY [values]`
//! " WINDOW_SIZE 17
//! " DISALLOW_REUSE 56666666
//! " TOTP_AUTH
//! 12345678                    <- scratch codes, 8 digits, one per line
//! ```
//!
//! Parsing is strict: a file we do not fully understand is refused, never
//! rewritten. Option lines we do not interpret (e.g. `LAST0`,
//! `RESETTING_TIME_SKEW`) are kept verbatim and in order.

use std::fmt::Write as _;

use zeroize::Zeroizing;

use crate::otp::Algorithm;

/// pam_google_authenticator refuses files larger than this; so do we.
pub const MAX_FILE_SIZE: usize = 64 * 1024;
/// Shortest secret accepted (80 bits, what google-authenticator writes at minimum).
pub const MIN_SECRET_BYTES: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("file is empty")]
    Empty,
    #[error("file is larger than {MAX_FILE_SIZE} bytes")]
    TooLarge,
    #[error("file is not valid UTF-8 text")]
    NotText,
    #[error("file does not end with a newline (truncated?)")]
    Truncated,
    #[error("line 1: the secret is not valid base32 or is shorter than 80 bits")]
    BadSecret,
    #[error("line {line}: invalid {key} option")]
    BadOption { line: usize, key: String },
    #[error("line {line}: {key} appears twice")]
    DuplicateOption { line: usize, key: String },
    #[error("line {line}: not an option or an 8-digit scratch code")]
    BadLine { line: usize },
    #[error("both TOTP_AUTH and HOTP_COUNTER are set")]
    BothModes,
    #[error("neither TOTP_AUTH nor HOTP_COUNTER is set")]
    NoMode,
}

/// Time-based or counter-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Totp,
    /// Next counter value to accept.
    Hotp(u64),
}

/// `" RATE_LIMIT attempts interval ts...`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    pub attempts: u32,
    pub interval: u64,
    pub timestamps: Vec<u64>,
}

/// One option line, in file order. Known options are parsed into typed
/// fields of [`TotpState`]; this records only their position.
#[derive(Debug, Clone, PartialEq, Eq)]
enum OptionLine {
    Known(&'static str),
    /// An option we do not interpret, kept verbatim (without the `" ` prefix).
    Other(String),
}

/// A parsed state file. Dropping it wipes the secret and scratch codes.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpState {
    /// The secret line as written (kept so a rewrite does not reformat it).
    secret_line: Zeroizing<String>,
    secret: Zeroizing<Vec<u8>>,
    pub mode: Mode,
    pub step_size: u64,
    pub window_size: u32,
    pub rate_limit: Option<RateLimit>,
    /// `Some(steps)` when DISALLOW_REUSE is on.
    pub disallow_reuse: Option<Vec<u64>>,
    /// In steps.
    pub time_skew: i64,
    pub algorithm: Algorithm,
    pub digits: u32,
    pub scratch_codes: Vec<Zeroizing<String>>,
    order: Vec<OptionLine>,
}

impl std::fmt::Debug for TotpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpState")
            .field("mode", &self.mode)
            .field("step_size", &self.step_size)
            .field("window_size", &self.window_size)
            .field("scratch_codes", &self.scratch_codes.len())
            .finish_non_exhaustive()
    }
}

const DEFAULT_STEP: u64 = 30;
const DEFAULT_WINDOW: u32 = 3;

/// Decode a google_authenticator secret: case-insensitive base32, spaces
/// and hyphens ignored, padding optional.
pub fn decode_secret(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    let mut clean = Zeroizing::new(String::with_capacity(text.len()));
    for c in text.chars() {
        match c {
            ' ' | '\t' | '-' => {}
            '=' => {}
            c if c.is_ascii_alphanumeric() => clean.push(c.to_ascii_uppercase()),
            _ => return None,
        }
    }
    let bytes = data_encoding::BASE32_NOPAD
        .decode(clean.as_bytes())
        .ok()
        .map(Zeroizing::new)?;
    (bytes.len() >= MIN_SECRET_BYTES).then_some(bytes)
}

fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || s.len() > 19 {
        return None;
    }
    s.parse().ok()
}

fn is_scratch_code(line: &str) -> bool {
    line.len() == 8 && line.bytes().all(|b| b.is_ascii_digit()) && !line.starts_with('0')
}

impl TotpState {
    /// A fresh TOTP state around `secret` (raw bytes), default settings.
    pub fn new_totp(secret: &[u8]) -> Self {
        let line = data_encoding::BASE32_NOPAD.encode(secret);
        Self {
            secret_line: Zeroizing::new(line),
            secret: Zeroizing::new(secret.to_vec()),
            mode: Mode::Totp,
            step_size: DEFAULT_STEP,
            window_size: DEFAULT_WINDOW,
            rate_limit: None,
            disallow_reuse: None,
            time_skew: 0,
            algorithm: Algorithm::Sha1,
            digits: 6,
            scratch_codes: Vec::new(),
            order: Vec::new(),
        }
    }

    pub fn secret(&self) -> &[u8] {
        &self.secret
    }

    /// The secret as base32 without padding (for otpauth URIs).
    pub fn secret_base32(&self) -> Zeroizing<String> {
        Zeroizing::new(data_encoding::BASE32_NOPAD.encode(&self.secret))
    }

    /// Parse a whole file. Strict: anything unexpected is an error.
    pub fn parse(bytes: &[u8]) -> Result<Self, StateError> {
        if bytes.is_empty() {
            return Err(StateError::Empty);
        }
        if bytes.len() > MAX_FILE_SIZE {
            return Err(StateError::TooLarge);
        }
        let text = std::str::from_utf8(bytes).map_err(|_| StateError::NotText)?;
        if !text.ends_with('\n') {
            return Err(StateError::Truncated);
        }
        let mut lines = text.split('\n');
        let first = lines.next().unwrap_or("").trim_end_matches('\r');
        let secret = decode_secret(first).ok_or(StateError::BadSecret)?;
        let mut state = Self::new_totp(&[]);
        state.secret_line = Zeroizing::new(first.to_owned());
        state.secret = secret;
        let mut totp_auth = false;
        let mut hotp: Option<u64> = None;
        let mut seen: Vec<&'static str> = Vec::new();

        // The last element after the final '\n' is the empty string.
        let body: Vec<&str> = lines.collect();
        let body = &body[..body.len().saturating_sub(1)];
        for (idx, raw) in body.iter().enumerate() {
            let line_no = idx + 2;
            let line = raw.trim_end_matches('\r');
            if let Some(opt) = line.strip_prefix("\" ") {
                let mut parts = opt.split_ascii_whitespace();
                let key = parts.next().unwrap_or("");
                let values: Vec<&str> = parts.collect();
                let bad = || StateError::BadOption {
                    line: line_no,
                    key: key.to_owned(),
                };
                let known: Option<&'static str> = match key {
                    "TOTP_AUTH" => {
                        if !values.is_empty() {
                            return Err(bad());
                        }
                        totp_auth = true;
                        Some("TOTP_AUTH")
                    }
                    "HOTP_COUNTER" => {
                        let [v] = values.as_slice() else {
                            return Err(bad());
                        };
                        hotp = Some(parse_u64(v).ok_or_else(bad)?);
                        Some("HOTP_COUNTER")
                    }
                    "STEP_SIZE" => {
                        let [v] = values.as_slice() else {
                            return Err(bad());
                        };
                        let v = parse_u64(v)
                            .filter(|v| (1..=60).contains(v))
                            .ok_or_else(bad)?;
                        state.step_size = v;
                        Some("STEP_SIZE")
                    }
                    "WINDOW_SIZE" => {
                        let [v] = values.as_slice() else {
                            return Err(bad());
                        };
                        let v = parse_u64(v)
                            .filter(|v| (1..=100).contains(v))
                            .ok_or_else(bad)?;
                        state.window_size = v as u32;
                        Some("WINDOW_SIZE")
                    }
                    "RATE_LIMIT" => {
                        let [a, i, ts @ ..] = values.as_slice() else {
                            return Err(bad());
                        };
                        let attempts = parse_u64(a)
                            .filter(|v| (1..=100).contains(v))
                            .ok_or_else(bad)?;
                        let interval = parse_u64(i)
                            .filter(|v| (1..=3600).contains(v))
                            .ok_or_else(bad)?;
                        let timestamps = ts
                            .iter()
                            .map(|t| parse_u64(t))
                            .collect::<Option<Vec<_>>>()
                            .ok_or_else(bad)?;
                        state.rate_limit = Some(RateLimit {
                            attempts: attempts as u32,
                            interval,
                            timestamps,
                        });
                        Some("RATE_LIMIT")
                    }
                    "DISALLOW_REUSE" => {
                        let steps = values
                            .iter()
                            .map(|t| parse_u64(t))
                            .collect::<Option<Vec<_>>>()
                            .ok_or_else(bad)?;
                        state.disallow_reuse = Some(steps);
                        Some("DISALLOW_REUSE")
                    }
                    "TIME_SKEW" => {
                        let [v] = values.as_slice() else {
                            return Err(bad());
                        };
                        state.time_skew = v.parse::<i64>().map_err(|_| bad())?;
                        Some("TIME_SKEW")
                    }
                    "MFA_ALGORITHM" => {
                        let [v] = values.as_slice() else {
                            return Err(bad());
                        };
                        state.algorithm = Algorithm::parse(v).ok_or_else(bad)?;
                        Some("MFA_ALGORITHM")
                    }
                    "MFA_DIGITS" => {
                        let [v] = values.as_slice() else {
                            return Err(bad());
                        };
                        state.digits = match *v {
                            "6" => 6,
                            "8" => 8,
                            _ => return Err(bad()),
                        };
                        Some("MFA_DIGITS")
                    }
                    "" => return Err(bad()),
                    _ => None,
                };
                match known {
                    Some(k) => {
                        if seen.contains(&k) {
                            return Err(StateError::DuplicateOption {
                                line: line_no,
                                key: k.to_owned(),
                            });
                        }
                        seen.push(k);
                        state.order.push(OptionLine::Known(k));
                    }
                    None => state.order.push(OptionLine::Other(opt.to_owned())),
                }
            } else if is_scratch_code(line) {
                state.scratch_codes.push(Zeroizing::new(line.to_owned()));
            } else {
                return Err(StateError::BadLine { line: line_no });
            }
        }
        state.mode = match (totp_auth, hotp) {
            (true, Some(_)) => return Err(StateError::BothModes),
            (true, None) => Mode::Totp,
            (false, Some(c)) => Mode::Hotp(c),
            (false, None) => return Err(StateError::NoMode),
        };
        Ok(state)
    }

    fn render_known(&self, key: &str, out: &mut String) {
        // Writing to a String cannot fail.
        let _ = match key {
            "TOTP_AUTH" if self.mode == Mode::Totp => writeln!(out, "\" TOTP_AUTH"),
            "HOTP_COUNTER" => match self.mode {
                Mode::Hotp(c) => writeln!(out, "\" HOTP_COUNTER {c}"),
                Mode::Totp => Ok(()),
            },
            "STEP_SIZE" => writeln!(out, "\" STEP_SIZE {}", self.step_size),
            "WINDOW_SIZE" => writeln!(out, "\" WINDOW_SIZE {}", self.window_size),
            "RATE_LIMIT" => match &self.rate_limit {
                Some(r) => {
                    let mut s = format!("\" RATE_LIMIT {} {}", r.attempts, r.interval);
                    for t in &r.timestamps {
                        let _ = write!(s, " {t}");
                    }
                    writeln!(out, "{s}")
                }
                None => Ok(()),
            },
            "DISALLOW_REUSE" => match &self.disallow_reuse {
                Some(steps) => {
                    let mut s = String::from("\" DISALLOW_REUSE");
                    for t in steps {
                        let _ = write!(s, " {t}");
                    }
                    writeln!(out, "{s}")
                }
                None => Ok(()),
            },
            "TIME_SKEW" => writeln!(out, "\" TIME_SKEW {}", self.time_skew),
            "MFA_ALGORITHM" => writeln!(out, "\" MFA_ALGORITHM {}", self.algorithm.as_str()),
            "MFA_DIGITS" => writeln!(out, "\" MFA_DIGITS {}", self.digits),
            _ => Ok(()),
        };
    }

    /// Serialise in google_authenticator's layout: secret, options (in the
    /// order they were read, new ones appended in the order
    /// google-authenticator writes them), scratch codes.
    /// Whether `next` differs from `self` only in what a lost write brings
    /// back for a while, not for good: the steps DISALLOW_REUSE has seen
    /// (an old code is accepted at most WINDOW_SIZE steps after its own,
    /// 90 s by default, which a crash and a reboot must fit in before anyone
    /// could reuse it), the rate limit's attempt times (they age out after
    /// its interval) and the time skew (a clock correction, re-learnt).
    /// Anything else (a HOTP counter, a used scratch code, an option turned
    /// on or off) counts as permanent: the store makes such a change
    /// durable, and pam_google_authenticator's cheaper write is used only
    /// for these.
    pub fn changes_only_time_bounded(&self, next: &TotpState) -> bool {
        let mut masked = next.clone();
        if let (Some(seen), Some(before)) = (&mut masked.disallow_reuse, &self.disallow_reuse) {
            seen.clone_from(before);
        }
        if let (Some(limit), Some(before)) = (&mut masked.rate_limit, &self.rate_limit) {
            limit.timestamps.clone_from(&before.timestamps);
        }
        masked.time_skew = self.time_skew;
        masked == *self
    }

    pub fn serialize(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::new());
        out.push_str(&self.secret_line);
        out.push('\n');
        let mut order = self.order.clone();
        let wanted: [(&'static str, bool); 8] = [
            ("RATE_LIMIT", self.rate_limit.is_some()),
            ("WINDOW_SIZE", self.window_size != DEFAULT_WINDOW),
            ("STEP_SIZE", self.step_size != DEFAULT_STEP),
            ("DISALLOW_REUSE", self.disallow_reuse.is_some()),
            ("TIME_SKEW", self.time_skew != 0),
            ("MFA_ALGORITHM", self.algorithm != Algorithm::Sha1),
            ("MFA_DIGITS", self.digits != 6),
            (
                match self.mode {
                    Mode::Totp => "TOTP_AUTH",
                    Mode::Hotp(_) => "HOTP_COUNTER",
                },
                true,
            ),
        ];
        for (key, needed) in wanted {
            if needed && !order.contains(&OptionLine::Known(key)) {
                order.push(OptionLine::Known(key));
            }
        }
        for line in &order {
            match line {
                OptionLine::Known(k) => self.render_known(k, &mut out),
                OptionLine::Other(raw) => {
                    out.push_str("\" ");
                    out.push_str(raw);
                    out.push('\n');
                }
            }
        }
        for code in &self.scratch_codes {
            out.push_str(code);
            out.push('\n');
        }
        out
    }

    /// Remove an option we do not interpret (by key), e.g. `RESETTING_TIME_SKEW`.
    pub fn remove_other(&mut self, key: &str) {
        self.order.retain(|l| match l {
            OptionLine::Other(raw) => raw.split_ascii_whitespace().next() != Some(key),
            OptionLine::Known(_) => true,
        });
    }

    /// The values of an option we do not interpret, if present.
    pub fn other(&self, key: &str) -> Option<Vec<String>> {
        self.order.iter().find_map(|l| match l {
            OptionLine::Other(raw) => {
                let mut parts = raw.split_ascii_whitespace();
                (parts.next() == Some(key)).then(|| parts.map(str::to_owned).collect())
            }
            OptionLine::Known(_) => None,
        })
    }

    /// Set (replace or append) an option we do not interpret.
    pub fn set_other(&mut self, key: &str, values: &[String]) {
        let mut raw = key.to_owned();
        for v in values {
            raw.push(' ');
            raw.push_str(v);
        }
        let new = OptionLine::Other(raw);
        if let Some(pos) = self.order.iter().position(
            |l| matches!(l, OptionLine::Other(r) if r.split_ascii_whitespace().next() == Some(key)),
        ) {
            self.order[pos] = new;
        } else {
            self.order.push(new);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "JBSWY3DPEHPK3PXP\n\" RATE_LIMIT 3 30 1700000000\n\" WINDOW_SIZE 17\n\" DISALLOW_REUSE 56666666\n\" LAST0 10.0.0.1 1700000000\n\" TOTP_AUTH\n12345678\n87654321\n";

    #[test]
    fn round_trips_byte_for_byte() {
        let s = TotpState::parse(SAMPLE.as_bytes()).unwrap();
        assert_eq!(s.mode, Mode::Totp);
        assert_eq!(s.window_size, 17);
        assert_eq!(s.rate_limit.as_ref().unwrap().timestamps, vec![1700000000]);
        assert_eq!(s.disallow_reuse, Some(vec![56666666]));
        assert_eq!(s.scratch_codes.len(), 2);
        assert_eq!(s.other("LAST0").unwrap(), vec!["10.0.0.1", "1700000000"]);
        assert_eq!(s.serialize().as_str(), SAMPLE);
    }

    #[test]
    fn only_the_used_steps_the_attempt_times_and_the_skew_are_time_bounded() {
        let s = TotpState::parse(SAMPLE.as_bytes()).unwrap();
        type Change = fn(&mut TotpState);
        let bounded: [(&str, Change); 4] = [
            ("a used step", |t| {
                t.disallow_reuse.as_mut().unwrap().push(56666667)
            }),
            ("an attempt time", |t| {
                t.rate_limit.as_mut().unwrap().timestamps.push(1700000030)
            }),
            ("the skew", |t| t.time_skew = 2),
            ("all three", |t| {
                t.disallow_reuse = Some(vec![]);
                t.rate_limit.as_mut().unwrap().timestamps.clear();
                t.time_skew = -1;
            }),
        ];
        for (what, change) in bounded {
            let mut next = s.clone();
            change(&mut next);
            assert!(s.changes_only_time_bounded(&next), "{what}");
        }
        let permanent: [(&str, Change); 7] = [
            ("a used scratch code", |t| {
                t.scratch_codes.remove(0);
            }),
            ("a used step and a scratch code", |t| {
                t.disallow_reuse.as_mut().unwrap().push(56666667);
                t.scratch_codes.pop();
            }),
            ("DISALLOW_REUSE turned off", |t| t.disallow_reuse = None),
            ("RATE_LIMIT turned off", |t| t.rate_limit = None),
            ("RATE_LIMIT's attempts", |t| {
                t.rate_limit.as_mut().unwrap().attempts = 9
            }),
            ("the window", |t| t.window_size = 5),
            ("another option", |t| {
                t.set_other("LAST0", &["10.0.0.2".into()])
            }),
        ];
        for (what, change) in permanent {
            let mut next = s.clone();
            change(&mut next);
            assert!(!s.changes_only_time_bounded(&next), "{what}");
        }
        // A HOTP counter moving on is for good, whatever else moves.
        let h = TotpState::parse(b"JBSWY3DPEHPK3PXP\n\" HOTP_COUNTER 7\n").unwrap();
        let mut next = h.clone();
        next.mode = Mode::Hotp(8);
        next.time_skew = 1;
        assert!(!h.changes_only_time_bounded(&next));
        assert!(h.changes_only_time_bounded(&h.clone()));
    }

    #[test]
    fn hotp_and_extensions() {
        let f = "JBSWY3DPEHPK3PXP\n\" HOTP_COUNTER 7\n\" MFA_ALGORITHM SHA256\n\" MFA_DIGITS 8\n";
        let s = TotpState::parse(f.as_bytes()).unwrap();
        assert_eq!(s.mode, Mode::Hotp(7));
        assert_eq!(s.algorithm, Algorithm::Sha256);
        assert_eq!(s.digits, 8);
        assert_eq!(s.serialize().as_str(), f);
    }

    #[test]
    fn secret_decoding_is_lenient_like_google_authenticator() {
        let a = decode_secret("JBSW Y3DP-EHPK3PXP").unwrap();
        let b = decode_secret("jbswy3dpehpk3pxp").unwrap();
        assert_eq!(*a, *b);
        assert!(decode_secret("JBSWY3DP").is_none(), "40 bits is too short");
        assert!(decode_secret("JBSWY3DPEHPK3PX!").is_none());
    }

    #[test]
    fn refuses_what_it_does_not_understand() {
        let cases: [(&[u8], StateError); 9] = [
            (b"", StateError::Empty),
            (b"JBSWY3DPEHPK3PXP\n\" TOTP_AUTH", StateError::Truncated),
            (
                b"JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\ngarbage\n",
                StateError::BadLine { line: 3 },
            ),
            (b"JBSWY3DP\n\" TOTP_AUTH\n", StateError::BadSecret),
            (
                b"JBSWY3DPEHPK3PXP\n\" WINDOW_SIZE 0\n\" TOTP_AUTH\n",
                StateError::BadOption {
                    line: 2,
                    key: "WINDOW_SIZE".into(),
                },
            ),
            (
                b"JBSWY3DPEHPK3PXP\n\" RATE_LIMIT 3\n\" TOTP_AUTH\n",
                StateError::BadOption {
                    line: 2,
                    key: "RATE_LIMIT".into(),
                },
            ),
            (
                b"JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\n\" HOTP_COUNTER 1\n",
                StateError::BothModes,
            ),
            (b"JBSWY3DPEHPK3PXP\n12345678\n", StateError::NoMode),
            (
                b"JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\n\" TOTP_AUTH\n",
                StateError::DuplicateOption {
                    line: 3,
                    key: "TOTP_AUTH".into(),
                },
            ),
        ];
        for (bytes, want) in cases {
            assert_eq!(
                TotpState::parse(bytes).unwrap_err(),
                want,
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        assert_eq!(
            TotpState::parse(&[0xff, b'\n']).unwrap_err(),
            StateError::NotText
        );
        let big = vec![b'A'; MAX_FILE_SIZE + 1];
        assert_eq!(TotpState::parse(&big).unwrap_err(), StateError::TooLarge);
        assert_eq!(
            TotpState::parse(b"JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\n1234567\n").unwrap_err(),
            StateError::BadLine { line: 3 }
        );
    }

    #[test]
    fn unknown_options_are_preserved_and_editable() {
        let mut s =
            TotpState::parse(b"JBSWY3DPEHPK3PXP\n\" FUTURE_OPTION a b\n\" TOTP_AUTH\n").unwrap();
        s.set_other("RESETTING_TIME_SKEW", &["1+2".into()]);
        assert_eq!(
            s.serialize().as_str(),
            "JBSWY3DPEHPK3PXP\n\" FUTURE_OPTION a b\n\" TOTP_AUTH\n\" RESETTING_TIME_SKEW 1+2\n"
        );
        s.remove_other("RESETTING_TIME_SKEW");
        assert!(s.other("RESETTING_TIME_SKEW").is_none());
        assert_eq!(s.other("FUTURE_OPTION").unwrap(), vec!["a", "b"]);
    }
}
