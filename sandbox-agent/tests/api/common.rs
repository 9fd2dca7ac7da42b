//! Test harness: a real agent on `tcp:127.0.0.1:0` with a temporary workspace.

use std::io::Read as _;

use actix_web::dev::ServerHandle;
use reqwest::{Method, RequestBuilder, StatusCode};
use sandbox_agent::{AgentConfig, Listen};
use serde_json::Value;

/// A running agent and a client for it. Stops the server when dropped.
pub struct Agent {
    pub base: String,
    pub token: String,
    pub client: reqwest::Client,
    pub ws: tempfile::TempDir,
    pub terminals: sandbox_agent::Terminals,
    /// Call [`sandbox_agent::Desktop::stop`] at the end of a test that used it.
    pub desktop: sandbox_agent::Desktop,
    handle: ServerHandle,
}

/// A random 32-hex-digit token.
pub fn random_token() -> String {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .unwrap();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A reqwest client. The workspace builds reqwest with `rustls-no-provider`, so a process-wide
/// crypto provider must be installed first (even for plain http).
pub fn new_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// Start the agent in-process and return once it accepts connections.
pub async fn spawn_agent() -> Agent {
    spawn_agent_with(|config| config).await
}

/// [`spawn_agent`] with a changed configuration.
pub async fn spawn_agent_with(configure: impl FnOnce(AgentConfig) -> AgentConfig) -> Agent {
    let ws = tempfile::tempdir().unwrap();
    let token = random_token();
    let listen = Listen::Tcp("127.0.0.1:0".into());
    let running =
        sandbox_agent::start(&listen, configure(AgentConfig::new(ws.path(), &token))).unwrap();
    let addr = running.tcp_addrs[0];
    let handle = running.server.handle();
    tokio::spawn(running.server);
    Agent {
        base: format!("http://{addr}"),
        token,
        client: new_client(),
        ws,
        terminals: running.terminals,
        desktop: running.desktop,
        handle,
    }
}

impl Agent {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request carrying the token.
    pub fn authed(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(&self.token)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let res = self.authed(Method::GET, path).send().await.unwrap();
        (res.status(), res.json().await.unwrap())
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let res = self
            .authed(Method::POST, path)
            .json(&body)
            .send()
            .await
            .unwrap();
        (res.status(), res.json().await.unwrap())
    }

    /// GET `path`, expecting an error envelope with `status` and `code`.
    pub async fn expect_error(&self, path: &str, status: u16, code: &str) -> Value {
        let (got, body) = self.get(path).await;
        assert_eq!(got.as_u16(), status, "GET {path}: {body}");
        assert_eq!(body["error"]["code"], code, "GET {path}: {body}");
        body
    }

    /// POST `body` to `path`, expecting an error envelope with `status`.
    pub async fn expect_post(&self, path: &str, body: Value, status: u16) -> (StatusCode, Value) {
        let (got, res) = self.post(path, body.clone()).await;
        assert_eq!(got.as_u16(), status, "POST {path} {body}: {res}");
        assert!(
            res["error"]["code"].is_string(),
            "POST {path} {body}: {res}"
        );
        (got, res)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // Sends the stop command right away; the workers shut down without waiting for
        // idle keep-alive connections.
        drop(self.handle.stop(false));
        self.terminals.kill_all();
    }
}
