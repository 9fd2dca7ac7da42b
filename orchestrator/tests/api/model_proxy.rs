//! The model proxy without a gateway: a sandbox's model socket routes to the tenant's own
//! provider with the tenant's key (which never enters the sandbox), records usage, and the
//! key is stored encrypted.

use serde_json::json;

use crate::helpers::{ADMIN_KEY, spawn_with, test_settings, unix_http};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byok_calls_reach_the_tenants_provider_with_its_key() {
    let (mut settings, data) = test_settings();
    settings.model.allow_private_base_urls = true;
    let app = spawn_with(settings, data).await;
    // The tenant's "provider": a second stand-in server.
    let theirs = orchestrator::scripted_model::ScriptedModel::start().unwrap();
    let secret = "sk-tenant-secret-4242";
    let (s, v) = app
        .post(
            "/api/instances",
            ADMIN_KEY,
            json!({"provider": {"base_url": theirs.base_url, "api_key": secret, "model": "their-model"}}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert!(!v.to_string().contains(secret));
    let id = v["id"].as_str().unwrap().to_owned();
    let st = app.wait_status(ADMIN_KEY, &id, "ready").await;
    let sid = st["sandbox_id"].as_str().unwrap();

    // What the gateway inside the sandbox would send (no key, placeholder model).
    let body = json!({"model": "default", "stream": false,
        "messages": [{"role": "user", "content": "hello proxy"}]})
    .to_string();
    let sock = app
        .data
        .path()
        .join(format!("sandboxes/{sid}/sock/model.sock"));
    let (status, answer) = unix_http(
        &sock,
        &format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("You said: hello proxy"), "{answer}");
    let rec = theirs.recorded();
    assert_eq!(rec.len(), 1);
    assert_eq!(
        rec[0].authorization.as_deref(),
        Some(&*format!("Bearer {secret}"))
    );
    assert_eq!(rec[0].body["model"], "their-model");
    // The service's default provider saw nothing.
    assert!(app.scripted.as_ref().unwrap().requests().is_empty());

    // Usage is recorded against the instance.
    let mut usage = serde_json::Value::Null;
    for _ in 0..50 {
        usage = app
            .get(&format!("/api/instances/{id}/status"), ADMIN_KEY)
            .await
            .1["usage"]
            .clone();
        if usage["input_tokens"].as_i64().unwrap_or(0) > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(usage["input_tokens"].as_i64().unwrap() > 0, "{usage}");

    // The key is stored encrypted: not in the database file in the clear.
    for f in ["ocaas.db", "ocaas.db-wal"] {
        let bytes = std::fs::read(app.data.path().join(f)).unwrap_or_default();
        assert!(!String::from_utf8_lossy(&bytes).contains(secret), "{f}");
    }
    // ...and never inside the sandbox.
    let (_, v) = app
        .post(
            &format!("/api/instances/{id}/terminal/exec"),
            ADMIN_KEY,
            json!({"command": format!("grep -rs {secret} /state /workspace /tmp /run /proc/self/environ; cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n' | grep -c {secret}")}),
        )
        .await;
    assert_eq!(v["stdout"].as_str().unwrap().trim(), "0", "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byok_refuses_private_addresses_by_default() {
    let app = crate::helpers::spawn_app().await;
    for url in [
        "http://127.0.0.1:9/v1",
        "http://localhost/v1",
        "http://169.254.169.254/latest",
        "http://10.0.0.1/v1",
        "http://[::1]/v1",
        "ftp://example.com/v1",
        "not a url",
    ] {
        let (s, v) = app
            .post(
                "/api/instances",
                ADMIN_KEY,
                json!({"provider": {"base_url": url, "api_key": "k", "model": "m"}}),
            )
            .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (422, Some("VALIDATION_FAILED")),
            "{url}"
        );
    }
    assert_eq!(app.get("/api/instances", ADMIN_KEY).await.1, json!([]));
}
