//! Runtimes host sandboxes. One trait, implemented by the local (bubblewrap) runtime and the
//! Kubernetes runtime.
//!
//! **Invariant:** an instance's *storage* (its workspace and agent state) is separate from the
//! *sandbox* that serves it. Storage is created once and outlives any number of sandboxes;
//! a sandbox is started for a given instance's storage and can be stopped at any time without
//! losing data. Sleep (stop the sandbox, keep the storage) and a warm pool (start sandboxes
//! before an instance needs one, then hand one over) both build on this split.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use uuid::Uuid;

use crate::settings::Secret;

pub mod kubernetes;
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

/// An unclaimed pooled sandbox, as [`Runtime::list_pooled`] finds it.
#[derive(Debug, Clone)]
pub struct PooledSandbox {
    pub sandbox_id: String,
    /// Where its agent answers; `None` while it is still coming up.
    pub endpoint: Option<AgentEndpoint>,
    /// The instance id it was started for ([`Runtime::pool_reserves_ids`]).
    pub reserved: Option<Uuid>,
}

/// A runtime failure. Messages are shown to customers as an instance's failure reason, so they
/// must not contain host paths or secrets; details go to the log.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("the sandbox did not start: {0}")]
    StartFailed(String),
    #[error("the sandbox runtime failed: {0}")]
    Io(String),
    /// `claim` turned a pooled sandbox down before changing anything: it stays unclaimed and
    /// may go back to the pool; the caller starts cold, for this reason.
    #[error("{0}")]
    Declined(String),
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

    /// Whether a sandbox `list` found (after an orchestrator restart) can serve as it is, and
    /// at which endpoint. Default: its agent accepts our token now. A runtime whose sandboxes
    /// may still be coming up (Kubernetes: a pending pod) waits for them here.
    async fn adopt(&self, sandbox: &RunningSandbox) -> Option<AgentEndpoint> {
        crate::agent_client::accepts_token(&sandbox.endpoint, Duration::from_secs(3))
            .await
            .then(|| sandbox.endpoint.clone())
    }

    /// The endpoint of a running sandbox another orchestrator replica started, if this runtime
    /// can see it (Kubernetes). Default: `None` (a local sandbox belongs to one host).
    async fn find(&self, _sandbox_id: &str) -> Option<AgentEndpoint> {
        None
    }

    /// Whether this runtime keeps a warm pool: sandboxes started before any instance needs
    /// them, whose gateways have booted and warmed up ([`Runtime::start_pooled`]).
    fn has_pool(&self) -> bool {
        false
    }

    /// Whether a pooled sandbox is started for an instance id reserved in advance (Kubernetes:
    /// a pod's volumes are fixed when it is created, so a pooled pod comes with the fresh
    /// volume, secret and network policy of that id). A new instance claiming it is created
    /// with that id; an existing one has its files moved onto the pod's volume, which then
    /// serves it. `false` (local): a claim moves the instance's directories in.
    fn pool_reserves_ids(&self) -> bool {
        false
    }

    /// Start a sandbox that serves no instance yet, on scratch storage of its own (or, when
    /// [`Runtime::pool_reserves_ids`], on the fresh storage of the instance id `reserved`);
    /// returns once its agent answers (its gateway then boots in the background).
    async fn start_pooled(
        &self,
        _sandbox_id: &str,
        _reserved: Option<Uuid>,
    ) -> Result<AgentEndpoint, RuntimeError> {
        Err(RuntimeError::StartFailed(
            "this runtime has no warm pool".into(),
        ))
    }

    /// Hand a pooled sandbox to an instance without restarting anything in it: the
    /// instance's workspace and home appear in it and its model calls become the instance's.
    /// On error the caller stops the sandbox (nothing of the instance is lost either way:
    /// its storage only changes at the claim's last step).
    async fn claim(
        &self,
        _sandbox_id: &str,
        _instance_id: Uuid,
    ) -> Result<AgentEndpoint, RuntimeError> {
        Err(RuntimeError::StartFailed(
            "this runtime has no warm pool".into(),
        ))
    }

    /// Pooled sandboxes that are still unclaimed, e.g. from an earlier orchestrator process
    /// or, on Kubernetes, from any replica (the caller tells them apart by their reserved
    /// ids' leases).
    async fn list_pooled(&self) -> Vec<PooledSandbox> {
        Vec::new()
    }

    /// Stop an unclaimed pooled sandbox and remove its storage, unless `keep_storage` (its
    /// reserved id became an instance, whose storage it now is). `true`: a sandbox that was
    /// still unclaimed was stopped (read fresh: a sandbox claimed meanwhile is left alone).
    async fn discard_pooled(
        &self,
        sandbox_id: &str,
        _reserved: Option<Uuid>,
        _keep_storage: bool,
    ) -> Result<bool, RuntimeError> {
        self.stop(sandbox_id).await.map(|()| true)
    }

    /// Running sandboxes of `instance` other than `current` (left by a racing replica or a
    /// crash). Changes nothing: safe while other sandboxes are being started.
    async fn stale_sandboxes(&self, instance: Uuid, current: &str) -> Vec<String> {
        self.list()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|s| s.instance_id == instance && s.sandbox_id != current)
            .map(|s| s.sandbox_id)
            .collect()
    }

    /// Called once when the orchestrator shuts down.
    async fn shutdown(&self);

    /// Start nothing from now on (every start fails); what runs is left alone. `shutdown`
    /// implies it; tests call it before they tear their sandboxes down.
    fn close(&self) {}
}

/// The body of a model call's answer (streamed).
pub type ModelBody = http_body_util::combinators::BoxBody<bytes::Bytes, std::io::Error>;

/// One model call's answer, as a future.
pub type ModelAnswer =
    Pin<Box<dyn std::future::Future<Output = hyper::Response<ModelBody>> + Send>>;

/// Whom a sandbox's model calls are made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelCaller {
    /// The instance the sandbox serves: its provider answers, its usage is counted.
    Instance(Uuid),
    /// A warm-pool sandbox that serves nobody yet. Its only model call is the gateway's
    /// warm-up turn, which the orchestrator answers itself: no provider is called, nothing is
    /// billed, and no tenant's settings are involved.
    Pool,
}

/// Serves sandboxes' model calls (see `chat::model_proxy`). The local runtime hands it a
/// listener that only one sandbox can reach, so the listener itself identifies the instance;
/// the Kubernetes runtime authenticates each call by the sandbox's model token and passes the
/// instance it names.
pub trait ModelService: Send + Sync + 'static {
    /// Serve calls arriving on `listener` for `caller` until aborted.
    fn serve(
        self: Arc<Self>,
        caller: ModelCaller,
        listener: tokio::net::UnixListener,
    ) -> tokio::task::AbortHandle;

    /// Answer one model call made by `instance_id`'s sandbox; the caller has established which
    /// instance is calling. An id that names no instance (yet) is a warm-pool pod's reserved
    /// id: answered as [`ModelCaller::Pool`].
    fn call(
        self: Arc<Self>,
        instance_id: Uuid,
        req: hyper::Request<hyper::body::Incoming>,
    ) -> ModelAnswer;
}

/// A new sandbox id in the seed's shape (`sandy-` + 12 hex digits).
pub fn new_sandbox_id() -> String {
    let hex = Uuid::new_v4().simple().to_string();
    format!("sandy-{}", &hex[..12])
}
