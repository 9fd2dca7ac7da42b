//! The agent's HTTP server: configuration, routes, the token check, and startup.

use std::{
    fmt, fs, io,
    net::SocketAddr,
    os::unix::fs::{FileTypeExt as _, PermissionsExt as _},
    path::PathBuf,
    str::FromStr,
    time::{Duration, Instant},
};

use actix_web::{
    App, Error, HttpServer,
    body::{EitherBody, MessageBody},
    dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse},
    middleware::{Next, from_fn},
    web,
};

use crate::{
    http::{self, error_response},
    protocol::{AUTHORIZATION, ErrorCode, OPEN_PATHS, limits, routes},
    services::{
        archive,
        desktop::{self, Desktop},
        exec, files,
        gateway::Gateway,
        gateway::routes as gateway_routes,
        health,
        paths::Workspace,
        pty::{self, Terminals},
    },
};

/// The environment variable that may carry the agent token. Removed from every command's
/// environment.
pub const TOKEN_ENV: &str = "OCAAS_AGENT_TOKEN";

/// HTTP worker threads. Handlers are async and file work runs on the blocking pool, so two
/// are plenty for one sandbox.
const WORKERS: usize = 2;

/// What the agent needs to serve.
#[derive(Clone)]
pub struct AgentConfig {
    /// The host directory that the virtual path `/workspace` maps to.
    pub workspace: PathBuf,
    /// The per-instance token clients must send as `Authorization: Bearer <token>`.
    pub token: String,
    /// When the agent started (for `uptime_s`).
    pub started: Instant,
    /// The OpenClaw gateway behind `/gateway` and `/gateway/v1/chat/completions`
    /// ([`Gateway::disabled`] unless set with [`AgentConfig::with_gateway`]).
    pub gateway: Gateway,
    /// How long a terminal (`GET /pty`) whose connection dropped waits for a reattach before
    /// its processes are killed (default [`limits::PTY_DEFAULT_GRACE_SECS`]).
    pub pty_grace: Duration,
    /// The virtual desktop's screen size (width, height).
    pub desktop_size: (u32, u32),
    /// Start the desktop with the agent instead of on first use.
    pub desktop_at_start: bool,
    /// The sandbox user's home directory, served as `/archive/home` (none: that route is
    /// `404`).
    pub home: Option<PathBuf>,
}

impl AgentConfig {
    /// A config starting now, without a gateway.
    pub fn new(workspace: impl Into<PathBuf>, token: impl Into<String>) -> Self {
        AgentConfig {
            workspace: workspace.into(),
            token: token.into(),
            started: Instant::now(),
            gateway: Gateway::disabled(),
            pty_grace: Duration::from_secs(limits::PTY_DEFAULT_GRACE_SECS),
            desktop_size: (desktop::DEFAULT_WIDTH, desktop::DEFAULT_HEIGHT),
            desktop_at_start: false,
            home: None,
        }
    }

    /// Serve `home` as `/archive/home` (see [`crate::protocol::routes::ARCHIVE`]).
    #[must_use]
    pub fn with_home(mut self, home: impl Into<PathBuf>) -> Self {
        self.home = Some(home.into());
        self
    }

    /// Start the virtual desktop with the agent (else on first use).
    #[must_use]
    pub fn with_desktop_at_start(mut self, yes: bool) -> Self {
        self.desktop_at_start = yes;
        self
    }

    /// Keep detached terminals for `grace` (see [`AgentConfig::pty_grace`]).
    #[must_use]
    pub fn with_pty_grace(mut self, grace: Duration) -> Self {
        self.pty_grace = grace;
        self
    }

    /// Serve `gateway` (usually from [`crate::gateway::launch`]).
    #[must_use]
    pub fn with_gateway(mut self, gateway: Gateway) -> Self {
        self.gateway = gateway;
        self
    }
}

/// Never print the token.
impl fmt::Debug for AgentConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentConfig")
            .field("workspace", &self.workspace)
            .field("token", &"<redacted>")
            .field("started", &self.started)
            .field("gateway", &self.gateway)
            .field("pty_grace", &self.pty_grace)
            .field("desktop_size", &self.desktop_size)
            .field("desktop_at_start", &self.desktop_at_start)
            .field("home", &self.home)
            .finish()
    }
}

/// Shared state of the running agent (registered as `web::Data<AgentState>`).
pub struct AgentState {
    pub(crate) workspace: Workspace,
    pub(crate) started: Instant,
    pub(crate) gateway: Gateway,
    /// The open terminals of `GET /pty`.
    pub(crate) terminals: Terminals,
    /// The virtual desktop of `GET /vnc`.
    pub(crate) desktop: Desktop,
    /// The home directory `/archive/home` serves.
    pub(crate) home: Option<PathBuf>,
    /// The exact `Authorization` header value accepted.
    expected_authorization: Vec<u8>,
}

impl AgentState {
    /// Validate `config`: the workspace must be an existing directory, the token non-empty.
    pub fn new(config: AgentConfig) -> io::Result<Self> {
        if config.token.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the agent token is empty",
            ));
        }
        let workspace = Workspace::new(&config.workspace).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("workspace {}: {e}", config.workspace.display()),
            )
        })?;
        let (width, height) = config.desktop_size;
        let desktop = Desktop::new(workspace.root(), width, height);
        Ok(AgentState {
            desktop,
            workspace,
            started: config.started,
            gateway: config.gateway,
            terminals: Terminals::new(config.pty_grace),
            home: config.home,
            expected_authorization: format!("Bearer {}", config.token).into_bytes(),
        })
    }

    fn authorized(&self, req: &ServiceRequest) -> bool {
        req.headers()
            .get(AUTHORIZATION)
            .is_some_and(|v| constant_time_eq(v.as_bytes(), &self.expected_authorization))
    }
}

impl fmt::Debug for AgentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentState")
            .field("workspace", &self.workspace.root())
            .finish_non_exhaustive()
    }
}

/// Compare without an early exit, so response timing does not reveal how much of a guessed
/// token was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

/// Register the agent's routes and extractor configurations. Unknown routes answer
/// `404 ROUTE_NOT_FOUND`, known routes with another method `405 METHOD_NOT_ALLOWED`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let resource = |path: &str| web::resource(path).default_service(http::method_not_allowed());
    cfg.app_data(http::json_config(limits::JSON_MAX_BYTES))
        .app_data(http::query_config())
        .app_data(http::path_config())
        .service(resource(routes::HEALTH).get(health::health))
        .service(resource(routes::FILES).get(files::list))
        .service(resource(routes::FILES_READ).get(files::read))
        .service(resource(routes::FILES_WRITE).post(files::write))
        .service(resource(routes::FILES_UPLOAD).post(files::upload))
        .service(resource(routes::FILES_MKDIR).post(files::mkdir))
        .service(resource(routes::FILES_RENAME).post(files::rename))
        .service(resource(routes::FILES_DELETE).post(files::delete))
        .service(resource(routes::FILES_DOWNLOAD).get(files::download))
        .service(resource(routes::EXEC).post(exec::exec))
        .service(resource(routes::GATEWAY).get(gateway_routes::status))
        .service(resource(routes::GATEWAY_CHAT).post(gateway_routes::chat))
        .service(resource(routes::PTY).get(pty::pty))
        .service(
            resource(routes::DESKTOP)
                .get(desktop::status)
                .post(desktop::start),
        )
        .service(resource(routes::VNC).get(desktop::vnc))
        .service(
            resource(routes::ARCHIVE)
                .get(archive::get)
                .put(archive::put),
        )
        .service(resource(routes::ARCHIVE_SIZE).get(archive::size))
        .default_service(http::default_service());
}

/// The complete agent application: state, routes, token check, request log.
pub fn app(
    state: web::Data<AgentState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(state)
        .configure(configure)
        .wrap(from_fn(require_token))
        .wrap(from_fn(log_request))
}

/// Token middleware: every path outside [`OPEN_PATHS`] needs `Authorization: Bearer <token>`.
async fn require_token(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let open = OPEN_PATHS.contains(&req.path());
    let allowed = open
        || req
            .app_data::<web::Data<AgentState>>()
            .is_some_and(|state| state.authorized(&req));
    if allowed {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let response = error_response(ErrorCode::Unauthorized, "missing or invalid agent token");
    Ok(req.into_response(response).map_into_right_body())
}

/// One log line per request. Logs the method, path and status only: never headers (the token)
/// or query strings.
async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let (method, path) = (req.method().clone(), req.path().to_owned());
    let res = next.call(req).await?;
    tracing::info!(
        %method,
        path,
        status = res.status().as_u16(),
        elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "request"
    );
    Ok(res)
}

/// Where the agent listens: `unix:/path/to.sock` or `tcp:HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// A Unix domain socket, created with mode 0600.
    Unix(PathBuf),
    /// A TCP address such as `127.0.0.1:7070` (port 0 picks a free port).
    Tcp(String),
}

impl FromStr for Listen {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            Some(("unix", path)) if !path.is_empty() => Ok(Listen::Unix(path.into())),
            Some(("tcp", addr)) if !addr.is_empty() => Ok(Listen::Tcp(addr.to_owned())),
            _ => Err(format!(
                "expected unix:/path/to.sock or tcp:HOST:PORT, got {s:?}"
            )),
        }
    }
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Listen::Unix(path) => write!(f, "unix:{}", path.display()),
            Listen::Tcp(addr) => write!(f, "tcp:{addr}"),
        }
    }
}

/// A bound, not yet awaited agent server.
pub struct RunningAgent {
    /// The bound TCP addresses (empty for a Unix socket); useful with port 0.
    pub tcp_addrs: Vec<SocketAddr>,
    /// The server future: await it (or spawn it) to serve. `server.handle()` stops it.
    pub server: Server,
    /// The open terminals; [`Terminals::kill_all`] once the server stopped ([`run`] does).
    pub terminals: Terminals,
    /// The virtual desktop; [`Desktop::stop`] once the server stopped ([`run`] does).
    pub desktop: Desktop,
}

/// Bind `listen` and build the server. It serves once awaited or spawned (inside a Tokio
/// runtime) until `server.handle().stop(..)`; signals are not handled here (see [`run`]).
pub fn start(listen: &Listen, config: AgentConfig) -> io::Result<RunningAgent> {
    let desktop_at_start = config.desktop_at_start;
    let state = web::Data::new(AgentState::new(config)?);
    let terminals = state.terminals.clone();
    let desktop = state.desktop.clone();
    if desktop_at_start {
        let desktop = desktop.clone();
        tokio::spawn(async move {
            let _ = desktop.ensure().await;
        });
    }
    tracing::info!(workspace = %state.workspace.root().display(), %listen, "starting agent");
    let server = HttpServer::new(move || app(state.clone()))
        .workers(WORKERS)
        .disable_signals()
        // An EOF from the client aborts its request: dropping the handler is what kills a
        // running command's process group when the caller goes away. (The orchestrator's relay
        // never half-closes a connection while waiting for a response.)
        .h1_allow_half_closed(false);
    let (server, tcp_addrs) = match listen {
        Listen::Tcp(addr) => {
            let server = server.bind(addr)?;
            let addrs = server.addrs();
            (server, addrs)
        }
        Listen::Unix(path) => {
            remove_stale_socket(path)?;
            let server = server.bind_uds(path)?;
            // Only the agent's own user (the orchestrator's relay) may connect.
            fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
            (server, Vec::new())
        }
    };
    Ok(RunningAgent {
        tcp_addrs,
        server: server.run(),
        terminals,
        desktop,
    })
}

/// Serve until SIGTERM or SIGINT, then shut down: the HTTP server stops gracefully while the
/// gateway (`config.gateway`) is stopped — SIGTERM to its process group, SIGKILL after 10 s —
/// and this returns only once both are done, so no gateway process outlives the agent. Every
/// terminal's and desktop process is killed too.
pub async fn run(listen: &Listen, config: AgentConfig) -> io::Result<()> {
    let gateway = config.gateway.clone();
    let running = start(listen, config)?;
    let handle = running.server.handle();
    let terminals = running.terminals;
    let desktop = running.desktop;
    let mut server = std::pin::pin!(running.server);
    tokio::select! {
        result = &mut server => {
            terminals.kill_all();
            desktop.stop().await;
            gateway.shutdown().await;
            result
        }
        signal = shutdown_signal() => {
            tracing::info!(signal = signal?, "shutting down");
            // The server future processes the stop command, so it is polled alongside.
            let stop_server = async {
                let ((), result) = tokio::join!(handle.stop(true), &mut server);
                result
            };
            // Terminals and the desktop first: their websockets end with them (the shell's
            // exit frame, x11vnc's EOF), so the graceful stop does not wait on open sockets.
            terminals.kill_all();
            let ((), (), result) =
                tokio::join!(gateway.shutdown(), desktop.stop(), stop_server);
            tracing::info!("agent stopped");
            result
        }
    }
}

/// Wait for SIGTERM or SIGINT; returns the signal's name.
async fn shutdown_signal() -> io::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}

/// A socket file left by a previous run would make bind fail; anything else at that path is
/// not ours to delete.
fn remove_stale_socket(path: &std::path::Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => fs::remove_file(path),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a socket", path.display()),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_parses() {
        assert_eq!(
            "unix:/run/a.sock".parse(),
            Ok(Listen::Unix("/run/a.sock".into()))
        );
        assert_eq!(
            "tcp:127.0.0.1:0".parse(),
            Ok(Listen::Tcp("127.0.0.1:0".into()))
        );
        assert!("127.0.0.1:80".parse::<Listen>().is_err());
        assert!("unix:".parse::<Listen>().is_err());
    }

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"Bearer abc", b"Bearer abc"));
        assert!(!constant_time_eq(b"Bearer abd", b"Bearer abc"));
        assert!(!constant_time_eq(b"Bearer ab", b"Bearer abc"));
        assert!(!constant_time_eq(b"", b"Bearer abc"));
    }

    #[test]
    fn config_debug_redacts_token() {
        let cfg = AgentConfig::new("/w", "hunter2");
        assert!(!format!("{cfg:?}").contains("hunter2"));
    }
}
