//! Service metadata and probes: `GET /api`, `/healthz`, `/readyz`.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::startup::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api", web::get().to(api_root))
        .route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz));
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

/// `GET /api`: runtime metadata and the resource map, so a client can discover the contract.
/// Open (no key needed).
#[tracing::instrument(skip_all)]
async fn api_root(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "name": "OpenClaw as a Service",
        "version": env!("CARGO_PKG_VERSION"),
        "runtime": {
            "kind": state.manager.runtime().kind(),
            "sandbox": state.sandbox_description,
        },
        "database": state.store.backend(),
        "authentication": {
            "header": "Authorization: Bearer <api key>",
            "keys": "/api/keys",
        },
        "limits": {
            "max_running_instances": state.settings.limits.max_running_instances,
            "max_instances_per_account": state.settings.limits.max_instances_per_account,
            "exec_max_timeout_ms": sandbox_agent::protocol::limits::EXEC_MAX_TIMEOUT_MS,
            "read_max_bytes": sandbox_agent::protocol::limits::READ_MAX_BYTES,
            "terminal_reattach_grace_s": sandbox_agent::protocol::limits::PTY_DEFAULT_GRACE_SECS,
            "terminal_scrollback_bytes": sandbox_agent::protocol::limits::PTY_SCROLLBACK_BYTES,
            "terminals_per_instance": sandbox_agent::protocol::limits::PTY_MAX_SESSIONS,
            "ws_token_ttl_s": state.settings.console.ws_token_ttl_s,
        },
        "model": {
            "provider": if state.scripted_model.is_some() { "scripted stand-in (no provider configured)" } else { "configured" },
            "byok": true,
        },
        "features": {
            "chat": state.settings.local.openclaw_dir.is_some(),
            "terminal_ws": true,
            "desktop": desktop_available(),
            "console": "/console",
            "billing": false,
            "kubernetes": false,
        },
        "resources": RESOURCES,
    }))
}

/// Whether sandboxes can run a desktop: the local runtime binds the host's `/usr` into them.
fn desktop_available() -> bool {
    ["/usr/bin/Xvfb", "/usr/bin/x11vnc"]
        .iter()
        .all(|p| std::path::Path::new(p).exists())
}

/// `GET /healthz`: the process is alive.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// `GET /readyz`: the database answers and start-up reconciliation is done.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let db = state.store.ping().await.is_ok();
    let reconciled = state.reconciled.load(std::sync::atomic::Ordering::Acquire);
    let body = json!({"ready": db && reconciled, "database": db, "reconciled": reconciled});
    if db && reconciled {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
