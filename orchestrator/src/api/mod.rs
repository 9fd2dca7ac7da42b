//! The HTTP API. Each resource module declares its own routes; this module only mounts them.

pub mod accounts;
pub mod bundle;
pub mod chat;
pub mod console;
pub mod files;
pub mod instances;
pub mod live;
pub mod meta;

use actix_web::web;

/// Mount every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    meta::configure(cfg);
    accounts::configure(cfg);
    instances::configure(cfg);
    chat::configure(cfg);
    files::configure(cfg);
    live::configure(cfg);
    console::configure(cfg);
    bundle::configure(cfg);
}

/// The origin a request came to (`http://host:port`, honouring `Forwarded` /
/// `X-Forwarded-*` from a proxy in front): the base of every URL the service hands out.
pub fn origin(req: &actix_web::HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

/// Timestamps as the seed shows them: `2026-03-20T18:22:54.000Z`.
pub fn timestamp(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Parse a JSON body that may be empty (then `T::default()`), with errors in the envelope.
pub fn optional_json<T: serde::de::DeserializeOwned + Default>(
    body: &[u8],
) -> Result<T, crate::error::ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| sandbox_agent::http::serde_json_error(&e).into())
}

/// Parse an id from the path; a malformed id cannot name anything, so it is `404`.
pub fn parse_id(raw: &str, what: &str) -> Result<uuid::Uuid, crate::error::ApiError> {
    raw.parse()
        .map_err(|_| crate::error::ApiError::not_found(what))
}
