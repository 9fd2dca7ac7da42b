//! One chat turn: persist the user message, relay it to the gateway through the agent, stream
//! the reply, persist it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use sandbox_agent::protocol::{self, GatewayState};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::ChatService;
use super::views::{MessageView, Usage};
use crate::agent_client;
use crate::error::{ApiError, ErrorCode};
use crate::store::Owner;
use crate::store::chat::MessageUpdate;
use crate::store::entities::{chat_message, chat_session};

/// How often the partial reply is persisted (and so shown on `chat/events`).
const PERSIST_EVERY: Duration = Duration::from_millis(250);

/// Progress of a turn, for `chat/stream` (SSE) and sync `chat`.
#[derive(Debug, Clone)]
pub enum TurnEvent {
    /// `queued`, `starting`, `booting`, `thinking`, with a sentence for people.
    Status { state: &'static str, detail: String },
    /// A persisted message (the user's at the start, the assistant's at the end).
    Message(MessageView),
    /// A piece of assistant text.
    Delta(String),
    /// Something the user should know that is not part of the reply.
    Notice { kind: &'static str, message: String },
    /// The turn ended well.
    Complete {
        message_id: Uuid,
        usage: Option<Usage>,
        duration_ms: u64,
    },
    /// The turn failed; the assistant message is persisted as `failed`.
    Failed(Box<TurnFailure>),
}

/// Why a turn failed, as an API error code and message.
#[derive(Debug, Clone)]
pub struct TurnFailure {
    pub code: ErrorCode,
    pub message: String,
    /// The persisted user and (failed) assistant messages, when they exist.
    pub user: Option<MessageView>,
    pub assistant: Option<MessageView>,
}

impl From<TurnFailure> for ApiError {
    fn from(f: TurnFailure) -> Self {
        ApiError::new(f.code, f.message)
    }
}

pub(super) async fn run(
    svc: Arc<ChatService>,
    owner: Owner,
    instance_id: Uuid,
    session: chat_session::Model,
    text: String,
    waking: Option<String>,
    tx: mpsc::Sender<TurnEvent>,
) {
    let emit = |e: TurnEvent| {
        let tx = tx.clone();
        async move {
            // The client may have gone; the turn goes on regardless.
            let _ = tx.send(e).await;
        }
    };
    // A turn keeps the instance awake even when no client waits for it.
    let _busy = svc.manager.busy(instance_id);
    let slot = svc.slot(session.id);
    let _turn = match slot.turn.try_lock() {
        Ok(g) => g,
        Err(_) => {
            emit(TurnEvent::Status {
                state: "queued",
                detail: "waiting for the previous turn of this session to finish".into(),
            })
            .await;
            slot.turn.lock().await
        }
    };
    // Read the session again under the lock: a turn queued behind another sees what that
    // turn recorded (which gateway store has seen the history).
    let session = match svc.store.get_session(&owner, instance_id, session.id).await {
        Ok(Some(s)) => s,
        _ => session,
    };
    let fail_early = |code, message: String| {
        TurnEvent::Failed(Box::new(TurnFailure {
            code,
            message,
            user: None,
            assistant: None,
        }))
    };
    let user = match svc
        .store
        .insert_message(&session, "user", &text, "complete")
        .await
    {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(error = %e, "could not persist user message");
            emit(fail_early(
                ErrorCode::Internal,
                "could not store the message".into(),
            ))
            .await;
            return;
        }
    };
    svc.publish(&user);
    emit(TurnEvent::Message(user.clone().into())).await;
    let assistant = match svc
        .store
        .insert_message(&session, "assistant", "", "streaming")
        .await
    {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(error = %e, "could not persist assistant message");
            emit(fail_early(
                ErrorCode::Internal,
                "could not store the reply".into(),
            ))
            .await;
            return;
        }
    };
    svc.publish(&assistant);

    let started = Instant::now();
    let timeout = Duration::from_secs(svc.settings.turn_timeout_s);
    let mut state = Reply::default();
    let outcome = tokio::time::timeout(
        timeout,
        relay(
            &svc,
            &owner,
            instance_id,
            &session,
            &user,
            &assistant,
            waking,
            &tx,
            &mut state,
        ),
    )
    .await
    .unwrap_or_else(|_| {
        Err((
            ErrorCode::Timeout,
            format!("the turn took longer than {} s", timeout.as_secs()),
        ))
    });
    let duration_ms = started.elapsed().as_millis() as u64;
    match outcome {
        Ok(()) => {
            let up = MessageUpdate {
                content: state.text.clone(),
                status: "complete",
                error: None,
                tokens_in: state.usage.as_ref().map(|u| u.input_tokens),
                tokens_out: state.usage.as_ref().map(|u| u.output_tokens),
                duration_ms: Some(duration_ms as i64),
            };
            match svc.store.update_message(&assistant, up).await {
                Ok(done) => {
                    svc.publish(&done);
                    emit(TurnEvent::Message(done.clone().into())).await;
                    emit(TurnEvent::Complete {
                        message_id: done.id,
                        usage: state.usage,
                        duration_ms,
                    })
                    .await;
                }
                Err(e) => {
                    tracing::error!(error = %e, "could not persist reply");
                    emit(fail_early(
                        ErrorCode::Internal,
                        "could not store the reply".into(),
                    ))
                    .await;
                }
            }
        }
        Err((code, message)) => {
            let up = MessageUpdate {
                content: state.text.clone(),
                status: "failed",
                error: Some(message.clone()),
                duration_ms: Some(duration_ms as i64),
                ..Default::default()
            };
            let failed = svc.store.update_message(&assistant, up).await.ok();
            if let Some(f) = &failed {
                svc.publish(f);
            }
            let kind = match code {
                ErrorCode::ModelError => "model_error",
                ErrorCode::Unavailable => "gateway_unavailable",
                ErrorCode::Timeout => "timeout",
                _ => "turn_failed",
            };
            emit(TurnEvent::Notice {
                kind,
                message: message.clone(),
            })
            .await;
            emit(TurnEvent::Failed(Box::new(TurnFailure {
                code,
                message,
                user: Some(user.into()),
                assistant: failed.map(Into::into),
            })))
            .await;
        }
    }
}

/// What has come back so far.
#[derive(Default)]
struct Reply {
    text: String,
    usage: Option<Usage>,
}

#[allow(clippy::too_many_arguments)]
async fn relay(
    svc: &Arc<ChatService>,
    owner: &Owner,
    instance_id: Uuid,
    session: &chat_session::Model,
    user: &chat_message::Model,
    assistant: &chat_message::Model,
    waking: Option<String>,
    tx: &mpsc::Sender<TurnEvent>,
    reply: &mut Reply,
) -> Result<(), (ErrorCode, String)> {
    let status = |state: &'static str, detail: &str| {
        let _ = tx.try_send(TurnEvent::Status {
            state,
            detail: detail.to_owned(),
        });
    };
    // The request woke the instance (or found it waking): say so, and how it comes up.
    match waking {
        Some(how) => status(
            "waking",
            &format!("the instance was asleep and is waking up: {how}"),
        ),
        None => {
            if let Ok(Some(m)) = svc.store.get_instance(owner, instance_id).await
                && m.status != "ready"
            {
                status("starting", "the instance is starting");
            }
        }
    }
    let endpoint = svc
        .manager
        .endpoint(owner, instance_id)
        .await
        .map_err(|e| (e.code, e.message))?;
    let mut gateway = agent_client::gateway_status(&endpoint).await;
    if let Some(gw) = &gateway {
        let booting = match gw.state {
            GatewayState::Booting => {
                status(
                    "booting",
                    "the agent is booting (a first boot takes about 20 s)",
                );
                true
            }
            GatewayState::Crashed => {
                status("booting", "the agent is restarting");
                true
            }
            _ => false,
        };
        // Wait for the boot here, so that `thinking` means the agent has the turn. (The
        // sandbox-agent would hold the request as long; it just could not say when it is done.)
        if booting {
            let deadline =
                tokio::time::Instant::now() + Duration::from_secs(svc.settings.gateway_wait_s);
            while tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(250)).await;
                gateway = agent_client::gateway_status(&endpoint).await;
                if !matches!(
                    gateway.as_ref().map(|g| &g.state),
                    Some(GatewayState::Booting | GatewayState::Crashed)
                ) {
                    break;
                }
            }
        }
    }
    // A gateway whose session store has not seen this conversation (a warm-pool sandbox, a
    // lost state directory) is given the history with the new message; the gateway folds it
    // into the turn's context and remembers it from then on.
    let store_id = gateway.and_then(|g| g.store_id);
    let unseen = store_id
        .as_ref()
        .is_some_and(|id| session.gateway_store_id.as_ref() != Some(id));
    let mut messages = Vec::new();
    if unseen {
        let history = svc
            .store
            .history_before(session, user.seq, REPLAY_MAX_MESSAGES)
            .await
            .map_err(|e| (ErrorCode::Internal, e.to_string()))?;
        messages = replay_messages(&history);
        if !messages.is_empty() {
            let _ = tx.try_send(TurnEvent::Notice {
                kind: "history_restored",
                message: format!(
                    "the agent runs in a fresh sandbox; it was given this session's last {} message(s) with your new one",
                    messages.len()
                ),
            });
        }
    }
    messages.push(json!({"role": "user", "content": user.content}));
    status("thinking", "the agent is working on it");

    let body = json!({
        "model": "openclaw/default",
        "messages": messages,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    let req = agent_client::request(&endpoint, "POST", protocol::routes::GATEWAY_CHAT)
        .header("content-type", "application/json")
        .header(protocol::sandbox::SESSION_HEADER, session.id.to_string())
        .header(
            "x-ocaas-wait-ms",
            (svc.settings.gateway_wait_s * 1000).to_string(),
        )
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| (ErrorCode::Internal, e.to_string()))?;
    let resp = agent_client::send(&endpoint, req)
        .await
        .map_err(|e| (ErrorCode::SandboxUnavailable, e.to_string()))?;
    let code = resp.status();
    if !code.is_success() {
        let raw = resp
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        return Err(classify_error(code.as_u16(), &raw));
    }

    let mut body = resp.into_body();
    let mut pending = Vec::<u8>::new();
    let mut last_persist = Instant::now();
    let mut persisted_len = 0;
    'frames: while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            (
                ErrorCode::Unavailable,
                format!("the agent stopped answering during the turn ({e}); it is restarted automatically"),
            )
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        pending.extend_from_slice(&data);
        while let Some(pos) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=pos).collect();
            match parse_sse_line(&line) {
                SseLine::Delta(piece) => {
                    reply.text.push_str(&piece);
                    let _ = tx.send(TurnEvent::Delta(piece)).await;
                }
                SseLine::Usage(u) => reply.usage = Some(u),
                SseLine::Error(msg) => return Err((ErrorCode::ModelError, msg)),
                SseLine::Done => break 'frames,
                SseLine::Other => {}
            }
        }
        if last_persist.elapsed() >= PERSIST_EVERY && reply.text.len() != persisted_len {
            last_persist = Instant::now();
            persisted_len = reply.text.len();
            let up = MessageUpdate {
                content: reply.text.clone(),
                status: "streaming",
                ..Default::default()
            };
            if let Ok(m) = svc.store.update_message(assistant, up).await {
                svc.publish(&m);
            }
        }
    }
    if let (true, Some(id)) = (unseen, &store_id)
        && let Err(e) = svc.store.set_gateway_store(session, id).await
    {
        tracing::warn!(session_id = %session.id, error = %e, "could not record the gateway store");
    }
    Ok(())
}

/// At most this many earlier messages are replayed to a gateway that has not seen them.
const REPLAY_MAX_MESSAGES: u64 = 100;
/// ... and at most this much of their text (the newest messages are kept).
const REPLAY_MAX_BYTES: usize = 256 * 1024;

/// The earlier turns as chat-completion messages, newest kept within [`REPLAY_MAX_BYTES`].
fn replay_messages(history: &[chat_message::Model]) -> Vec<Value> {
    let mut budget = REPLAY_MAX_BYTES;
    let mut kept: Vec<Value> = history
        .iter()
        .rev()
        .filter(|m| !m.content.is_empty())
        .take_while(|m| {
            let fits = m.content.len() <= budget;
            budget = budget.saturating_sub(m.content.len());
            fits
        })
        .map(|m| json!({"role": m.role, "content": m.content}))
        .collect();
    kept.reverse();
    kept
}

/// Map a non-2xx answer from the agent/gateway to an error code and a message for people.
fn classify_error(status: u16, raw: &[u8]) -> (ErrorCode, String) {
    let v: Value = serde_json::from_slice(raw).unwrap_or(Value::Null);
    let detail = v["error"]["message"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| String::from_utf8_lossy(raw).chars().take(300).collect());
    match (status, v["error"]["code"].as_str()) {
        (503, Some("UNAVAILABLE")) => (
            ErrorCode::Unavailable,
            format!("the agent is not available: {detail}"),
        ),
        _ => (
            ErrorCode::ModelError,
            format!("the agent could not answer (HTTP {status}): {detail}"),
        ),
    }
}

enum SseLine {
    Delta(String),
    Usage(Usage),
    Error(String),
    Done,
    Other,
}

fn parse_sse_line(line: &[u8]) -> SseLine {
    let text = String::from_utf8_lossy(line);
    let Some(data) = text.trim().strip_prefix("data:").map(str::trim) else {
        return SseLine::Other;
    };
    if data == "[DONE]" {
        return SseLine::Done;
    }
    let Ok(v) = serde_json::from_str::<Value>(data) else {
        return SseLine::Other;
    };
    if let Some(msg) = v["error"]["message"].as_str() {
        return SseLine::Error(msg.to_owned());
    }
    if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
        return SseLine::Usage(Usage {
            input_tokens: u["prompt_tokens"].as_i64().unwrap_or(0),
            output_tokens: u["completion_tokens"].as_i64().unwrap_or(0),
        });
    }
    match v["choices"][0]["delta"]["content"].as_str() {
        Some(piece) if !piece.is_empty() => SseLine::Delta(piece.to_owned()),
        _ => SseLine::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_openai_stream_lines() {
        assert!(matches!(
            parse_sse_line(br#"data: {"choices":[{"delta":{"content":"hi"}}]}"#),
            SseLine::Delta(s) if s == "hi"
        ));
        assert!(matches!(
            parse_sse_line(
                br#"data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}"#
            ),
            SseLine::Usage(Usage {
                input_tokens: 3,
                output_tokens: 4
            })
        ));
        assert!(matches!(parse_sse_line(b"data: [DONE]\n"), SseLine::Done));
        assert!(matches!(
            parse_sse_line(br#"data: {"error":{"message":"boom"}}"#),
            SseLine::Error(m) if m == "boom"
        ));
        assert!(matches!(parse_sse_line(b": keepalive"), SseLine::Other));
    }

    #[test]
    fn classifies_agent_errors() {
        let (code, _) = classify_error(
            503,
            br#"{"error":{"code":"UNAVAILABLE","message":"gateway is crashed"}}"#,
        );
        assert_eq!(code, ErrorCode::Unavailable);
        let (code, msg) = classify_error(500, br#"{"error":{"message":"model down"}}"#);
        assert_eq!(code, ErrorCode::ModelError);
        assert!(msg.contains("model down"));
    }
}
