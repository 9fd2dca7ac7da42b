//! API keys: bootstrap, hashing, prefixes, admin-only routes, revocation.

use serde_json::json;

use crate::helpers::{ADMIN_KEY, spawn_app, spawn_with, test_settings};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_wrong_keys_are_401() {
    let app = spawn_app().await;
    let (s, v) = app.call("GET", "/api/instances", None, None).await;
    assert_eq!(s, 401);
    assert_eq!(v["error"]["code"], "UNAUTHORIZED");
    let (s, _) = app.get("/api/instances", "ocaas_wrong").await;
    assert_eq!(s, 401);
    let r = app
        .client
        .get(app.url("/api/instances"))
        .header("authorization", "Basic Zm9vOmJhcg==")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_creates_accounts_whose_keys_work_and_are_stored_hashed() {
    let app = spawn_app().await;
    let (s, v) = app
        .post(
            "/api/admin/accounts",
            ADMIN_KEY,
            json!({"name": "bob", "email": "bob@example.com"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let key = v["key"]["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("ocaas_") && key.len() == 46);
    assert!(key.starts_with(v["key"]["prefix"].as_str().unwrap()));

    let (s, me) = app.get("/api/account", &key).await;
    assert_eq!(s, 200);
    assert_eq!(me["name"], "bob");
    assert_eq!(me["is_admin"], false);

    // Listing shows the prefix, never the key.
    let (s, keys) = app.get("/api/keys", &key).await;
    assert_eq!(s, 200);
    assert_eq!(keys.as_array().unwrap().len(), 1);
    assert!(!keys.to_string().contains(&key));

    // The database holds only the hash.
    let db = std::fs::read(app.data.path().join("ocaas.db")).unwrap();
    let wal = std::fs::read(app.data.path().join("ocaas.db-wal")).unwrap_or_default();
    for bytes in [db, wal] {
        assert!(!String::from_utf8_lossy(&bytes).contains(&key));
    }

    // Same email again: conflict.
    let (s, v) = app
        .post(
            "/api/admin/accounts",
            ADMIN_KEY,
            json!({"name": "bob2", "email": "bob@example.com"}),
        )
        .await;
    assert_eq!(s, 409, "{v}");

    // Non-admins cannot use admin routes.
    let (s, v) = app.get("/api/admin/accounts", &key).await;
    assert_eq!(s, 403);
    assert_eq!(v["error"]["code"], "FORBIDDEN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_can_be_created_and_revoked_at_once() {
    let app = spawn_app().await;
    let bob = app.create_account("bob", None).await;
    let (s, created) = app.post("/api/keys", &bob, json!({"name": "ci"})).await;
    assert_eq!(s, 201);
    let second = created["key"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(app.get("/api/account", &second).await.0, 200);

    let (s, _) = app
        .call("DELETE", &format!("/api/keys/{id}"), Some(&bob), None)
        .await;
    assert_eq!(s, 204);
    assert_eq!(app.get("/api/account", &second).await.0, 401);
    // Revoking again, or someone else's key, is 404.
    let (s, _) = app
        .call("DELETE", &format!("/api/keys/{id}"), Some(&bob), None)
        .await;
    assert_eq!(s, 404);
    let (s, _) = app
        .call("DELETE", &format!("/api/keys/{id}"), Some(ADMIN_KEY), None)
        .await;
    assert_eq!(s, 404);
    // Bad bodies.
    let (s, v) = app.post("/api/keys", &bob, json!({"name": ""})).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("VALIDATION_FAILED"))
    );
    let (s, v) = app.post("/api/keys", &bob, json!({"nmae": "x"})).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("VALIDATION_FAILED"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_mints_a_random_key_once() {
    let (mut settings, data) = test_settings();
    settings.bootstrap_api_key = None;
    let app = orchestrator::startup::Application::build(settings.clone())
        .await
        .unwrap();
    let key = app.bootstrap_key.clone().expect("first start mints a key");
    assert!(key.starts_with("ocaas_"));
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let r = reqwest::Client::new()
        .get(format!("{base}/api/account"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let me: serde_json::Value = r.json().await.unwrap();
    assert_eq!(me["is_admin"], true);

    // A second start on the same database creates nothing and shows nothing.
    settings.listen = "127.0.0.1:0".into();
    let again = spawn_with(settings, data).await;
    assert_eq!(
        again
            .get("/api/admin/accounts", &key)
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
