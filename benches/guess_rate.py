#!/usr/bin/env python3
"""How fast can one user's TOTP code be guessed? Wrong-code attempts per
minute against one account, from PARALLEL sessions at once, for SECONDS.

Enrols a state file with `mfa totp enroll` and its *default* options (what
an administrator gets without asking), then runs PARALLEL loops, each
starting target/release/mfa-login again and again the way sshd runs a
ForceCommand without a terminal: a wrong code in MFA_PASSCODE, the command
`true`. The config names only the state file, so every other setting
(general.fail_delay_ms among them) is the built-in default.

Each attempt is classified by what mfa-login says:
  checked      "access denied" without "Too many attempts": the code was
               compared with the right ones (a real guess);
  rate-limited "Too many attempts": refused by RATE_LIMIT before any
               comparison (costs the attacker time, tells nothing);
  accepted     exit 0 (a lucky guess; should not happen).
Reported: attempts and checked codes per minute, the median time of one
attempt, and how long a 50 % chance of guessing right would take at that
rate (a wrong code has 3 chances in 10^6 against the default window of 3).

Last, on a fresh enrolment, whether the right code is accepted twice
(replay), since an attacker who sees one code may try it again at once.

usage: benches/guess_rate.py [SECONDS] [PARALLEL]   (default 60 8; run as root)
"""
import base64, hashlib, hmac, math, os, random, shutil, statistics, struct
import subprocess, sys, tempfile, threading, time

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
PARALLEL = int(sys.argv[2]) if len(sys.argv) > 2 else 8
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MFA = os.path.join(ROOT, "target", "release", "mfa")
LOGIN = os.path.join(ROOT, "target", "release", "mfa-login")
for b in (MFA, LOGIN):
    if not os.path.exists(b):
        sys.exit("build first: cargo build --workspace --release")
if os.geteuid() != 0:
    sys.exit("run as root (mfa-login -c is root's only)")


def totp(secret_b32, step):
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    h = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    o = h[-1] & 0xF
    v = struct.unpack(">I", h[o:o + 4])[0] & 0x7FFFFFFF
    return "%06d" % (v % 1000000)


def enrol(tmp, name):
    ga = os.path.join(tmp, name)
    subprocess.run([MFA, "totp", "enroll", "--secret-file", ga, "--qr", "none"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(ga) as f:
        lines = f.read().splitlines()
    cfg = os.path.join(tmp, name + ".toml")
    with open(cfg, "w") as f:
        f.write('[totp]\nsecret = "%s"\n' % ga)
    os.chmod(cfg, 0o600)
    options = [l[2:] for l in lines if l.startswith('" ')]
    return ga, cfg, lines[0], options


def login(cfg, code):
    env = {"PATH": "/usr/bin:/bin", "SSH_ORIGINAL_COMMAND": "true",
           "SSH_CONNECTION": "203.0.113.9 40000 127.0.0.1 22", "MFA_PASSCODE": code}
    t = time.perf_counter()
    p = subprocess.run([LOGIN, "-c", cfg, "true"], env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return p.returncode, p.stderr.decode(errors="replace"), time.perf_counter() - t


def main():
    tmp = tempfile.mkdtemp()
    try:
        ga, cfg, secret, options = enrol(tmp, "ga")
        counts = {"checked": 0, "rate-limited": 0, "accepted": 0, "other": 0}
        times = []
        lock = threading.Lock()
        end = time.monotonic() + SECONDS

        def worker():
            while time.monotonic() < end:
                step = int(time.time()) // 30
                right = {totp(secret, step + d) for d in (-1, 0, 1)}
                code = "%06d" % random.randrange(1000000)
                if code in right:
                    continue
                rc, err, dt = login(cfg, code)
                if rc == 0:
                    kind = "accepted"
                elif "Too many attempts" in err:
                    kind = "rate-limited"
                elif "access denied" in err:
                    kind = "checked"
                else:
                    kind = "other"
                with lock:
                    counts[kind] += 1
                    times.append(dt)

        started = time.monotonic()
        threads = [threading.Thread(target=worker) for _ in range(PARALLEL)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        minutes = (time.monotonic() - started) / 60
        attempts = sum(counts.values())
        per_min = attempts / minutes
        checked_per_min = counts["checked"] / minutes
        print("enrolled with: %s" % ("; ".join(options) or "(no options)"))
        print("%d parallel sessions for %.0f s: %d attempts (%s)" % (
            PARALLEL, minutes * 60, attempts,
            ", ".join("%s %d" % kv for kv in counts.items() if kv[1])))
        print("attempts per minute:       %.0f" % per_min)
        print("checked codes per minute:  %.1f" % checked_per_min)
        print("median time per attempt:   %.3f s" % statistics.median(times))
        if checked_per_min > 0:
            n50 = math.log(2) / 3e-6
            minutes50 = n50 / checked_per_min
            if minutes50 < 120:
                when = "%.1f minutes" % minutes50
            elif minutes50 < 2880:
                when = "%.1f hours" % (minutes50 / 60)
            else:
                when = "%.0f days" % (minutes50 / 1440)
            print("time to a 50%% chance of a right guess: %s (%.0f checked codes)"
                  % (when, n50))

        # Replay: the right code, twice, on a fresh enrolment.
        _, cfg2, secret2, _ = enrol(tmp, "ga2")
        code = totp(secret2, int(time.time()) // 30)
        first = login(cfg2, code)[0] == 0
        second = login(cfg2, code)[0] == 0
        print("right code accepted: %s; accepted again (replay): %s"
              % ("yes" if first else "no", "yes" if second else "no"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


main()
