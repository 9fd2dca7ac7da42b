//! (o) Sleep when idle, wake on any call: an instance with nothing in flight for the idle
//! timeout (2 s here) goes to `sleeping` and no process of it remains; exec, files and a
//! terminal each wake it, with the workspace intact; an open terminal keeps it awake; an
//! instance can opt out (`idle_timeout_s: 0`); shutdown of a sleeping instance is a real stop.

use std::time::Duration;

use e2e::Server;
use e2e::ws::Term;
use reqwest::Method;
use serde_json::json;

use crate::common::{has_transition, inst};

/// Wait until the instance is `sleeping` and none of its processes remain.
async fn wait_asleep(s: &Server, k: &str, id: &str) {
    let status = s.wait_status(k, id, "sleeping").await;
    assert_eq!(status["desired_state"], "sleeping", "{status}");
    assert_eq!(status["ready"], false);
    for _ in 0..100 {
        if s.sandbox_procs(Some(id)).is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "processes left while asleep: {:?}",
        s.sandbox_procs(Some(id))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sleeps_when_idle_and_wakes_on_any_call() {
    let s = Server::start_with(&[("OCAAS_LIMITS__IDLE_TIMEOUT_S", "2")]).await;
    let k = s.key.as_str();
    let id = s.create_instance(k).await;
    s.wait_ready(k, &id).await;
    s.write_file(k, &id, "/workspace/kept.txt", "still here")
        .await
        .expect(200);

    // 1. Idle → asleep; reading the status does not wake it or keep it awake.
    wait_asleep(&s, k, &id).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(s.status(k, &id).await["status"], "sleeping");

    // 2. Exec wakes it and simply answers; the workspace survived.
    let out = s.sh(k, &id, "cat /workspace/kept.txt").await;
    assert_eq!(out, "still here");
    let status = s.status(k, &id).await;
    assert_eq!(status["status"], "ready");
    assert!(has_transition(&status, "ready", "sleeping"), "{status}");
    assert!(has_transition(&status, "sleeping", "waking"), "{status}");
    assert!(has_transition(&status, "waking", "ready"), "{status}");

    // 3. Files wake it.
    wait_asleep(&s, k, &id).await;
    let read = s.read_file(k, &id, "/workspace/kept.txt").await;
    assert_eq!(read.expect(200)["content"], "still here");

    // 4. A terminal wakes it, and keeps it awake while open (well past the timeout).
    wait_asleep(&s, k, &id).await;
    let url = format!("{}{}", s.base, inst(&id, "/terminal/ws"));
    let mut t = Term::open(&url, Some(k)).await;
    t.send("echo awake-$((5*5))\n").await;
    t.expect("awake-25").await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(s.status(k, &id).await["status"], "ready");
    t.send("echo still-$((6*6))\n").await;
    t.expect("still-36").await;
    t.close().await;
    wait_asleep(&s, k, &id).await;

    // 5. Status-changing calls: reboot wakes it; shutdown of a sleeping one stops it for good
    //    (no call wakes a stopped instance).
    s.send(s.request(Method::POST, &inst(&id, "/reboot"), Some(k)))
        .await
        .expect(202);
    s.wait_ready(k, &id).await;
    wait_asleep(&s, k, &id).await;
    s.send(s.request(Method::POST, &inst(&id, "/shutdown"), Some(k)))
        .await
        .expect(202);
    s.wait_status(k, &id, "stopped").await;
    s.exec_req(k, &id, &json!({"command": "true"}))
        .await
        .expect_err(409, "INSTANCE_NOT_RUNNING");

    // 6. An instance that opts out never sleeps.
    let created = s
        .post(
            k,
            "/api/instances",
            &json!({"name": "insomniac", "idle_timeout_s": 0}),
        )
        .await;
    let awake = created.expect(201)["id"].as_str().unwrap().to_owned();
    assert_eq!(created.json["idle_timeout_s"], 0);
    s.wait_ready(k, &awake).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(s.status(k, &awake).await["status"], "ready");

    let leaked = s.shutdown();
    assert!(
        leaked.processes.is_empty(),
        "left behind: {:?}",
        leaked.processes
    );
}

/// (o) Twenty sleep/wake cycles, each woken by another kind of call: the workspace gains one
/// line per cycle and loses nothing, and the chat history is the same at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_sleep_wake_cycles_lose_nothing() {
    let s = Server::start_with(&[("OCAAS_LIMITS__IDLE_TIMEOUT_S", "1")]).await;
    let k = s.key.as_str();
    let id = s.create_instance(k).await;
    s.wait_ready(k, &id).await;
    // A chat turn (no gateway in this test: it is answered 503 and persisted as failed), so
    // the session has history to keep.
    // (The harness treats any 5xx as a failure, so this one goes around it.)
    let turn = reqwest::Client::new()
        .post(format!("{}{}", s.base, inst(&id, "/chat")))
        .bearer_auth(k)
        .json(&json!({"message": "remember me across naps"}))
        .send()
        .await
        .unwrap();
    assert_eq!(turn.status(), 503);
    let body: serde_json::Value = turn.json().await.unwrap();
    assert_eq!(body["error"]["code"], "UNAVAILABLE");
    let sessions = s.get(k, &inst(&id, "/chat/sessions")).await;
    let sid = sessions.expect(200)[0]["id"].as_str().unwrap().to_owned();
    let history_path = inst(&id, &format!("/chat/messages?session_id={sid}&limit=500"));
    let before = s.get(k, &history_path).await.expect(200)["messages"].clone();
    assert_eq!(before.as_array().unwrap().len(), 2, "{before}");

    let mut expected = String::new();
    for cycle in 0..20 {
        wait_asleep(&s, k, &id).await;
        let line = format!("cycle {cycle}\n");
        match cycle % 3 {
            // Exec wakes it.
            0 => {
                s.sh(
                    k,
                    &id,
                    &format!("printf 'cycle {cycle}\\n' >> /workspace/log.txt"),
                )
                .await;
            }
            // A file write wakes it (read-modify-write through the files API).
            1 => {
                let current =
                    s.read_file(k, &id, "/workspace/log.txt").await.expect(200)["content"]
                        .as_str()
                        .unwrap()
                        .to_owned();
                s.write_file(k, &id, "/workspace/log.txt", &format!("{current}{line}"))
                    .await
                    .expect(200);
            }
            // A terminal wakes it.
            _ => {
                let url = format!("{}{}", s.base, inst(&id, "/terminal/ws"));
                let mut t = Term::open(&url, Some(k)).await;
                t.send(&format!(
                    "printf 'cycle {cycle}\\n' >> /workspace/log.txt; echo done-$((7*{cycle}))\n"
                ))
                .await;
                t.expect(&format!("done-{}", 7 * cycle)).await;
                t.close().await;
            }
        }
        expected.push_str(&line);
    }
    assert_eq!(s.sh(k, &id, "cat /workspace/log.txt").await, expected);
    let after = s.get(k, &history_path).await.expect(200)["messages"].clone();
    assert_eq!(after, before);
    let status = s.status(k, &id).await;
    let wakes = status["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["to"] == "waking")
        .count();
    assert!(wakes >= 20, "{wakes} wakes: {status}");

    let leaked = s.shutdown();
    assert!(
        leaked.processes.is_empty(),
        "left behind: {:?}",
        leaked.processes
    );
}
