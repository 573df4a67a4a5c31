#!/usr/bin/env python3
"""What fleet mode costs a login (docs/fleet.md), through real libpam.

One throw-away PostgreSQL cluster (initdb as a throw-away account, in a temp
dir; TLS with a CA made here by the openssl command line, for this run
only), migrated with `mfa state migrate`, and three states for the same
users:
  - file:   each user's ~/.google_authenticator (DISALLOW_REUSE: the file
            is locked and rewritten on every login), no database;
  - socket: [state] backend = "postgres" over the unix socket;
  - tls:    the same over TCP + TLS on 127.0.0.1 (scram-sha-256 password).
Every login is one process (benches/pam_auth_client.c, as sshd forks one
per connection) doing pam_start..pam_end with pam_mfa.so (which, for the
database states, hands the login to pam_mfa_net.so), answering a code no
earlier login used (WINDOW_SIZE 100: each user has ~90 fresh codes), so
every login claims a step and succeeds.

Figures:
  - latency: median and p90 of one login, each state, interleaved;
  - throughput: three hosts' worth of logins at once (3 x CONC concurrent
    processes; on one machine a "host" is only its own connection to the
    shared database), for the database states: logins per second, and how
    many were accepted (all should be).

A login that fails is counted as refused and the first failure of each
state is printed: under many concurrent processes pam_wrapper itself can
fail pam_start (its /tmp/pam.X config directories collide), which is the
harness, not a decision of the module. Without /dev/log a throw-away
datagram sink is bound there for the run.

usage (root; needs cc, libpam0g-dev, libpam-wrapper, postgresql, openssl,
and `cargo build --release --workspace`):
    benches/fleet_latency.py [N=60] [CONC=16]
"""
import os, shutil, statistics, subprocess, sys, tempfile, threading, time
import concurrent.futures as cf

from syslog_sink import SyslogSink

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REL = os.path.join(ROOT, "target", "release")
SECRET = "JBSWY3DPEHPK3PXP"
PAM_WRAPPER = "/usr/lib/x86_64-linux-gnu/libpam_wrapper.so"
PAM_PERMIT = "/usr/lib/x86_64-linux-gnu/security/pam_permit.so"
WINDOW = 100


def sh(*argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kw).stdout


def pg_bin():
    vs = sorted(int(v) for v in os.listdir("/usr/lib/postgresql") if v.isdigit())
    return f"/usr/lib/postgresql/{vs[-1]}/bin"


def totp(step):
    return sh("oathtool", "-b", "--totp", "-N", f"@{step * 30}", SECRET).strip()


class Cluster:
    def __init__(self, tmp):
        self.owner = f"mfabench{os.getpid()}"
        sh("useradd", "-M", "-d", tmp, "-s", "/bin/false", self.owner)
        self.dir, self.bin, self.port = tmp, pg_bin(), 54000 + os.getpid() % 1000
        self.data, self.sock = f"{tmp}/data", f"{tmp}/sock"
        os.makedirs(self.sock)
        shutil.chown(tmp, self.owner)
        shutil.chown(self.sock, self.owner)
        self.as_owner(f"{self.bin}/initdb", "-D", self.data, "-U", "postgres",
                      "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync")
        d = self.data
        sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
           "-nodes", "-days", "1", "-subj", "/CN=bench CA", "-keyout", f"{tmp}/ca.key",
           "-out", f"{tmp}/ca.pem", "-addext", "basicConstraints=critical,CA:TRUE")
        sh("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
           "-subj", "/CN=127.0.0.1", "-keyout", f"{d}/server.key", "-out", f"{tmp}/server.csr")
        with open(f"{tmp}/ext", "w") as f:
            f.write("subjectAltName=IP:127.0.0.1\n")
        sh("openssl", "x509", "-req", "-in", f"{tmp}/server.csr", "-CA", f"{tmp}/ca.pem",
           "-CAkey", f"{tmp}/ca.key", "-CAcreateserial", "-days", "1", "-out",
           f"{d}/server.crt", "-extfile", f"{tmp}/ext")
        with open(f"{d}/pg_hba.conf", "w") as f:
            f.write("local all postgres trust\nlocal all all scram-sha-256\n"
                    "host all all 127.0.0.1/32 scram-sha-256\n")
        with open(f"{d}/postgresql.auto.conf", "a") as f:
            f.write("listen_addresses='127.0.0.1'\nmax_connections=300\nssl=on\n"
                    "ssl_cert_file='server.crt'\nssl_key_file='server.key'\n")
        sh("chown", "-R", self.owner, d)
        os.chmod(f"{d}/server.key", 0o600)
        self.proc = subprocess.Popen(
            ["setpriv", f"--reuid={self.owner}", f"--regid={self.owner}", "--init-groups",
             f"{self.bin}/postgres", "-D", d, "-p", str(self.port), "-k", self.sock],
            stdout=open(f"{tmp}/pg.log", "w"), stderr=subprocess.STDOUT)
        for _ in range(100):
            if subprocess.run([f"{self.bin}/pg_isready", "-h", self.sock, "-p", str(self.port)],
                              capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        self.sql("postgres", "CREATE ROLE mfa LOGIN PASSWORD 'bench-password'")
        self.sql("postgres", "CREATE DATABASE mfa OWNER mfa")

    def as_owner(self, *argv):
        sh("setpriv", f"--reuid={self.owner}", f"--regid={self.owner}", "--init-groups", *argv)

    def sql(self, db, q):
        return sh(f"{self.bin}/psql", "-h", self.sock, "-p", str(self.port), "-U", "postgres",
                  "-d", db, "-X", "-q", "-A", "-t", "-c", q).strip()

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        subprocess.run(["userdel", self.owner], capture_output=True)


def main():
    sink = None if os.path.exists("/dev/log") else SyslogSink()
    try:
        run(sink)
    finally:
        if sink:
            sink.close()


def run(sink):
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    conc = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    tmp = tempfile.mkdtemp(prefix="mfa-fleet-bench.")
    os.chmod(tmp, 0o755)
    client = f"{tmp}/pam_auth_client"
    sh("cc", "-O2", "-o", client, f"{ROOT}/benches/pam_auth_client.c", "-lpam")
    pg = Cluster(f"{tmp}/pg")
    users = []
    try:
        def secret(name, text):
            p = f"{tmp}/{name}"
            with open(p, "w") as f:
                f.write(text)
            os.chmod(p, 0o600)
            return p
        pw, key = secret("pg.pass", "bench-password\n"), secret("state.key", os.urandom(32).hex() + "\n")
        urls = {
            "socket": f"postgresql://mfa@/mfa?host={pg.sock}&port={pg.port}",
            "tls": f"postgresql://mfa@127.0.0.1:{pg.port}/mfa?sslmode=require",
        }
        cfgs = {"file": secret("file.toml", "")}
        for name, url in urls.items():
            cfgs[name] = secret(f"{name}.toml",
                                f'[state]\nbackend = "postgres"\nurl = "{url}"\n'
                                f'credentials_file = "{pw}"\nca_file = "{pg.dir}/ca.pem"\n')
        sh(f"{REL}/mfa", "state", "migrate", "--config", cfgs["socket"])
        svc = f"{tmp}/pam.d"
        os.makedirs(svc)
        for name, cfg in cfgs.items():
            with open(f"{svc}/bench-{name}", "w") as f:
                f.write(f"auth required {REL}/libpam_mfa.so config={cfg}\n"
                        f"account required {PAM_PERMIT}\n")
        env = dict(os.environ, LD_PRELOAD=PAM_WRAPPER, PAM_WRAPPER="1",
                   PAM_WRAPPER_SERVICE_DIR=svc)
        # Enough users for every login to have a fresh (user, step).
        per_user = WINDOW - 10
        # (the sequential logins of every state, then two throughput runs)
        total = len(cfgs) * n + len(urls) * 3 * conc * 4
        for i in range((total + per_user - 1) // per_user):
            u = f"mfab{os.getpid() % 10000}x{i}"
            sh("useradd", "-m", "-s", "/bin/sh", u)
            home = f"/home/{u}"
            p = f"{home}/.google_authenticator"
            with open(p, "w") as f:
                f.write(f'{SECRET}\n" WINDOW_SIZE {WINDOW}\n" DISALLOW_REUSE\n" TOTP_AUTH\n')
            # (user and group: the module keeps both when it rewrites the
            # file, and cannot give it root's group as the user)
            shutil.chown(p, u, u)
            os.chmod(p, 0o600)
            users.append(u)
        base = int(time.time()) // 30 - per_user // 2
        fresh = iter([(u, base + s) for s in range(per_user) for u in users])
        lock = threading.Lock()
        refused = {}

        def login(state):
            with lock:
                user, step = next(fresh)
            t = time.perf_counter()
            r = subprocess.run([client, f"bench-{state}", user, "1"], input=totp(step) + "\n",
                               env=env, capture_output=True, text=True)
            dt = time.perf_counter() - t
            ok = r.returncode == 0 and " failed=0 " in r.stdout
            if not ok and state not in refused:
                refused[state] = (r.stdout + r.stderr).strip()[-400:]
            return dt, ok

        print(f"load average {os.getloadavg()[0]:.2f}; {n} logins per state, interleaved; "
              f"syslog: {'temporary sink at /dev/log' if sink else '/dev/log present'}")
        times = {s: [] for s in cfgs}
        failed = 0
        for _ in range(n):
            for s in cfgs:
                dt, ok = login(s)
                times[s].append(dt)
                failed += not ok
        for s, ts in times.items():
            ts.sort()
            print(f"  {s:7s} median {statistics.median(ts) * 1000:7.2f} ms   "
                  f"p90 {ts[int(len(ts) * 0.9)] * 1000:7.2f} ms")
        med = {s: statistics.median(ts) for s, ts in times.items()}
        for s in urls:
            print(f"  added by {s}: {(med[s] - med['file']) * 1000:+.2f} ms")
        for s in urls:
            jobs = 3 * conc * 4
            t = time.perf_counter()
            with cf.ThreadPoolExecutor(3 * conc) as ex:
                res = list(ex.map(lambda _: login(s), range(jobs)))
            dt = time.perf_counter() - t
            ok = sum(1 for _, good in res if good)
            print(f"  {s}: 3 hosts x {conc} concurrent: {jobs / dt:6.1f} logins/s "
                  f"({ok}/{jobs} accepted)")
        if failed:
            print(f"  WARNING: {failed} sequential logins were refused")
        for s, why in refused.items():
            print(f"  first refused {s} login: {why}")
    finally:
        pg.stop()
        for u in users:
            subprocess.run(["userdel", "-r", u], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
