//! Two orchestrator replicas on one PostgreSQL database: a client following a chat session on
//! one replica sees the messages of a turn that runs on the other (LISTEN/NOTIFY fan-out).

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use orchestrator::settings::Secret;
use serde_json::json;

use crate::helpers::{ADMIN_KEY, fresh_postgres_url, spawn_with, test_settings};

#[tokio::test]
async fn chat_events_reach_a_follower_on_another_replica() {
    let Some(url) = fresh_postgres_url().await else {
        return;
    };
    let (mut settings, data) = test_settings();
    settings.database_url = Some(Secret::new(url.clone()));
    let a = spawn_with(settings, data).await;
    let (mut settings, data) = test_settings();
    settings.database_url = Some(Secret::new(url));
    let b = spawn_with(settings, data).await;

    let id = a.create_instance(ADMIN_KEY).await;
    a.wait_status(ADMIN_KEY, &id, "ready").await;
    let base = format!("/api/instances/{id}");
    let (s, session) = a
        .post(&format!("{base}/chat/sessions"), ADMIN_KEY, json!({}))
        .await;
    assert_eq!(s, 201, "{session}");
    let sid = session["id"].as_str().unwrap().to_owned();

    // Follow on B ...
    let resp = b
        .client
        .get(b.url(&format!("{base}/chat/events?session_id={sid}")))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut stream = resp.bytes_stream();
    let mut seen = String::new();
    while !seen.contains("event: ready") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("ready event")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }

    // ... while the turn runs on A (its sandbox has no gateway here, so the turn fails; its
    // messages are persisted and published all the same).
    let turn = {
        let (client, url) = (a.client.clone(), a.url(&format!("{base}/chat")));
        let sid = sid.clone();
        tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(ADMIN_KEY)
                .json(&json!({"session_id": sid, "message": "hello from replica A"}))
                .send()
                .await
        })
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(seen.contains("hello from replica A") && seen.contains("\"role\":\"assistant\"")) {
        assert!(Instant::now() < deadline, "B's followers saw: {seen}");
        if let Ok(Some(Ok(chunk))) =
            tokio::time::timeout(Duration::from_secs(1), stream.next()).await
        {
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
    let _ = turn.await;
}
