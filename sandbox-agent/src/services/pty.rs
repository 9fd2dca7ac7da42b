//! `GET /pty`: interactive terminals over a websocket.
//!
//! The wire protocol is documented on [`crate::protocol::PtyQuery`]. Here:
//!
//! - [`Terminals`] is the registry (id → [`Terminal`]) in [`AgentState`].
//! - Each terminal has three threads: a *reader* (PTY output → scrollback and, if a client is
//!   attached, a bounded channel to it), a *writer* (a bounded channel of client input → PTY),
//!   and a *waiter* (reaps the shell, then kills whatever it left in its session).
//! - One async *relay* task per websocket connection moves frames between the socket and the
//!   terminal.
//!
//! Memory per terminal is bounded: the scrollback ring (64 KiB), the output and input
//! channels (64 chunks of at most 16 KiB each), and actix-ws' own queue. A client that does
//! not read fills them, the reader thread blocks, and the shell blocks on its tty writes.
//!
//! Processes: the shell is a session leader (portable-pty calls `setsid`). An interactive bash
//! puts each job in a process group of its own, so killing "the terminal" means signalling
//! every process group of that session, found in `/proc`.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    io::{self, Read as _, Write as _},
    path::Path,
    sync::{Arc, Mutex, MutexGuard},
    thread,
    time::Duration,
};

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, Session};
use bytes::Bytes;
use portable_pty::{CommandBuilder, MasterPty, PtySize, native_pty_system};
use tokio::sync::{mpsc, oneshot};

use crate::{
    http::ApiError,
    protocol::{PTY_TAKEN_OVER, PtyClientFrame, PtyQuery, PtyServerFrame, WORKSPACE, limits::*},
    server::{AgentState, TOKEN_ENV},
    services::{blocking, gateway::procfs, paths::Mode, process::signal_group},
};

/// Output chunks queued for an attached client before the reader thread blocks.
const OUTPUT_CHANNEL: usize = 64;
/// Input chunks queued for the writer thread before the relay stops reading the socket.
const INPUT_CHANNEL: usize = 64;
/// Largest read from the PTY (and so the largest output frame).
const READ_CHUNK: usize = 16 * 1024;
/// Between SIGHUP and SIGKILL when a grace period expires.
const HUP_TO_KILL: Duration = Duration::from_secs(2);
/// How long to try to deliver a close frame to a client that may not be reading.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// The terminals of this agent, shared by all workers. Cloning shares the registry.
#[derive(Clone)]
pub struct Terminals {
    inner: Arc<Registry>,
}

struct Registry {
    sessions: Mutex<HashMap<String, Arc<Terminal>>>,
    grace: Duration,
}

impl Terminals {
    /// An empty registry; terminals without a client live `grace` before they are killed.
    pub(crate) fn new(grace: Duration) -> Self {
        Terminals {
            inner: Arc::new(Registry {
                sessions: Mutex::new(HashMap::new()),
                grace,
            }),
        }
    }

    /// How many terminals are open.
    pub fn len(&self) -> usize {
        lock(&self.inner.sessions).len()
    }

    /// No terminal is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Kill every terminal's processes now and forget them (agent shutdown).
    pub fn kill_all(&self) {
        let all: Vec<_> = lock(&self.inner.sessions).drain().map(|(_, t)| t).collect();
        for terminal in all {
            tracing::info!(session = terminal.id, "agent stopping: killing terminal");
            kill_session_now(terminal.sid);
        }
    }

    fn get(&self, id: &str) -> Option<Arc<Terminal>> {
        lock(&self.inner.sessions).get(id).cloned()
    }

    /// Forget `terminal` (if it is still the one registered under its id).
    fn remove(&self, terminal: &Arc<Terminal>) {
        let mut sessions = lock(&self.inner.sessions);
        if sessions
            .get(&terminal.id)
            .is_some_and(|t| Arc::ptr_eq(t, terminal))
        {
            sessions.remove(&terminal.id);
        }
    }
}

impl std::fmt::Debug for Terminals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Terminals")
            .field("open", &self.len())
            .field("grace", &self.inner.grace)
            .finish()
    }
}

/// A poisoned lock only means another thread panicked mid-update; the data stays usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One terminal: a shell on a PTY.
struct Terminal {
    id: String,
    /// The shell's pid = its session id = its process group id.
    sid: i32,
    master: Mutex<Box<dyn MasterPty + Send>>,
    /// Client input, to the writer thread.
    input: mpsc::Sender<Bytes>,
    state: Mutex<TermState>,
}

struct TermState {
    scrollback: VecDeque<u8>,
    client: Option<Client>,
    /// Bumped on every attach and detach: a grace timer fires only if nothing happened since.
    epoch: u64,
    /// Set (by the reader thread) once the shell exited and all output was read.
    exit_code: Option<i32>,
}

impl TermState {
    fn push_scrollback(&mut self, chunk: &[u8]) {
        let cap = PTY_SCROLLBACK_BYTES;
        let chunk = &chunk[chunk.len().saturating_sub(cap)..];
        let overflow = (self.scrollback.len() + chunk.len()).saturating_sub(cap);
        self.scrollback.drain(..overflow);
        self.scrollback.extend(chunk);
    }
}

/// The attached client, as the reader thread sees it.
struct Client {
    epoch: u64,
    output: mpsc::Sender<Event>,
    takeover: oneshot::Sender<()>,
}

enum Event {
    Output(Bytes),
    Exit(i32),
}

/// What a relay gets when it attaches.
struct Attachment {
    epoch: u64,
    output: mpsc::Receiver<Event>,
    takeover: oneshot::Receiver<()>,
    replay: Vec<u8>,
    exit_code: Option<i32>,
}

impl Terminal {
    /// Become the terminal's only client; a previous client is told to go.
    fn attach(&self) -> Attachment {
        let (tx, output) = mpsc::channel(OUTPUT_CHANNEL);
        let (takeover_tx, takeover) = oneshot::channel();
        let mut st = lock(&self.state);
        st.epoch += 1;
        if let Some(old) = st.client.take() {
            let _ = old.takeover.send(());
        }
        st.client = Some(Client {
            epoch: st.epoch,
            output: tx,
            takeover: takeover_tx,
        });
        Attachment {
            epoch: st.epoch,
            output,
            takeover,
            replay: st.scrollback.iter().copied().collect(),
            exit_code: st.exit_code,
        }
    }

    /// The client of `epoch` went away without ending the terminal: keep it for the grace
    /// period, then kill it unless someone reattached.
    fn detach(self: &Arc<Self>, epoch: u64, terminals: &Terminals) {
        let detached_at = {
            let mut st = lock(&self.state);
            if st.client.as_ref().is_none_or(|c| c.epoch != epoch) {
                return; // taken over meanwhile
            }
            st.client = None;
            st.epoch += 1;
            st.epoch
        };
        tracing::info!(
            session = self.id,
            "terminal detached; waiting for a reattach"
        );
        let (terminal, terminals) = (Arc::clone(self), terminals.clone());
        actix_web::rt::spawn(async move {
            tokio::time::sleep(terminals.inner.grace).await;
            let expired = {
                let st = lock(&terminal.state);
                st.epoch == detached_at && st.exit_code.is_none()
            };
            if expired {
                tracing::info!(session = terminal.id, "grace period over: killing terminal");
                terminals.remove(&terminal);
                let sid = terminal.sid;
                thread::spawn(move || {
                    signal_session(sid, libc::SIGHUP);
                    thread::sleep(HUP_TO_KILL);
                    kill_session_now(sid);
                });
            }
        });
    }

    fn resize(&self, cols: u16, rows: u16) {
        let size = PtySize {
            rows,
            cols,
            pixel_width: 0,
            pixel_height: 0,
        };
        if let Err(e) = lock(&self.master).resize(size) {
            tracing::warn!(session = self.id, error = %e, "resizing the PTY failed");
        }
    }

    fn size(&self) -> (u16, u16) {
        lock(&self.master)
            .get_size()
            .map_or((PTY_DEFAULT_COLS, PTY_DEFAULT_ROWS), |s| (s.cols, s.rows))
    }
}

/// Send `signal` to every process group of session `sid`; returns how many groups there were.
fn signal_session(sid: i32, signal: libc::c_int) -> usize {
    let me = procfs::read_proc(i32::try_from(std::process::id()).unwrap_or(0));
    if sid <= 1 || me.is_some_and(|me| me.session == sid) {
        return 0;
    }
    let own_pgrp = me.map_or(0, |me| me.pgrp);
    let groups: HashSet<i32> = procfs::all()
        .into_iter()
        .filter(|p| p.session == sid && !p.zombie && p.pgrp != own_pgrp)
        .map(|p| p.pgrp)
        .collect();
    for &pgrp in &groups {
        signal_group(pgrp, signal);
    }
    groups.len()
}

/// SIGKILL every process of session `sid`, repeating briefly in case one was forking.
fn kill_session_now(sid: i32) {
    for _ in 0..20 {
        if signal_session(sid, libc::SIGKILL) == 0 {
            return;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// `GET /pty`: open a terminal, or reattach to one (`?session=`), over a websocket.
///
/// See [`crate::protocol::PtyQuery`] for the whole protocol. In short: binary frames are
/// terminal bytes both ways; text frames are JSON (`resize` from the client; `session` first,
/// `exit` last and `error` from the agent). A client close frame with code 1000 kills the
/// terminal's processes at once; a dropped connection keeps the terminal for
/// `--pty-grace-secs` so `?session=<id>` can reattach (the scrollback is replayed first). A
/// second client takes the terminal over (the first is closed with 1000 "taken over").
/// Errors before the upgrade use the error envelope.
pub(crate) async fn pty(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AgentState>,
    query: web::Query<PtyQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let size = requested_size(&query)?;
    let terminals = state.terminals.clone();
    let existing = match &query.session {
        Some(id) => Some(
            state
                .terminals
                .get(id)
                .ok_or_else(|| ApiError::not_found(format!("no terminal session {id}")))?,
        ),
        None => None,
    };
    if existing.is_none() && state.terminals.len() >= PTY_MAX_SESSIONS {
        return Err(ApiError::conflict(format!(
            "at most {PTY_MAX_SESSIONS} terminals may be open at once"
        )));
    }
    // Everything that can fail with an error envelope happens before the upgrade.
    let cwd = match existing {
        Some(_) => None,
        None => {
            let cwd = query.cwd.unwrap_or_else(|| WORKSPACE.to_owned());
            let state = state.clone();
            Some(
                blocking(move || {
                    let dir = state.workspace.resolve(&cwd, Mode::Follow)?;
                    let meta = std::fs::metadata(&dir.host)
                        .map_err(|e| ApiError::from_io(&e, &dir.virt))?;
                    if !meta.is_dir() {
                        return Err(ApiError::conflict(format!(
                            "cwd is not a directory: {}",
                            dir.virt
                        )));
                    }
                    Ok(dir.host)
                })
                .await?,
            )
        }
    };
    let (response, session, stream) = actix_ws::handle(&req, body)
        .map_err(|e| ApiError::bad_request(format!("expected a websocket upgrade: {e}")))?;
    let terminal = match (existing, cwd) {
        (Some(terminal), _) => {
            if let Some((cols, rows)) = size {
                terminal.resize(cols, rows);
            }
            terminal
        }
        (None, cwd) => {
            let cwd = cwd.unwrap_or_else(|| state.workspace.root().to_path_buf());
            let (cols, rows) = size.unwrap_or((PTY_DEFAULT_COLS, PTY_DEFAULT_ROWS));
            let terminals = terminals.clone();
            blocking(move || {
                open_terminal(&terminals, &cwd, cols, rows).map_err(|e| {
                    tracing::error!(error = %e, "could not open a terminal");
                    ApiError::internal()
                })
            })
            .await?
        }
    };
    let attachment = terminal.attach();
    let stream = stream.aggregate_continuations();
    actix_web::rt::spawn(relay(terminal, terminals, session, stream, attachment));
    Ok(response)
}

/// `cols` and `rows` from the query: both, or neither (`None`), each in `1..=1000`.
fn requested_size(query: &PtyQuery) -> Result<Option<(u16, u16)>, ApiError> {
    if query.cols.is_none() && query.rows.is_none() {
        return Ok(None);
    }
    let cols = query.cols.unwrap_or(PTY_DEFAULT_COLS);
    let rows = query.rows.unwrap_or(PTY_DEFAULT_ROWS);
    check_size(cols, rows)?;
    Ok(Some((cols, rows)))
}

fn check_size(cols: u16, rows: u16) -> Result<(), ApiError> {
    let ok = |n: u16| (1..=PTY_MAX_DIM).contains(&n);
    if ok(cols) && ok(rows) {
        Ok(())
    } else {
        Err(ApiError::validation(format!(
            "cols and rows must be between 1 and {PTY_MAX_DIM}"
        )))
    }
}

/// Start the login shell on a new PTY in `cwd`, register it, and start its threads.
fn open_terminal(
    terminals: &Terminals,
    cwd: &Path,
    cols: u16,
    rows: u16,
) -> anyhow::Result<Arc<Terminal>> {
    let pair = native_pty_system().openpty(PtySize {
        rows,
        cols,
        pixel_width: 0,
        pixel_height: 0,
    })?;
    let mut cmd = if Path::new("/bin/bash").exists() {
        let mut cmd = CommandBuilder::new("/bin/bash");
        cmd.arg("-l");
        cmd
    } else {
        CommandBuilder::new("/bin/sh")
    };
    cmd.cwd(cwd);
    cmd.env_remove(TOKEN_ENV); // the agent's secret must not leak into the customer's shell
    cmd.env("TERM", "xterm-256color");
    cmd.env("PWD", cwd);
    let mut child = pair.slave.spawn_command(cmd)?;
    drop(pair.slave);
    let sid = child
        .process_id()
        .and_then(|pid| i32::try_from(pid).ok())
        .filter(|&pid| pid > 1);
    let Some(sid) = sid else {
        let _ = child.kill();
        anyhow::bail!("the shell has no pid");
    };
    let reader = pair.master.try_clone_reader()?;
    let writer = pair.master.take_writer()?;
    let (input, input_rx) = mpsc::channel(INPUT_CHANNEL);
    let terminal = Arc::new(Terminal {
        id: format!("{:032x}", rand::random::<u128>()),
        sid,
        master: Mutex::new(pair.master),
        input,
        state: Mutex::new(TermState {
            scrollback: VecDeque::new(),
            client: None,
            epoch: 0,
            exit_code: None,
        }),
    });
    lock(&terminals.inner.sessions).insert(terminal.id.clone(), Arc::clone(&terminal));
    tracing::info!(session = terminal.id, pid = sid, "terminal opened");

    let (exit_tx, exit_rx) = std::sync::mpsc::channel();
    let spawned = thread::Builder::new()
        .name("pty-wait".into())
        .spawn(move || {
            let code = wait_exit_code(child);
            // The session is over: nothing it started may outlive it, and the reader only
            // sees EOF once every holder of the tty is gone.
            kill_session_now(sid);
            let _ = exit_tx.send(code);
        })
        .and_then(|_| {
            let (terminal, terminals) = (Arc::clone(&terminal), terminals.clone());
            thread::Builder::new()
                .name("pty-read".into())
                .spawn(move || read_loop(&terminal, &terminals, reader, &exit_rx))
        })
        .and_then(|_| {
            thread::Builder::new()
                .name("pty-write".into())
                .spawn(move || write_loop(writer, input_rx))
        });
    if let Err(e) = spawned {
        terminals.remove(&terminal);
        kill_session_now(sid);
        return Err(e.into());
    }
    Ok(terminal)
}

/// Reap the shell; its exit status, or `128 + signal`.
fn wait_exit_code(mut child: Box<dyn portable_pty::Child + Send + Sync>) -> i32 {
    use std::os::unix::process::ExitStatusExt as _;
    // On unix portable-pty's child is a `std::process::Child`, which keeps the signal number.
    if let Some(std_child) = child.as_any_mut().downcast_mut::<std::process::Child>() {
        return match std_child.wait() {
            Ok(status) => status
                .code()
                .or_else(|| status.signal().map(|s| 128 + s))
                .unwrap_or(-1),
            Err(e) => {
                tracing::error!(error = %e, "waiting for the shell failed");
                -1
            }
        };
    }
    match child.wait() {
        Ok(status) if status.signal().is_some() => 128 + libc::SIGHUP,
        Ok(status) => i32::try_from(status.exit_code()).unwrap_or(-1),
        Err(_) => -1,
    }
}

/// PTY output → scrollback and the attached client. Ends at EOF (every holder of the tty is
/// gone), then reports the exit to the client and forgets the terminal.
fn read_loop(
    terminal: &Arc<Terminal>,
    terminals: &Terminals,
    mut reader: Box<dyn io::Read + Send>,
    exit_rx: &std::sync::mpsc::Receiver<i32>,
) {
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break, // EIO: the slave side is closed
        };
        let chunk = Bytes::copy_from_slice(&buf[..n]);
        let client = {
            let mut st = lock(&terminal.state);
            st.push_scrollback(&chunk);
            st.client.as_ref().map(|c| c.output.clone())
        };
        if let Some(client) = client {
            // Blocks while the client's queue is full: this is the back-pressure. Fails once
            // that client is gone (its later output is in the scrollback).
            let _ = client.blocking_send(Event::Output(chunk));
        }
    }
    let code = exit_rx.recv().unwrap_or(-1);
    tracing::info!(session = terminal.id, code, "terminal exited");
    terminals.remove(terminal);
    let client = {
        let mut st = lock(&terminal.state);
        st.exit_code = Some(code);
        st.client.as_ref().map(|c| c.output.clone())
    };
    if let Some(client) = client {
        let _ = client.blocking_send(Event::Exit(code));
    }
}

/// Client input → PTY. Ends when every sender is gone or the PTY is closed.
fn write_loop(mut writer: Box<dyn io::Write + Send>, mut input: mpsc::Receiver<Bytes>) {
    while let Some(bytes) = input.blocking_recv() {
        if writer
            .write_all(&bytes)
            .and_then(|()| writer.flush())
            .is_err()
        {
            break;
        }
    }
}

/// How a relay ended.
enum End {
    /// Another client attached.
    TakenOver,
    /// The shell exited with this code.
    Exited(i32),
    /// The client sent a close frame with code 1000.
    ClientDone,
    /// The connection dropped (or closed with another code).
    Dropped,
}

/// Move frames between one websocket and its terminal until one of them ends.
async fn relay(
    terminal: Arc<Terminal>,
    terminals: Terminals,
    session: Session,
    mut stream: AggregatedMessageStream,
    attachment: Attachment,
) {
    let Attachment {
        epoch,
        mut output,
        takeover,
        replay,
        exit_code,
    } = attachment;
    let end = tokio::select! {
        biased;
        _ = takeover => End::TakenOver,
        end = serve(&terminal, session.clone(), &mut stream, &mut output, replay, exit_code) => end,
    };
    // Unblock the reader thread before waiting on a client that may not read.
    drop(output);
    let close = |description: Option<&str>| {
        Some(CloseReason {
            code: CloseCode::Normal,
            description: description.map(str::to_owned),
        })
    };
    let reason = match end {
        End::TakenOver => {
            tracing::info!(
                session = terminal.id,
                "terminal taken over by another client"
            );
            close(Some(PTY_TAKEN_OVER))
        }
        End::Exited(code) => {
            let mut session = session.clone();
            let frame = PtyServerFrame::Exit { code };
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, send_json(&mut session, &frame)).await;
            close(None)
        }
        End::ClientDone => {
            tracing::info!(
                session = terminal.id,
                "client closed the terminal: killing it"
            );
            terminals.remove(&terminal);
            let sid = terminal.sid;
            let _ = web::block(move || kill_session_now(sid)).await;
            close(None)
        }
        End::Dropped => {
            terminal.detach(epoch, &terminals);
            None
        }
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, session.close(reason)).await;
}

/// The session frame, the replay, then live traffic both ways.
async fn serve(
    terminal: &Terminal,
    mut session: Session,
    stream: &mut AggregatedMessageStream,
    output: &mut mpsc::Receiver<Event>,
    replay: Vec<u8>,
    exit_code: Option<i32>,
) -> End {
    let (cols, rows) = terminal.size();
    let hello = PtyServerFrame::Session {
        id: terminal.id.clone(),
        cols,
        rows,
    };
    if send_json(&mut session, &hello).await.is_err() {
        return End::Dropped;
    }
    for chunk in replay.chunks(READ_CHUNK) {
        if session.binary(Bytes::copy_from_slice(chunk)).await.is_err() {
            return End::Dropped;
        }
    }
    if let Some(code) = exit_code {
        return End::Exited(code);
    }
    // Input waiting for room in the writer's queue. While it waits the socket is not read,
    // but output keeps flowing, so a shell that is blocked writing cannot deadlock us.
    let mut pending: Option<Bytes> = None;
    loop {
        tokio::select! {
            permit = terminal.input.reserve(), if pending.is_some() => {
                if let (Ok(permit), Some(bytes)) = (permit, pending.take()) {
                    permit.send(bytes);
                }
            }
            msg = stream.recv(), if pending.is_none() => match msg {
                None | Some(Err(_)) => return End::Dropped,
                Some(Ok(AggregatedMessage::Binary(bytes))) => {
                    if !bytes.is_empty() {
                        pending = Some(bytes);
                    }
                }
                Some(Ok(AggregatedMessage::Text(text))) => {
                    let result = control(terminal, &text);
                    if let Err(message) = &result {
                        tracing::warn!(session = terminal.id, %message, "ignoring a control frame");
                    }
                    if let Err(message) = result
                        && send_json(&mut session, &PtyServerFrame::Error { message })
                            .await
                            .is_err()
                    {
                        return End::Dropped;
                    }
                }
                Some(Ok(AggregatedMessage::Ping(payload))) => {
                    if session.pong(&payload).await.is_err() {
                        return End::Dropped;
                    }
                }
                Some(Ok(AggregatedMessage::Pong(_))) => {}
                Some(Ok(AggregatedMessage::Close(reason))) => {
                    return if reason.is_some_and(|r| r.code == CloseCode::Normal) {
                        End::ClientDone
                    } else {
                        End::Dropped
                    };
                }
            },
            event = output.recv() => match event {
                Some(Event::Output(bytes)) => {
                    if session.binary(bytes).await.is_err() {
                        return End::Dropped;
                    }
                }
                Some(Event::Exit(code)) => return End::Exited(code),
                // The terminal dropped our sender: another client attached.
                None => return End::TakenOver,
            },
        }
    }
}

/// Apply a JSON text frame from the client; `Err` is the message of the error frame.
fn control(terminal: &Terminal, text: &str) -> Result<(), String> {
    let frame: PtyClientFrame =
        serde_json::from_str(text).map_err(|e| format!("invalid control frame: {e}"))?;
    match frame {
        PtyClientFrame::Resize { cols, rows } => {
            check_size(cols, rows).map_err(|e| e.message)?;
            terminal.resize(cols, rows);
        }
    }
    Ok(())
}

async fn send_json(session: &mut Session, frame: &PtyServerFrame) -> Result<(), actix_ws::Closed> {
    let text = serde_json::to_string(frame).unwrap_or_default();
    session.text(text).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> TermState {
        TermState {
            scrollback: VecDeque::new(),
            client: None,
            epoch: 0,
            exit_code: None,
        }
    }

    #[test]
    fn scrollback_keeps_the_last_bytes() {
        let mut st = state();
        st.push_scrollback(b"hello ");
        st.push_scrollback(b"world");
        assert_eq!(
            st.scrollback.iter().copied().collect::<Vec<_>>(),
            b"hello world"
        );
        let big = vec![b'x'; PTY_SCROLLBACK_BYTES - 3];
        st.push_scrollback(&big);
        assert_eq!(st.scrollback.len(), PTY_SCROLLBACK_BYTES);
        assert_eq!(
            st.scrollback.iter().take(3).copied().collect::<Vec<_>>(),
            b"rld"
        );
        let mut huge = vec![b'y'; 2 * PTY_SCROLLBACK_BYTES];
        huge.push(b'z');
        st.push_scrollback(&huge);
        assert_eq!(st.scrollback.len(), PTY_SCROLLBACK_BYTES);
        assert_eq!(st.scrollback.back(), Some(&b'z'));
        assert_eq!(st.scrollback.front(), Some(&b'y'));
    }

    #[test]
    fn sizes_are_checked() {
        let q = |cols, rows| PtyQuery {
            cols,
            rows,
            ..PtyQuery::default()
        };
        assert_eq!(requested_size(&q(None, None)), Ok(None));
        assert_eq!(requested_size(&q(Some(100), None)), Ok(Some((100, 24))));
        assert_eq!(requested_size(&q(Some(1000), Some(1))), Ok(Some((1000, 1))));
        assert!(requested_size(&q(Some(0), None)).is_err());
        assert!(requested_size(&q(None, Some(1001))).is_err());
    }
}
