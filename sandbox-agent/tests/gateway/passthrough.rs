//! `GET /gateway` and `POST /gateway/v1/chat/completions` through the agent.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use sandbox_agent::{Gateway, protocol::GatewayState};
use serde_json::{Value, json};

use crate::common::{Fake, fast_options, spawn_agent, wait_status};

fn chat_body() -> Value {
    json!({"model": "openclaw/default", "stream": true,
           "messages": [{"role": "user", "content": "hi"}]})
}

#[tokio::test]
async fn disabled_gateway_is_503() {
    let agent = spawn_agent(Gateway::disabled());
    let status = agent.status().await;
    assert_eq!(status["state"], "disabled");
    assert_eq!(status["restarts"], 0);

    let res = agent.chat(&chat_body(), Some(1000)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "UNAVAILABLE");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("disabled"), "{message}");

    // Token required, like every route but /health.
    for path in ["/gateway", "/gateway/v1/chat/completions"] {
        let res = agent
            .client
            .post(format!("{}{path}", agent.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    let res = agent
        .authed(Method::GET, "/gateway/v1/chat/completions")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    let res = agent
        .chat(&chat_body(), None)
        .header("x-ocaas-wait-ms", "soon")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn booting_gateway_is_503_or_waited_for() {
    let fake = Fake::new();
    let agent = spawn_agent(fake.spawn(2.0, fast_options()));
    assert_eq!(agent.status().await["state"], "booting");

    let res = agent.chat(&chat_body(), None).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["retry-after"], "5");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "UNAVAILABLE");
    assert_eq!(body["error"]["retryAfter"], 5);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("booting"),
        "{body}"
    );

    // Too short a wait: still 503.
    let started = Instant::now();
    let res = agent.chat(&chat_body(), Some(300)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(started.elapsed() >= Duration::from_millis(300));

    // A long enough wait gets the answer once the gateway is ready.
    std::fs::write(&fake.gate, "").unwrap();
    let res = agent.chat(&chat_body(), Some(20_000)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(agent.gateway.state(), GatewayState::Ready);
    let status = agent.status().await;
    assert_eq!(status["state"], "ready");
    assert!(status["boot_ms"].as_u64().unwrap() >= 1900, "{status}");
    assert!(status["rss_bytes"].as_u64().unwrap() > 0, "{status}");
    assert!(res.text().await.unwrap().ends_with("data: [DONE]\n\n"));

    agent.gateway.shutdown().await;
    let res = agent.chat(&chat_body(), Some(5000)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = res.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("stopping"),
        "{body}"
    );
    assert_eq!(agent.status().await["state"], "stopping");
}

/// The gateway token replaces the caller's, the session header goes through, and SSE events
/// reach the client as they are sent.
#[tokio::test]
async fn passthrough_streams_with_the_gateway_token() {
    let fake = Fake::new();
    let gateway = fake.spawn(0.0, fast_options());
    wait_status(&gateway, Duration::from_secs(20), |s| {
        s.state == GatewayState::Ready
    })
    .await;
    let agent = spawn_agent(gateway);

    let mut res = agent
        .chat(&chat_body(), None)
        .header("x-openclaw-session-key", "tenant-42")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    // The fake holds its last events until the gate file exists: the first must arrive now.
    let first = tokio::time::timeout(Duration::from_secs(10), res.chunk())
        .await
        .expect("the first event must not be buffered")
        .unwrap()
        .unwrap();
    let first = String::from_utf8(first.to_vec()).unwrap();
    assert_eq!(
        first,
        "data: {\"session\": \"tenant-42\", \"model\": \"openclaw/default\"}\n\n"
    );
    assert!(!fake.gate.exists());
    std::fs::write(&fake.gate, "").unwrap();
    let mut rest = String::new();
    while let Some(chunk) = res.chunk().await.unwrap() {
        rest.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert_eq!(rest, "data: {\"last\":true}\n\ndata: [DONE]\n\n");

    // Without a session header the fake sees none.
    let res = agent.chat(&chat_body(), None).send().await.unwrap();
    let text = res.text().await.unwrap();
    assert!(text.starts_with("data: {\"session\": null"), "{text}");
}

#[tokio::test]
async fn wrong_gateway_token_passes_the_401_through() {
    let fake = Fake::new();
    let mut upstream = fake.upstream();
    upstream.token = sandbox_agent::gateway::GatewayToken::from_string("wrong");
    let gateway = Gateway::spawn(fake.command(0.0), fast_options(), upstream).unwrap();
    let agent = spawn_agent(gateway);
    let res = agent.chat(&chat_body(), Some(20_000)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers()["content-type"], "application/json");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["type"], "unauthorized");
    agent.gateway.shutdown().await;
}

#[tokio::test]
async fn unreachable_gateway_is_503() {
    // "Ready" per a readiness server on one port, but chat goes to a port nobody serves.
    let fake = Fake::new();
    let mut upstream = fake.upstream();
    upstream.addr = ([127, 0, 0, 1], crate::common::free_port()).into();
    let gateway = Gateway::spawn(fake.command(0.0), fast_options(), upstream).unwrap();
    let agent = spawn_agent(gateway);
    let res = agent.chat(&chat_body(), Some(20_000)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "UNAVAILABLE");
    assert_eq!(body["error"]["message"], "gateway not reachable");
    agent.gateway.shutdown().await;
}
