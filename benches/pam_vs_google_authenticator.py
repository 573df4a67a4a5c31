#!/usr/bin/env python3
"""TOTP authentication cost through real libpam: pam_mfa.so against
pam_google_authenticator.so, same state file, same run, interleaved.

For each module, with pam_wrapper supplying the service file and a small C
PAM application (benches/pam_auth_client.c) answering the prompt:
  - warm: N logins in one process (fresh pam handle each; module loaded once
    for pam_mfa.so, which is -z nodelete, and re-loaded per handle for
    pam_google_authenticator.so, as libpam does);
  - cold: C processes doing one login each, as sshd does (every connection
    is a new process that loads the module); the time is the process's own
    pam_start..pam_end, so it includes loading the module; also its CPU
    time (less disturbed by other load than the wall clock) and its minor
    page faults;
  - peak RSS (VmHWM) of the warm process, and its RSS before the first login;
  - held open: K processes each do one login and keep the pam handle open
    (as sshd's child does for the whole session); with all K alive, Pss and
    Private_Dirty of each are read from /proc/PID/smaps_rollup (medians).
Two state files, each measured separately:
  - lean: TOTP, window 3, no rate limit, reuse allowed: neither module
    rewrites it;
  - rewriting: the same plus `" DISALLOW_REUSE` and `" RATE_LIMIT 3 30`:
    both modules rewrite the file on every login (reuse list and attempt
    time stamps). The client restores the file before each login, outside
    the timed part, so every login of every module starts from the same file
    and succeeds with the same code.
Rounds are interleaved (google-authenticator, then each pam_mfa.so, again;
cold logins alternate module by module); the first round warms caches and
is discarded, later rounds are pooled.

If the machine has no /dev/log, glibc's syslog() (pam_google_authenticator,
libpam) falls back to writing /dev/console, which distorts the timings; a
real server always has a syslog daemon. The script then binds a throw-away
datagram sink at /dev/log for the run and removes it afterwards.

usage (root; needs cc, libpam0g-dev, libpam-wrapper, oathtool,
libpam-google-authenticator, and `cargo build --release -p mfa-pam -p mfa-pam-net`):
    benches/pam_vs_google_authenticator.py [N=500] [C=50] [options]
options:
    --held K           processes held open per module (default 20, 0: skip)
    --rounds R         interleaved rounds, the first discarded (default 2)
    --state S          lean, rewriting or both (default both)
    --module LABEL=SO  a pam_mfa.so to measure (repeatable; default
                       target/release/libpam_mfa.so). Several modules (e.g. an
                       old and a new build) are interleaved in one run.
    --dir DIR          where the throw-away account's home (and so the state
                       file) is created (default: the system's temp dir). The
                       rewriting figures are mostly fsync(): a disk and a
                       tmpfs give very different ones (the file system is
                       printed)
    --netcfg           also measure each pam_mfa.so with two configs whose
                       rule gives the benchmark user TOTP only: one naming
                       no network factor, one with [push] and policy
                       push+totp (what a TOTP-only login pays for a host
                       that uses network factors; when the network object
                       sits beside the module, the held-open processes are
                       checked for it)
e.g. `benches/pam_vs_google_authenticator.py 500 100` (docs/pam.md has the
figures of `500 100 --rounds 4 --netcfg`), or to compare builds:
    benches/pam_vs_google_authenticator.py 500 100 --rounds 3 \\
        --module before=/tmp/old/target/release/libpam_mfa.so \\
        --module after=target/release/libpam_mfa.so
Run it on an idle machine (the load average is printed): other processes
competing for the CPU show up as noise in the cold figures first.
"""
import argparse, os, secrets, shutil, statistics, subprocess, sys, tempfile

from syslog_sink import SyslogSink

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GA = "/usr/lib/x86_64-linux-gnu/security/pam_google_authenticator.so"
WRAPPER = "/usr/lib/x86_64-linux-gnu/libpam_wrapper.so"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
LEAN = f'{SECRET}\n" WINDOW_SIZE 3\n" TOTP_AUTH\n'
REWRITING = f'{SECRET}\n" RATE_LIMIT 3 30\n" WINDOW_SIZE 3\n" DISALLOW_REUSE\n" TOTP_AUTH\n'

ap = argparse.ArgumentParser(description="pam_mfa.so against pam_google_authenticator.so")
ap.add_argument("N", nargs="?", type=int, default=500, help="warm logins in one process")
ap.add_argument("C", nargs="?", type=int, default=50, help="cold processes, one login each")
ap.add_argument("--held", type=int, default=20)
ap.add_argument("--rounds", type=int, default=2)
ap.add_argument("--state", choices=["lean", "rewriting", "both"], default="both")
ap.add_argument("--module", action="append", default=[])
ap.add_argument("--netcfg", action="store_true")
ap.add_argument("--dir", default=None)
args = ap.parse_args()
if args.rounds < 2:
    sys.exit("--rounds must be at least 2 (the first one is discarded)")

modules = {}  # label -> path of a pam_mfa.so
for m in args.module or [f"pam_mfa.so={os.path.join(ROOT, 'target', 'release', 'libpam_mfa.so')}"]:
    label, _, path = m.partition("=")
    if not path or label in modules:
        sys.exit(f"--module wants a new LABEL=PATH, got {m!r}")
    modules[label] = os.path.abspath(path)
for path, what in [(p, "cargo build --release -p mfa-pam") for p in modules.values()] + [
        (GA, "apt install libpam-google-authenticator"), (WRAPPER, "apt install libpam-wrapper")]:
    if not os.path.exists(path):
        sys.exit(f"missing {path}: {what}")
if os.geteuid() != 0:
    sys.exit("run as root (a throw-away account is created)")
if os.path.exists("/etc/mfa/mfa.toml"):
    print("note: /etc/mfa/mfa.toml exists; pam_mfa.so reads it (the default config is not measured)")

tmp = tempfile.mkdtemp(prefix="pam-bench-", dir=args.dir)
os.chmod(tmp, 0o755)  # both modules open the file as the user (setfsuid)
user = "pambench" + secrets.token_hex(3)
home = os.path.join(tmp, "home")
state_file = os.path.join(home, ".google_authenticator")


def run(*argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kw)


def code():
    return run("oathtool", "--totp", "-b", SECRET).stdout.strip()


ENV = {"PATH": "/usr/bin:/bin", "LD_PRELOAD": WRAPPER, "PAM_WRAPPER": "1",
       "PAM_WRAPPER_SERVICE_DIR": os.path.join(tmp, "svc")}


def argv(service, n, restore, keep=False):
    a = [os.path.join(tmp, "client")]
    if restore:
        a += ["-s", state_file, "-t", os.path.join(tmp, "template")]
    return a + (["-k"] if keep else []) + [service, user, str(n)]


def figures(service, out, err, rc):
    """The client's line as {us, cpu_us, minflt: [per login], base, peak}."""
    fields = dict(kv.split("=", 1) for kv in out.split())
    if rc not in (0, None) or fields.get("failed") != "0":
        sys.exit(f"{service}: logins failed: {out[-300:]}{err[-600:]}")
    f = {k: [int(x) for x in fields[k].split(",")] for k in ("us", "cpu_us", "minflt")}
    f["base"], f["peak"] = int(fields["base_rss_kb"]), int(fields["peak_rss_kb"])
    return f


def client(service, n, restore):
    p = subprocess.run(argv(service, n, restore), input=code() + "\n", capture_output=True, text=True, env=ENV)
    return figures(service, p.stdout, p.stderr, p.returncode)


def smaps_rollup(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        return {k.rstrip(":"): int(v) for k, v, *_ in (line.split() for line in f) if v.isdigit()}


def held(service, k, restore):
    """K processes, one login each, handles kept open; their Pss and
    Private_Dirty (kB) read while all K are alive, and how many of them
    mapped the network object (pam_mfa_net.so)."""
    procs = []
    try:
        for _ in range(k):  # one after another: they share the state file
            p = subprocess.Popen(argv(service, 1, restore, keep=True), stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
            procs.append(p)
            p.stdin.write(code() + "\n")
            p.stdin.flush()
            line = p.stdout.readline()
            if not line:
                figures(service, line, p.stderr.read(), p.wait())
            figures(service, line, "", None)
        maps = [smaps_rollup(p.pid) for p in procs]
        net = sum("pam_mfa_net" in open(f"/proc/{p.pid}/maps").read() for p in procs)
    finally:
        for p in procs:
            p.stdin.close()
            p.wait()
    return [m["Pss"] for m in maps], [m["Private_Dirty"] for m in maps], net


def install_copy(built, into):
    """`built` (and the network object beside it, when there is one)
    copied into directory `into`, root's and 0644, as a package installs
    it: a new file written with write(). The object straight from the
    linker measured 2 page faults more per cold login (32 against 30, the
    same bytes): the page cache holds a file the linker wrote differently,
    and the kernel maps fewer pages around each fault. Copied, every
    pam_mfa.so is measured as users run it, whatever built it last
    (pam_google_authenticator.so, installed by its package, is measured in
    place: a copy of it measured the same)."""
    os.makedirs(into)
    net = built[: -len(".so")] + "_net.so" if built.endswith(".so") else None
    for src in [built] + ([net] if net and os.path.exists(net) else []):
        dst = os.path.join(into, os.path.basename(src))
        shutil.copyfile(src, dst)
        os.chmod(dst, 0o644)
    return os.path.join(into, os.path.basename(built))


def p95(xs):
    return sorted(xs)[max(0, int(round(0.95 * len(xs))) - 1)]


def loadavg():
    return open("/proc/loadavg").read().split()[0]


sink = None
try:
    if not os.path.exists("/dev/log"):
        sink = SyslogSink()
    run("cc", "-O2", "-o", os.path.join(tmp, "client"), os.path.join(ROOT, "benches", "pam_auth_client.c"), "-lpam")
    run("useradd", "-m", "-d", home, "-s", "/bin/sh", user)
    os.mkdir(os.path.join(tmp, "svc"))
    services = {"ga": ("pam_google_authenticator.so", GA)}
    for i, (label, built) in enumerate(modules.items()):
        name = f"mfa{i}"  # libpam lowercases service names: labels are free-form
        path = install_copy(built, os.path.join(tmp, "lib", name))
        services[name] = (label, path)
        if args.netcfg:
            # Two configs that differ only in naming a network factor, so
            # that the cost of a config file and the cost of [push] show
            # apart. The rule gives the benchmark user TOTP only.
            with open(os.path.join(tmp, "users.toml"), "w") as f:
                f.write("# no per-user enrolment\n")
            common = (f'[general]\nusers_file = "{tmp}/users.toml"\n'
                      f'[[policy.rules]]\nusers = ["{user}"]\nfactors = ["totp"]\n')
            for suffix, what, text in [
                    ("cfg", "config, TOTP only", '[policy]\nfactors = ["totp"]\n' + common),
                    ("net", "config with [push]", '[policy]\nfactors = ["push", "totp"]\n' + common +
                     '[push]\nikey = "DIXXXXXXXXXXXXXXXXXX"\n'
                     f'skey = "{secrets.token_hex(20)}"\nhost = "api-bench.duosecurity.com"\n')]:
                cfg = os.path.join(tmp, f"{name}{suffix}.toml")
                with open(cfg, "w") as f:  # root's, 0600: it may hold a provider secret
                    f.write(text)
                os.chmod(cfg, 0o600)
                services[name + suffix] = (f"{label} ({what})", f"{path} config={cfg}")
    for name, (_, line) in services.items():
        with open(os.path.join(tmp, "svc", name), "w") as f:
            f.write(f"auth required {line}\naccount required pam_permit.so\n")

    print(f"TOTP logins through libpam (pam_wrapper): warm N={args.N} in one process, cold C={args.C} "
          f"processes, {args.held} held open; {args.rounds - 1} counted round(s); "
          f"syslog: {'temporary sink at /dev/log' if sink else '/dev/log present'}; "
          f"state file on {run('stat', '-f', '-c', '%T', tmp).stdout.strip()} ({tmp}); load average {loadavg()}")
    variants = ["lean", "rewriting"] if args.state == "both" else [args.state]
    for variant in variants:
        restore = variant == "rewriting"
        with open(os.path.join(tmp, "template"), "w") as f:
            f.write(REWRITING if restore else LEAN)
        with open(state_file, "w") as f:
            f.write(REWRITING if restore else LEAN)
        shutil.chown(state_file, user, user)
        os.chmod(state_file, 0o600)

        keys = ["warm", "cold", "cold_cpu", "cold_flt", "base", "peak", "pss", "dirty"]
        results = {name: {k: [] for k in keys} | {"net": 0} for name in services}
        for r in range(args.rounds):
            # Cold logins alternate between modules, so that a burst of
            # load elsewhere on the machine hits all of them alike.
            cold = {name: [] for name in services}
            for _ in range(args.C):
                for name in services:
                    cold[name].append(client(name, 1, restore))
            for name in services:
                warm = client(name, args.N, restore)
                pss, dirty, net = held(name, args.held, restore) if args.held else ([0], [0], 0)
                if r == 0:
                    continue
                c = cold[name]
                results[name]["net"] += net
                got = {"warm": [us / 1000 for us in warm["us"][1:]], "cold": [x["us"][0] / 1000 for x in c],
                       "cold_cpu": [x["cpu_us"][0] / 1000 for x in c], "cold_flt": [x["minflt"][0] for x in c],
                       "base": [warm["base"]], "peak": [warm["peak"]], "pss": pss, "dirty": dirty}
                for k in keys:
                    results[name][k].extend(got[k])

        med = {name: {k: statistics.median(res[k]) for k in keys} for name, res in results.items()}
        print(f"\n{variant} state file ({'rewritten on every login, restored before each' if restore else 'never rewritten'})")
        print(f"{'module':34} {'warm med':>9} {'warm p95':>9} {'cold med':>9} {'cold p95':>9} {'cold CPU':>9} "
              f"{'faults':>6} {'base RSS':>9} {'peak RSS':>9} {'Pss':>8} {'Pr_Dirty':>8}")
        for name, (label, _) in services.items():
            m, res = med[name], results[name]
            print(f"{label:34} {m['warm']:7.3f}ms {p95(res['warm']):7.3f}ms {m['cold']:7.3f}ms "
                  f"{p95(res['cold']):7.3f}ms {m['cold_cpu']:7.3f}ms {m['cold_flt']:6.0f} {m['base']:7.0f}kB "
                  f"{m['peak']:7.0f}kB {m['pss']:6.0f}kB {m['dirty']:6.0f}kB")
        ga = med["ga"]
        for name, (label, _) in services.items():
            if name != "ga":
                m = med[name]
                ratios = [f"{what} {m[k] / ga[k]:.2f}x" for what, k in
                          [("warm", "warm"), ("cold", "cold"), ("cold CPU", "cold_cpu"), ("peak RSS", "peak"),
                           ("Pss", "pss"), ("Private_Dirty", "dirty")] if ga[k]]
                print(f"  {label}/google-authenticator: " + ", ".join(ratios))
                net_so = services[name][1].split()[0].removesuffix(".so") + "_net.so"
                if name.endswith("net") and args.held and os.path.exists(net_so):
                    print(f"  {label}: pam_mfa_net.so mapped in {results[name]['net']} of "
                          f"{args.held * (args.rounds - 1)} held-open logins")
    print(f"\nload average at the end {loadavg()}" + (f"; {sink.count} syslog datagrams" if sink else ""))
finally:
    subprocess.run(["userdel", "-r", "-f", user], capture_output=True)
    shutil.rmtree(tmp, ignore_errors=True)
    if sink:
        sink.close()
