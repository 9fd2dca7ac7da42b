//! Instances through the HTTP API with the real local runtime: lifecycle, status history,
//! tenancy, quota, capacity and bad input.

use serde_json::json;

use crate::helpers::{ADMIN_KEY, spawn_app, spawn_with, test_settings};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_is_201_provisioning_then_ready_with_persisted_transitions() {
    let app = spawn_app().await;
    let r = app
        .client
        .post(app.url("/api/instances"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"name": "demo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["status"], "provisioning");
    assert_eq!(v["name"], "demo");
    let id = v["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/api/instances/{id}"));
    assert!(v["sandbox_id"].as_str().unwrap().starts_with("sandy-"));
    for field in ["created_at", "updated_at"] {
        let t = v[field].as_str().unwrap();
        assert!(t.ends_with('Z') && t.len() == 24, "{field}: {t}");
    }

    let st = app.wait_status(ADMIN_KEY, &id, "ready").await;
    assert_eq!(st["ready"], true);
    let tr = st["transitions"].as_array().unwrap();
    assert_eq!(tr[0]["to"], "provisioning");
    assert_eq!(tr.last().unwrap()["from"], "provisioning");
    assert_eq!(tr.last().unwrap()["to"], "ready");
    assert!(tr.iter().all(|t| t["at"].as_str().unwrap().ends_with('Z')));

    let (s, list) = app.get("/api/instances", ADMIN_KEY).await;
    assert_eq!(s, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["status"], "ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_shutdown_start_reboot_delete_keeps_the_workspace() {
    let app = spawn_app().await;
    let id = app.create_instance(ADMIN_KEY).await;
    let base = format!("/api/instances/{id}");
    let (s, v) = app
        .post(
            &format!("{base}/files/write"),
            ADMIN_KEY,
            json!({"path": "/workspace/keep.txt", "content": "kept"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");

    let (s, v) = app
        .post(&format!("{base}/shutdown"), ADMIN_KEY, json!({}))
        .await;
    assert_eq!(s, 202);
    assert_eq!(v["status"], "stopping");
    app.wait_status(ADMIN_KEY, &id, "stopped").await;
    let (s, v) = app
        .post(
            &format!("{base}/terminal/exec"),
            ADMIN_KEY,
            json!({"command": "true"}),
        )
        .await;
    assert_eq!(s, 409);
    assert_eq!(v["error"]["code"], "INSTANCE_NOT_RUNNING");
    // Shutting down a stopped instance is a no-op; rebooting one is a conflict.
    assert_eq!(
        app.post(&format!("{base}/shutdown"), ADMIN_KEY, json!({}))
            .await
            .0,
        202
    );
    let (s, v) = app
        .post(&format!("{base}/reboot"), ADMIN_KEY, json!({}))
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("INSTANCE_NOT_RUNNING"))
    );

    let (s, v) = app
        .post(&format!("{base}/start"), ADMIN_KEY, json!({}))
        .await;
    assert_eq!(s, 202);
    assert_eq!(v["status"], "starting");
    let st = app.wait_status(ADMIN_KEY, &id, "ready").await;
    let before = st["sandbox_id"].clone();
    let (s, v) = app
        .get(
            &format!("{base}/files/read?path=/workspace/keep.txt"),
            ADMIN_KEY,
        )
        .await;
    assert_eq!((s, v["content"].as_str()), (200, Some("kept")));

    let (s, v) = app
        .post(&format!("{base}/reboot"), ADMIN_KEY, json!({}))
        .await;
    assert_eq!((s, v["status"].as_str()), (202, Some("rebooting")));
    let st = app.wait_status(ADMIN_KEY, &id, "ready").await;
    assert_ne!(st["sandbox_id"], before, "reboot gives a fresh sandbox");
    let (s, v) = app
        .get(
            &format!("{base}/files/read?path=/workspace/keep.txt"),
            ADMIN_KEY,
        )
        .await;
    assert_eq!((s, v["content"].as_str()), (200, Some("kept")));

    let (s, _) = app.call("DELETE", &base, Some(ADMIN_KEY), None).await;
    assert_eq!(s, 204);
    assert_eq!(app.get(&base, ADMIN_KEY).await.0, 404);
    assert!(!app.data.path().join("instances").join(&id).exists());
    let sandboxes = std::fs::read_dir(app.data.path().join("sandboxes"))
        .unwrap()
        .count();
    assert_eq!(sandboxes, 0, "no sandbox left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_accounts_instance_is_404_everywhere() {
    let app = spawn_app().await;
    let id = app.create_instance(ADMIN_KEY).await;
    let bob = app.create_account("bob", None).await;
    let base = format!("/api/instances/{id}");
    assert_eq!(app.get("/api/instances", &bob).await.1, json!([]));
    for (method, path) in [
        ("GET", base.clone()),
        ("GET", format!("{base}/status")),
        ("POST", format!("{base}/reboot")),
        ("POST", format!("{base}/shutdown")),
        ("POST", format!("{base}/start")),
        ("GET", format!("{base}/files?path=/workspace")),
        ("GET", format!("{base}/files/download?path=/workspace/x")),
        ("DELETE", base.clone()),
    ] {
        let (s, v) = app.call(method, &path, Some(&bob), None).await;
        assert_eq!(s, 404, "{method} {path}: {v}");
        assert_eq!(v["error"]["code"], "NOT_FOUND");
    }
    let (s, _) = app
        .post(
            &format!("{base}/terminal/exec"),
            &bob,
            json!({"command": "id"}),
        )
        .await;
    assert_eq!(s, 404);
    // Still the owner's, untouched.
    app.wait_status(ADMIN_KEY, &id, "ready").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_is_403_and_capacity_is_503() {
    let (mut settings, data) = test_settings();
    settings.limits.max_running_instances = 2;
    let app = spawn_with(settings, data).await;
    let bob = app.create_account("bob", Some(1)).await;
    app.create_instance(&bob).await;
    let (s, v) = app.post("/api/instances", &bob, json!({})).await;
    assert_eq!(s, 403, "{v}");
    assert_eq!(v["error"]["code"], "QUOTA_EXCEEDED");

    let id = app.create_instance(ADMIN_KEY).await;
    let r = app
        .client
        .post(app.url("/api/instances"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "30");
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "CAPACITY_EXHAUSTED");
    assert_eq!(v["error"]["retryAfter"], 30);

    // A stopped instance frees capacity; starting it again needs capacity back.
    app.post(
        &format!("/api/instances/{id}/shutdown"),
        ADMIN_KEY,
        json!({}),
    )
    .await;
    app.wait_status(ADMIN_KEY, &id, "stopped").await;
    let other = app.create_instance(ADMIN_KEY).await;
    let (s, v) = app
        .post(&format!("/api/instances/{id}/start"), ADMIN_KEY, json!({}))
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (503, Some("CAPACITY_EXHAUSTED"))
    );
    app.wait_status(ADMIN_KEY, &other, "ready").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_errors() {
    let app = spawn_app().await;
    let send_raw = |path: &str, body: &'static str| {
        app.client
            .post(app.url(path))
            .bearer_auth(ADMIN_KEY)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let r = send_raw("/api/instances", "{not json").await.unwrap();
    assert_eq!(r.status(), 400);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "INVALID_JSON");
    let r = send_raw("/api/instances", r#"{"name": 5}"#).await.unwrap();
    assert_eq!(r.status(), 422);
    let r = send_raw("/api/instances", r#"{"flavour": "large"}"#)
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let (s, v) = app
        .post("/api/instances", ADMIN_KEY, json!({"name": ""}))
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("VALIDATION_FAILED"))
    );

    // An empty body is fine (the seed's curl sends `{}`, a bare POST works too).
    let r = app
        .client
        .post(app.url("/api/instances"))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    for path in [
        "/api/instances/not-a-uuid".to_owned(),
        format!("/api/instances/{}", uuid::Uuid::new_v4()),
        format!("/api/instances/{}/status", uuid::Uuid::new_v4()),
    ] {
        let (s, v) = app.get(&path, ADMIN_KEY).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (404, Some("NOT_FOUND")),
            "{path}"
        );
    }

    // Relayed bodies are checked by the agent and answered in the same envelope.
    let exec = format!("/api/instances/{id}/terminal/exec");
    let r = send_raw(&exec, r#"{"command": "tr"#).await.unwrap();
    assert_eq!(r.status(), 400);
    let r = send_raw(&exec, "[1, 2]").await.unwrap();
    assert_eq!(r.status(), 422);
    let (s, v) = app.post(&exec, ADMIN_KEY, json!({"timeout_ms": 5})).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("VALIDATION_FAILED"))
    );
    let (s, v) = app
        .post(
            &exec,
            ADMIN_KEY,
            json!({"command": "true", "timeout_ms": 0}),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("VALIDATION_FAILED"))
    );
    let big = "x".repeat(17 * 1024 * 1024);
    let r = app
        .client
        .post(app.url(&format!("/api/instances/{id}/files/write")))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"path": "/workspace/big", "content": big}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let (s, v) = app
        .get(
            &format!("/api/instances/{id}/files/read?path=/etc/passwd"),
            ADMIN_KEY,
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("PATH_OUTSIDE_WORKSPACE"))
    );
}
