//! Service metadata and probes: `GET /api`, `/healthz`, `/readyz`, and `/metrics` (served by
//! the Prometheus middleware `startup.rs` installs; documented here).

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::Api;
use crate::instances::pool::PoolStats;
use crate::startup::AppState;

pub fn configure(api: &mut Api<'_>) {
    api.resource("/api", |r| r.get(api_root));
    api.resource("/healthz", |r| r.get(healthz));
    api.resource("/readyz", |r| r.get(readyz));
}

/// The resource map from the API contract (seed 001).
pub const RESOURCES: &[&str] = &[
    "/api/instances",
    "/api/instances/{instanceId}",
    "/api/instances/{instanceId}/chat",
    "/api/instances/{instanceId}/chat/stream",
    "/api/instances/{instanceId}/chat/events",
    "/api/instances/{instanceId}/chat/messages",
    "/api/instances/{instanceId}/files",
    "/api/instances/{instanceId}/files/read",
    "/api/instances/{instanceId}/files/write",
    "/api/instances/{instanceId}/terminal/exec",
    "/api/instances/{instanceId}/terminal/ws",
    "/api/instances/{instanceId}/vnc/ws",
];

/// `GET /api`: what this service is and how to use it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiRoot {
    /// `OpenClaw as a Service`.
    pub name: &'static str,
    /// The service's version.
    #[schema(example = "0.1.0")]
    pub version: &'static str,
    pub runtime: RuntimeInfo,
    /// `sqlite` or `postgres`.
    pub database: &'static str,
    pub authentication: AuthenticationInfo,
    pub access: AccessInfo,
    pub rate_limits: RateLimitsInfo,
    pub limits: LimitsInfo,
    pub model: ModelInfo,
    pub features: FeaturesInfo,
    /// Sandboxes kept booted and warmed for creates and wakes (`pool.size`; on Kubernetes, per
    /// replica, and a wake first copies the instance's files onto the pooled pod's volume).
    /// With none ready, a create or wake is a cold start (the agent boots in ~20 s).
    pub warm_pool: PoolStats,
    pub documentation: DocumentationInfo,
    /// The resource map of the API contract (seed 001); `{instanceId}` is an instance's `id`.
    pub resources: &'static [&'static str],
}

/// Where sandboxes run.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuntimeInfo {
    /// `local` (bubblewrap on this node).
    #[schema(example = "local")]
    pub kind: &'static str,
    /// How sandboxes are isolated, in words.
    pub sandbox: String,
}

/// How to authenticate.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthenticationInfo {
    /// `Authorization: Bearer <api key>`.
    pub header: &'static str,
    /// Where keys are managed: `/api/keys` (or the `/account` page).
    pub keys: &'static str,
}

/// Who may create instances, and how accounts come to be: what a `403` on create means.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessInfo {
    /// `open` (any account, within its quota), `invite_or_subscription` (an active
    /// subscription or a redeemed invite code) or `subscription`. Admin accounts are never
    /// gated; the per-account quota applies to all.
    #[schema(example = "invite_or_subscription")]
    pub gate: &'static str,
    /// Anyone may sign up at `/account`; otherwise operators create accounts.
    pub sign_up: bool,
    /// Subscriptions can be bought (`POST /api/billing/checkout`).
    pub billing: bool,
    /// Where accounts sign in and manage keys, billing and invite codes: `/account`.
    pub account_page: &'static str,
    /// The permissions keys may hold.
    pub permissions: Vec<&'static str>,
}

/// Calls a minute per key (`0` = unlimited); see the `X-RateLimit-*` headers.
#[derive(Debug, Serialize, ToSchema)]
pub struct RateLimitsInfo {
    pub chat_per_min: u32,
    pub read_per_min: u32,
    pub write_per_min: u32,
}

/// This node's limits.
#[derive(Debug, Serialize, ToSchema)]
pub struct LimitsInfo {
    /// Instances running at once on this node (`503 CAPACITY_EXHAUSTED` beyond).
    pub max_running_instances: u64,
    /// The default per-account instance quota (`403 QUOTA_EXCEEDED` beyond).
    pub max_instances_per_account: u64,
    /// The largest `timeout_ms` of `terminal/exec`.
    pub exec_max_timeout_ms: u64,
    /// The largest file `files/read` returns.
    pub read_max_bytes: u64,
    /// How long a dropped terminal waits for a reattach.
    pub terminal_reattach_grace_s: u64,
    /// Output replayed on a terminal reattach.
    pub terminal_scrollback_bytes: usize,
    /// Terminals at once per instance.
    pub terminals_per_instance: usize,
    /// Lifetime of a websocket token (`vnc-url`, `ws-token`).
    pub ws_token_ttl_s: u64,
    /// Seconds with nothing in flight before an instance sleeps (`0` = never); instances may
    /// set their own (`idle_timeout_s`).
    pub idle_timeout_s: u64,
}

/// The default model provider.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelInfo {
    /// `configured`, or `scripted stand-in (no provider configured)`.
    pub provider: &'static str,
    /// Instances may bring their own provider (`provider` on create).
    pub byok: bool,
}

/// What this node offers.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeaturesInfo {
    /// Chat with the OpenClaw agent (OpenClaw is installed).
    pub chat: bool,
    /// Interactive terminals (`terminal/ws`).
    pub terminal_ws: bool,
    /// The virtual desktop (`vnc-url`, `vnc/ws`): Xvfb and x11vnc are installed.
    pub desktop: bool,
    /// Where the web console is: `/console`.
    pub console: &'static str,
    pub billing: bool,
    pub kubernetes: bool,
}

/// Where the API is described.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentationInfo {
    /// The OpenAPI 3.1 spec as JSON: `/api/openapi.json`.
    pub openapi_json: &'static str,
    /// The same spec as YAML: `/api/openapi.yaml`.
    pub openapi_yaml: &'static str,
    /// The interactive reference: `/docs`.
    pub ui: &'static str,
}

/// Service metadata
///
/// Runtime metadata, limits, enabled features and the resource map, so a client can discover
/// the contract. Open: no key needed.
#[utoipa::path(
    get,
    path = "/api",
    tag = "meta",
    operation_id = "get_api_root",
    responses(
        (status = 200, description = "What this service is and how to use it.", body = ApiRoot,
            example = json!({
                "name": "OpenClaw as a Service",
                "version": "0.1.0",
                "runtime": {"kind": "local", "sandbox": "bubblewrap (unprivileged uid, own PID/mount/network namespaces, no capabilities); limits: memory 2048 MiB, 512 pids"},
                "database": "sqlite",
                "authentication": {"header": "Authorization: Bearer <api key>", "keys": "/api/keys"},
                "access": {"gate": "open", "sign_up": true, "billing": false, "account_page": "/account", "permissions": ["instances:read", "instances:write", "chat", "files", "terminal", "admin"]},
                "rate_limits": {"chat_per_min": 100, "read_per_min": 1000, "write_per_min": 600},
                "limits": {"max_running_instances": 12, "max_instances_per_account": 5, "exec_max_timeout_ms": 600000, "read_max_bytes": 10485760, "terminal_reattach_grace_s": 60, "terminal_scrollback_bytes": 65536, "terminals_per_instance": 32, "ws_token_ttl_s": 300, "idle_timeout_s": 900},
                "model": {"provider": "configured", "byok": true},
                "features": {"chat": true, "terminal_ws": true, "desktop": true, "console": "/console", "billing": false, "kubernetes": false},
                "warm_pool": {"size": 2, "ready": 2, "warming": 0},
                "documentation": {"openapi_json": "/api/openapi.json", "openapi_yaml": "/api/openapi.yaml", "ui": "/docs"},
                "resources": ["/api/instances", "/api/instances/{instanceId}", "/api/instances/{instanceId}/chat"]
            })),
    ),
)]
#[tracing::instrument(skip_all)]
async fn api_root(state: web::Data<AppState>) -> HttpResponse {
    use sandbox_agent::protocol::limits;
    HttpResponse::Ok().json(ApiRoot {
        name: "OpenClaw as a Service",
        version: env!("CARGO_PKG_VERSION"),
        runtime: RuntimeInfo {
            kind: state.manager.runtime().kind(),
            sandbox: state.sandbox_description.clone(),
        },
        database: state.store.backend(),
        authentication: AuthenticationInfo {
            header: "Authorization: Bearer <api key>",
            keys: "/api/keys",
        },
        access: AccessInfo {
            gate: state.settings.access.gate.as_str(),
            sign_up: state.settings.accounts.sign_up,
            billing: state.billing.is_some(),
            account_page: "/account",
            permissions: crate::auth::Perms::all().names(),
        },
        rate_limits: RateLimitsInfo {
            chat_per_min: state.settings.rate_limits.chat_per_min,
            read_per_min: state.settings.rate_limits.read_per_min,
            write_per_min: state.settings.rate_limits.write_per_min,
        },
        limits: LimitsInfo {
            max_running_instances: state.settings.limits.max_running_instances,
            max_instances_per_account: state.settings.limits.max_instances_per_account,
            exec_max_timeout_ms: limits::EXEC_MAX_TIMEOUT_MS,
            read_max_bytes: limits::READ_MAX_BYTES,
            terminal_reattach_grace_s: limits::PTY_DEFAULT_GRACE_SECS,
            terminal_scrollback_bytes: limits::PTY_SCROLLBACK_BYTES,
            terminals_per_instance: limits::PTY_MAX_SESSIONS,
            ws_token_ttl_s: state.settings.console.ws_token_ttl_s,
            idle_timeout_s: state.settings.limits.idle_timeout_s,
        },
        model: ModelInfo {
            provider: if state.scripted_model.is_some() {
                "scripted stand-in (no provider configured)"
            } else {
                "configured"
            },
            byok: true,
        },
        features: FeaturesInfo {
            chat: state.settings.local.openclaw_dir.is_some(),
            terminal_ws: true,
            desktop: desktop_available(),
            console: "/console",
            billing: state.billing.is_some(),
            kubernetes: state.manager.runtime().kind() == "kubernetes",
        },
        warm_pool: state.manager.pool_stats(),
        documentation: DocumentationInfo {
            openapi_json: super::openapi::JSON_PATH,
            openapi_yaml: super::openapi::YAML_PATH,
            ui: super::openapi::DOCS_PATH,
        },
        resources: RESOURCES,
    })
}

/// Whether sandboxes can run a desktop: the local runtime binds the host's `/usr` into them.
fn desktop_available() -> bool {
    ["/usr/bin/Xvfb", "/usr/bin/x11vnc"]
        .iter()
        .all(|p| std::path::Path::new(p).exists())
}

/// `GET /healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// `GET /readyz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `database` and `reconciled` both.
    pub ready: bool,
    /// The database answers.
    pub database: bool,
    /// Start-up reconciliation (re-adopting sandboxes) is done.
    pub reconciled: bool,
}

/// Liveness probe
///
/// The process is alive. Open.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "meta",
    responses((status = 200, description = "Alive.", body = Health)),
)]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// Readiness probe
///
/// The database answers and start-up reconciliation is done: the node can serve. Open.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "meta",
    responses(
        (status = 200, description = "Ready.", body = Readiness,
            example = json!({"ready": true, "database": true, "reconciled": true})),
        (status = 503, description = "Not ready yet (or the database is down); the body says which part.",
            body = Readiness, example = json!({"ready": false, "database": true, "reconciled": false})),
    ),
)]
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let db = state.store.ping().await.is_ok();
    let reconciled = state.reconciled.load(std::sync::atomic::Ordering::Acquire);
    let body = Readiness {
        ready: db && reconciled,
        database: db,
        reconciled,
    };
    if db && reconciled {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Prometheus metrics
///
/// Request counts and latency histograms (`ocaas_http_requests_total`,
/// `ocaas_http_requests_duration_seconds`, by endpoint, method and status) in the Prometheus
/// text format. Open. Served by the metrics middleware (`startup.rs`); this stub carries its
/// description.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "meta",
    responses(
        (status = 200, description = "Prometheus text exposition format.", body = String,
            content_type = "text/plain; version=0.0.4",
            example = "# HELP ocaas_http_requests_total Total number of HTTP requests\n# TYPE ocaas_http_requests_total counter\nocaas_http_requests_total{endpoint=\"/api/instances\",method=\"GET\",status=\"200\"} 3\n"),
    ),
)]
#[allow(dead_code)]
fn metrics() {}
