//! Streaming HTTP/1.1 forwarding with hyper's client, used by the gateway passthrough and the
//! model forwarder.
//!
//! Bodies stream both ways without buffering: the request body is read from actix-web's payload
//! as it arrives, and each chunk of the upstream response (e.g. one SSE event) is handed to
//! actix-web as soon as hyper yields it. One upstream connection per request: both upstreams
//! are local (loopback TCP or a unix socket), where connecting costs microseconds.

use std::io;

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use bytes::Bytes;
use futures_util::{StreamExt as _, stream::LocalBoxStream};
use http_body_util::{BodyExt as _, Either, Empty, StreamBody};
use hyper::{
    Request, Response,
    body::{Frame, Incoming},
    client::conn::http1,
};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

/// The body of a forwarded request: the client's streamed payload, or nothing.
pub(crate) type ForwardBody =
    Either<StreamBody<LocalBoxStream<'static, Result<Frame<Bytes>, io::Error>>>, Empty<Bytes>>;

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1); never forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Whether header `name` (lowercase) is hop-by-hop, either by definition or because the
/// message's `Connection` header (`connection`, its raw value) names it.
pub(crate) fn is_hop_by_hop(name: &str, connection: Option<&[u8]>) -> bool {
    HOP_BY_HOP.contains(&name)
        || connection.is_some_and(|value| {
            value
                .split(|&b| b == b',')
                .any(|token| token.trim_ascii().eq_ignore_ascii_case(name.as_bytes()))
        })
}

/// The request's body as a streamed hyper body; [`Either::Right`] (empty) when the request
/// announces none, so hyper sends no `Transfer-Encoding` for a bodiless `GET`.
pub(crate) fn request_body(req: &HttpRequest, payload: web::Payload) -> ForwardBody {
    let has_body = req.headers().contains_key("content-length")
        || req.headers().contains_key("transfer-encoding");
    if !has_body {
        return Either::Right(Empty::new());
    }
    let stream = payload.map(|chunk| {
        chunk
            .map(Frame::data)
            .map_err(|e| io::Error::other(e.to_string()))
    });
    Either::Left(StreamBody::new(stream.boxed_local()))
}

/// Send `req` over the fresh connection `io` and return the response head; the body keeps
/// streaming from a task on the current actix-web worker.
///
/// Must run inside an actix-web handler (the connection task is spawned locally because the
/// request body is not `Send`).
pub(crate) async fn send<S>(io: S, req: Request<ForwardBody>) -> hyper::Result<Response<Incoming>>
where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let (mut sender, conn) = http1::handshake(TokioIo::new(io)).await?;
    actix_web::rt::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "upstream connection ended with an error");
        }
    });
    sender.send_request(req).await
}

/// Turn the upstream response into an actix-web response that streams its body chunk by
/// chunk. Copies the status and the headers `keep` accepts (never hop-by-hop ones or
/// `content-length`, which is re-derived from the upstream's length when it announced one).
pub(crate) fn stream_back(resp: Response<Incoming>, keep: impl Fn(&str) -> bool) -> HttpResponse {
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut out = HttpResponse::build(status);
    let connection = resp.headers().get("connection").map(|v| v.as_bytes());
    for (name, value) in resp.headers() {
        let name = name.as_str();
        if name == "content-length" || is_hop_by_hop(name, connection) || !keep(name) {
            continue;
        }
        out.append_header((name, value.as_bytes()));
    }
    let length = resp
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let stream = resp.into_body().into_data_stream();
    match length {
        Some(n) => out.no_chunking(n).streaming(stream),
        None => out.streaming(stream),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers() {
        assert!(is_hop_by_hop("transfer-encoding", None));
        assert!(is_hop_by_hop("connection", None));
        assert!(!is_hop_by_hop("content-type", None));
        assert!(is_hop_by_hop("x-private", Some(b"keep-alive, X-Private")));
        assert!(!is_hop_by_hop("x-other", Some(b"keep-alive, X-Private")));
    }
}
