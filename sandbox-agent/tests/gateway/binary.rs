//! The `sandbox-agent` binary with a fake OpenClaw installation: flags, start-up, and SIGTERM
//! stopping the gateway before the agent exits.

use std::{
    path::Path,
    process::Stdio,
    time::{Duration, Instant},
};

use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::{
    common::{alive, free_port},
    forwarder::spawn_upstream,
    launch::fake_install,
};

/// `GET path` over the unix socket; returns the status code and the body.
async fn get(sock: &Path, path: &str, token: &str) -> Option<(u16, String)> {
    let mut stream = tokio::net::UnixStream::connect(sock).await.ok()?;
    let head = format!(
        "GET {path} HTTP/1.1\r\nHost: agent\r\nAuthorization: Bearer {token}\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

#[tokio::test]
async fn sigterm_stops_the_gateway_before_the_agent_exits() {
    let dir = tempfile::tempdir().unwrap();
    let install = dir.path().join("openclaw");
    fake_install(&install);
    let (ws, state, sock) = (
        dir.path().join("ws"),
        dir.path().join("state"),
        dir.path().join("agent.sock"),
    );
    std::fs::create_dir(&ws).unwrap();
    let upstream = spawn_upstream();
    let token = "binary-test-token";
    let mut agent = tokio::process::Command::new(env!("CARGO_BIN_EXE_sandbox-agent"))
        .arg("--listen")
        .arg(format!("unix:{}", sock.display()))
        .arg("--workspace")
        .arg(&ws)
        .env("OCAAS_AGENT_STATE_DIR", &state)
        .env("OCAAS_AGENT_OPENCLAW_DIR", &install)
        .env(
            "OCAAS_AGENT_MODEL_UPSTREAM",
            format!("unix:{}", upstream.sock.display()),
        )
        .env("OCAAS_AGENT_GATEWAY_PORT", free_port().to_string())
        .env("OCAAS_AGENT_MODEL_PORT", free_port().to_string())
        .env("OCAAS_AGENT_TOKEN", token)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    // `/health` answers at once; `/gateway` goes booting → ready.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut states = Vec::new();
    loop {
        assert!(Instant::now() < deadline, "not ready: {states:?}");
        if let Some((200, body)) = get(&sock, "/gateway", token).await {
            let status: Value = serde_json::from_str(&body).unwrap();
            let state = status["state"].as_str().unwrap().to_owned();
            if states.last() != Some(&state) {
                states.push(state.clone());
            }
            if state == "ready" {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(states, ["booting", "ready"]);
    let seen: Value =
        serde_json::from_slice(&std::fs::read(state.join("openclaw/fake-env.json")).unwrap())
            .unwrap();
    let gateway_pid = i32::try_from(seen["pid"].as_i64().unwrap()).unwrap();
    assert!(alive(gateway_pid));

    let pid = agent.id().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(10), agent.wait())
        .await
        .expect("the agent must exit after SIGTERM")
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    assert!(
        !alive(gateway_pid),
        "the gateway must be gone when the agent exits"
    );
}
