//! Per-key rate limits: every authenticated response says where the key stands; beyond the
//! limit, `429 RATE_LIMITED` with `retryAfter` and `Retry-After`; chat, reads and writes are
//! separate buckets, and each key has its own.

use orchestrator::settings::RateLimitSettings;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_KEY, TestApp, spawn_with, test_settings};

struct Answer {
    status: u16,
    limit: Option<u32>,
    remaining: Option<u32>,
    reset: Option<i64>,
    retry_after: Option<u64>,
    body: Value,
}

async fn call(app: &TestApp, method: &str, path: &str, key: &str) -> Answer {
    let mut req = app
        .client
        .request(method.parse().unwrap(), app.url(path))
        .bearer_auth(key);
    if method == "POST" {
        req = req.json(&json!({}));
    }
    let r = req.send().await.unwrap();
    let h = |name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (limit, remaining, reset, retry_after) = (
        h("x-ratelimit-limit").and_then(|v| v.parse().ok()),
        h("x-ratelimit-remaining").and_then(|v| v.parse().ok()),
        h("x-ratelimit-reset").and_then(|v| v.parse().ok()),
        h("retry-after").and_then(|v| v.parse().ok()),
    );
    let status = r.status().as_u16();
    Answer {
        status,
        limit,
        remaining,
        reset,
        retry_after,
        body: r.json().await.unwrap_or(Value::Null),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_count_down_and_the_limit_is_429_with_retry_after() {
    let (mut settings, data) = test_settings();
    settings.rate_limits = RateLimitSettings {
        chat_per_min: 3,
        read_per_min: 5,
        write_per_min: 4,
        sign_in_per_min: 2,
    };
    let app = spawn_with(settings, data).await;
    let (s, v) = app
        .post("/api/admin/accounts", ADMIN_KEY, json!({"name": "rl"}))
        .await;
    assert_eq!(s, 201, "{v}");
    let key = v["key"]["key"].as_str().unwrap().to_owned();

    let before = chrono::Utc::now().timestamp();
    for i in 0..5u32 {
        let a = call(&app, "GET", "/api/instances", &key).await;
        assert_eq!(a.status, 200);
        assert_eq!(a.limit, Some(5));
        assert_eq!(a.remaining, Some(4 - i), "call {i}");
        let reset = a.reset.unwrap();
        assert!(
            reset > before && reset <= before + 61,
            "reset {reset} vs {before}"
        );
    }
    let over = call(&app, "GET", "/api/instances", &key).await;
    assert_eq!(over.status, 429);
    assert_eq!(over.body["error"]["code"], "RATE_LIMITED");
    let retry = over.body["error"]["retryAfter"].as_u64().unwrap();
    assert!(
        (1..=12).contains(&retry),
        "one call refills in 12 s: {retry}"
    );
    assert_eq!(over.retry_after, Some(retry));
    assert_eq!((over.limit, over.remaining), (Some(5), Some(0)));

    // Other buckets of the same key are untouched: chat and writes count on their own.
    let chat = call(
        &app,
        "GET",
        "/api/instances/3f2b8c4e-1d6a-4f7b-9e2c-5a8d0b1c2e3f/chat/sessions",
        &key,
    )
    .await;
    assert_eq!(
        (chat.status, chat.limit, chat.remaining),
        (404, Some(3), Some(2))
    );
    let write = call(&app, "POST", "/api/keys", &key).await;
    assert_eq!(
        (write.status, write.limit, write.remaining),
        (201, Some(4), Some(3))
    );
    // Another key has its own allowance.
    let other = write.body["key"].as_str().unwrap().to_owned();
    let a = call(&app, "GET", "/api/instances", &other).await;
    assert_eq!((a.status, a.remaining), (200, Some(4)));
    // Errors of an authenticated caller carry the headers too; unauthenticated calls have none.
    let missing = call(&app, "GET", "/api/instances/not-an-id", &other).await;
    assert_eq!((missing.status, missing.remaining), (404, Some(3)));
    let anonymous = app.client.get(app.url("/api")).send().await.unwrap();
    assert!(anonymous.headers().get("x-ratelimit-limit").is_none());
    // `GET /api` tells clients the limits.
    let (_, api) = app.call("GET", "/api", None, None).await;
    assert_eq!(
        api["rate_limits"],
        json!({"chat_per_min": 3, "read_per_min": 5, "write_per_min": 4})
    );

    // Sign-in attempts are limited per client address (password guessing).
    for _ in 0..2 {
        let (s, _) = app
            .call(
                "POST",
                "/api/auth/sign-in",
                None,
                Some(json!({"email": "x@example.com", "password": "wrong password"})),
            )
            .await;
        assert_eq!(s, 401);
    }
    let (s, v) = app
        .call(
            "POST",
            "/api/auth/sign-in",
            None,
            Some(json!({"email": "x@example.com", "password": "wrong password"})),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (429, Some("RATE_LIMITED"))
    );
}
