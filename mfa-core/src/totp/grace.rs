//! pam_google_authenticator's `grace_period`: after a successful login from
//! an address, further logins from that same address within the period need
//! no code. The state file keeps the ten most recent distinct addresses as
//! `" LASTn ADDRESS UNIXTIME` lines (n = 0..9), the lines
//! pam_google_authenticator itself reads and writes.

use super::state::TotpState;

const SLOTS: usize = 10;

fn key(i: usize) -> String {
    format!("LAST{i}")
}

/// An address that can be stored on an option line and compared exactly:
/// no spaces or control characters (a hostile PAM_RHOST must not forge
/// lines), bounded length.
pub fn usable_address(address: &str) -> bool {
    !address.is_empty() && address.len() <= 255 && address.chars().all(|c| c.is_ascii_graphic())
}

/// The recorded (address, time) pairs; malformed lines are ignored.
fn entries(state: &TotpState) -> Vec<(String, u64)> {
    (0..SLOTS)
        .filter_map(|i| match state.other(&key(i))?.as_slice() {
            [ip, t] => Some((ip.clone(), t.parse().ok()?)),
            _ => None,
        })
        .collect()
}

/// Whether `address` logged in successfully less than `period` seconds
/// before `now`. Times in the future (a clock set back) never count.
pub fn within(state: &TotpState, address: &str, now: u64, period: u64) -> bool {
    period > 0
        && usable_address(address)
        && entries(state)
            .iter()
            .any(|(ip, t)| ip == address && *t <= now && now - *t < period)
}

/// Record a successful login from `address` at `now`: the address moves to
/// the front, the oldest of more than ten is forgotten.
pub fn record(state: &mut TotpState, address: &str, now: u64) {
    if !usable_address(address) {
        return;
    }
    let mut e = entries(state);
    e.retain(|(ip, _)| ip != address);
    e.push((address.to_owned(), now));
    e.sort_by_key(|entry| std::cmp::Reverse(entry.1));
    e.truncate(SLOTS);
    for i in 0..SLOTS {
        state.remove_other(&key(i));
    }
    for (i, (ip, t)) in e.iter().enumerate() {
        state.set_other(&key(i), &[ip.clone(), t.to_string()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(extra: &str) -> TotpState {
        TotpState::parse(format!("JBSWY3DPEHPK3PXP\n\" TOTP_AUTH\n{extra}").as_bytes()).unwrap()
    }

    #[test]
    fn reads_pam_google_authenticator_lines() {
        let s = state("\" LAST0 10.0.0.1 1000\n\" LAST1 10.0.0.2 1500\n");
        assert!(within(&s, "10.0.0.1", 1100, 3600));
        assert!(!within(&s, "10.0.0.1", 4600, 3600), "expired");
        assert!(!within(&s, "10.0.0.3", 1100, 3600), "other address");
        assert!(!within(&s, "10.0.0.2", 1400, 3600), "future timestamp");
        assert!(!within(&s, "10.0.0.1", 1100, 0), "grace_period=0 is off");
        assert!(!within(&s, "10.0.0.", 1100, 3600), "exact match only");
    }

    #[test]
    fn records_ten_most_recent_distinct_addresses() {
        let mut s = state("");
        for i in 0..12u64 {
            record(&mut s, &format!("192.0.2.{i}"), 100 + i);
        }
        record(&mut s, "192.0.2.5", 500);
        let text = s.serialize();
        assert_eq!(text.matches("\" LAST").count(), 10, "{}", text.as_str());
        assert!(
            text.contains("\" LAST0 192.0.2.5 500\n"),
            "{}",
            text.as_str()
        );
        assert!(!text.contains("192.0.2.0 "), "oldest forgotten");
        assert!(!text.contains("192.0.2.1 "), "second oldest forgotten");
        assert!(within(&s, "192.0.2.11", 200, 3600));
        // Round trip through the file format.
        let again = TotpState::parse(text.as_bytes()).unwrap();
        assert!(within(&again, "192.0.2.5", 600, 3600));
    }

    #[test]
    fn hostile_addresses_are_never_stored() {
        let mut s = state("");
        for bad in ["", "a b", "x\n\" TOTP_AUTH", "é", &"1".repeat(300)] {
            record(&mut s, bad, 100);
            assert!(!within(&s, bad, 100, 3600), "{bad:?}");
        }
        assert!(!s.serialize().contains("LAST"));
    }
}
