//! HTTP plumbing shared by the agent and the orchestrator: the error envelope, extractor
//! configurations that answer in the envelope, and an error type handlers can return.
//!
//! Every error a client sees has the shape of [`ErrorEnvelope`] and a code from [`ErrorCode`],
//! including the errors actix-web itself produces (bad JSON, bad query, unknown route).

use std::{fmt, io};

use actix_web::{
    HttpRequest, HttpResponse, ResponseError,
    error::{JsonPayloadError, PathError, PayloadError, QueryPayloadError},
    http::StatusCode,
    web,
};

use crate::protocol::{ErrorCode, ErrorEnvelope};

/// Render `code` and `message` as the error envelope with the code's HTTP status.
pub fn error_response(code: ErrorCode, message: impl Into<String>) -> HttpResponse {
    let status = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status).json(ErrorEnvelope::new(code, message))
}

/// An error a handler returns; rendered as the error envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The catalogue code; decides the HTTP status.
    pub code: ErrorCode,
    /// A sentence for people. Never contains host paths or secrets.
    pub message: String,
}

impl ApiError {
    /// An error with any code.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }

    /// `400 BAD_REQUEST`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    /// `400 PATH_OUTSIDE_WORKSPACE`.
    pub fn outside_workspace(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::PathOutsideWorkspace, message)
    }

    /// `404 NOT_FOUND`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// `409 CONFLICT`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Conflict, message)
    }

    /// `422 VALIDATION_FAILED`.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ValidationFailed, message)
    }

    /// `500 INTERNAL` with an opaque message; log the cause before calling this.
    pub fn internal() -> Self {
        Self::new(
            ErrorCode::Internal,
            "internal error; the details are in the agent log",
        )
    }

    /// Map a filesystem error about the virtual path `path` (`/workspace/...`, never a host
    /// path) to an API error. Unexpected kinds are logged and become an opaque `500`.
    pub fn from_io(err: &io::Error, path: &str) -> Self {
        use io::ErrorKind as K;
        match err.kind() {
            K::NotFound => Self::not_found(format!("no such file or directory: {path}")),
            K::AlreadyExists => Self::conflict(format!("already exists: {path}")),
            K::PermissionDenied => {
                Self::new(ErrorCode::Forbidden, format!("permission denied: {path}"))
            }
            K::NotADirectory => Self::conflict(format!("not a directory: {path}")),
            K::IsADirectory => Self::conflict(format!("is a directory: {path}")),
            K::DirectoryNotEmpty => Self::conflict(format!("directory not empty: {path}")),
            K::InvalidFilename => Self::bad_request(format!("invalid file name: {path}")),
            K::InvalidInput => Self::bad_request(format!("invalid argument for {path}")),
            K::ReadOnlyFilesystem => Self::new(
                ErrorCode::Forbidden,
                format!("read-only file system: {path}"),
            ),
            K::StorageFull | K::QuotaExceeded => {
                Self::conflict(format!("no space left on the workspace volume: {path}"))
            }
            // O_NOFOLLOW refused a symlink that appeared after the path was checked.
            _ if err.raw_os_error() == Some(libc::ELOOP) => {
                Self::outside_workspace(format!("refusing to follow a symlink: {path}"))
            }
            _ => {
                tracing::error!(error = %err, path, "filesystem error");
                Self::internal()
            }
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for ApiError {}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        error_response(self.code, self.message.clone())
    }
}

/// Map a JSON body error (from [`web::Json`] or a hand-parsed body) to an API error.
pub fn json_error(err: &JsonPayloadError) -> ApiError {
    match err {
        JsonPayloadError::OverflowKnownLength { length, limit } => ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("JSON body of {length} bytes is larger than the limit of {limit} bytes"),
        ),
        JsonPayloadError::Overflow { limit } => ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("JSON body is larger than the limit of {limit} bytes"),
        ),
        JsonPayloadError::ContentType => ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "expected Content-Type: application/json",
        ),
        JsonPayloadError::Deserialize(e) => serde_json_error(e),
        JsonPayloadError::Payload(e) => payload_error(e),
        other => {
            tracing::error!(error = %other, "JSON error");
            ApiError::internal()
        }
    }
}

/// Map a `serde_json` parse error: syntax → `400 INVALID_JSON`, shape → `422 VALIDATION_FAILED`.
pub fn serde_json_error(err: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match err.classify() {
        Category::Data => ApiError::validation(format!("invalid request body: {err}")),
        Category::Syntax | Category::Eof => ApiError::new(
            ErrorCode::InvalidJson,
            format!("body is not valid JSON: {err}"),
        ),
        Category::Io => ApiError::bad_request(format!("could not read the body: {err}")),
    }
}

/// Map an error reading the request body.
pub fn payload_error(err: &PayloadError) -> ApiError {
    match err {
        PayloadError::Overflow => {
            ApiError::new(ErrorCode::PayloadTooLarge, "request body is too large")
        }
        other => ApiError::bad_request(format!("could not read the request body: {other}")),
    }
}

/// JSON extractor configuration: bodies up to `limit` bytes, every error in the envelope.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|err, _req: &HttpRequest| json_error(&err).into())
}

/// Query-string extractor configuration: a bad query is `400 BAD_REQUEST` with the reason.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req: &HttpRequest| {
        let reason = match &err {
            QueryPayloadError::Deserialize(e) => e.to_string(),
            other => other.to_string(),
        };
        ApiError::bad_request(format!("invalid query string: {reason}")).into()
    })
}

/// Path-parameter extractor configuration: a bad parameter is `400 BAD_REQUEST`.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, _req: &HttpRequest| {
        let reason = match &err {
            PathError::Deserialize(e) => e.to_string(),
            other => other.to_string(),
        };
        ApiError::bad_request(format!("invalid path parameter: {reason}")).into()
    })
}

/// Default service for unknown routes: `404 ROUTE_NOT_FOUND`.
pub fn default_service() -> actix_web::Route {
    web::to(|req: HttpRequest| async move {
        error_response(
            ErrorCode::RouteNotFound,
            format!("no route for {} {}", req.method(), req.path()),
        )
    })
}

/// Default service of a resource that exists with other methods: `405 METHOD_NOT_ALLOWED`.
pub fn method_not_allowed() -> actix_web::Route {
    web::to(|req: HttpRequest| async move {
        error_response(
            ErrorCode::MethodNotAllowed,
            format!("method {} is not allowed on {}", req.method(), req.path()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_use_virtual_paths() {
        let e = ApiError::from_io(&io::Error::from(io::ErrorKind::NotFound), "/workspace/x");
        assert_eq!(e.code, ErrorCode::NotFound);
        assert_eq!(e.message, "no such file or directory: /workspace/x");
        let e = ApiError::from_io(
            &io::Error::other("disk on fire /host/secret"),
            "/workspace/x",
        );
        assert_eq!(e.code, ErrorCode::Internal);
        assert!(!e.message.contains("/host"));
    }

    #[test]
    fn json_errors_are_classified() {
        let syntax = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
        assert_eq!(serde_json_error(&syntax).code, ErrorCode::InvalidJson);
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct P {
            path: String,
        }
        let data = serde_json::from_str::<P>("{}").unwrap_err();
        let e = serde_json_error(&data);
        assert_eq!(e.code, ErrorCode::ValidationFailed);
        assert!(e.message.contains("missing field `path`"), "{}", e.message);
    }
}
