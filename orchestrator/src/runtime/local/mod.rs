//! The local runtime: each sandbox is a `sandbox-agent` process under bubblewrap on this host.
//!
//! Layout under the data directory:
//! - `instances/<instance id>/{workspace,state}` — the instance's storage, kept across stops.
//! - `pool/<sandbox id>/{workspace,state}` — scratch storage of a warm-pool sandbox that
//!   serves no instance yet; a claim makes it the instance's storage (see [`pool`]).
//! - `sandboxes/<sandbox id>/` — one running sandbox: `meta.json` (pid, start time, token;
//!   root-only), `agent.log`, generated `etc/`, and `sock/` (the agent's socket) which is the
//!   only run directory bound into the sandbox.
//! - `bin/sandbox-agent` — a copy of the agent binary at a path the sandbox uid can reach.
//!
//! Sandboxes are started in their own process group and session-less, so they survive an
//! orchestrator restart; the next orchestrator finds them through `meta.json` (pid + start
//! time, so a reused pid is never mistaken for a sandbox) and re-adopts or stops them.

mod bwrap;
mod cgroup;
mod pool;
mod procfs;

use std::collections::HashMap;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use uuid::Uuid;

use super::{
    AgentAddr, AgentEndpoint, ModelCaller, ModelService, PooledSandbox, RunningSandbox, Runtime,
    RuntimeError, SandboxSpec,
};
use crate::crypto::random_token;
use crate::settings::{LocalSettings, Secret};
use crate::{agent_client, sys};

/// What `sandboxes/<id>/meta.json` records.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Meta {
    sandbox_id: String,
    /// `None` while a warm-pool sandbox serves nobody.
    instance_id: Option<Uuid>,
    pid: i32,
    started: u64,
    token: String,
    sandboxed: bool,
}

/// Sandboxes as local processes.
pub struct LocalRuntime {
    settings: LocalSettings,
    data_dir: PathBuf,
    agent_bin: PathBuf,
    /// `(uid, gid)` to drop to when we run as root.
    run_as: Option<(u32, u32)>,
    cgroups: cgroup::Layout,
    /// Exit reasons of sandboxes this process spawned (and so must reap).
    exits: Mutex<HashMap<String, watch::Receiver<Option<String>>>>,
    /// Serves each sandbox's model socket.
    model: Arc<dyn ModelService>,
    model_servers: Mutex<HashMap<String, tokio::task::AbortHandle>>,
    /// Set by `shutdown`: no sandbox starts after it (a pool refill or a wake still under way
    /// would otherwise leave one behind). `spawn` holds the read side until `meta.json` is
    /// written, so `shutdown` sees every sandbox that did start.
    closed: std::sync::RwLock<bool>,
}

impl LocalRuntime {
    /// Check the host can run sandboxes and prepare the data directory.
    pub fn new(
        settings: &LocalSettings,
        data_dir: &Path,
        model: Arc<dyn ModelService>,
    ) -> anyhow::Result<LocalRuntime> {
        std::fs::create_dir_all(data_dir)?;
        let data_dir = data_dir.canonicalize()?;
        let run_as = (sys::getuid() == 0).then_some((settings.sandbox_uid, settings.sandbox_gid));
        if settings.insecure_no_sandbox {
            tracing::warn!(
                "INSECURE: local.insecure_no_sandbox is set; sandboxes run WITHOUT bubblewrap, as the orchestrator's user, sharing its filesystem and network. Never serve customers like this."
            );
        } else {
            let ok = std::process::Command::new(&settings.bwrap)
                .arg("--version")
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            if !ok {
                anyhow::bail!(
                    "bubblewrap ({}) is not available, and sandboxes are a security boundary between customers: install it (`make deps` does) or, for development only, set OCAAS_LOCAL__INSECURE_NO_SANDBOX=true",
                    settings.bwrap.display()
                );
            }
        }
        // The sandbox uid must be able to reach the directories bubblewrap binds.
        std::fs::set_permissions(&data_dir, std::fs::Permissions::from_mode(0o711))?;
        if run_as.is_some() {
            for anc in data_dir.ancestors().skip(1) {
                let mode = std::fs::metadata(anc)?.permissions().mode();
                if mode & 0o001 == 0 {
                    anyhow::bail!(
                        "the data directory {} is inside {}, which the sandbox user cannot enter (mode {:o}); choose a data directory whose parents are world-traversable",
                        data_dir.display(),
                        anc.display(),
                        mode & 0o777
                    );
                }
            }
        }
        for sub in ["instances", "sandboxes", "bin", "pool"] {
            let p = data_dir.join(sub);
            std::fs::create_dir_all(&p)?;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o711))?;
        }
        pool::recover(&data_dir)?;
        let agent_bin = install_agent_binary(settings, &data_dir)?;
        let cgroups = cgroup::Layout::detect();
        match &settings.openclaw_dir {
            Some(dir) => {
                tracing::info!(openclaw = %dir.display(), "sandboxes run the OpenClaw gateway")
            }
            None => tracing::warn!(
                "OpenClaw is not installed (scripts/install-openclaw.sh, run by `make`): sandboxes run without an agent gateway and chat is unavailable"
            ),
        }
        tracing::info!(
            sandboxed = !settings.insecure_no_sandbox,
            run_as = ?run_as,
            limits = %cgroups.describe(),
            "local runtime ready"
        );
        Ok(LocalRuntime {
            settings: settings.clone(),
            data_dir,
            agent_bin,
            run_as,
            cgroups,
            exits: Mutex::new(HashMap::new()),
            model,
            model_servers: Mutex::new(HashMap::new()),
            closed: std::sync::RwLock::new(false),
        })
    }

    /// (Re)bind the sandbox's model socket and serve it. Only the sandbox uid (and root) can
    /// reach the socket's directory.
    fn serve_model_socket(&self, sandbox_id: &str, caller: ModelCaller) -> std::io::Result<()> {
        let path = self.run_dir(sandbox_id).join("sock/model.sock");
        let _ = std::fs::remove_file(&path);
        let std_listener = std::os::unix::net::UnixListener::bind(&path)?;
        std_listener.set_nonblocking(true)?;
        self.own(&path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        let listener = tokio::net::UnixListener::from_std(std_listener)?;
        let handle = self.model.clone().serve(caller, listener);
        if let Some(old) = self
            .model_servers
            .lock()
            .expect("model servers")
            .insert(sandbox_id.to_owned(), handle)
        {
            old.abort();
        }
        Ok(())
    }

    /// How resource limits are enforced here (for `GET /api`).
    pub fn limits_description(&self) -> String {
        self.cgroups.describe()
    }

    fn storage_dir(&self, instance_id: Uuid) -> PathBuf {
        self.data_dir
            .join("instances")
            .join(instance_id.to_string())
    }

    fn pool_dir(&self, sandbox_id: &str) -> PathBuf {
        self.data_dir.join("pool").join(sandbox_id)
    }

    /// Create `workspace`, `state` and `state/home` under `base` for the sandbox uid.
    fn create_storage(&self, base: &Path) -> std::io::Result<()> {
        for sub in ["workspace", "state", "state/home"] {
            let p = base.join(sub);
            std::fs::create_dir_all(&p)?;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700))?;
            self.own(&p)?;
        }
        std::fs::set_permissions(base, std::fs::Permissions::from_mode(0o711))
    }

    fn run_dir(&self, sandbox_id: &str) -> PathBuf {
        self.data_dir.join("sandboxes").join(sandbox_id)
    }

    fn read_meta(&self, sandbox_id: &str) -> Option<Meta> {
        let text = std::fs::read(self.run_dir(sandbox_id).join("meta.json")).ok()?;
        serde_json::from_slice(&text).ok()
    }

    fn endpoint(&self, meta: &Meta) -> AgentEndpoint {
        AgentEndpoint {
            addr: AgentAddr::Unix(self.run_dir(&meta.sandbox_id).join("sock/agent.sock")),
            token: Secret::new(meta.token.clone()),
        }
    }

    fn own(&self, path: &Path) -> std::io::Result<()> {
        if let Some((uid, gid)) = self.run_as {
            chown(path, Some(uid), Some(gid))?;
        }
        Ok(())
    }

    /// Launch a sandbox on `storage`, for `instance` (`None`: a warm-pool sandbox).
    fn spawn(
        &self,
        sandbox_id: &str,
        instance: Option<Uuid>,
        storage: &Path,
        desktop: bool,
        token: &str,
    ) -> Result<Meta, RuntimeError> {
        let io = |e: std::io::Error| RuntimeError::Io(e.to_string());
        let closed = self.closed.read().unwrap_or_else(|p| p.into_inner());
        if *closed {
            return Err(RuntimeError::StartFailed(
                "the service is shutting down".into(),
            ));
        }
        let run = self.run_dir(sandbox_id);
        let sock = run.join("sock");
        let etc = run.join("etc");
        std::fs::create_dir_all(&sock).map_err(io)?;
        std::fs::create_dir_all(&etc).map_err(io)?;
        std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o711)).map_err(io)?;
        std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
        self.own(&sock).map_err(io)?;
        let token_file = sock.join("token");
        std::fs::write(&token_file, token).map_err(io)?;
        std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600))
            .map_err(io)?;
        self.own(&token_file).map_err(io)?;
        let caller = instance.map_or(ModelCaller::Pool, ModelCaller::Instance);
        self.serve_model_socket(sandbox_id, caller).map_err(io)?;
        let (uid, gid) = self.run_as.unwrap_or((sys::getuid(), sys::getuid()));
        let (passwd, group) = bwrap::passwd_and_group(uid, gid);
        std::fs::write(etc.join("passwd"), passwd).map_err(io)?;
        std::fs::write(etc.join("group"), group).map_err(io)?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(run.join("agent.log"))
            .map_err(io)?;

        let mut cmd;
        if self.settings.insecure_no_sandbox {
            cmd = tokio::process::Command::new(&self.agent_bin);
            cmd.arg("--listen")
                .arg(format!("unix:{}", sock.join("agent.sock").display()))
                .arg("--workspace")
                .arg(storage.join("workspace"))
                .arg("--token-file")
                .arg(&token_file)
                .arg("--state-dir")
                .arg(storage.join("state"))
                .arg("--model-upstream")
                .arg(format!("unix:{}", sock.join("model.sock").display()))
                // No network namespace of its own: fixed in-sandbox ports would collide.
                .arg("--gateway-port")
                .arg(free_port().map_err(io)?.to_string())
                .arg("--model-port")
                .arg(free_port().map_err(io)?.to_string())
                .current_dir(storage.join("workspace"))
                .env_clear()
                .env("PATH", "/usr/local/bin:/usr/bin:/bin")
                .env("HOME", storage.join("state/home"))
                .stdin(std::process::Stdio::null());
            if let Some(dir) = &self.settings.openclaw_dir {
                cmd.arg("--openclaw-dir").arg(dir);
            }
        } else {
            let args = bwrap::options(&bwrap::Mounts {
                agent_bin: &self.agent_bin,
                workspace: &storage.join("workspace"),
                state: &storage.join("state"),
                sock_dir: &sock,
                etc_dir: &etc,
                tmp_size_bytes: self.settings.tmp_size_mb * 1024 * 1024,
                openclaw: self.settings.openclaw_dir.as_deref(),
            });
            let args_file = run.join("bwrap.args");
            std::fs::write(&args_file, bwrap::encode(&args)).map_err(io)?;
            let stdin = std::fs::File::open(&args_file).map_err(io)?;
            cmd = tokio::process::Command::new(&self.settings.bwrap);
            cmd.arg("--args")
                .arg("0")
                .args(bwrap::command(self.settings.openclaw_dir.is_some()))
                .env_clear()
                .env("PATH", "/usr/local/bin:/usr/bin:/bin")
                .current_dir("/")
                .stdin(stdin);
        }
        if desktop {
            cmd.arg("--desktop");
        }
        cmd.stdout(log.try_clone().map_err(io)?)
            .stderr(log)
            // Own process group: a Ctrl-C aimed at the orchestrator does not reach sandboxes.
            .process_group(0)
            .kill_on_drop(false);
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid).gid(gid);
        }
        let limits = cgroup::Limits {
            memory_bytes: self.settings.memory_limit_mb * 1024 * 1024,
            pids: self.settings.pids_limit,
            cpu_millis: self.settings.cpu_millis,
        };
        let cg_name = format!("ocaas-{sandbox_id}");
        let cg_dirs = self.cgroups.create(&cg_name, limits).map_err(io)?;
        let procs = cg_dirs
            .iter()
            .map(|d| {
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(d.join("cgroup.procs"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(io)?;
        if !procs.is_empty() {
            sys::join_cgroups_before_exec(&mut cmd, procs);
        }
        let mut child = cmd.spawn().map_err(|e| {
            RuntimeError::StartFailed(format!("could not launch the sandbox process: {e}"))
        })?;
        let pid = child.id().map(|p| p as i32).ok_or_else(|| {
            RuntimeError::StartFailed("the sandbox process exited at once".into())
        })?;
        let started = procfs::start_time(pid).unwrap_or(0);
        let (tx, rx) = watch::channel(None);
        tokio::spawn(async move {
            let reason = match child.wait().await {
                Ok(s) => describe_exit(s),
                Err(e) => format!("lost track of the sandbox process: {e}"),
            };
            let _ = tx.send(Some(reason));
        });
        self.exits
            .lock()
            .expect("exits lock")
            .insert(sandbox_id.to_owned(), rx);
        let meta = Meta {
            sandbox_id: sandbox_id.to_owned(),
            instance_id: instance,
            pid,
            started,
            token: token.to_owned(),
            sandboxed: !self.settings.insecure_no_sandbox,
        };
        self.write_meta(&meta).map_err(io)?;
        drop(closed);
        Ok(meta)
    }

    /// `meta.json`, root-only, replaced atomically.
    fn write_meta(&self, meta: &Meta) -> std::io::Result<()> {
        let run = self.run_dir(&meta.sandbox_id);
        let tmp = run.join("meta.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(meta).expect("meta serializes"))?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
        std::fs::rename(&tmp, run.join("meta.json"))
    }

    /// Wait for a just-spawned sandbox's agent to answer; on failure stop it and say why.
    async fn wait_started(&self, meta: &Meta) -> Result<AgentEndpoint, RuntimeError> {
        let endpoint = self.endpoint(meta);
        let deadline = Instant::now() + Duration::from_secs(self.settings.start_timeout_s);
        loop {
            if agent_client::healthy(&endpoint, Duration::from_secs(2)).await {
                return Ok(endpoint);
            }
            let exited = self.exited_reason(&meta.sandbox_id);
            if exited.is_some() || Instant::now() >= deadline {
                tracing::error!(
                    sandbox_id = %meta.sandbox_id,
                    log = %self.log_tail(&meta.sandbox_id),
                    "sandbox failed to start"
                );
                let _ = self.stop(&meta.sandbox_id).await;
                return Err(RuntimeError::StartFailed(exited.unwrap_or_else(|| {
                    format!(
                        "the sandbox agent did not answer within {} s",
                        self.settings.start_timeout_s
                    )
                })));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Every sandbox still running (serving its model socket again if this process has not
    /// yet); the run state of dead or half-created ones is cleaned up.
    async fn running_metas(&self) -> Result<Vec<Meta>, RuntimeError> {
        let dir = std::fs::read_dir(self.data_dir.join("sandboxes"))
            .map_err(|e| RuntimeError::Io(e.to_string()))?;
        let mut out = Vec::new();
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            match self.read_meta(&name) {
                Some(meta) if self.alive(&meta) => {
                    let serving = self
                        .model_servers
                        .lock()
                        .expect("model servers")
                        .contains_key(&meta.sandbox_id);
                    let caller = meta
                        .instance_id
                        .map_or(ModelCaller::Pool, ModelCaller::Instance);
                    if !serving && let Err(e) = self.serve_model_socket(&meta.sandbox_id, caller) {
                        tracing::warn!(sandbox_id = %meta.sandbox_id, error = %e, "could not serve model socket");
                    }
                    out.push(meta);
                }
                Some(_) => self.cleanup(&name).await, // dead
                // No `meta.json`: half-created. A spawn may be writing it right now (a pool
                // refill, a cold start); only an old one is left over from a crash.
                None => {
                    let age = entry
                        .metadata()
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok());
                    if age.is_none_or(|a| a > Duration::from_secs(60)) {
                        self.cleanup(&name).await;
                    }
                }
            }
        }
        Ok(out)
    }

    fn alive(&self, meta: &Meta) -> bool {
        procfs::is_same_process(meta.pid, meta.started)
    }

    fn exited_reason(&self, sandbox_id: &str) -> Option<String> {
        let exits = self.exits.lock().expect("exits lock");
        exits.get(sandbox_id).and_then(|rx| rx.borrow().clone())
    }

    /// Tail of a sandbox's agent log, for the orchestrator's own log (never for customers).
    fn log_tail(&self, sandbox_id: &str) -> String {
        let text = std::fs::read(self.run_dir(sandbox_id).join("agent.log")).unwrap_or_default();
        let start = text.len().saturating_sub(2048);
        String::from_utf8_lossy(&text[start..]).into_owned()
    }

    async fn wait_gone(&self, meta: &Meta, within: Duration) -> bool {
        let until = Instant::now() + within;
        while Instant::now() < until {
            if !self.alive(meta) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        !self.alive(meta)
    }

    async fn cleanup(&self, sandbox_id: &str) {
        for dir in self.cgroups.dirs(&format!("ocaas-{sandbox_id}")) {
            for pid in cgroup::pids(&dir) {
                let _ = sys::kill(pid, libc::SIGKILL);
            }
            cgroup::remove(&dir).await;
        }
        if let Some(h) = self
            .model_servers
            .lock()
            .expect("model servers")
            .remove(sandbox_id)
        {
            h.abort();
        }
        let _ = std::fs::remove_dir_all(self.run_dir(sandbox_id));
        self.exits.lock().expect("exits lock").remove(sandbox_id);
        // A warm-pool sandbox's scratch storage (or, if a hand-over was cut short, the rest
        // of that hand-over, so no instance file is lost).
        if let Err(e) = pool::discard(&self.pool_dir(sandbox_id), &self.data_dir.join("instances"))
        {
            tracing::error!(sandbox_id, error = %e, "could not clean up a pooled sandbox's storage");
        }
    }
}

/// Copy the agent binary to `<data>/bin/sandbox-agent`, where the sandbox uid can read it
/// (the build directory often sits under a private home). Replaced by rename, so running
/// sandboxes keep the inode they started with.
fn install_agent_binary(settings: &LocalSettings, data_dir: &Path) -> anyhow::Result<PathBuf> {
    let src = match &settings.sandbox_agent_bin {
        Some(p) => p.clone(),
        None => {
            let exe = std::env::current_exe()?;
            let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
            [dir.join("sandbox-agent"), dir.join("../sandbox-agent")]
                .into_iter()
                .find(|p| p.exists())
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "sandbox-agent binary not found next to {}; build it (`cargo build --workspace`) or set OCAAS_LOCAL__SANDBOX_AGENT_BIN",
                        exe.display()
                    )
                })?
        }
    };
    let dst = data_dir.join("bin/sandbox-agent");
    let same = match (std::fs::metadata(&src), std::fs::metadata(&dst)) {
        (Ok(a), Ok(b)) => a.len() == b.len() && a.modified().ok() <= b.modified().ok(),
        _ => false,
    };
    if !same {
        let tmp = data_dir.join(format!("bin/.sandbox-agent.{}", std::process::id()));
        std::fs::copy(&src, &tmp)
            .map_err(|e| anyhow::anyhow!("cannot copy {}: {e}", src.display()))?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
        std::fs::rename(&tmp, &dst)?;
    }
    Ok(dst)
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn describe_exit(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("the sandbox exited with status {code}"),
        (None, Some(sig)) => format!("the sandbox was killed by signal {sig}"),
        _ => "the sandbox exited".into(),
    }
}

#[async_trait]
impl Runtime for LocalRuntime {
    fn kind(&self) -> &'static str {
        "local"
    }

    async fn ensure_storage(&self, instance_id: Uuid) -> Result<(), RuntimeError> {
        self.create_storage(&self.storage_dir(instance_id))
            .map_err(|e| RuntimeError::Io(e.to_string()))
    }

    async fn delete_storage(&self, instance_id: Uuid) -> Result<(), RuntimeError> {
        match std::fs::remove_dir_all(self.storage_dir(instance_id)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(RuntimeError::Io(e.to_string())),
        }
    }

    async fn start(&self, spec: &SandboxSpec) -> Result<AgentEndpoint, RuntimeError> {
        self.ensure_storage(spec.instance_id).await?;
        let storage = self.storage_dir(spec.instance_id);
        let meta = self.spawn(
            &spec.sandbox_id,
            Some(spec.instance_id),
            &storage,
            spec.desktop,
            &random_token(),
        )?;
        self.wait_started(&meta).await
    }

    fn has_pool(&self) -> bool {
        // A pooled sandbox is worth keeping only for its booted, warmed gateway.
        self.settings.openclaw_dir.is_some()
    }

    async fn start_pooled(
        &self,
        sandbox_id: &str,
        _reserved: Option<Uuid>,
    ) -> Result<AgentEndpoint, RuntimeError> {
        let storage = self.pool_dir(sandbox_id);
        self.create_storage(&storage)
            .map_err(|e| RuntimeError::Io(e.to_string()))?;
        let meta = self.spawn(sandbox_id, None, &storage, false, &random_token())?;
        self.wait_started(&meta).await
    }

    async fn claim(
        &self,
        sandbox_id: &str,
        instance_id: Uuid,
    ) -> Result<AgentEndpoint, RuntimeError> {
        let io = |e: std::io::Error| RuntimeError::Io(e.to_string());
        let mut meta = self
            .read_meta(sandbox_id)
            .filter(|m| m.instance_id.is_none() && self.alive(m))
            .ok_or_else(|| RuntimeError::StartFailed("the pooled sandbox is gone".into()))?;
        self.ensure_storage(instance_id).await?;
        pool::hand_over(
            &self.pool_dir(sandbox_id),
            &self.storage_dir(instance_id),
            instance_id,
        )
        .map_err(io)?;
        meta.instance_id = Some(instance_id);
        self.write_meta(&meta).map_err(io)?;
        self.serve_model_socket(sandbox_id, ModelCaller::Instance(instance_id))
            .map_err(io)?;
        let pool_root = self.data_dir.join("pool");
        tokio::task::spawn_blocking(move || pool::sweep_replaced(&pool_root));
        if !self.alive(&meta) {
            return Err(RuntimeError::StartFailed(
                "the pooled sandbox exited while it was handed over".into(),
            ));
        }
        Ok(self.endpoint(&meta))
    }

    async fn stale_sandboxes(&self, instance: Uuid, current: &str) -> Vec<String> {
        // Not `running_metas`: that cleans up half-created sandboxes, and one may be starting
        // right now (a pool refill).
        let Ok(dir) = std::fs::read_dir(self.data_dir.join("sandboxes")) else {
            return Vec::new();
        };
        dir.flatten()
            .filter_map(|e| self.read_meta(&e.file_name().to_string_lossy()))
            .filter(|m| m.instance_id == Some(instance) && m.sandbox_id != current && self.alive(m))
            .map(|m| m.sandbox_id)
            .collect()
    }

    async fn list_pooled(&self) -> Vec<PooledSandbox> {
        self.running_metas()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|m| m.instance_id.is_none())
            .map(|m| PooledSandbox {
                sandbox_id: m.sandbox_id.clone(),
                endpoint: Some(self.endpoint(&m)),
                reserved: None,
            })
            .collect()
    }

    async fn stop(&self, sandbox_id: &str) -> Result<(), RuntimeError> {
        let Some(meta) = self.read_meta(sandbox_id) else {
            self.cleanup(sandbox_id).await;
            return Ok(());
        };
        if self.alive(&meta) {
            // Graceful: SIGTERM the agent. Under bubblewrap it is a grandchild (bwrap, then
            // bwrap's init as pid 1 of the sandbox, then the agent); when it exits, pid 1
            // exits and the kernel ends everything else in the sandbox's PID namespace.
            let agents: Vec<i32> = if meta.sandboxed {
                procfs::children(meta.pid)
                    .into_iter()
                    .flat_map(procfs::children)
                    .collect()
            } else {
                vec![meta.pid]
            };
            for pid in agents {
                let _ = sys::kill(pid, libc::SIGTERM);
            }
            // The agent stops its gateway first (OpenClaw needs ~6 s), then exits.
            if !self.wait_gone(&meta, Duration::from_secs(20)).await {
                tracing::warn!(sandbox_id, "sandbox ignored SIGTERM; killing it");
                for init in procfs::children(meta.pid) {
                    let _ = sys::kill(init, libc::SIGKILL);
                }
                let _ = sys::kill(meta.pid, libc::SIGKILL);
                if !meta.sandboxed {
                    let _ = sys::killpg(meta.pid, libc::SIGKILL);
                }
                self.wait_gone(&meta, Duration::from_secs(5)).await;
            }
        }
        self.cleanup(sandbox_id).await;
        Ok(())
    }

    async fn list(&self) -> Result<Vec<RunningSandbox>, RuntimeError> {
        Ok(self
            .running_metas()
            .await?
            .into_iter()
            .filter_map(|m| {
                Some(RunningSandbox {
                    instance_id: m.instance_id?,
                    endpoint: self.endpoint(&m),
                    sandbox_id: m.sandbox_id,
                })
            })
            .collect())
    }

    async fn wait_exit(&self, sandbox_id: &str) -> String {
        let rx = self
            .exits
            .lock()
            .expect("exits lock")
            .get(sandbox_id)
            .cloned();
        if let Some(mut rx) = rx {
            if let Ok(reason) = rx.wait_for(Option::is_some).await {
                return reason.clone().unwrap_or_default();
            }
            return "the sandbox exited".into();
        }
        // Adopted from an earlier orchestrator: not our child, so poll.
        let Some(meta) = self.read_meta(sandbox_id) else {
            return "the sandbox is gone".into();
        };
        while self.alive(&meta) {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        "the sandbox exited".into()
    }

    fn close(&self) {
        // Waits for a spawn under way to write its `meta.json`.
        *self.closed.write().unwrap_or_else(|p| p.into_inner()) = true;
    }

    async fn shutdown(&self) {
        self.close();
        if self.settings.keep_sandboxes_on_shutdown {
            let n = self.running_metas().await.map(|l| l.len()).unwrap_or(0);
            if n > 0 {
                tracing::info!(
                    running = n,
                    "leaving sandboxes running; the next start re-adopts them (set local.keep_sandboxes_on_shutdown=false to stop them)"
                );
            }
            return;
        }
        if let Ok(list) = self.running_metas().await {
            for m in list {
                let _ = self.stop(&m.sandbox_id).await;
            }
        }
    }
}

/// Kill every sandbox under `data_dir` at once (SIGKILL, no grace). For test teardown and
/// operators cleaning up after a crash; never used on the request path.
pub fn kill_all_now(data_dir: &Path) {
    let Ok(dir) = std::fs::read_dir(data_dir.join("sandboxes")) else {
        return;
    };
    for entry in dir.flatten() {
        let Ok(text) = std::fs::read(entry.path().join("meta.json")) else {
            continue;
        };
        let Ok(meta) = serde_json::from_slice::<Meta>(&text) else {
            continue;
        };
        if procfs::is_same_process(meta.pid, meta.started) {
            // Killing the sandbox's pid 1 ends its whole PID namespace.
            for init in procfs::children(meta.pid) {
                let _ = sys::kill(init, libc::SIGKILL);
            }
            let _ = sys::kill(meta.pid, libc::SIGKILL);
        }
    }
    // A sandbox spawned a moment ago may have no `meta.json` yet: find it by its mounts.
    if let Some(name) = data_dir.file_name().and_then(|n| n.to_str()) {
        for pid in procfs::sandboxed_under(&format!("/{name}/")) {
            let _ = sys::kill(pid, libc::SIGKILL);
        }
    }
}
