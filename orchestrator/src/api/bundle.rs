//! The agent bundle (seed 001, "Agent bundle and skills"): the briefs and the skill that let
//! people and other AI agents drive the service — `/llms.txt`, `/llms-full.md`, `/agent.md`,
//! `/skills/openclaw-api-control/SKILL.md` and its helper client
//! `/skills/openclaw-api-control/scripts/openclaw_api_client.mjs`.
//!
//! The files live in `orchestrator/bundle/` and are compiled into the binary, so what a server
//! serves always matches its own routes (a test checks every path they mention against the
//! OpenAPI spec). `{{BASE_URL}}` in them becomes the origin the request came to.

use actix_web::{HttpRequest, HttpResponse, http::header};

use super::{Api, origin};

/// (path, content type, text).
pub const DOCUMENTS: &[(&str, &str, &str)] = &[
    (
        "/llms.txt",
        "text/plain; charset=utf-8",
        include_str!("../../bundle/llms.txt"),
    ),
    (
        "/llms-full.md",
        "text/markdown; charset=utf-8",
        include_str!("../../bundle/llms-full.md"),
    ),
    (
        "/agent.md",
        "text/markdown; charset=utf-8",
        include_str!("../../bundle/agent.md"),
    ),
    (
        "/skills/openclaw-api-control/SKILL.md",
        "text/markdown; charset=utf-8",
        include_str!("../../bundle/SKILL.md"),
    ),
    (
        "/skills/openclaw-api-control/scripts/openclaw_api_client.mjs",
        "text/javascript; charset=utf-8",
        include_str!("../../bundle/openclaw_api_client.mjs"),
    ),
];

/// The placeholder replaced by the serving origin.
pub const BASE_URL: &str = "{{BASE_URL}}";

/// Documents, not API routes: outside the OpenAPI spec (see `api::routes`).
pub fn configure(api: &mut Api<'_>) {
    for &(path, ..) in DOCUMENTS {
        api.page(path, move |req: HttpRequest| async move {
            document(&req, path).expect("a bundle path")
        });
    }
}

/// The bundle document at `path`, written for the origin `req` came to.
pub fn document(req: &HttpRequest, path: &str) -> Option<HttpResponse> {
    let &(_, content_type, text) = DOCUMENTS.iter().find(|(p, ..)| *p == path)?;
    Some(
        HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, content_type))
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .body(text.replace(BASE_URL, &origin(req))),
    )
}
