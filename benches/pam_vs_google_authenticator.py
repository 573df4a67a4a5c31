#!/usr/bin/env python3
"""TOTP authentication cost through real libpam: pam_mfa.so against
pam_google_authenticator.so, same state file, one run.

For each module, with pam_wrapper supplying the service file and a small C
PAM application (benches/pam_auth_client.c) answering the prompt:
  - warm: N logins in one process (fresh pam handle each; module loaded once
    for pam_mfa.so, which is -z nodelete, and re-loaded per handle for
    pam_google_authenticator.so, as libpam does);
  - cold: C processes doing one login each, as sshd does (every connection
    is a new process that loads the module);
  - peak RSS (VmHWM) of the warm process, and its RSS before the first login.
The state file is TOTP with a window of 3, no rate limit and reuse allowed,
so every login succeeds and neither module has to rewrite it.

usage (root; needs cc, libpam0g-dev, libpam-wrapper, oathtool,
libpam-google-authenticator, and `cargo build --release -p mfa-pam`):
    benches/pam_vs_google_authenticator.py [N=500] [C=50]
"""
import os, secrets, shutil, statistics, subprocess, sys, tempfile

N = int(sys.argv[1]) if len(sys.argv) > 1 else 500
C = int(sys.argv[2]) if len(sys.argv) > 2 else 50
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MFA = os.path.join(ROOT, "target", "release", "libpam_mfa.so")
GA = "/usr/lib/x86_64-linux-gnu/security/pam_google_authenticator.so"
WRAPPER = "/usr/lib/x86_64-linux-gnu/libpam_wrapper.so"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

for path, what in [(MFA, "cargo build --release -p mfa-pam"), (GA, "apt install libpam-google-authenticator"),
                   (WRAPPER, "apt install libpam-wrapper")]:
    if not os.path.exists(path):
        sys.exit(f"missing {path}: {what}")
if os.geteuid() != 0:
    sys.exit("run as root (a throw-away account is created)")

tmp = tempfile.mkdtemp(prefix="pam-bench-")
os.chmod(tmp, 0o755)  # both modules open the file as the user (setfsuid)
user = "pambench" + secrets.token_hex(3)
home = os.path.join(tmp, "home")


def run(*argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kw)


def code():
    return run("oathtool", "--totp", "-b", SECRET).stdout.strip()


def client(service, n):
    env = {"PATH": "/usr/bin:/bin", "LD_PRELOAD": WRAPPER, "PAM_WRAPPER": "1",
           "PAM_WRAPPER_SERVICE_DIR": os.path.join(tmp, "svc")}
    p = subprocess.run([os.path.join(tmp, "client"), service, user, str(n)], input=code() + "\n",
                       capture_output=True, text=True, env=env)
    fields = dict(kv.split("=", 1) for kv in p.stdout.split())
    if p.returncode != 0 or fields.get("failed") != "0":
        sys.exit(f"{service}: logins failed: {p.stdout[-300:]}{p.stderr[-600:]}")
    return [int(x) / 1000.0 for x in fields["us"].split(",")], int(fields["base_rss_kb"]), int(fields["peak_rss_kb"])


def p95(xs):
    return sorted(xs)[max(0, int(round(0.95 * len(xs))) - 1)]


try:
    run("cc", "-O2", "-o", os.path.join(tmp, "client"), os.path.join(ROOT, "benches", "pam_auth_client.c"), "-lpam")
    run("useradd", "-m", "-d", home, "-s", "/bin/sh", user)
    ga_file = os.path.join(home, ".google_authenticator")
    with open(ga_file, "w") as f:
        f.write(f'{SECRET}\n" WINDOW_SIZE 3\n" TOTP_AUTH\n')
    shutil.chown(ga_file, user, user)
    os.chmod(ga_file, 0o600)
    os.mkdir(os.path.join(tmp, "svc"))
    for name, module in [("mfa", MFA), ("ga", GA)]:
        with open(os.path.join(tmp, "svc", name), "w") as f:
            f.write(f"auth required {module}\naccount required pam_permit.so\n")

    results = {}
    for name in ["ga", "mfa", "ga", "mfa"]:  # interleaved; the second round counts
        warm, base, peak = client(name, N)
        cold = [client(name, 1)[0][0] for _ in range(C)]
        results[name] = (warm[1:], cold, base, peak)

    print(f"TOTP logins through libpam (pam_wrapper), warm N={N} in one process, cold C={C} processes")
    print(f"{'module':28} {'warm median':>12} {'warm p95':>10} {'cold median':>12} {'cold p95':>10} {'base RSS':>10} {'peak RSS':>10}")
    label = {"ga": "pam_google_authenticator.so", "mfa": "pam_mfa.so"}
    for name in ["ga", "mfa"]:
        warm, cold, base, peak = results[name]
        print(f"{label[name]:28} {statistics.median(warm):10.3f}ms {p95(warm):8.3f}ms "
              f"{statistics.median(cold):10.3f}ms {p95(cold):8.3f}ms {base:8d}kB {peak:8d}kB")
    wr = statistics.median(results["mfa"][0]) / statistics.median(results["ga"][0])
    cr = statistics.median(results["mfa"][1]) / statistics.median(results["ga"][1])
    print(f"ratio pam_mfa/pam_google_authenticator: warm {wr:.2f}x, cold {cr:.2f}x; "
          f"peak RSS {results['mfa'][3]} kB vs {results['ga'][3]} kB "
          f"(+{results['mfa'][3] - results['mfa'][2]} kB vs +{results['ga'][3] - results['ga'][2]} kB over the bare client)")
finally:
    subprocess.run(["userdel", "-r", "-f", user], capture_output=True)
    shutil.rmtree(tmp, ignore_errors=True)
