//! The warm pool with the REAL OpenClaw gateway (its model the scripted stand-in): a create or
//! a wake is handed a sandbox whose gateway has already booted and warmed up; a pooled sandbox
//! serves one tenant in its life, so nothing of one tenant reaches another; the conversation
//! survives a pooled wake (the agent is given the history again); with the pool empty a start
//! is cold and says so. One pooled sandbox at a time, and each tenant instance is stopped once
//! checked, so at most three gateways run at once.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{TestApp, openclaw_dir, spawn_with, test_settings};

/// Wait until the pool holds a warmed sandbox; returns `GET /api`'s `warm_pool`.
async fn wait_pool_ready(app: &TestApp) -> Value {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let (_, api) = app.call("GET", "/api", None, None).await;
        if api["warm_pool"]["ready"].as_u64() >= Some(1) {
            return api["warm_pool"].clone();
        }
        assert!(
            Instant::now() < deadline,
            "the pool never filled: {}",
            api["warm_pool"]
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn exec(app: &TestApp, key: &str, id: &str, command: &str) -> String {
    let (s, v) = app
        .post(
            &format!("/api/instances/{id}/terminal/exec"),
            key,
            json!({"command": command, "timeout_ms": 30000}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    format!(
        "{}{}",
        v["stdout"].as_str().unwrap(),
        v["stderr"].as_str().unwrap()
    )
}

async fn create(app: &TestApp, key: &str, body: Value) -> Value {
    let (s, v) = app.post("/api/instances", key, body).await;
    assert_eq!(s, 201, "{v}");
    v
}

async fn new_session(app: &TestApp, key: &str, id: &str) -> String {
    let (s, v) = app
        .post(
            &format!("/api/instances/{id}/chat/sessions"),
            key,
            json!({}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    v["id"].as_str().unwrap().to_owned()
}

async fn stop(app: &TestApp, key: &str, id: &str) {
    let (s, v) = app
        .post(&format!("/api/instances/{id}/shutdown"), key, json!({}))
        .await;
    assert_eq!(s, 202, "{v}");
    app.wait_status(key, id, "stopped").await;
}

/// Whether a sandbox still has run state (a running sandbox always does).
fn sandbox_exists(app: &TestApp, sandbox_id: &str) -> bool {
    app.data.path().join("sandboxes").join(sandbox_id).exists()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_warm_pool_serves_creates_and_wakes_and_never_mixes_tenants() {
    let Some(dir) = openclaw_dir() else { return };
    let (mut settings, data) = test_settings();
    settings.local.openclaw_dir = Some(dir);
    settings.pool.size = 1;
    settings.chat.turn_timeout_s = 120;
    let app = spawn_with(settings, data).await;
    let model = app.scripted.clone().expect("scripted stand-in");
    let alice = app.create_account("alice", None).await;
    let bob = app.create_account("bob", None).await;

    // 1. The pool fills with one booted, warmed sandbox. Its warm-up turn was answered by the
    //    orchestrator: no model provider was called.
    let pool = wait_pool_ready(&app).await;
    assert_eq!(pool, json!({"size": 1, "ready": 1, "warming": 0}));
    assert!(
        model.requests().is_empty(),
        "the warm-up reached the provider"
    );

    // 2. Alice's create takes it: ready at once with the gateway already up, instructions in
    //    place, and the first turn answered.
    let a = create(
        &app,
        &alice,
        json!({"instructions": "Be brief. MARKER-ALICE-INSTRUCTIONS"}),
    )
    .await;
    let a_id = a["id"].as_str().unwrap().to_owned();
    let a_sandbox = a["sandbox_id"].as_str().unwrap().to_owned();
    assert!(
        a["status_reason"]
            .as_str()
            .unwrap()
            .contains("warm sandbox from the pool"),
        "{a}"
    );
    let st = app.wait_status(&alice, &a_id, "ready").await;
    assert_eq!(st["gateway"]["state"], "ready", "no boot to wait for: {st}");
    exec(
        &app,
        &alice,
        &a_id,
        "echo ALICE-FILE-CONTENT > /workspace/alice.txt && echo ALICE-HOME-CONTENT > ~/.alice_secret",
    )
    .await;
    let a_session = new_session(&app, &alice, &a_id).await;
    let (s, v) = app
        .post(
            &format!("/api/instances/{a_id}/chat"),
            &alice,
            json!({"session_id": a_session, "message": "My secret is ALICE-SECRET-7781"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["assistant_message"]["content"],
        "You said: My secret is ALICE-SECRET-7781"
    );
    let first = model.requests().last().unwrap().to_string();
    assert!(
        first.contains("MARKER-ALICE-INSTRUCTIONS"),
        "the claimed gateway did not see the instance's AGENTS.md"
    );

    // 3. The pool is empty until it refills (~20 s): Bob's create starts cold, and says so.
    let b1 = create(&app, &bob, json!({})).await;
    let b1_id = b1["id"].as_str().unwrap().to_owned();
    assert!(
        b1["status_reason"].as_str().unwrap().contains("cold start"),
        "{b1}"
    );
    app.wait_status(&bob, &b1_id, "ready").await;
    stop(&app, &bob, &b1_id).await;

    // 4. The pool refills. Alice's instance goes to sleep: the sandbox it was given is
    //    stopped, not returned to the pool.
    wait_pool_ready(&app).await;
    let (s, v) = app
        .call(
            "PATCH",
            &format!("/api/instances/{a_id}"),
            Some(&alice),
            Some(json!({"idle_timeout_s": 1})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    app.wait_status(&alice, &a_id, "sleeping").await;
    for _ in 0..200 {
        if !sandbox_exists(&app, &a_sandbox) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !sandbox_exists(&app, &a_sandbox),
        "Alice's sandbox still runs"
    );
    // Awake from now on: the checks below take longer than a second.
    let (s, _) = app
        .call(
            "PATCH",
            &format!("/api/instances/{a_id}"),
            Some(&alice),
            Some(json!({"idle_timeout_s": 0})),
        )
        .await;
    assert_eq!(s, 200);

    // 5. Bob's next instance takes the refilled sandbox. Nothing of Alice's is in it: not in
    //    its workspace, home, state or /tmp, and not in what its agent sends the model.
    let b2 = create(&app, &bob, json!({})).await;
    let b2_id = b2["id"].as_str().unwrap().to_owned();
    assert!(
        b2["status_reason"]
            .as_str()
            .unwrap()
            .contains("warm sandbox from the pool"),
        "{b2}"
    );
    assert_ne!(b2["sandbox_id"], a["sandbox_id"]);
    app.wait_status(&bob, &b2_id, "ready").await;
    let seen = exec(
        &app,
        &bob,
        &b2_id,
        "ls -la /workspace ~; grep -rl ALICE /workspace /state /tmp 2>/dev/null; echo done",
    )
    .await;
    assert!(seen.ends_with("done\n"), "{seen}");
    assert!(!seen.contains("ALICE") && !seen.contains("alice"), "{seen}");
    let before = model.requests().len();
    let b_session = new_session(&app, &bob, &b2_id).await;
    let (s, v) = app
        .post(
            &format!("/api/instances/{b2_id}/chat"),
            &bob,
            json!({"session_id": b_session, "message": "hello from bob"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let bobs: Vec<String> = model.requests()[before..]
        .iter()
        .map(Value::to_string)
        .collect();
    assert!(!bobs.is_empty());
    assert!(
        bobs.iter().all(|r| !r.contains("ALICE")),
        "Alice's conversation reached Bob's agent"
    );
    stop(&app, &bob, &b2_id).await;

    // 6. Alice's next message wakes her instance on a warm sandbox: the stream says so, her
    //    files are there, and the agent is given the conversation again, so the model request
    //    carries her earlier turn.
    wait_pool_ready(&app).await;
    let before = model.requests().len();
    let resp = app
        .client
        .post(app.url(&format!("/api/instances/{a_id}/chat/stream")))
        .bearer_auth(&alice)
        .json(&json!({"session_id": a_session, "message": "What is my secret?"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.unwrap();
    assert!(
        body.contains("\"state\":\"waking\"") && body.contains("warm sandbox from the pool"),
        "{body}"
    );
    assert!(body.contains("history_restored"), "{body}");
    assert!(body.contains("You said: What is my secret?"), "{body}");
    let woke = model.requests()[before..].last().unwrap().to_string();
    assert!(
        woke.contains("ALICE-SECRET-7781"),
        "the conversation was lost across a pooled wake: {woke}"
    );
    let files = exec(
        &app,
        &alice,
        &a_id,
        "cat /workspace/alice.txt ~/.alice_secret /workspace/AGENTS.md",
    )
    .await;
    assert_eq!(
        files,
        "ALICE-FILE-CONTENT\nALICE-HOME-CONTENT\nBe brief. MARKER-ALICE-INSTRUCTIONS"
    );
    // The next turn goes to a gateway that already has the conversation: no replay.
    let (s, v) = app
        .post(
            &format!("/api/instances/{a_id}/chat"),
            &alice,
            json!({"session_id": a_session, "message": "thanks"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let last = model.requests().last().unwrap().clone();
    let typed: Vec<String> = last["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "user")
        .filter_map(|m| m["content"].as_str().map(str::to_owned))
        .collect();
    let newest = typed.last().unwrap();
    assert!(
        newest.contains("thanks") && !newest.contains("Chat messages since your last reply"),
        "{newest}"
    );

    // Every transition of Alice's instance is on record.
    let (_, st) = app
        .get(&format!("/api/instances/{a_id}/status"), &alice)
        .await;
    let path: Vec<&str> = st["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["to"].as_str().unwrap())
        .collect();
    assert_eq!(
        path,
        ["provisioning", "ready", "sleeping", "waking", "ready"],
        "{st}"
    );
}
