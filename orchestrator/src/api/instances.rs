//! Instances (seed 001): list, create, inspect, delete, reboot, shutdown, start, status.

use actix_web::{HttpRequest, HttpResponse, web};
use sandbox_agent::protocol::{DesktopStatus, ErrorEnvelope, GatewayStatus};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::openapi::{InstancePath, errors};
use super::{Api, optional_json, parse_id, timestamp};
use crate::auth::{Authed, perm};
use crate::error::{ApiError, ApiResult};
use crate::startup::AppState;
use crate::store::NewInstance;
use crate::store::entities::{instance, instance_event};

pub fn configure(api: &mut Api<'_>) {
    api.resource("/api/instances", |r| r.get(list).post(create));
    api.resource("/api/instances/{id}", |r| {
        r.get(get).patch(patch).delete(delete)
    });
    api.resource("/api/instances/{id}/status", |r| r.get(status));
    api.resource("/api/instances/{id}/reboot", |r| r.post(reboot));
    api.resource("/api/instances/{id}/shutdown", |r| r.post(shutdown));
    api.resource("/api/instances/{id}/start", |r| r.post(start));
}

/// An instance, in the seed's shape (plus `name` and `status_reason`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"id": "3f2b8c4e-1d6a-4f7b-9e2c-5a8d0b1c2e3f", "name": "instance-3f2b8c", "status": "ready", "status_reason": null, "sandbox_id": "sandy-6e1f0a2b9c4d", "desktop": false, "created_at": "2026-03-20T18:22:54.000Z", "updated_at": "2026-03-20T18:22:56.120Z"}))]
pub struct InstanceView {
    pub id: Uuid,
    pub name: String,
    /// `provisioning`, `starting`, `ready`, `rebooting`, `stopping`, `stopped`, `failed`
    /// or `deleting`.
    #[schema(example = "ready")]
    pub status: String,
    /// Why the instance is in this status (set for `failed`).
    pub status_reason: Option<String>,
    /// The sandbox serving this instance (changes on every start).
    pub sandbox_id: Option<String>,
    /// The virtual desktop starts with the sandbox (else on the first `vnc-url` or `vnc/ws`).
    pub desktop: bool,
    /// Seconds idle before the instance sleeps (`0` = never); `null` = the service default
    /// (`GET /api` → `limits.idle_timeout_s`).
    pub idle_timeout_s: Option<i64>,
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
            idle_timeout_s: m.idle_timeout_s,
            created_at: timestamp(&m.created_at),
            updated_at: timestamp(&m.updated_at),
        }
    }
}

/// One persisted status transition.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransitionView {
    /// The status before (`null` for the first transition).
    pub from: Option<String>,
    /// The status after.
    pub to: String,
    /// Why, when there is more to say (e.g. a failure).
    pub reason: Option<String>,
    /// When.
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
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "3f2b8c4e-1d6a-4f7b-9e2c-5a8d0b1c2e3f", "status": "ready", "status_reason": null,
    "desired_state": "running", "ready": true, "sandbox_id": "sandy-6e1f0a2b9c4d",
    "updated_at": "2026-03-20T18:22:56.120Z",
    "gateway": {"state": "ready", "restarts": 0, "boot_ms": 14210, "rss_bytes": 412000000},
    "desktop": {"state": "off", "width": 1280, "height": 800},
    "usage": {"input_tokens": 1532, "output_tokens": 418},
    "transitions": [
        {"from": null, "to": "provisioning", "reason": null, "at": "2026-03-20T18:22:54.000Z"},
        {"from": "provisioning", "to": "starting", "reason": null, "at": "2026-03-20T18:22:54.010Z"},
        {"from": "starting", "to": "ready", "reason": null, "at": "2026-03-20T18:22:56.120Z"}
    ]
}))]
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
    pub gateway: Option<GatewayStatus>,
    /// The virtual desktop (`off` until first used, unless created with `"desktop": true`;
    /// `running`, `failed` with reason), when the instance is ready.
    pub desktop: Option<DesktopStatus>,
    /// Model tokens this instance has used.
    pub usage: UsageView,
    /// Every status change, oldest first.
    pub transitions: Vec<TransitionView>,
}

/// Token totals of an instance.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageView {
    pub input_tokens: i64,
    pub output_tokens: i64,
}

/// Body of `POST /api/instances` (may be empty).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "docs-bot", "instructions": "You maintain the docs in /workspace/docs. Answer briefly."}))]
pub struct CreateInstanceRequest {
    /// A display name, 1 to 64 printable characters (default `instance-<hex>`).
    pub name: Option<String>,
    /// An invite code to redeem for the account (under the `invite_or_subscription` gate, when
    /// it has no subscription and holds no invite yet; ignored under `open`).
    pub invite_code: Option<String>,
    /// Standing instructions for the agent, written to `/workspace/AGENTS.md` (at most
    /// 100 000 characters).
    pub instructions: Option<String>,
    /// Bring your own model provider (OpenAI-compatible) instead of the service default.
    pub provider: Option<ProviderRequest>,
    /// Start the virtual desktop with the sandbox, so the first `vnc/ws` connects at once
    /// (default `false`: it starts on first use, in about a second).
    #[serde(default)]
    pub desktop: bool,
    /// Seconds with nothing in flight before the instance sleeps (no process remains; any
    /// call wakes it); `0` = never sleep; at most 30 days. Default: the service's setting.
    pub idle_timeout_s: Option<u64>,
}

/// A tenant's own model provider. The key is encrypted at rest and never shown again, nor
/// does it ever enter the sandbox.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"base_url": "https://api.openai.com/v1", "api_key": "sk-...", "model": "gpt-4.1-mini"}))]
pub struct ProviderRequest {
    /// e.g. `https://api.openai.com/v1` (the part before `/chat/completions`). Must be a
    /// public http(s) address unless the service allows private ones.
    pub base_url: String,
    /// Sent as `Authorization: Bearer` to the provider. Write-only: never returned.
    #[schema(write_only)]
    pub api_key: Option<String>,
    /// The provider's model id, e.g. `gpt-4.1-mini`.
    pub model: String,
}

/// Body of `PATCH /api/instances/{id}`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"instructions": "Reply in French. Keep notes in /workspace/notes.md."}))]
pub struct PatchInstanceRequest {
    /// New instructions (at most 100 000 characters); written to `/workspace/AGENTS.md` at
    /// once (or at the next start).
    pub instructions: Option<String>,
    /// A new idle timeout in seconds (`0` = never sleep; at most 30 days); applies at once.
    pub idle_timeout_s: Option<u64>,
}

/// The longest idle timeout an instance may ask for (30 days).
const MAX_IDLE_TIMEOUT_S: u64 = 30 * 24 * 3600;

fn check_idle_timeout(seconds: Option<u64>) -> ApiResult<()> {
    if seconds.is_some_and(|s| s > MAX_IDLE_TIMEOUT_S) {
        return Err(ApiError::validation(format!(
            "idle_timeout_s must be at most {MAX_IDLE_TIMEOUT_S} (30 days); 0 = never sleep"
        )));
    }
    Ok(())
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

/// List instances
///
/// This account's instances, oldest first, a page at a time: at most `limit` (default 100).
/// When there are more, the response has a `Link: <...>; rel="next"` header with the URL of the
/// next page (the same query with `after` = the last `id` of this page).
#[utoipa::path(
    get,
    path = "/api/instances",
    tag = "instances",
    operation_id = "list_instances",
    security(("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "The account's instances (one page).", body = [InstanceView],
            headers(("Link" = String, description = "`</api/instances?limit=100&after=<id>>; rel=\"next\"` when more instances follow."))),
        (status = 400, description = errors::BAD_QUERY, body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`: `limit` out of range, or `after` is not one of this account's instances.", body = ErrorEnvelope),
    ),
)]
#[tracing::instrument(skip_all, fields(account = %caller.owner.id()))]
async fn list(
    state: web::Data<AppState>,
    caller: Authed<perm::InstancesRead>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let q: ListQuery = super::query(&req)?;
    let limit = q.limit.unwrap_or(LIST_DEFAULT);
    if !(1..=LIST_MAX).contains(&limit) {
        return Err(ApiError::validation(format!(
            "limit must be 1 to {LIST_MAX}"
        )));
    }
    let unknown_after = || ApiError::validation("after must be the id of one of your instances");
    let after = match &q.after {
        Some(raw) => Some(raw.parse::<Uuid>().map_err(|_| unknown_after())?),
        None => None,
    };
    // One more than asked, to know whether another page follows.
    let mut rows = state
        .store
        .list_instances_page(&caller.owner, after, limit + 1)
        .await?
        .ok_or_else(unknown_after)?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let mut resp = HttpResponse::Ok();
    if more && let Some(last) = rows.last() {
        resp.insert_header((
            "Link",
            format!(
                "</api/instances?limit={limit}&after={}>; rel=\"next\"",
                last.id
            ),
        ));
    }
    let items: Vec<InstanceView> = rows.into_iter().map(Into::into).collect();
    Ok(resp.json(items))
}

/// Default and largest page of `GET /api/instances`.
const LIST_DEFAULT: u64 = 100;
const LIST_MAX: u64 = 1000;

/// `GET /api/instances` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// At most this many instances (1–1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
    /// Only instances after this one: the last `id` of the previous page.
    pub after: Option<String>,
}

/// Create an instance
///
/// `201` at once with status `provisioning` and a `Location` header; poll
/// `GET /api/instances/{id}/status` until `ready` (a few seconds). The OpenClaw gateway inside
/// boots in about 15 s more; chat turns sent earlier wait for it.
///
/// Who may create depends on the gate `GET /api` names: under `invite_or_subscription` an
/// `invite_code` is redeemed for the account (once; its later creates need no code). A full
/// node is `503` and uses up no invite redemption.
#[utoipa::path(
    post,
    path = "/api/instances",
    tag = "instances",
    operation_id = "create_instance",
    security(("bearer" = [])),
    request_body(content = Option<CreateInstanceRequest>, description = "Optional; an empty body is `{}`."),
    responses(
        (status = 201, description = "Created, provisioning.", body = InstanceView,
            headers(("Location" = String, description = "`/api/instances/{id}`")),
            example = json!({"id": "3f2b8c4e-1d6a-4f7b-9e2c-5a8d0b1c2e3f", "name": "docs-bot", "status": "provisioning", "status_reason": null, "sandbox_id": "sandy-6e1f0a2b9c4d", "desktop": false, "created_at": "2026-03-20T18:22:54.000Z", "updated_at": "2026-03-20T18:22:54.000Z"})),
        (status = 400, description = errors::INVALID_JSON, body = ErrorEnvelope),
        (status = 403, description = "No access (see `GET /api` → `access.gate`). `SUBSCRIPTION_REQUIRED`: the gate needs an active subscription (or, under `invite_or_subscription`, an invite code). `INVITE_INVALID`, `INVITE_EXPIRED`, `INVITE_EXHAUSTED`: the `invite_code` is unknown, expired or used up. `QUOTA_EXCEEDED`: the account has as many instances as it may have. `FORBIDDEN`: the key lacks `instances:write`.", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`: a bad `name`, `instructions` too long, a `provider` with a bad or private `base_url` or `model`, or an unknown field.", body = ErrorEnvelope),
        (status = 503, description = "`CAPACITY_EXHAUSTED`: the node runs as many instances as it can; retry after `retryAfter` seconds.", body = ErrorEnvelope,
            headers(("Retry-After" = u64, description = "Seconds to wait."))),
    ),
)]
#[tracing::instrument(skip_all, fields(account = %caller.owner.id()))]
async fn create(
    state: web::Data<AppState>,
    caller: Authed<perm::InstancesWrite>,
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
        idle_timeout_s: req.idle_timeout_s.map(|s| s as i64),
        ..Default::default()
    };
    check_idle_timeout(req.idle_timeout_s)?;
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

/// Get an instance
#[utoipa::path(
    get,
    path = "/api/instances/{id}",
    tag = "instances",
    operation_id = "get_instance",
    security(("bearer" = [])),
    params(InstancePath),
    responses(
        (status = 200, description = "The instance.", body = InstanceView),
        (status = 404, description = errors::NO_INSTANCE, body = ErrorEnvelope),
    ),
)]
#[tracing::instrument(skip_all, fields(account = %caller.owner.id()))]
async fn get(
    state: web::Data<AppState>,
    caller: Authed<perm::InstancesRead>,
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

/// Change an instance
///
/// Today: its instructions, written to `/workspace/AGENTS.md` at once when it runs (else at its
/// next start); OpenClaw reads them on its next turn.
#[utoipa::path(
    patch,
    path = "/api/instances/{id}",
    tag = "instances",
    operation_id = "update_instance",
    security(("bearer" = [])),
    params(InstancePath),
    request_body(content = Option<PatchInstanceRequest>, description = "Optional; an empty body changes nothing."),
    responses(
        (status = 200, description = "The instance after the change.", body = InstanceView),
        (status = 400, description = errors::INVALID_JSON, body = ErrorEnvelope),
        (status = 404, description = errors::NO_INSTANCE, body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`: `instructions` too long, or an unknown field.", body = ErrorEnvelope),
    ),
)]
#[tracing::instrument(skip_all, fields(account = %caller.owner.id()))]
async fn patch(
    state: web::Data<AppState>,
    caller: Authed<perm::InstancesWrite>,
    path: web::Path<String>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let id = parse_id(&path, "instance")?;
    let req: PatchInstanceRequest = optional_json(&body)?;
    check_idle_timeout(req.idle_timeout_s)?;
    if let Some(seconds) = req.idle_timeout_s {
        state
            .manager
            .set_idle_timeout(&caller.owner, id, seconds)
            .await?;
    }
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

/// An instance's status
///
/// The status and its reason, what the service converges it to, whether it serves calls now,
/// the OpenClaw gateway's and the desktop's state (when ready), token usage, and every
/// transition with its time.
#[utoipa::path(
    get,
    path = "/api/instances/{id}/status",
    tag = "instances",
    operation_id = "get_instance_status",
    security(("bearer" = [])),
    params(InstancePath),
    responses(
        (status = 200, description = "The status and its history.", body = StatusView),
        (status = 404, description = errors::NO_INSTANCE, body = ErrorEnvelope),
    ),
)]
#[tracing::instrument(skip_all, fields(account = %caller.owner.id()))]
async fn status(
    state: web::Data<AppState>,
    caller: Authed<perm::InstancesRead>,
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

/// Delete an instance
///
/// Stops it and deletes its workspace and state for good.
#[utoipa::path(
    delete,
    path = "/api/instances/{id}",
    tag = "instances",
    operation_id = "delete_instance",
    security(("bearer" = [])),
    params(InstancePath),
    responses(
        (status = 204, description = "Deleted."),
        (status = 404, description = errors::NO_INSTANCE, body = ErrorEnvelope),
    ),
)]
#[tracing::instrument(skip_all, fields(account = %caller.owner.id()))]
async fn delete(
    state: web::Data<AppState>,
    caller: Authed<perm::InstancesWrite>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = parse_id(&path, "instance")?;
    state.manager.delete(&caller.owner, id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Reboot an instance
///
/// Replaces its sandbox with a fresh one; the workspace and state are kept. `202` with status
/// `rebooting`; poll the status until `ready`.
#[utoipa::path(
    post,
    path = "/api/instances/{id}/reboot",
    tag = "instances",
    operation_id = "reboot_instance",
    security(("bearer" = [])),
    params(InstancePath),
    responses(
        (status = 202, description = "Rebooting.", body = InstanceView),
        (status = 404, description = errors::NO_INSTANCE, body = ErrorEnvelope),
        (status = 409, description = "`INSTANCE_NOT_RUNNING`: it is stopped (use `start`). `CONFLICT`: it is being deleted.", body = ErrorEnvelope),
    ),
)]
#[tracing::instrument(skip_all, fields(account = %caller.owner.id()))]
async fn reboot(
    state: web::Data<AppState>,
    caller: Authed<perm::InstancesWrite>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = parse_id(&path, "instance")?;
    let m = state.manager.reboot(&caller.owner, id).await?;
    Ok(HttpResponse::Accepted().json(InstanceView::from(m)))
}

/// Shut an instance down
///
/// Stops its sandbox and keeps its workspace. `202` with status `stopping` (or the current
/// status if already stopped).
#[utoipa::path(
    post,
    path = "/api/instances/{id}/shutdown",
    tag = "instances",
    operation_id = "shutdown_instance",
    security(("bearer" = [])),
    params(InstancePath),
    responses(
        (status = 202, description = "Stopping.", body = InstanceView),
        (status = 404, description = errors::NO_INSTANCE, body = ErrorEnvelope),
        (status = 409, description = "`CONFLICT`: it is being deleted.", body = ErrorEnvelope),
    ),
)]
#[tracing::instrument(skip_all, fields(account = %caller.owner.id()))]
async fn shutdown(
    state: web::Data<AppState>,
    caller: Authed<perm::InstancesWrite>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = parse_id(&path, "instance")?;
    let m = state.manager.shutdown(&caller.owner, id).await?;
    Ok(HttpResponse::Accepted().json(InstanceView::from(m)))
}

/// Start an instance
///
/// Starts a stopped or failed instance. `202` with status `starting` (or the current status
/// if already running).
#[utoipa::path(
    post,
    path = "/api/instances/{id}/start",
    tag = "instances",
    operation_id = "start_instance",
    security(("bearer" = [])),
    params(InstancePath),
    responses(
        (status = 202, description = "Starting.", body = InstanceView),
        (status = 404, description = errors::NO_INSTANCE, body = ErrorEnvelope),
        (status = 409, description = "`CONFLICT`: it is still stopping, or being deleted.", body = ErrorEnvelope),
        (status = 503, description = "`CAPACITY_EXHAUSTED`: the node runs as many instances as it can; retry after `retryAfter` seconds.", body = ErrorEnvelope,
            headers(("Retry-After" = u64, description = "Seconds to wait."))),
    ),
)]
#[tracing::instrument(skip_all, fields(account = %caller.owner.id()))]
async fn start(
    state: web::Data<AppState>,
    caller: Authed<perm::InstancesWrite>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = parse_id(&path, "instance")?;
    let m = state.manager.start(&caller.owner, id).await?;
    Ok(HttpResponse::Accepted().json(InstanceView::from(m)))
}
