//! Escaping of untrusted text for the places it goes.

/// Remove terminal control characters (C0, DEL, C1, which covers ESC/CSI
/// sequences) from text that came from outside (provider messages, user
/// names) before it is shown on a terminal. Newlines and tabs are kept when
/// `keep_newlines` is set.
pub fn strip_control(text: &str, keep_newlines: bool) -> String {
    text.chars()
        .filter(|&c| {
            if keep_newlines && (c == '\n' || c == '\t') {
                return true;
            }
            !(c.is_control() || ('\u{80}'..='\u{9f}').contains(&c))
        })
        .collect()
}

/// Render a value for a log line: control characters escaped so that a
/// hostile user name cannot forge extra log lines.
pub fn for_log(text: &str) -> String {
    text.escape_debug().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_escape_sequences_and_c1() {
        assert_eq!(strip_control("ok\x1b[2Jgo\u{9b}31m", false), "ok[2Jgo31m");
        assert_eq!(strip_control("a\nb\tc\rd", false), "abcd");
        assert_eq!(strip_control("a\nb\tc\rd", true), "a\nb\tcd");
        assert_eq!(strip_control("héllo ✓", false), "héllo ✓");
    }

    #[test]
    fn log_values_cannot_break_lines() {
        assert_eq!(for_log("bob\nfake entry"), "bob\\nfake entry");
        assert!(!for_log("x\r\u{1b}").contains('\r'));
    }
}
