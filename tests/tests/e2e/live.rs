//! (k) Terminals and the desktop through the orchestrator: `terminal/ws` (echo and exit
//! status, resize, reattach with scrollback, several at once, no orphans), `vnc-url` +
//! `vnc/ws` (a full RFB handshake and a non-blank framebuffer), and every refusal before the
//! upgrade (401/404/409/400 in the error envelope).

use std::time::Duration;

use e2e::Server;
use e2e::ws::{Rfb, Term, connect, distinct_pixels, refused};
use reqwest::Method;
use serde_json::json;

use crate::common::inst;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminals_over_the_orchestrator() {
    let s = Server::start().await;
    let k = s.key.as_str();
    let id = s.create_instance(k).await;
    s.wait_ready(k, &id).await;
    let url = |q: &str| format!("{}{}{q}", s.base, inst(&id, "/terminal/ws"));

    // Size from the query, then a resize frame; `stty size` reads both back.
    let mut t = Term::open(&url("?cols=100&rows=30"), Some(k)).await;
    assert_eq!((t.cols, t.rows), (100, 30));
    t.send("stty size\n").await;
    t.expect("30 100").await;
    t.send_json(&json!({"type": "resize", "cols": 120, "rows": 40}))
        .await;
    t.send("stty size\n").await;
    t.expect("40 120").await;
    // A malformed control frame is answered with an error frame and changes nothing.
    t.send_json(&json!({"type": "explode"})).await;
    match t.next_frame().await {
        e2e::ws::Frame::Text(v) => assert_eq!(v["type"], "error", "{v}"),
        other => panic!("expected an error frame, got {other:?}"),
    }
    t.send("pwd; id -u\n").await;
    t.expect("/workspace").await;
    t.expect("10001").await;

    // Drop the connection without a close frame: the shell lives on; reattaching replays the
    // scrollback, then the shell answers again.
    t.send("echo before-$((6*7))-drop\n").await;
    t.expect("before-42-drop").await;
    let session = t.id.clone();
    drop(t);
    let mut t = Term::open(&url(&format!("?session={session}")), Some(k)).await;
    assert_eq!(t.id, session);
    t.expect("before-42-drop").await;
    // The seed's check: the echo and the exit status.
    t.send("echo hi; exit 3\n").await;
    t.expect("hi").await;
    assert_eq!(t.expect_exit().await, 3);
    // That session is gone now.
    assert_eq!(
        refused(&url(&format!("?session={session}")), Some(k)).await,
        (404, "NOT_FOUND".into())
    );

    // A browser's way in: a token from `ws-token` (no header), good for this instance only.
    let minted = s.post(k, &inst(&id, "/ws-token"), &json!({})).await;
    let token = minted.expect(200)["token"].as_str().unwrap().to_owned();
    crate::common::assert_timestamp(&minted.json["expiresAt"]);
    let mut t = Term::open(&url(&format!("?token={token}")), None).await;
    t.send("echo token-$((3*3))\n").await;
    t.expect("token-9").await;
    t.close().await;
    let bob = s.create_account("bob").await;
    s.post(&bob, &inst(&id, "/ws-token"), &json!({}))
        .await
        .expect_err(404, "NOT_FOUND");

    // Several terminals at once, each its own shell; closing one (1000) kills its jobs.
    let mut a = Term::open(&url(""), Some(k)).await;
    let mut b = Term::open(&url(""), Some(k)).await;
    assert_ne!(a.id, b.id);
    a.send("sleep 1000 & echo bg=$!\n").await;
    a.expect("bg=").await;
    a.expect("\n").await;
    let pid_line = s.sh(k, &id, "pgrep -x sleep || true").await;
    let sleep_pid = pid_line
        .split_whitespace()
        .next()
        .expect("sleep runs")
        .to_owned();
    b.send("echo from-b-$((1+1))\n").await;
    b.expect("from-b-2").await;
    a.close().await;
    let mut gone = false;
    for _ in 0..50 {
        if s.sh(
            k,
            &id,
            &format!("kill -0 {sleep_pid} 2>/dev/null && echo alive || echo gone"),
        )
        .await
        .contains("gone")
        {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        gone,
        "the closed terminal's background job {sleep_pid} survived:\n{}",
        s.sh(k, &id, "ps -eo pid,pgid,sid,stat,cmd").await
    );
    // b is unaffected.
    b.send("echo still-$((2+2))\n").await;
    b.expect("still-4").await;
    b.close().await;
    s.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn desktop_over_the_orchestrator() {
    let s = Server::start_with(&[("OCAAS_CONSOLE__WS_TOKEN_TTL_S", "3")]).await;
    let k = s.key.as_str();
    let id = s.create_instance(k).await;
    s.wait_ready(k, &id).await;

    let v = s.get(k, &inst(&id, "/vnc-url")).await;
    let v = v.expect(200).clone();
    assert_eq!(v["desktop"]["state"], "running", "{v}");
    let token = v["token"].as_str().unwrap().to_owned();
    let page = v["url"].as_str().unwrap();
    assert!(
        page.starts_with(&format!(
            "{}/console/desktop.html?instance={id}&token=",
            s.base
        )),
        "{page}"
    );
    let ws_url = v["wsUrl"].as_str().unwrap().to_owned();
    assert_eq!(
        ws_url,
        format!(
            "{}{}?token={token}",
            s.base.replacen("http", "ws", 1),
            inst(&id, "/vnc/ws")
        )
    );
    e2e::ws::connect(&ws_url, None, Some("binary"))
        .await
        .expect("the token alone opens the desktop");

    // The RFB handshake through the relay, then a full frame that is not blank.
    let (ws, resp) = connect(&ws_url, None, Some("binary"))
        .await
        .expect("upgrade");
    assert_eq!(resp.headers()["sec-websocket-protocol"], "binary");
    let mut rfb = Rfb::new(ws);
    let init = rfb.handshake().await;
    assert_eq!((init.width, init.height), (1280, 800), "{init:?}");
    let bpp = usize::from(init.bits_per_pixel / 8);
    let mut colours = 0;
    for _ in 0..40 {
        let pixels = rfb.full_frame(&init).await;
        assert_eq!(
            pixels.len(),
            1280 * 800 * bpp,
            "a full frame covers the screen"
        );
        colours = distinct_pixels(&pixels, bpp, 16);
        if colours > 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(colours > 2, "the desktop stays blank ({colours} colours)");

    // Refusals before the upgrade, each in the envelope.
    let vnc = |i: &str, q: &str| format!("{}{}{q}", s.base, inst(i, "/vnc/ws"));
    let term = |i: &str, q: &str| format!("{}{}{q}", s.base, inst(i, "/terminal/ws"));
    assert_eq!(
        refused(&vnc(&id, ""), None).await,
        (401, "UNAUTHORIZED".into())
    );
    assert_eq!(
        refused(&vnc(&id, "?token=00ff"), None).await,
        (401, "UNAUTHORIZED".into())
    );
    assert_eq!(
        refused(&vnc(&id, "?token=x"), Some("ocaas_wrong")).await,
        (401, "UNAUTHORIZED".into())
    );
    // A token opens only its own instance, even one of the same account.
    // (Created with `"desktop": true`: its desktop runs without being asked for.)
    let created = s
        .post(
            k,
            "/api/instances",
            &json!({"name": "with-desktop", "desktop": true}),
        )
        .await;
    let other = created.expect(201)["id"].as_str().unwrap().to_owned();
    assert_eq!(created.json["desktop"], true);
    s.wait_ready(k, &other).await;
    let mut desktop_state = String::new();
    for _ in 0..100 {
        desktop_state = s.status(k, &other).await["desktop"]["state"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if desktop_state == "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(desktop_state, "running");
    // The first instance's status shows its desktop too (started by vnc-url).
    assert_eq!(s.status(k, &id).await["desktop"]["state"], "running");
    assert_eq!(
        refused(&vnc(&other, &format!("?token={token}")), None).await,
        (401, "UNAUTHORIZED".into())
    );
    assert_eq!(
        refused(&term(&other, &format!("?token={token}")), None).await,
        (401, "UNAUTHORIZED".into())
    );
    // Another tenant: 404 on every live route.
    let bob = s.create_account("bob").await;
    assert_eq!(
        refused(&vnc(&id, ""), Some(&bob)).await,
        (404, "NOT_FOUND".into())
    );
    assert_eq!(
        refused(&term(&id, ""), Some(&bob)).await,
        (404, "NOT_FOUND".into())
    );
    s.get(&bob, &inst(&id, "/vnc-url"))
        .await
        .expect_err(404, "NOT_FOUND");
    // Bad terminal sizes and unknown sessions come from the agent, through the relay.
    assert_eq!(
        refused(&term(&id, "?cols=0&rows=10"), Some(k)).await,
        (422, "VALIDATION_FAILED".into())
    );
    assert_eq!(
        refused(&term(&id, "?session=nope"), Some(k)).await,
        (404, "NOT_FOUND".into())
    );
    // Not a websocket request at all.
    s.get(k, &inst(&id, "/terminal/ws"))
        .await
        .expect_err(400, "BAD_REQUEST");
    // A stopped instance: 409 before any upgrade.
    s.send(s.request(Method::POST, &inst(&other, "/shutdown"), Some(k)))
        .await
        .expect(202);
    s.wait_status(k, &other, "stopped").await;
    assert_eq!(
        refused(&term(&other, ""), Some(k)).await,
        (409, "INSTANCE_NOT_RUNNING".into())
    );
    assert_eq!(
        refused(&vnc(&other, ""), Some(k)).await,
        (409, "INSTANCE_NOT_RUNNING".into())
    );
    s.get(k, &inst(&other, "/vnc-url"))
        .await
        .expect_err(409, "INSTANCE_NOT_RUNNING");
    // Tokens expire (3 s here).
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        refused(&vnc(&id, &format!("?token={token}")), None).await,
        (401, "UNAUTHORIZED".into())
    );
    let leaked = s.shutdown();
    assert!(
        leaked.processes.is_empty(),
        "left behind: {:?}",
        leaked.processes
    );
}
