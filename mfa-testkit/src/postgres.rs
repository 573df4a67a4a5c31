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
    child: Option<Child>,
    // Declared last: dropped after the server is stopped.
    owner: TestUser,
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
        let owner = TestUser::create("mfapg")?;
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
        let hba = "local all postgres trust\nlocal all all scram-sha-256\n\
                   host all all 127.0.0.1/32 scram-sha-256\n";
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
            .open(self.owner.home.join("server.log"))?;
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
        std::fs::read_to_string(self.owner.home.join("server.log")).unwrap_or_default()
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
