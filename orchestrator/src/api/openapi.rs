//! The OpenAPI 3.1 description of the API, derived from the code, and the interactive
//! reference: `GET /api/openapi.json`, `GET /api/openapi.yaml`, `GET /docs`.
//!
//! Each handler carries its own `#[utoipa::path]` (method, path, parameters, body, every
//! response) and its `///` docs become the summary and description; request and response
//! types derive `ToSchema`. [`spec()`] gathers them and then completes every operation the same
//! way (see [`complete`]): the errors every keyed route can answer (`401`, `500`) are added as
//! shared response components, and each error response gets one example per error code its
//! description names — checked against the catalogue, so a description cannot name a code
//! that does not exist or put it under the wrong status.
//!
//! `/docs` is Swagger UI, built into the binary from `utoipa-swagger-ui`'s `vendored` assets:
//! nothing is fetched from anywhere, at build time or run time.

use std::sync::{Arc, LazyLock};

use actix_web::{HttpRequest, HttpResponse, http::header, web};
use sandbox_agent::protocol::{
    ErrorBody, ErrorCode, ErrorEnvelope, PtyClientFrame, PtyServerFrame,
};
use serde::Deserialize;
use utoipa::openapi::example::ExampleBuilder;
use utoipa::openapi::request_body::RequestBody;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Spec, Ref, RefOr, Required, Response, Schema};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};

use super::Api;
use crate::error::{ApiError, ApiResult};

/// The spec as JSON.
pub const JSON_PATH: &str = "/api/openapi.json";
/// The spec as YAML.
pub const YAML_PATH: &str = "/api/openapi.yaml";
/// The interactive reference (Swagger UI).
pub const DOCS_PATH: &str = "/docs";

pub fn configure(api: &mut Api<'_>) {
    api.resource(JSON_PATH, |r| r.get(openapi_json));
    api.resource(YAML_PATH, |r| r.get(openapi_yaml));
    // The reference is a web page, not part of the API.
    api.page(DOCS_PATH, docs_index);
    api.page("/docs/{tail:.*}", docs_file);
}

/// The `{id}` of `/api/instances/{id}/...`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct InstancePath {
    /// The instance's `id` (another account's instance is `404`).
    #[param(example = "3f2b8c4e-1d6a-4f7b-9e2c-5a8d0b1c2e3f")]
    pub id: uuid::Uuid,
}

/// Raw bytes, any content.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct Binary(#[allow(dead_code)] Vec<u8>);

/// Error response descriptions shared by several routes. Each names its codes in backticks;
/// [`complete`] checks them against the catalogue and adds an example for each.
pub mod errors {
    pub const INVALID_JSON: &str = "`INVALID_JSON`: the body is not valid JSON.";
    pub const BAD_QUERY: &str = "`BAD_REQUEST`: a malformed query parameter (e.g. not a UUID).";
    pub const NOT_ADMIN: &str =
        "`FORBIDDEN`: the key lacks the `admin` permission, or its account is not an admin.";
    pub const NEEDS_ADMIN_PERM: &str = "`FORBIDDEN`: the key lacks the `admin` permission. `CSRF_FAILED`: a signed-in page's unsafe request without its `X-CSRF-Token`.";
    pub const RATE_429: &str =
        "`RATE_LIMITED`: too many attempts from this address; retry after `retryAfter` seconds.";
    pub const BILLING_404: &str = "`BILLING_DISABLED`: billing is not configured on this service.";
    pub const NO_INSTANCE: &str = "`NOT_FOUND`: no such instance for this account.";
    pub const NO_INSTANCE_OR_SESSION: &str =
        "`NOT_FOUND`: no such instance, or no such chat session in it.";
    pub const NOT_RUNNING: &str = "`INSTANCE_NOT_RUNNING`: the instance is stopped, failed or being deleted; `POST .../start` it first.";
    pub const CHAT_VALIDATION: &str = "`VALIDATION_FAILED`: `message` is empty or longer than 100 000 characters, or a field is missing, mistyped or unknown.";
    pub const SANDBOX_502: &str = "`SANDBOX_UNAVAILABLE`: the instance's sandbox did not answer; retry, or reboot the instance.";
    pub const READY_504: &str = "`TIMEOUT`: the instance is starting and did not become ready within `limits.ready_wait_s` (30 s by default); retry.";
    pub const DESKTOP_503: &str = "`UNAVAILABLE`: the desktop could not start.";
    pub const FILES_400: &str = "`PATH_OUTSIDE_WORKSPACE`: the path leaves `/workspace` (`..`, another absolute path, or a symlink leading out). `BAD_REQUEST`: a malformed query or file name.";
    pub const FILES_400_BODY: &str = "`PATH_OUTSIDE_WORKSPACE`: a path leaves `/workspace` (`..`, another absolute path, or a symlink leading out). `INVALID_JSON`: the body is not valid JSON. `BAD_REQUEST`: an invalid file name, or the body could not be read.";
    pub const FILES_403: &str =
        "`FORBIDDEN`: the sandbox may not do this (permission denied, read-only file system).";
    pub const FILES_404: &str =
        "`NOT_FOUND`: no such instance, or no such file or directory in the workspace.";
    pub const FILES_409: &str = "`INSTANCE_NOT_RUNNING`: the instance is stopped, failed or being deleted. `CONFLICT`: the path is of the wrong kind (a directory where a file is expected or the reverse), the target exists, the directory is not empty, the workspace root was named, or the workspace volume is full.";
    pub const JSON_413: &str = "`PAYLOAD_TOO_LARGE`: the JSON body is larger than 16 MiB.";
    pub const JSON_415: &str = "`UNSUPPORTED_MEDIA_TYPE`: send `Content-Type: application/json`.";
    pub const BODY_422: &str = "`VALIDATION_FAILED`: a field is missing or has the wrong type.";
}

const DESCRIPTION: &str = "\
Every customer gets their own managed [OpenClaw](https://openclaw.ai) agent in an isolated \
sandbox: a workspace, command execution, files, chat, terminals and a desktop, driven by this \
REST API.

**Authentication.** Every route except `/api`, `/healthz`, `/readyz`, `/metrics`, this spec, \
sign-up/sign-in and Stripe's webhook takes an API key: `Authorization: Bearer ocaas_...` (here: \
*Authorize*, scheme `bearer`). Keys are created on the `/account` page or with \
`POST /api/keys`; the first admin key is printed when the service starts. Websockets also \
accept `?token=` from `vnc-url` or `ws-token` (scheme `wsToken`).

**Permissions.** Each key holds some of `instances:read`, `instances:write`, `chat`, `files`, \
`terminal` and `admin`; a route the key lacks the permission for is `403 FORBIDDEN`.

**Who may create instances** is the gate `GET /api` names (`access.gate`): `open` (the \
account's quota decides), `invite_or_subscription` or `subscription`. Refusals are `403` with \
`SUBSCRIPTION_REQUIRED`, `INVITE_INVALID`, `INVITE_EXPIRED`, `INVITE_EXHAUSTED` or \
`QUOTA_EXCEEDED`; a full node is `503 CAPACITY_EXHAUSTED`.

**Rate limits** are per key: by default 100 calls a minute to chat routes, 1000 to other reads \
and 600 to other writes. Every authenticated response carries `X-RateLimit-Limit`, \
`X-RateLimit-Remaining` and `X-RateLimit-Reset`; beyond the limit, `429 RATE_LIMITED` with \
`retryAfter` and `Retry-After`.

**Errors** all have one shape, `{\"error\":{\"code\",\"message\",\"retryAfter\"?}}` \
(`ErrorEnvelope`); the code decides the HTTP status (see `ErrorBody.code` for the catalogue). \
Another account's resources are `404`, never `403`. A known path with another method is \
`405 METHOD_NOT_ALLOWED`; an unknown path `404 ROUTE_NOT_FOUND`.

**Instances** answer files, exec, chat and websocket calls once `ready`; a call to a starting \
instance waits for it (up to `limits.ready_wait_s`, see `GET /api`). Workspace paths are \
absolute (`/workspace/...`) or relative to `/workspace`.

Every response carries `x-request-id`; the service's logs carry it too.";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "OpenClaw as a Service",
        version = env!("CARGO_PKG_VERSION"),
        description = DESCRIPTION,
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        super::meta::api_root,
        super::meta::healthz,
        super::meta::readyz,
        super::meta::metrics,
        openapi_json,
        openapi_yaml,
        super::session::sign_up,
        super::session::sign_in,
        super::session::sign_out,
        super::session::current_session,
        super::accounts::get_account,
        super::accounts::redeem_invite,
        super::accounts::list_keys,
        super::accounts::create_key,
        super::accounts::revoke_key,
        super::accounts::admin_list_accounts,
        super::accounts::admin_create_account,
        super::accounts::admin_create_key,
        super::invites::admin_list_invites,
        super::invites::admin_create_invite,
        super::billing::checkout,
        super::billing::webhook,
        super::instances::list,
        super::instances::create,
        super::instances::get,
        super::instances::patch,
        super::instances::delete,
        super::instances::status,
        super::instances::reboot,
        super::instances::shutdown,
        super::instances::start,
        super::files::list_files,
        super::files::read_file,
        super::files::write_file,
        super::files::upload_file,
        super::files::make_directory,
        super::files::rename_path,
        super::files::delete_path,
        super::files::download_file,
        super::files::exec_command,
        super::chat::list_sessions,
        super::chat::create_session,
        super::chat::chat,
        super::chat::chat_stream,
        super::chat::messages,
        super::chat::events,
        super::live::terminal,
        super::live::ws_token,
        super::live::vnc_url,
        super::live::vnc,
    ),
    components(schemas(
        ErrorEnvelope,
        ErrorBody,
        super::chat::StreamStatus,
        super::chat::StreamMessage,
        super::chat::StreamNotice,
        super::chat::StreamComplete,
        super::chat::EventsReady,
        crate::chat::views::MessageView,
        PtyClientFrame,
        PtyServerFrame,
    )),
    modifiers(&Shared),
    tags(
        (name = "meta", description = "What the service is, probes and metrics, and this spec. Open: no key."),
        (name = "session", description = "Signing in on the `/account` page: a cookie session with a CSRF token. The API itself takes keys."),
        (name = "accounts", description = "The account an API key belongs to, and redeeming invite codes."),
        (name = "keys", description = "API keys: list, create with permissions (shown once), revoke. Needs a key with `admin`, or the signed-in `/account` page."),
        (name = "billing", description = "Stripe subscriptions: checkout, and Stripe's webhook."),
        (name = "admin", description = "Accounts, their keys and invite codes, for admins."),
        (name = "instances", description = "Instances: one OpenClaw agent in its own sandbox each, with a lifecycle and a status history."),
        (name = "files", description = "The instance's `/workspace`, relayed to its sandbox."),
        (name = "exec", description = "One-shot commands in the sandbox."),
        (name = "chat", description = "Sessions and turns with the instance's OpenClaw agent: synchronous, streamed (SSE), history, and a live event feed (SSE)."),
        (name = "terminal", description = "Interactive terminals over a websocket, and websocket tokens."),
        (name = "desktop", description = "The instance's virtual desktop over a noVNC-compatible websocket."),
    ),
)]
struct ApiDoc;

/// The security schemes and the shared error responses.
struct Shared;

impl Modify for Shared {
    fn modify(&self, spec: &mut Spec) {
        let components = spec.components.get_or_insert_with(Default::default);
        components.security_schemes.insert(
            "bearer".into(),
            RefOr::T(SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("ocaas_<40 letters and digits>")
                    .description(Some(
                        "An API key: `Authorization: Bearer ocaas_...`. Paste the key itself.",
                    ))
                    .build(),
            )),
        );
        components.security_schemes.insert(
            "session".into(),
            RefOr::T(SecurityScheme::ApiKey(ApiKey::Cookie(
                ApiKeyValue::with_description(
                    "ocaas_session",
                    "The `/account` page's session cookie (from `POST /api/auth/sign-in`); \
                     unsafe requests also send the session's `X-CSRF-Token`.",
                ),
            ))),
        );
        components.security_schemes.insert(
            "wsToken".into(),
            RefOr::T(SecurityScheme::ApiKey(ApiKey::Query(
                ApiKeyValue::with_description(
                    "token",
                    "Websockets only: a short-lived token for one instance, from \
                     `GET .../vnc-url` or `POST .../ws-token`.",
                ),
            ))),
        );
        // One example envelope per code, which error responses reference.
        for code in ErrorCode::ALL {
            let mut envelope = ErrorEnvelope::new(*code, code.description());
            if code.status() == 429 || code.status() == 503 {
                envelope.error.retry_after = Some(30);
            }
            let example = ExampleBuilder::new()
                .summary(format!("{} {}", code.status(), code.as_str()))
                .value(serde_json::to_value(&envelope).ok())
                .build();
            components
                .examples
                .insert(code.as_str().to_owned(), RefOr::T(example));
        }
        for (name, code, description) in SHARED_RESPONSES {
            let mut response = error_response(description);
            add_examples(&mut response, &[*code]);
            components
                .responses
                .insert((*name).into(), RefOr::T(response));
        }
    }
}

/// (component name, code, description) of the responses every keyed operation shares.
const SHARED_RESPONSES: &[(&str, ErrorCode, &str)] = &[
    (
        "Unauthorized",
        ErrorCode::Unauthorized,
        "`UNAUTHORIZED`: no, an invalid or a revoked API key (or websocket token).",
    ),
    (
        "Forbidden",
        ErrorCode::Forbidden,
        "`FORBIDDEN`: the key lacks the permission this route needs.",
    ),
    (
        "RateLimited",
        ErrorCode::RateLimited,
        "`RATE_LIMITED`: this key used up its calls for now (per minute: 100 for chat routes, \
         1000 for other reads, 600 for other writes, by default); retry after `retryAfter` \
         seconds (also the `Retry-After` header).",
    ),
    (
        "Internal",
        ErrorCode::Internal,
        "`INTERNAL`: something went wrong on our side; the `x-request-id` header identifies the request in our logs.",
    ),
];

/// The finished spec, built once.
pub fn spec() -> &'static Spec {
    static SPEC: LazyLock<Spec> = LazyLock::new(|| {
        let mut spec = ApiDoc::openapi();
        let problems = complete(&mut spec);
        assert!(
            problems.is_empty(),
            "the OpenAPI annotations are inconsistent:\n{}",
            problems.join("\n")
        );
        spec
    });
    &SPEC
}

/// Complete every operation: keyed ones get the shared `401` and `500` responses; every error
/// response gets an example per error code named in its description. Returns what does not
/// hold: a code that is not in the catalogue, a code under another status than its own, an
/// `ErrorEnvelope` response that names no code, an error response without a body.
pub fn complete(spec: &mut Spec) -> Vec<String> {
    let mut problems = Vec::new();
    for (path, item) in spec.paths.paths.iter_mut() {
        let operations = [
            ("GET", &mut item.get),
            ("PUT", &mut item.put),
            ("POST", &mut item.post),
            ("DELETE", &mut item.delete),
            ("PATCH", &mut item.patch),
            ("HEAD", &mut item.head),
            ("OPTIONS", &mut item.options),
            ("TRACE", &mut item.trace),
        ];
        for (method, op) in operations {
            let Some(op) = op.as_mut() else { continue };
            if let Some(RefOr::T(body)) = &mut op.request_body {
                optional_body(body);
            }
            let keyed = op.security.as_ref().is_some_and(|reqs| {
                reqs.iter()
                    .any(|r| serde_json::to_value(r).is_ok_and(|v| v != serde_json::json!({})))
            });
            if keyed {
                // A route's own 403 (quota, invite...) is also where a key without the
                // permission lands.
                if let Some(RefOr::T(own)) = op.responses.responses.get_mut("403")
                    && !own.description.contains("`FORBIDDEN`")
                {
                    own.description
                        .push_str(" `FORBIDDEN`: the key lacks the permission this route needs.");
                }
                for (name, code, _) in SHARED_RESPONSES {
                    op.responses
                        .responses
                        .entry(code.status().to_string())
                        .or_insert_with(|| {
                            RefOr::Ref(Ref::new(format!("#/components/responses/{name}")))
                        });
                }
                for response in op.responses.responses.values_mut() {
                    if let RefOr::T(response) = response {
                        add_rate_headers(response);
                    }
                }
            }
            for (status, response) in op.responses.responses.iter_mut() {
                let RefOr::T(response) = response else {
                    continue;
                };
                let Ok(status) = status.parse::<u16>() else {
                    continue;
                };
                if status < 400 {
                    continue;
                }
                let at = format!("{method} {path} {status}");
                let envelope = matches!(
                    response.content.get("application/json"),
                    Some(RefOr::T(content)) if matches!(
                        &content.schema,
                        Some(RefOr::Ref(r)) if r.ref_location.ends_with("/ErrorEnvelope")
                    )
                );
                if !envelope {
                    // A body of its own (e.g. `/readyz`'s 503) is fine; no body is not.
                    if response.content.is_empty() {
                        problems.push(format!("{at}: an error response without a body"));
                    }
                    continue;
                }
                match codes_in(&response.description) {
                    Ok(codes) if codes.is_empty() => {
                        problems.push(format!("{at}: the description names no error code"))
                    }
                    Ok(codes) => {
                        for code in &codes {
                            if code.status() != status {
                                problems.push(format!(
                                    "{at}: `{}` is sent with {}, not {status}",
                                    code.as_str(),
                                    code.status()
                                ));
                            }
                        }
                        add_examples(response, &codes);
                    }
                    Err(unknown) => {
                        problems.push(format!("{at}: `{unknown}` is not an error code"))
                    }
                }
            }
        }
    }
    problems
}

/// The catalogue codes named in backticks in `text`, in order; `Err` with the first
/// backticked `SCREAMING_SNAKE_CASE` word that is not a code.
fn codes_in(text: &str) -> Result<Vec<ErrorCode>, String> {
    let mut codes = Vec::new();
    for (i, word) in text.split('`').enumerate() {
        let shouty = word.len() > 2 && word.chars().all(|c| c.is_ascii_uppercase() || c == '_');
        if i % 2 == 1 && shouty {
            let code = ErrorCode::from_wire(word).ok_or_else(|| word.to_owned())?;
            if !codes.contains(&code) {
                codes.push(code);
            }
        }
    }
    Ok(codes)
}

fn error_response(description: &str) -> Response {
    let mut response = ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorEnvelope")))
                .build(),
        )
        .build();
    if description.contains("`RATE_LIMITED`") {
        response.headers.insert(
            "Retry-After".into(),
            RefOr::T(
                utoipa::openapi::HeaderBuilder::new()
                    .schema(Some(integer_schema()))
                    .description(Some("Seconds to wait before retrying."))
                    .build(),
            ),
        );
        add_rate_headers(&mut response);
    }
    response
}

fn integer_schema() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Integer)
        .minimum(Some(0))
        .build()
}

/// The per-key rate-limit headers every authenticated response carries (seed 003).
fn add_rate_headers(response: &mut Response) {
    for (name, description) in [
        (
            "X-RateLimit-Limit",
            "Calls a minute this key may make to this kind of route.",
        ),
        ("X-RateLimit-Remaining", "Calls left now."),
        (
            "X-RateLimit-Reset",
            "Unix time (seconds) at which the key's allowance is full again.",
        ),
    ] {
        response.headers.entry(name.into()).or_insert_with(|| {
            RefOr::T(
                utoipa::openapi::HeaderBuilder::new()
                    .schema(Some(integer_schema()))
                    .description(Some(description))
                    .build(),
            )
        });
    }
}

/// The example envelope of each code (a reference to `#/components/examples/<CODE>`) in the
/// response's JSON content.
fn add_examples(response: &mut Response, codes: &[ErrorCode]) {
    let Some(RefOr::T(content)) = response.content.get_mut("application/json") else {
        return;
    };
    content.example = None;
    for code in codes {
        content.examples.insert(
            code.as_str().to_owned(),
            RefOr::Ref(Ref::new(format!("#/components/examples/{}", code.as_str()))),
        );
    }
}

/// `request_body = Option<T>` means "the body may be left out" (handlers read an empty body as
/// `{}`), not "the body may be JSON `null`": describe it as an optional `T`.
fn optional_body(body: &mut RequestBody) {
    let Some(RefOr::T(content)) = body.content.get_mut("application/json") else {
        return;
    };
    let Some(RefOr::T(Schema::OneOf(one_of))) = &content.schema else {
        return;
    };
    let is_null = |s: &RefOr<Schema>| {
        serde_json::to_value(s).is_ok_and(|v| v == serde_json::json!({"type": "null"}))
    };
    if let [item @ RefOr::Ref(_), null] = one_of.items.as_slice()
        && is_null(null)
    {
        content.schema = Some(item.clone());
        body.required = Some(Required::False);
    }
}

/// The spec, rendered once in both formats.
struct Rendered {
    json: String,
    yaml: String,
}

fn rendered() -> &'static Rendered {
    static RENDERED: LazyLock<Rendered> = LazyLock::new(|| Rendered {
        json: spec()
            .to_pretty_json()
            .expect("the spec serializes to JSON"),
        yaml: spec().to_yaml().expect("the spec serializes to YAML"),
    });
    &RENDERED
}

/// The OpenAPI spec (JSON)
///
/// This API's OpenAPI 3.1 description, as JSON. Open. The same document as
/// `/api/openapi.yaml`.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "meta",
    responses((status = 200, description = "The spec.", body = Object, content_type = "application/json")),
)]
async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(rendered().json.as_str())
}

/// The OpenAPI spec (YAML)
///
/// This API's OpenAPI 3.1 description, as YAML. Open. The same document as
/// `/api/openapi.json`.
#[utoipa::path(
    get,
    path = "/api/openapi.yaml",
    tag = "meta",
    responses((status = 200, description = "The spec (a YAML document: the same object as the JSON).", body = serde_json::Value, content_type = "application/yaml")),
)]
async fn openapi_yaml() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/yaml")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(rendered().yaml.as_str())
}

/// Swagger UI's settings: our spec, "Try it out" on, the key kept across reloads, and no
/// online validator (its badge would be fetched from swagger.io).
fn ui_config() -> Arc<utoipa_swagger_ui::Config<'static>> {
    static CONFIG: LazyLock<Arc<utoipa_swagger_ui::Config<'static>>> = LazyLock::new(|| {
        Arc::new(
            utoipa_swagger_ui::Config::new([JSON_PATH])
                .try_it_out_enabled(true)
                .persist_authorization(true)
                .display_request_duration(true)
                .filter(true)
                .deep_linking(true)
                .validator_url("none"),
        )
    });
    CONFIG.clone()
}

/// `/docs`: a browser (`Accept: text/html`) goes on to `/docs/`, where Swagger UI's relative
/// asset URLs resolve. Any other client — `curl`, an AI agent handed the docs URL — gets
/// `/llms.txt` itself: a script-driven page would tell it nothing.
async fn docs_index(req: HttpRequest) -> HttpResponse {
    let wants_html = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if wants_html {
        return HttpResponse::PermanentRedirect()
            .insert_header((header::LOCATION, "/docs/"))
            .insert_header((header::VARY, "Accept"))
            .finish();
    }
    let mut response = super::bundle::document(&req, "/llms.txt").expect("llms.txt is bundled");
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_LOCATION,
        header::HeaderValue::from_static("/llms.txt"),
    );
    headers.insert(header::VARY, header::HeaderValue::from_static("Accept"));
    response
}

/// Swagger UI's files, from the binary.
async fn docs_file(tail: web::Path<String>) -> ApiResult<HttpResponse> {
    let file = utoipa_swagger_ui::serve(&tail, ui_config())
        .map_err(|e| ApiError::internal(anyhow::anyhow!("swagger ui: {e}")))?
        .ok_or_else(|| ApiError::not_found("file"))?;
    let mut bytes = file.bytes.into_owned();
    if file.content_type.starts_with("text/html") && !file.gzpipped {
        // The page's title, instead of the bundle's "Swagger UI".
        bytes = String::from_utf8_lossy(&bytes)
            .replace(
                "<title>Swagger UI</title>",
                "<title>API reference · OpenClaw as a Service</title>",
            )
            .into_bytes();
    }
    let mut response = HttpResponse::Ok();
    response
        .content_type(file.content_type)
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("x-content-type-options", "nosniff"));
    if file.gzpipped {
        response.insert_header((header::CONTENT_ENCODING, "gzip"));
    }
    Ok(response.body(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_read_from_descriptions() {
        assert_eq!(
            codes_in(errors::FILES_409),
            Ok(vec![ErrorCode::InstanceNotRunning, ErrorCode::Conflict])
        );
        assert_eq!(codes_in("`NOPE_CODE`: x"), Err("NOPE_CODE".into()));
        // Paths and field names in backticks are not codes.
        assert_eq!(codes_in("`/workspace` and `cols`"), Ok(vec![]));
    }

    #[test]
    fn the_spec_is_complete_and_consistent() {
        let mut spec = ApiDoc::openapi();
        let problems = complete(&mut spec);
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
