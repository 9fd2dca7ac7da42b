//! Instances (seed 001): list, create, inspect, delete, reboot, shutdown, start, status.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{optional_json, parse_id, timestamp};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::startup::AppState;
use crate::store::NewInstance;
use crate::store::entities::{instance, instance_event};

pub fn configure(cfg: &mut web::ServiceConfig) {
    let na = sandbox_agent::http::method_not_allowed;
    cfg.service(
        web::resource("/api/instances")
            .route(web::get().to(list))
            .route(web::post().to(create))
            .default_service(na()),
    )
    .service(
        web::resource("/api/instances/{id}")
            .route(web::get().to(get))
            .route(web::patch().to(patch))
            .route(web::delete().to(delete))
            .default_service(na()),
    )
    .service(
        web::resource("/api/instances/{id}/status")
            .route(web::get().to(status))
            .default_service(na()),
    )
    .service(
        web::resource("/api/instances/{id}/reboot")
            .route(web::post().to(reboot))
            .default_service(na()),
    )
    .service(
        web::resource("/api/instances/{id}/shutdown")
            .route(web::post().to(shutdown))
            .default_service(na()),
    )
    .service(
        web::resource("/api/instances/{id}/start")
            .route(web::post().to(start))
            .default_service(na()),
    );
}

/// An instance, in the seed's shape (plus `name` and `status_reason`).
#[derive(Debug, Serialize, Deserialize)]
pub struct InstanceView {
    pub id: Uuid,
    pub name: String,
    /// `provisioning`, `starting`, `ready`, `rebooting`, `stopping`, `stopped`, `failed`
    /// or `deleting`.
    pub status: String,
    /// Why the instance is in this status (set for `failed`).
    pub status_reason: Option<String>,
    /// The sandbox serving this instance (changes on every start).
    pub sandbox_id: Option<String>,
    /// The virtual desktop starts with the sandbox (else on the first `vnc-url` or `vnc/ws`).
    pub desktop: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl From<instance::Model> for InstanceView {
    fn from(m: instance::Model) -> Self {
        InstanceView {
            id: m.id,
            name: m.name,
            status: m.status,
            status_reason: m.status_reason,
            sandbox_id: m.sandbox_id,
            desktop: m.desktop,
            created_at: timestamp(&m.created_at),
            updated_at: timestamp(&m.updated_at),
        }
    }
}

/// One persisted status transition.
#[derive(Debug, Serialize)]
pub struct TransitionView {
    pub from: Option<String>,
    pub to: String,
    pub reason: Option<String>,
    pub at: String,
}

impl From<instance_event::Model> for TransitionView {
    fn from(e: instance_event::Model) -> Self {
        TransitionView {
            from: e.from_status,
            to: e.to_status,
            reason: e.reason,
            at: timestamp(&e.at),
        }
    }
}

/// `GET .../status`: the status, whether the instance serves calls now, and its history.
#[derive(Debug, Serialize)]
pub struct StatusView {
    pub id: Uuid,
    pub status: String,
    pub status_reason: Option<String>,
    /// `running` or `stopped`: what the service is converging the instance to.
    pub desired_state: String,
    /// The instance answers files, exec and (later) chat calls now.
    pub ready: bool,
    pub sandbox_id: Option<String>,
    pub updated_at: String,
    /// The OpenClaw gateway inside the sandbox (`booting`, `ready`, `crashed` with reason…),
    /// when the instance is ready.
    pub gateway: Option<sandbox_agent::protocol::GatewayStatus>,
    /// The virtual desktop (`off` until first used, unless created with `"desktop": true`;
    /// `running`, `failed` with reason), when the instance is ready.
    pub desktop: Option<sandbox_agent::protocol::DesktopStatus>,
    /// Model tokens this instance has used.
    pub usage: UsageView,
    /// Every status change, oldest first.
    pub transitions: Vec<TransitionView>,
}

/// Token totals of an instance.
#[derive(Debug, Serialize)]
pub struct UsageView {
    pub input_tokens: i64,
    pub output_tokens: i64,
}

/// Body of `POST /api/instances` (may be empty).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateInstanceRequest {
    /// A display name (default `instance-<hex>`).
    pub name: Option<String>,
    /// An invite code to redeem when the account has no subscription.
    pub invite_code: Option<String>,
    /// Standing instructions for the agent, written to `/workspace/AGENTS.md`.
    pub instructions: Option<String>,
    /// Bring your own model provider (OpenAI-compatible) instead of the service default.
    pub provider: Option<ProviderRequest>,
    /// Start the virtual desktop with the sandbox, so the first `vnc/ws` connects at once
    /// (default `false`: it starts on first use, in about a second).
    #[serde(default)]
    pub desktop: bool,
}

/// A tenant's own model provider. The key is encrypted at rest and never shown again, nor
/// does it ever enter the sandbox.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderRequest {
    /// e.g. `https://api.openai.com/v1` (the part before `/chat/completions`).
    pub base_url: String,
    pub api_key: Option<String>,
    /// The provider's model id, e.g. `gpt-4.1-mini`.
    pub model: String,
}

/// Body of `PATCH /api/instances/{id}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchInstanceRequest {
    /// New instructions; written to `/workspace/AGENTS.md` at once (or at the next start).
    pub instructions: Option<String>,
}

const MAX_INSTRUCTIONS: usize = 100_000;

fn check_instructions(text: &str) -> ApiResult<()> {
    if text.chars().count() > MAX_INSTRUCTIONS {
        return Err(ApiError::validation(format!(
            "instructions may be at most {MAX_INSTRUCTIONS} characters"
        )));
    }
    Ok(())
}

/// Validate a BYOK provider. Loopback, private, link-local and metadata addresses are refused
/// unless `model.allow_private_base_urls` is set: the orchestrator makes these calls from its
/// own network.
fn check_provider(p: &ProviderRequest, allow_private: bool) -> ApiResult<()> {
    let url = reqwest::Url::parse(&p.base_url)
        .map_err(|e| ApiError::validation(format!("provider.base_url is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ApiError::validation("provider.base_url must be http(s)"));
    }
    let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']);
    let private = host.eq_ignore_ascii_case("localhost")
        || host.ends_with(".localhost")
        || host.ends_with(".internal")
        || match host.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(ip)) => {
                ip.is_loopback()
                    || ip.is_private()
                    || ip.is_link_local()
                    || ip.is_unspecified()
                    || ip.is_broadcast()
            }
            Ok(std::net::IpAddr::V6(ip)) => {
                ip.is_loopback()
                    || ip.is_unspecified()
                    || (ip.segments()[0] & 0xfe00) == 0xfc00
                    || (ip.segments()[0] & 0xffc0) == 0xfe80
            }
            Err(_) => false,
        };
    if private && !allow_private {
        return Err(ApiError::validation(
            "provider.base_url must be a public address (loopback, private and link-local addresses are refused)",
        ));
    }
    if p.model.trim().is_empty() || p.model.len() > 200 {
        return Err(ApiError::validation(
            "provider.model must be 1 to 200 characters",
        ));
    }
    Ok(())
}

/// `GET /api/instances`: this account's instances, oldest first.
#[tracing::instrument(skip_all, fields(account = %caller.owner.id()))]
async fn list(state: web::Data<AppState>, caller: Caller) -> ApiResult<HttpResponse> {
    let items: Vec<InstanceView> = state
        .store
        .list_instances(&caller.owner)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(HttpResponse::Ok().json(items))
}

/// `POST /api/instances`: create an instance. `201` at once with status `provisioning`;
/// poll `GET .../status` until `ready`. `403` when the account may not create one, `503`
/// when the node is full.
#[tracing::instrument(skip_all, fields(account = %caller.owner.id()))]
async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let req: CreateInstanceRequest = optional_json(&body)?;
    if let Some(name) = &req.name {
        let n = name.trim();
        if n.is_empty() || n.chars().count() > 64 || n.chars().any(char::is_control) {
            return Err(ApiError::validation(
                "name must be 1 to 64 printable characters",
            ));
        }
    }
    if let Some(text) = &req.instructions {
        check_instructions(text)?;
    }
    let mut new = NewInstance {
        name: req
            .name
            .as_deref()
            .map(str::trim)
            .unwrap_or_default()
            .to_owned(),
        instructions: req.instructions,
        desktop: req.desktop,
        ..Default::default()
    };
    if let Some(p) = &req.provider {
        check_provider(p, state.settings.model.allow_private_base_urls)?;
        new.model_base_url = Some(p.base_url.trim_end_matches('/').to_owned());
        new.model_id = Some(p.model.trim().to_owned());
        new.model_api_key_enc = p.api_key.as_deref().map(|k| state.cipher.encrypt(k));
    }
    let m = state
        .manager
        .create(&caller, new, req.invite_code.as_deref())
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/instances/{}", m.id)))
        .json(InstanceView::from(m)))
}

/// `GET /api/instances/{id}`.
#[tracing::instrument(skip_all, fields(account = %caller.owner.id()))]
async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = parse_id(&path, "instance")?;
    let m = state
        .store
        .get_instance(&caller.owner, id)
        .await?
        .ok_or_else(|| ApiError::not_found("instance"))?;
    Ok(HttpResponse::Ok().json(InstanceView::from(m)))
}

/// `PATCH /api/instances/{id}`: change the instructions (`/workspace/AGENTS.md`).
#[tracing::instrument(skip_all, fields(account = %caller.owner.id()))]
async fn patch(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let id = parse_id(&path, "instance")?;
    let req: PatchInstanceRequest = optional_json(&body)?;
    if let Some(text) = &req.instructions {
        check_instructions(text)?;
        state
            .manager
            .set_instructions(&caller.owner, id, text)
            .await?;
    }
    let m = state
        .store
        .get_instance(&caller.owner, id)
        .await?
        .ok_or_else(|| ApiError::not_found("instance"))?;
    Ok(HttpResponse::Ok().json(InstanceView::from(m)))
}

/// `GET /api/instances/{id}/status`.
#[tracing::instrument(skip_all, fields(account = %caller.owner.id()))]
async fn status(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = parse_id(&path, "instance")?;
    let m = state
        .store
        .get_instance(&caller.owner, id)
        .await?
        .ok_or_else(|| ApiError::not_found("instance"))?;
    let transitions = state
        .store
        .events(&caller.owner, id)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    let (gateway, desktop) = match state.manager.serving_endpoint(id) {
        Some(ep) if m.status == "ready" => tokio::join!(
            crate::agent_client::gateway_status(&ep),
            crate::agent_client::desktop_status(&ep)
        ),
        _ => (None, None),
    };
    Ok(HttpResponse::Ok().json(StatusView {
        gateway,
        desktop,
        usage: UsageView {
            input_tokens: m.tokens_in,
            output_tokens: m.tokens_out,
        },
        id: m.id,
        ready: m.status == "ready",
        status: m.status,
        status_reason: m.status_reason,
        desired_state: m.desired_state,
        sandbox_id: m.sandbox_id,
        updated_at: timestamp(&m.updated_at),
        transitions,
    }))
}

/// `DELETE /api/instances/{id}`: stop it and delete its workspace for good. `204`.
#[tracing::instrument(skip_all, fields(account = %caller.owner.id()))]
async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = parse_id(&path, "instance")?;
    state.manager.delete(&caller.owner, id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/instances/{id}/reboot`: replace its sandbox with a fresh one; the workspace
/// is kept. `202` with status `rebooting`.
#[tracing::instrument(skip_all, fields(account = %caller.owner.id()))]
async fn reboot(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = parse_id(&path, "instance")?;
    let m = state.manager.reboot(&caller.owner, id).await?;
    Ok(HttpResponse::Accepted().json(InstanceView::from(m)))
}

/// `POST /api/instances/{id}/shutdown`: stop its sandbox, keep its workspace. `202` with
/// status `stopping` (or the current status if already stopped).
#[tracing::instrument(skip_all, fields(account = %caller.owner.id()))]
async fn shutdown(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = parse_id(&path, "instance")?;
    let m = state.manager.shutdown(&caller.owner, id).await?;
    Ok(HttpResponse::Accepted().json(InstanceView::from(m)))
}

/// `POST /api/instances/{id}/start`: start a stopped or failed instance. `202` with status
/// `starting` (or the current status if already running).
#[tracing::instrument(skip_all, fields(account = %caller.owner.id()))]
async fn start(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = parse_id(&path, "instance")?;
    let m = state.manager.start(&caller.owner, id).await?;
    Ok(HttpResponse::Accepted().json(InstanceView::from(m)))
}
