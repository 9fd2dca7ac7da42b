//! The permission matrix: ONE table says what every API route demands, and a test walks every
//! route the app mounts (`api::routes()`), so a new route cannot be added without deciding its
//! permission here. For each keyed route: a key with every permission but the one it needs is
//! `403 FORBIDDEN`; a key with only that permission gets past authorization.

use std::collections::BTreeSet;

use orchestrator::api::{self, Kind};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_KEY, TestApp, spawn_app};

/// What a route demands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Needs {
    /// No key at all.
    Open,
    /// The `/account` page's cookie session only (no key works).
    Session,
    /// Any valid key, whatever its permissions.
    AnyKey,
    /// A key with this permission.
    Perm(&'static str),
    /// A key with `admin`, on an admin account.
    AdminAccount,
}

use Needs::*;

/// (method, route as mounted, what it demands) — every API route.
const TABLE: &[(&str, &str, Needs)] = &[
    ("GET", "/api", Open),
    ("GET", "/healthz", Open),
    ("GET", "/readyz", Open),
    ("GET", "/metrics", Open),
    ("GET", "/api/openapi.json", Open),
    ("GET", "/api/openapi.yaml", Open),
    ("POST", "/api/auth/sign-up", Open),
    ("POST", "/api/auth/sign-in", Open),
    ("POST", "/api/auth/sign-out", Open),
    ("GET", "/api/auth/session", Session),
    ("POST", "/api/billing/webhook", Open),
    ("GET", "/api/account", AnyKey),
    ("POST", "/api/account/invite", Perm("admin")),
    ("GET", "/api/keys", Perm("admin")),
    ("POST", "/api/keys", Perm("admin")),
    ("DELETE", "/api/keys/{key_id}", Perm("admin")),
    ("POST", "/api/billing/checkout", Perm("admin")),
    ("GET", "/api/admin/accounts", AdminAccount),
    ("POST", "/api/admin/accounts", AdminAccount),
    (
        "POST",
        "/api/admin/accounts/{account_id}/keys",
        AdminAccount,
    ),
    ("GET", "/api/admin/invites", AdminAccount),
    ("POST", "/api/admin/invites", AdminAccount),
    ("GET", "/api/instances", Perm("instances:read")),
    ("POST", "/api/instances", Perm("instances:write")),
    ("GET", "/api/instances/{id}", Perm("instances:read")),
    ("PATCH", "/api/instances/{id}", Perm("instances:write")),
    ("DELETE", "/api/instances/{id}", Perm("instances:write")),
    ("GET", "/api/instances/{id}/status", Perm("instances:read")),
    (
        "POST",
        "/api/instances/{id}/reboot",
        Perm("instances:write"),
    ),
    (
        "POST",
        "/api/instances/{id}/shutdown",
        Perm("instances:write"),
    ),
    ("POST", "/api/instances/{id}/start", Perm("instances:write")),
    ("GET", "/api/instances/{id}/chat/sessions", Perm("chat")),
    ("POST", "/api/instances/{id}/chat/sessions", Perm("chat")),
    ("POST", "/api/instances/{id}/chat", Perm("chat")),
    ("POST", "/api/instances/{id}/chat/stream", Perm("chat")),
    ("GET", "/api/instances/{id}/chat/messages", Perm("chat")),
    ("GET", "/api/instances/{id}/chat/events", Perm("chat")),
    ("GET", "/api/instances/{id}/files", Perm("files")),
    ("GET", "/api/instances/{id}/files/read", Perm("files")),
    ("POST", "/api/instances/{id}/files/write", Perm("files")),
    ("POST", "/api/instances/{id}/files/upload", Perm("files")),
    ("POST", "/api/instances/{id}/files/mkdir", Perm("files")),
    ("POST", "/api/instances/{id}/files/rename", Perm("files")),
    ("POST", "/api/instances/{id}/files/delete", Perm("files")),
    ("GET", "/api/instances/{id}/files/download", Perm("files")),
    (
        "POST",
        "/api/instances/{id}/terminal/exec",
        Perm("terminal"),
    ),
    ("GET", "/api/instances/{id}/terminal/ws", Perm("terminal")),
    ("POST", "/api/instances/{id}/ws-token", Perm("terminal")),
    ("GET", "/api/instances/{id}/vnc-url", Perm("terminal")),
    ("GET", "/api/instances/{id}/vnc/ws", Perm("terminal")),
];

const ALL: [&str; 6] = [
    "instances:read",
    "instances:write",
    "chat",
    "files",
    "terminal",
    "admin",
];

#[test]
fn every_api_route_is_in_the_permission_table() {
    let mounted: BTreeSet<(String, String)> = api::routes()
        .into_iter()
        .filter(|r| r.kind == Kind::Api)
        .map(|r| (r.method, r.path))
        .collect();
    let table: BTreeSet<(String, String)> = TABLE
        .iter()
        .map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    let missing: Vec<_> = mounted.difference(&table).collect();
    let stale: Vec<_> = table.difference(&mounted).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "routes without a row in TABLE (decide their permission): {missing:#?}\n\
         rows for routes that do not exist: {stale:#?}"
    );
    assert_eq!(table.len(), TABLE.len(), "a route is in TABLE twice");
}

/// A key on the account of `owner_key` holding exactly `perms`.
async fn key_with(app: &TestApp, owner_key: &str, perms: &[&str]) -> String {
    let (s, v) = app
        .post(
            "/api/keys",
            owner_key,
            json!({"name": "matrix", "permissions": perms}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    v["key"].as_str().unwrap().to_owned()
}

fn concrete(path: &str) -> String {
    // Any id: a route that lets the caller through answers 404 for an unknown one.
    let id = "3f2b8c4e-1d6a-4f7b-9e2c-5a8d0b1c2e3f";
    path.replace("{id}", id)
        .replace("{key_id}", id)
        .replace("{account_id}", id)
}

async fn send(app: &TestApp, method: &str, path: &str, key: Option<&str>) -> (u16, Value) {
    let body = (method != "GET" && method != "DELETE").then(|| json!({}));
    app.call(method, &concrete(path), key, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_permission_opens_its_routes_and_only_them() {
    let app = spawn_app().await;
    let user = app.create_account("user", Some(50)).await;
    for (method, path, needs) in TABLE {
        let at = format!("{method} {path}");
        match needs {
            Open => {
                let (s, v) = send(&app, method, path, None).await;
                assert!(s != 401 && s != 403, "{at} is open but answered {s}: {v}");
            }
            Session => {
                let (s, _) = send(&app, method, path, Some(ADMIN_KEY)).await;
                assert_eq!(s, 401, "{at}: a key is not a session");
            }
            AnyKey => {
                for perm in ALL {
                    let key = key_with(&app, &user, &[perm]).await;
                    let (s, v) = send(&app, method, path, Some(&key)).await;
                    assert_eq!(s, 200, "{at} with only {perm}: {v}");
                }
            }
            Perm(_) | AdminAccount => {
                let owner = if *needs == AdminAccount {
                    ADMIN_KEY
                } else {
                    &user
                };
                let perm = if let Perm(p) = needs { *p } else { "admin" };
                let others: Vec<&str> = ALL.into_iter().filter(|p| p != &perm).collect();
                let without = key_with(&app, owner, &others).await;
                let (s, v) = send(&app, method, path, Some(&without)).await;
                assert_eq!(
                    (s, v["error"]["code"].as_str()),
                    (403, Some("FORBIDDEN")),
                    "{at} without {perm}: {v}"
                );
                assert!(
                    v["error"]["message"].as_str().unwrap().contains(perm),
                    "{at}: the 403 names the permission: {v}"
                );
                let only = key_with(&app, owner, &[perm]).await;
                let (s, v) = send(&app, method, path, Some(&only)).await;
                assert!(
                    s != 401 && s != 403,
                    "{at} with only {perm} answered {s}: {v}"
                );
                if *needs == AdminAccount {
                    // A full key of an ordinary account is still refused.
                    let (s, v) = send(&app, method, path, Some(&user)).await;
                    assert_eq!(s, 403, "{at} on a non-admin account: {v}");
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_cannot_grant_what_it_lacks_and_names_are_checked() {
    let app = spawn_app().await;
    let user = app.create_account("user", None).await;
    let admin_only = key_with(&app, &user, &["admin"]).await;
    let (s, v) = app
        .post(
            "/api/keys",
            &admin_only,
            json!({"permissions": ["admin", "files"]}),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("VALIDATION_FAILED")),
        "{v}"
    );
    let (s, v) = app
        .post("/api/keys", &user, json!({"permissions": ["root"]}))
        .await;
    assert_eq!(s, 422, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("root"));
    let (s, v) = app
        .post("/api/keys", &user, json!({"permissions": []}))
        .await;
    assert_eq!(s, 422, "{v}");
    // The default is everything the creator holds, and the listing shows it.
    let (s, v) = app.post("/api/keys", &admin_only, json!({})).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["permissions"], json!(["admin"]));
    let (_, keys) = app.get("/api/keys", &user).await;
    let first = &keys.as_array().unwrap()[0];
    assert_eq!(first["permissions"].as_array().unwrap().len(), 6, "{first}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_routes_check_the_terminal_permission_before_upgrading() {
    let app = spawn_app().await;
    let user = app.create_account("user", None).await;
    let id = app.create_instance(&user).await;
    app.wait_status(&user, &id, "ready").await;
    let files_only = key_with(&app, &user, &["files"]).await;
    for route in ["terminal/ws", "vnc/ws"] {
        let r = app
            .client
            .get(app.url(&format!("/api/instances/{id}/{route}")))
            .bearer_auth(&files_only)
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{route}");
    }
    // A token minted by a terminal key still opens the terminal (browsers send no header).
    let terminal = key_with(&app, &user, &["terminal"]).await;
    let (s, v) = app
        .post(
            &format!("/api/instances/{id}/ws-token"),
            &terminal,
            json!({}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, _) = app
        .post(
            &format!("/api/instances/{id}/ws-token"),
            &files_only,
            json!({}),
        )
        .await;
    assert_eq!(s, 403);
}
