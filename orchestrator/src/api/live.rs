//! The live websockets of an instance (seed 001): its terminals (`terminal/ws`) and its
//! desktop (`vnc-url`, `vnc/ws`).
//!
//! Both websocket routes take the API key as `Authorization: Bearer` in the handshake, or a
//! short-lived token for that one instance as `?token=` (from `vnc-url`; browsers cannot set
//! headers on websockets). Ownership, the instance's state and the agent's own checks are all
//! settled before the upgrade, so a refusal is an ordinary error envelope.

use actix_web::{HttpRequest, HttpResponse, web};
use sandbox_agent::protocol::{DesktopStatus, ErrorEnvelope, PtyQuery, routes};
use serde::Serialize;
use utoipa::ToSchema;

use super::openapi::{InstancePath, errors};
use super::{Api, origin, parse_id, timestamp};
use crate::agent_client;
use crate::auth::{Authed, WsCaller, mint_ws_token, perm};
use crate::error::{ApiError, ApiResult};
use crate::startup::AppState;
use crate::ws_relay::{self, with_query, without_token};

pub fn configure(api: &mut Api<'_>) {
    api.resource("/api/instances/{id}/terminal/ws", |r| r.get(terminal));
    api.resource("/api/instances/{id}/vnc-url", |r| r.get(vnc_url));
    api.resource("/api/instances/{id}/ws-token", |r| r.post(ws_token));
    api.resource("/api/instances/{id}/vnc/ws", |r| r.get(vnc));
}

/// Open a terminal (websocket)
///
/// `GET /api/instances/{id}/terminal/ws` with a websocket upgrade: an interactive terminal —
/// a login shell (`bash -l`, uid `sandbox`) on a real PTY in `/workspace`.
///
/// **Authentication**: the API key as `Authorization: Bearer` in the handshake, or `?token=`
/// from `vnc-url` / `ws-token` (browsers cannot set headers on websockets).
///
/// **Query**: `cols`, `rows` (`1..=1000`; default 80×24; one alone takes the other's default),
/// `session=<id>` to reattach to a terminal whose connection dropped (within the grace period,
/// default 60 s; the last 64 KiB of output are replayed first), `cwd` (a directory in the
/// workspace), `token`.
///
/// **Frames**: binary frames carry terminal bytes both ways. Text frames carry JSON — from the
/// client `PtyClientFrame` `{"type":"resize","cols":N,"rows":M}`; from the server
/// (`PtyServerFrame`) first `{"type":"session","id":"...","cols":C,"rows":R}`, and when the
/// shell exits `{"type":"exit","code":N}` followed by a close frame with code 1000. A
/// malformed text frame gets `{"type":"error","message":...}` and is otherwise ignored.
///
/// **Lifetime**: a client close with code 1000 ends the terminal and kills its processes; any
/// other disconnect keeps it for a reattach. A second client on the same `session` takes it
/// over (the first is closed with code 1000, reason `taken over`). At most 32 terminals per
/// instance. On service shutdown the socket is closed with 1001 and the terminal stays
/// reattachable.
///
/// Errors come before the upgrade, as ordinary error responses.
#[utoipa::path(
    get,
    path = "/api/instances/{id}/terminal/ws",
    tag = "terminal",
    operation_id = "open_terminal",
    security(("bearer" = []), ("wsToken" = [])),
    params(
        InstancePath,
        PtyQuery,
        ("token" = Option<String>, Query, description = "A websocket token from `vnc-url` or `ws-token`, instead of the `Authorization` header."),
    ),
    responses(
        (status = 101, description = "Switching Protocols: the websocket is open (frames above; text frames' schemas `PtyClientFrame` and `PtyServerFrame`)."),
        (status = 400, description = "`BAD_REQUEST`: not a websocket request, or a malformed query. `PATH_OUTSIDE_WORKSPACE`: `cwd` leaves `/workspace`.", body = ErrorEnvelope),
        (status = 404, description = "`NOT_FOUND`: no such instance, terminal `session` (or it ended), or `cwd`.", body = ErrorEnvelope),
        (status = 409, description = "`INSTANCE_NOT_RUNNING`: the instance is stopped, failed or being deleted. `CONFLICT`: 32 terminals are open already, or `cwd` is not a directory.", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`: `cols` or `rows` outside 1 to 1000.", body = ErrorEnvelope),
        (status = 502, description = errors::SANDBOX_502, body = ErrorEnvelope),
        (status = 504, description = errors::READY_504, body = ErrorEnvelope),
    ),
    extensions(("x-websocket" = json!({
        "subprotocols": [],
        "binary": "terminal bytes, both ways",
        "text": {
            "client": {"$ref": "#/components/schemas/PtyClientFrame"},
            "server": {"$ref": "#/components/schemas/PtyServerFrame"}
        },
        "close": {"1000": "from the client: end the terminal; from the server: the shell exited, or taken over", "1001": "the service is shutting down; reattach later"}
    }))),
)]
#[tracing::instrument(skip_all, fields(account = %caller.owner.id()))]
async fn terminal(
    state: web::Data<AppState>,
    caller: WsCaller,
    path: web::Path<String>,
    req: HttpRequest,
    body: web::Payload,
) -> ApiResult<HttpResponse> {
    let id = parse_id(&path, "instance")?;
    caller.check(id)?;
    let endpoint = state.manager.endpoint(&caller.owner, id).await?;
    ws_relay::check_upgrade(&req)?;
    let target = with_query(routes::PTY, &without_token(req.query_string()));
    match ws_relay::connect(&endpoint, &target).await {
        Ok(agent) => ws_relay::accept(&req, body, agent, &[], state.shutdown.clone()),
        Err(refused) => Ok(refused),
    }
}

/// Open the desktop (websocket)
///
/// `GET /api/instances/{id}/vnc/ws` with a websocket upgrade (subprotocol `binary`): the
/// instance's desktop as an RFB (VNC) stream, byte for byte in binary frames — what noVNC's
/// `RFB` class speaks. The desktop (a 1280×800 X display with a window manager and a terminal)
/// is started if it is not running.
///
/// **Authentication**: the `Authorization` header, or `?token=` from `vnc-url` / `ws-token`.
/// On service shutdown the socket is closed with 1001.
///
/// Errors come before the upgrade, as ordinary error responses.
#[utoipa::path(
    get,
    path = "/api/instances/{id}/vnc/ws",
    tag = "desktop",
    operation_id = "open_desktop",
    security(("bearer" = []), ("wsToken" = [])),
    params(
        InstancePath,
        ("token" = Option<String>, Query, description = "A websocket token from `vnc-url` or `ws-token`, instead of the `Authorization` header."),
    ),
    responses(
        (status = 101, description = "Switching Protocols: RFB bytes flow in binary frames both ways."),
        (status = 400, description = "`BAD_REQUEST`: not a websocket request.", body = ErrorEnvelope),
        (status = 404, description = errors::NO_INSTANCE, body = ErrorEnvelope),
        (status = 409, description = errors::NOT_RUNNING, body = ErrorEnvelope),
        (status = 502, description = errors::SANDBOX_502, body = ErrorEnvelope),
        (status = 503, description = errors::DESKTOP_503, body = ErrorEnvelope),
        (status = 504, description = errors::READY_504, body = ErrorEnvelope),
    ),
    extensions(("x-websocket" = json!({
        "subprotocols": ["binary"],
        "binary": "RFB (VNC) protocol bytes, both ways",
        "close": {"1001": "the service is shutting down"}
    }))),
)]
#[tracing::instrument(skip_all, fields(account = %caller.owner.id()))]
async fn vnc(
    state: web::Data<AppState>,
    caller: WsCaller,
    path: web::Path<String>,
    req: HttpRequest,
    body: web::Payload,
) -> ApiResult<HttpResponse> {
    let id = parse_id(&path, "instance")?;
    caller.check(id)?;
    let endpoint = state.manager.endpoint(&caller.owner, id).await?;
    ws_relay::check_upgrade(&req)?;
    match ws_relay::connect(&endpoint, routes::VNC).await {
        Ok(agent) => ws_relay::accept(&req, body, agent, &["binary"], state.shutdown.clone()),
        Err(refused) => Ok(refused),
    }
}

/// `GET .../vnc-url`: where a browser can open the instance's desktop.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({
    "url": "http://localhost:8080/console/desktop.html?instance=3f2b8c4e-1d6a-4f7b-9e2c-5a8d0b1c2e3f&token=c1bf1f7b91356683f7bfd2db2f94e17d1502db210c21f2b0f63a7c0b50f7e6fc9d6f479eb690d204b54eb6f5f0f50e16f183ad88b2d911d708d8793d9db2ee9f36e5d8af",
    "wsUrl": "ws://localhost:8080/api/instances/3f2b8c4e-1d6a-4f7b-9e2c-5a8d0b1c2e3f/vnc/ws?token=c1bf1f7b91356683f7bfd2db2f94e17d1502db210c21f2b0f63a7c0b50f7e6fc9d6f479eb690d204b54eb6f5f0f50e16f183ad88b2d911d708d8793d9db2ee9f36e5d8af",
    "token": "c1bf1f7b91356683f7bfd2db2f94e17d1502db210c21f2b0f63a7c0b50f7e6fc9d6f479eb690d204b54eb6f5f0f50e16f183ad88b2d911d708d8793d9db2ee9f36e5d8af",
    "expiresAt": "2026-03-20T18:32:54.000Z",
    "desktop": {"state": "running", "width": 1280, "height": 800, "boot_ms": 480}
}))]
pub struct VncUrlView {
    /// The console's desktop page for this instance, token included: open it in a browser.
    pub url: String,
    /// The websocket to give a VNC client such as noVNC (token included).
    pub ws_url: String,
    /// The token alone: it opens this instance's `vnc/ws` and `terminal/ws` until `expiresAt`.
    pub token: String,
    pub expires_at: String,
    /// The desktop's state (`running` once this returns).
    pub desktop: DesktopStatus,
}

/// Desktop URL
///
/// Starts the instance's desktop (if needed) and returns a URL of the console's desktop page
/// with a short-lived token for this instance only (default 5 minutes,
/// `console.ws_token_ttl_s`), plus the raw websocket URL for other VNC clients. URLs use the
/// origin the request came to.
#[utoipa::path(
    get,
    path = "/api/instances/{id}/vnc-url",
    tag = "desktop",
    operation_id = "get_vnc_url",
    security(("bearer" = [])),
    params(InstancePath),
    responses(
        (status = 200, description = "The desktop runs; where to open it.", body = VncUrlView),
        (status = 404, description = errors::NO_INSTANCE, body = ErrorEnvelope),
        (status = 409, description = errors::NOT_RUNNING, body = ErrorEnvelope),
        (status = 502, description = errors::SANDBOX_502, body = ErrorEnvelope),
        (status = 503, description = errors::DESKTOP_503, body = ErrorEnvelope),
        (status = 504, description = errors::READY_504, body = ErrorEnvelope),
    ),
)]
#[tracing::instrument(skip_all, fields(account = %caller.owner.id()))]
async fn vnc_url(
    state: web::Data<AppState>,
    caller: Authed<perm::Terminal>,
    path: web::Path<String>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let id = parse_id(&path, "instance")?;
    let endpoint = state.manager.endpoint(&caller.owner, id).await?;
    let desktop = agent_client::start_desktop(&endpoint).await?;
    let (token, expires) = mint_ws_token(&state, &caller.owner, id);
    let origin = origin(&req);
    let ws_origin = origin.replacen("http", "ws", 1);
    Ok(HttpResponse::Ok().json(VncUrlView {
        url: format!("{origin}/console/desktop.html?instance={id}&token={token}"),
        ws_url: format!("{ws_origin}/api/instances/{id}/vnc/ws?token={token}"),
        token,
        expires_at: timestamp(&expires),
        desktop,
    }))
}

/// `POST .../ws-token`: a websocket token without a URL.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"token": "c1bf1f7b91356683f7bfd2db2f94e17d1502db210c21f2b0f63a7c0b50f7e6fc9d6f479eb690d204b54eb6f5f0f50e16f183ad88b2d911d708d8793d9db2ee9f36e5d8af", "expiresAt": "2026-03-20T18:32:54.000Z"}))]
pub struct WsTokenView {
    /// Opens this instance's `terminal/ws` and `vnc/ws` as `?token=` until `expiresAt`.
    pub token: String,
    pub expires_at: String,
}

/// Websocket token
///
/// A short-lived token (default 5 minutes) that opens this instance's websockets
/// (`terminal/ws`, `vnc/ws`) as `?token=`, for browsers, which cannot send an `Authorization`
/// header on a websocket. Unlike `vnc-url` it starts nothing. The instance need not be running
/// (the websocket itself then answers `409`).
#[utoipa::path(
    post,
    path = "/api/instances/{id}/ws-token",
    tag = "terminal",
    operation_id = "create_ws_token",
    security(("bearer" = [])),
    params(InstancePath),
    responses(
        (status = 200, description = "The token.", body = WsTokenView),
        (status = 404, description = errors::NO_INSTANCE, body = ErrorEnvelope),
    ),
)]
#[tracing::instrument(skip_all, fields(account = %caller.owner.id()))]
async fn ws_token(
    state: web::Data<AppState>,
    caller: Authed<perm::Terminal>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = parse_id(&path, "instance")?;
    state
        .store
        .get_instance(&caller.owner, id)
        .await?
        .ok_or_else(|| ApiError::not_found("instance"))?;
    let (token, expires) = mint_ws_token(&state, &caller.owner, id);
    Ok(HttpResponse::Ok().json(WsTokenView {
        token,
        expires_at: timestamp(&expires),
    }))
}
