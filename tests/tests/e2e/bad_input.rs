//! (h) Bad input gets a precise 4xx in the error envelope, never a 5xx.

use e2e::Server;
use reqwest::Method;
use serde_json::json;

use crate::common::inst;

const UNKNOWN: &str = "00000000-0000-4000-8000-000000000000";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_rejected_cleanly() {
    let s = Server::start().await;
    let k = s.key.as_str();
    let id = s.create_instance(k).await;
    s.wait_ready(k, &id).await;
    let write = inst(&id, "/files/write");
    let exec = inst(&id, "/terminal/exec");
    let raw = |path: &str, body: &'static str| {
        s.request(Method::POST, path, Some(k))
            .header("content-type", "application/json")
            .body(body)
    };

    // 1. Malformed JSON → 400 INVALID_JSON (relayed routes and the orchestrator's own).
    for body in ["{\"name\": ", "not json", "{\"name\":\"a\",}"] {
        s.send(raw(&write, body))
            .await
            .expect_err(400, "INVALID_JSON");
        s.send(raw(&exec, body))
            .await
            .expect_err(400, "INVALID_JSON");
        s.send(raw("/api/instances", body))
            .await
            .expect_err(400, "INVALID_JSON");
        s.send(raw("/api/admin/accounts", body))
            .await
            .expect_err(400, "INVALID_JSON");
    }

    // 2. Missing fields and wrong types → 422 VALIDATION_FAILED.
    for body in [
        json!({ "path": "/workspace/a" }),
        json!({ "content": "x" }),
        json!({ "path": 1, "content": "x" }),
        json!({ "path": "a", "content": ["x"] }),
        json!([]),
    ] {
        s.post(k, &write, &body)
            .await
            .expect_err(422, "VALIDATION_FAILED");
    }
    for body in [
        json!({}),
        json!({ "command": 5 }),
        json!({ "command": "" }),
        json!({ "command": "true", "timeout_ms": 0 }),
        json!({ "command": "true", "timeout_ms": 600_001 }),
        json!({ "command": "true", "timeout_ms": -1 }),
        json!({ "command": "true", "timeout_ms": "10" }),
        json!({ "command": "true", "env": { "A=B": "c" } }),
        json!({ "command": "true", "env": ["A"] }),
    ] {
        s.post(k, &exec, &body)
            .await
            .expect_err(422, "VALIDATION_FAILED");
    }
    for body in [
        json!({ "name": 5 }),
        json!({ "bogus": true }),
        json!({ "name": "x".repeat(65) }),
        json!({ "name": "  " }),
    ] {
        s.post(k, "/api/instances", &body)
            .await
            .expect_err(422, "VALIDATION_FAILED");
    }
    s.post(
        k,
        &inst(&id, "/files/upload"),
        &json!({ "targetDir": "/workspace", "fileName": "a/b", "content": "x" }),
    )
    .await
    .expect_err(422, "VALIDATION_FAILED");
    s.post(
        k,
        &inst(&id, "/files/upload"),
        &json!({ "targetDir": "/workspace", "fileName": "a", "content": "!!!",
                 "encoding": "base64" }),
    )
    .await
    .expect_err(422, "VALIDATION_FAILED");
    s.post(
        k,
        "/api/admin/accounts",
        &json!({ "name": "x", "email": "no-at-sign" }),
    )
    .await
    .expect_err(422, "VALIDATION_FAILED");

    // 3. Wrong or missing content type, raw upload without ?path=.
    s.send(
        s.request(Method::POST, &write, Some(k))
            .header("content-type", "text/plain")
            .body("{\"path\":\"a\",\"content\":\"b\"}"),
    )
    .await
    .expect_err(415, "UNSUPPORTED_MEDIA_TYPE");
    s.send(
        s.request(Method::POST, &inst(&id, "/files/upload"), Some(k))
            .header("content-type", "application/octet-stream")
            .body("x"),
    )
    .await
    .expect_err(400, "BAD_REQUEST");

    // 4. Unknown things → 404: a valid but unknown id, a non-uuid id, a missing file, a
    //    missing cwd; unknown routes → 404 ROUTE_NOT_FOUND.
    for id in [UNKNOWN, "not-a-uuid", "1234"] {
        s.get(k, &inst(id, "")).await.expect_err(404, "NOT_FOUND");
        s.get(k, &inst(id, "/status"))
            .await
            .expect_err(404, "NOT_FOUND");
        s.delete(k, &inst(id, ""))
            .await
            .expect_err(404, "NOT_FOUND");
        s.post(k, &inst(id, "/start"), &json!({}))
            .await
            .expect_err(404, "NOT_FOUND");
        s.exec_req(k, id, &json!({ "command": "true" }))
            .await
            .expect_err(404, "NOT_FOUND");
        s.read_file(k, id, "a").await.expect_err(404, "NOT_FOUND");
    }
    s.read_file(k, &id, "/workspace/missing.txt")
        .await
        .expect_err(404, "NOT_FOUND");
    s.exec_req(k, &id, &json!({ "command": "pwd", "cwd": "nowhere" }))
        .await
        .expect_err(404, "NOT_FOUND");
    for path in [
        "/api/nope",
        "/nope",
        &inst(&id, "/nope"),
        &inst(&id, "/files/nope"),
    ] {
        s.get(k, path).await.expect_err(404, "ROUTE_NOT_FOUND");
    }

    // 5. Wrong method → 405 METHOD_NOT_ALLOWED.
    for (method, path) in [
        (Method::PUT, "/api/instances".to_owned()),
        (Method::PUT, inst(&id, "")),
        (Method::GET, inst(&id, "/terminal/exec")),
        (Method::GET, inst(&id, "/files/write")),
        (Method::DELETE, inst(&id, "/files")),
        (Method::POST, inst(&id, "/files/read")),
        (Method::GET, inst(&id, "/reboot")),
    ] {
        s.send(s.request(method, &path, Some(k)))
            .await
            .expect_err(405, "METHOD_NOT_ALLOWED");
    }

    // 6. Directories where files are expected (and the reverse) → 409 CONFLICT.
    s.post(k, &inst(&id, "/files/mkdir"), &json!({ "path": "d" }))
        .await
        .expect(200);
    s.read_file(k, &id, "d").await.expect_err(409, "CONFLICT");
    s.write_file(k, &id, "d", "x")
        .await
        .expect_err(409, "CONFLICT");
    s.write_file(k, &id, "f", "x").await.expect(200);
    s.list_dir(k, &id, "f").await.expect_err(409, "CONFLICT");
    s.post(
        k,
        &inst(&id, "/files/mkdir"),
        &json!({ "path": "f", "parents": false }),
    )
    .await
    .expect_err(409, "CONFLICT");

    // 7. A JSON body over 16 MiB → 413 PAYLOAD_TOO_LARGE, and the server stays healthy.
    let big = format!(
        "{{\"path\":\"/workspace/huge.txt\",\"content\":\"{}\"}}",
        "a".repeat(16 * 1024 * 1024 + 1)
    );
    s.send(
        s.request(Method::POST, &write, Some(k))
            .header("content-type", "application/json")
            .body(big),
    )
    .await
    .expect_err(413, "PAYLOAD_TOO_LARGE");
    assert_eq!(
        s.sh(k, &id, "ls -A").await,
        "d\nf\n",
        "nothing half-written"
    );
    // Just under the limit is fine.
    let content = "b".repeat(15 * 1024 * 1024);
    s.write_file(k, &id, "/workspace/large.txt", &content)
        .await
        .expect(200);
    assert_eq!(
        s.sh(k, &id, "wc -c < large.txt").await.trim(),
        content.len().to_string()
    );

    let leaked = s.shutdown();
    assert!(
        leaked.processes.is_empty(),
        "sandbox processes left after shutdown: {:?}",
        leaked.processes
    );
}
