//! The model proxy: where every sandbox's model calls arrive.
//!
//! A sandbox's gateway is configured with one fixed provider (`ocaas/default`) that points at
//! the agent's forwarder inside the sandbox, which sends the call through a unix socket the
//! orchestrator listens on — one socket per sandbox, so the socket itself says which instance
//! is calling; nothing in the sandbox can claim to be another tenant. (On Kubernetes the
//! forwarder calls the orchestrator's sandbox port instead, with a model token that names the
//! instance and only the orchestrator can mint: `runtime::kubernetes::model_endpoint`.) Here the call gets the
//! tenant's provider (its BYOK settings, else the service default), the real model id and the
//! API key, and the token usage is recorded against the instance.
//!
//! **Invariant:** model API keys exist only in the orchestrator's memory and (encrypted) in its
//! database; they never enter a sandbox.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::crypto::Cipher;
use crate::runtime::{ModelAnswer, ModelCaller, ModelService};
use crate::settings::Secret;
use crate::store::Store;

type Body = BoxBody<Bytes, std::io::Error>;

/// Largest model request accepted from a gateway (system prompt + history).
const MAX_REQUEST: usize = 64 * 1024 * 1024;

/// The service's default provider.
#[derive(Debug, Clone)]
pub struct Provider {
    pub base_url: String,
    pub api_key: Option<Secret>,
    pub model_id: String,
}

/// Routes model calls from sandboxes to their tenant's provider.
pub struct ModelRouter {
    store: Store,
    cipher: Arc<Cipher>,
    default: Provider,
    client: reqwest::Client,
}

impl ModelRouter {
    pub fn new(store: Store, cipher: Arc<Cipher>, default: Provider) -> Arc<ModelRouter> {
        let client = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .expect("reqwest client builds");
        Arc::new(ModelRouter {
            store,
            cipher,
            default,
            client,
        })
    }

    /// The provider for one instance: its own (BYOK) or the default.
    async fn provider_for(&self, instance_id: Uuid) -> Result<Provider, String> {
        let inst = self
            .store
            .instance_for_model_all_owners(instance_id)
            .await
            .map_err(|e| format!("store: {e}"))?
            .ok_or("instance no longer exists")?;
        let Some(base_url) = inst.model_base_url else {
            return Ok(self.default.clone());
        };
        let api_key = match inst.model_api_key_enc {
            Some(enc) => Some(self.cipher.decrypt(&enc).map_err(|e| e.to_string())?),
            None => None,
        };
        Ok(Provider {
            base_url,
            api_key,
            model_id: inst
                .model_id
                .unwrap_or_else(|| self.default.model_id.clone()),
        })
    }

    async fn handle(
        self: Arc<Self>,
        caller: ModelCaller,
        req: Request<Incoming>,
    ) -> Response<Body> {
        let path = req.uri().path().to_owned();
        match (req.method().as_str(), path.as_str(), caller) {
            ("GET", "/v1/models", _) => json_response(
                StatusCode::OK,
                json!({"object": "list", "data": [{"id": sandbox_agent::protocol::sandbox::MODEL_ID, "object": "model"}]}),
            ),
            ("POST", "/v1/chat/completions", ModelCaller::Pool) => warm_up_answer(req).await,
            ("POST", "/v1/chat/completions", ModelCaller::Instance(instance_id)) => {
                match self.completions(instance_id, req).await {
                    Ok(r) => r,
                    Err((status, msg)) => {
                        tracing::warn!(%instance_id, %msg, "model call failed");
                        json_response(
                            status,
                            json!({"error": {"message": msg, "type": "upstream_error"}}),
                        )
                    }
                }
            }
            _ => json_response(
                StatusCode::NOT_FOUND,
                json!({"error": {"message": "not found", "type": "not_found"}}),
            ),
        }
    }

    async fn completions(
        self: Arc<Self>,
        instance_id: Uuid,
        req: Request<Incoming>,
    ) -> Result<Response<Body>, (StatusCode, String)> {
        let raw = http_body_util::Limited::new(req.into_body(), MAX_REQUEST)
            .collect()
            .await
            .map_err(|e| (StatusCode::PAYLOAD_TOO_LARGE, e.to_string()))?
            .to_bytes();
        let mut body: Value = serde_json::from_slice(&raw)
            .map_err(|e| (StatusCode::BAD_REQUEST, format!("invalid JSON: {e}")))?;
        let provider = self
            .provider_for(instance_id)
            .await
            .map_err(|e| (StatusCode::BAD_GATEWAY, e))?;
        body["model"] = Value::String(provider.model_id.clone());
        let streaming = body["stream"].as_bool().unwrap_or(false);
        if streaming {
            body["stream_options"]["include_usage"] = Value::Bool(true);
        }
        let url = format!(
            "{}/chat/completions",
            provider.base_url.trim_end_matches('/')
        );
        let mut call = self.client.post(&url).json(&body);
        if let Some(key) = &provider.api_key {
            call = call.bearer_auth(key.expose());
        }
        let upstream = call.send().await.map_err(|e| {
            // reqwest errors name the URL, never headers, so the key cannot leak here.
            (
                StatusCode::BAD_GATEWAY,
                format!("model provider unreachable: {}", e.without_url()),
            )
        })?;
        let status =
            StatusCode::from_u16(upstream.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
        let content_type = upstream
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json")
            .to_owned();

        // Forward the stream as it comes, tallying usage on the way.
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(16);
        let store = self.store.clone();
        tokio::spawn(async move {
            let mut tally = UsageTally::default();
            let mut stream = upstream.bytes_stream();
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(bytes) => {
                        tally.feed(&bytes);
                        if tx.send(Ok(Frame::data(bytes))).await.is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                        break;
                    }
                }
            }
            tally.finish();
            if (tally.input, tally.output) != (0, 0)
                && let Err(e) = store
                    .add_usage_all_owners(instance_id, tally.input, tally.output)
                    .await
            {
                tracing::warn!(%instance_id, error = %e, "could not record token usage");
            }
        });
        let body = StreamBody::new(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        }));
        Ok(Response::builder()
            .status(status)
            .header("content-type", content_type)
            .body(BodyExt::boxed(body))
            .expect("static response parts are valid"))
    }
}

impl ModelService for ModelRouter {
    /// An id that names no instance is one reserved for a Kubernetes warm-pool pod (only the
    /// orchestrator mints model tokens): the pod's gateway is warming up, and its call is
    /// answered as [`ModelCaller::Pool`]. Once the instance exists, its calls are its own.
    fn call(self: Arc<Self>, instance_id: Uuid, req: Request<Incoming>) -> ModelAnswer {
        Box::pin(async move {
            let caller = match self.store.instance_for_model_all_owners(instance_id).await {
                Ok(None) => ModelCaller::Pool,
                _ => ModelCaller::Instance(instance_id),
            };
            self.handle(caller, req).await
        })
    }

    fn serve(
        self: Arc<Self>,
        caller: ModelCaller,
        listener: tokio::net::UnixListener,
    ) -> tokio::task::AbortHandle {
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let router = self.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let router = router.clone();
                        async move { Ok::<_, Infallible>(router.handle(caller, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        })
        .abort_handle()
    }
}

/// The answer to a warm-pool gateway's warm-up turn: a one-word completion in the shape the
/// request asked for (streamed or not), made here without calling any provider.
async fn warm_up_answer(req: Request<Incoming>) -> Response<Body> {
    let raw = http_body_util::Limited::new(req.into_body(), MAX_REQUEST)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let streaming = serde_json::from_slice::<Value>(&raw)
        .ok()
        .and_then(|v| v["stream"].as_bool())
        .unwrap_or(false);
    let model = sandbox_agent::protocol::sandbox::MODEL_ID;
    let usage = json!({"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0});
    if !streaming {
        return json_response(
            StatusCode::OK,
            json!({
                "id": "ocaas-warm-up", "object": "chat.completion", "created": 0, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "ready"}, "finish_reason": "stop"}],
                "usage": usage,
            }),
        );
    }
    let chunk = |delta: Value, finish: Value| {
        json!({
            "id": "ocaas-warm-up", "object": "chat.completion.chunk", "created": 0, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        })
    };
    let mut sse = String::new();
    for event in [
        chunk(
            json!({"role": "assistant", "content": "ready"}),
            Value::Null,
        ),
        chunk(json!({}), json!("stop")),
        json!({"id": "ocaas-warm-up", "object": "chat.completion.chunk", "created": 0, "model": model, "choices": [], "usage": usage}),
    ] {
        sse.push_str(&format!("data: {event}\n\n"));
    }
    sse.push_str("data: [DONE]\n\n");
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "text/event-stream")
        .body(
            Full::new(Bytes::from(sse))
                .map_err(|never: Infallible| match never {})
                .boxed(),
        )
        .expect("static response parts are valid")
}

fn json_response(status: StatusCode, v: Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(
            Full::new(Bytes::from(v.to_string()))
                .map_err(|never: Infallible| match never {})
                .boxed(),
        )
        .expect("static response parts are valid")
}

/// Finds `usage` in an OpenAI-style response, streamed (SSE `data:` lines) or not.
#[derive(Default)]
struct UsageTally {
    buf: Vec<u8>,
    input: i64,
    output: i64,
}

impl UsageTally {
    fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        while let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=pos).collect();
            self.line(&line);
        }
        // A non-streamed body has no newlines to split on; keep it bounded.
        if self.buf.len() > 4 * 1024 * 1024 {
            self.buf.clear();
        }
    }

    fn finish(&mut self) {
        let rest = std::mem::take(&mut self.buf);
        self.line(&rest);
    }

    fn line(&mut self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let text = text.trim();
        let json = text.strip_prefix("data:").map(str::trim).unwrap_or(text);
        if !json.contains("\"usage\"") {
            return;
        }
        if let Ok(v) = serde_json::from_str::<Value>(json)
            && let Some(u) = v.get("usage").filter(|u| u.is_object())
        {
            self.input += u["prompt_tokens"].as_i64().unwrap_or(0);
            self.output += u["completion_tokens"].as_i64().unwrap_or(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tallies_streamed_and_plain_usage() {
        let mut t = UsageTally::default();
        t.feed(b"data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\ndata: {\"choices\":[],\"usa");
        t.feed(b"ge\":{\"prompt_tokens\":7,\"completion_tokens\":3}}\n\ndata: [DONE]\n\n");
        t.finish();
        assert_eq!((t.input, t.output), (7, 3));
        let mut t = UsageTally::default();
        t.feed(br#"{"choices":[],"usage":{"prompt_tokens":2,"completion_tokens":5}}"#);
        t.finish();
        assert_eq!((t.input, t.output), (2, 5));
    }
}
