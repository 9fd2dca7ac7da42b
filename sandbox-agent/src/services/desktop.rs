//! The sandbox's virtual desktop and `GET /vnc`.
//!
//! On first use (or at start with `--desktop`) the agent starts, all from Debian packages:
//! `Xvfb` (a virtual X display), `xsetroot` (a background colour), `openbox` (a small window
//! manager) and an `xterm` in `/workspace`, then `x11vnc` serving that display on the sandbox's
//! loopback only. `GET /vnc` relays the RFB stream over a websocket byte for byte (noVNC
//! speaks RFB over websockets natively; subprotocol `binary` when the client offers it).
//!
//! Every desktop process shares one process group (the Xvfb's), killed as a whole when the
//! agent stops. If Xvfb or x11vnc dies, the next use starts the desktop again; the xterm and the
//! window manager are conveniences and may exit without that.

use std::{
    net::{Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    process::Stdio,
    sync::Arc,
    time::{Duration, Instant},
};

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, AggregatedMessageStream, Session};
use bytes::Bytes;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
    process::{Child, Command},
    sync::Mutex,
};

use crate::{
    http::ApiError,
    protocol::{DesktopStatus, ErrorCode},
    server::{AgentState, TOKEN_ENV},
    services::process::signal_group,
};

/// Default screen size.
pub const DEFAULT_WIDTH: u32 = 1280;
pub const DEFAULT_HEIGHT: u32 = 800;
/// How long Xvfb and x11vnc each get to come up.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// Largest read from x11vnc (and so the largest frame sent to the client).
const READ_CHUNK: usize = 64 * 1024;
/// Between SIGTERM and SIGKILL when the desktop stops.
const TERM_TO_KILL: Duration = Duration::from_millis(500);
/// The desktop's background colour.
const BACKGROUND: &str = "#1f2937";

/// The desktop of this agent, shared by all workers. Cloning shares it.
#[derive(Clone)]
pub struct Desktop {
    inner: Arc<Mutex<Inner>>,
    width: u32,
    height: u32,
    /// The host directory of `/workspace` (the xterm's working directory).
    workspace: PathBuf,
}

#[derive(Default)]
struct Inner {
    running: Option<Running>,
    boot_ms: Option<u64>,
    reason: Option<String>,
}

struct Running {
    /// x11vnc's port on 127.0.0.1.
    port: u16,
    /// The process group of every desktop process (= Xvfb's pid).
    pgid: i32,
    /// Xvfb and x11vnc: the desktop is alive while both are.
    essential: Vec<Child>,
    /// The window manager and the xterm.
    extras: Vec<Child>,
}

impl Running {
    fn alive(&mut self) -> bool {
        self.essential
            .iter_mut()
            .all(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Kill the whole group and reap what we started.
    async fn stop(mut self) {
        signal_group(self.pgid, libc::SIGTERM);
        let reap = async {
            for child in self.essential.iter_mut().chain(self.extras.iter_mut()) {
                let _ = child.wait().await;
            }
        };
        if tokio::time::timeout(TERM_TO_KILL, reap).await.is_err() {
            signal_group(self.pgid, libc::SIGKILL);
            for child in self.essential.iter_mut().chain(self.extras.iter_mut()) {
                let _ = child.wait().await;
            }
        }
    }
}

impl Desktop {
    /// A desktop that is not started yet.
    pub(crate) fn new(workspace: &Path, width: u32, height: u32) -> Self {
        Desktop {
            inner: Arc::new(Mutex::new(Inner::default())),
            width,
            height,
            workspace: workspace.to_path_buf(),
        }
    }

    /// The desktop's state now.
    pub(crate) async fn status(&self) -> DesktopStatus {
        let mut inner = self.inner.lock().await;
        let alive = inner.running.as_mut().map(Running::alive);
        let state = match alive {
            Some(true) => "running",
            Some(false) => "failed",
            None if inner.reason.is_some() => "failed",
            None => "off",
        };
        DesktopStatus {
            state: state.to_owned(),
            width: self.width,
            height: self.height,
            boot_ms: inner.boot_ms,
            reason: inner.reason.clone(),
        }
    }

    /// Start the desktop unless it runs; the port x11vnc listens on. Concurrent callers wait
    /// for one start.
    pub(crate) async fn ensure(&self) -> Result<u16, String> {
        let mut inner = self.inner.lock().await;
        if let Some(running) = inner.running.as_mut() {
            if running.alive() {
                return Ok(running.port);
            }
            tracing::warn!("the desktop died: starting it again");
            if let Some(dead) = inner.running.take() {
                dead.stop().await;
            }
        }
        let started = Instant::now();
        match self.start().await {
            Ok(running) => {
                let port = running.port;
                let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                tracing::info!(boot_ms = ms, port, "desktop started");
                inner.running = Some(running);
                inner.boot_ms = Some(ms);
                inner.reason = None;
                Ok(port)
            }
            Err(reason) => {
                tracing::error!(%reason, "the desktop did not start");
                inner.reason = Some(reason.clone());
                Err(reason)
            }
        }
    }

    /// Stop every desktop process (agent shutdown).
    pub async fn stop(&self) {
        if let Some(running) = self.inner.lock().await.running.take() {
            running.stop().await;
        }
    }

    async fn start(&self) -> Result<Running, String> {
        let display = free_display().ok_or("no free X display number")?;
        let logs = std::env::temp_dir().join("ocaas-desktop");
        std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
        let screen = format!("{}x{}x24", self.width, self.height);
        let xvfb = self
            .command("Xvfb", &logs, None, &display)?
            .args([
                display.as_str(),
                "-screen",
                "0",
                &screen,
                "-nolisten",
                "tcp",
            ])
            .args(["-noreset", "-dpi", "96"])
            .spawn()
            .map_err(|e| format!("starting Xvfb: {e}"))?;
        let pgid = xvfb
            .id()
            .and_then(|p| i32::try_from(p).ok())
            .ok_or("Xvfb exited at once")?;
        let mut running = Running {
            port: 0,
            pgid,
            essential: vec![xvfb],
            extras: Vec::new(),
        };
        let result = self.start_rest(&mut running, &display, &logs).await;
        match result {
            Ok(()) => Ok(running),
            Err(reason) => {
                running.stop().await;
                Err(reason)
            }
        }
    }

    async fn start_rest(
        &self,
        running: &mut Running,
        display: &str,
        logs: &Path,
    ) -> Result<(), String> {
        let socket = PathBuf::from(format!("/tmp/.X11-unix/X{}", &display[1..]));
        wait_for(running, "Xvfb", logs, || {
            let socket = socket.clone();
            async move { socket.exists() }
        })
        .await?;
        let pgid = Some(running.pgid);
        // The background first (it returns at once), then the window manager and a terminal.
        if let Ok(mut child) = self
            .command("xsetroot", logs, pgid, display)?
            .args(["-solid", BACKGROUND])
            .spawn()
        {
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
        }
        for (program, args) in [
            ("openbox", &["--sm-disable"][..]),
            (
                "xterm",
                &[
                    "-fa",
                    "Monospace",
                    "-fs",
                    "11",
                    "-geometry",
                    "100x30+60+60",
                    "-title",
                    "workspace",
                    "-bg",
                    "#0b1220",
                    "-fg",
                    "#e5e7eb",
                ][..],
            ),
        ] {
            match self
                .command(program, logs, pgid, display)?
                .args(args)
                .spawn()
            {
                Ok(child) => running.extras.push(child),
                Err(e) => tracing::warn!(program, error = %e, "desktop extra did not start"),
            }
        }
        let port = free_port().map_err(|e| format!("choosing a VNC port: {e}"))?;
        let port_arg = port.to_string();
        let vnc = self
            .command("x11vnc", logs, pgid, display)?
            .args(["-display", display, "-rfbport", &port_arg])
            .args(["-localhost", "-noipv6", "-forever", "-shared", "-nopw"])
            .args(["-quiet", "-noxdamage", "-nowf"])
            .spawn()
            .map_err(|e| format!("starting x11vnc: {e}"))?;
        running.essential.push(vnc);
        running.port = port;
        wait_for(running, "x11vnc", logs, || async move {
            TcpStream::connect((Ipv4Addr::LOCALHOST, port))
                .await
                .is_ok()
        })
        .await
    }

    /// A desktop process: in the desktop's process group (or a new one for the first), on
    /// `display`, without the agent's token, output to `<logs>/<program>.log`.
    fn command(
        &self,
        program: &str,
        logs: &Path,
        pgid: Option<i32>,
        display: &str,
    ) -> Result<Command, String> {
        let log = std::fs::File::create(logs.join(format!("{program}.log")))
            .map_err(|e| format!("{program} log: {e}"))?;
        let err = log.try_clone().map_err(|e| format!("{program} log: {e}"))?;
        let mut cmd = Command::new(program);
        cmd.env("DISPLAY", display)
            .env_remove(TOKEN_ENV) // the agent's secret must not leak into the desktop
            .current_dir(&self.workspace)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .process_group(pgid.unwrap_or(0))
            .kill_on_drop(true);
        Ok(cmd)
    }
}

/// The first display number whose lock file and socket are both absent.
fn free_display() -> Option<String> {
    (1..100)
        .find(|n| {
            !Path::new(&format!("/tmp/.X{n}-lock")).exists()
                && !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
        })
        .map(|n| format!(":{n}"))
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
    Ok(listener.local_addr()?.port())
}

/// Poll `ready` until it holds, failing early (with the log's tail) if a process died.
async fn wait_for<F, Fut>(
    running: &mut Running,
    what: &str,
    logs: &Path,
    ready: F,
) -> Result<(), String>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if ready().await {
            return Ok(());
        }
        if !running.alive() || Instant::now() > deadline {
            let log = std::fs::read_to_string(logs.join(format!("{what}.log"))).unwrap_or_default();
            let tail: String = log.lines().rev().take(3).collect::<Vec<_>>().join(" | ");
            return Err(format!("{what} did not come up: {tail}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn unavailable(reason: &str) -> ApiError {
    ApiError::new(
        ErrorCode::Unavailable,
        format!("the desktop could not start: {reason}"),
    )
}

/// `GET /desktop`: the desktop's state.
pub(crate) async fn status(state: web::Data<AgentState>) -> web::Json<DesktopStatus> {
    web::Json(state.desktop.status().await)
}

/// `POST /desktop`: start the desktop (if needed) and answer once it accepts VNC connections.
pub(crate) async fn start(
    state: web::Data<AgentState>,
) -> Result<web::Json<DesktopStatus>, ApiError> {
    state.desktop.ensure().await.map_err(|r| unavailable(&r))?;
    Ok(web::Json(state.desktop.status().await))
}

/// `GET /vnc` (websocket): the desktop's RFB stream. The desktop is started first; if it cannot
/// start, the answer is `503 UNAVAILABLE` before any upgrade.
pub(crate) async fn vnc(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AgentState>,
) -> Result<HttpResponse, ApiError> {
    let port = state.desktop.ensure().await.map_err(|r| unavailable(&r))?;
    let tcp = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
        .await
        .map_err(|e| unavailable(&format!("x11vnc: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let (response, session, stream) = actix_ws::handle_with_protocols(&req, body, &["binary"])
        .map_err(|e| ApiError::bad_request(format!("expected a websocket upgrade: {e}")))?;
    let stream = stream
        .aggregate_continuations()
        .max_continuation_size(4 * 1024 * 1024);
    actix_web::rt::spawn(relay(session, stream, tcp));
    Ok(response)
}

/// Bytes both ways until either side ends. Each direction waits for the other end to accept
/// what it has before reading more, so nothing buffers without bound.
async fn relay(mut session: Session, mut stream: AggregatedMessageStream, tcp: TcpStream) {
    let (mut from_vnc, mut to_vnc) = tcp.into_split();
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        tokio::select! {
            read = from_vnc.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if session.binary(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                        return;
                    }
                }
            },
            msg = stream.recv() => match msg {
                None | Some(Err(_)) | Some(Ok(AggregatedMessage::Close(_))) => break,
                Some(Ok(AggregatedMessage::Binary(bytes))) => {
                    if to_vnc.write_all(&bytes).await.is_err() {
                        break;
                    }
                }
                Some(Ok(AggregatedMessage::Text(text))) => {
                    tracing::warn!(len = text.len(), "ignoring a text frame on the VNC websocket");
                }
                Some(Ok(AggregatedMessage::Ping(payload))) => {
                    if session.pong(&payload).await.is_err() {
                        return;
                    }
                }
                Some(Ok(AggregatedMessage::Pong(_))) => {}
            },
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), session.close(None)).await;
}
