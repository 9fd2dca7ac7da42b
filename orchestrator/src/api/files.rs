//! Files and exec (seed 001), relayed to the instance's sandbox-agent.
//!
//! Request and response bodies are `sandbox_agent::protocol` types; the orchestrator checks
//! the key and the instance's ownership and state, then streams the call through.
//!
//! The routes are mounted in one loop over [`RELAYED`], so their OpenAPI descriptions live on
//! the stub functions below (one per row; the parity test fails if a row has none).

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use sandbox_agent::protocol::{
    DeleteRequest, ErrorEnvelope, ExecRequest, ExecResponse, ListResponse, MkdirRequest, PathQuery,
    PathResult, ReadResponse, RenameRequest, UploadRequest, WriteRequest, WrittenFile, routes,
};

use super::openapi::{Binary, InstancePath, errors};
use super::{Api, parse_id};
use crate::auth::{Authed, Caller, perm};
use crate::error::ApiResult;
use crate::relay::relay;
use crate::startup::AppState;

/// (customer path suffix, method, agent route). `/terminal/exec` needs the `terminal`
/// permission; the others `files`.
pub const RELAYED: &[(&str, &str, &str)] = &[
    ("/files", "GET", routes::FILES),
    ("/files/read", "GET", routes::FILES_READ),
    ("/files/write", "POST", routes::FILES_WRITE),
    ("/files/upload", "POST", routes::FILES_UPLOAD),
    ("/files/mkdir", "POST", routes::FILES_MKDIR),
    ("/files/rename", "POST", routes::FILES_RENAME),
    ("/files/delete", "POST", routes::FILES_DELETE),
    ("/files/download", "GET", routes::FILES_DOWNLOAD),
    ("/terminal/exec", "POST", routes::EXEC),
];

pub fn configure(api: &mut Api<'_>) {
    for &(suffix, method, agent_route) in RELAYED {
        let method = match method {
            "GET" => Method::GET,
            _ => Method::POST,
        };
        let path = format!("/api/instances/{{id}}{suffix}");
        if agent_route == routes::EXEC {
            api.resource(&path, |r| {
                r.route(
                    method,
                    move |state: web::Data<AppState>,
                          caller: Authed<perm::Terminal>,
                          path: web::Path<String>,
                          req: HttpRequest,
                          payload: web::Payload| {
                        relayed(state, caller.into_caller(), path, req, payload, agent_route)
                    },
                )
            });
        } else {
            api.resource(&path, |r| {
                r.route(
                    method,
                    move |state: web::Data<AppState>,
                          caller: Authed<perm::Files>,
                          path: web::Path<String>,
                          req: HttpRequest,
                          payload: web::Payload| {
                        relayed(state, caller.into_caller(), path, req, payload, agent_route)
                    },
                )
            });
        }
    }
}

/// Check ownership and readiness, then relay to the agent.
#[tracing::instrument(skip_all, fields(account = %caller.owner.id(), route = agent_route))]
async fn relayed(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
    agent_route: &'static str,
) -> ApiResult<HttpResponse> {
    let id = parse_id(&path, "instance")?;
    let endpoint = state.manager.endpoint(&caller.owner, id).await?;
    relay(&endpoint, &req, payload, agent_route).await
}

// The OpenAPI descriptions of the relayed routes: the agent answers them
// (`sandbox-agent/src/services/files/`, `services/exec.rs`) with these protocol types, after the
// orchestrator has checked the key and the instance. Never called.

/// List a directory
///
/// The entries of one workspace directory, directories first, then by name. Symlinks are
/// reported as such (`type: symlink`), never followed.
#[utoipa::path(
    get,
    path = "/api/instances/{id}/files",
    tag = "files",
    operation_id = "list_files",
    security(("bearer" = [])),
    params(InstancePath, PathQuery),
    responses(
        (status = 200, description = "The directory's entries.", body = ListResponse),
        (status = 400, description = errors::FILES_400, body = ErrorEnvelope),
        (status = 403, description = errors::FILES_403, body = ErrorEnvelope),
        (status = 404, description = errors::FILES_404, body = ErrorEnvelope),
        (status = 409, description = errors::FILES_409, body = ErrorEnvelope),
        (status = 502, description = errors::SANDBOX_502, body = ErrorEnvelope),
        (status = 504, description = errors::READY_504, body = ErrorEnvelope),
    ),
)]
#[allow(dead_code)]
fn list_files() {}

/// Read a text file
///
/// A UTF-8 text file's whole content (at most 10 MiB). For other files use `files/download`.
#[utoipa::path(
    get,
    path = "/api/instances/{id}/files/read",
    tag = "files",
    operation_id = "read_file",
    security(("bearer" = [])),
    params(InstancePath, PathQuery),
    responses(
        (status = 200, description = "The file's content.", body = ReadResponse),
        (status = 400, description = errors::FILES_400, body = ErrorEnvelope),
        (status = 403, description = errors::FILES_403, body = ErrorEnvelope),
        (status = 404, description = errors::FILES_404, body = ErrorEnvelope),
        (status = 409, description = errors::FILES_409, body = ErrorEnvelope),
        (status = 413, description = "`PAYLOAD_TOO_LARGE`: the file is larger than 10 MiB; use `files/download`.", body = ErrorEnvelope),
        (status = 422, description = "`NOT_TEXT`: the file is not UTF-8 text; use `files/download`.", body = ErrorEnvelope),
        (status = 502, description = errors::SANDBOX_502, body = ErrorEnvelope),
        (status = 504, description = errors::READY_504, body = ErrorEnvelope),
    ),
)]
#[allow(dead_code)]
fn read_file() {}

/// Write a text file
///
/// Creates or replaces a UTF-8 text file; missing parent directories are created. The
/// replacement is atomic (readers see the old file or the new one) and keeps the file's mode.
#[utoipa::path(
    post,
    path = "/api/instances/{id}/files/write",
    tag = "files",
    operation_id = "write_file",
    security(("bearer" = [])),
    params(InstancePath),
    request_body = WriteRequest,
    responses(
        (status = 200, description = "Written.", body = WrittenFile),
        (status = 400, description = errors::FILES_400_BODY, body = ErrorEnvelope),
        (status = 403, description = errors::FILES_403, body = ErrorEnvelope),
        (status = 404, description = errors::NO_INSTANCE, body = ErrorEnvelope),
        (status = 409, description = errors::FILES_409, body = ErrorEnvelope),
        (status = 413, description = errors::JSON_413, body = ErrorEnvelope),
        (status = 415, description = errors::JSON_415, body = ErrorEnvelope),
        (status = 422, description = errors::BODY_422, body = ErrorEnvelope),
        (status = 502, description = errors::SANDBOX_502, body = ErrorEnvelope),
        (status = 504, description = errors::READY_504, body = ErrorEnvelope),
    ),
)]
#[allow(dead_code)]
fn write_file() {}

/// Upload a file
///
/// Two shapes, told apart by `Content-Type`:
/// - `application/json`: an `UploadRequest` with the content inline (`utf8` or `base64`) and
///   the file named by `targetDir` + `fileName` (the directory is created if missing);
/// - anything else (e.g. `application/octet-stream`): the body is the file's bytes, streamed
///   to disk, of any size; `?path=` names the file.
///
/// Either way the file is created or replaced atomically.
#[utoipa::path(
    post,
    path = "/api/instances/{id}/files/upload",
    tag = "files",
    operation_id = "upload_file",
    security(("bearer" = [])),
    params(
        InstancePath,
        ("path" = Option<String>, Query, description = "Raw uploads only (required there): the file to write, absolute or workspace-relative.", example = "/workspace/data/archive.tar.gz"),
    ),
    request_body(content(
        (UploadRequest = "application/json"),
        (Binary = "application/octet-stream"),
    )),
    responses(
        (status = 201, description = "Written.", body = WrittenFile),
        (status = 400, description = "`BAD_REQUEST`: a raw upload without `?path=`, or the body could not be read. `PATH_OUTSIDE_WORKSPACE`: the path leaves `/workspace`. `INVALID_JSON`: the JSON body is not JSON.", body = ErrorEnvelope),
        (status = 403, description = errors::FILES_403, body = ErrorEnvelope),
        (status = 404, description = errors::NO_INSTANCE, body = ErrorEnvelope),
        (status = 409, description = errors::FILES_409, body = ErrorEnvelope),
        (status = 413, description = errors::JSON_413, body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`: a bad `fileName`, content that is not valid base64, or a missing or mistyped field.", body = ErrorEnvelope),
        (status = 502, description = errors::SANDBOX_502, body = ErrorEnvelope),
        (status = 504, description = errors::READY_504, body = ErrorEnvelope),
    ),
)]
#[allow(dead_code)]
fn upload_file() {}

/// Create a directory
///
/// With `parents` (the default) missing parents are created and an existing directory is
/// not an error.
#[utoipa::path(
    post,
    path = "/api/instances/{id}/files/mkdir",
    tag = "files",
    operation_id = "make_directory",
    security(("bearer" = [])),
    params(InstancePath),
    request_body = MkdirRequest,
    responses(
        (status = 200, description = "Created (or there already).", body = PathResult),
        (status = 400, description = errors::FILES_400_BODY, body = ErrorEnvelope),
        (status = 403, description = errors::FILES_403, body = ErrorEnvelope),
        (status = 404, description = "`NOT_FOUND`: no such instance; or, without `parents`, the parent directory does not exist.", body = ErrorEnvelope),
        (status = 409, description = errors::FILES_409, body = ErrorEnvelope),
        (status = 413, description = errors::JSON_413, body = ErrorEnvelope),
        (status = 415, description = errors::JSON_415, body = ErrorEnvelope),
        (status = 422, description = errors::BODY_422, body = ErrorEnvelope),
        (status = 502, description = errors::SANDBOX_502, body = ErrorEnvelope),
        (status = 504, description = errors::READY_504, body = ErrorEnvelope),
    ),
)]
#[allow(dead_code)]
fn make_directory() {}

/// Rename or move
///
/// Moves a file or directory within the workspace. An existing target is `409` unless
/// `overwrite` is set.
#[utoipa::path(
    post,
    path = "/api/instances/{id}/files/rename",
    tag = "files",
    operation_id = "rename_path",
    security(("bearer" = [])),
    params(InstancePath),
    request_body = RenameRequest,
    responses(
        (status = 200, description = "Moved; `path` is the new path.", body = PathResult),
        (status = 400, description = errors::FILES_400_BODY, body = ErrorEnvelope),
        (status = 403, description = errors::FILES_403, body = ErrorEnvelope),
        (status = 404, description = errors::FILES_404, body = ErrorEnvelope),
        (status = 409, description = errors::FILES_409, body = ErrorEnvelope),
        (status = 413, description = errors::JSON_413, body = ErrorEnvelope),
        (status = 415, description = errors::JSON_415, body = ErrorEnvelope),
        (status = 422, description = errors::BODY_422, body = ErrorEnvelope),
        (status = 502, description = errors::SANDBOX_502, body = ErrorEnvelope),
        (status = 504, description = errors::READY_504, body = ErrorEnvelope),
    ),
)]
#[allow(dead_code)]
fn rename_path() {}

/// Delete a file or directory
///
/// A non-empty directory needs `recursive`. The workspace root cannot be deleted.
#[utoipa::path(
    post,
    path = "/api/instances/{id}/files/delete",
    tag = "files",
    operation_id = "delete_path",
    security(("bearer" = [])),
    params(InstancePath),
    request_body = DeleteRequest,
    responses(
        (status = 200, description = "Deleted.", body = PathResult),
        (status = 400, description = errors::FILES_400_BODY, body = ErrorEnvelope),
        (status = 403, description = errors::FILES_403, body = ErrorEnvelope),
        (status = 404, description = errors::FILES_404, body = ErrorEnvelope),
        (status = 409, description = errors::FILES_409, body = ErrorEnvelope),
        (status = 413, description = errors::JSON_413, body = ErrorEnvelope),
        (status = 415, description = errors::JSON_415, body = ErrorEnvelope),
        (status = 422, description = errors::BODY_422, body = ErrorEnvelope),
        (status = 502, description = errors::SANDBOX_502, body = ErrorEnvelope),
        (status = 504, description = errors::READY_504, body = ErrorEnvelope),
    ),
)]
#[allow(dead_code)]
fn delete_path() {}

/// Download a file
///
/// The file's bytes as `application/octet-stream`, streamed, with `Content-Length` and
/// `Content-Disposition: attachment`.
#[utoipa::path(
    get,
    path = "/api/instances/{id}/files/download",
    tag = "files",
    operation_id = "download_file",
    security(("bearer" = [])),
    params(InstancePath, PathQuery),
    responses(
        (status = 200, description = "The file's bytes.", body = Binary, content_type = "application/octet-stream",
            headers(
                ("Content-Disposition" = String, description = "`attachment; filename=\"notes.txt\"` (plus RFC 5987 `filename*=` for other than ASCII names)."),
                ("Content-Length" = u64, description = "The file's size."),
            )),
        (status = 400, description = errors::FILES_400, body = ErrorEnvelope),
        (status = 403, description = errors::FILES_403, body = ErrorEnvelope),
        (status = 404, description = errors::FILES_404, body = ErrorEnvelope),
        (status = 409, description = errors::FILES_409, body = ErrorEnvelope),
        (status = 502, description = errors::SANDBOX_502, body = ErrorEnvelope),
        (status = 504, description = errors::READY_504, body = ErrorEnvelope),
    ),
)]
#[allow(dead_code)]
fn download_file() {}

/// Run a command
///
/// Runs one command with `/bin/sh -c` in the sandbox (uid `sandbox`, in `/workspace` or
/// `cwd`), in its own process group, and answers when it ends. On timeout the whole group is
/// killed (`timed_out: true`, `exit_code: 137`). stdout and stderr are each capped at 1 MiB
/// (`truncated: true`). A non-zero exit is still `200`: look at `exit_code`.
#[utoipa::path(
    post,
    path = "/api/instances/{id}/terminal/exec",
    tag = "exec",
    operation_id = "exec_command",
    security(("bearer" = [])),
    params(InstancePath),
    request_body = ExecRequest,
    responses(
        (status = 200, description = "The command ran (whatever its exit status).", body = ExecResponse),
        (status = 400, description = errors::FILES_400_BODY, body = ErrorEnvelope),
        (status = 404, description = "`NOT_FOUND`: no such instance, or `cwd` does not exist.", body = ErrorEnvelope),
        (status = 409, description = "`INSTANCE_NOT_RUNNING`: the instance is stopped, failed or being deleted. `CONFLICT`: `cwd` is not a directory.", body = ErrorEnvelope),
        (status = 413, description = errors::JSON_413, body = ErrorEnvelope),
        (status = 415, description = errors::JSON_415, body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`: an empty `command`, `timeout_ms` out of range (1 to 600 000), a bad `env` name, or a missing or mistyped field.", body = ErrorEnvelope),
        (status = 502, description = errors::SANDBOX_502, body = ErrorEnvelope),
        (status = 504, description = errors::READY_504, body = ErrorEnvelope),
    ),
)]
#[allow(dead_code)]
fn exec_command() {}
