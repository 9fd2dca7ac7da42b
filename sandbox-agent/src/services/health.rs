//! `GET /health`.

use actix_web::web;

use crate::{protocol::Health, server::AgentState};

/// `GET /health`: the agent is up. Served without a token.
pub(crate) async fn health(state: web::Data<AgentState>) -> web::Json<Health> {
    web::Json(Health {
        ok: true,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        uptime_s: state.started.elapsed().as_secs(),
    })
}
