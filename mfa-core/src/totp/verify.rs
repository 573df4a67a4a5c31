//! pam_google_authenticator's verification rules, applied to a parsed state.
//!
//! Pure functions over [`TotpState`]: no I/O, no clock of their own. The
//! caller holds the file lock and writes the state back when
//! [`Verdict::changed`] is set.

use zeroize::Zeroizing;

use crate::otp::{codes_equal, format_code, hotp, time_step};

use super::state::{Mode, TotpState};

/// Switches with the meaning of the pam_google_authenticator options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Do not learn the client's clock skew from consecutive codes.
    pub noskewadj: bool,
    /// Do not advance the HOTP counter after a wrong code.
    pub no_increment_hotp: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    Code,
    ScratchCode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// Not a code of the right shape.
    Malformed,
    WrongCode,
    /// A TOTP code already used (DISALLOW_REUSE).
    Reused,
    /// More attempts than RATE_LIMIT allows.
    RateLimited,
}

impl Rejected {
    pub fn as_str(self) -> &'static str {
        match self {
            Rejected::Malformed => "malformed code",
            Rejected::WrongCode => "wrong code",
            Rejected::Reused => "code reused",
            Rejected::RateLimited => "rate limited",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub result: Result<Accepted, Rejected>,
    /// The state was modified and must be written back.
    pub changed: bool,
}

/// How far a wrong code is searched for to learn the client's clock skew:
/// offsets 0 to 1499 steps on each side of the present, as
/// pam_google_authenticator's `for (i = 0; i < 25*60; ++i)` (tm − i and
/// tm + i). That is a span of 25 hours at 30 s steps (±12.5 hours), not 25
/// hours each way: the count is of steps, whatever the step size.
const SKEW_SEARCH_STEPS: i64 = 25 * 60;
/// Consecutive codes needed to agree on a skew before it is adopted.
const SKEW_CONFIRMATIONS: usize = 3;
const RESETTING: &str = "RESETTING_TIME_SKEW";

fn normalise(code: &str) -> Option<Zeroizing<String>> {
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let digits = Zeroizing::new(digits);
    (!digits.is_empty() && digits.len() <= 10 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then_some(digits)
}

fn code_at(state: &TotpState, counter: u64) -> Zeroizing<String> {
    Zeroizing::new(format_code(
        hotp(state.algorithm, state.secret(), counter, state.digits),
        state.digits,
    ))
}

/// Check `code` at `now` (Unix seconds), updating `state` as
/// pam_google_authenticator does (rate-limit record, used scratch code
/// removed, HOTP counter, reuse list, skew learning).
pub fn verify(state: &mut TotpState, code: &str, now: u64, opts: VerifyOptions) -> Verdict {
    let mut changed = false;

    // Every attempt is recorded first, so guesses count even when wrong.
    if let Some(rl) = state.rate_limit.as_mut() {
        let oldest = now.saturating_sub(rl.interval);
        rl.timestamps.retain(|&t| t > oldest && t <= now);
        rl.timestamps.push(now);
        changed = true;
        if rl.timestamps.len() > rl.attempts as usize {
            return Verdict {
                result: Err(Rejected::RateLimited),
                changed,
            };
        }
    }

    let Some(code) = normalise(code) else {
        return Verdict {
            result: Err(Rejected::Malformed),
            changed,
        };
    };

    // Scratch codes: 8 digits, each usable once. Compare against all of them
    // in constant time per code.
    if code.len() == 8 {
        let hit = state
            .scratch_codes
            .iter()
            .position(|s| codes_equal(s, &code));
        if let Some(i) = hit {
            state.scratch_codes.remove(i);
            return Verdict {
                result: Ok(Accepted::ScratchCode),
                changed: true,
            };
        }
    }

    if code.len() != state.digits as usize {
        return Verdict {
            result: Err(Rejected::WrongCode),
            changed,
        };
    }

    let result = match state.mode {
        Mode::Hotp(counter) => {
            let window = u64::from(state.window_size);
            let hit = (0..window).find(|i| codes_equal(&code_at(state, counter + i), &code));
            match hit {
                Some(i) => {
                    state.mode = Mode::Hotp(counter + i + 1);
                    changed = true;
                    Ok(Accepted::Code)
                }
                None => {
                    if !opts.no_increment_hotp {
                        state.mode = Mode::Hotp(counter + 1);
                        changed = true;
                    }
                    Err(Rejected::WrongCode)
                }
            }
        }
        Mode::Totp => verify_totp(state, &code, now, opts, &mut changed),
    };
    Verdict { result, changed }
}

fn verify_totp(
    state: &mut TotpState,
    code: &str,
    now: u64,
    opts: VerifyOptions,
    changed: &mut bool,
) -> Result<Accepted, Rejected> {
    let tm = time_step(now, state.step_size) as i64;
    let w = i64::from(state.window_size);
    let lo = -((w - 1) / 2);
    let hi = w / 2;
    let base = tm + state.time_skew;
    let hit = (lo..=hi)
        .map(|i| base + i)
        .find(|&t| t >= 0 && codes_equal(&code_at(state, t as u64), code));

    if let Some(t) = hit {
        use_step(state, t, base)?;
        *changed |= state.disallow_reuse.is_some();
        if state.other(RESETTING).is_some() {
            state.remove_other(RESETTING);
            *changed = true;
        }
        return Ok(Accepted::Code);
    }

    if !opts.noskewadj {
        if let Some(skew) = find_skew(state, code, tm) {
            return learn_skew(state, tm, skew, changed);
        }
    }
    Err(Rejected::WrongCode)
}

/// With `DISALLOW_REUSE`: refuse `step` if it was used, else record it,
/// forgetting steps that can no longer fall inside the window around
/// `base` (now plus the skew).
fn use_step(state: &mut TotpState, step: i64, base: i64) -> Result<(), Rejected> {
    if was_used(state, step) {
        return Err(Rejected::Reused);
    }
    let w = i64::from(state.window_size);
    let (lo, hi) = (-((w - 1) / 2), w / 2);
    let Some(used) = state.disallow_reuse.as_mut() else {
        return Ok(());
    };
    let step = u64::try_from(step).unwrap_or(0);
    let min = u64::try_from(base + lo - w).unwrap_or(0);
    let max = u64::try_from(base + hi + w).unwrap_or(0);
    used.retain(|&u| u >= min && u <= max);
    used.push(step);
    Ok(())
}

fn was_used(state: &TotpState, step: i64) -> bool {
    let used = state.disallow_reuse.as_deref().unwrap_or_default();
    u64::try_from(step).is_ok_and(|step| used.contains(&step))
}

/// The offset (in steps) at which `code` would have been right, searching
/// outward from the present (offset 0 included: with a learned skew the
/// present itself can fall outside the window).
fn find_skew(state: &TotpState, code: &str, tm: i64) -> Option<i64> {
    (0..SKEW_SEARCH_STEPS).find_map(|i| {
        [-i, i]
            .into_iter()
            .find(|&d| tm + d >= 0 && codes_equal(&code_at(state, (tm + d) as u64), code))
    })
}

/// Record `tm+skew` in RESETTING_TIME_SKEW; once [`SKEW_CONFIRMATIONS`]
/// consecutive attempts agree (steps increasing, skews within one step of
/// each other), adopt the average skew and accept this code.
fn learn_skew(
    state: &mut TotpState,
    tm: i64,
    skew: i64,
    changed: &mut bool,
) -> Result<Accepted, Rejected> {
    // A used code teaches nothing (a replay must not move the skew).
    if was_used(state, tm + skew) {
        return Err(Rejected::Reused);
    }
    let mut seen: Vec<(i64, i64)> = state
        .other(RESETTING)
        .unwrap_or_default()
        .iter()
        .filter_map(|e| {
            let (t, s) = e.split_at(e.find(['+', '-'])?);
            Some((t.parse().ok()?, s.parse().ok()?))
        })
        .collect();
    // The same code again tells nothing new; as pam_google_authenticator
    // does, leave the state as it is.
    if seen.last().is_some_and(|&(t, s)| t + s == tm + skew) {
        return Err(Rejected::WrongCode);
    }
    seen.push((tm, skew));
    if seen.len() > SKEW_CONFIRMATIONS {
        seen.drain(..seen.len() - SKEW_CONFIRMATIONS);
    }
    *changed = true;
    // Consecutive attempts (times increasing, close together), skews within
    // one step of each other, and three different codes, each for a later
    // step than the one before: one old code typed three times, 30 s apart,
    // also gives skews one step apart, and must not log anyone in.
    let consistent = seen.len() == SKEW_CONFIRMATIONS
        && seen.windows(2).all(|p| {
            let ((t0, s0), (t1, s1)) = (p[0], p[1]);
            t1 > t0 && t1 <= t0 + 4 && (s1 - s0).abs() <= 1 && t1 + s1 > t0 + s0
        });
    if consistent {
        let avg = seen.iter().map(|&(_, s)| s).sum::<i64>() / seen.len() as i64;
        state.time_skew = avg;
        state.remove_other(RESETTING);
        // This code is accepted, so it is used like any other: once the
        // skew is adopted its step falls inside the window, and a replay
        // would otherwise pass (pam_google_authenticator does not record it).
        use_step(state, tm + skew, tm + avg)?;
        return Ok(Accepted::Code);
    }
    let values: Vec<String> = seen.iter().map(|(t, s)| format!("{t}{s:+}")).collect();
    state.set_other(RESETTING, &values);
    Err(Rejected::WrongCode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::totp::state::RateLimit;

    const SECRET: &str = "2SH3V3GDW7ZNMGYE";

    fn state(extra: &str) -> TotpState {
        TotpState::parse(format!("{SECRET}\n{extra}").as_bytes()).unwrap()
    }

    fn code(s: &TotpState, step: u64) -> String {
        format_code(hotp(s.algorithm, s.secret(), step, s.digits), s.digits)
    }

    const NOW: u64 = 1_700_000_000;
    const OPTS: VerifyOptions = VerifyOptions {
        noskewadj: true,
        no_increment_hotp: false,
    };

    #[test]
    fn google_authenticator_step_size_vector() {
        // Time 300000 s is step 10000 at the default 30 s step.
        let mut s = state("\" TOTP_AUTH\n");
        let v = verify(&mut s, "050548", 300000, OPTS);
        assert_eq!(v.result, Ok(Accepted::Code));
    }

    #[test]
    fn default_window_is_one_step_each_way() {
        let s0 = state("\" TOTP_AUTH\n");
        let tm = NOW / 30;
        for (d, ok) in [(-2i64, false), (-1, true), (0, true), (1, true), (2, false)] {
            let mut s = s0.clone();
            let c = code(&s, (tm as i64 + d) as u64);
            let v = verify(&mut s, &c, NOW, OPTS);
            assert_eq!(v.result.is_ok(), ok, "offset {d}");
        }
        // WINDOW_SIZE 17 accepts 8 steps each way, not 9.
        let s17 = state("\" WINDOW_SIZE 17\n\" TOTP_AUTH\n");
        let mut s = s17.clone();
        assert!(verify(&mut s, &code(&s17, tm - 8), NOW, OPTS)
            .result
            .is_ok());
        let mut s = s17.clone();
        assert!(verify(&mut s, &code(&s17, tm + 8), NOW, OPTS)
            .result
            .is_ok());
        let mut s = s17.clone();
        assert!(verify(&mut s, &code(&s17, tm + 9), NOW, OPTS)
            .result
            .is_err());
    }

    #[test]
    fn time_skew_shifts_the_window() {
        let mut s = state("\" TIME_SKEW 10\n\" TOTP_AUTH\n");
        let c = code(&s, NOW / 30 + 10);
        assert_eq!(verify(&mut s, &c, NOW, OPTS).result, Ok(Accepted::Code));
    }

    #[test]
    fn reuse_is_refused_with_disallow_reuse() {
        let mut s = state("\" DISALLOW_REUSE\n\" TOTP_AUTH\n");
        let c = code(&s, NOW / 30);
        let first = verify(&mut s, &c, NOW, OPTS);
        assert_eq!(
            first,
            Verdict {
                result: Ok(Accepted::Code),
                changed: true
            }
        );
        assert_eq!(s.disallow_reuse, Some(vec![NOW / 30]));
        assert_eq!(
            verify(&mut s, &c, NOW + 5, OPTS).result,
            Err(Rejected::Reused)
        );
        // Without the option the same code passes twice (pam_google_authenticator's default).
        let mut s = state("\" TOTP_AUTH\n");
        assert!(verify(&mut s, &c, NOW, OPTS).result.is_ok());
        assert!(verify(&mut s, &c, NOW, OPTS).result.is_ok());
    }

    #[test]
    fn reuse_list_forgets_old_steps() {
        let mut s = state("\" DISALLOW_REUSE 1 2 3\n\" TOTP_AUTH\n");
        let c = code(&s, NOW / 30);
        verify(&mut s, &c, NOW, OPTS);
        assert_eq!(s.disallow_reuse, Some(vec![NOW / 30]));
    }

    #[test]
    fn rate_limit_counts_every_attempt() {
        let mut s = state("\" RATE_LIMIT 3 30\n\" TOTP_AUTH\n");
        for i in 0..3 {
            assert_eq!(
                verify(&mut s, "000000", NOW + i, OPTS).result,
                Err(Rejected::WrongCode)
            );
        }
        let good = code(&s, NOW / 30);
        let v = verify(&mut s, &good, NOW + 3, OPTS);
        assert_eq!(
            v,
            Verdict {
                result: Err(Rejected::RateLimited),
                changed: true
            }
        );
        // After the interval the old attempts age out.
        let later = NOW + 40;
        let good = code(&s, later / 30);
        assert_eq!(
            verify(&mut s, &good, later, OPTS).result,
            Ok(Accepted::Code)
        );
        assert_eq!(
            s.rate_limit,
            Some(RateLimit {
                attempts: 3,
                interval: 30,
                timestamps: vec![later]
            })
        );
    }

    #[test]
    fn scratch_code_works_once() {
        let mut s = state("\" TOTP_AUTH\n12345678\n87654321\n");
        assert_eq!(
            verify(&mut s, "87654321", NOW, OPTS).result,
            Ok(Accepted::ScratchCode)
        );
        assert_eq!(s.scratch_codes.len(), 1);
        assert_eq!(
            verify(&mut s, "87654321", NOW, OPTS).result,
            Err(Rejected::WrongCode)
        );
        assert_eq!(
            verify(&mut s, "1234 5678", NOW, OPTS).result,
            Ok(Accepted::ScratchCode)
        );
        assert!(s.scratch_codes.is_empty());
    }

    #[test]
    fn hotp_counter_moves_on_success_and_failure() {
        let mut s = state("\" HOTP_COUNTER 1\n");
        assert_eq!(
            verify(&mut s, "293240", NOW, OPTS).result,
            Ok(Accepted::Code)
        );
        assert_eq!(s.mode, Mode::Hotp(2));
        assert_eq!(
            verify(&mut s, "293240", NOW, OPTS).result,
            Err(Rejected::WrongCode)
        );
        assert_eq!(s.mode, Mode::Hotp(3));
        let keep = VerifyOptions {
            no_increment_hotp: true,
            ..OPTS
        };
        let v = verify(&mut s, "000000", NOW, keep);
        assert_eq!(
            v,
            Verdict {
                result: Err(Rejected::WrongCode),
                changed: false
            }
        );
        assert_eq!(s.mode, Mode::Hotp(3));
        // Window: a code a little ahead is accepted and resynchronises.
        let ahead = code(&s, 5);
        assert!(verify(&mut s, &ahead, NOW, OPTS).result.is_ok());
        assert_eq!(s.mode, Mode::Hotp(6));
    }

    #[test]
    fn malformed_codes() {
        let mut s = state("\" TOTP_AUTH\n");
        for bad in ["", "abcdef", "12345a", "12345678901", "１２３４５６"] {
            assert_eq!(
                verify(&mut s, bad, NOW, OPTS).result,
                Err(Rejected::Malformed),
                "{bad}"
            );
        }
        assert_eq!(
            verify(&mut s, "12345", NOW, OPTS).result,
            Err(Rejected::WrongCode)
        );
    }

    #[test]
    fn skew_is_learned_after_three_consistent_codes() {
        let opts = VerifyOptions::default();
        let mut s = state("\" TOTP_AUTH\n");
        let skew = 100i64;
        let tm = (NOW / 30) as i64;
        for (n, expect_ok) in [(0i64, false), (1, false), (2, true)] {
            let now = NOW + 30 * n as u64;
            let c = code(&s, (tm + n + skew) as u64);
            let v = verify(&mut s, &c, now, opts);
            assert_eq!(v.result.is_ok(), expect_ok, "attempt {n}");
            assert!(v.changed);
        }
        assert_eq!(s.time_skew, skew);
        assert!(s.other(RESETTING).is_none());
        // With noskewadj the same codes are plain wrong codes.
        let mut s = state("\" TOTP_AUTH\n");
        let c = code(&s, (tm + skew) as u64);
        assert_eq!(
            verify(&mut s, &c, NOW, OPTS),
            Verdict {
                result: Err(Rejected::WrongCode),
                changed: false
            }
        );
    }

    /// Three codes `skew` steps ahead, typed 30 s apart; the third is
    /// accepted. Returns the state, the third code and its time.
    fn learn(extra: &str, skew: i64) -> (TotpState, String, u64) {
        let mut s = state(extra);
        let tm = (NOW / 30) as i64;
        let mut last = (String::new(), NOW);
        for n in 0..3i64 {
            let now = NOW + 30 * n as u64;
            let c = code(&s, (tm + n + skew) as u64);
            let v = verify(&mut s, &c, now, VerifyOptions::default());
            assert_eq!(v.result.is_ok(), n == 2, "attempt {n}");
            last = (c, now);
        }
        assert_eq!(s.time_skew, skew);
        (s, last.0, last.1)
    }

    #[test]
    fn a_code_accepted_while_learning_the_skew_is_used() {
        let (mut s, c, now) = learn("\" DISALLOW_REUSE\n\" TOTP_AUTH\n", 100);
        let step = (now / 30) as i64 + 100;
        assert_eq!(s.disallow_reuse, Some(vec![step as u64]));
        for later in [now, now + 10] {
            assert_eq!(
                verify(&mut s, &c, later, VerifyOptions::default()).result,
                Err(Rejected::Reused),
                "replayed at +{}",
                later - now
            );
        }
        assert_eq!(s.time_skew, 100, "a replay does not move the skew");
        // The next code is fine.
        let next = code(&s, (step + 1) as u64);
        assert_eq!(
            verify(&mut s, &next, now + 30, VerifyOptions::default()).result,
            Ok(Accepted::Code)
        );
        // Without DISALLOW_REUSE a code stays valid for its window, as in
        // pam_google_authenticator.
        let (mut s, c, now) = learn("\" TOTP_AUTH\n", 100);
        assert!(verify(&mut s, &c, now, VerifyOptions::default())
            .result
            .is_ok());
    }

    #[test]
    fn one_old_code_typed_three_times_teaches_no_skew() {
        for reuse in ["", "\" DISALLOW_REUSE\n"] {
            let mut s = state(&format!("{reuse}\" TOTP_AUTH\n"));
            let old = code(&s, NOW / 30 - 200);
            for n in 0..4u64 {
                let v = verify(&mut s, &old, NOW + 30 * n, VerifyOptions::default());
                assert_eq!(v.result, Err(Rejected::WrongCode), "{reuse:?} attempt {n}");
            }
            assert_eq!(s.time_skew, 0);
        }
    }

    #[test]
    fn skew_search_reaches_1499_steps_each_way_as_pam_google_authenticator() {
        let tm = NOW / 30;
        for (offset, searched) in [
            (-1499i64, true),
            (1499, true),
            (-1500, false),
            (1500, false),
            (2, true),
        ] {
            let mut s = state("\" TOTP_AUTH\n");
            let c = code(&s, (tm as i64 + offset) as u64);
            let v = verify(&mut s, &c, NOW, VerifyOptions::default());
            assert_eq!(v.result, Err(Rejected::WrongCode), "offset {offset}");
            assert_eq!(v.changed, searched, "offset {offset}");
            let expect = searched.then(|| vec![format!("{tm}{offset:+}")]);
            assert_eq!(s.other(RESETTING), expect, "offset {offset}");
        }
        // With a learned skew the present itself (offset 0) is outside the
        // window and is found by the search.
        let mut s = state("\" TIME_SKEW 50\n\" TOTP_AUTH\n");
        let c = code(&s, tm);
        let v = verify(&mut s, &c, NOW, VerifyOptions::default());
        assert!(v.changed);
        assert_eq!(s.other(RESETTING), Some(vec![format!("{tm}+0")]));
    }
}
