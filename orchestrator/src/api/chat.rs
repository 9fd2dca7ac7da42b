//! Chat (seed 001): sessions, sync and streamed turns, history, and the live event feed.
//!
//! SSE formats:
//! - `POST .../chat/stream`: `status` `{"state","detail"}` (queued, starting, booting,
//!   thinking); `message` either `{"type":"delta","content"}` (a piece of the reply) or
//!   `{"type":"message","message":{...}}` (a persisted message: the user's first, the
//!   assistant's last); `complete` `{"message_id","usage","duration_ms"}`;
//!   `system_notification` `{"kind","message"}` (model_error, gateway_unavailable, timeout).
//! - `GET .../chat/events`: `ready` `{"session_id"}` once, then `message` (a persisted message,
//!   whole) each time one is created or changes, with `id: <change number>` for
//!   `Last-Event-ID` resumption; a comment every 15 s keeps proxies from closing it.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{optional_json, parse_id};
use crate::auth::Caller;
use crate::chat::views::{MessageView, SessionView};
use crate::chat::{TurnEvent, TurnFailure};
use crate::error::{ApiError, ApiResult};
use crate::startup::AppState;
use crate::store::chat::Window;
use crate::store::entities::chat_session;

pub fn configure(cfg: &mut web::ServiceConfig) {
    let na = sandbox_agent::http::method_not_allowed;
    cfg.service(
        web::resource("/api/instances/{id}/chat/sessions")
            .route(web::get().to(list_sessions))
            .route(web::post().to(create_session))
            .default_service(na()),
    )
    .service(
        web::resource("/api/instances/{id}/chat")
            .route(web::post().to(chat))
            .default_service(na()),
    )
    .service(
        web::resource("/api/instances/{id}/chat/stream")
            .route(web::post().to(chat_stream))
            .default_service(na()),
    )
    .service(
        web::resource("/api/instances/{id}/chat/messages")
            .route(web::get().to(messages))
            .default_service(na()),
    )
    .service(
        web::resource("/api/instances/{id}/chat/events")
            .route(web::get().to(events))
            .default_service(na()),
    );
}

/// Body of `POST .../chat/sessions`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSessionRequest {
    /// Default: `Chat <time>`.
    pub title: Option<String>,
}

/// Body of `POST .../chat` and `.../chat/stream`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatRequest {
    /// The session to continue; omitted → a new session titled after the message.
    pub session_id: Option<Uuid>,
    pub message: String,
}

/// Query of `GET .../chat/messages`.
#[derive(Debug, Deserialize)]
pub struct MessagesQuery {
    pub session_id: Option<Uuid>,
    /// The latest `limit` messages, in chronological order.
    #[serde(default)]
    pub tail: bool,
    /// 1–500, default 50.
    pub limit: Option<u64>,
    /// Only messages after this message id.
    pub after: Option<Uuid>,
}

/// Query of `GET .../chat/events`.
#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    pub session_id: Option<Uuid>,
    /// Replay messages created after this message id first.
    pub after: Option<Uuid>,
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

/// `GET .../chat/sessions`: the instance's sessions (title, created, last activity, count).
async fn list_sessions(
    state: web::Data<AppState>,
    caller: Caller,
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

/// `POST .../chat/sessions`: start a session. `201`.
async fn create_session(
    state: web::Data<AppState>,
    caller: Caller,
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

/// Validate a chat request and find (or create) its session. A stopped instance is `409`
/// before anything is stored.
async fn prepare_turn(
    state: &AppState,
    caller: &Caller,
    raw_id: &str,
    body: &[u8],
) -> ApiResult<(Uuid, chat_session::Model, String)> {
    let id = owned_instance(state, caller, raw_id).await?;
    let req: ChatRequest =
        serde_json::from_slice(body).map_err(|e| sandbox_agent::http::serde_json_error(&e))?;
    let text = req.message.trim().to_owned();
    if text.is_empty() || text.chars().count() > MAX_MESSAGE_CHARS {
        return Err(ApiError::validation(format!(
            "message must be 1 to {MAX_MESSAGE_CHARS} characters"
        )));
    }
    state.manager.ensure_running(&caller.owner, id).await?;
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
    Ok((id, session, text))
}

/// `POST .../chat`: send a message and wait for the reply. Returns the persisted user and
/// assistant messages. Model errors are `502 MODEL_ERROR` (the failed reply is persisted).
async fn chat(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let (id, session, text) = prepare_turn(&state, &caller, &path, &body).await?;
    let mut rx = state
        .chat
        .start_turn(caller.owner, id, session.clone(), text);
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
        (Some(user), Some(assistant)) => Ok(HttpResponse::Ok().json(json!({
            "session_id": session.id,
            "user_message": user,
            "assistant_message": assistant,
            "usage": usage,
        }))),
        _ => Err(ApiError::internal(anyhow::anyhow!(
            "turn ended without a reply"
        ))),
    }
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

/// `POST .../chat/stream`: send a message and stream the reply over SSE (see module docs).
async fn chat_stream(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let (id, session, text) = prepare_turn(&state, &caller, &path, &body).await?;
    let rx = state
        .chat
        .start_turn(caller.owner, id, session.clone(), text);
    let head = futures_util::stream::iter([sse(
        "status",
        &json!({"state": "accepted", "detail": "turn accepted", "session_id": session.id}),
        None,
    )]);
    let events = futures_util::stream::unfold(rx, |mut rx| async move {
        let ev = rx.recv().await?;
        let frame = match ev {
            TurnEvent::Status { state, detail } => {
                sse("status", &json!({"state": state, "detail": detail}), None)
            }
            TurnEvent::Delta(content) => sse(
                "message",
                &json!({"type": "delta", "content": content}),
                None,
            ),
            TurnEvent::Message(m) => {
                sse("message", &json!({"type": "message", "message": m}), None)
            }
            TurnEvent::Notice { kind, message } => sse(
                "system_notification",
                &json!({"kind": kind, "message": message}),
                None,
            ),
            TurnEvent::Complete {
                message_id,
                usage,
                duration_ms,
            } => sse(
                "complete",
                &json!({"message_id": message_id, "usage": usage, "duration_ms": duration_ms}),
                None,
            ),
            TurnEvent::Failed(f) => {
                let TurnFailure { code, message, .. } = *f;
                sse(
                    "complete",
                    &json!({"error": {"code": code.as_str(), "message": message}}),
                    None,
                )
            }
        };
        Some((Ok::<_, std::convert::Infallible>(frame), rx))
    });
    Ok(sse_response().streaming(head.map(Ok).chain(events)))
}

/// `GET .../chat/messages?session_id=&tail=&limit=&after=`: history in chronological order.
async fn messages(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    q: web::Query<MessagesQuery>,
) -> ApiResult<HttpResponse> {
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
    Ok(HttpResponse::Ok().json(json!({
        "session_id": session.id,
        "messages": messages,
        "has_more": has_more,
    })))
}

/// `GET .../chat/events?session_id=&after=`: `ready`, then every persisted change (SSE).
async fn events(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    q: web::Query<EventsQuery>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
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
    let mut frames = vec![sse("ready", &json!({"session_id": session.id}), None)];
    for m in backlog {
        high = high.max(m.rev);
        let rev = m.rev;
        frames.push(sse("message", &json!(MessageView::from(m)), Some(rev)));
    }
    let head = futures_util::stream::iter(frames.into_iter().map(Ok));
    let tail = futures_util::stream::unfold((live, high), |(mut live, mut high)| async move {
        loop {
            let next = tokio::time::timeout(Duration::from_secs(15), live.recv()).await;
            let frame = match next {
                Err(_) => Bytes::from_static(b": keepalive\n\n"),
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
