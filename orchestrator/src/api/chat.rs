//! Chat (seed 001): sessions, sync and streamed turns, history, and the live event feed.
//!
//! SSE formats (each event's `data` is one of the types below, so the OpenAPI spec shows them):
//! - `POST .../chat/stream`: `status` [`StreamStatus`] (accepted, queued, waking, starting,
//!   booting, thinking); `message` [`StreamMessage`], either `{"type":"delta","content"}` (a piece of
//!   the reply) or `{"type":"message","message":{...}}` (a persisted message: the user's first,
//!   the assistant's last); `complete` [`StreamComplete`] `{"message_id","usage","duration_ms"}`
//!   or `{"error":{"code","message"}}`; `system_notification` [`StreamNotice`]
//!   `{"kind","message"}` (history_restored; model_error, gateway_unavailable, timeout,
//!   turn_failed).
//! - `GET .../chat/events`: `ready` [`EventsReady`] `{"session_id"}` once, then `message` (a
//!   persisted [`MessageView`], whole) each time one is created or changes, with
//!   `id: <change number>` for `Last-Event-ID` resumption; a comment every 15 s keeps proxies
//!   from closing it.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use futures_util::StreamExt;
use sandbox_agent::protocol::{ErrorBody, ErrorEnvelope};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::openapi::{InstancePath, errors};
use super::{Api, optional_json, parse_id};
use crate::auth::{Authed, Caller, perm};
use crate::chat::views::{MessageView, SessionView, Usage};
use crate::chat::{TurnEvent, TurnFailure};
use crate::error::{ApiError, ApiResult};
use crate::startup::AppState;
use crate::store::chat::Window;
use crate::store::entities::chat_session;

pub fn configure(api: &mut Api<'_>) {
    api.resource("/api/instances/{id}/chat/sessions", |r| {
        r.get(list_sessions).post(create_session)
    });
    api.resource("/api/instances/{id}/chat", |r| r.post(chat));
    api.resource("/api/instances/{id}/chat/stream", |r| r.post(chat_stream));
    api.resource("/api/instances/{id}/chat/messages", |r| r.get(messages));
    api.resource("/api/instances/{id}/chat/events", |r| r.get(events));
}

/// Body of `POST .../chat/sessions` (may be empty).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"title": "CLI session"}))]
pub struct CreateSessionRequest {
    /// 1 to 200 characters. Default: `Chat <time>`.
    pub title: Option<String>,
}

/// Body of `POST .../chat` and `.../chat/stream`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"session_id": "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d", "message": "Inspect /workspace and summarize the repo."}))]
pub struct ChatRequest {
    /// The session to continue; omitted → a new session titled after the message.
    pub session_id: Option<Uuid>,
    /// What to say to the agent, 1 to 100 000 characters.
    pub message: String,
}

/// Query of `GET .../chat/messages`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessagesQuery {
    /// The session (required).
    #[param(required = true)]
    pub session_id: Option<Uuid>,
    /// The latest `limit` messages, in chronological order (default: the earliest).
    #[serde(default)]
    pub tail: bool,
    /// 1–500, default 50.
    #[param(minimum = 1, maximum = 500, example = 20)]
    pub limit: Option<u64>,
    /// Only messages after this message id.
    pub after: Option<Uuid>,
}

/// Query of `GET .../chat/events`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// The session (required).
    #[param(required = true)]
    pub session_id: Option<Uuid>,
    /// Replay messages created after this message id first (ignored with `Last-Event-ID`).
    pub after: Option<Uuid>,
}

/// `POST .../chat`: the turn's persisted messages.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatReply {
    /// The session the turn went to (new when the request named none).
    pub session_id: Uuid,
    pub user_message: MessageView,
    pub assistant_message: MessageView,
    /// What the model reported for this turn.
    pub usage: Option<Usage>,
}

/// `GET .../chat/messages`: a page of history.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessagesPage {
    pub session_id: Uuid,
    /// Chronological.
    pub messages: Vec<MessageView>,
    /// More messages exist beyond this page (before it with `tail`, after it otherwise).
    pub has_more: bool,
}

/// `chat/stream` event `status`: where the turn is.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"state": "thinking", "detail": "the agent is working on it"}))]
pub struct StreamStatus {
    /// `accepted` (always first), `queued` (behind another turn of the session), `waking` (the
    /// instance was asleep; `detail` says whether a warm sandbox serves it or it starts cold),
    /// `starting` (the instance is), `booting` (the gateway is), `thinking`.
    pub state: String,
    /// A sentence for people.
    pub detail: String,
    /// On `accepted` only: the session of the turn (new when the request named none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<Uuid>,
}

/// `chat/stream` event `message`: a piece of the reply, or a persisted message.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum StreamMessage {
    /// `{"type":"delta","content":"..."}`: the next piece of the assistant's reply.
    Delta { content: String },
    /// `{"type":"message","message":{...}}`: a persisted message — the user's at the start,
    /// the assistant's (complete or failed) at the end.
    Message { message: MessageView },
}

/// `chat/stream` event `complete`: the last event of a turn.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum StreamComplete {
    /// The reply is complete and persisted.
    Done {
        /// The assistant message's id.
        message_id: Uuid,
        usage: Option<Usage>,
        duration_ms: u64,
    },
    /// The turn failed (`MODEL_ERROR`, `UNAVAILABLE`, `TIMEOUT`, `INSTANCE_NOT_RUNNING`, ...);
    /// the failed reply is persisted with `status: failed`.
    Failed { error: ErrorBody },
}

/// `chat/stream` event `system_notification`: something to tell the user that is not part of
/// the reply: `history_restored` before the reply when the agent was given the session's
/// history again (it runs in a fresh sandbox), or the reason before a failed `complete`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"kind": "model_error", "message": "the model provider answered 401: invalid api key"}))]
pub struct StreamNotice {
    /// `history_restored`, `model_error`, `gateway_unavailable`, `timeout` or `turn_failed`.
    pub kind: String,
    pub message: String,
}

/// `chat/events` event `ready`: the feed is live.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventsReady {
    pub session_id: Uuid,
}

const MAX_MESSAGE_CHARS: usize = 100_000;

/// The owner's instance, or 404.
async fn owned_instance(state: &AppState, caller: &Caller, raw: &str) -> ApiResult<Uuid> {
    let id = parse_id(raw, "instance")?;
    state
        .store
        .get_instance(&caller.owner, id)
        .await?
        .ok_or_else(|| ApiError::not_found("instance"))?;
    Ok(id)
}

async fn owned_session(
    state: &AppState,
    caller: &Caller,
    instance_id: Uuid,
    session_id: Option<Uuid>,
) -> ApiResult<chat_session::Model> {
    let sid = session_id.ok_or_else(|| ApiError::validation("session_id is required"))?;
    state
        .store
        .get_session(&caller.owner, instance_id, sid)
        .await?
        .ok_or_else(|| ApiError::not_found("chat session"))
}

/// List chat sessions
///
/// The instance's sessions: title, created, last activity, message count.
#[utoipa::path(
    get,
    path = "/api/instances/{id}/chat/sessions",
    tag = "chat",
    security(("bearer" = [])),
    params(InstancePath),
    responses(
        (status = 200, description = "The sessions.", body = [SessionView]),
        (status = 404, description = errors::NO_INSTANCE, body = ErrorEnvelope),
    ),
)]
async fn list_sessions(
    state: web::Data<AppState>,
    caller: Authed<perm::Chat>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = owned_instance(&state, &caller, &path).await?;
    let sessions: Vec<SessionView> = state
        .store
        .list_sessions(&caller.owner, id)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(HttpResponse::Ok().json(sessions))
}

/// Create a chat session
///
/// An empty session; `POST .../chat` with its `id` talks in it. (A turn without `session_id`
/// creates one too.) Works whatever the instance's state.
#[utoipa::path(
    post,
    path = "/api/instances/{id}/chat/sessions",
    tag = "chat",
    security(("bearer" = [])),
    params(InstancePath),
    request_body(content = Option<CreateSessionRequest>, description = "Optional; an empty body is `{}`."),
    responses(
        (status = 201, description = "Created.", body = SessionView),
        (status = 400, description = errors::INVALID_JSON, body = ErrorEnvelope),
        (status = 404, description = errors::NO_INSTANCE, body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`: `title` is not 1 to 200 characters, or an unknown field.", body = ErrorEnvelope),
    ),
)]
async fn create_session(
    state: web::Data<AppState>,
    caller: Authed<perm::Chat>,
    path: web::Path<String>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let id = owned_instance(&state, &caller, &path).await?;
    let req: CreateSessionRequest = optional_json(&body)?;
    let title = match req.title {
        Some(t) if t.trim().is_empty() || t.chars().count() > 200 => {
            return Err(ApiError::validation("title must be 1 to 200 characters"));
        }
        Some(t) => t.trim().to_owned(),
        None => format!("Chat {}", chrono::Utc::now().format("%Y-%m-%d %H:%M")),
    };
    let s = state
        .store
        .create_session(&caller.owner, id, &title)
        .await?;
    Ok(HttpResponse::Created().json(SessionView::from(s)))
}

/// Validate a chat request, find (or create) its session, and start the turn; returns the
/// session's id and the turn's progress. A stopped instance is `409` before anything is
/// stored; a sleeping one is woken (the turn says how).
async fn begin_turn(
    state: &AppState,
    caller: &Caller,
    raw_id: &str,
    body: &[u8],
) -> ApiResult<(Uuid, tokio::sync::mpsc::Receiver<TurnEvent>)> {
    let id = owned_instance(state, caller, raw_id).await?;
    let req: ChatRequest =
        serde_json::from_slice(body).map_err(|e| sandbox_agent::http::serde_json_error(&e))?;
    let text = req.message.trim().to_owned();
    if text.is_empty() || text.chars().count() > MAX_MESSAGE_CHARS {
        return Err(ApiError::validation(format!(
            "message must be 1 to {MAX_MESSAGE_CHARS} characters"
        )));
    }
    let waking = state.manager.ensure_running(&caller.owner, id).await?;
    let session = match req.session_id {
        Some(_) => owned_session(state, caller, id, req.session_id).await?,
        None => {
            let title: String = text.chars().take(60).collect();
            state
                .store
                .create_session(&caller.owner, id, &title)
                .await?
        }
    };
    let session_id = session.id;
    let rx = state
        .chat
        .start_turn(caller.owner, id, session, text, waking);
    Ok((session_id, rx))
}

/// Chat (wait for the reply)
///
/// Sends a message to the instance's OpenClaw agent and waits for its whole reply (the agent
/// may run tools in the workspace meanwhile). Returns the persisted user and assistant
/// messages. Turns of one session run one at a time, in order. A turn sent while the instance
/// or its gateway is still starting waits for it. On a failure the failed reply is persisted
/// too (`status: failed`).
#[utoipa::path(
    post,
    path = "/api/instances/{id}/chat",
    tag = "chat",
    security(("bearer" = [])),
    params(InstancePath),
    request_body = ChatRequest,
    responses(
        (status = 200, description = "The turn's messages.", body = ChatReply,
            example = json!({
                "session_id": "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d",
                "user_message": {"id": "0d5c2a9e-6f1b-4c3d-8e7a-2b4c6d8e0f12", "session_id": "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d", "role": "user", "content": "Inspect /workspace and summarize the repo.", "status": "complete", "created_at": "2026-03-20T18:26:36.020Z", "updated_at": "2026-03-20T18:26:36.020Z"},
                "assistant_message": {"id": "1c6f0e58-8a52-4a8e-a1f4-7d1c3b9e2a10", "session_id": "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d", "role": "assistant", "content": "The repo is a Rust workspace with two crates...", "status": "complete", "usage": {"input_tokens": 812, "output_tokens": 164}, "duration_ms": 5230, "created_at": "2026-03-20T18:26:36.071Z", "updated_at": "2026-03-20T18:26:41.302Z"},
                "usage": {"input_tokens": 812, "output_tokens": 164}
            })),
        (status = 400, description = errors::INVALID_JSON, body = ErrorEnvelope),
        (status = 404, description = errors::NO_INSTANCE_OR_SESSION, body = ErrorEnvelope),
        (status = 409, description = errors::NOT_RUNNING, body = ErrorEnvelope),
        (status = 422, description = errors::CHAT_VALIDATION, body = ErrorEnvelope),
        (status = 502, description = "`MODEL_ERROR`: the model provider answered an error. `SANDBOX_UNAVAILABLE`: the instance's sandbox did not answer.", body = ErrorEnvelope),
        (status = 503, description = "`UNAVAILABLE`: the instance's OpenClaw gateway is not available (not installed, or crashed and restarting).", body = ErrorEnvelope),
        (status = 504, description = "`TIMEOUT`: the instance did not become ready, or the turn took longer than the service allows (`chat.turn_timeout_s`).", body = ErrorEnvelope),
    ),
)]
async fn chat(
    state: web::Data<AppState>,
    caller: Authed<perm::Chat>,
    path: web::Path<String>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let (session_id, mut rx) = begin_turn(&state, &caller, &path, &body).await?;
    let mut user = None;
    let mut assistant = None;
    let mut usage = None;
    while let Some(ev) = rx.recv().await {
        match ev {
            TurnEvent::Message(m) if m.role == "user" => user = Some(m),
            TurnEvent::Message(m) => assistant = Some(m),
            TurnEvent::Complete { usage: u, .. } => usage = u,
            TurnEvent::Failed(f) => return Err((*f).into()),
            _ => {}
        }
    }
    match (user, assistant) {
        (Some(user), Some(assistant)) => Ok(HttpResponse::Ok().json(ChatReply {
            session_id,
            user_message: user,
            assistant_message: assistant,
            usage,
        })),
        _ => Err(ApiError::internal(anyhow::anyhow!(
            "turn ended without a reply"
        ))),
    }
}

/// How long an event stream may be silent before it sends a keepalive comment (proxies and
/// clients with an idle timeout would close it).
const KEEPALIVE_EVERY: Duration = Duration::from_secs(15);

fn keepalive() -> Bytes {
    Bytes::from_static(b": keepalive\n\n")
}

fn sse(event: &str, data: &Value, id: Option<i64>) -> Bytes {
    let mut s = String::new();
    if let Some(id) = id {
        s.push_str(&format!("id: {id}\n"));
    }
    s.push_str(&format!("event: {event}\ndata: {data}\n\n"));
    Bytes::from(s)
}

fn sse_response() -> actix_web::HttpResponseBuilder {
    let mut b = HttpResponse::Ok();
    b.content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .insert_header(("x-accel-buffering", "no"));
    b
}

/// Chat (stream the reply)
///
/// The same turn as `POST .../chat`, answered as Server-Sent Events while it happens. Errors
/// found before the turn starts (bad body, unknown session, stopped instance) are ordinary
/// error responses; later failures arrive as a `system_notification` and a `complete` with
/// `error`.
///
/// Events (`event:` name → `data:` JSON):
///
/// | event | data | when |
/// |---|---|---|
/// | `status` | `StreamStatus` `{"state","detail","session_id"?}` | `accepted` first (with `session_id`), then `queued`, `waking`, `starting`, `booting`, `thinking` as they happen |
/// | `message` | `StreamMessage`: `{"type":"delta","content"}` or `{"type":"message","message":MessageView}` | the persisted user message, then reply pieces, then the persisted assistant message |
/// | `system_notification` | `StreamNotice` `{"kind","message"}` | `history_restored` before the reply (the agent was given the session's history again); before a failed `complete`: `model_error`, `gateway_unavailable`, `timeout`, `turn_failed` |
/// | `complete` | `StreamComplete`: `{"message_id","usage","duration_ms"}` or `{"error":{"code","message"}}` | last; the stream then ends |
///
/// A `: keepalive` comment comes every 15 s while there is nothing else to send (a turn that
/// waits for a cold agent to boot).
#[utoipa::path(
    post,
    path = "/api/instances/{id}/chat/stream",
    tag = "chat",
    security(("bearer" = [])),
    params(InstancePath),
    request_body = ChatRequest,
    responses(
        (status = 200, description = "A stream of Server-Sent Events (see above; their `data` schemas are `StreamStatus`, `StreamMessage`, `StreamNotice` and `StreamComplete`).",
            content_type = "text/event-stream", body = serde_json::Value,
            example = "event: status\ndata: {\"detail\":\"turn accepted\",\"session_id\":\"9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d\",\"state\":\"accepted\"}\n\nevent: message\ndata: {\"message\":{\"content\":\"run: echo hello > hello.txt\",\"created_at\":\"2026-03-20T18:26:36.020Z\",\"id\":\"0d5c2a9e-6f1b-4c3d-8e7a-2b4c6d8e0f12\",\"role\":\"user\",\"session_id\":\"9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d\",\"status\":\"complete\",\"updated_at\":\"2026-03-20T18:26:36.020Z\"},\"type\":\"message\"}\n\nevent: status\ndata: {\"detail\":\"the agent is working on it\",\"state\":\"thinking\"}\n\nevent: message\ndata: {\"content\":\"Done: hello.txt\",\"type\":\"delta\"}\n\nevent: message\ndata: {\"message\":{\"content\":\"Done: hello.txt\",\"created_at\":\"2026-03-20T18:26:36.071Z\",\"duration_ms\":2210,\"id\":\"1c6f0e58-8a52-4a8e-a1f4-7d1c3b9e2a10\",\"role\":\"assistant\",\"session_id\":\"9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d\",\"status\":\"complete\",\"updated_at\":\"2026-03-20T18:26:38.281Z\"},\"type\":\"message\"}\n\nevent: complete\ndata: {\"duration_ms\":2210,\"message_id\":\"1c6f0e58-8a52-4a8e-a1f4-7d1c3b9e2a10\",\"usage\":{\"input_tokens\":812,\"output_tokens\":164}}\n\n"),
        (status = 400, description = errors::INVALID_JSON, body = ErrorEnvelope),
        (status = 404, description = errors::NO_INSTANCE_OR_SESSION, body = ErrorEnvelope),
        (status = 409, description = errors::NOT_RUNNING, body = ErrorEnvelope),
        (status = 422, description = errors::CHAT_VALIDATION, body = ErrorEnvelope),
    ),
    extensions(("x-sse-events" = json!({
        "status": {"$ref": "#/components/schemas/StreamStatus"},
        "message": {"$ref": "#/components/schemas/StreamMessage"},
        "system_notification": {"$ref": "#/components/schemas/StreamNotice"},
        "complete": {"$ref": "#/components/schemas/StreamComplete"}
    }))),
)]
async fn chat_stream(
    state: web::Data<AppState>,
    caller: Authed<perm::Chat>,
    path: web::Path<String>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let (session_id, rx) = begin_turn(&state, &caller, &path, &body).await?;
    let head = futures_util::stream::iter([sse(
        "status",
        &json!(StreamStatus {
            state: "accepted".into(),
            detail: "turn accepted".into(),
            session_id: Some(session_id),
        }),
        None,
    )]);
    let events = futures_util::stream::unfold(rx, |mut rx| async move {
        // A comment every 15 s while nothing happens (a cold boot takes longer), so that
        // proxies and clients with an idle timeout keep the stream open.
        let ev = match tokio::time::timeout(KEEPALIVE_EVERY, rx.recv()).await {
            Err(_) => return Some((Ok::<_, std::convert::Infallible>(keepalive()), rx)),
            Ok(ev) => ev?,
        };
        let frame = match ev {
            TurnEvent::Status { state, detail } => sse(
                "status",
                &json!(StreamStatus {
                    state: state.into(),
                    detail,
                    session_id: None,
                }),
                None,
            ),
            TurnEvent::Delta(content) => {
                sse("message", &json!(StreamMessage::Delta { content }), None)
            }
            TurnEvent::Message(message) => {
                sse("message", &json!(StreamMessage::Message { message }), None)
            }
            TurnEvent::Notice { kind, message } => sse(
                "system_notification",
                &json!(StreamNotice {
                    kind: kind.into(),
                    message,
                }),
                None,
            ),
            TurnEvent::Complete {
                message_id,
                usage,
                duration_ms,
            } => sse(
                "complete",
                &json!(StreamComplete::Done {
                    message_id,
                    usage,
                    duration_ms,
                }),
                None,
            ),
            TurnEvent::Failed(f) => {
                let TurnFailure { code, message, .. } = *f;
                let error = ErrorEnvelope::new(code, message).error;
                sse("complete", &json!(StreamComplete::Failed { error }), None)
            }
        };
        Some((Ok::<_, std::convert::Infallible>(frame), rx))
    });
    Ok(sse_response().streaming(head.map(Ok).chain(events)))
}

/// Chat history
///
/// A session's messages in chronological order: the first `limit`, or with `tail=true` the
/// latest `limit`, or those after the message `after`. `has_more` says whether more exist.
#[utoipa::path(
    get,
    path = "/api/instances/{id}/chat/messages",
    tag = "chat",
    security(("bearer" = [])),
    params(InstancePath, MessagesQuery),
    responses(
        (status = 200, description = "A page of history.", body = MessagesPage),
        (status = 400, description = errors::BAD_QUERY, body = ErrorEnvelope),
        (status = 404, description = "`NOT_FOUND`: no such instance, session (in this instance) or `after` message.", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`: `session_id` is missing, or `limit` is not 1 to 500.", body = ErrorEnvelope),
    ),
)]
async fn messages(
    state: web::Data<AppState>,
    caller: Authed<perm::Chat>,
    path: web::Path<String>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let q: MessagesQuery = super::query(&req)?;
    let id = owned_instance(&state, &caller, &path).await?;
    let session = owned_session(&state, &caller, id, q.session_id).await?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::validation("limit must be between 1 and 500"));
    }
    let after_seq = match q.after {
        Some(mid) => Some(
            state
                .store
                .find_message(&session, mid)
                .await?
                .ok_or_else(|| ApiError::not_found("message"))?
                .seq,
        ),
        None => None,
    };
    let (rows, has_more) = state
        .store
        .list_messages(
            &session,
            Window {
                tail: q.tail,
                limit,
                after_seq,
            },
        )
        .await?;
    let messages: Vec<MessageView> = rows.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(MessagesPage {
        session_id: session.id,
        messages,
        has_more,
    }))
}

/// Follow a session (event feed)
///
/// Server-Sent Events: `ready` once, then a `message` event with the whole persisted message
/// (`MessageView`) every time one is created or changes — including a streaming reply, about
/// four times a second. Each `message` carries `id: <change number>`: reconnect with
/// `Last-Event-ID` to get every change since, or with `after=<message id>` to replay the
/// messages created after that one. Without either, only changes from now on are sent. A
/// `: keepalive` comment comes every 15 s. The stream ends when the service shuts down, or
/// when the client falls too far behind; resume with `Last-Event-ID`.
///
/// | event | id | data |
/// |---|---|---|
/// | `ready` | – | `EventsReady` `{"session_id"}` |
/// | `message` | change number | `MessageView` |
#[utoipa::path(
    get,
    path = "/api/instances/{id}/chat/events",
    tag = "chat",
    security(("bearer" = [])),
    params(
        InstancePath,
        EventsQuery,
        ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this change number (the `id:` of the last event received)."),
    ),
    responses(
        (status = 200, description = "A stream of Server-Sent Events (`ready`: `EventsReady`; `message`: `MessageView`).",
            content_type = "text/event-stream", body = serde_json::Value,
            example = "event: ready\ndata: {\"session_id\":\"9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d\"}\n\nid: 42\nevent: message\ndata: {\"content\":\"The repo is\",\"created_at\":\"2026-03-20T18:26:36.071Z\",\"id\":\"1c6f0e58-8a52-4a8e-a1f4-7d1c3b9e2a10\",\"role\":\"assistant\",\"session_id\":\"9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d\",\"status\":\"streaming\",\"updated_at\":\"2026-03-20T18:26:36.330Z\"}\n\n: keepalive\n\n"),
        (status = 400, description = errors::BAD_QUERY, body = ErrorEnvelope),
        (status = 404, description = "`NOT_FOUND`: no such instance, session (in this instance) or `after` message.", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`: `session_id` is missing.", body = ErrorEnvelope),
    ),
    extensions(("x-sse-events" = json!({
        "ready": {"$ref": "#/components/schemas/EventsReady"},
        "message": {"$ref": "#/components/schemas/MessageView"}
    }))),
)]
async fn events(
    state: web::Data<AppState>,
    caller: Authed<perm::Chat>,
    path: web::Path<String>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let q: EventsQuery = super::query(&req)?;
    let id = owned_instance(&state, &caller, &path).await?;
    let session = owned_session(&state, &caller, id, q.session_id).await?;
    // Subscribe before reading the backlog, so nothing falls between the two.
    let live = state.chat.subscribe(session.id);
    let last_event: Option<i64> = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok()?.trim().parse().ok());
    let backlog = match (last_event, q.after) {
        (Some(rev), _) => state.store.changed_since(&session, rev).await?,
        (None, Some(mid)) => {
            let seq = state
                .store
                .find_message(&session, mid)
                .await?
                .ok_or_else(|| ApiError::not_found("message"))?
                .seq;
            state.store.created_after(&session, seq).await?
        }
        (None, None) => Vec::new(),
    };
    // Without a resume point, only changes from now on are sent.
    let mut high = match (last_event, q.after) {
        (Some(rev), _) => rev,
        (None, Some(_)) => 0,
        (None, None) => session.rev,
    };
    let mut frames = vec![sse(
        "ready",
        &json!(EventsReady {
            session_id: session.id
        }),
        None,
    )];
    for m in backlog {
        high = high.max(m.rev);
        let rev = m.rev;
        frames.push(sse("message", &json!(MessageView::from(m)), Some(rev)));
    }
    let head = futures_util::stream::iter(frames.into_iter().map(Ok));
    let tail = futures_util::stream::unfold((live, high), |(mut live, mut high)| async move {
        loop {
            let next = tokio::time::timeout(KEEPALIVE_EVERY, live.recv()).await;
            let frame = match next {
                Err(_) => keepalive(),
                Ok(Ok(m)) if m.rev > high => {
                    high = m.rev;
                    let rev = m.rev;
                    sse("message", &json!(MessageView::from(m)), Some(rev))
                }
                Ok(Ok(_)) => continue, // already sent from the backlog
                // Fell behind the broadcast buffer: tell the client to resume by id.
                Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {
                    return None;
                }
                Ok(Err(_)) => return None,
            };
            return Some((Ok::<_, std::convert::Infallible>(frame), (live, high)));
        }
    });
    // Ends when the service shuts down; the client resumes with `Last-Event-ID`.
    let until_shutdown = state.shutdown.clone().cancelled_owned();
    Ok(sse_response().streaming(head.chain(tail).take_until(until_shutdown)))
}
