//! `POST /exec`: run one shell command to completion and return its output.

use std::{
    os::unix::process::ExitStatusExt as _,
    process::{ExitStatus, Stdio},
    time::{Duration, Instant},
};

use actix_web::web;
use tokio::{
    io::{AsyncRead, AsyncReadExt as _},
    process::Command,
    time::sleep_until,
};

use crate::{
    http::ApiError,
    protocol::{ExecRequest, ExecResponse, limits},
    server::{AgentState, TOKEN_ENV},
    services::{blocking, output::CappedBuf, paths::Mode, process::GroupGuard},
};

/// How long to keep reading the pipes after the shell exits: a background child may hold
/// them open forever, and we neither wait for it nor kill it.
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(200);

/// `128 + SIGKILL`, the exit code reported after a timeout.
const KILLED: i32 = 128 + libc::SIGKILL;

/// `POST /exec`: run `/bin/sh -c <command>` in the workspace.
///
/// The command runs in its own process group with stdin at EOF. On timeout the whole group is
/// killed (`timed_out: true`, `exit_code: 137`); if the client disconnects it is killed too.
/// stdout and stderr are each capped at `EXEC_OUTPUT_CAP` bytes (`truncated: true`).
pub(crate) async fn exec(
    state: web::Data<AgentState>,
    body: web::Json<ExecRequest>,
) -> Result<web::Json<ExecResponse>, ApiError> {
    let req = body.into_inner();
    let timeout = validate(&req)?;
    let cwd = req
        .cwd
        .clone()
        .unwrap_or_else(|| crate::protocol::WORKSPACE.to_owned());
    let cwd = blocking(move || {
        let dir = state.workspace.resolve(&cwd, Mode::Follow)?;
        let meta = std::fs::metadata(&dir.host).map_err(|e| ApiError::from_io(&e, &dir.virt))?;
        if !meta.is_dir() {
            return Err(ApiError::conflict(format!(
                "cwd is not a directory: {}",
                dir.virt
            )));
        }
        Ok(dir.host)
    })
    .await?;

    let started = Instant::now();
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(&req.command)
        .current_dir(&cwd)
        .env_remove(TOKEN_ENV) // the agent's secret must not leak into customer code
        .envs(&req.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            tracing::error!(error = %e, "could not spawn /bin/sh");
            ApiError::internal()
        })?;
    let pgid = child
        .id()
        .and_then(|pid| i32::try_from(pid).ok())
        .unwrap_or(0);
    // Declared after `child` so it is dropped first: the group is killed while the leader's
    // pid is still reserved.
    let mut guard = GroupGuard::new(pgid);
    let mut out = Pipe::new(child.stdout.take());
    let mut err = Pipe::new(child.stderr.take());

    let deadline = tokio::time::Instant::from_std(started + timeout);
    let exited = loop {
        tokio::select! {
            status = child.wait() => break Some(status),
            () = sleep_until(deadline) => break None,
            () = out.read() => {}
            () = err.read() => {}
        }
    };
    let (exit_code, timed_out) = match exited {
        Some(status) => {
            guard.disarm();
            (exit_code(status.map_err(wait_error)?), false)
        }
        None => {
            guard.kill();
            child.wait().await.map_err(wait_error)?;
            (KILLED, true)
        }
    };
    drain(&mut out, &mut err).await;

    let truncated = out.buf.truncated() || err.buf.truncated();
    Ok(web::Json(ExecResponse {
        command: req.command,
        stdout: out.buf.into_string(),
        stderr: err.buf.into_string(),
        exit_code,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        timed_out,
        truncated,
    }))
}

fn validate(req: &ExecRequest) -> Result<Duration, ApiError> {
    if req.command.trim().is_empty() {
        return Err(ApiError::validation("command must not be empty"));
    }
    let timeout_ms = req.timeout_ms.unwrap_or(limits::EXEC_DEFAULT_TIMEOUT_MS);
    if timeout_ms == 0 || timeout_ms > limits::EXEC_MAX_TIMEOUT_MS {
        return Err(ApiError::validation(format!(
            "timeout_ms must be between 1 and {}",
            limits::EXEC_MAX_TIMEOUT_MS
        )));
    }
    for (key, value) in &req.env {
        if key.is_empty() || key.contains(['=', '\0']) || value.contains('\0') {
            return Err(ApiError::validation(format!(
                "invalid environment variable {key:?}"
            )));
        }
    }
    Ok(Duration::from_millis(timeout_ms))
}

fn wait_error(e: std::io::Error) -> ApiError {
    tracing::error!(error = %e, "waiting for the command failed");
    ApiError::internal()
}

/// The exit code, or `128 + signal` when a signal ended the process.
fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(-1)
}

/// Read what remains in the pipes until both reach EOF or `DRAIN_AFTER_EXIT` passes.
async fn drain<A: AsyncRead + Unpin, B: AsyncRead + Unpin>(out: &mut Pipe<A>, err: &mut Pipe<B>) {
    let deadline = tokio::time::Instant::now() + DRAIN_AFTER_EXIT;
    while out.open() || err.open() {
        tokio::select! {
            () = sleep_until(deadline) => break,
            () = out.read() => {}
            () = err.read() => {}
        }
    }
}

/// One output pipe and what has been captured from it.
struct Pipe<R> {
    reader: Option<R>,
    buf: CappedBuf,
    chunk: Box<[u8]>,
}

impl<R: AsyncRead + Unpin> Pipe<R> {
    fn new(reader: Option<R>) -> Self {
        Pipe {
            reader,
            buf: CappedBuf::new(limits::EXEC_OUTPUT_CAP),
            chunk: vec![0; 64 * 1024].into_boxed_slice(),
        }
    }

    fn open(&self) -> bool {
        self.reader.is_some()
    }

    /// Read one chunk into the buffer; never completes once the pipe is closed, so it can sit
    /// in a `select!` next to the other pipe. Cancel-safe: `read` is.
    async fn read(&mut self) {
        let Some(reader) = self.reader.as_mut() else {
            return std::future::pending().await;
        };
        match reader.read(&mut self.chunk).await {
            Ok(0) | Err(_) => self.reader = None,
            Ok(n) => self.buf.push(&self.chunk[..n]),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn req(command: &str, timeout_ms: Option<u64>) -> ExecRequest {
        ExecRequest {
            command: command.into(),
            timeout_ms,
            cwd: None,
            env: BTreeMap::new(),
        }
    }

    #[test]
    fn validation() {
        assert!(validate(&req("true", None)).is_ok());
        assert!(validate(&req("  ", None)).is_err());
        assert!(validate(&req("true", Some(0))).is_err());
        assert!(validate(&req("true", Some(limits::EXEC_MAX_TIMEOUT_MS + 1))).is_err());
        let mut bad_env = req("true", None);
        bad_env.env.insert("A=B".into(), "x".into());
        assert!(validate(&bad_env).is_err());
    }

    #[test]
    fn exit_codes() {
        assert_eq!(exit_code(ExitStatus::from_raw(3 << 8)), 3);
        assert_eq!(exit_code(ExitStatus::from_raw(libc::SIGKILL)), 137);
    }
}
