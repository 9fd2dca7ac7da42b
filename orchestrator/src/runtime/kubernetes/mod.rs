//! The Kubernetes runtime: each sandbox is a pod running `sandbox-agent` (which supervises the
//! OpenClaw gateway and, when asked, the desktop), in `kubernetes.namespace`.
//!
//! - `manifests.rs` — the objects of an instance (volume, token secret, network policy, pods)
//!   as pure functions of the settings, with the reasoning behind each field.
//! - `objects.rs` — creating them idempotently (create-if-absent, server-side apply), so
//!   replicas and restarts converge on one set with deterministic names.
//! - `pods.rs` — the pod watch: sandbox status comes from it, never from polling.
//! - `controller.rs` — the reconciler of instances' secrets and network policies (controller-rs
//!   style: reconcile + back-off error policy + a metric label per error).
//! - `model_endpoint.rs` — the orchestrator's sandbox port, where model calls arrive with a
//!   model token naming the instance.
//! - `error.rs` — errors with metric labels, and the metrics.
//!
//! How lifecycle maps onto Kubernetes: `ensure_storage` creates the volume; `start` creates
//! the secret, policy and pod and returns once the pod is ready (the kubelet's readiness probe
//! on the agent's `/health`) and, unless `kubernetes.check_agent` is off, the orchestrator
//! itself reached the agent with its token; `stop` deletes the pod (graceful, then forced) and
//! keeps the volume; `delete_storage` deletes everything. An orchestrator that stops leaves
//! pods running; the next one (or another replica) finds them in the watch and adopts them.
//!
//! The warm pool: `start_pooled` is `start` for an instance id reserved in advance, with the pod
//! and volume labelled `ocaas.dev/pool=warm`. `claim` by a new instance (created with the
//! reserved id) removes the label: nothing restarts, the pod already runs on the volume that
//! becomes the instance's. `claim` by an existing instance (a wake) *moves its storage in*:
//! a mover pod (the agent alone) starts on the instance's volume, the orchestrator streams its
//! workspace and home as tar into the warm pod, and one patch of the warm volume — unpooled,
//! `ocaas.dev/serves=<instance>` — commits the move; the old volume is then deleted. So an
//! instance's objects are keyed by a *storage id* (its own id until its first warm wake; see
//! `Objects::storages`), pods carry the storage id, and `list` and the model endpoint
//! map it back to the instance. `list` leaves pooled and mover pods out, `list_pooled` finds
//! pooled pods by their volumes; `discard_pooled` deletes a pooled pod and, unless its id
//! became an instance, the id's objects.
//!
//! **Invariant:** only this module talks to the Kubernetes API.

mod controller;
mod error;
pub mod manifests;
mod model_endpoint;
mod objects;
mod pods;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};
use tokio::time::Instant;
use uuid::Uuid;

use self::error::{KubeError, Metrics};
use self::manifests::{
    INSTANCE_LABEL, MANAGED_SELECTOR, Manifests, SANDBOX_LABEL, is_mover, pod_name, storage_name,
};
pub use self::model_endpoint::ModelTokens;
use self::objects::{Objects, Storages, owner_of};
use self::pods::{PodState, PodWatch, state};
use super::{
    AgentAddr, AgentEndpoint, ModelService, PooledSandbox, RunningSandbox, Runtime, RuntimeError,
    SandboxSpec, new_sandbox_id,
};
use crate::agent_client;
use crate::crypto::Cipher;
use crate::settings::{EgressPolicy, KubernetesSettings, Secret};

/// The longest a wake may spend moving an instance's storage into a warm pod.
const MOVE_TIMEOUT: Duration = Duration::from_secs(600);
/// The longest a wake waits for its mover pod to be ready.
const MOVER_START_TIMEOUT_S: u64 = 60;

/// What a launched pod is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PodKind {
    /// An instance's sandbox.
    Sandbox,
    /// A warm-pool pod, on the fresh objects of a reserved id.
    Pooled,
    /// The agent alone on a sleeping instance's volume, while its storage moves.
    Mover,
}

/// Sandboxes as pods.
pub struct KubernetesRuntime {
    settings: KubernetesSettings,
    objects: Arc<Objects>,
    watch: PodWatch,
    metrics: Metrics,
    /// Agent tokens by instance, read from (or written to) their secrets.
    agent_tokens: Mutex<HashMap<Uuid, Secret>>,
    /// The port the orchestrator serves sandboxes' model calls on.
    sandbox_port: u16,
    /// The watch, the controller and the model endpoint.
    tasks: Vec<tokio::task::AbortHandle>,
}

/// A client from `kubernetes.kubeconfig`, else the pod's service account, else `$KUBECONFIG`.
async fn client(settings: &KubernetesSettings) -> anyhow::Result<Client> {
    let config = match &settings.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading the kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?
        }
        None => kube::Config::infer().await.context(
            "no Kubernetes configuration (not in a pod, no $KUBECONFIG); set kubernetes.kubeconfig",
        )?,
    };
    Ok(Client::try_from(config)?)
}

/// The namespace of the pod we run in, if we run in one.
fn own_namespace() -> Option<String> {
    std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

impl KubernetesRuntime {
    /// Connect, check access to the sandbox namespace, bind the sandbox port, and start the
    /// pod watch and the reconciler. `cipher` is the service cipher (model tokens derive
    /// their key from it); `registry` receives the runtime's metrics.
    pub async fn new(
        settings: &KubernetesSettings,
        model: Arc<dyn ModelService>,
        cipher: &Cipher,
        registry: &prometheus::Registry,
    ) -> anyhow::Result<KubernetesRuntime> {
        match settings.model_upstream_url.parse() {
            Ok(sandbox_agent::model_forward::ModelUpstream::Http { .. }) => {}
            _ => anyhow::bail!(
                "kubernetes.model_upstream_url must be http://HOST:PORT (how sandboxes reach kubernetes.sandbox_listen), got {:?}",
                settings.model_upstream_url
            ),
        }
        let client = client(settings).await?;
        let namespace = settings.namespace.clone();
        let orchestrator_namespace = settings
            .orchestrator_namespace
            .clone()
            .or_else(own_namespace)
            .unwrap_or_else(|| namespace.clone());
        let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
        pods.list(&ListParams::default().labels(MANAGED_SELECTOR).limit(1))
            .await
            .with_context(|| format!("cannot list pods in the namespace {namespace:?}: does it exist, and may this orchestrator manage pods there (the chart's Role)?"))?;
        let listener = tokio::net::TcpListener::bind(&settings.sandbox_listen)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on kubernetes.sandbox_listen = {}",
                    settings.sandbox_listen
                )
            })?;
        let sandbox_port = listener.local_addr()?.port();
        let manifests = Manifests::new(settings, &orchestrator_namespace, sandbox_port)
            .map_err(|e| anyhow::anyhow!(e))?;
        let metrics = Metrics::new(registry);
        let model_tokens = Arc::new(ModelTokens::new(cipher));
        let objects = Arc::new(Objects {
            manifests,
            pods: pods.clone(),
            volumes: Api::namespaced(client.clone(), &namespace),
            secrets: Api::namespaced(client.clone(), &namespace),
            policies: Api::namespaced(client, &namespace),
            model_tokens: model_tokens.clone(),
            served: Mutex::new(HashMap::new()),
        });
        let (watch, watch_task) = PodWatch::start(pods, &namespace, metrics.clone());
        let tasks = vec![
            watch_task,
            controller::spawn(objects.clone(), metrics.clone()),
            model_endpoint::serve(listener, model_tokens, objects.clone(), model),
        ];
        tracing::info!(
            namespace,
            orchestrator_namespace,
            sandbox_port,
            image = %settings.image,
            check_agent = settings.check_agent,
            "kubernetes runtime ready"
        );
        Ok(KubernetesRuntime {
            settings: settings.clone(),
            objects,
            watch,
            metrics,
            agent_tokens: Mutex::new(HashMap::new()),
            sandbox_port,
            tasks,
        })
    }

    /// The port sandboxes' model calls arrive on (the bound one, when configured as 0).
    pub fn sandbox_port(&self) -> u16 {
        self.sandbox_port
    }

    /// How sandboxes are isolated and limited (for `GET /api`).
    pub fn description(&self) -> String {
        let s = &self.settings;
        format!(
            "Kubernetes pods in namespace {} (non-root uid {}, no capabilities, no privilege escalation, read-only root, seccomp RuntimeDefault{}); network: {}; limits: cpu {}, memory {}, storage {}",
            s.namespace,
            s.sandbox_uid,
            if s.runtime_class.is_empty() {
                String::new()
            } else {
                format!(", runtime class {}", s.runtime_class)
            },
            match s.egress {
                EgressPolicy::Orchestrator => "the orchestrator only",
                EgressPolicy::Internet => "the orchestrator and public addresses",
            },
            or_unlimited(&s.cpu_limit),
            or_unlimited(&s.memory_limit),
            s.storage_size
        )
    }

    fn failed(&self, what: &str, e: KubeError) -> RuntimeError {
        self.metrics.error(&e);
        tracing::error!(error = %e, error_label = %e.metric_label(), "{what}");
        RuntimeError::StartFailed(e.customer_message())
    }

    /// The instance's agent token: cached, else from its secret.
    async fn agent_token(&self, instance: Uuid) -> Option<Secret> {
        if let Some(t) = self.agent_tokens.lock().expect("tokens").get(&instance) {
            return Some(t.clone());
        }
        match self.objects.read_tokens(instance).await {
            Ok(Some(tokens)) => {
                let token = Secret::new(tokens.agent);
                self.agent_tokens
                    .lock()
                    .expect("tokens")
                    .insert(instance, token.clone());
                Some(token)
            }
            Ok(None) => None,
            Err(e) => {
                self.metrics.error(&e);
                tracing::warn!(%instance, error = %e, "cannot read the instance's tokens");
                None
            }
        }
    }

    async fn endpoint(&self, instance: Uuid, ip: IpAddr) -> Option<AgentEndpoint> {
        Some(AgentEndpoint {
            addr: AgentAddr::Tcp(SocketAddr::new(ip, self.settings.agent_port)),
            token: self.agent_token(instance).await?,
        })
    }

    /// Ready pod → its endpoint, after the orchestrator's own check when enabled.
    async fn checked_endpoint(
        &self,
        instance: Uuid,
        ip: IpAddr,
        deadline: Instant,
    ) -> Result<AgentEndpoint, String> {
        let endpoint = self
            .endpoint(instance, ip)
            .await
            .ok_or("the sandbox's token secret is missing")?;
        if !self.settings.check_agent {
            return Ok(endpoint);
        }
        loop {
            if agent_client::healthy(&endpoint, Duration::from_secs(2)).await {
                return Ok(endpoint);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "the orchestrator could not reach the sandbox agent within {} s",
                    self.settings.start_timeout_s
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Create the objects of the storage id `spec.instance_id` and a pod of `kind` on them,
    /// and wait until it serves.
    async fn launch(
        &self,
        spec: &SandboxSpec,
        kind: PodKind,
    ) -> Result<AgentEndpoint, RuntimeError> {
        // A mover that cannot start soon (no node has room, the volume will not attach) is
        // given up on sooner: the wake then starts cold rather than keep its caller waiting.
        let timeout = match kind {
            PodKind::Mover => self.settings.start_timeout_s.min(MOVER_START_TIMEOUT_S),
            _ => self.settings.start_timeout_s,
        };
        let deadline = Instant::now() + Duration::from_secs(timeout);
        let instance = spec.instance_id;
        let name = pod_name(&spec.sandbox_id);
        let created = async {
            let volume = if kind == PodKind::Pooled {
                self.objects.ensure_pooled_volume(instance).await?
            } else {
                self.objects.ensure_volume(instance).await?
            };
            let owner = owner_of(&volume)?;
            let tokens = self.objects.ensure_tokens(instance, &owner).await?;
            self.objects.apply_policy(instance, &owner).await?;
            let pod = match kind {
                PodKind::Sandbox => self.objects.manifests.pod(spec, &owner),
                PodKind::Pooled => manifests::pooled(self.objects.manifests.pod(spec, &owner)),
                PodKind::Mover => self.objects.manifests.mover_pod(spec, &owner),
            };
            self.objects.ensure_pod(instance, &pod).await?;
            Ok::<_, KubeError>(tokens)
        }
        .await;
        let tokens = created.map_err(|e| self.failed("creating a sandbox failed", e))?;
        self.agent_tokens
            .lock()
            .expect("tokens")
            .insert(instance, Secret::new(tokens.agent));

        let mut seen = false;
        let mut waiting_for = None;
        let outcome = self
            .watch
            .wait_for(&name, Some(deadline), |pod| match state(pod) {
                PodState::Ready(ip) => Some(Ok(ip)),
                PodState::Over(reason) => Some(Err(reason)),
                PodState::Absent if seen => Some(Err("the sandbox's pod was deleted".into())),
                PodState::Absent => None,
                PodState::Pending(reason) => {
                    seen = true;
                    waiting_for = reason;
                    None
                }
                PodState::Unready => {
                    seen = true;
                    None
                }
            })
            .await;
        let failure = match outcome {
            Some(Ok(ip)) => match self.checked_endpoint(instance, ip, deadline).await {
                Ok(endpoint) => return Ok(endpoint),
                Err(reason) => reason,
            },
            Some(Err(reason)) => reason,
            None => format!(
                "the sandbox did not become ready within {timeout} s{}",
                waiting_for.map(|r| format!(" ({r})")).unwrap_or_default()
            ),
        };
        tracing::error!(sandbox_id = %spec.sandbox_id, reason = %failure, "sandbox failed to start");
        let _ = self.stop(&spec.sandbox_id).await;
        Err(RuntimeError::StartFailed(failure))
    }

    fn io(&self, what: &str, e: KubeError) -> RuntimeError {
        self.metrics.error(&e);
        tracing::error!(error = %e, error_label = %e.metric_label(), "{what}");
        RuntimeError::Io(e.customer_message())
    }

    /// The pods on the volume of `storage`, as the watch sees them.
    fn watched_pods_on(&self, storage: Uuid) -> Vec<Arc<Pod>> {
        self.watch
            .all()
            .into_iter()
            .filter(|p| instance_of(p) == Some(storage))
            .collect()
    }

    /// Remove what a move cut short left behind: mover pods on the instance's current
    /// storage, and its stale storages with their pods. Call under the instance's lease.
    async fn sweep(&self, instance: Uuid, storages: &Storages) {
        let movers = self
            .watched_pods_on(storages.current)
            .into_iter()
            .filter(|p| is_mover(p));
        for pod in movers {
            tracing::warn!(%instance, pod = %pod.name_any(), "removing a mover pod a cut-short move left");
            if let Err(e) = self.objects.delete_pod(&pod.name_any(), None).await {
                self.metrics.error(&e);
                tracing::warn!(%instance, error = %e, "could not remove a leftover mover pod; the next start retries");
            }
        }
        for &storage in &storages.stale {
            let exists = self.objects.volumes.get_opt(&storage_name(storage)).await;
            if !matches!(exists, Ok(None)) {
                tracing::warn!(%instance, %storage, "removing a storage a cut-short move left");
            }
            let names: Vec<String> = self
                .watched_pods_on(storage)
                .iter()
                .map(|p| p.name_any())
                .collect();
            if let Err(e) = self.objects.delete_all(storage, &names).await {
                self.metrics.error(&e);
                tracing::warn!(%instance, error = %e, "could not remove a leftover storage; the next start retries");
            }
        }
    }

    /// Stop the sandboxes of `pods`; whether there were any.
    async fn stop_pods(&self, pods: Vec<Pod>) -> Result<bool, RuntimeError> {
        let mut stopped = false;
        for pod in pods {
            if let Some(id) = pod.labels().get(SANDBOX_LABEL) {
                self.stop(id).await?;
                stopped = true;
            }
        }
        Ok(stopped)
    }

    /// Wake `instance` into the warm pool's `pod` (ready at `ip`, reserved for the storage id
    /// `storage`): start a mover pod on the instance's volume, decline (nothing changed, the
    /// pod stays pooled) if it cannot start or the files are more than
    /// `kubernetes.warm_wake_max_mb`, else claim the pod, copy the workspace and home into it,
    /// commit, and delete the old storage.
    async fn move_into(
        &self,
        instance: Uuid,
        storage: Uuid,
        pod: &Pod,
        ip: IpAddr,
    ) -> Result<AgentEndpoint, RuntimeError> {
        if self.settings.warm_wake_max_mb == 0 {
            return Err(RuntimeError::Declined(
                "cold start (kubernetes.warm_wake_max_mb = 0: wakes do not take warm pods)".into(),
            ));
        }
        let storages = self
            .objects
            .storages(instance)
            .await
            .map_err(|e| self.io("reading an instance's storage failed", e))?;
        self.sweep(instance, &storages).await;
        let (old, generation) = (storages.current, storages.generation);
        let started = Instant::now();
        let has_volume = self
            .objects
            .volumes
            .get_opt(&storage_name(old))
            .await
            .map_err(|e| self.io("reading an instance's volume failed", e.into()))?
            .is_some();
        let mover = SandboxSpec {
            instance_id: old,
            sandbox_id: new_sandbox_id(),
            desktop: false,
        };
        let from = if has_volume {
            match self.launch(&mover, PodKind::Mover).await {
                Ok(endpoint) => Some(endpoint),
                // `launch` removed the mover; the warm pod is untouched.
                Err(e) => {
                    return Err(RuntimeError::Declined(format!(
                        "cold start (the instance's volume could not be read for a warm wake: {e})"
                    )));
                }
            }
        } else {
            None
        };
        let moved = self
            .copy_and_commit(instance, storage, pod, ip, from.as_ref(), generation)
            .await;
        if from.is_some()
            && let Err(e) = self
                .objects
                .delete_pod(&pod_name(&mover.sandbox_id), None)
                .await
        {
            self.metrics.error(&e);
            tracing::warn!(%instance, error = %e, "could not delete the mover pod; the next start does");
        }
        let to = moved?;
        tracing::info!(%instance, from = %old, to = %storage, elapsed_ms = started.elapsed().as_millis() as u64, "moved an instance's storage into a warm pod");
        // The old storage is garbage now (a volume still mounted by the mover goes once the
        // mover is gone). Failing here only leaves it to the next start's sweep.
        if let Err(e) = self.objects.delete_all(old, &[]).await {
            self.metrics.error(&e);
            tracing::warn!(%instance, error = %e, "could not delete the instance's old storage; the next start does");
        }
        self.agent_tokens.lock().expect("tokens").remove(&old);
        Ok(to)
    }

    /// The middle of [`Self::move_into`]: check the size at the mover (`from`; `None`: the
    /// instance has no volume, nothing to copy), claim the warm pod, copy, commit.
    async fn copy_and_commit(
        &self,
        instance: Uuid,
        storage: Uuid,
        pod: &Pod,
        ip: IpAddr,
        from: Option<&AgentEndpoint>,
        generation: u64,
    ) -> Result<AgentEndpoint, RuntimeError> {
        let parts = [
            sandbox_agent::protocol::ARCHIVE_WORKSPACE,
            sandbox_agent::protocol::ARCHIVE_HOME,
        ];
        if let Some(from) = from {
            let mut bytes = 0u64;
            for part in parts {
                match agent_client::archive_size(from, part).await {
                    Ok(size) => bytes += size.bytes,
                    Err(e) => {
                        return Err(RuntimeError::Declined(format!("cold start ({e})")));
                    }
                }
            }
            let limit_mb = self.settings.warm_wake_max_mb;
            if bytes > limit_mb.saturating_mul(1024 * 1024) {
                return Err(RuntimeError::Declined(format!(
                    "cold start (the instance's files, {} MiB, are more than kubernetes.warm_wake_max_mb = {limit_mb} MiB: booting is faster than copying them)",
                    bytes / (1024 * 1024)
                )));
            }
        }
        self.objects
            .unpool_pod(storage, pod, Some(instance))
            .await
            .map_err(|e| self.failed("claiming a pooled pod failed", e))?;
        let to = self.endpoint(storage, ip).await.ok_or_else(|| {
            RuntimeError::StartFailed("the sandbox's token secret is missing".into())
        })?;
        if let Some(from) = from {
            tokio::time::timeout(MOVE_TIMEOUT, async {
                for part in parts {
                    agent_client::copy_archive(from, &to, part).await?;
                }
                Ok::<_, String>(())
            })
            .await
            .unwrap_or_else(|_| Err(format!("it took longer than {} s", MOVE_TIMEOUT.as_secs())))
            .map_err(|e| {
                tracing::error!(%instance, error = %e, "moving an instance's storage failed");
                RuntimeError::StartFailed(format!(
                    "moving the instance's files into a warm sandbox failed: {e}"
                ))
            })?;
        }
        self.objects
            .commit_move(storage, instance, generation + 1)
            .await
            .map_err(|e| self.failed("committing a storage move failed", e))?;
        self.objects.moved(&pod.name_any()).await;
        Ok(to)
    }
}

fn or_unlimited(q: &str) -> &str {
    if q.is_empty() { "unlimited" } else { q }
}

fn instance_of(pod: &Pod) -> Option<Uuid> {
    instance_of_labels(pod.labels())
}

/// The instance (or reserved id) an object's labels name.
fn instance_of_labels(labels: &std::collections::BTreeMap<String, String>) -> Option<Uuid> {
    labels
        .get(INSTANCE_LABEL)
        .and_then(|v| Uuid::parse_str(v).ok())
}

#[async_trait]
impl Runtime for KubernetesRuntime {
    fn kind(&self) -> &'static str {
        "kubernetes"
    }

    async fn ensure_storage(&self, instance_id: Uuid) -> Result<(), RuntimeError> {
        let created = async {
            let storage = self.objects.storages(instance_id).await?.current;
            self.objects.ensure_volume(storage).await
        };
        created
            .await
            .map(|_| ())
            .map_err(|e| self.failed("creating an instance's volume failed", e))
    }

    async fn delete_storage(&self, instance_id: Uuid) -> Result<(), RuntimeError> {
        let storages = self
            .objects
            .storages(instance_id)
            .await
            .map_err(|e| self.io("listing an instance's storages failed", e))?;
        for storage in std::iter::once(storages.current).chain(storages.stale) {
            let pods: Vec<String> = self
                .watched_pods_on(storage)
                .iter()
                .map(|p| p.name_any())
                .collect();
            self.objects
                .delete_all(storage, &pods)
                .await
                .map_err(|e| self.io("deleting an instance's objects failed", e))?;
            self.agent_tokens.lock().expect("tokens").remove(&storage);
            self.objects.served.lock().expect("served").remove(&storage);
        }
        Ok(())
    }

    async fn start(&self, spec: &SandboxSpec) -> Result<AgentEndpoint, RuntimeError> {
        let storages = self
            .objects
            .storages(spec.instance_id)
            .await
            .map_err(|e| self.failed("reading an instance's storage failed", e))?;
        self.sweep(spec.instance_id, &storages).await;
        let on_storage = SandboxSpec {
            instance_id: storages.current,
            ..spec.clone()
        };
        self.launch(&on_storage, PodKind::Sandbox).await
    }

    async fn stop(&self, sandbox_id: &str) -> Result<(), RuntimeError> {
        let name = pod_name(sandbox_id);
        let io = |e: KubeError| {
            self.metrics.error(&e);
            tracing::error!(sandbox_id, error = %e, "deleting a sandbox pod failed");
            RuntimeError::Io(e.customer_message())
        };
        self.objects.delete_pod(&name, None).await.map_err(io)?;
        let gone = |pod: Option<&Pod>| pod.is_none().then_some(());
        let grace = Duration::from_secs(self.settings.stop_grace_s + 10);
        if self
            .watch
            .wait_for(&name, Some(Instant::now() + grace), gone)
            .await
            .is_none()
        {
            tracing::warn!(
                sandbox_id,
                "sandbox pod outlived its grace period; deleting it forcibly"
            );
            self.objects.delete_pod(&name, Some(0)).await.map_err(io)?;
            self.watch
                .wait_for(&name, Some(Instant::now() + Duration::from_secs(10)), gone)
                .await;
        }
        Ok(())
    }

    async fn list(&self) -> Result<Vec<RunningSandbox>, RuntimeError> {
        self.watch.ready().await;
        let mut out = Vec::new();
        for pod in self.watch.all() {
            // A warm-pool pod serves no instance until claimed (`list_pooled` finds it); a
            // mover is nobody's sandbox.
            if pod.metadata.deletion_timestamp.is_some()
                || manifests::is_pooled(&*pod)
                || is_mover(&pod)
            {
                continue;
            }
            let (Some(storage), Some(sandbox_id)) =
                (instance_of(&pod), pod.labels().get(SANDBOX_LABEL).cloned())
            else {
                continue;
            };
            let instance_id = self.objects.instance_served(storage).await;
            // A warm pod a wake claimed, before the move committed: nobody's sandbox yet.
            if instance_id == storage && pod.labels().contains_key(manifests::MOVING_LABEL) {
                continue;
            }
            // Not ready yet (or over): `adopt` waits for it or turns it down.
            let ip = match state(Some(&pod)) {
                PodState::Ready(ip) => ip,
                _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            };
            let token = self
                .agent_token(storage)
                .await
                .unwrap_or_else(|| Secret::new(""));
            out.push(RunningSandbox {
                sandbox_id,
                instance_id,
                endpoint: AgentEndpoint {
                    addr: AgentAddr::Tcp(SocketAddr::new(ip, self.settings.agent_port)),
                    token,
                },
            });
        }
        Ok(out)
    }

    async fn adopt(&self, sandbox: &RunningSandbox) -> Option<AgentEndpoint> {
        let deadline = Instant::now() + Duration::from_secs(self.settings.start_timeout_s);
        let ip = self
            .watch
            .wait_for(
                &pod_name(&sandbox.sandbox_id),
                Some(deadline),
                |pod| match state(pod) {
                    PodState::Ready(ip) => Some(Some(ip)),
                    PodState::Over(_) | PodState::Absent => Some(None),
                    PodState::Pending(_) | PodState::Unready => None,
                },
            )
            .await
            .flatten()?;
        let storage = self
            .watch
            .get(&pod_name(&sandbox.sandbox_id))
            .and_then(|p| instance_of(&p))
            .unwrap_or(sandbox.instance_id);
        let endpoint = self.endpoint(storage, ip).await?;
        if self.settings.check_agent
            && !agent_client::accepts_token(&endpoint, Duration::from_secs(3)).await
        {
            return None;
        }
        Some(endpoint)
    }

    fn has_pool(&self) -> bool {
        true
    }

    fn pool_reserves_ids(&self) -> bool {
        true
    }

    async fn start_pooled(
        &self,
        sandbox_id: &str,
        reserved: Option<Uuid>,
    ) -> Result<AgentEndpoint, RuntimeError> {
        let Some(instance_id) = reserved else {
            return Err(RuntimeError::StartFailed(
                "a pooled pod needs a reserved instance id".into(),
            ));
        };
        let spec = SandboxSpec {
            instance_id,
            sandbox_id: sandbox_id.to_owned(),
            desktop: false,
        };
        self.launch(&spec, PodKind::Pooled).await
    }

    async fn claim(
        &self,
        sandbox_id: &str,
        instance_id: Uuid,
    ) -> Result<AgentEndpoint, RuntimeError> {
        let gone = || RuntimeError::StartFailed("the pooled pod is gone".into());
        let pod = self.watch.get(&pod_name(sandbox_id)).ok_or_else(gone)?;
        let Some(reserved) = instance_of(&pod).filter(|_| manifests::is_pooled(&*pod)) else {
            return Err(RuntimeError::StartFailed(
                "the sandbox is not an unclaimed pooled pod".into(),
            ));
        };
        let PodState::Ready(ip) = state(Some(&pod)) else {
            return Err(gone());
        };
        if reserved != instance_id {
            // An existing instance: its storage moves into the pod.
            return self.move_into(instance_id, reserved, &pod, ip).await;
        }
        self.objects
            .unpool(instance_id, &pod)
            .await
            .map_err(|e| self.failed("claiming a pooled pod failed", e))?;
        self.endpoint(instance_id, ip).await.ok_or_else(|| {
            RuntimeError::StartFailed("the sandbox's token secret is missing".into())
        })
    }

    async fn list_pooled(&self) -> Vec<PooledSandbox> {
        let volumes = match self.objects.pooled_volumes().await {
            Ok(v) => v,
            Err(e) => {
                self.metrics.error(&e);
                tracing::warn!(error = %e, "cannot list the warm pool's volumes");
                return Vec::new();
            }
        };
        let pods = self.watch.all();
        let mut out = Vec::new();
        for volume in volumes {
            let Some(reserved) = instance_of_labels(volume.labels()) else {
                continue;
            };
            if volume.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let pod = pods.iter().find(|p| {
                instance_of(p) == Some(reserved)
                    && manifests::is_pooled(p.as_ref())
                    && p.metadata.deletion_timestamp.is_none()
            });
            let sandbox_id = pod
                .and_then(|p| p.labels().get(SANDBOX_LABEL).cloned())
                .unwrap_or_default();
            let endpoint = match pod.map(|p| state(Some(p))) {
                Some(PodState::Ready(ip)) => self.endpoint(reserved, ip).await,
                _ => None,
            };
            out.push(PooledSandbox {
                sandbox_id,
                endpoint,
                reserved: Some(reserved),
            });
        }
        out
    }

    async fn discard_pooled(
        &self,
        sandbox_id: &str,
        reserved: Option<Uuid>,
        keep_storage: bool,
    ) -> Result<bool, RuntimeError> {
        let Some(instance) = reserved else {
            return self.stop(sandbox_id).await.map(|()| true);
        };
        let io = |e: KubeError| {
            self.metrics.error(&e);
            tracing::error!(%instance, error = %e, "discarding a pooled pod failed");
            RuntimeError::Io(e.customer_message())
        };
        if !keep_storage {
            // The id is no instance's. Read fresh: a volume no longer pooled was claimed
            // meanwhile (a wake's move committed) and serves an instance, pods and all.
            // Otherwise every pod on it goes, the unpooled one of a wake's claim cut short too.
            let volume = self
                .objects
                .volumes
                .get_opt(&storage_name(instance))
                .await
                .map_err(|e| io(e.into()))?;
            if volume.as_ref().is_some_and(|v| !manifests::is_pooled(v)) {
                return Ok(false);
            }
            let stopped = self
                .stop_pods(self.objects.pods_on(instance).await.map_err(io)?)
                .await?;
            self.objects.delete_all(instance, &[]).await.map_err(io)?;
            self.agent_tokens.lock().expect("tokens").remove(&instance);
            return Ok(stopped);
        }
        // The id is an instance's: only what is still pooled goes, read fresh (a claimed pod
        // is its sandbox), and the volume stays the instance's.
        let stopped = self
            .stop_pods(self.objects.pooled_pods(instance).await.map_err(io)?)
            .await?;
        if self.objects.volume_pooled(instance).await.map_err(io)? {
            self.objects.unpool_volume(instance).await.map_err(io)?;
        }
        Ok(stopped)
    }

    async fn find(&self, sandbox_id: &str) -> Option<AgentEndpoint> {
        let pod = self.watch.get(&pod_name(sandbox_id))?;
        let PodState::Ready(ip) = state(Some(&pod)) else {
            return None;
        };
        self.endpoint(instance_of(&pod)?, ip).await
    }

    async fn wait_exit(&self, sandbox_id: &str) -> String {
        self.watch
            .wait_for(&pod_name(sandbox_id), None, |pod| match state(pod) {
                PodState::Over(reason) => Some(reason),
                PodState::Absent => Some("the sandbox's pod is gone".into()),
                _ => None,
            })
            .await
            .unwrap_or_else(|| "the sandbox runtime stopped".into())
    }

    async fn shutdown(&self) {
        for task in &self.tasks {
            task.abort();
        }
        let n = self.watch.all().len();
        if n > 0 {
            tracing::info!(
                pods = n,
                "leaving sandbox pods running; the next orchestrator adopts them"
            );
        }
    }
}
