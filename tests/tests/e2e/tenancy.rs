//! (e) Tenancy: another account cannot see or touch an instance (404, never 403: it must not
//! learn that the instance exists); keys are required and checked.

use e2e::Server;
use reqwest::Method;
use serde_json::json;

use crate::common::inst;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenancy_isolation_and_auth() {
    let s = Server::start().await;
    let admin = s.key.as_str();
    let id = s.create_instance(admin).await;
    s.wait_ready(admin, &id).await;
    s.write_file(admin, &id, "/workspace/admin.txt", "admin's")
        .await
        .expect(200);
    let bob = s.create_account("bob").await;
    assert!(bob.starts_with("ocaas_"), "{bob}");

    // 1. Bob's key works, for bob.
    let me = s.get(&bob, "/api/account").await;
    let me = me.expect(200);
    assert_eq!(
        (&me["name"], &me["is_admin"]),
        (&json!("bob"), &json!(false))
    );
    // Bob's list is empty: admin's instance is not in it.
    assert_eq!(s.get(&bob, "/api/instances").await.expect(200), &json!([]));

    // 2. Every route on admin's instance answers bob 404 NOT_FOUND.
    for (method, suffix, body) in [
        (Method::GET, "", None),
        (Method::GET, "/status", None),
        (Method::DELETE, "", None),
        (Method::POST, "/shutdown", None),
        (Method::POST, "/start", None),
        (Method::POST, "/reboot", None),
        (
            Method::POST,
            "/terminal/exec",
            Some(json!({ "command": "id" })),
        ),
        (Method::GET, "/files?path=/workspace", None),
        (Method::GET, "/files/read?path=/workspace/admin.txt", None),
        (
            Method::GET,
            "/files/download?path=/workspace/admin.txt",
            None,
        ),
        (
            Method::POST,
            "/files/write",
            Some(json!({ "path": "x", "content": "bob" })),
        ),
        (
            Method::POST,
            "/files/mkdir",
            Some(json!({ "path": "bobdir" })),
        ),
        (
            Method::POST,
            "/files/rename",
            Some(json!({ "from": "admin.txt", "to": "b" })),
        ),
        (
            Method::POST,
            "/files/delete",
            Some(json!({ "path": "admin.txt" })),
        ),
        (
            Method::POST,
            "/files/upload",
            Some(json!({ "targetDir": "/workspace", "fileName": "b", "content": "b" })),
        ),
    ] {
        let mut rb = s.request(method, &inst(&id, suffix), Some(&bob));
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        s.send(rb).await.expect_err(404, "NOT_FOUND");
    }
    // A raw upload too.
    let url = s.url(&inst(&id, "/files/upload"), &[("path", "bob.bin")]);
    s.send(
        s.request_url(Method::POST, url, Some(&bob))
            .header("content-type", "application/octet-stream")
            .body("bob"),
    )
    .await
    .expect_err(404, "NOT_FOUND");

    // 3. Nothing bob did had an effect: still ready, same files, admin.txt intact.
    let st = s.status(admin, &id).await;
    assert_eq!(st["status"], "ready", "{st}");
    assert_eq!(s.sh(admin, &id, "ls -A /workspace").await, "admin.txt\n");
    assert_eq!(
        s.read_file(admin, &id, "admin.txt").await.expect(200)["content"],
        "admin's"
    );

    // 4. Bob is no admin.
    s.post(&bob, "/api/admin/accounts", &json!({ "name": "eve" }))
        .await
        .expect_err(403, "FORBIDDEN");
    s.get(&bob, "/api/admin/accounts")
        .await
        .expect_err(403, "FORBIDDEN");

    // 5. Bob's own instance is his, and admin cannot reach it either (admin is an
    //    operator of accounts, not a reader of their instances).
    let bobs = s.create_instance(&bob).await;
    s.wait_ready(&bob, &bobs).await;
    let list = s.get(&bob, "/api/instances").await;
    let list = list.expect(200).as_array().unwrap().clone();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"], bobs.as_str());
    let admins = s.get(admin, "/api/instances").await;
    assert!(
        admins
            .expect(200)
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["id"] != bobs.as_str()),
        "admin's list shows bob's instance: {}",
        admins.text
    );

    // 6. Authentication: a wrong key, a malformed header, no key: 401 UNAUTHORIZED, on
    //    instance routes and on relayed routes alike.
    for path in [
        "/api/instances",
        &inst(&id, ""),
        &inst(&id, "/files?path=/workspace"),
    ] {
        for key in [
            Some("ocaas_wrongwrongwrongwrongwrongwrongwrongwron"),
            Some("nope"),
            None,
        ] {
            s.send(s.request(Method::GET, path, key))
                .await
                .expect_err(401, "UNAUTHORIZED");
        }
        s.send(
            s.request(Method::GET, path, None)
                .header("authorization", "Basic Ym9iOmJvYg=="),
        )
        .await
        .expect_err(401, "UNAUTHORIZED");
    }
    s.send(
        s.request(Method::POST, &inst(&id, "/terminal/exec"), None)
            .json(&json!({ "command": "id" })),
    )
    .await
    .expect_err(401, "UNAUTHORIZED");

    // 7. A revoked key stops working at once.
    let created = s
        .post(&bob, "/api/keys", &json!({ "name": "second" }))
        .await;
    let created = created.expect(201).clone();
    let second = created["key"].as_str().unwrap().to_owned();
    s.get(&second, "/api/account").await.expect(200);
    let kid = created["id"].as_str().unwrap();
    let r = s.delete(&bob, &format!("/api/keys/{kid}")).await;
    r.expect(204);
    s.get(&second, "/api/account")
        .await
        .expect_err(401, "UNAUTHORIZED");

    let leaked = s.shutdown();
    assert!(
        leaked.processes.is_empty(),
        "sandbox processes left after shutdown: {:?}",
        leaked.processes
    );
}
