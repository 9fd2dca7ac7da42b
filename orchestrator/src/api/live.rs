//! The live websockets of an instance (seed 001): its terminals (`terminal/ws`) and its
//! desktop (`vnc-url`, `vnc/ws`).
//!
//! Both websocket routes take the API key as `Authorization: Bearer` in the handshake, or a
//! short-lived token for that one instance as `?token=` (from `vnc-url`; browsers cannot set
//! headers on websockets). Ownership, the instance's state and the agent's own checks are all
//! settled before the upgrade, so a refusal is an ordinary error envelope.

use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use sandbox_agent::protocol::{DesktopStatus, routes};
use serde::Serialize;

use super::{origin, parse_id, timestamp};
use crate::agent_client;
use crate::auth::{Caller, WsCaller, mint_ws_token};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::startup::AppState;
use crate::ws_relay::{self, with_query, without_token};

pub fn configure(cfg: &mut web::ServiceConfig) {
    let resource =
        |path: &str| web::resource(path).default_service(sandbox_agent::http::method_not_allowed());
    cfg.service(resource("/api/instances/{id}/terminal/ws").route(web::get().to(terminal)))
        .service(resource("/api/instances/{id}/vnc-url").route(web::get().to(vnc_url)))
        .service(resource("/api/instances/{id}/ws-token").route(web::post().to(ws_token)))
        .service(resource("/api/instances/{id}/vnc/ws").route(web::get().to(vnc)));
}

/// `GET /api/instances/{id}/terminal/ws` (websocket): an interactive terminal — a login shell
/// on a real PTY in `/workspace`.
///
/// Query: `cols`, `rows` (both or neither, `1..=1000`), `session=<id>` to reattach to a
/// terminal whose connection dropped (within the grace period, default 60 s; the last 64 KiB
/// of output are replayed first), `cwd` (a directory in the workspace), `token` (instead of
/// the `Authorization` header).
///
/// Frames: binary frames carry terminal bytes both ways. Text frames carry JSON — from the
/// client `{"type":"resize","cols":N,"rows":M}`; from the server first
/// `{"type":"session","id":"...","cols":C,"rows":R}`, and when the shell exits
/// `{"type":"exit","code":N}` followed by a close frame with code 1000. A client close with
/// code 1000 ends the terminal and kills its processes; any other disconnect keeps it for a
/// reattach. Malformed text frames get `{"type":"error","message":...}` and are otherwise
/// ignored.
///
/// Errors before the upgrade: `401` (no or bad credentials), `404` (no such instance, or
/// terminal session), `409 INSTANCE_NOT_RUNNING`, `400` (bad size, not a websocket request).
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

/// `GET /api/instances/{id}/vnc/ws` (websocket, subprotocol `binary`): the instance's desktop
/// as an RFB (VNC) stream, byte for byte in binary frames — what noVNC's `RFB` class speaks.
/// The desktop (a 1280×800 X display with a window manager and a terminal) is started if it is
/// not running. Authenticate with the `Authorization` header or `?token=` from `vnc-url`.
///
/// Errors before the upgrade: `401`, `404`, `409 INSTANCE_NOT_RUNNING`, `503` (the desktop
/// could not start).
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
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
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

/// `GET /api/instances/{id}/vnc-url`: start the instance's desktop (if needed) and return a
/// URL of the console's desktop page with a short-lived token for this instance only (default
/// 5 minutes, `console.ws_token_ttl_s`), plus the raw websocket URL for other VNC clients.
/// URLs use the origin the request came to.
///
/// Errors: `404`, `409 INSTANCE_NOT_RUNNING`, `503` (the desktop could not start).
#[tracing::instrument(skip_all, fields(account = %caller.owner.id()))]
async fn vnc_url(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let id = parse_id(&path, "instance")?;
    let endpoint = state.manager.endpoint(&caller.owner, id).await?;
    let desktop = start_desktop(&endpoint).await?;
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
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WsTokenView {
    /// Opens this instance's `terminal/ws` and `vnc/ws` as `?token=` until `expiresAt`.
    pub token: String,
    pub expires_at: String,
}

/// `POST /api/instances/{id}/ws-token`: a short-lived token (default 5 minutes) that opens this
/// instance's websockets (`terminal/ws`, `vnc/ws`) as `?token=`, for browsers, which cannot
/// send an `Authorization` header on a websocket. Unlike `vnc-url` it starts nothing. The
/// instance need not be running (the websocket itself then answers `409`).
///
/// Errors: `404`.
#[tracing::instrument(skip_all, fields(account = %caller.owner.id()))]
async fn ws_token(
    state: web::Data<AppState>,
    caller: Caller,
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

/// `POST /desktop` on the agent: the desktop runs once this returns.
async fn start_desktop(endpoint: &crate::runtime::AgentEndpoint) -> ApiResult<DesktopStatus> {
    let req = agent_client::request(endpoint, "POST", routes::DESKTOP)
        .body(Full::new(Bytes::new()))
        .map_err(ApiError::internal)?;
    let resp = agent_client::send(endpoint, req).await?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| ApiError::new(ErrorCode::SandboxUnavailable, e.to_string()))?
        .to_bytes();
    if status.is_success() {
        return serde_json::from_slice(&body).map_err(ApiError::internal);
    }
    let envelope: Option<sandbox_agent::protocol::ErrorEnvelope> =
        serde_json::from_slice(&body).ok();
    Err(match envelope {
        Some(env) => ApiError::new(
            ErrorCode::from_wire(&env.error.code).unwrap_or(ErrorCode::SandboxUnavailable),
            env.error.message,
        ),
        None => ApiError::new(
            ErrorCode::SandboxUnavailable,
            format!("the sandbox answered {status} to starting its desktop"),
        ),
    })
}
