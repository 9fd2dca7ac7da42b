//! The virtual desktop: started on demand, served as RFB over `GET /vnc`, stopped with the agent.

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::Value;
use tokio_tungstenite::{
    connect_async,
    tungstenite::{Message, client::IntoClientRequest as _},
};

use crate::common::spawn_agent;

/// The command lines of this process's Xvfb and x11vnc children on `display` (other tests may
/// run desktops of their own, in sandboxes, with the same display number).
fn desktop_processes(display: &str) -> Vec<String> {
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .unwrap_or_default();
        if ppid != me {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let words: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect();
        if words.iter().any(|w| w == display)
            && words
                .first()
                .is_some_and(|p| p.ends_with("Xvfb") || p.ends_with("x11vnc"))
        {
            found.push(words.join(" "));
        }
    }
    found
}

#[actix_web::test]
async fn desktop_starts_on_demand_speaks_rfb_and_stops_with_the_agent() {
    let agent = spawn_agent().await;
    let (status, off) = agent.get("/desktop").await;
    assert_eq!(status, 200, "{off}");
    assert_eq!(off["state"], "off", "{off}");

    // The websocket starts the desktop itself and relays x11vnc's greeting byte for byte.
    let url = format!("{}/vnc", agent.base.replacen("http", "ws", 1));
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {}", agent.token).parse().unwrap(),
    );
    req.headers_mut()
        .insert("sec-websocket-protocol", "binary".parse().unwrap());
    let (mut ws, response) = connect_async(req).await.expect("upgrade");
    assert_eq!(
        response.headers().get("sec-websocket-protocol").unwrap(),
        "binary"
    );
    let greeting = tokio::time::timeout(Duration::from_secs(20), ws.next())
        .await
        .expect("greeting in time")
        .unwrap()
        .unwrap();
    assert_eq!(greeting, Message::binary(b"RFB 003.008\n".to_vec()));
    // A text frame is ignored (logged), not a crash: the connection stays usable.
    ws.send(Message::text("hello")).await.unwrap();
    ws.send(Message::binary(b"RFB 003.008\n".to_vec()))
        .await
        .unwrap();
    let security = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("security types in time")
        .unwrap()
        .unwrap()
        .into_data();
    // [count, types...]: x11vnc with -nopw offers "None" (1).
    assert!(
        security.len() >= 2 && security[1..].contains(&1),
        "{security:?}"
    );

    let (status, running) = agent.get("/desktop").await;
    assert_eq!(status, 200);
    assert_eq!(running["state"], "running", "{running}");
    assert_eq!(running["width"], 1280);
    assert!(running["boot_ms"].as_u64().is_some(), "{running}");
    // POST on a running desktop answers at once with the same state.
    let (status, again) = agent.post("/desktop", Value::Null).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["state"], "running");

    let displays: Vec<String> = (1..100).map(|n| format!(":{n}")).collect();
    let display = displays
        .iter()
        .find(|d| !desktop_processes(d).is_empty())
        .expect("an Xvfb and an x11vnc run")
        .clone();
    drop(ws);
    agent.desktop.stop().await;
    assert!(
        desktop_processes(&display).is_empty(),
        "left behind: {:?}",
        desktop_processes(&display)
    );
    let (_, stopped) = agent.get("/desktop").await;
    assert_eq!(stopped["state"], "off", "{stopped}");
}
