//! Files and exec (seed 001), relayed to the instance's sandbox-agent.
//!
//! Request and response bodies are `sandbox_agent::protocol` types; the orchestrator checks
//! the key and the instance's ownership and state, then streams the call through.

use actix_web::{HttpRequest, HttpResponse, web};
use sandbox_agent::protocol::routes;

use super::parse_id;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::relay::relay;
use crate::startup::AppState;

/// (customer path suffix, method, agent route).
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

pub fn configure(cfg: &mut web::ServiceConfig) {
    for &(suffix, method, agent_route) in RELAYED {
        let route = match method {
            "GET" => web::get(),
            _ => web::post(),
        };
        cfg.service(
            web::resource(format!("/api/instances/{{id}}{suffix}"))
                .route(route.to(
                    move |state: web::Data<AppState>,
                          caller: Caller,
                          path: web::Path<String>,
                          req: HttpRequest,
                          payload: web::Payload| {
                        relayed(state, caller, path, req, payload, agent_route)
                    },
                ))
                .default_service(sandbox_agent::http::method_not_allowed()),
        );
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
