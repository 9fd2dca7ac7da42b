//! HTTP/1.1 to a sandbox's agent, over a unix socket (local runtime) or TCP (Kubernetes).
//!
//! One connection per request: opening a unix socket costs tens of microseconds, and it keeps
//! a stopped sandbox from leaving stale pooled connections behind.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Incoming};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use sandbox_agent::protocol;

use crate::runtime::{AgentAddr, AgentEndpoint};

/// The agent could not be reached or broke off.
#[derive(Debug, thiserror::Error)]
#[error("sandbox agent unreachable: {0}")]
pub struct AgentUnreachable(pub String);

/// Build a request to the agent with its token set.
pub fn request(
    endpoint: &AgentEndpoint,
    method: &str,
    path_and_query: &str,
) -> hyper::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(path_and_query)
        .header(hyper::header::HOST, "sandbox-agent")
        .header(
            protocol::AUTHORIZATION,
            format!("Bearer {}", endpoint.token.expose()),
        )
}

async fn handshake<B>(
    addr: &AgentAddr,
) -> Result<(SendRequest<B>, http1::Connection<TokioIo<Box<dyn Io>>, B>), AgentUnreachable>
where
    B: Body + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let io = connect(addr).await?;
    http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| AgentUnreachable(e.to_string()))
}

/// A fresh byte stream to the agent.
pub async fn connect(addr: &AgentAddr) -> Result<Box<dyn Io>, AgentUnreachable> {
    Ok(match addr {
        AgentAddr::Unix(path) => Box::new(
            tokio::net::UnixStream::connect(path)
                .await
                .map_err(|e| AgentUnreachable(e.to_string()))?,
        ),
        AgentAddr::Tcp(sa) => {
            let s = tokio::net::TcpStream::connect(sa)
                .await
                .map_err(|e| AgentUnreachable(e.to_string()))?;
            let _ = s.set_nodelay(true);
            Box::new(s)
        }
    })
}

/// Any byte stream we can speak HTTP over.
pub trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> Io for T {}

/// Send a request whose body is `Send`, driving the connection on the current runtime.
pub async fn send<B>(
    endpoint: &AgentEndpoint,
    req: Request<B>,
) -> Result<Response<Incoming>, AgentUnreachable>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (mut sender, conn) = handshake(&endpoint.addr).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender
        .send_request(req)
        .await
        .map_err(|e| AgentUnreachable(e.to_string()))
}

/// Closes the connection to the agent when dropped. A relay keeps it alive exactly as long as
/// the customer's side of the call: if the customer hangs up, the agent sees its connection
/// close too and stops the work (an exec is killed, an upload is discarded).
pub struct ConnectionGuard(tokio::task::AbortHandle);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Send a request whose body need not be `Send` (a streamed actix payload), driving the
/// connection on the current thread. Call from inside an actix handler, and keep the guard
/// until the response body has been passed on.
pub async fn send_local<B>(
    endpoint: &AgentEndpoint,
    req: Request<B>,
) -> Result<(Response<Incoming>, ConnectionGuard), AgentUnreachable>
where
    B: Body + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (mut sender, conn) = handshake(&endpoint.addr).await?;
    let task = tokio::task::spawn_local(async move {
        let _ = conn.await;
    });
    let guard = ConnectionGuard(task.abort_handle());
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| AgentUnreachable(e.to_string()))?;
    Ok((resp, guard))
}

/// `GET /health` with a deadline: whether the agent answers as healthy.
pub async fn healthy(endpoint: &AgentEndpoint, deadline: Duration) -> bool {
    let req = match request(endpoint, "GET", protocol::routes::HEALTH).body(Full::new(Bytes::new()))
    {
        Ok(r) => r,
        Err(_) => return false,
    };
    let call = async {
        let resp = send(endpoint, req).await.ok()?;
        if !resp.status().is_success() {
            return None;
        }
        let body = resp.into_body().collect().await.ok()?.to_bytes();
        serde_json::from_slice::<protocol::Health>(&body).ok()
    };
    matches!(tokio::time::timeout(deadline, call).await, Ok(Some(h)) if h.ok)
}

/// Whether the agent accepts our token (a call that needs it does not answer 401).
pub async fn accepts_token(endpoint: &AgentEndpoint, deadline: Duration) -> bool {
    let Ok(req) = request(endpoint, "GET", "/files?path=/workspace").body(Full::new(Bytes::new()))
    else {
        return false;
    };
    let call = async { send(endpoint, req).await.ok().map(|r| r.status()) };
    matches!(tokio::time::timeout(deadline, call).await, Ok(Some(s)) if s != hyper::StatusCode::UNAUTHORIZED)
}

/// `GET path` on the agent as JSON, with a 2 s deadline; `None` on any failure.
async fn get_json<T: serde::de::DeserializeOwned>(
    endpoint: &AgentEndpoint,
    path: &str,
) -> Option<T> {
    let req = request(endpoint, "GET", path)
        .body(Full::new(Bytes::new()))
        .ok()?;
    let call = async {
        let resp = send(endpoint, req).await.ok()?;
        if !resp.status().is_success() {
            return None;
        }
        let raw = resp.into_body().collect().await.ok()?.to_bytes();
        serde_json::from_slice(&raw).ok()
    };
    tokio::time::timeout(Duration::from_secs(2), call)
        .await
        .ok()
        .flatten()
}

/// The OpenClaw gateway's state (`GET /gateway`), if the agent answers.
pub async fn gateway_status(endpoint: &AgentEndpoint) -> Option<protocol::GatewayStatus> {
    get_json(endpoint, protocol::routes::GATEWAY).await
}

/// The virtual desktop's state (`GET /desktop`), if the agent answers.
pub async fn desktop_status(endpoint: &AgentEndpoint) -> Option<protocol::DesktopStatus> {
    get_json(endpoint, protocol::routes::DESKTOP).await
}

/// `POST /desktop` on the agent: the desktop runs once this returns.
pub async fn start_desktop(
    endpoint: &AgentEndpoint,
) -> crate::error::ApiResult<protocol::DesktopStatus> {
    let req = request(endpoint, "POST", protocol::routes::DESKTOP)
        .body(Full::new(Bytes::new()))
        .map_err(crate::error::ApiError::internal)?;
    let resp = send(endpoint, req).await?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| {
            crate::error::ApiError::new(crate::error::ErrorCode::SandboxUnavailable, e.to_string())
        })?
        .to_bytes();
    if status.is_success() {
        return serde_json::from_slice(&body).map_err(crate::error::ApiError::internal);
    }
    let envelope: Option<sandbox_agent::protocol::ErrorEnvelope> =
        serde_json::from_slice(&body).ok();
    Err(match envelope {
        Some(env) => crate::error::ApiError::new(
            crate::error::ErrorCode::from_wire(&env.error.code)
                .unwrap_or(crate::error::ErrorCode::SandboxUnavailable),
            env.error.message,
        ),
        None => crate::error::ApiError::new(
            crate::error::ErrorCode::SandboxUnavailable,
            format!("the sandbox answered {status} to starting its desktop"),
        ),
    })
}

/// What the archive `part` of the agent at `endpoint` would carry (`GET
/// /archive/{part}/size`). The error is fit for customers.
pub async fn archive_size(
    endpoint: &AgentEndpoint,
    part: &str,
) -> Result<protocol::ArchiveSize, String> {
    let route = protocol::routes::ARCHIVE_SIZE.replace("{part}", part);
    let failed = || format!("measuring the {part} on the instance's volume failed");
    let req = request(endpoint, "GET", &route)
        .body(Full::new(Bytes::new()))
        .map_err(|e| e.to_string())?;
    let resp = send(endpoint, req).await.map_err(|_| failed())?;
    if resp.status() != hyper::StatusCode::OK {
        return Err(failed());
    }
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|_| failed())?
        .to_bytes();
    serde_json::from_slice(&body).map_err(|_| failed())
}

/// Stream the archive `part` (`protocol::ARCHIVE_WORKSPACE` or `ARCHIVE_HOME`) of the agent
/// at `from` into the agent at `to` (`GET` answer piped into `PUT`; nothing held whole). An
/// archive broken off on either side fails the copy. The error is fit for customers.
pub async fn copy_archive(
    from: &AgentEndpoint,
    to: &AgentEndpoint,
    part: &str,
) -> Result<(), String> {
    let route = protocol::archive_route(part);
    let get = request(from, "GET", &route)
        .body(Full::new(Bytes::new()))
        .map_err(|e| e.to_string())?;
    let got = send(from, get).await.map_err(|e| e.to_string())?;
    if got.status() != hyper::StatusCode::OK {
        return Err(format!(
            "reading the {part} from the instance's volume answered {}",
            got.status()
        ));
    }
    let put = request(to, "PUT", &route)
        .header(hyper::header::CONTENT_TYPE, "application/x-tar")
        .body(got.into_body())
        .map_err(|e| e.to_string())?;
    let put = send(to, put)
        .await
        .map_err(|e| format!("moving the {part} broke off: {}", e.0))?;
    match put.status() {
        hyper::StatusCode::NO_CONTENT => Ok(()),
        status => Err(format!(
            "unpacking the {part} in the new sandbox answered {status}"
        )),
    }
}
