//! Relaying a customer's websocket to a sandbox's agent (`terminal/ws` → `GET /pty`,
//! `vnc/ws` → `GET /vnc`).
//!
//! The customer side is actix-ws; the agent side is tokio-tungstenite over the same byte
//! streams the HTTP relay uses (a unix socket locally, TCP on Kubernetes). The agent
//! connection is opened *before* the customer's upgrade is accepted, so everything that can
//! fail (a stopped instance, an unknown terminal session, a bad size) is answered with the
//! error envelope and the right status, never with an upgrade that closes at once.
//!
//! Frames pass through with their type: binary as binary, text as text, close frames with
//! their code (a customer's close 1000 reaches the agent as 1000, which ends a terminal; a
//! dropped customer connection drops the agent connection without a close frame, which keeps
//! the terminal for reattaching). Pings are answered on each leg. Each direction awaits the
//! other leg's acceptance before reading more, so a slow reader slows the sender instead of
//! growing buffers here.

use actix_web::HttpResponse;
use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, Session};
use futures_util::{SinkExt as _, StreamExt as _};
use sandbox_agent::protocol::{self, ErrorCode, ErrorEnvelope};
use tokio_tungstenite::{
    WebSocketStream, client_async_with_config,
    tungstenite::{
        self, Message,
        client::IntoClientRequest as _,
        protocol::{CloseFrame, WebSocketConfig, frame::coding::CloseCode as TCloseCode},
    },
};

use crate::agent_client::{self, Io};
use crate::error::ApiError;
use crate::runtime::AgentEndpoint;

/// A websocket to an agent.
pub type AgentSocket = WebSocketStream<Box<dyn Io>>;

/// Largest message accepted from either side (a terminal or RFB frame is far smaller).
const MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// Open a websocket to the agent's `path_and_query`. A refusal by the agent comes back as
/// the response to give the customer (the agent's own status and error envelope).
pub async fn connect(
    endpoint: &AgentEndpoint,
    path_and_query: &str,
) -> Result<AgentSocket, HttpResponse> {
    let io = agent_client::connect(&endpoint.addr)
        .await
        .map_err(|e| error_response(ApiError::from(e)))?;
    let mut req = format!("ws://sandbox-agent{path_and_query}")
        .into_client_request()
        .map_err(|e| error_response(ApiError::internal(e)))?;
    let bearer = format!("Bearer {}", endpoint.token.expose())
        .parse()
        .map_err(|e| error_response(ApiError::internal(anyhow::anyhow!("{e}"))))?;
    req.headers_mut().insert(protocol::AUTHORIZATION, bearer);
    let mut config = WebSocketConfig::default();
    config.max_message_size = Some(MAX_MESSAGE);
    config.max_frame_size = Some(MAX_MESSAGE);
    match client_async_with_config(req, io, Some(config)).await {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::Error::Http(refused)) => Err(passed_on(&refused)),
        Err(e) => Err(error_response(ApiError::new(
            ErrorCode::SandboxUnavailable,
            format!("the sandbox refused the websocket: {e}"),
        ))),
    }
}

/// The agent's refusal as the customer's answer: its status and envelope, or a generic
/// `502` if the body is not an envelope.
fn passed_on(refused: &tungstenite::http::Response<Option<Vec<u8>>>) -> HttpResponse {
    let body = refused.body().as_deref().unwrap_or_default();
    let error = serde_json::from_slice::<ErrorEnvelope>(body)
        .ok()
        .and_then(|env| {
            let code = ErrorCode::from_wire(&env.error.code)?;
            Some(ApiError::new(code, env.error.message))
        })
        .unwrap_or_else(|| {
            ApiError::new(
                ErrorCode::SandboxUnavailable,
                format!(
                    "the sandbox refused the websocket with status {}",
                    refused.status()
                ),
            )
        });
    error_response(error)
}

fn error_response(error: ApiError) -> HttpResponse {
    actix_web::ResponseError::error_response(&error)
}

/// Accept the customer's upgrade (offering `protocols`) and relay it to `agent` in the
/// background.
pub fn accept(
    req: &actix_web::HttpRequest,
    body: actix_web::web::Payload,
    agent: AgentSocket,
    protocols: &[&str],
    shutdown: tokio_util::sync::CancellationToken,
) -> Result<HttpResponse, ApiError> {
    let (response, session, stream) = actix_ws::handle_with_protocols(req, body, protocols)
        .map_err(|e| {
            ApiError::new(
                ErrorCode::BadRequest,
                format!("expected a websocket upgrade: {e}"),
            )
        })?;
    let stream = stream
        .max_frame_size(MAX_MESSAGE)
        .aggregate_continuations()
        .max_continuation_size(MAX_MESSAGE);
    actix_web::rt::spawn(relay(session, stream, agent, shutdown));
    Ok(response)
}

/// How a relay ended.
#[derive(Debug)]
enum End {
    /// The customer sent a close frame (passed on to the agent).
    CustomerClosed,
    /// The customer's connection broke (the agent's is dropped without a close frame).
    CustomerDropped,
    /// The agent closed (its close frame is passed on to the customer).
    AgentClosed(Option<CloseReason>),
    /// The agent's connection broke.
    AgentDropped,
    /// The orchestrator is shutting down (the customer gets 1001; the agent connection is
    /// dropped, so a terminal stays reattachable).
    Shutdown,
}

async fn relay(
    mut session: Session,
    mut customer: AggregatedMessageStream,
    agent: AgentSocket,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let (mut to_agent, mut from_agent) = agent.split();
    let end = loop {
        tokio::select! {
            () = shutdown.cancelled() => break End::Shutdown,
            msg = customer.recv() => {
                let forward = match msg {
                    None | Some(Err(_)) => break End::CustomerDropped,
                    Some(Ok(AggregatedMessage::Binary(bytes))) => Message::Binary(bytes),
                    Some(Ok(AggregatedMessage::Text(text))) => Message::text(text.to_string()),
                    Some(Ok(AggregatedMessage::Ping(payload))) => {
                        if session.pong(&payload).await.is_err() {
                            break End::CustomerDropped;
                        }
                        continue;
                    }
                    Some(Ok(AggregatedMessage::Pong(_))) => continue,
                    Some(Ok(AggregatedMessage::Close(reason))) => {
                        let frame = reason.map(|r| CloseFrame {
                            code: TCloseCode::from(u16::from(r.code)),
                            reason: r.description.unwrap_or_default().into(),
                        });
                        // The closing handshake: wait (briefly) for the agent's close frame
                        // before dropping the connection, so the agent has read ours — a
                        // close 1000 ends a terminal, a bare disconnect would keep it.
                        if to_agent.send(Message::Close(frame)).await.is_ok() {
                            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
                                while let Some(Ok(m)) = from_agent.next().await {
                                    if m.is_close() {
                                        break;
                                    }
                                }
                            })
                            .await;
                        }
                        break End::CustomerClosed;
                    }
                };
                if to_agent.send(forward).await.is_err() {
                    break End::AgentDropped;
                }
            }
            msg = from_agent.next() => {
                let sent = match msg {
                    None | Some(Err(_)) => break End::AgentDropped,
                    Some(Ok(Message::Binary(bytes))) => session.binary(bytes).await,
                    Some(Ok(Message::Text(text))) => session.text(text.as_str().to_owned()).await,
                    Some(Ok(Message::Close(frame))) => {
                        break End::AgentClosed(frame.map(|f| CloseReason {
                            code: CloseCode::from(u16::from(f.code)),
                            description: (!f.reason.is_empty()).then(|| f.reason.to_string()),
                        }));
                    }
                    // tungstenite answers the agent's pings itself.
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                };
                if sent.is_err() {
                    break End::CustomerDropped;
                }
            }
        }
    };
    tracing::debug!(?end, "websocket relay ended");
    let customer_gone = matches!(end, End::CustomerDropped);
    let reason = match end {
        End::AgentClosed(reason) => reason,
        End::AgentDropped => Some(CloseReason {
            code: CloseCode::Error,
            description: Some("the sandbox connection was lost".into()),
        }),
        End::Shutdown => Some(CloseReason {
            code: CloseCode::Away,
            description: Some("the service is restarting: reconnect (terminals reattach)".into()),
        }),
        End::CustomerClosed | End::CustomerDropped => None,
    };
    if !customer_gone {
        let _ =
            tokio::time::timeout(std::time::Duration::from_secs(1), session.close(reason)).await;
    }
    // Dropping both halves closes the agent connection (after a close frame if one was sent).
    drop((to_agent, from_agent));
}

/// `400 BAD_REQUEST` unless `req` asks for a websocket upgrade. Checked before the agent is
/// contacted, so a plain GET never opens a terminal nobody will use.
pub fn check_upgrade(req: &actix_web::HttpRequest) -> Result<(), ApiError> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase()
    };
    let upgrade = header("upgrade")
        .split(',')
        .any(|p| p.trim() == "websocket");
    let connection = header("connection")
        .split(',')
        .any(|p| p.trim() == "upgrade");
    if upgrade && connection && !header("sec-websocket-key").is_empty() {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::BadRequest,
        "this route is a websocket: send a GET with `Upgrade: websocket`",
    ))
}

/// A query string without its `token` parameter (the agent has its own credentials).
pub fn without_token(query: &str) -> String {
    query
        .split('&')
        .filter(|pair| !pair.is_empty() && pair.split('=').next() != Some("token"))
        .collect::<Vec<_>>()
        .join("&")
}

/// `path?query`, or just `path` when the query is empty.
pub fn with_query(path: &str, query: &str) -> String {
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_never_reaches_the_agent() {
        assert_eq!(
            without_token("token=abc&cols=80&rows=24"),
            "cols=80&rows=24"
        );
        assert_eq!(without_token("cols=80&token=abc"), "cols=80");
        assert_eq!(without_token("token=abc"), "");
        assert_eq!(without_token("tokens=1&session=x"), "tokens=1&session=x");
        assert_eq!(with_query("/pty", ""), "/pty");
        assert_eq!(with_query("/pty", "session=x"), "/pty?session=x");
    }
}
