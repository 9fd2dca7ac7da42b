//! Invite codes under the `invite_or_subscription` gate: wrong, expired and used-up codes say
//! which; a create refused for capacity does not use a redemption; redemption is atomic under
//! 50 concurrent attempts for a code good for 10, on SQLite and on PostgreSQL (also across two
//! replicas); and the operator CLI makes accounts, keys and codes.

use orchestrator::settings::{Gate, Secret, Settings};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_KEY, TestApp, fresh_postgres_url, spawn_with, test_settings};

fn gated() -> (Settings, tempfile::TempDir) {
    let (mut s, data) = test_settings();
    s.access.gate = Gate::InviteOrSubscription;
    (s, data)
}

async fn invite(app: &TestApp, body: Value) -> String {
    let (s, v) = app.post("/api/admin/invites", ADMIN_KEY, body).await;
    assert_eq!(s, 201, "{v}");
    v["code"].as_str().unwrap().to_owned()
}

async fn create(app: &TestApp, key: &str, code: Option<&str>) -> (u16, Value) {
    let body = match code {
        Some(c) => json!({ "invite_code": c }),
        None => json!({}),
    };
    app.post("/api/instances", key, body).await
}

fn code_of(v: &Value) -> Option<&str> {
    v["error"]["code"].as_str()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_grant_access_and_refusals_say_why() {
    let (settings, data) = gated();
    let app = spawn_with(settings, data).await;
    let (_, api) = app.call("GET", "/api", None, None).await;
    assert_eq!(api["access"]["gate"], "invite_or_subscription");

    let alice = app.create_account("alice", None).await;
    let (s, v) = create(&app, &alice, None).await;
    assert_eq!(
        (s, code_of(&v)),
        (403, Some("SUBSCRIPTION_REQUIRED")),
        "{v}"
    );
    let (s, v) = create(&app, &alice, Some("inv_no_such_code")).await;
    assert_eq!((s, code_of(&v)), (403, Some("INVITE_INVALID")), "{v}");

    let one = invite(&app, json!({"max_redemptions": 1, "note": "alice"})).await;
    assert!(one.starts_with("inv_"));
    let (s, v) = create(&app, &alice, Some(&one)).await;
    assert_eq!(s, 201, "{v}");
    // Alice holds the invite now: more instances need no code (her quota still applies).
    let (s, v) = create(&app, &alice, None).await;
    assert_eq!(s, 201, "{v}");
    let (_, me) = app.get("/api/account", &alice).await;
    assert_eq!(me["has_invite"], true);

    // Used up for anyone else.
    let bob = app.create_account("bob", None).await;
    let (s, v) = create(&app, &bob, Some(&one)).await;
    assert_eq!((s, code_of(&v)), (403, Some("INVITE_EXHAUSTED")), "{v}");

    // Expired.
    let soon = invite(&app, json!({"max_redemptions": 5, "expires_in_s": 1})).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (s, v) = create(&app, &bob, Some(&soon)).await;
    assert_eq!((s, code_of(&v)), (403, Some("INVITE_EXPIRED")), "{v}");
    let (s, v) = app
        .post("/api/account/invite", &bob, json!({"code": soon}))
        .await;
    assert_eq!((s, code_of(&v)), (403, Some("INVITE_EXPIRED")), "{v}");

    // Redeeming on the account page's route, then creating without a code.
    let page = invite(&app, json!({"max_redemptions": 2})).await;
    let (s, v) = app
        .post("/api/account/invite", &bob, json!({"code": page}))
        .await;
    assert_eq!((s, v["has_invite"].as_bool()), (200, Some(true)), "{v}");
    // Redeeming the code one holds again uses nothing up.
    let (s, _) = app
        .post("/api/account/invite", &bob, json!({"code": page}))
        .await;
    assert_eq!(s, 200);
    let (s, v) = create(&app, &bob, None).await;
    assert_eq!(s, 201, "{v}");
    let (_, invites) = app.get("/api/admin/invites", ADMIN_KEY).await;
    let row = invites
        .as_array()
        .unwrap()
        .iter()
        .find(|i| page.starts_with(i["prefix"].as_str().unwrap()) && i["max_redemptions"] == 2)
        .unwrap();
    assert_eq!(row["redemptions"], 1, "{invites}");
    assert!(
        !invites.to_string().contains(&page),
        "codes are never listed"
    );

    // Admins are never gated.
    let (s, v) = create(&app, ADMIN_KEY, None).await;
    assert_eq!(s, 201, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_refused_for_capacity_keeps_its_redemption() {
    let (mut settings, data) = gated();
    settings.limits.max_running_instances = 1;
    let app = spawn_with(settings, data).await;
    let code = invite(&app, json!({"max_redemptions": 2})).await;
    let alice = app.create_account("alice", None).await;
    let bob = app.create_account("bob", None).await;
    assert_eq!(create(&app, &alice, Some(&code)).await.0, 201);
    let (s, v) = create(&app, &bob, Some(&code)).await;
    assert_eq!((s, code_of(&v)), (503, Some("CAPACITY_EXHAUSTED")), "{v}");
    let (_, invites) = app.get("/api/admin/invites", ADMIN_KEY).await;
    assert_eq!(invites[0]["redemptions"], 1, "the 503 used no redemption");
    let (_, me) = app.get("/api/account", &bob).await;
    assert_eq!(me["has_invite"], false);
}

/// 50 accounts each try a code good for 10 at once: by creating an instance (spread over the
/// given apps, which share one database) and by redeeming on the account route. Exactly 10 of
/// each succeed and the rest are told the code is used up.
async fn race(apps: &[&TestApp]) {
    let first = apps[0];
    let mut keys = Vec::new();
    for i in 0..50 {
        keys.push(first.create_account(&format!("racer{i}"), None).await);
    }
    for (label, by_create) in [("create", true), ("redeem", false)] {
        let code = invite(first, json!({"max_redemptions": 10})).await;
        let mut tasks = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let app = apps[i % apps.len()];
            let (client, base, key, code) = (
                app.client.clone(),
                app.base.clone(),
                key.clone(),
                code.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let (path, body) = if by_create {
                    ("/api/instances", json!({"invite_code": code}))
                } else {
                    ("/api/account/invite", json!({"code": code}))
                };
                let r = client
                    .post(format!("{base}{path}"))
                    .bearer_auth(&key)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                let v: Value = r.json().await.unwrap();
                (status, v["error"]["code"].as_str().map(str::to_owned))
            }));
        }
        let mut ok = 0;
        for t in tasks {
            match t.await.unwrap() {
                (200 | 201, _) => ok += 1,
                (403, Some(c)) if c == "INVITE_EXHAUSTED" => {}
                other => panic!("{label}: unexpected {other:?}"),
            }
        }
        assert_eq!(ok, 10, "{label}: exactly the code's 10 redemptions succeed");
        let (_, invites) = first.get("/api/admin/invites", ADMIN_KEY).await;
        let row = invites
            .as_array()
            .unwrap()
            .iter()
            .find(|i| code.starts_with(i["prefix"].as_str().unwrap()))
            .unwrap();
        assert_eq!(row["redemptions"], 10, "{label}");
    }
}

fn race_settings() -> (Settings, tempfile::TempDir) {
    let (mut s, data) = gated();
    s.limits.max_running_instances = 30;
    (s, data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_racing_redemptions_of_a_code_for_ten_on_sqlite() {
    let (settings, data) = race_settings();
    let app = spawn_with(settings, data).await;
    race(&[&app]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_racing_redemptions_of_a_code_for_ten_on_postgres_across_two_replicas() {
    let Some(url) = fresh_postgres_url().await else {
        return;
    };
    let (mut s, data) = race_settings();
    s.database_url = Some(Secret::new(url.clone()));
    let a = spawn_with(s, data).await;
    let (mut s, data) = race_settings();
    s.database_url = Some(Secret::new(url));
    let b = spawn_with(s, data).await;
    let (_, api) = a.call("GET", "/api", None, None).await;
    assert_eq!(api["database"], "postgres");
    race(&[&a, &b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_cli_makes_accounts_keys_and_codes() {
    use orchestrator::cli::{AdminCommand, run};
    let (mut settings, data) = gated();
    let none = std::io::Cursor::new(Vec::new());
    let out = run(
        &settings,
        AdminCommand::CreateInvite {
            max_redemptions: 3,
            expires_in_hours: Some(24),
            code: Some("launch-2026-friends".into()),
            note: None,
        },
        none.clone(),
    )
    .await
    .unwrap();
    assert!(out.starts_with("launch-2026-friends\n"), "{out}");
    let out = run(
        &settings,
        AdminCommand::CreateAccount {
            email: "Frank@Example.com".into(),
            name: None,
            admin: false,
            max_instances: Some(2),
            password_stdin: true,
        },
        std::io::Cursor::new(b"franks long password\n".to_vec()),
    )
    .await
    .unwrap();
    assert!(
        out.contains("frank@example.com") && out.contains("password set"),
        "{out}"
    );
    assert!(!out.contains("franks long password"));
    let out = run(
        &settings,
        AdminCommand::CreateKey {
            account: "frank@example.com".into(),
            name: "cli".into(),
            permissions: Some("instances:read,instances:write".into()),
        },
        none.clone(),
    )
    .await
    .unwrap();
    let key = out.lines().next().unwrap().to_owned();
    assert!(key.starts_with("ocaas_"), "{out}");
    // Bad input is an error, not a panic.
    assert!(
        run(
            &settings,
            AdminCommand::CreateKey {
                account: "nobody@example.com".into(),
                name: "x".into(),
                permissions: None
            },
            none.clone()
        )
        .await
        .is_err()
    );

    // The server on the same database: the key, the password and the code all work.
    settings.listen = "127.0.0.1:0".into();
    let app = spawn_with(settings, data).await;
    assert_eq!(app.get("/api/instances", &key).await.0, 200);
    let (s, v) = create(&app, &key, Some("launch-2026-friends")).await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = app.get("/api/keys", &key).await;
    assert_eq!((s, code_of(&v)), (403, Some("FORBIDDEN")));
    let (s, _) = app
        .call(
            "POST",
            "/api/auth/sign-in",
            None,
            Some(json!({"email": "frank@example.com", "password": "franks long password"})),
        )
        .await;
    assert_eq!(s, 200);
}
