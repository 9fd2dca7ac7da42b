//! Chat with the REAL OpenClaw gateway inside a real sandbox, its model being the scripted
//! stand-in server (a stand-in for the LLM provider only). One gateway for the whole scenario:
//! each needs ~1 GB and ~20 s to boot here.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_KEY, TestApp, openclaw_dir, spawn_with, test_settings};

/// One SSE event: (event name, data, id).
type Event = (String, Value, Option<String>);

/// Parse an SSE body into events.
fn sse_events(text: &str) -> Vec<Event> {
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let mut event = String::from("message");
        let mut data = String::new();
        let mut id = None;
        for line in block.lines() {
            if let Some(e) = line.strip_prefix("event: ") {
                event = e.to_owned();
            } else if let Some(d) = line.strip_prefix("data: ") {
                data.push_str(d);
            } else if let Some(i) = line.strip_prefix("id: ") {
                id = Some(i.to_owned());
            }
        }
        if !data.is_empty() {
            out.push((
                event,
                serde_json::from_str(&data).unwrap_or(Value::Null),
                id,
            ));
        }
    }
    out
}

/// Wait until the gateway is ready having restarted at least `restarts` times.
async fn wait_gateway_ready(app: &TestApp, id: &str, restarts: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let (_, st) = app
            .get(&format!("/api/instances/{id}/status"), ADMIN_KEY)
            .await;
        if st["gateway"]["state"] == "ready"
            && st["gateway"]["restarts"].as_u64().unwrap_or(0) >= restarts
        {
            return st;
        }
        assert!(
            Instant::now() < deadline,
            "gateway never became ready: {st}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn chat(app: &TestApp, id: &str, session: &str, message: &str) -> (u16, Value) {
    app.post(
        &format!("/api/instances/{id}/chat"),
        ADMIN_KEY,
        json!({"session_id": session, "message": message}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chat_with_the_real_openclaw_gateway() {
    let Some(dir) = openclaw_dir() else { return };
    let (mut settings, data) = test_settings();
    settings.local.openclaw_dir = Some(dir);
    settings.chat.turn_timeout_s = 120;
    let app = spawn_with(settings, data).await;
    let model = app
        .scripted
        .clone()
        .expect("no provider configured → scripted stand-in");
    let bob = app.create_account("bob", None).await;

    // An instance with instructions; they land in /workspace/AGENTS.md.
    let (s, v) = app
        .post(
            "/api/instances",
            ADMIN_KEY,
            json!({"instructions": "Be brief. MARKER-INSTRUCTIONS-42"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    let base = format!("/api/instances/{id}");
    app.wait_status(ADMIN_KEY, &id, "ready").await;
    let st = wait_gateway_ready(&app, &id, 0).await;
    eprintln!(
        "gateway boot: {} ms, rss {} bytes",
        st["gateway"]["boot_ms"], st["gateway"]["rss_bytes"]
    );
    let (_, agents_md) = app
        .get(
            &format!("{base}/files/read?path=/workspace/AGENTS.md"),
            ADMIN_KEY,
        )
        .await;
    assert_eq!(agents_md["content"], "Be brief. MARKER-INSTRUCTIONS-42");

    // Sessions.
    let (s, session) = app
        .post(
            &format!("{base}/chat/sessions"),
            ADMIN_KEY,
            json!({"title": "CLI session"}),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(session["title"], "CLI session");
    let sid = session["id"].as_str().unwrap().to_owned();
    assert_eq!(app.get(&format!("{base}/chat/sessions"), &bob).await.0, 404);

    // Turn 1 (sync): the persisted user and assistant messages come back.
    let (s, t1) = chat(&app, &id, &sid, "hello number one").await;
    assert_eq!(s, 200, "{t1}");
    assert_eq!(t1["user_message"]["content"], "hello number one");
    assert_eq!(t1["assistant_message"]["role"], "assistant");
    assert_eq!(t1["assistant_message"]["status"], "complete");
    assert!(
        t1["assistant_message"]["content"]
            .as_str()
            .unwrap()
            .contains("You said: hello number one"),
        "{t1}"
    );

    // Turn 2: the gateway keeps the history, so the model request carries turn 1, and the
    // system prompt carries the instructions.
    let before = model.requests().len();
    let (s, t2) = chat(&app, &id, &sid, "and number two").await;
    assert_eq!(s, 200, "{t2}");
    let sent = model.requests()[before..].to_vec();
    let last = sent
        .last()
        .expect("the gateway called the model")
        .to_string();
    assert!(
        last.contains("hello number one"),
        "history missing from {last}"
    );
    assert!(last.contains("and number two"));
    assert!(
        last.contains("MARKER-INSTRUCTIONS-42"),
        "instructions not in the prompt"
    );

    // Turn 3 (streamed): a scripted tool call makes the agent run exec in the workspace.
    let resp = app
        .client
        .post(app.url(&format!("{base}/chat/stream")))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"session_id": sid, "message": "run: echo tool-was-here > tool.txt"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let text = resp.text().await.unwrap();
    let events = sse_events(&text);
    let names: Vec<&str> = events.iter().map(|(e, _, _)| e.as_str()).collect();
    assert_eq!(names.first(), Some(&"status"), "{names:?}");
    assert_eq!(names.last(), Some(&"complete"), "{text}");
    let pos = |pred: &dyn Fn(&Event) -> bool| {
        events
            .iter()
            .position(pred)
            .unwrap_or_else(|| panic!("missing event in {text}"))
    };
    let user_at = pos(&|(e, d, _)| e == "message" && d["message"]["role"] == "user");
    let thinking_at = pos(&|(e, d, _)| e == "status" && d["state"] == "thinking");
    let delta_at = pos(&|(e, d, _)| e == "message" && d["type"] == "delta");
    let final_at = pos(&|(e, d, _)| e == "message" && d["message"]["role"] == "assistant");
    assert!(user_at < thinking_at && thinking_at < delta_at && delta_at < final_at);
    let reply = events[final_at].1["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        reply.contains("tool-was-here") || reply.contains("Ran"),
        "{reply}"
    );
    let (_, file) = app
        .get(
            &format!("{base}/files/read?path=/workspace/tool.txt"),
            ADMIN_KEY,
        )
        .await;
    assert_eq!(
        file["content"], "tool-was-here\n",
        "the agent's exec ran in the workspace"
    );

    // History: 6 messages; tail/limit/after as the seed describes.
    let (_, all) = app
        .get(
            &format!("{base}/chat/messages?session_id={sid}&limit=50"),
            ADMIN_KEY,
        )
        .await;
    let msgs = all["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 6, "{all}");
    let roles: Vec<&str> = msgs.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(
        roles,
        [
            "user",
            "assistant",
            "user",
            "assistant",
            "user",
            "assistant"
        ]
    );
    let (_, tail) = app
        .get(
            &format!("{base}/chat/messages?session_id={sid}&tail=true&limit=2"),
            ADMIN_KEY,
        )
        .await;
    assert_eq!(tail["messages"][0]["id"], msgs[4]["id"]);
    assert_eq!(tail["messages"][1]["id"], msgs[5]["id"]);
    assert_eq!(tail["has_more"], true);
    let first = msgs[0]["id"].as_str().unwrap();
    let (_, after) = app
        .get(
            &format!("{base}/chat/messages?session_id={sid}&after={first}&limit=2"),
            ADMIN_KEY,
        )
        .await;
    assert_eq!(after["messages"][0]["id"], msgs[1]["id"]);
    assert_eq!(after["messages"][1]["id"], msgs[2]["id"]);

    // chat/events: ready, the backlog after a message, then live changes; resumable by id.
    let resp = app
        .client
        .get(app.url(&format!(
            "{base}/chat/events?session_id={sid}&after={}",
            msgs[3]["id"].as_str().unwrap()
        )))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap();
    let mut stream = resp.bytes_stream();
    let mut seen = String::new();
    let (s, _) = chat(&app, &id, &sid, "live one").await;
    assert_eq!(s, 200);
    let deadline = Instant::now() + Duration::from_secs(30);
    // Read until the reply's final (complete) change arrived: earlier changes of the same
    // message (streaming) carry smaller ids, and a resume after the last one must not repeat it.
    let reply_complete = |text: &str| {
        sse_events(text)
            .iter()
            .any(|(_, v, _)| v["content"] == "You said: live one" && v["status"] == "complete")
    };
    while !reply_complete(&seen) {
        assert!(Instant::now() < deadline, "events so far: {seen}");
        if let Ok(Some(Ok(chunk))) =
            tokio::time::timeout(Duration::from_secs(5), stream.next()).await
        {
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
    drop(stream);
    let evs = sse_events(&seen);
    assert_eq!(evs[0].0, "ready");
    assert_eq!(
        evs[1].1["id"], msgs[4]["id"],
        "backlog starts after the given message"
    );
    let last_id = evs
        .last()
        .unwrap()
        .2
        .clone()
        .expect("message events carry ids");
    let (s, _) = chat(&app, &id, &sid, "while away").await;
    assert_eq!(s, 200);
    let resumed = app
        .client
        .get(app.url(&format!("{base}/chat/events?session_id={sid}")))
        .bearer_auth(ADMIN_KEY)
        .header("last-event-id", last_id)
        .send()
        .await
        .unwrap();
    let mut stream = resumed.bytes_stream();
    let mut got = String::new();
    while !got.contains("You said: while away") {
        match tokio::time::timeout(Duration::from_secs(10), stream.next()).await {
            Ok(Some(Ok(chunk))) => got.push_str(&String::from_utf8_lossy(&chunk)),
            _ => panic!("resume did not replay what was missed: {got}"),
        }
    }
    assert!(
        !got.contains("You said: live one"),
        "resume replayed old changes: {got}"
    );
    drop(stream);

    // Two turns sent at once to one session run one after the other, in arrival order.
    let first = {
        let app = &app;
        let (id, sid) = (id.clone(), sid.clone());
        async move { chat(app, &id, &sid, "concurrent A").await }
    };
    let second = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        chat(&app, &id, &sid, "concurrent B").await
    };
    let ((sa, a), (sb, b)) = tokio::join!(first, second);
    assert_eq!((sa, sb), (200, 200), "{a} {b}");
    let (_, tail) = app
        .get(
            &format!("{base}/chat/messages?session_id={sid}&tail=true&limit=4"),
            ADMIN_KEY,
        )
        .await;
    let texts: Vec<&str> = tail["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        [
            "concurrent A",
            "You said: concurrent A",
            "concurrent B",
            "You said: concurrent B"
        ]
    );

    // A client that hangs up mid-stream loses nothing: the reply is persisted anyway.
    let resp = app
        .client
        .post(app.url(&format!("{base}/chat/stream")))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"session_id": sid, "message": "nobody is listening"}))
        .send()
        .await
        .unwrap();
    let mut stream = resp.bytes_stream();
    let _ = stream.next().await;
    drop(stream);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, tail) = app
            .get(
                &format!("{base}/chat/messages?session_id={sid}&tail=true&limit=2"),
                ADMIN_KEY,
            )
            .await;
        // The turn runs on its own: wait for its user message and then its reply.
        let (q, m) = (&tail["messages"][0], &tail["messages"][1]);
        if q["content"] == "nobody is listening"
            && m["role"] == "assistant"
            && m["status"] == "complete"
        {
            assert_eq!(m["content"], "You said: nobody is listening");
            break;
        }
        assert!(Instant::now() < deadline, "reply never persisted: {tail}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A model error: sync chat is 502 MODEL_ERROR and the failed reply is persisted.
    let (s, v) = chat(&app, &id, &sid, "fail: please").await;
    assert_eq!(s, 502, "{v}");
    assert_eq!(v["error"]["code"], "MODEL_ERROR");

    // The gateway killed mid-session is restarted, and the session continues with its memory.
    let (_, killed) = app
        .post(
            &format!("{base}/terminal/exec"),
            ADMIN_KEY,
            json!({"command": "pkill -KILL openclaw; echo done"}),
        )
        .await;
    assert_eq!(killed["stdout"], "done\n", "{killed}");
    wait_gateway_ready(&app, &id, 1).await;
    let before = model.requests().len();
    let (s, v) = chat(&app, &id, &sid, "after the restart").await;
    assert_eq!(s, 200, "{v}");
    let last = model.requests()[before..].last().unwrap().to_string();
    assert!(
        last.contains("hello number one"),
        "session memory lost across restart"
    );

    // Sleep and wake: idle for 2 s, the instance sleeps (its sandbox and gateway stop). The
    // next turn wakes it — the stream says `waking` — and the model request after the wake
    // still carries the earlier turns: the agent's memory survived.
    let (s, v) = app
        .call(
            "PATCH",
            &base,
            Some(ADMIN_KEY),
            Some(json!({"idle_timeout_s": 2})),
        )
        .await;
    assert_eq!((s, &v["idle_timeout_s"]), (200, &json!(2)), "{v}");
    let asleep = app.wait_status(ADMIN_KEY, &id, "sleeping").await;
    assert_eq!(asleep["gateway"], Value::Null, "{asleep}");
    let before = model.requests().len();
    let resp = app
        .client
        .post(app.url(&format!("{base}/chat/stream")))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"session_id": sid, "message": "after the nap"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.unwrap();
    assert!(
        body.contains("\"state\":\"waking\""),
        "no waking status: {body}"
    );
    // No warm pool here: the stream says the wake is a cold start.
    assert!(body.contains("cold start"), "{body}");
    assert!(body.contains("You said: after the nap"), "{body}");
    let woke = model.requests()[before..].last().unwrap().to_string();
    assert!(
        woke.contains("hello number one"),
        "session memory lost across sleep and wake"
    );
    let (_, st) = app.get(&format!("{base}/status"), ADMIN_KEY).await;
    let path: Vec<&str> = st["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["to"].as_str().unwrap())
        .collect();
    assert!(path.ends_with(&["sleeping", "waking", "ready"]), "{path:?}");
    app.call(
        "PATCH",
        &base,
        Some(ADMIN_KEY),
        Some(json!({"idle_timeout_s": 0})),
    )
    .await;

    // Usage is counted; a stopped instance refuses chat with 409.
    let (_, st) = app.get(&format!("{base}/status"), ADMIN_KEY).await;
    assert!(st["usage"]["input_tokens"].as_i64().unwrap() > 0);
    app.post(&format!("{base}/shutdown"), ADMIN_KEY, json!({}))
        .await;
    app.wait_status(ADMIN_KEY, &id, "stopped").await;
    let (s, v) = chat(&app, &id, &sid, "anyone?").await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("INSTANCE_NOT_RUNNING"))
    );
    // Bad input.
    let (s, _) = chat(&app, &id, &sid, "   ").await;
    assert_eq!(s, 422);
}
