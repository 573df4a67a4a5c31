//! Prompts on the controlling terminal (`/dev/tty`): secret ones (codes)
//! and visible ones (menus, "press Enter"), read the same way.
//!
//! Why not `rpassword::prompt_password`: it shows the prompt first and turns
//! echo off afterwards, so a code typed (or pasted) as soon as the prompt
//! appears can be echoed on the screen — the sshd end-to-end test caught
//! it. Here the terminal is switched before the prompt is written: no echo,
//! no line editing and no signals from the keyboard, so this reader handles
//! the keys itself. Ctrl-C and Ctrl-D end the conversation as `Aborted` (a
//! clean denial with its message) instead of killing the process; visible
//! answers are echoed by the reader. The answer is read with a bound and
//! kept only in zeroized memory.
//!
//! Reads from the terminal wait at most until the login deadline: the
//! engine's own timeout cannot interrupt a blocking read, and a session
//! parked at a prompt must not live forever.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Instant;

use nix::poll::{poll, PollFd, PollFlags};

use nix::sys::termios::{
    tcgetattr, tcsetattr, LocalFlags, SetArg, SpecialCharacterIndices as Cc, Termios,
};
use zeroize::{Zeroize, Zeroizing};

use super::{ConversationError, SecretAnswer};

/// The terminal's editing keys, taken from its settings.
#[derive(Debug, Clone, Copy)]
struct Keys {
    interrupt: u8,
    end_of_file: u8,
    erase: u8,
    kill_line: u8,
}

impl Keys {
    fn of(t: &Termios) -> Self {
        let cc = |i: Cc| t.control_chars[i as usize];
        Self {
            interrupt: cc(Cc::VINTR),
            end_of_file: cc(Cc::VEOF),
            erase: cc(Cc::VERASE),
            kill_line: cc(Cc::VKILL),
        }
    }
}

/// Raw input (no echo, no canonical mode, no keyboard signals) until
/// dropped; then the saved settings come back.
struct RawInput<'a> {
    fd: BorrowedFd<'a>,
    saved: Termios,
}

impl<'a> RawInput<'a> {
    fn new(fd: BorrowedFd<'a>) -> Result<(Self, Keys), ConversationError> {
        let failed = |e: nix::Error| ConversationError::Failed(format!("terminal: {e}"));
        let saved = tcgetattr(fd).map_err(failed)?;
        let mut raw = saved.clone();
        raw.local_flags
            .remove(LocalFlags::ECHO | LocalFlags::ICANON | LocalFlags::ISIG);
        raw.control_chars[Cc::VMIN as usize] = 1;
        raw.control_chars[Cc::VTIME as usize] = 0;
        tcsetattr(fd, SetArg::TCSANOW, &raw).map_err(failed)?;
        let keys = Keys::of(&saved);
        Ok((Self { fd, saved }, keys))
    }
}

impl Drop for RawInput<'_> {
    fn drop(&mut self) {
        let _ = tcsetattr(self.fd, SetArg::TCSANOW, &self.saved);
    }
}

/// Waits until `fd` has input (or hung up), or fails with `TimedOut` at the
/// deadline. No deadline: returns at once.
pub(super) fn wait_readable(fd: BorrowedFd<'_>, deadline: Option<Instant>) -> std::io::Result<()> {
    let Some(deadline) = deadline else {
        return Ok(());
    };
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no answer before the login deadline",
            ));
        }
        // poll takes at most ~65 s at a time; longer waits loop.
        let slice = u16::try_from(left.as_millis().saturating_add(1)).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        match poll(&mut fds, slice) {
            Ok(0) | Err(nix::Error::EINTR) => continue,
            // Readable, or hung up / error: the read that follows says which.
            Ok(_) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
}

/// A terminal whose reads give up at the deadline.
pub(super) struct DeadlineReader<'a> {
    pub(super) file: &'a File,
    pub(super) deadline: Option<Instant>,
}

impl Read for DeadlineReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        wait_readable(self.file.as_fd(), self.deadline)?;
        let mut file = self.file;
        file.read(buf)
    }
}

/// Asks on `/dev/tty`; at most `max` bytes before Enter, and no waiting
/// past `deadline`. With `echo`, typed characters are shown (this reader
/// echoes them itself, as the terminal's own echo and editing are off).
pub(super) fn prompt_on_tty(
    prompt: &str,
    max: usize,
    deadline: Option<Instant>,
    echo: bool,
) -> Result<SecretAnswer, ConversationError> {
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|_| ConversationError::NotInteractive)?;
    prompt_on(tty, prompt, max, deadline, echo)
}

/// [`prompt_on_tty`] on an open terminal (tests: a pseudo-terminal).
fn prompt_on(
    mut tty: File,
    prompt: &str,
    max: usize,
    deadline: Option<Instant>,
    echo: bool,
) -> Result<SecretAnswer, ConversationError> {
    let failed = |e: std::io::Error| ConversationError::Failed(e.to_string());
    let settings = tty.try_clone().map_err(failed)?;
    let mut screen = tty.try_clone().map_err(failed)?;
    let answer = {
        let (_raw, keys) = RawInput::new(settings.as_fd())?;
        tty.write_all(prompt.as_bytes())
            .and_then(|_| tty.flush())
            .map_err(failed)?;
        let mut input = DeadlineReader {
            file: &tty,
            deadline,
        };
        let mut show = |bytes: &[u8]| {
            if echo {
                let _ = screen.write_all(bytes);
            }
        };
        read_line_raw(&mut input, keys, max, &mut show)
    };
    // Enter was not echoed: end the prompt's line ourselves.
    let _ = tty.write_all(b"\n");
    answer
}

/// Reads one answer byte by byte, so no buffer outside the zeroized one
/// ever holds it. `show` receives what to echo (nothing for secrets is the
/// caller's choice): typed bytes, and "back, blank, back" for each erased
/// character.
fn read_line_raw(
    input: &mut impl Read,
    keys: Keys,
    max: usize,
    show: &mut dyn FnMut(&[u8]),
) -> Result<SecretAnswer, ConversationError> {
    let mut line = Zeroizing::new(Vec::with_capacity(max + 1));
    let mut byte = [0u8; 1];
    loop {
        let b = match input.read(&mut byte) {
            Ok(0) => return Err(ConversationError::Aborted),
            Ok(_) => byte[0],
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                return Err(ConversationError::Failed(e.to_string()))
            }
            // EIO: the terminal was hung up.
            Err(_) => return Err(ConversationError::Aborted),
        };
        match b {
            b'\r' | b'\n' => break,
            _ if b == keys.interrupt || b == keys.end_of_file => {
                return Err(ConversationError::Aborted)
            }
            _ if b == keys.erase || b == 0x7f || b == 0x08 => {
                if erase_char(&mut line) {
                    show(b"\x08 \x08");
                }
            }
            _ if b == keys.kill_line => {
                while erase_char(&mut line) {
                    show(b"\x08 \x08");
                }
            }
            _ if line.len() >= max => {
                return Err(ConversationError::Failed("answer too long".into()))
            }
            _ => {
                line.push(b);
                // Control characters are kept but not echoed raw.
                if b >= 0x20 {
                    show(&[b]);
                }
            }
        }
    }
    byte.zeroize();
    let bytes = std::mem::take(&mut *line);
    match String::from_utf8(bytes) {
        Ok(s) => Ok(Zeroizing::new(s)),
        Err(e) => {
            drop(Zeroizing::new(e.into_bytes()));
            Err(ConversationError::Failed("answer is not UTF-8".into()))
        }
    }
}

/// Removes the last character (all bytes of a UTF-8 sequence); false when
/// the line was empty.
fn erase_char(line: &mut Vec<u8>) -> bool {
    while let Some(b) = line.pop() {
        if b & 0xC0 != 0x80 {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every way a prompt can end (an answer, Ctrl-C, Ctrl-D, the deadline,
    /// an answer too long, a visible answer) leaves the terminal as it was:
    /// echo, line editing and keyboard signals back on. A terminal left raw
    /// after a failed login would show the next password typed into it.
    #[test]
    fn every_way_a_prompt_ends_restores_the_terminal() {
        use nix::pty::openpty;
        use std::time::Duration;
        // Keys typed, echo, deadline (ms), the answer or a word of the error.
        type Case = (
            &'static [u8],
            bool,
            Option<u64>,
            Result<&'static str, &'static str>,
        );
        let cases: [Case; 6] = [
            (b"123456\r", false, None, Ok("123456")),
            (b"12\x03", false, None, Err("Aborted")),
            (b"\x04", false, None, Err("Aborted")),
            (b"", false, Some(200), Err("login deadline")),
            (b"1234567\r", false, None, Err("too long")),
            (b"menu 2\r", true, None, Ok("menu 2")),
        ];
        for (keys, echo, deadline_ms, want) in cases {
            let pty = openpty(None, None).unwrap();
            let master = File::from(pty.master);
            let slave = File::from(pty.slave);
            let before = tcgetattr(slave.as_fd()).unwrap().local_flags;
            let wanted = LocalFlags::ECHO | LocalFlags::ICANON | LocalFlags::ISIG;
            assert!(before.contains(wanted), "{before:?}");
            // The keys are typed once the prompt shows (the terminal is raw
            // by then: typed earlier, the line discipline would eat ^C).
            let typist = {
                let mut master = master.try_clone().unwrap();
                let keys = keys.to_vec();
                std::thread::spawn(move || {
                    let mut shown = [0u8; 64];
                    let _ = master.read(&mut shown);
                    master.write_all(&keys).unwrap();
                })
            };
            let deadline = deadline_ms.map(|ms| Instant::now() + Duration::from_millis(ms));
            let got = prompt_on(slave.try_clone().unwrap(), "Code: ", 6, deadline, echo);
            typist.join().unwrap();
            match (&got, want) {
                (Ok(a), Ok(w)) => assert_eq!(a.as_str(), w),
                (Err(e), Err(w)) => assert!(format!("{e:?}").contains(w), "{e:?} / {w}"),
                _ => panic!("{keys:?}: {got:?}, wanted {want:?}"),
            }
            let after = tcgetattr(slave.as_fd()).unwrap().local_flags;
            assert_eq!(after, before, "{keys:?}: the terminal was not restored");
        }
    }

    const KEYS: Keys = Keys {
        interrupt: 0x03,
        end_of_file: 0x04,
        erase: 0x7f,
        kill_line: 0x15,
    };

    fn read(input: &[u8], max: usize) -> Result<String, ConversationError> {
        read_line_raw(&mut &input[..], KEYS, max, &mut |_| {}).map(|s| s.to_string())
    }

    #[test]
    fn reads_one_line_and_leaves_the_rest() {
        let mut input: &[u8] = b"123456\rls\n";
        assert_eq!(
            read_line_raw(&mut input, KEYS, 10, &mut |_| {})
                .unwrap()
                .as_str(),
            "123456"
        );
        assert_eq!(input, b"ls\n");
        assert_eq!(read(b"\n", 10).unwrap(), "");
    }

    #[test]
    fn editing_keys_work_without_the_terminal_doing_it() {
        assert_eq!(read(b"124\x7f3\n", 10).unwrap(), "123");
        assert_eq!(read(b"12\x08\x083\n", 10).unwrap(), "3");
        assert_eq!(read(b"999\x15123\n", 10).unwrap(), "123");
        assert_eq!(read(b"\x7f\x7f1\n", 10).unwrap(), "1");
    }

    #[test]
    fn visible_answers_are_echoed_with_erasures() {
        let mut shown = Vec::new();
        let answer = read_line_raw(
            &mut &"1x\x7fé\x7f2\x15ok\n".as_bytes()[..],
            KEYS,
            10,
            &mut |b| shown.extend_from_slice(b),
        )
        .unwrap();
        assert_eq!(answer.as_str(), "ok");
        assert_eq!(
            String::from_utf8(shown).unwrap(),
            "1x\x08 \x08é\x08 \x082\x08 \x08\x08 \x08ok"
        );
    }

    #[test]
    fn interrupt_end_of_input_and_hang_up_abort() {
        for input in [&b"12\x03"[..], b"\x04", b"12\x0434\n", b"", b"1234"] {
            assert_eq!(
                read(input, 10),
                Err(ConversationError::Aborted),
                "{input:?}"
            );
        }
    }

    #[test]
    fn the_deadline_ends_the_wait() {
        let (r, _w) = nix::unistd::pipe().unwrap();
        let file = File::from(r);
        let start = Instant::now();
        let mut input = DeadlineReader {
            file: &file,
            deadline: Some(start + std::time::Duration::from_millis(200)),
        };
        let e = read_line_raw(&mut input, KEYS, 10, &mut |_| {}).unwrap_err();
        assert_eq!(
            e,
            ConversationError::Failed("no answer before the login deadline".into())
        );
        assert!(start.elapsed() >= std::time::Duration::from_millis(200));
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn input_before_the_deadline_is_read() {
        let (r, w) = nix::unistd::pipe().unwrap();
        std::fs::File::from(w).write_all(b"123456\n").unwrap();
        let file = File::from(r);
        let mut input = DeadlineReader {
            file: &file,
            deadline: Some(Instant::now() + std::time::Duration::from_secs(5)),
        };
        assert_eq!(
            read_line_raw(&mut input, KEYS, 10, &mut |_| {})
                .unwrap()
                .as_str(),
            "123456"
        );
    }

    #[test]
    fn overlong_and_non_utf8_answers_fail() {
        assert!(matches!(
            read(b"12345678901\n", 10),
            Err(ConversationError::Failed(_))
        ));
        assert_eq!(read(b"1234567890\n", 10).unwrap(), "1234567890");
        assert!(matches!(
            read(b"\xff\xfe\n", 10),
            Err(ConversationError::Failed(_))
        ));
    }
}
