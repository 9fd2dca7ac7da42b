//! End-to-end tests: the real agent server in-process, driven over HTTP with reqwest.

#[path = "api/archive.rs"]
mod archive;
#[path = "api/common.rs"]
mod common;
#[path = "api/confinement.rs"]
mod confinement;
#[path = "api/desktop.rs"]
mod desktop;
#[path = "api/exec.rs"]
mod exec;
#[path = "api/files.rs"]
mod files;
#[path = "api/pty.rs"]
mod pty;

use common::spawn_agent;
use reqwest::{Method, StatusCode};
use serde_json::Value;

#[tokio::test]
async fn health_is_open() {
    let agent = spawn_agent().await;
    let res = agent.client.get(agent.url("/health")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["ok"], true);
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert!(body["uptime_s"].is_u64());
}

#[tokio::test]
async fn token_is_required() {
    let agent = spawn_agent().await;
    let token = agent.token.clone();
    for auth in [
        None,
        Some("Bearer wrong".to_owned()),
        Some(format!("Bearer {token}x")),
        Some(format!("Bearer {}", &token[..token.len() - 1])),
        Some(token.clone()),
        Some(format!("bearer {token}")),
    ] {
        for path in ["/files", "/nope"] {
            let mut req = agent.client.get(agent.url(path));
            if let Some(auth) = &auth {
                req = req.header("authorization", auth);
            }
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{auth:?} {path}");
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["error"]["code"], "UNAUTHORIZED");
        }
    }
    let (status, _) = agent.get("/files").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn request_errors_use_the_envelope() {
    let agent = spawn_agent().await;
    let raw = |route: &str, ct: &str, body: &'static str| {
        agent
            .authed(Method::POST, route)
            .header("content-type", ct)
            .body(body)
            .send()
    };
    let check = |res: reqwest::Response, status: u16, code: &'static str| async move {
        assert_eq!(res.status().as_u16(), status);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{body}");
        body
    };
    let res = raw("/files/write", "application/json", "{not json")
        .await
        .unwrap();
    check(res, 400, "INVALID_JSON").await;
    let res = raw("/files/write", "application/json", "{\"content\":\"x\"}")
        .await
        .unwrap();
    let body = check(res, 422, "VALIDATION_FAILED").await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("missing field `path`"), "{message}");
    let res = raw(
        "/files/write",
        "application/json",
        "{\"path\":1,\"content\":\"x\"}",
    )
    .await
    .unwrap();
    check(res, 422, "VALIDATION_FAILED").await;
    let res = raw("/files/write", "text/plain", "{}").await.unwrap();
    check(res, 415, "UNSUPPORTED_MEDIA_TYPE").await;
    let res = raw("/files/upload", "application/json", "[").await.unwrap();
    check(res, 400, "INVALID_JSON").await;

    agent
        .expect_error("/no/such/route", 404, "ROUTE_NOT_FOUND")
        .await;
    let res = agent.authed(Method::GET, "/exec").send().await.unwrap();
    check(res, 405, "METHOD_NOT_ALLOWED").await;
    agent
        .expect_error("/files?path=a&path=b", 400, "BAD_REQUEST")
        .await;
}

/// Raw HTTP/1.1 over the Unix socket, as the orchestrator's relay will speak it.
#[tokio::test]
async fn serves_over_a_unix_socket() {
    use std::os::unix::fs::PermissionsExt as _;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let dir = tempfile::tempdir().unwrap();
    let ws = tempfile::tempdir().unwrap();
    let sock = dir.path().join("a.sock");
    // A stale socket from an earlier run is replaced.
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    let token = common::random_token();
    let listen: sandbox_agent::Listen = format!("unix:{}", sock.display()).parse().unwrap();
    let running =
        sandbox_agent::start(&listen, sandbox_agent::AgentConfig::new(ws.path(), &token)).unwrap();
    assert!(running.tcp_addrs.is_empty());
    let handle = running.server.handle();
    tokio::spawn(running.server);
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    let request = |head: String| {
        let sock = sock.clone();
        async move {
            let mut stream = tokio::net::UnixStream::connect(&sock).await.unwrap();
            stream.write_all(head.as_bytes()).await.unwrap();
            let mut response = String::new();
            stream.read_to_string(&mut response).await.unwrap();
            response
        }
    };
    let res =
        request("GET /health HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n".into()).await;
    assert!(res.starts_with("HTTP/1.1 200 OK\r\n"), "{res}");
    assert!(res.contains("\"ok\":true"), "{res}");

    let body = r#"{"command":"echo over-uds"}"#;
    let res = request(format!(
        "POST /exec HTTP/1.1\r\nHost: agent\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ))
    .await;
    assert!(res.starts_with("HTTP/1.1 200 OK\r\n"), "{res}");
    assert!(res.contains("\"stdout\":\"over-uds\\n\""), "{res}");

    let res =
        request("GET /files HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n".into()).await;
    assert!(res.starts_with("HTTP/1.1 401"), "{res}");
    handle.stop(false).await;
}
