//! Helpers: a fake gateway command, free ports, a running agent, waiting for states.

use std::{
    path::{Path, PathBuf},
    sync::OnceLock,
    time::Duration,
};

use actix_web::dev::ServerHandle;
use reqwest::{Method, RequestBuilder};
use sandbox_agent::{
    AgentConfig, Gateway, Listen,
    gateway::{GatewayCommand, GatewayToken, GatewayUpstream, SupervisorOptions},
    protocol::GatewayStatus,
};

/// The fake gateway script, in the checkout the tests run from (cargo sets
/// `CARGO_MANIFEST_DIR` when it runs them; the compile-time value is the fallback, and would
/// be stale for a test binary reused from a checkout at another path).
pub fn script() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(
            || env!("CARGO_MANIFEST_DIR").into(),
            std::path::PathBuf::from,
        )
        .join("tests/gateway/fake_gateway.py")
}

/// The absolute path of the python3 interpreter (the command runs with a cleared environment,
/// so a pyenv shim on `PATH` would not work).
pub fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let out = std::process::Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .expect("python3 must be installed");
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
}

/// A reqwest client. The workspace builds reqwest with `rustls-no-provider`, so a process-wide
/// crypto provider must be installed first (even for plain http).
pub fn new_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Short timings so crashes and restarts happen within a test.
pub fn fast_options() -> SupervisorOptions {
    SupervisorOptions {
        poll_interval: Duration::from_millis(50),
        probe_timeout: Duration::from_secs(1),
        boot_timeout: Duration::from_secs(30),
        backoff_initial: Duration::from_millis(200),
        backoff_max: Duration::from_secs(1),
        healthy_reset: Duration::from_secs(300),
        stop_grace: Duration::from_secs(3),
        output_keep: 64 * 1024,
    }
}

/// One fake gateway's port, token and files.
pub struct Fake {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub token: String,
    /// The fake holds back its last SSE events until this file exists.
    pub gate: PathBuf,
}

impl Fake {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let gate = dir.path().join("gate");
        Fake {
            port: free_port(),
            token: GatewayToken::generate().expose().to_owned(),
            gate,
            dir,
        }
    }

    /// The fake as a supervised command, ready `ready_after` seconds after it starts.
    pub fn command(&self, ready_after: f64) -> GatewayCommand {
        GatewayCommand {
            program: python().to_owned(),
            args: vec![
                "-u".into(),
                script().into(),
                "--port".into(),
                self.port.to_string().into(),
            ],
            env: vec![
                ("PATH".into(), "/usr/bin:/bin".into()),
                ("FAKE_TOKEN".into(), self.token.clone().into()),
                ("FAKE_READY_AFTER".into(), ready_after.to_string().into()),
                ("FAKE_GATE".into(), self.gate.clone().into()),
            ],
            cwd: Some(self.dir.path().to_owned()),
            ready_url: format!("http://127.0.0.1:{}/readyz", self.port),
            output: self.dir.path().join("gateway.out"),
        }
    }

    pub fn upstream(&self) -> GatewayUpstream {
        GatewayUpstream {
            addr: ([127, 0, 0, 1], self.port).into(),
            token: GatewayToken::from_string(self.token.clone()),
        }
    }

    /// Supervise the fake.
    pub fn spawn(&self, ready_after: f64, options: SupervisorOptions) -> Gateway {
        Gateway::spawn(self.command(ready_after), options, self.upstream()).unwrap()
    }
}

/// Wait up to `timeout` for a status that satisfies `pred`.
pub async fn wait_status(
    gateway: &Gateway,
    timeout: Duration,
    pred: impl FnMut(&GatewayStatus) -> bool,
) -> GatewayStatus {
    let mut rx = gateway.subscribe();
    let ok = tokio::time::timeout(timeout, rx.wait_for(pred))
        .await
        .is_ok_and(|r| r.is_ok());
    let current = rx.borrow().clone();
    assert!(ok, "timed out; status: {current:?}");
    current
}

/// Whether process `pid` exists (zombies count as gone).
pub fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
    })
}

/// Whether `pid` is gone within `within` (a SIGKILLed process takes a moment to die on a
/// busy machine).
pub async fn dies_within(pid: i32, within: std::time::Duration) -> bool {
    let until = std::time::Instant::now() + within;
    while alive(pid) {
        if std::time::Instant::now() >= until {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    true
}

/// Send SIGKILL to one process.
pub fn kill(pid: i32) {
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// A running agent serving `gateway`. Stops the server when dropped.
pub struct Agent {
    pub base: String,
    pub token: String,
    pub client: reqwest::Client,
    pub gateway: Gateway,
    _ws: tempfile::TempDir,
    handle: ServerHandle,
}

pub fn spawn_agent(gateway: Gateway) -> Agent {
    let ws = tempfile::tempdir().unwrap();
    let token = GatewayToken::generate().expose().to_owned();
    let config = AgentConfig::new(ws.path(), &token).with_gateway(gateway.clone());
    let running = sandbox_agent::start(&Listen::Tcp("127.0.0.1:0".into()), config).unwrap();
    let addr = running.tcp_addrs[0];
    let handle = running.server.handle();
    tokio::spawn(running.server);
    Agent {
        base: format!("http://{addr}"),
        token,
        client: new_client(),
        gateway,
        _ws: ws,
        handle,
    }
}

impl Agent {
    /// A request carrying the agent token.
    pub fn authed(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    pub async fn status(&self) -> serde_json::Value {
        let res = self.authed(Method::GET, "/gateway").send().await.unwrap();
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }

    /// A chat request with `body`, optionally waiting for readiness.
    pub fn chat(&self, body: &serde_json::Value, wait_ms: Option<u64>) -> RequestBuilder {
        let mut req = self
            .authed(Method::POST, "/gateway/v1/chat/completions")
            .json(body);
        if let Some(ms) = wait_ms {
            req = req.header("x-ocaas-wait-ms", ms.to_string());
        }
        req
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}
