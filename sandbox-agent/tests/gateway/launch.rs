//! `gateway::launch` end to end with a fake OpenClaw installation: the agent writes the config,
//! starts "node" with the right environment, passes chat through with the gateway's token,
//! and the fake gateway's model call reaches the unix-socket upstream through the forwarder.

use std::{os::unix::fs::PermissionsExt as _, time::Duration};

use reqwest::StatusCode;
use sandbox_agent::{
    GatewaySettings,
    gateway::{self, StateLayout},
    protocol::GatewayState,
};
use serde_json::{Value, json};

use crate::{
    common::{alive, fast_options, free_port, python, script, spawn_agent, wait_status},
    forwarder::spawn_upstream,
};

/// `<dir>/node/bin/node` running the fake gateway, and a placeholder `openclaw.mjs`.
pub fn fake_install(dir: &std::path::Path) {
    let bin = dir.join("node/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(
        bin.join("node"),
        format!(
            "#!/bin/sh\nFAKE_READY_AFTER=0.3 exec {} -u {} \"$@\"\n",
            python().display(),
            script().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(bin.join("node"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let app = dir.join("app/node_modules/openclaw");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(app.join("openclaw.mjs"), "").unwrap();
}

#[tokio::test]
async fn launches_a_configured_gateway() {
    let install = tempfile::tempdir().unwrap();
    fake_install(install.path());
    let state = tempfile::tempdir().unwrap();
    let ws = tempfile::tempdir().unwrap();
    let upstream = spawn_upstream();
    let settings = GatewaySettings {
        openclaw_dir: install.path().to_owned(),
        state_dir: state.path().to_owned(),
        workspace: ws.path().to_owned(),
        model_upstream: upstream.sock.clone().into(),
        gateway_port: free_port(),
        model_port: 0,
    };
    let launched = gateway::launch(&settings, fast_options()).unwrap();
    let model_port = launched.forwarder.addr.port();
    let agent = spawn_agent(launched.gateway.clone());

    // The config file: private, pointing at the forwarder, with a 64-hex-digit token.
    let layout = StateLayout::new(state.path());
    let mode = std::fs::metadata(&layout.config_file)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let config: Value =
        serde_json::from_slice(&std::fs::read(&layout.config_file).unwrap()).unwrap();
    assert_eq!(config["gateway"]["port"], settings.gateway_port);
    assert_eq!(
        config["models"]["providers"]["ocaas"]["baseUrl"],
        format!("http://127.0.0.1:{model_port}/v1")
    );
    assert_eq!(
        config["agents"]["defaults"]["workspace"],
        ws.path().to_str().unwrap()
    );
    assert_eq!(
        config["gateway"]["auth"]["token"].as_str().unwrap().len(),
        64
    );

    // The chat waits for readiness, then goes gateway → forwarder → unix upstream and back.
    let res = agent
        .chat(
            &json!({"model": "openclaw/default", "messages": [{"role": "user", "content": "hi"}]}),
            Some(20_000),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let echo: Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["path"], "/v1/chat/completions");
    assert_eq!(echo["headers"]["authorization"], "Bearer sandbox-local");
    let sent: Value = serde_json::from_str(echo["body"].as_str().unwrap()).unwrap();
    assert_eq!(sent["model"], "default");
    assert_eq!(sent["messages"][0]["content"], "hi");

    // The gateway's environment: cleared, then exactly what the agent sets.
    let seen: Value =
        serde_json::from_slice(&std::fs::read(layout.openclaw_dir.join("fake-env.json")).unwrap())
            .unwrap();
    let env = seen["env"].as_object().unwrap();
    assert_eq!(env["HOME"], layout.home.to_str().unwrap());
    assert_eq!(env["OPENCLAW_OFFLINE"], "1");
    assert_eq!(
        env["OPENCLAW_STATE_DIR"],
        layout.openclaw_dir.to_str().unwrap()
    );
    assert_eq!(
        env["OPENCLAW_CONFIG_PATH"],
        layout.config_file.to_str().unwrap()
    );
    let path = env["PATH"].as_str().unwrap();
    assert!(
        path.starts_with(install.path().join("node/bin").to_str().unwrap()),
        "{path}"
    );
    assert!(
        !env.keys()
            .any(|k| k.starts_with("CARGO") || k.starts_with("OCAAS")),
        "{env:?}"
    );
    assert_eq!(seen["cwd"], layout.home.to_str().unwrap());
    let argv: Vec<&str> = seen["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    // argv[0] is the fake's script.
    assert_eq!(
        argv[1],
        install
            .path()
            .join("app/node_modules/openclaw/openclaw.mjs")
            .to_str()
            .unwrap()
    );
    assert_eq!(argv[2..5], ["gateway", "run", "--port"]);
    assert_eq!(argv[5], settings.gateway_port.to_string());
    assert_eq!(argv[6..], ["--bind", "loopback"]);

    let gateway = launched.gateway.clone();
    let ready = wait_status(&gateway, Duration::from_secs(1), |s| {
        s.state == GatewayState::Ready
    })
    .await;
    assert!(ready.boot_ms.is_some());
    let pgid = gateway.pgid().unwrap();
    launched.shutdown().await;
    assert!(!alive(pgid));
    assert_eq!(gateway.state(), GatewayState::Stopping);
}
