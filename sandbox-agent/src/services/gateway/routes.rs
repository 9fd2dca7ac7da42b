//! `GET /gateway` and `POST /gateway/v1/chat/completions`.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};

use crate::{
    http::ApiError,
    protocol::{
        ErrorCode, ErrorEnvelope, GatewayState, GatewayStatus,
        sandbox::{self, MAX_WAIT_MS, WAIT_HEADER},
    },
    server::AgentState,
    services::{blocking, proxy},
};

/// `retryAfter` (seconds) on `503`s for a gateway that is expected to come back.
const RETRY_AFTER_S: u64 = 5;
/// The gateway's OpenAI-compatible endpoint.
const UPSTREAM_PATH: &str = "/v1/chat/completions";
/// Request headers passed to the gateway besides the body's framing.
const FORWARD_REQUEST: &[&str] = &[
    "content-type",
    "content-length",
    "accept",
    sandbox::SESSION_HEADER,
];

/// `GET /gateway`: the gateway's [`GatewayStatus`], `rss_bytes` measured now.
pub(crate) async fn status(
    state: web::Data<AgentState>,
) -> Result<web::Json<GatewayStatus>, ApiError> {
    let gateway = state.gateway.clone();
    blocking(move || Ok(gateway.status())).await.map(web::Json)
}

/// `POST /gateway/v1/chat/completions`: pass the request to the gateway's OpenAI-compatible
/// endpoint with the gateway's token (the caller's `Authorization` is replaced), forwarding
/// `content-type`, `accept`, `x-openclaw-session-key` and the streamed body, and stream the
/// answer back (status, `content-type`, body chunk by chunk, so SSE passes through as it
/// comes).
///
/// A `booting` (or `crashed`, being restarted) gateway is waited for up to `x-ocaas-wait-ms`
/// milliseconds (default 0, at most 300 000). Not ready then, or `disabled` / `stopping`:
/// `503 UNAVAILABLE` naming the state, with `retryAfter` unless `disabled`. Gateway not
/// accepting connections: `503 UNAVAILABLE` "gateway not reachable".
pub(crate) async fn chat(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AgentState>,
) -> Result<HttpResponse, ApiError> {
    let wait = wait_time(&req)?;
    let upstream = match state.gateway.wait_ready(wait).await {
        Ok(upstream) => upstream,
        Err(status) => return Ok(not_ready(&status)),
    };
    let Ok(io) = tokio::net::TcpStream::connect(upstream.addr).await else {
        return Ok(unreachable());
    };
    let _ = io.set_nodelay(true);
    let path_and_query = match req.query_string() {
        "" => UPSTREAM_PATH.to_owned(),
        q => format!("{UPSTREAM_PATH}?{q}"),
    };
    let mut builder = hyper::Request::post(path_and_query)
        .header(hyper::header::HOST, upstream.addr.to_string())
        .header(
            hyper::header::AUTHORIZATION,
            format!("Bearer {}", upstream.token.expose()),
        );
    for name in FORWARD_REQUEST {
        for value in req.headers().get_all(*name) {
            builder = builder.header(*name, value.as_bytes());
        }
    }
    let upstream_req = builder
        .body(proxy::request_body(&req, payload))
        .map_err(|e| ApiError::bad_request(format!("cannot forward this request: {e}")))?;
    match proxy::send(io, upstream_req).await {
        Ok(resp) => Ok(proxy::stream_back(resp, |name| name == "content-type")),
        Err(e) => {
            tracing::warn!(error = %e, "gateway request failed");
            Ok(unreachable())
        }
    }
}

/// Parse `x-ocaas-wait-ms`: absent → 0, capped at [`MAX_WAIT_MS`].
fn wait_time(req: &HttpRequest) -> Result<Duration, ApiError> {
    let Some(value) = req.headers().get(WAIT_HEADER) else {
        return Ok(Duration::ZERO);
    };
    let ms = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "{WAIT_HEADER} must be a number of milliseconds (0 to {MAX_WAIT_MS})"
            ))
        })?;
    Ok(Duration::from_millis(ms.min(MAX_WAIT_MS)))
}

/// `503 UNAVAILABLE` naming the gateway's state.
fn not_ready(status: &GatewayStatus) -> HttpResponse {
    let name = match status.state {
        GatewayState::Disabled => "disabled",
        GatewayState::Booting => "booting",
        GatewayState::Ready => "ready",
        GatewayState::Crashed => "crashed",
        GatewayState::Stopping => "stopping",
    };
    let mut message = format!("the OpenClaw gateway is {name}");
    if let Some(reason) = &status.reason {
        message.push_str(": ");
        message.push_str(reason);
    }
    let retry = (status.state != GatewayState::Disabled).then_some(RETRY_AFTER_S);
    unavailable(message, retry)
}

/// `503 UNAVAILABLE` "gateway not reachable".
fn unreachable() -> HttpResponse {
    unavailable("gateway not reachable".to_owned(), Some(RETRY_AFTER_S))
}

fn unavailable(message: String, retry_after: Option<u64>) -> HttpResponse {
    let mut envelope = ErrorEnvelope::new(ErrorCode::Unavailable, message);
    envelope.error.retry_after = retry_after;
    let mut response = HttpResponse::build(StatusCode::SERVICE_UNAVAILABLE);
    if let Some(s) = retry_after {
        response.insert_header(("retry-after", s.to_string()));
    }
    response.json(envelope)
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn wait_header() {
        let wait = |v: Option<&str>| {
            let mut req = TestRequest::default();
            if let Some(v) = v {
                req = req.insert_header((WAIT_HEADER, v));
            }
            wait_time(&req.to_http_request())
        };
        assert_eq!(wait(None), Ok(Duration::ZERO));
        assert_eq!(wait(Some("1500")), Ok(Duration::from_millis(1500)));
        assert_eq!(
            wait(Some("999999999")),
            Ok(Duration::from_millis(MAX_WAIT_MS))
        );
        assert!(wait(Some("-1")).is_err());
        assert!(wait(Some("soon")).is_err());
    }
}
