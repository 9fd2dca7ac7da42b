//! Relaying a customer's request to a sandbox's agent, streaming bodies both ways.
//!
//! The agent speaks the same error envelope and the same request/response types as the
//! customer API (`sandbox_agent::protocol`), so status, headers that describe the body, and
//! the body itself pass through unchanged. Nothing is buffered: a 100 MB download flows
//! through in chunks, and an upload is streamed into the sandbox as it arrives.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::LocalBoxStream;
use http_body_util::{BodyExt, Either, Empty, StreamBody};
use hyper::body::Frame;

use crate::agent_client;
use crate::error::ApiResult;
use crate::runtime::AgentEndpoint;

/// Request headers that describe the body and so must reach the agent.
const FORWARD_REQUEST: &[&str] = &["content-type", "content-length"];
/// Response headers worth passing back.
const FORWARD_RESPONSE: &[&str] = &["content-type", "content-disposition"];

type RelayBody =
    Either<StreamBody<LocalBoxStream<'static, Result<Frame<Bytes>, std::io::Error>>>, Empty<Bytes>>;

/// Send `req` (with its streamed body) to the agent's `agent_path`, keeping the query
/// string, and stream the agent's answer back.
pub async fn relay(
    endpoint: &AgentEndpoint,
    req: &HttpRequest,
    payload: web::Payload,
    agent_path: &str,
) -> ApiResult<HttpResponse> {
    let path_and_query = match req.query_string() {
        "" => agent_path.to_owned(),
        q => format!("{agent_path}?{q}"),
    };
    let mut builder = agent_client::request(endpoint, req.method().as_str(), &path_and_query);
    for name in FORWARD_REQUEST {
        if let Some(v) = req.headers().get(*name) {
            builder = builder.header(*name, v.as_bytes());
        }
    }
    let has_body = req.headers().contains_key("content-length")
        || req.headers().contains_key("transfer-encoding");
    let body: RelayBody = if has_body {
        let stream = payload.map(|chunk| {
            chunk
                .map(Frame::data)
                .map_err(|e| std::io::Error::other(e.to_string()))
        });
        Either::Left(StreamBody::new(stream.boxed_local()))
    } else {
        Either::Right(Empty::new())
    };
    let upstream = builder
        .body(body)
        .map_err(crate::error::ApiError::internal)?;
    let (resp, guard) = agent_client::send_local(endpoint, upstream).await?;

    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut out = HttpResponse::build(status);
    for name in FORWARD_RESPONSE {
        if let Some(v) = resp.headers().get(*name) {
            out.insert_header((*name, v.as_bytes()));
        }
    }
    let length = resp
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    // The guard rides along with the body: the agent connection lives until the customer has
    // the whole answer or has gone away.
    let stream = resp.into_body().into_data_stream().map(move |chunk| {
        let _keep = &guard;
        chunk
    });
    Ok(match length {
        Some(n) => out.no_chunking(n).streaming(stream),
        None => out.streaming(stream),
    })
}
