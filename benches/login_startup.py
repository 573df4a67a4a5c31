#!/usr/bin/env python3
"""mfa-login start-up cost: time from exec to the first prompt, and peak memory.

Runs target/release/mfa-login N times under a pseudo-terminal (as sshd would
give it), with a TOTP state file for the current user, and measures the time
until "Verification code: " appears on the terminal. Then answers with an
empty line (denied) and records mfa-login's peak RSS.

Memory is mfa-login's own high-water mark (VmHWM in /proc/PID/status), read
at the prompt and then until the process is gone. Not wait4's ru_maxrss:
Linux folds the pre-exec high-water mark into it, so it reports the forked
Python interpreter (~11 MB), not mfa-login.

usage: benches/login_startup.py [N]        (default 100; run as root: uses -c)
"""
import os, pty, resource, select, statistics, sys, tempfile, time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "mfa-login")
if not os.path.exists(BIN):
    sys.exit("build first: cargo build --release -p mfa-login")

tmp = tempfile.mkdtemp()
ga = os.path.join(tmp, "ga")
with open(ga, "w") as f:
    f.write('JBSWY3DPEHPK3PXP\n" TOTP_AUTH\n')
os.chmod(ga, 0o600)
cfg = os.path.join(tmp, "mfa.toml")
with open(cfg, "w") as f:
    f.write('[totp]\nsecret = "%s"\n' % ga)

def hwm_kib(pid):
    """VmHWM of a live process in KiB, or None once it has exited."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None

def one():
    start = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(BIN, [BIN, "-c", cfg, "true"])
    buf = b""
    elapsed = None
    deadline = start + 10
    while time.perf_counter() < deadline:
        r, _, _ = select.select([fd], [], [], 1)
        if not r:
            continue
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        buf += chunk
        if b"Verification code: " in buf:
            elapsed = time.perf_counter() - start
            break
    peak = hwm_kib(pid) or 0
    os.write(fd, b"\n")
    # Follow the high-water mark through the denial until the process is a
    # zombie (no Vm* lines), then reap it.
    while True:
        h = hwm_kib(pid)
        if h is None:
            break
        peak = max(peak, h)
    os.wait4(pid, 0)
    os.close(fd)
    if elapsed is None:
        sys.exit("no prompt seen: %r" % buf)
    return elapsed, peak

times, rss = [], []
for _ in range(N):
    t, m = one()
    times.append(t * 1000)
    rss.append(m)
times.sort()
print("mfa-login exec -> first prompt over %d runs: median %.2f ms, p95 %.2f ms, min %.2f ms"
      % (N, statistics.median(times), times[int(0.95 * (N - 1))], times[0]))
print("mfa-login peak RSS (VmHWM): median %d KiB, max %d KiB" % (statistics.median(rss), max(rss)))
