//! Writing handlers: `files/write` and both shapes of `files/upload`.
//!
//! Every write goes to a fresh temporary file in the target's directory and is renamed over
//! the target when complete, so readers see the old file or the new one, never half of one.

use std::{
    fs,
    io::{self, Write as _},
    path::PathBuf,
    sync::atomic::{AtomicU64, Ordering},
};

use actix_web::{FromRequest as _, HttpRequest, HttpResponse, http::header, web};
use futures_util::StreamExt as _;
use serde::Deserialize;
use tokio::io::AsyncWriteExt as _;

use crate::{
    http::{ApiError, payload_error},
    protocol::{Encoding, UploadRequest, WriteRequest, WrittenFile},
    server::AgentState,
    services::{
        base64, blocking,
        paths::{Mode, Resolved, Workspace},
    },
};

/// `POST /files/write`: create or replace a UTF-8 text file; missing parents are created.
pub(crate) async fn write(
    state: web::Data<AgentState>,
    body: web::Json<WriteRequest>,
) -> Result<web::Json<WrittenFile>, ApiError> {
    let WriteRequest { path, content } = body.into_inner();
    let written = blocking(move || write_all(&state.workspace, &path, content.as_bytes())).await?;
    Ok(web::Json(written))
}

/// Query of a raw upload: where to put the body.
#[derive(Debug, Deserialize)]
pub(crate) struct UploadQuery {
    path: Option<String>,
}

/// `POST /files/upload`: create or replace a file, answering `201` with a `WrittenFile`.
///
/// With `Content-Type: application/json` the body is an `UploadRequest` (inline `utf8` or
/// `base64` content). With any other content type the raw body is the file's content and
/// `?path=` names it; the body is streamed to disk and may be of any size.
pub(crate) async fn upload(
    state: web::Data<AgentState>,
    req: HttpRequest,
    query: web::Query<UploadQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, actix_web::Error> {
    let written = if is_json(&req) {
        let body = web::Json::<UploadRequest>::from_request(&req, &mut payload.into_inner())
            .await?
            .into_inner();
        upload_json(state, body).await?
    } else {
        let path = query.into_inner().path.ok_or_else(|| {
            ApiError::bad_request(
                "a raw upload needs ?path=; or send an application/json UploadRequest",
            )
        })?;
        upload_stream(state, path, payload).await?
    };
    Ok(HttpResponse::Created().json(written))
}

fn is_json(req: &HttpRequest) -> bool {
    let Some(value) = req.headers().get(header::CONTENT_TYPE) else {
        return false;
    };
    let essence = value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

async fn upload_json(
    state: web::Data<AgentState>,
    body: UploadRequest,
) -> Result<WrittenFile, ApiError> {
    let name = body.file_name.as_str();
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err(ApiError::validation(format!(
            "fileName must be a plain file name without '/', got {name:?}"
        )));
    }
    let dir = body.target_dir.trim_end_matches('/');
    let path = if dir.is_empty() && !body.target_dir.starts_with('/') {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    };
    let bytes = match body.encoding {
        Encoding::Utf8 => body.content.into_bytes(),
        Encoding::Base64 => base64::decode(&body.content)
            .map_err(|e| ApiError::validation(format!("content: {}", e.0)))?,
    };
    blocking(move || write_all(&state.workspace, &path, &bytes)).await
}

/// Stream the request body into a temporary file, then rename it into place.
async fn upload_stream(
    state: web::Data<AgentState>,
    path: String,
    mut payload: web::Payload,
) -> Result<WrittenFile, ApiError> {
    let (target, temp, file) = blocking(move || prepare(&state.workspace, &path)).await?;
    let io_err = |e: io::Error| ApiError::from_io(&e, &target.virt);
    let mut file = tokio::fs::File::from_std(file);
    let mut size = 0u64;
    // If the client goes away, this future is dropped and `temp` deletes the partial file.
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| payload_error(&e))?;
        file.write_all(&chunk).await.map_err(io_err)?;
        size += chunk.len() as u64;
    }
    // tokio writes in the background; flush so every byte is on disk before the rename.
    file.flush().await.map_err(io_err)?;
    drop(file);
    blocking(move || {
        temp.commit(&target)?;
        Ok(WrittenFile {
            path: target.virt,
            size,
        })
    })
    .await
}

/// Atomically create or replace the file at client path `path` with `bytes`.
fn write_all(ws: &Workspace, path: &str, bytes: &[u8]) -> Result<WrittenFile, ApiError> {
    let (target, temp, mut file) = prepare(ws, path)?;
    file.write_all(bytes)
        .map_err(|e| ApiError::from_io(&e, &target.virt))?;
    drop(file);
    temp.commit(&target)?;
    Ok(WrittenFile {
        path: target.virt,
        size: bytes.len() as u64,
    })
}

/// Resolve the target, create its parents, and open a temporary file next to it.
fn prepare(ws: &Workspace, path: &str) -> Result<(Resolved, TempFile, fs::File), ApiError> {
    let target = ws.resolve(path, Mode::Create)?;
    let virt = &target.virt;
    let is_dir = || ApiError::conflict(format!("is a directory: {virt}"));
    let parent = match target.host.parent() {
        Some(parent) if !target.is_root => parent,
        _ => return Err(is_dir()),
    };
    fs::create_dir_all(parent).map_err(|e| {
        let parent_virt = virt.rsplit_once('/').map_or(virt.as_str(), |(p, _)| p);
        ApiError::from_io(&e, parent_virt)
    })?;
    // Keep the mode of a file we replace (e.g. an executable script stays executable).
    let permissions = match fs::symlink_metadata(&target.host) {
        Ok(meta) if meta.is_dir() => return Err(is_dir()),
        Ok(meta) if meta.is_file() => Some(meta.permissions()),
        _ => None,
    };
    let (temp, file) = TempFile::create(parent).map_err(|e| ApiError::from_io(&e, virt))?;
    if let Some(permissions) = permissions {
        file.set_permissions(permissions)
            .map_err(|e| ApiError::from_io(&e, virt))?;
    }
    Ok((target, temp, file))
}

/// A temporary file that is deleted on drop unless committed (renamed into place).
struct TempFile {
    path: Option<PathBuf>,
}

impl TempFile {
    fn create(dir: &std::path::Path) -> io::Result<(TempFile, fs::File)> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!(".ocaas-upload.{}.{n}.tmp", std::process::id()));
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(file) => return Ok((TempFile { path: Some(path) }, file)),
                // A leftover from a crashed agent with the same pid: try the next name.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn commit(mut self, target: &Resolved) -> Result<(), ApiError> {
        let Some(path) = self.path.take() else {
            return Ok(());
        };
        fs::rename(&path, &target.host).map_err(|e| {
            let _ = fs::remove_file(&path);
            ApiError::from_io(&e, &target.virt)
        })
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = fs::remove_file(path);
        }
    }
}
