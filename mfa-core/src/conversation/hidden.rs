//! A secret prompt on the controlling terminal (`/dev/tty`), echo off.
//!
//! Why not `rpassword::prompt_password`: it shows the prompt first and turns
//! echo off afterwards, so a code typed (or pasted) as soon as the prompt
//! appears can be echoed on the screen — we saw it happen under sshd. Here
//! echo goes off before the prompt is written, and the answer is read with
//! a bound and kept only in zeroized memory.

use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};

use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg, Termios};
use zeroize::Zeroizing;

use super::{ConversationError, SecretAnswer};

/// Turns terminal echo off (a newline is still echoed) until dropped.
struct EchoOff<'a> {
    fd: BorrowedFd<'a>,
    saved: Termios,
}

impl<'a> EchoOff<'a> {
    fn new(fd: BorrowedFd<'a>) -> Result<Self, ConversationError> {
        let failed = |e: nix::Error| ConversationError::Failed(format!("terminal: {e}"));
        let saved = tcgetattr(fd).map_err(failed)?;
        let mut quiet = saved.clone();
        quiet.local_flags.remove(LocalFlags::ECHO);
        quiet.local_flags.insert(LocalFlags::ECHONL);
        tcsetattr(fd, SetArg::TCSANOW, &quiet).map_err(failed)?;
        Ok(Self { fd, saved })
    }
}

impl Drop for EchoOff<'_> {
    fn drop(&mut self) {
        let _ = tcsetattr(self.fd, SetArg::TCSANOW, &self.saved);
    }
}

/// Asks on `/dev/tty` with echo off; at most `max` bytes before the newline.
/// End of input (Ctrl-D, a closed terminal) before a newline is `Aborted`.
pub(super) fn prompt_on_tty(prompt: &str, max: usize) -> Result<SecretAnswer, ConversationError> {
    let mut tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|_| ConversationError::NotInteractive)?;
    let echo_off = tty
        .try_clone()
        .map_err(|e| ConversationError::Failed(e.to_string()))?;
    let _guard = EchoOff::new(echo_off.as_fd())?;
    tty.write_all(prompt.as_bytes())
        .and_then(|_| tty.flush())
        .map_err(|e| ConversationError::Failed(e.to_string()))?;
    read_secret_line(&mut tty, max)
}

/// Reads one line byte by byte (the terminal delivers whole lines anyway),
/// so no buffer outside the zeroized one ever holds the secret.
fn read_secret_line(input: &mut impl Read, max: usize) -> Result<SecretAnswer, ConversationError> {
    let mut line = Zeroizing::new(Vec::with_capacity(max + 1));
    let mut byte = [0u8; 1];
    loop {
        match input.read(&mut byte) {
            Ok(0) => return Err(ConversationError::Aborted),
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) if line.len() >= max => {
                return Err(ConversationError::Failed("answer too long".into()))
            }
            Ok(_) => line.push(byte[0]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // EIO: the terminal was hung up.
            Err(_) => return Err(ConversationError::Aborted),
        }
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    let bytes = std::mem::take(&mut *line);
    match String::from_utf8(bytes) {
        Ok(s) => Ok(Zeroizing::new(s)),
        Err(e) => {
            drop(Zeroizing::new(e.into_bytes()));
            Err(ConversationError::Failed("answer is not UTF-8".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(input: &[u8], max: usize) -> Result<String, ConversationError> {
        read_secret_line(&mut &input[..], max).map(|s| s.to_string())
    }

    #[test]
    fn reads_one_line_and_leaves_the_rest() {
        let mut input: &[u8] = b"123456\r\nls\n";
        assert_eq!(read_secret_line(&mut input, 10).unwrap().as_str(), "123456");
        assert_eq!(input, b"ls\n");
    }

    #[test]
    fn end_of_input_aborts_and_bad_answers_fail() {
        assert_eq!(read(b"", 10), Err(ConversationError::Aborted));
        assert_eq!(read(b"1234", 10), Err(ConversationError::Aborted));
        assert!(matches!(
            read(b"12345678901\n", 10),
            Err(ConversationError::Failed(_))
        ));
        assert_eq!(read(b"1234567890\n", 10).unwrap(), "1234567890");
        assert!(matches!(
            read(b"\xff\xfe\n", 10),
            Err(ConversationError::Failed(_))
        ));
        assert_eq!(read(b"\n", 10).unwrap(), "");
    }
}
