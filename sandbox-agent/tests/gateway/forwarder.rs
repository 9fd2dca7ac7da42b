//! The model forwarder against an in-process unix-socket upstream.

use std::{convert::Infallible, path::PathBuf, sync::Arc, time::Duration};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, dev::ServerHandle, web};
use bytes::Bytes;
use futures_util::StreamExt as _;
use reqwest::StatusCode;
use sandbox_agent::model_forward::ModelForwarder;
use serde_json::{Value, json};
use tokio::sync::Notify;

/// A fake orchestrator model endpoint on a unix socket: `POST /stream` sends one SSE event, then
/// a second once `release` is notified; everything else echoes the request as JSON.
pub struct Upstream {
    pub sock: PathBuf,
    pub release: Arc<Notify>,
    _dir: tempfile::TempDir,
    handle: ServerHandle,
}

pub fn spawn_upstream() -> Upstream {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("model.sock");
    let release = Arc::new(Notify::new());
    let data = web::Data::new(release.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(16 << 20))
            .route("/stream", web::post().to(stream))
            .default_service(web::to(echo))
    })
    .workers(1)
    .disable_signals()
    .bind_uds(&sock)
    .unwrap()
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    Upstream {
        sock,
        release,
        _dir: dir,
        handle,
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

async fn echo(req: HttpRequest, body: Bytes) -> HttpResponse {
    let headers: serde_json::Map<String, Value> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or("?"))))
        .collect();
    let sum: u64 = body.iter().map(|&b| u64::from(b)).sum();
    HttpResponse::Ok()
        .insert_header(("x-upstream", "1"))
        .json(json!({
            "method": req.method().as_str(),
            "path": req.path(),
            "query": req.query_string(),
            "headers": headers,
            "body_len": body.len(),
            "body_sum": sum,
            "body": if body.len() < 4096 { String::from_utf8_lossy(&body).into_owned() } else { String::new() },
        }))
}

async fn stream(release: web::Data<Arc<Notify>>) -> HttpResponse {
    let release = release.get_ref().clone();
    let first =
        futures_util::stream::once(async { Ok::<_, Infallible>(Bytes::from("data: one\n\n")) });
    let second = futures_util::stream::once(async move {
        release.notified().await;
        Ok::<_, Infallible>(Bytes::from("data: two\n\n"))
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .streaming(first.chain(second))
}

fn start_forwarder(sock: PathBuf) -> (ModelForwarder, String) {
    let fwd = ModelForwarder::start(([127, 0, 0, 1], 0).into(), sock).unwrap();
    let base = format!("http://{}", fwd.addr);
    (fwd, base)
}

#[tokio::test]
async fn forwards_requests_verbatim() {
    let upstream = spawn_upstream();
    let (fwd, base) = start_forwarder(upstream.sock.clone());
    assert_ne!(fwd.addr.port(), 0);
    let client = crate::common::new_client();

    let body = r#"{"model":"default","stream":true}"#;
    let res = client
        .post(format!("{base}/v1/chat/completions?a=1&b=two"))
        .header("authorization", "Bearer sandbox-local")
        .header("content-type", "application/json")
        .header("x-custom", "yes")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["x-upstream"], "1");
    let echo: Value = res.json().await.unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["path"], "/v1/chat/completions");
    assert_eq!(echo["query"], "a=1&b=two");
    assert_eq!(echo["headers"]["authorization"], "Bearer sandbox-local");
    assert_eq!(echo["headers"]["content-type"], "application/json");
    assert_eq!(echo["headers"]["x-custom"], "yes");
    assert_eq!(echo["headers"]["host"], fwd.addr.to_string());
    assert_eq!(echo["body"], body);

    let res = client
        .get(format!("{base}/v1/models"))
        .send()
        .await
        .unwrap();
    let echo: Value = res.json().await.unwrap();
    assert_eq!(echo["method"], "GET");
    assert_eq!(echo["body_len"], 0);
    assert!(echo["headers"].get("transfer-encoding").is_none(), "{echo}");

    // A large body streams through intact.
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let sum: u64 = big.iter().map(|&b| u64::from(b)).sum();
    let res = client
        .put(format!("{base}/upload"))
        .body(big)
        .send()
        .await
        .unwrap();
    let echo: Value = res.json().await.unwrap();
    assert_eq!(echo["method"], "PUT");
    assert_eq!(echo["body_len"], 3_000_000);
    assert_eq!(echo["body_sum"], sum);
    fwd.stop().await;
}

#[tokio::test]
async fn streams_responses_as_they_come() {
    let upstream = spawn_upstream();
    let (fwd, base) = start_forwarder(upstream.sock.clone());
    let mut res = crate::common::new_client()
        .post(format!("{base}/stream"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let first = tokio::time::timeout(Duration::from_secs(10), res.chunk())
        .await
        .expect("the first event must not be buffered")
        .unwrap()
        .unwrap();
    assert_eq!(first, "data: one\n\n");
    upstream.release.notify_one();
    let second = res.chunk().await.unwrap().unwrap();
    assert_eq!(second, "data: two\n\n");
    assert!(res.chunk().await.unwrap().is_none());
    fwd.stop().await;
}

#[tokio::test]
async fn unreachable_upstream_is_502() {
    let dir = tempfile::tempdir().unwrap();
    let (fwd, base) = start_forwarder(dir.path().join("nobody.sock"));
    let res = crate::common::new_client()
        .post(format!("{base}/v1/chat/completions"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": {"message": "model upstream unreachable", "type": "upstream_unavailable"}})
    );
    fwd.stop().await;
}
