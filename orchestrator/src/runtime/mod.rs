//! Runtimes host sandboxes. One trait, implemented by the local (bubblewrap) runtime today and
//! the Kubernetes runtime later.
//!
//! **Invariant:** an instance's *storage* (its workspace and agent state) is separate from the
//! *sandbox* that serves it. Storage is created once and outlives any number of sandboxes;
//! a sandbox is started for a given instance's storage and can be stopped at any time without
//! losing data. Sleep (stop the sandbox, keep the storage) and a warm pool (start sandboxes
//! before an instance needs one, then hand one over) both build on this split.

use std::net::SocketAddr;
use std::path::PathBuf;

use async_trait::async_trait;
use uuid::Uuid;

use crate::settings::Secret;

pub mod local;

/// What to start.
#[derive(Debug, Clone)]
pub struct SandboxSpec {
    pub instance_id: Uuid,
    /// Fresh for every start; names the sandbox in the runtime.
    pub sandbox_id: String,
    /// Start the virtual desktop with the sandbox.
    pub desktop: bool,
}

/// Where a sandbox's agent listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentAddr {
    /// A unix socket on this host (local runtime: the sandbox has no network of its own).
    Unix(PathBuf),
    /// A TCP address (pod IP on Kubernetes).
    Tcp(SocketAddr),
}

/// How to reach a running sandbox's agent.
#[derive(Debug, Clone)]
pub struct AgentEndpoint {
    pub addr: AgentAddr,
    /// The per-sandbox secret the agent requires on every call.
    pub token: Secret,
}

/// A sandbox the runtime found running, possibly started by an earlier orchestrator process.
#[derive(Debug, Clone)]
pub struct RunningSandbox {
    pub sandbox_id: String,
    pub instance_id: Uuid,
    pub endpoint: AgentEndpoint,
}

/// A runtime failure. Messages are shown to customers as an instance's failure reason, so they
/// must not contain host paths or secrets; details go to the log.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("the sandbox did not start: {0}")]
    StartFailed(String),
    #[error("the sandbox runtime failed: {0}")]
    Io(String),
}

/// The seam between instance lifecycle and the machinery that runs sandboxes.
#[async_trait]
pub trait Runtime: Send + Sync + 'static {
    /// `local` or `kubernetes`.
    fn kind(&self) -> &'static str;

    /// Create the instance's persistent storage if it does not exist yet.
    async fn ensure_storage(&self, instance_id: Uuid) -> Result<(), RuntimeError>;

    /// Delete the instance's storage for good. Its sandboxes must be stopped first.
    async fn delete_storage(&self, instance_id: Uuid) -> Result<(), RuntimeError>;

    /// Start a sandbox serving the instance's storage; returns once its agent answers.
    async fn start(&self, spec: &SandboxSpec) -> Result<AgentEndpoint, RuntimeError>;

    /// Stop a sandbox and everything in it (graceful first, then forced). Idempotent.
    async fn stop(&self, sandbox_id: &str) -> Result<(), RuntimeError>;

    /// Sandboxes running now, including ones an earlier orchestrator process started.
    async fn list(&self) -> Result<Vec<RunningSandbox>, RuntimeError>;

    /// Resolves when the sandbox has exited, with a reason fit for customers.
    async fn wait_exit(&self, sandbox_id: &str) -> String;

    /// Called once when the orchestrator shuts down.
    async fn shutdown(&self);
}

/// Serves a sandbox's model calls. The runtime hands it a listener that only that sandbox can
/// reach, so the listener itself identifies the instance (see `chat::model_proxy`).
pub trait ModelService: Send + Sync + 'static {
    /// Serve calls arriving on `listener` for `instance_id` until aborted.
    fn serve(
        self: std::sync::Arc<Self>,
        instance_id: Uuid,
        listener: tokio::net::UnixListener,
    ) -> tokio::task::AbortHandle;
}

/// A new sandbox id in the seed's shape (`sandy-` + 12 hex digits).
pub fn new_sandbox_id() -> String {
    let hex = Uuid::new_v4().simple().to_string();
    format!("sandy-{}", &hex[..12])
}
