//! A Duo Auth API v2 simulator over TLS, for tests, the demo and
//! `mfa mock serve`.
//!
//! It checks what a real client must send: every signed call's
//! `Authorization` (HMAC-SHA512 over the canonical string, recomputed from
//! the decoded parameters) and its date (at most [`DuoState::max_skew`]
//! away from the simulator's clock); a mismatch is a 401 like Duo's. Its
//! scenarios cover at least duo_unix's own test suite: preauth
//! allow/deny/enroll/auth/bad stat/missing response, any 4xx/5xx, bad
//! JSON, 429 with `Retry-After` in both forms, push approved/denied/timed
//! out, phone call, SMS passcode refresh, wrong passcode then right, long
//! waits, and the wrong-host and self-signed certificates (see
//! [`SimCert`]). "Service down" is simply an address nobody listens on.

mod api;
mod verify;

use std::path::{Path, PathBuf};
use std::sync::MutexGuard;
use std::time::{Duration, Instant};

use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request};

use crate::plumbing::{self, Fault, Recorded, Shared};
pub use crate::tls::{SimCert, TlsFront};

/// The integration key every simulator accepts.
pub const IKEY: &str = "DIMFATESTSIM00000001";
/// Its secret key (a test value, not a secret).
pub const SKEY: &str = "sim-skey-0123456789abcdefghijklmnopqrstu";

/// What `/preauth` answers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PreauthScenario {
    /// `result: auth` with [`DuoState::devices`].
    #[default]
    Auth,
    /// `result: allow` (Duo-side bypass).
    Allow,
    Deny,
    Enroll,
    /// `stat` is neither OK nor FAIL.
    BadStat,
    /// `stat: OK` without `response`.
    MissingResponse,
    /// `result` is a value no client knows.
    UnknownResult,
    /// `result: allow` without the required `status_msg`.
    AllowWithoutStatusMsg,
    /// `result: auth` without the required `devices`.
    AuthWithoutDevices,
}

/// How an asynchronous push or phone call ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Answer {
    #[default]
    Approve,
    Deny,
    /// Nobody answered (`status: timeout`).
    Timeout,
    /// The person reported fraud.
    Fraud,
}

/// Which call a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Ping,
    Check,
    Preauth,
    Auth,
    AuthStatus,
    Any,
}

impl Endpoint {
    fn matches(self, path: &str) -> bool {
        match self {
            Endpoint::Any => true,
            Endpoint::Ping => path == "/auth/v2/ping",
            Endpoint::Check => path == "/auth/v2/check",
            Endpoint::Preauth => path == "/auth/v2/preauth",
            Endpoint::Auth => path == "/auth/v2/auth",
            Endpoint::AuthStatus => path == "/auth/v2/auth_status",
        }
    }
}

/// A fault on one endpoint, for `times` requests (`None`: for ever).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    pub endpoint: Endpoint,
    pub fault: Fault,
    pub times: Option<u32>,
}

/// An asynchronous transaction (`async=1`).
#[derive(Debug, Clone)]
pub struct Txn {
    pub factor: String,
    pub started: Instant,
    pub polls: u32,
}

/// The simulator's state: scenario switches, and what it saw.
#[derive(Debug)]
pub struct DuoState {
    pub preauth: PreauthScenario,
    /// Replaces preauth's `status_msg` (e.g. hostile text).
    pub preauth_msg: Option<String>,
    /// Devices listed by preauth `auth`.
    pub devices: Vec<serde_json::Value>,
    pub push: Answer,
    pub phone: Answer,
    /// `auth_status` polls answered `waiting` before the outcome...
    pub waiting_polls: u32,
    /// ...or, when set, the phone answers this long after `/auth`.
    pub answer_after: Option<Duration>,
    /// Like Duo, hold `auth_status` until the phone answers (with
    /// `answer_after`) instead of answering `waiting` at once.
    pub long_poll: bool,
    /// Passcodes accepted once each (hardware token, app codes).
    pub passcodes: Vec<String>,
    /// The current SMS batch: replaced on every `factor=sms`.
    pub sms_codes: Vec<String>,
    pub sms_batches: u32,
    pub faults: Vec<FaultRule>,
    /// Largest accepted distance between a request's date and our clock.
    pub max_skew: Duration,
    /// Every request, valid or not, in order.
    pub requests: Vec<Recorded>,
    /// Why requests were refused with 401.
    pub rejected: Vec<String>,
    pub txns: Vec<(String, Txn)>,
    /// When the simulated phone answered (benchmarks: approval-to-decision).
    pub answered_at: Option<Instant>,
}

impl Default for DuoState {
    fn default() -> Self {
        Self {
            preauth: PreauthScenario::Auth,
            preauth_msg: None,
            devices: vec![default_device()],
            push: Answer::Approve,
            phone: Answer::Approve,
            waiting_polls: 0,
            answer_after: None,
            long_poll: false,
            passcodes: vec!["123456".into()],
            sms_codes: Vec::new(),
            sms_batches: 0,
            faults: Vec::new(),
            max_skew: Duration::from_secs(300),
            requests: Vec::new(),
            rejected: Vec::new(),
            txns: Vec::new(),
            answered_at: None,
        }
    }
}

/// One phone with push, phone call and SMS, like the seed article's menu.
pub fn default_device() -> serde_json::Value {
    serde_json::json!({
        "device": "DPFZRS9FB0D46QFTM891",
        "type": "phone",
        "number": "XXX-XXX-0100",
        "name": "",
        "capabilities": ["auto", "push", "sms", "phone", "mobile_otp"],
    })
}

impl DuoState {
    /// Add a fault on `endpoint` for `times` requests (`None`: for ever).
    pub fn fault(&mut self, endpoint: Endpoint, fault: Fault, times: Option<u32>) {
        self.faults.push(FaultRule {
            endpoint,
            fault,
            times,
        });
    }

    /// The recorded requests to `path` (e.g. `/auth/v2/auth`).
    pub fn requests_to(&self, path: &str) -> Vec<&Recorded> {
        self.requests
            .iter()
            .filter(|r| r.path_and_query.split('?').next() == Some(path))
            .collect()
    }

    /// Decoded parameters of a recorded request (query or form body).
    pub fn params(r: &Recorded) -> Vec<(String, String)> {
        api::params_of(r)
    }
}

/// A running simulator. Dropping it stops it.
pub struct DuoSim {
    state: Shared<DuoState>,
    tls: TlsFront,
    _server: MockServer,
    dir: tempfile::TempDir,
    ca_file: PathBuf,
}

impl DuoSim {
    /// Start with the trusted certificate.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_with(SimCert::Trusted).await
    }

    pub async fn start_with(cert: SimCert) -> std::io::Result<Self> {
        let server = plumbing::start_local().await?;
        let state: Shared<DuoState> = Shared::default();
        let s2 = state.clone();
        Mock::given(any())
            .respond_with(move |r: &Request| api::handle(&s2, r))
            .mount(&server)
            .await;
        let tls = TlsFront::start(*server.address(), cert)?;
        let dir = tempfile::Builder::new().prefix("duo-sim-").tempdir()?;
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, tls.ca_pem())?;
        Ok(Self {
            state,
            tls,
            _server: server,
            dir,
            ca_file,
        })
    }

    /// `127.0.0.1:PORT`: the `push.host` to configure.
    pub fn host(&self) -> String {
        self.tls.addr().to_string()
    }

    /// This simulator's CA (made when it started), written to a file the
    /// handle owns: `push.ca_file`.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// A directory the handle owns (removed on drop), for test files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn state(&self) -> MutexGuard<'_, DuoState> {
        self.state.lock()
    }

    /// A `[push]` section pointing at this simulator.
    pub fn push_section(&self) -> String {
        format!(
            "[push]\nikey = \"{IKEY}\"\nskey = \"{SKEY}\"\nhost = \"{}\"\nca_file = \"{}\"\n",
            self.host(),
            self.ca_file.display()
        )
    }
}
