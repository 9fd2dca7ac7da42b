//! Namespace handlers: mkdir, rename, delete. None of them follows a final symlink except
//! mkdir, which treats a symlink to a directory inside the workspace as that directory.

use std::{fs, io};

use actix_web::web;

use crate::{
    http::ApiError,
    protocol::{DeleteRequest, MkdirRequest, PathResult, RenameRequest},
    server::AgentState,
    services::{
        blocking,
        paths::{Mode, Resolved},
    },
};

fn ok(path: String) -> web::Json<PathResult> {
    web::Json(PathResult { path, ok: true })
}

/// The virtual parent of a virtual path (for "parent does not exist" messages).
fn parent_virt(virt: &str) -> &str {
    virt.rsplit_once('/').map_or(virt, |(p, _)| p)
}

/// `POST /files/mkdir`: create a directory.
///
/// With `parents: true` (the default) missing parents are created and an existing directory is
/// fine; with `parents: false` the parent must exist and an existing path is `409 CONFLICT`.
pub(crate) async fn mkdir(
    state: web::Data<AgentState>,
    body: web::Json<MkdirRequest>,
) -> Result<web::Json<PathResult>, ApiError> {
    let MkdirRequest { path, parents } = body.into_inner();
    let dir = blocking(move || {
        let dir = state.workspace.resolve(&path, Mode::Create)?;
        let result = if parents {
            fs::create_dir_all(&dir.host)
        } else {
            fs::create_dir(&dir.host)
        };
        result.map_err(|e| match e.kind() {
            io::ErrorKind::NotFound if !parents => ApiError::not_found(format!(
                "parent directory does not exist: {} (set parents: true)",
                parent_virt(&dir.virt)
            )),
            _ => ApiError::from_io(&e, &dir.virt),
        })?;
        Ok(dir.virt)
    })
    .await?;
    Ok(ok(dir))
}

/// `POST /files/rename`: move `from` to `to` within the workspace.
///
/// A missing `from` is `404`; an existing `to` is `409` unless `overwrite: true`. The parent
/// of `to` must exist. Symlinks are moved as links, never followed.
pub(crate) async fn rename(
    state: web::Data<AgentState>,
    body: web::Json<RenameRequest>,
) -> Result<web::Json<PathResult>, ApiError> {
    let RenameRequest {
        from,
        to,
        overwrite,
    } = body.into_inner();
    let to = blocking(move || {
        let from = state.workspace.resolve(&from, Mode::NoFollow)?;
        let to = state.workspace.resolve(&to, Mode::NoFollow)?;
        if from.is_root || to.is_root {
            return Err(ApiError::conflict("refusing to rename the workspace root"));
        }
        fs::symlink_metadata(&from.host).map_err(|e| ApiError::from_io(&e, &from.virt))?;
        // Checked, then renamed: a target created in between is replaced. Good enough for a
        // single-tenant sandbox; rename(2) has no portable no-replace flag.
        if !overwrite && fs::symlink_metadata(&to.host).is_ok() {
            return Err(ApiError::conflict(format!(
                "already exists: {} (set overwrite: true to replace it)",
                to.virt
            )));
        }
        fs::rename(&from.host, &to.host).map_err(|e| rename_error(&e, &from, &to))?;
        Ok(to.virt)
    })
    .await?;
    Ok(ok(to))
}

fn rename_error(e: &io::Error, from: &Resolved, to: &Resolved) -> ApiError {
    match e.kind() {
        io::ErrorKind::NotFound => ApiError::not_found(format!(
            "parent directory does not exist: {}",
            parent_virt(&to.virt)
        )),
        // EINVAL: moving a directory into itself.
        io::ErrorKind::InvalidInput => ApiError::conflict(format!(
            "cannot move {} into itself ({})",
            from.virt, to.virt
        )),
        _ => ApiError::from_io(e, &to.virt),
    }
}

/// `POST /files/delete`: delete a file, symlink (the link itself) or directory.
///
/// A non-empty directory needs `recursive: true` (else `409`); the workspace root itself can't
/// be deleted (`409`); a missing path is `404`.
pub(crate) async fn delete(
    state: web::Data<AgentState>,
    body: web::Json<DeleteRequest>,
) -> Result<web::Json<PathResult>, ApiError> {
    let DeleteRequest { path, recursive } = body.into_inner();
    let path = blocking(move || {
        let target = state.workspace.resolve(&path, Mode::NoFollow)?;
        if target.is_root {
            return Err(ApiError::conflict("refusing to delete the workspace root"));
        }
        let virt = &target.virt;
        let meta = fs::symlink_metadata(&target.host).map_err(|e| ApiError::from_io(&e, virt))?;
        let result = if !meta.is_dir() {
            fs::remove_file(&target.host)
        } else if recursive {
            // std's remove_dir_all does not follow symlinks inside the tree.
            fs::remove_dir_all(&target.host)
        } else {
            fs::remove_dir(&target.host)
        };
        result.map_err(|e| match e.kind() {
            io::ErrorKind::DirectoryNotEmpty => {
                ApiError::conflict(format!("directory not empty: {virt} (set recursive: true)"))
            }
            _ => ApiError::from_io(&e, virt),
        })?;
        Ok(target.virt)
    })
    .await?;
    Ok(ok(path))
}
