//! `GET /archive/{part}` and `PUT /archive/{part}`: the workspace or the home directory as one
//! tar stream (GNU `tar`, which every sandbox image has).
//!
//! How a sleeping instance wakes into a warm-pool pod on Kubernetes: a running pod cannot mount
//! another volume, so the bytes move instead. A short-lived pod on the instance's volume (this
//! agent without a gateway) answers the `GET`s, and the orchestrator streams each answer into
//! the warm pod's `PUT`. Nothing is buffered whole, on either side or in between.
//!
//! - `GET` streams `tar --create` of the directory. If `tar` fails fatally the stream ends with
//!   an error rather than a clean end, so the receiver can never mistake half an archive for
//!   the whole of it.
//! - `PUT` unpacks. The workspace is emptied first (in a warm pod it holds nothing of anyone's)
//!   and then holds exactly the archive. The home is merged with `--skip-old-files`: the
//!   running gateway's own files stay, as in the local runtime's hand-over. Owners are not
//!   restored: every file belongs to whoever runs the agent.

use std::{io, path::PathBuf, process::Stdio};

use actix_web::{HttpResponse, web};
use futures_util::StreamExt as _;
use tokio::io::AsyncWriteExt as _;
use tokio_util::io::ReaderStream;

use super::blocking;
use crate::{
    http::{ApiError, payload_error},
    protocol::{ARCHIVE_HOME, ARCHIVE_WORKSPACE, ArchiveSize, ErrorCode},
    server::AgentState,
};

/// The host directory of an archive part.
fn dir_of(state: &AgentState, part: &str) -> Result<PathBuf, ApiError> {
    match part {
        ARCHIVE_WORKSPACE => Ok(state.workspace.root().to_path_buf()),
        ARCHIVE_HOME => state
            .home
            .clone()
            .ok_or_else(|| ApiError::not_found("this agent has no home directory configured")),
        other => Err(ApiError::not_found(format!(
            "no archive part {other:?}: expected {ARCHIVE_WORKSPACE:?} or {ARCHIVE_HOME:?}"
        ))),
    }
}

fn tar() -> tokio::process::Command {
    let mut command = tokio::process::Command::new("tar");
    command
        .env_remove(crate::TOKEN_ENV)
        .stdout(Stdio::null())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

fn failed(what: &str, e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "{what}");
    ApiError::new(ErrorCode::Internal, what.to_owned())
}

/// `GET /archive/{part}`: the directory as a tar stream (`application/x-tar`).
pub(crate) async fn get(
    state: web::Data<AgentState>,
    part: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let dir = dir_of(&state, &part)?;
    let made = dir.clone();
    blocking(move || {
        std::fs::create_dir_all(&made).map_err(|e| failed("cannot make the directory", e))
    })
    .await?;
    let mut child = tar()
        .args(["--create", "--file=-", "--numeric-owner", "--directory"])
        .arg(&dir)
        .arg(".")
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| failed("cannot run tar", e))?;
    let stdout = child.stdout.take().expect("piped");
    // After the last byte: exit status 1 means some file changed while it was read (the
    // archive is still whole); anything else is a broken archive and must not end cleanly.
    let end = futures_util::stream::once(async move {
        match child.wait().await {
            Ok(status) if status.code().is_some_and(|c| c <= 1) => None,
            Ok(status) => Some(Err(io::Error::other(format!("tar failed: {status}")))),
            Err(e) => Some(Err(e)),
        }
    })
    .filter_map(std::future::ready);
    Ok(HttpResponse::Ok()
        .content_type("application/x-tar")
        .streaming(ReaderStream::new(stdout).chain(end)))
}

/// `PUT /archive/{part}`: unpack the request body (a tar stream) into the directory. `204`
/// once every byte is on disk.
pub(crate) async fn put(
    state: web::Data<AgentState>,
    part: web::Path<String>,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let dir = dir_of(&state, &part)?;
    let replace = part.as_str() == ARCHIVE_WORKSPACE;
    let prepared = dir.clone();
    blocking(move || {
        std::fs::create_dir_all(&prepared).map_err(|e| failed("cannot make the directory", e))?;
        if replace {
            clear(&prepared).map_err(|e| failed("cannot empty the directory", e))?;
        }
        Ok(())
    })
    .await?;
    let mut command = tar();
    command
        .args(["--extract", "--file=-", "--no-same-owner", "--directory"])
        .arg(&dir)
        .stdin(Stdio::piped());
    if !replace {
        command.arg("--skip-old-files");
    }
    let mut child = command.spawn().map_err(|e| failed("cannot run tar", e))?;
    let mut stdin = child.stdin.take().expect("piped");
    let mut received = Ok(());
    while let Some(chunk) = payload.next().await {
        match chunk {
            Ok(chunk) => {
                // tar exited early (a broken archive): its status says why.
                if stdin.write_all(&chunk).await.is_err() {
                    break;
                }
            }
            Err(e) => {
                received = Err(payload_error(&e));
                break;
            }
        }
    }
    drop(stdin);
    received?;
    let status = child
        .wait()
        .await
        .map_err(|e| failed("cannot run tar", e))?;
    if !status.success() {
        return Err(failed("the archive could not be unpacked", status));
    }
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /archive/{part}/size`: what the archive would carry (the orchestrator decides from it
/// whether moving the storage beats a cold start).
pub(crate) async fn size(
    state: web::Data<AgentState>,
    part: web::Path<String>,
) -> Result<web::Json<ArchiveSize>, ApiError> {
    let dir = dir_of(&state, &part)?;
    blocking(move || {
        let mut total = ArchiveSize {
            bytes: 0,
            entries: 0,
        };
        match measure(&dir, &mut total) {
            Ok(()) => Ok(web::Json(total)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(web::Json(total)),
            Err(e) => Err(failed("cannot measure the directory", e)),
        }
    })
    .await
}

/// Add up `dir`'s entries and the bytes of its regular files, without following links.
fn measure(dir: &std::path::Path, total: &mut ArchiveSize) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total.entries += 1;
        if meta.is_dir() {
            measure(&entry.path(), total)?;
        } else if meta.is_file() {
            total.bytes += meta.len();
        }
    }
    Ok(())
}

/// Remove everything in `dir`, keeping `dir` itself (a mount point, or a running gateway's
/// working directory).
fn clear(dir: &std::path::Path) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(entry.path())?;
        } else {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}
