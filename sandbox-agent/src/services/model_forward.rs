//! The model forwarder: the gateway's only model provider.
//!
//! An HTTP server on `127.0.0.1:<model port>` inside the sandbox's network namespace that sends
//! every request — method, path, query, headers (minus hop-by-hop ones), streamed body — to the
//! orchestrator, which swaps the placeholder key for the tenant's real provider and key, and
//! streams the answer back unchanged. No model key ever enters the sandbox.
//!
//! Two upstreams (`--model-upstream`):
//! - `unix:/path/to.sock` (local runtime): a socket only this sandbox can reach, so the socket
//!   itself tells the orchestrator which instance is calling.
//! - `http://HOST:PORT` (Kubernetes): the orchestrator's sandbox port, shared by all sandboxes.
//!   The forwarder replaces the gateway's `Authorization` with this sandbox's model token
//!   (`--model-token-file`), which names the instance and cannot be forged.
//!
//! If the upstream cannot be reached, the answer is `502` with an OpenAI-style body:
//! `{"error":{"message":"model upstream unreachable","type":"upstream_unavailable"}}`.

use std::{fmt, io, net::SocketAddr, path::PathBuf, str::FromStr, time::Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, dev::ServerHandle, web};
use serde_json::json;

use crate::services::proxy;

/// `--model-upstream`: where model calls go.
#[derive(Clone, PartialEq, Eq)]
pub enum ModelUpstream {
    /// `unix:/path/to.sock`.
    Unix(PathBuf),
    /// `http://HOST:PORT`, with the sandbox's model token sent as a bearer token.
    Http {
        /// `HOST:PORT`.
        authority: String,
        /// Set from `--model-token-file`; calls fail with `502` until it is.
        token: Option<String>,
    },
}

impl From<PathBuf> for ModelUpstream {
    fn from(path: PathBuf) -> Self {
        ModelUpstream::Unix(path)
    }
}

impl FromStr for ModelUpstream {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(rest) = s.strip_prefix("http://") {
            let authority = rest.strip_suffix('/').unwrap_or(rest);
            let valid = authority
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if valid && !authority.contains('/') {
                return Ok(ModelUpstream::Http {
                    authority: authority.to_owned(),
                    token: None,
                });
            }
        }
        match s.split_once(':') {
            Some(("unix", path)) if !path.is_empty() => Ok(ModelUpstream::Unix(path.into())),
            _ => Err(format!(
                "expected unix:/path/to.sock or http://HOST:PORT, got {s:?}"
            )),
        }
    }
}

impl fmt::Display for ModelUpstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelUpstream::Unix(path) => write!(f, "unix:{}", path.display()),
            ModelUpstream::Http { authority, .. } => write!(f, "http://{authority}"),
        }
    }
}

/// Never prints the token.
impl fmt::Debug for ModelUpstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ModelUpstream({self})")
    }
}

/// A running model forwarder. Dropping it stops the server without waiting; prefer
/// [`ModelForwarder::stop`].
pub struct ModelForwarder {
    /// The bound address (the real port when started with port 0).
    pub addr: SocketAddr,
    handle: ServerHandle,
    task: Option<tokio::task::JoinHandle<io::Result<()>>>,
}

impl ModelForwarder {
    /// Bind `addr` and serve in a task on the current Tokio runtime (one HTTP worker thread).
    pub fn start(addr: SocketAddr, upstream: impl Into<ModelUpstream>) -> io::Result<Self> {
        let upstream = web::Data::new(upstream.into());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(upstream.clone())
                .default_service(web::to(forward))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(5)
        .bind(addr)?;
        let addr = server.addrs().first().copied().unwrap_or(addr);
        let server = server.run();
        let handle = server.handle();
        let task = tokio::spawn(server);
        tracing::info!(%addr, "model forwarder listening");
        Ok(ModelForwarder {
            addr,
            handle,
            task: Some(task),
        })
    }

    /// Stop gracefully (in-flight requests get up to 5 s) and wait for the server to end.
    pub async fn stop(mut self) {
        self.handle.stop(true).await;
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ModelForwarder {
    fn drop(&mut self) {
        if self.task.is_some() {
            // Sends the stop command right away; the returned future need not be awaited.
            drop(self.handle.stop(false));
        }
    }
}

impl fmt::Debug for ModelForwarder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelForwarder")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// Forward any request to the upstream socket.
async fn forward(
    req: HttpRequest,
    payload: web::Payload,
    upstream: web::Data<ModelUpstream>,
) -> HttpResponse {
    let started = Instant::now();
    let response = match try_forward(&req, payload, &upstream).await {
        Ok(response) => response,
        Err(e) => {
            tracing::warn!(error = %e, "model upstream unreachable");
            HttpResponse::BadGateway().json(json!({
                "error": {"message": "model upstream unreachable", "type": "upstream_unavailable"}
            }))
        }
    };
    tracing::info!(
        method = %req.method(),
        path = req.path(),
        status = response.status().as_u16(),
        elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "model call forwarded"
    );
    response
}

async fn try_forward(
    req: &HttpRequest,
    payload: web::Payload,
    upstream: &ModelUpstream,
) -> Result<HttpResponse, Box<dyn std::error::Error>> {
    let path_and_query = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.path().to_owned(), ToString::to_string);
    let mut builder = hyper::Request::builder()
        .method(req.method().as_str())
        .uri(path_and_query);
    let connection = req.headers().get("connection").map(|v| v.as_bytes());
    // Over HTTP the gateway's placeholder key and its Host are replaced by ours.
    let replaced: &[&str] = match upstream {
        ModelUpstream::Unix(_) => &[],
        ModelUpstream::Http { .. } => &["authorization", "host"],
    };
    for (name, value) in req.headers() {
        if !proxy::is_hop_by_hop(name.as_str(), connection) && !replaced.contains(&name.as_str()) {
            builder = builder.header(name.as_str(), value.as_bytes());
        }
    }
    let resp = match upstream {
        ModelUpstream::Unix(path) => {
            let io = tokio::net::UnixStream::connect(path).await?;
            proxy::send(io, builder.body(proxy::request_body(req, payload))?).await?
        }
        ModelUpstream::Http { authority, token } => {
            let token = token.as_deref().ok_or("no model token")?;
            let io = tokio::net::TcpStream::connect(authority.as_str()).await?;
            let _ = io.set_nodelay(true);
            let upstream_req = builder
                .header("host", authority.as_str())
                .header("authorization", format!("Bearer {token}"))
                .body(proxy::request_body(req, payload))?;
            proxy::send(io, upstream_req).await?
        }
    };
    Ok(proxy::stream_back(resp, |_| true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_parses() {
        assert_eq!(
            "unix:/run/ocaas/model.sock".parse(),
            Ok(ModelUpstream::Unix("/run/ocaas/model.sock".into()))
        );
        assert!("tcp:127.0.0.1:1".parse::<ModelUpstream>().is_err());
        assert!("unix:".parse::<ModelUpstream>().is_err());
        assert_eq!(
            ModelUpstream::Unix("/a.sock".into()).to_string(),
            "unix:/a.sock"
        );
        assert_eq!(
            "http://ocaas.ocaas.svc:8081".parse(),
            Ok(ModelUpstream::Http {
                authority: "ocaas.ocaas.svc:8081".into(),
                token: None
            })
        );
        assert!("http://host".parse::<ModelUpstream>().is_err());
        assert!("http://host:1/v1".parse::<ModelUpstream>().is_err());
        let with_token = ModelUpstream::Http {
            authority: "h:1".into(),
            token: Some("s3cret".into()),
        };
        assert_eq!(with_token.to_string(), "http://h:1");
        assert!(!format!("{with_token:?}").contains("s3cret"));
    }
}
