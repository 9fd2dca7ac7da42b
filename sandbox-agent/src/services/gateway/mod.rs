//! The OpenClaw gateway next to the agent: its configuration, its supervision, and the two
//! routes that expose it (`GET /gateway`, `POST /gateway/v1/chat/completions`).
//!
//! - [`config`]: `openclaw.json` (offline, token auth, the model forwarder as only provider).
//! - [`supervisor`]: start, readiness, crash → restart with back-off, shutdown.
//! - [`Gateway`]: the shared handle the routes and `main` use.
//! - [`launch`]: everything `main` does for `--openclaw-dir`: model forwarder, config, gateway.

mod child;
pub mod config;
mod probe;
pub(crate) mod procfs;
pub(crate) mod routes;
pub mod supervisor;

use std::{
    fmt, io,
    net::{Ipv4Addr, SocketAddr},
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicI32, Ordering},
    },
    time::Duration,
};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

pub use self::{
    config::{GatewayToken, OpenClawConfig, StateLayout},
    supervisor::{GatewayCommand, SupervisorOptions},
};
use crate::{
    protocol::{GatewayState, GatewayStatus},
    services::model_forward::{ModelForwarder, ModelUpstream},
};

/// Where the running gateway's OpenAI-compatible endpoint is and the token it wants.
#[derive(Debug, Clone)]
pub struct GatewayUpstream {
    /// `127.0.0.1:<gateway port>`.
    pub addr: SocketAddr,
    /// Sent as `Authorization: Bearer <token>` on every passed-through request.
    pub token: GatewayToken,
}

/// State shared by the supervisor task and every [`Gateway`] handle.
pub(crate) struct Shared {
    pub(crate) status: watch::Sender<GatewayStatus>,
    /// The running process group, 0 when none.
    pub(crate) pgid: AtomicI32,
    /// Cancelled when the agent shuts down.
    pub(crate) stop: CancellationToken,
    /// Becomes `true` once the supervisor has finished (the group is gone).
    pub(crate) done: watch::Sender<bool>,
}

impl Shared {
    pub(crate) fn set_state(&self, state: GatewayState, reason: Option<String>) {
        self.status.send_modify(|s| {
            s.state = state;
            s.reason = reason;
            if state != GatewayState::Ready {
                s.boot_ms = None;
                s.rss_bytes = None;
            }
        });
    }
}

/// A handle on the supervised gateway (or on its absence: [`Gateway::disabled`]). Cheap to
/// clone; all clones see the same gateway.
#[derive(Clone)]
pub struct Gateway {
    shared: Arc<Shared>,
    upstream: Option<GatewayUpstream>,
}

impl Gateway {
    /// No gateway in this sandbox: `GET /gateway` says `disabled` and the chat route answers
    /// `503 UNAVAILABLE`.
    pub fn disabled() -> Self {
        let (done, _) = watch::channel(true);
        Gateway {
            shared: Arc::new(Shared {
                status: watch::channel(status(
                    GatewayState::Disabled,
                    Some("no OpenClaw installation configured (--openclaw-dir)".into()),
                ))
                .0,
                pgid: AtomicI32::new(0),
                stop: CancellationToken::new(),
                done,
            }),
            upstream: None,
        }
    }

    /// Start supervising `cmd` in the background (a task on the current Tokio runtime) and
    /// return at once, in state `booting`. Requests are passed through to `upstream` once the
    /// command answers its readiness URL.
    pub fn spawn(
        cmd: GatewayCommand,
        options: SupervisorOptions,
        upstream: GatewayUpstream,
    ) -> io::Result<Self> {
        probe::validate(&cmd.ready_url)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let (done, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            status: watch::channel(status(GatewayState::Booting, None)).0,
            pgid: AtomicI32::new(0),
            stop: CancellationToken::new(),
            done,
        });
        tokio::spawn(supervisor::supervise(cmd, options, shared.clone()));
        Ok(Gateway {
            shared,
            upstream: Some(upstream),
        })
    }

    /// Name the session store this gateway uses (see [`GatewayStatus::store_id`]).
    pub fn with_store_id(self, store_id: String) -> Self {
        self.shared
            .status
            .send_modify(|s| s.store_id = Some(store_id));
        self
    }

    /// The current state.
    pub fn state(&self) -> GatewayState {
        self.shared.status.borrow().state
    }

    /// The current status, with `rss_bytes` measured now from `/proc`: the resident memory of
    /// the gateway's process group and of every descendant of its leader (the spawn broker
    /// lives in a group of its own). A scan of every process: call it off the async workers,
    /// e.g. in `web::block`.
    pub fn status(&self) -> GatewayStatus {
        let mut status = self.shared.status.borrow().clone();
        status.rss_bytes = self.pgid().and_then(procfs::family_rss_bytes);
        status
    }

    /// Watch the status (without `rss_bytes`) as it changes.
    pub fn subscribe(&self) -> watch::Receiver<GatewayStatus> {
        self.shared.status.subscribe()
    }

    /// The running gateway's process group id (= its leader's pid), if one is running.
    pub fn pgid(&self) -> Option<i32> {
        Some(self.shared.pgid.load(Ordering::SeqCst)).filter(|&p| p > 1)
    }

    /// Wait up to `max_wait` for `ready`. A `booting` or `crashed` gateway (which is restarted)
    /// is waited for; `disabled` and `stopping` return at once. Returns where to send requests,
    /// or the status that made it give up.
    pub async fn wait_ready(&self, max_wait: Duration) -> Result<GatewayUpstream, GatewayStatus> {
        let mut rx = self.shared.status.subscribe();
        let settled = |s: &GatewayStatus| {
            matches!(
                s.state,
                GatewayState::Ready | GatewayState::Disabled | GatewayState::Stopping
            )
        };
        let _ = tokio::time::timeout(max_wait, rx.wait_for(settled)).await;
        let current = rx.borrow().clone();
        match (&self.upstream, current.state) {
            (Some(upstream), GatewayState::Ready) => Ok(upstream.clone()),
            _ => Err(current),
        }
    }

    /// Stop the gateway: state `stopping`, SIGTERM to its process group, SIGKILL after the
    /// grace period; returns once the group is gone. Idempotent; every caller waits.
    pub async fn shutdown(&self) {
        if !*self.shared.done.borrow() {
            self.shared.status.send_modify(|s| {
                s.state = GatewayState::Stopping;
                s.reason = Some("the agent is shutting down".into());
            });
        }
        self.shared.stop.cancel();
        let mut done = self.shared.done.subscribe();
        let _ = done.wait_for(|d| *d).await;
    }
}

impl fmt::Debug for Gateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gateway")
            .field("state", &self.state())
            .field("pgid", &self.pgid())
            .field("upstream", &self.upstream.as_ref().map(|u| u.addr))
            .finish()
    }
}

fn status(state: GatewayState, reason: Option<String>) -> GatewayStatus {
    GatewayStatus {
        state,
        reason,
        restarts: 0,
        boot_ms: None,
        rss_bytes: None,
        store_id: None,
    }
}

/// What [`launch`] needs: the `--openclaw-dir`, `--state-dir`, `--model-upstream`,
/// `--gateway-port` and `--model-port` flags and the workspace.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// The OpenClaw installation: `<dir>/node/bin/node` and
    /// `<dir>/app/node_modules/openclaw/openclaw.mjs`.
    pub openclaw_dir: PathBuf,
    /// The agent's state directory; the gateway's files go under `openclaw/` and `home/`.
    pub state_dir: PathBuf,
    /// The directory the gateway's tools work in (`agents.defaults.workspace`).
    pub workspace: PathBuf,
    /// Where the model forwarder sends model calls (a unix socket, or the orchestrator's
    /// sandbox port with this sandbox's model token).
    pub model_upstream: ModelUpstream,
    /// The gateway's loopback port (not 0: the agent must know it).
    pub gateway_port: u16,
    /// The model forwarder's loopback port (0 picks a free one).
    pub model_port: u16,
}

/// A launched gateway and its model forwarder.
#[derive(Debug)]
pub struct LaunchedGateway {
    pub gateway: Gateway,
    pub forwarder: ModelForwarder,
}

impl LaunchedGateway {
    /// Stop the gateway (waiting for its process group), then the forwarder.
    pub async fn shutdown(self) {
        self.gateway.shutdown().await;
        self.forwarder.stop().await;
    }
}

/// Start the model forwarder on `127.0.0.1:<model port>`, write `openclaw.json` with a fresh
/// token, and start supervising the real gateway. Returns at once; the gateway boots in the
/// background. Must be called inside a Tokio runtime.
pub fn launch(
    settings: &GatewaySettings,
    options: SupervisorOptions,
) -> io::Result<LaunchedGateway> {
    if settings.gateway_port == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the gateway port must not be 0",
        ));
    }
    let node = settings.openclaw_dir.join("node/bin/node");
    if !node.exists() {
        tracing::error!(node = %node.display(), "no node binary in the OpenClaw directory; the gateway will keep failing");
    }
    let forwarder = ModelForwarder::start(
        SocketAddr::from((Ipv4Addr::LOCALHOST, settings.model_port)),
        settings.model_upstream.clone(),
    )?;
    let layout = StateLayout::new(&settings.state_dir);
    layout.create_dirs()?;
    let store_id = layout.store_id()?;
    let token = GatewayToken::generate();
    OpenClawConfig {
        gateway_port: settings.gateway_port,
        model_port: forwarder.addr.port(),
        token: token.clone(),
        workspace: settings.workspace.clone(),
        log_file: layout.log_file.clone(),
    }
    .write(&layout.config_file)?;
    let cmd = GatewayCommand::openclaw(&settings.openclaw_dir, &layout, settings.gateway_port);
    let upstream = GatewayUpstream {
        addr: SocketAddr::from((Ipv4Addr::LOCALHOST, settings.gateway_port)),
        token,
    };
    tracing::info!(
        gateway_port = settings.gateway_port,
        model_port = forwarder.addr.port(),
        state_dir = %settings.state_dir.display(),
        "starting the OpenClaw gateway"
    );
    let gateway = Gateway::spawn(cmd, options, upstream)?.with_store_id(store_id);
    Ok(LaunchedGateway { gateway, forwarder })
}
