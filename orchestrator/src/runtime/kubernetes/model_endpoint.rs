//! The orchestrator's sandbox port: where sandboxes' model forwarders send model calls on
//! Kubernetes (`kubernetes.sandbox_listen`, reached as `kubernetes.model_upstream_url`).
//!
//! On the local runtime each sandbox has a unix socket of its own, so the socket names the
//! instance. Here all sandboxes share one port, so each call carries the sandbox's *model
//! token*: the instance id sealed (ChaCha20-Poly1305) with a key derived from the service's
//! `secret_key`. Only the orchestrator can mint one, any replica can check one without a
//! lookup, and a token opens as exactly one instance — a sandbox cannot claim another tenant's
//! provider. The call then goes to the same [`ModelService`] the local runtime uses, which
//! adds the tenant's provider and key and records usage.
//!
//! **Invariant:** model keys still never enter a sandbox; this port never serves anything but
//! model calls, and the chart exposes it only inside the cluster (a separate port from the
//! public API, never routed by the Ingress; sandboxes' network policies allow exactly it).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use uuid::Uuid;

use super::objects::Objects;
use crate::crypto::Cipher;
use crate::runtime::{ModelBody, ModelService};

/// Mints and checks model tokens.
pub struct ModelTokens(Cipher);

impl ModelTokens {
    /// `cipher` must be the service cipher: the key is derived from it for this purpose only.
    pub fn new(cipher: &Cipher) -> ModelTokens {
        ModelTokens(cipher.derive("sandbox model token v1"))
    }

    pub fn mint(&self, instance: Uuid) -> String {
        self.0.seal(instance.as_bytes())
    }

    /// The instance a token was minted for.
    pub fn verify(&self, token: &str) -> Option<Uuid> {
        let bytes = self.0.open(token.trim()).ok()?;
        Uuid::from_slice(&bytes).ok()
    }
}

/// Serve model calls on `listener` until aborted.
pub fn serve(
    listener: tokio::net::TcpListener,
    tokens: Arc<ModelTokens>,
    objects: Arc<Objects>,
    model: Arc<dyn ModelService>,
) -> tokio::task::AbortHandle {
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let (tokens, objects, model) = (tokens.clone(), objects.clone(), model.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let (tokens, objects, model) = (tokens.clone(), objects.clone(), model.clone());
                    async move { Ok::<_, Infallible>(answer(&tokens, &objects, model, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    })
    .abort_handle()
}

async fn answer(
    tokens: &ModelTokens,
    objects: &Objects,
    model: Arc<dyn ModelService>,
    req: Request<hyper::body::Incoming>,
) -> Response<ModelBody> {
    let instance = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|t| tokens.verify(t));
    match instance {
        // The token names the sandbox's storage id; a storage moved into a warm pod's volume
        // serves another instance.
        Some(storage) => {
            model
                .call(objects.instance_served(storage).await, req)
                .await
        }
        None => {
            tracing::warn!(
                path = req.uri().path(),
                "model call with an invalid sandbox token"
            );
            let body = serde_json::json!({
                "error": {"message": "invalid sandbox model token", "type": "unauthorized"}
            });
            Response::builder()
                .status(StatusCode::UNAUTHORIZED)
                .header("content-type", "application/json")
                .body(
                    Full::new(Bytes::from(body.to_string()))
                        .map_err(|never: Infallible| match never {})
                        .boxed(),
                )
                .expect("static response parts are valid")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_name_one_instance_and_cannot_be_forged() {
        let dir = tempfile::tempdir().unwrap();
        let cipher = Cipher::load_or_create(None, dir.path()).unwrap();
        let tokens = ModelTokens::new(&cipher);
        let id = Uuid::new_v4();
        let t = tokens.mint(id);
        assert_eq!(tokens.verify(&t), Some(id));
        // Another purpose's seal of the same bytes does not open here.
        assert_eq!(tokens.verify(&cipher.seal(id.as_bytes())), None);
        let mut forged = t.clone();
        forged.replace_range(30..32, if &t[30..32] == "00" { "01" } else { "00" });
        assert_eq!(tokens.verify(&forged), None);
        assert_eq!(tokens.verify("nonsense"), None);
    }
}
