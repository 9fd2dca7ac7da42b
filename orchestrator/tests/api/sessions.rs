//! Sign-up, sign-in and sign-out on the `/account` page's API: the cookie, CSRF, what errors
//! give away, closed sign-up, and keys created and revoked through a session.

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_with, test_settings};

/// A browser's view: the session cookie it holds and the CSRF token the page keeps.
struct Browser {
    cookie: String,
    csrf: String,
}

/// POST JSON with optional cookie and CSRF header; (status, body, headers).
async fn post(
    app: &TestApp,
    path: &str,
    body: Value,
    cookie: Option<&str>,
    csrf: Option<&str>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut req = app.client.post(app.url(path)).json(&body);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    if let Some(t) = csrf {
        req = req.header("x-csrf-token", t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    assert_ne!(status, 500, "{path}: {text}");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        headers,
    )
}

async fn get(app: &TestApp, path: &str, cookie: &str) -> (u16, Value) {
    let resp = app
        .client
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn session_cookie(headers: &reqwest::header::HeaderMap) -> String {
    let set = headers
        .get("set-cookie")
        .expect("a Set-Cookie")
        .to_str()
        .unwrap()
        .to_owned();
    set.split(';').next().unwrap().to_owned()
}

async fn sign_up(app: &TestApp, email: &str, password: &str) -> Browser {
    let (s, v, h) = post(
        app,
        "/api/auth/sign-up",
        json!({"email": email, "password": password}),
        None,
        None,
    )
    .await;
    assert_eq!(s, 201, "{v}");
    Browser {
        cookie: session_cookie(&h),
        csrf: v["csrf_token"].as_str().unwrap().to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_sets_a_safe_cookie_and_sign_in_works_later() {
    let app = spawn_app().await;
    let (s, v, h) = post(
        &app,
        "/api/auth/sign-up",
        json!({"email": " Alice@Example.com ", "password": "correct horse battery"}),
        None,
        None,
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["account"]["email"], "alice@example.com");
    assert_eq!(v["account"]["is_admin"], false);
    let set = h.get("set-cookie").unwrap().to_str().unwrap();
    assert!(set.starts_with("ocaas_session="), "{set}");
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax"),
        "{set}"
    );
    assert!(!set.contains("Secure"), "plain http: {set}");
    let cookie = session_cookie(&h);

    // The session answers; the cookie is not an API key.
    let (s, me) = get(&app, "/api/auth/session", &cookie).await;
    assert_eq!(s, 200);
    assert_eq!(me["csrf_token"], v["csrf_token"]);
    let (s, _) = get(&app, "/api/instances", &cookie).await;
    assert_eq!(s, 401, "the API takes keys only");

    // Sign out: the cookie is cleared and the session is over.
    let (s, v2, h) = post(&app, "/api/auth/sign-out", json!({}), Some(&cookie), None).await;
    assert_eq!(
        (s, v2["error"]["code"].as_str()),
        (403, Some("CSRF_FAILED"))
    );
    let csrf = v["csrf_token"].as_str().unwrap();
    let (s, _, h2) = post(
        &app,
        "/api/auth/sign-out",
        json!({}),
        Some(&cookie),
        Some(csrf),
    )
    .await;
    assert_eq!(s, 204);
    assert!(
        h2.get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let _ = h;
    assert_eq!(get(&app, "/api/auth/session", &cookie).await.0, 401);

    // Sign in again, over "https" (a proxy says so): the cookie is Secure.
    let resp = app
        .client
        .post(app.url("/api/auth/sign-in"))
        .header("x-forwarded-proto", "https")
        .json(&json!({"email": "ALICE@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let set = resp.headers().get("set-cookie").unwrap().to_str().unwrap();
    assert!(set.contains("; Secure"), "{set}");

    // Neither the password nor the session token is stored in clear.
    let token = session_cookie(resp.headers())
        .split('=')
        .nth(1)
        .unwrap()
        .to_owned();
    for name in ["ocaas.db", "ocaas.db-wal"] {
        let bytes = std::fs::read(app.data.path().join(name)).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("correct horse battery"), "{name}");
        assert!(!text.contains(&token), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_sign_ups_and_sign_ins_say_little() {
    let app = spawn_app().await;
    sign_up(&app, "bob@example.com", "a long enough password").await;
    for (body, status, code) in [
        (
            json!({"email": "bob@example.com", "password": "another password"}),
            409,
            "CONFLICT",
        ),
        (
            json!({"email": "not-an-email", "password": "a long enough password"}),
            422,
            "VALIDATION_FAILED",
        ),
        (
            json!({"email": "c@example.com", "password": "short"}),
            422,
            "VALIDATION_FAILED",
        ),
        (json!({"email": "c@example.com"}), 422, "VALIDATION_FAILED"),
        (
            json!({"email": "c@example.com", "password": "a long enough password", "admin": true}),
            422,
            "VALIDATION_FAILED",
        ),
    ] {
        let (s, v, _) = post(&app, "/api/auth/sign-up", body.clone(), None, None).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}: {v}"
        );
    }
    // A wrong password and an unknown email get the same answer.
    let (s1, v1, _) = post(
        &app,
        "/api/auth/sign-in",
        json!({"email": "bob@example.com", "password": "wrong password!"}),
        None,
        None,
    )
    .await;
    let (s2, v2, _) = post(
        &app,
        "/api/auth/sign-in",
        json!({"email": "nobody@example.com", "password": "wrong password!"}),
        None,
        None,
    )
    .await;
    assert_eq!((s1, s2), (401, 401));
    assert_eq!(v1, v2);
    assert!(!v1.to_string().contains("bob@example.com"));
    // Accounts an operator made without a password cannot sign in with any password.
    let (s, _) = app
        .post(
            "/api/admin/accounts",
            crate::helpers::ADMIN_KEY,
            json!({"email": "ops@example.com"}),
        )
        .await;
    assert_eq!(s, 201);
    let (s, _, _) = post(
        &app,
        "/api/auth/sign-in",
        json!({"email": "ops@example.com", "password": ""}),
        None,
        None,
    )
    .await;
    assert_eq!(s, 401);
    // Sign-in from another site is refused (login CSRF); a form post (not JSON) is too.
    let resp = app
        .client
        .post(app.url("/api/auth/sign-in"))
        .header("origin", "https://evil.example")
        .json(&json!({"email": "bob@example.com", "password": "a long enough password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let resp = app
        .client
        .post(app.url("/api/auth/sign-in"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("email=bob%40example.com&password=a+long+enough+password")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_manages_keys_with_its_cookie_and_csrf_token() {
    let app = spawn_app().await;
    let b = sign_up(&app, "carol@example.com", "carol's long password").await;
    // Without the CSRF token (what a forged cross-site form would send), nothing is created.
    for csrf in [None, Some("not-the-token")] {
        let (s, v, _) = post(
            &app,
            "/api/keys",
            json!({"name": "x"}),
            Some(&b.cookie),
            csrf,
        )
        .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (403, Some("CSRF_FAILED")),
            "{v}"
        );
    }
    let (s, created, _) = post(
        &app,
        "/api/keys",
        json!({"name": "laptop", "permissions": ["instances:read", "files"]}),
        Some(&b.cookie),
        Some(&b.csrf),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    let key = created["key"].as_str().unwrap().to_owned();
    assert_eq!(created["permissions"], json!(["instances:read", "files"]));
    // The key works with the API within its permissions.
    assert_eq!(app.get("/api/instances", &key).await.0, 200);
    let (s, v) = app.post("/api/instances", &key, json!({})).await;
    assert_eq!((s, v["error"]["code"].as_str()), (403, Some("FORBIDDEN")));
    // Listed by the page (never the secret), with its permissions and last use.
    let (s, keys) = get(&app, "/api/keys", &b.cookie).await;
    assert_eq!(s, 200);
    assert!(!keys.to_string().contains(&key));
    let listed = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == created["id"])
        .unwrap();
    assert_eq!(listed["name"], "laptop");
    // Revoke through the page: the key is 401 at once.
    let id = created["id"].as_str().unwrap();
    let resp = app
        .client
        .delete(app.url(&format!("/api/keys/{id}")))
        .header("cookie", &b.cookie)
        .header("x-csrf-token", &b.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let (s, v) = app.get("/api/instances", &key).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (401, Some("UNAUTHORIZED"))
    );
    // Another account's session cannot see or revoke it.
    let other = sign_up(&app, "dave@example.com", "dave's long password").await;
    let (_, keys) = get(&app, "/api/keys", &other.cookie).await;
    assert!(keys.as_array().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_can_close_sign_up() {
    let (mut settings, data) = test_settings();
    settings.accounts.sign_up = false;
    let app = spawn_with(settings, data).await;
    let (_, api) = app.call("GET", "/api", None, None).await;
    assert_eq!(api["access"]["sign_up"], false);
    let (s, v, _) = post(
        &app,
        "/api/auth/sign-up",
        json!({"email": "eve@example.com", "password": "a long enough password"}),
        None,
        None,
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (403, Some("SIGN_UP_CLOSED"))
    );
}
