//! How sessions and messages look in the API.

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::api::timestamp;
use crate::store::entities::{chat_message, chat_session};

/// A chat session.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"id": "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d", "instance_id": "3f2b8c4e-1d6a-4f7b-9e2c-5a8d0b1c2e3f", "title": "CLI session", "created_at": "2026-03-20T18:25:00.000Z", "last_activity_at": "2026-03-20T18:26:41.302Z", "message_count": 4}))]
pub struct SessionView {
    pub id: Uuid,
    pub instance_id: Uuid,
    pub title: String,
    pub created_at: String,
    /// The latest message's time (or `created_at`).
    pub last_activity_at: String,
    /// Messages in the session, both roles.
    pub message_count: i32,
}

impl From<chat_session::Model> for SessionView {
    fn from(s: chat_session::Model) -> Self {
        SessionView {
            id: s.id,
            instance_id: s.instance_id,
            title: s.title,
            created_at: timestamp(&s.created_at),
            last_activity_at: timestamp(&s.last_activity_at),
            message_count: s.message_count,
        }
    }
}

/// Token usage of one assistant turn, as the model provider reported it.
#[derive(Debug, Clone, Serialize, PartialEq, ToSchema)]
#[schema(example = json!({"input_tokens": 812, "output_tokens": 164}))]
pub struct Usage {
    pub input_tokens: i64,
    pub output_tokens: i64,
}

/// A persisted chat message.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"id": "1c6f0e58-8a52-4a8e-a1f4-7d1c3b9e2a10", "session_id": "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d", "role": "assistant", "content": "The repo is a Rust workspace with two crates...", "status": "complete", "usage": {"input_tokens": 812, "output_tokens": 164}, "duration_ms": 5230, "created_at": "2026-03-20T18:26:36.071Z", "updated_at": "2026-03-20T18:26:41.302Z"}))]
pub struct MessageView {
    pub id: Uuid,
    pub session_id: Uuid,
    /// `user` or `assistant`.
    pub role: String,
    pub content: String,
    /// `complete`, `streaming` (an assistant reply still being written) or `failed`.
    pub status: String,
    /// Why the reply failed (`status: failed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// How long the reply took (assistant messages that ended).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<i64>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<chat_message::Model> for MessageView {
    fn from(m: chat_message::Model) -> Self {
        let usage = match (m.tokens_in, m.tokens_out) {
            (None, None) => None,
            (i, o) => Some(Usage {
                input_tokens: i.unwrap_or(0),
                output_tokens: o.unwrap_or(0),
            }),
        };
        MessageView {
            id: m.id,
            session_id: m.session_id,
            role: m.role,
            content: m.content,
            status: m.status,
            error: m.error,
            usage,
            duration_ms: m.duration_ms,
            created_at: timestamp(&m.created_at),
            updated_at: timestamp(&m.updated_at),
        }
    }
}
