//! The orchestrator's error type. Every failure a handler returns becomes one entry of the
//! shared catalogue (`sandbox_agent::protocol::ErrorCode`) rendered as
//! `{"error":{"code","message","retryAfter"?}}`.
//!
//! **Invariant:** an unexpected failure is an opaque `500 INTERNAL`; its cause chain goes to
//! the log inside the request's span (so it carries the request id), never to the client.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
pub use sandbox_agent::protocol::ErrorCode;
use sandbox_agent::protocol::ErrorEnvelope;

/// An error on its way to becoming an HTTP response.
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub retry_after: Option<u64>,
    /// For `INTERNAL` only: what really happened, for the log.
    source: Option<anyhow::Error>,
}

/// Handler result.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            retry_after: None,
            source: None,
        }
    }

    /// An unexpected failure: the client sees only that something went wrong.
    pub fn internal(source: impl Into<anyhow::Error>) -> Self {
        ApiError {
            code: ErrorCode::Internal,
            message: "internal error; the request id is in the x-request-id header".into(),
            retry_after: None,
            source: Some(source.into()),
        }
    }

    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    pub fn not_found(what: &str) -> Self {
        ApiError::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    pub fn validation(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::ValidationFailed, message)
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)?;
        if let Some(src) = &self.source {
            write!(f, " ({src:#})")?;
        }
        Ok(())
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        if let Some(src) = &self.source {
            tracing::error!(error = %format!("{src:#}"), cause = ?src, "request failed");
        }
        let mut env = ErrorEnvelope::new(self.code, self.message.clone());
        env.error.retry_after = self.retry_after;
        let mut resp = HttpResponse::build(self.status_code());
        if let Some(s) = self.retry_after {
            resp.insert_header(("Retry-After", s.to_string()));
        }
        resp.json(env)
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        ApiError::internal(e)
    }
}

impl From<crate::agent_client::AgentUnreachable> for ApiError {
    fn from(e: crate::agent_client::AgentUnreachable) -> Self {
        tracing::warn!(error = %e, "sandbox agent unreachable");
        ApiError::new(
            ErrorCode::SandboxUnavailable,
            "the instance's sandbox did not answer; retry, or reboot the instance",
        )
    }
}

impl From<sandbox_agent::http::ApiError> for ApiError {
    fn from(e: sandbox_agent::http::ApiError) -> Self {
        ApiError::new(e.code, e.message)
    }
}
