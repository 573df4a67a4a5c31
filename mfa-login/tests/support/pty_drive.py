#!/usr/bin/env python3
"""Drive a program on a pseudo-terminal, like a person at a keyboard.

usage: pty_drive.py TIMEOUT STEP... -- PROGRAM [ARGS...]

steps:  expect TEXT   wait until TEXT appears in the output (after the last match)
        send TEXT     type TEXT (use "\r" for Enter, "\x03" for Ctrl-C)
        sendfile PATH wait until PATH holds something, then type it (for
                      answers known only during the run, e.g. a code that
                      a webhook sink received)
        sendtotp PREFIX WHEN
                      type the TOTP code (oathtool, its clock at WHEN, e.g.
                      "now" or "now + 1 hour") of the base32 key printed
                      after the last PREFIX so far, then Enter: a person
                      typing what the app shows for a key on the screen
        close         hang up: close the terminal

Everything the program wrote on the terminal goes to stdout once it ends.
Exit status: the program's (128+N when killed by signal N); 124 when an
expected text never came or the program outlived TIMEOUT seconds (it is
then killed), with the reason on stderr.
"""
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time


def main():
    timeout = float(sys.argv[1])
    args = sys.argv[2:]
    sep = args.index("--")
    steps, cmd = args[:sep], args[sep + 1:]
    deadline = time.monotonic() + timeout
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(cmd[0], cmd)

    out = bytearray()
    seen = 0

    def read_some(wait):
        """False once the terminal has nothing more to give."""
        if fd is None:
            return False
        ready, _, _ = select.select([fd], [], [], wait)
        if not ready:
            return True
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the program's side is gone
            return False
        out.extend(chunk)
        return bool(chunk)

    def give_up(why):
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        sys.stdout.buffer.write(bytes(out))
        sys.stderr.write("pty_drive: %s\n" % why)
        sys.exit(124)

    open_ = True
    i = 0
    while i < len(steps):
        op = steps[i]
        if op == "expect":
            want = steps[i + 1].encode()
            while out.find(want, seen) < 0:
                if not open_:
                    give_up("output ended before %r" % steps[i + 1])
                if time.monotonic() > deadline:
                    give_up("timed out waiting for %r" % steps[i + 1])
                open_ = read_some(0.1)
            seen = out.find(want, seen) + len(want)
            i += 2
        elif op == "send":
            os.write(fd, steps[i + 1].encode())
            i += 2
        elif op == "sendfile":
            path = steps[i + 1]
            while not (os.path.exists(path) and os.path.getsize(path) > 0):
                if time.monotonic() > deadline:
                    give_up("timed out waiting for %s" % path)
                read_some(0.1)
            with open(path, "rb") as f:
                os.write(fd, f.read())
            i += 2
        elif op == "sendtotp":
            prefix, when = steps[i + 1].encode(), steps[i + 2]
            at = out.rfind(prefix)
            if at < 0:
                give_up("no %r on the screen" % steps[i + 1])
            key = re.match(rb"[A-Z2-7]+", bytes(out[at + len(prefix):]))
            if not key:
                give_up("no key after %r" % steps[i + 1])
            code = subprocess.run(
                ["oathtool", "--totp", "-b", "-N", when, key.group().decode()],
                capture_output=True, check=True).stdout.strip()
            os.write(fd, code + b"\r")
            i += 3
        elif op == "close":
            os.close(fd)
            fd = None
            open_ = False
            i += 1
        else:
            sys.exit("pty_drive: unknown step %r" % op)

    # Collect the rest of the output, then the exit status, both bounded.
    while open_ and time.monotonic() < deadline:
        open_ = read_some(0.1)
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            sys.stdout.buffer.write(bytes(out))
            if os.WIFSIGNALED(status):
                sys.exit(128 + os.WTERMSIG(status))
            sys.exit(os.WEXITSTATUS(status))
        time.sleep(0.05)
    give_up("the program did not end")


main()
