"""A throw-away syslog socket for benchmarks on machines without a daemon.

Without /dev/log, glibc's syslog() (pam_google_authenticator, libpam,
pam_mfa.so) falls back to writing /dev/console, which distorts the
timings; every real server has a syslog daemon. The benchmark scripts bind
this datagram reader at /dev/log for their run and remove it afterwards.
"""
import os
import socket
import threading


class SyslogSink:
    """Reads and counts the datagrams sent to /dev/log."""

    def __init__(self):
        self.count = 0
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("/dev/log")
        os.chmod("/dev/log", 0o666)  # modules may send with the user's fsuid
        threading.Thread(target=self.drain, daemon=True).start()

    def drain(self):
        while True:
            try:
                self.sock.recv(65536)
            except OSError:
                return
            self.count += 1

    def close(self):
        os.unlink("/dev/log")
        self.sock.close()
