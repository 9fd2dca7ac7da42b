//! `spawn_app()`: the real orchestrator, in-process, on port 0, with a fresh database (SQLite
//! in a temp dir, or a fresh PostgreSQL database when asked) and the real local runtime.

use std::os::unix::fs::PermissionsExt;

use orchestrator::settings::{Secret, Settings};
use orchestrator::startup::Application;
use serde_json::Value;

pub const ADMIN_KEY: &str = "ocaas_test_admin_key_0123456789abcdefghij";

pub struct TestApp {
    pub base: String,
    /// The scripted stand-in model server the app started (no provider configured).
    pub scripted: Option<orchestrator::scripted_model::ScriptedModel>,
    pub data: tempfile::TempDir,
    pub client: reqwest::Client,
    runtime: std::sync::Arc<dyn orchestrator::runtime::Runtime>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Background work (a bring-up, a pool refill) may still be about to start a sandbox.
        self.runtime.close();
        orchestrator::runtime::local::kill_all_now(self.data.path());
    }
}

/// Settings for a test: temp data dir reachable by the sandbox uid, fresh SQLite DB.
pub fn test_settings() -> (Settings, tempfile::TempDir) {
    let data = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(data.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let mut s = Settings {
        listen: "127.0.0.1:0".into(),
        data_dir: data.path().to_path_buf(),
        bootstrap_api_key: Some(Secret::new(ADMIN_KEY)),
        log_level: "warn".into(),
        ..Settings::default()
    };
    s.local.keep_sandboxes_on_shutdown = false;
    // Tests make many calls with one key: no rate limits unless a test is about them.
    s.rate_limits = orchestrator::settings::RateLimitSettings {
        chat_per_min: 0,
        read_per_min: 0,
        write_per_min: 0,
        sign_in_per_min: 0,
    };
    // No OpenClaw gateway unless a test asks for one: each needs ~1 GB and ~20 s to boot.
    s.local.openclaw_dir = None;
    // No warm pool unless a test asks for one (its sandboxes run gateways too).
    s.pool.size = 0;
    (s, data)
}

pub async fn spawn_app() -> TestApp {
    let (s, data) = test_settings();
    spawn_with(s, data).await
}

pub async fn spawn_with(settings: Settings, data: tempfile::TempDir) -> TestApp {
    // `OCAAS_TEST_LOG=debug` shows the server's log for a failing test.
    if let Ok(level) = std::env::var("OCAAS_TEST_LOG") {
        let mut s = settings.clone();
        s.log_level = level;
        s.log_format = orchestrator::settings::LogFormat::Pretty;
        orchestrator::telemetry::init(&s);
    }
    let app = Application::build(settings)
        .await
        .expect("application builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let scripted = app.scripted_model();
    let runtime = app.runtime();
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    // Wait for start-up reconciliation.
    for _ in 0..200 {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await
            && r.status() == 200
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    TestApp {
        base,
        scripted,
        data,
        client,
        runtime,
    }
}

/// A fresh PostgreSQL database in the throwaway server `make test` starts, or `None` when
/// there is none (then PostgreSQL tests are skipped, loudly — `make test` sets
/// `OCAAS_REQUIRE_POSTGRES=1`, which turns a missing server into a failure).
pub async fn fresh_postgres_url() -> Option<String> {
    let Ok(admin) = std::env::var("OCAAS_TEST_DATABASE_URL") else {
        assert!(
            std::env::var("OCAAS_REQUIRE_POSTGRES").is_err(),
            "OCAAS_REQUIRE_POSTGRES is set but OCAAS_TEST_DATABASE_URL is not"
        );
        eprintln!("SKIPPED: no OCAAS_TEST_DATABASE_URL; run `make test` for the PostgreSQL tests");
        return None;
    };
    use sea_orm::ConnectionTrait;
    let name = format!("ocaas_test_{}", uuid::Uuid::new_v4().simple());
    let db = sea_orm::Database::connect(&admin)
        .await
        .expect("connect admin");
    db.execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create database");
    let (prefix, _) = admin.rsplit_once('/').expect("url has a database");
    Some(format!("{prefix}/{name}"))
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Send and return (status, JSON body). Panics on a 500: no test input may cause one
    /// (502/503/504 are deliberate answers with their own codes).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.client.request(method.parse().unwrap(), self.url(path));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        assert_ne!(status, 500, "{method} {path} -> {status}: {text}");
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, json)
    }

    pub async fn get(&self, path: &str, key: &str) -> (u16, Value) {
        self.call("GET", path, Some(key), None).await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> (u16, Value) {
        self.call("POST", path, Some(key), Some(body)).await
    }

    /// Create an account through the admin API; returns its key.
    pub async fn create_account(&self, name: &str, max_instances: Option<u32>) -> String {
        let mut body = serde_json::json!({ "name": name });
        if let Some(m) = max_instances {
            body["max_instances"] = m.into();
        }
        let (s, v) = self.post("/api/admin/accounts", ADMIN_KEY, body).await;
        assert_eq!(s, 201, "{v}");
        v["key"]["key"].as_str().unwrap().to_owned()
    }

    pub async fn create_instance(&self, key: &str) -> String {
        let (s, v) = self
            .post("/api/instances", key, serde_json::json!({}))
            .await;
        assert_eq!(s, 201, "{v}");
        v["id"].as_str().unwrap().to_owned()
    }

    /// Poll until the instance reaches `status` (10 s at most).
    pub async fn wait_status(&self, key: &str, id: &str, status: &str) -> Value {
        let mut last = Value::Null;
        for _ in 0..500 {
            let (_, v) = self.get(&format!("/api/instances/{id}/status"), key).await;
            if v["status"] == status {
                return v;
            }
            last = v;
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("instance {id} never reached {status}; last: {last}");
    }
}

/// The OpenClaw install `make` puts in place, or `None` (then gateway tests are skipped,
/// loudly; `make test` sets `OCAAS_REQUIRE_OPENCLAW=1`, which makes a missing install a
/// failure).
pub fn openclaw_dir() -> Option<std::path::PathBuf> {
    let dir = std::path::PathBuf::from(
        std::env::var("OCAAS_OPENCLAW_DIR").unwrap_or_else(|_| "/var/cache/ocaas/openclaw".into()),
    );
    if dir.join("app/node_modules/openclaw/openclaw.mjs").exists() {
        return Some(dir);
    }
    assert!(
        std::env::var("OCAAS_REQUIRE_OPENCLAW").is_err(),
        "OCAAS_REQUIRE_OPENCLAW is set but OpenClaw is not installed in {}",
        dir.display()
    );
    eprintln!("SKIPPED: OpenClaw is not installed; run `make test`");
    None
}

/// Send a raw HTTP/1.1 request over a unix socket; returns (status, body).
pub async fn unix_http(path: &std::path::Path, request: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::UnixStream::connect(path)
        .await
        .expect("connect");
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}
