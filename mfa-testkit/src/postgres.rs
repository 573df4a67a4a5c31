//! A real PostgreSQL server for the fleet tests, started in a temp dir.
//!
//! PostgreSQL refuses to run as root, so the cluster belongs to a
//! throw-away account ([`TestUser`]) and lives in its home: `initdb` there,
//! the server on a unix socket in that directory and on a free loopback
//! port, with TLS on (a CA made at run time, [`TestCa`]) when asked.
//! Superuser `postgres` connects over the socket without a password
//! (`trust`); the role the hosts use, `mfa`, needs its password over TCP
//! (`scram-sha-256`) and over the socket alike.
//!
//! Under `CI=true` a missing PostgreSQL fails the test ([`require`]).

use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mfa_sim::tls::{SimCert, TestCa};

use crate::sshd::{require, require_root, TestUser};

/// The password of role `mfa` (a test value).
pub const MFA_PASSWORD: &str = "fleet-test-password";
/// How long `start` waits for the server to accept connections.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// The directory with `initdb` and `postgres`, newest major version first.
pub fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, p)| p)
}

/// Root (for the throw-away owner) and a PostgreSQL server installation;
/// fails under `CI=true` when missing.
pub fn available() -> bool {
    require_root()
        && require(
            bin_dir().is_some(),
            "PostgreSQL server (apt install postgresql)",
        )
}

/// What the server offers besides its unix socket.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// TLS on the TCP port, with a certificate from a CA made now.
    pub tls: bool,
}

/// A running cluster; stopped and removed on drop.
pub struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    socket_dir: PathBuf,
    port: u16,
    ca_pem: Option<PathBuf>,
    log: PathBuf,
    child: Option<Child>,
    // Declared last: dropped after the server is stopped (shared by a
    // primary and its standbys, removed with the last of them).
    owner: Arc<TestUser>,
}

fn other(msg: impl Into<String>) -> io::Error {
    io::Error::other(msg.into())
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = data_encoding::BASE64.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

impl Postgres {
    /// initdb, configure, start, and create role `mfa` and database `mfa`.
    pub fn start(opts: Options) -> io::Result<Self> {
        let bin = bin_dir().ok_or_else(|| other("no PostgreSQL server installed"))?;
        let owner = Arc::new(TestUser::create("mfapg")?);
        let home = owner.home.clone();
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o755))?;
        let data = home.join("data");
        let socket_dir = home.join("sock");
        let mut pg = Self {
            bin,
            data,
            socket_dir,
            port: free_port()?,
            ca_pem: None,
            log: home.join("server.log"),
            child: None,
            owner,
        };
        pg.as_owner(&["mkdir", "-p", &pg.socket_dir.display().to_string()])?;
        let initdb = pg.bin.join("initdb");
        let out = pg
            .owner_command(&initdb)
            .args(["-D", &pg.data.display().to_string()])
            .args([
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ])
            .args(["--no-sync", "-E", "UTF8", "--locale=C"])
            .output()?;
        if !out.status.success() {
            return Err(other(format!(
                "initdb: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        let mut conf = String::from(
            "fsync = off\nsynchronous_commit = on\nfull_page_writes = off\n\
             max_connections = 200\nshared_buffers = 16MB\nlisten_addresses = '127.0.0.1'\n\
             unix_socket_permissions = 0777\nlog_min_messages = warning\n",
        );
        // Local (socket) logins of the hosts' role need its password too.
        // (`replication`: pg_basebackup and a standby's WAL stream.)
        let hba = "local all postgres trust\nlocal replication postgres trust\n\
                   local all all scram-sha-256\nhost all all 127.0.0.1/32 scram-sha-256\n";
        std::fs::write(pg.data.join("pg_hba.conf"), hba)?;
        if opts.tls {
            let ca = TestCa::new()?;
            let (chain, key) = ca.issue(SimCert::Trusted)?;
            let cert_path = pg.data.join("server.crt");
            let key_path = pg.data.join("server.key");
            std::fs::write(&cert_path, pem("CERTIFICATE", &chain[0]))?;
            std::fs::write(&key_path, pem("PRIVATE KEY", key.secret_der()))?;
            std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600))?;
            let ca_path = home.join("ca.pem");
            std::fs::write(&ca_path, ca.pem())?;
            pg.ca_pem = Some(ca_path);
            conf.push_str("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
        }
        let auto = pg.data.join("postgresql.auto.conf");
        let mut existing = std::fs::read_to_string(&auto).unwrap_or_default();
        existing.push_str(&conf);
        std::fs::write(&auto, existing)?;
        // Files written above by root go to the owner (the key must be
        // the server's own and 0600).
        Command::new("chown")
            .args(["-R", &format!("{}:{}", pg.owner.uid, pg.owner.gid)])
            .arg(&home)
            .status()?;
        pg.launch()?;
        pg.sql(
            "postgres",
            &format!("CREATE ROLE mfa LOGIN PASSWORD '{MFA_PASSWORD}'"),
        )?;
        pg.sql("postgres", "CREATE DATABASE mfa OWNER mfa")?;
        Ok(pg)
    }

    fn owner_command(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        c.uid(self.owner.uid)
            .gid(self.owner.gid)
            .current_dir(&self.owner.home)
            .env("HOME", &self.owner.home)
            .stdin(Stdio::null());
        c
    }

    fn as_owner(&self, argv: &[&str]) -> io::Result<Output> {
        self.owner_command(Path::new(argv[0]))
            .args(&argv[1..])
            .output()
    }

    fn launch(&mut self) -> io::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let log2 = log.try_clone()?;
        let child = self
            .owner_command(&self.bin.join("postgres"))
            .args(["-D", &self.data.display().to_string()])
            .args(["-p", &self.port.to_string()])
            .args(["-k", &self.socket_dir.display().to_string()])
            .stdout(log)
            .stderr(log2)
            .process_group(0)
            .spawn()?;
        self.child = Some(child);
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-h", &self.socket_dir.display().to_string()])
                .args([
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    "postgres",
                    "-d",
                    "postgres",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()?;
            if ready.success() {
                return Ok(());
            }
            if let Some(c) = self.child.as_mut() {
                if let Some(status) = c.try_wait()? {
                    return Err(other(format!("postgres exited ({status}): {}", self.log())));
                }
            }
            if Instant::now() > deadline {
                return Err(other(format!("postgres did not start: {}", self.log())));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Run `sql` as the superuser in database `db`; its output.
    pub fn sql(&self, db: &str, sql: &str) -> io::Result<String> {
        let out = Command::new(self.bin.join("psql"))
            .args(["-h", &self.socket_dir.display().to_string()])
            .args(["-p", &self.port.to_string(), "-U", "postgres", "-d", db])
            .args(["-v", "ON_ERROR_STOP=1", "-X", "-q", "-A", "-t", "-c", sql])
            .stdin(Stdio::null())
            .output()?;
        if !out.status.success() {
            return Err(other(format!(
                "psql: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// `[state] url` over the unix socket.
    pub fn socket_url(&self) -> String {
        format!(
            "postgresql://mfa@/mfa?host={}&port={}",
            self.socket_dir.display(),
            self.port
        )
    }

    /// `[state] url` over TCP on loopback (TLS when the server has it).
    pub fn tcp_url(&self) -> String {
        let mode = if self.ca_pem.is_some() {
            "require"
        } else {
            "disable"
        };
        format!(
            "postgresql://mfa@127.0.0.1:{}/mfa?sslmode={mode}",
            self.port
        )
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The CA that issued the server's certificate (with `Options::tls`).
    pub fn ca_pem(&self) -> Option<&Path> {
        self.ca_pem.as_deref()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, sig: nix::sys::signal::Signal) -> io::Result<()> {
        let pid = self
            .child
            .as_ref()
            .ok_or_else(|| other("not running"))?
            .id();
        let pid = nix::unistd::Pid::from_raw(pid as i32);
        nix::sys::signal::kill(pid, sig).map_err(io::Error::from)
    }

    /// Freeze the postmaster (SIGSTOP): new connections hang.
    pub fn pause(&self) -> io::Result<()> {
        self.signal(nix::sys::signal::Signal::SIGSTOP)
    }

    pub fn resume(&self) -> io::Result<()> {
        self.signal(nix::sys::signal::Signal::SIGCONT)
    }

    /// Stop the server (fast shutdown) and wait for it.
    pub fn stop(&mut self) -> io::Result<()> {
        if let Some(mut child) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
            child.wait()?;
        }
        Ok(())
    }

    /// Start it again on the same port and data.
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop()?;
        self.launch()
    }
}

/// Streaming replication: a standby made from a running server, made
/// synchronous, promoted (the failover test).
impl Postgres {
    /// A hot standby of this server named `name` (its
    /// `application_name`), from `pg_basebackup`, streaming over the
    /// primary's unix socket, on its own port and socket directory.
    pub fn start_standby(&self, name: &str) -> io::Result<Self> {
        let home = self.owner.home.clone();
        let data = home.join(format!("data-{name}"));
        let socket_dir = home.join(format!("sock-{name}"));
        let mut standby = Self {
            bin: self.bin.clone(),
            data,
            socket_dir,
            port: free_port()?,
            ca_pem: None,
            log: home.join(format!("{name}.log")),
            child: None,
            owner: self.owner.clone(),
        };
        standby.as_owner(&["mkdir", "-p", &standby.socket_dir.display().to_string()])?;
        let conninfo = format!(
            "host={} port={} user=postgres application_name={name}",
            self.socket_dir.display(),
            self.port
        );
        let out = standby
            .owner_command(&self.bin.join("pg_basebackup"))
            .args(["-D", &standby.data.display().to_string()])
            .args([
                "-d",
                &conninfo,
                "-X",
                "stream",
                "--no-sync",
                "--checkpoint=fast",
            ])
            .output()?;
        if !out.status.success() {
            return Err(other(format!(
                "pg_basebackup: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        // standby.signal + where to stream from (later lines win).
        std::fs::write(standby.data.join("standby.signal"), "")?;
        let auto = standby.data.join("postgresql.auto.conf");
        let mut conf = std::fs::read_to_string(&auto)?;
        conf.push_str(&format!(
            "primary_conninfo = '{conninfo}'\nhot_standby = on\n"
        ));
        std::fs::write(&auto, conf)?;
        Command::new("chown")
            .args(["-R", &format!("{}:{}", self.owner.uid, self.owner.gid)])
            .arg(&standby.data)
            .status()?;
        standby.launch()?;
        Ok(standby)
    }

    /// Make the standby `name` synchronous, with `synchronous_commit =
    /// remote_apply` for every role: a commit returns only once that
    /// standby has applied it. Waits until the primary reports it `sync`.
    pub fn make_synchronous(&self, name: &str) -> io::Result<()> {
        self.sql(
            "postgres",
            &format!("ALTER SYSTEM SET synchronous_standby_names = '{name}'"),
        )?;
        self.sql(
            "postgres",
            "ALTER SYSTEM SET synchronous_commit = 'remote_apply'",
        )?;
        self.sql("postgres", "SELECT pg_reload_conf()")?;
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            let state = self.sql(
                "postgres",
                &format!(
                    "SELECT sync_state FROM pg_stat_replication WHERE application_name = '{name}'"
                ),
            )?;
            if state == "sync" {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(other(format!(
                    "standby {name} is not synchronous: '{state}'"
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Promote this standby to a primary, and wait until it takes writes.
    pub fn promote(&self) -> io::Result<()> {
        match self
            .sql("postgres", "SELECT pg_promote(true, 30)")?
            .as_str()
        {
            "t" => Ok(()),
            other_answer => Err(other(format!("pg_promote: {other_answer}"))),
        }
    }

    /// Pause or resume applying WAL on this standby (it still receives
    /// and acknowledges the stream; only `remote_apply` waits for replay).
    pub fn pause_replay(&self, paused: bool) -> io::Result<()> {
        let f = if paused {
            "pg_wal_replay_pause"
        } else {
            "pg_wal_replay_resume"
        };
        self.sql("postgres", &format!("SELECT {f}()")).map(drop)
    }

    /// The server dies at once (immediate shutdown: no checkpoint, no
    /// goodbye to clients or standbys), as a crashed primary would.
    pub fn crash(&mut self) -> io::Result<()> {
        if let Some(mut child) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGQUIT);
            child.wait()?;
        }
        Ok(())
    }

    /// The unix socket directory (for `?host=` lists).
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT);
            // Immediate shutdown: the cluster is thrown away.
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGQUIT);
            let _ = child.wait();
        }
    }
}
