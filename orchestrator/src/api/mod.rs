//! The HTTP API. Each resource module declares its own routes and their OpenAPI description
//! (`#[utoipa::path]` on the handler); this module only mounts them, and `openapi` gathers the
//! descriptions into the spec.

pub mod accounts;
pub mod billing;
pub mod bundle;
pub mod chat;
pub mod console;
pub mod files;
pub mod instances;
pub mod invites;
pub mod live;
pub mod meta;
pub mod openapi;
pub mod routes;
pub mod session;

use actix_web::web;

pub use routes::{Api, Kind, Registered};

/// Mount every route. The one list of modules: [`configure`] and [`routes()`] both use it.
fn mount(api: &mut Api<'_>) {
    meta::configure(api);
    session::configure(api);
    accounts::configure(api);
    billing::configure(api);
    instances::configure(api);
    chat::configure(api);
    files::configure(api);
    live::configure(api);
    console::configure(api);
    bundle::configure(api);
    openapi::configure(api);
}

/// Mount every route on the app.
pub fn configure(cfg: &mut web::ServiceConfig) {
    mount(&mut Api::new(cfg));
}

/// Every route the app serves, as mounted (plus [`routes::OUTSIDE`]), sorted: what the
/// OpenAPI parity test checks the spec against.
pub fn routes() -> Vec<Registered> {
    let mut registered = Vec::new();
    // A throwaway app: `configure` runs the closure at once; nothing is served.
    let _app = actix_web::App::new().configure(|cfg| {
        let mut api = Api::new(cfg);
        mount(&mut api);
        registered = api.into_registered();
    });
    registered.extend(routes::OUTSIDE.iter().map(|(method, path)| Registered {
        kind: Kind::Api,
        method: (*method).to_owned(),
        path: (*path).to_owned(),
    }));
    registered.sort();
    registered
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

/// Parse a required JSON body, with errors in the envelope. Handlers take the body as
/// `web::Bytes` and parse it themselves, so that a bad body never answers before the key is
/// checked (actix resolves a handler's extractors together and returns the first error).
pub fn required_json<T: serde::de::DeserializeOwned>(
    body: &[u8],
) -> Result<T, crate::error::ApiError> {
    serde_json::from_slice(body).map_err(|e| sandbox_agent::http::serde_json_error(&e).into())
}

/// Parse the query string, as `web::Query` would (`400 BAD_REQUEST`), inside the handler: for
/// the same reason as [`required_json`].
pub fn query<T: serde::de::DeserializeOwned>(
    req: &actix_web::HttpRequest,
) -> Result<T, crate::error::ApiError> {
    web::Query::<T>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| {
            let reason = match &e {
                actix_web::error::QueryPayloadError::Deserialize(d) => d.to_string(),
                other => other.to_string(),
            };
            crate::error::ApiError::new(
                crate::error::ErrorCode::BadRequest,
                format!("invalid query string: {reason}"),
            )
        })
}

/// Parse an id from the path; a malformed id cannot name anything, so it is `404`.
pub fn parse_id(raw: &str, what: &str) -> Result<uuid::Uuid, crate::error::ApiError> {
    raw.parse()
        .map_err(|_| crate::error::ApiError::not_found(what))
}
