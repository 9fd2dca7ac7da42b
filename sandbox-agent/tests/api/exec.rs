//! `POST /exec` end to end.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{Agent, random_token, spawn_agent};

async fn exec(agent: &Agent, body: Value) -> Value {
    let (status, res) = agent.post("/exec", body).await;
    assert_eq!(status, StatusCode::OK, "{res}");
    res
}

/// Processes whose command line contains `marker`.
fn survivors(marker: &str) -> String {
    let out = std::process::Command::new("pgrep")
        .args(["-a", "-f", marker])
        .output()
        .expect("pgrep must be installed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Wait up to 3 s for every process carrying `marker` to be gone.
async fn assert_all_gone(marker: &str) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let left = survivors(marker);
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "survivors: {left}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A command whose processes all carry `marker` in their command line: a background and a
/// foreground shell, each sleeping (`; true` stops the shell from exec'ing `sleep` away).
fn sleepers(marker: &str) -> String {
    format!("sh -c 'sleep 300; true' {marker} & sh -c 'sleep 300; true' {marker}; true")
}

#[tokio::test]
async fn runs_commands() {
    let agent = spawn_agent().await;
    let res = exec(&agent, json!({"command": "echo out; echo err >&2; exit 3"})).await;
    assert_eq!(res["command"], "echo out; echo err >&2; exit 3");
    assert_eq!(res["stdout"], "out\n");
    assert_eq!(res["stderr"], "err\n");
    assert_eq!(res["exit_code"], 3);
    assert_eq!(res["timed_out"], false);
    assert_eq!(res["truncated"], false);
    assert!(res["duration_ms"].is_u64());

    std::fs::create_dir(agent.ws.path().join("sub")).unwrap();
    let res = exec(&agent, json!({"command": "pwd", "cwd": "/workspace/sub"})).await;
    let pwd = res["stdout"].as_str().unwrap().trim_end();
    assert_eq!(
        std::fs::canonicalize(pwd).unwrap(),
        std::fs::canonicalize(agent.ws.path().join("sub")).unwrap()
    );
    let res = exec(&agent, json!({"command": "pwd"})).await;
    let pwd = res["stdout"].as_str().unwrap().trim_end();
    assert_eq!(
        std::fs::canonicalize(pwd).unwrap(),
        std::fs::canonicalize(agent.ws.path()).unwrap()
    );

    let res = exec(
        &agent,
        json!({"command": "printf %s \"$GREETING\"; echo ${OCAAS_AGENT_TOKEN:-unset} >&2",
               "env": {"GREETING": "hi there"}}),
    )
    .await;
    assert_eq!(res["stdout"], "hi there");
    assert_eq!(res["stderr"], "unset\n");

    let res = exec(&agent, json!({"command": "kill -TERM $$"})).await;
    assert_eq!(res["exit_code"], 128 + 15);
}

#[tokio::test]
async fn rejects_bad_requests() {
    let agent = spawn_agent().await;
    for body in [
        json!({"command": ""}),
        json!({"command": "true", "timeout_ms": 0}),
        json!({"command": "true", "timeout_ms": 600_001}),
        json!({"command": "true", "env": {"A=B": "x"}}),
        json!({"timeout_ms": 5}),
    ] {
        let (_, res) = agent.expect_post("/exec", body, 422).await;
        assert_eq!(res["error"]["code"], "VALIDATION_FAILED");
    }
    agent
        .expect_post("/exec", json!({"command": "true", "cwd": "nope"}), 404)
        .await;
    std::fs::write(agent.ws.path().join("f"), "").unwrap();
    agent
        .expect_post("/exec", json!({"command": "true", "cwd": "f"}), 409)
        .await;
}

#[tokio::test]
async fn timeout_kills_the_whole_process_group() {
    let agent = spawn_agent().await;
    let marker = format!("ocaas-timeout-{}", random_token());
    let started = Instant::now();
    let res = exec(
        &agent,
        json!({"command": format!("echo started; {}", sleepers(&marker)), "timeout_ms": 300}),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(res["timed_out"], true);
    assert_eq!(res["exit_code"], 137);
    assert_eq!(res["stdout"], "started\n");
    assert_all_gone(&marker).await;
}

#[tokio::test]
async fn background_processes_survive_a_normal_exit() {
    let agent = spawn_agent().await;
    let marker = format!("ocaas-bg-{}", random_token());
    let started = Instant::now();
    // The background shell keeps stdout open; the agent stops waiting after ~200 ms.
    let res = exec(
        &agent,
        json!({"command": format!("sh -c 'sleep 300; true' {marker} & echo done")}),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(res["exit_code"], 0);
    assert_eq!(res["timed_out"], false);
    assert_eq!(res["stdout"], "done\n");
    assert!(
        !survivors(&marker).is_empty(),
        "the background process was killed"
    );
    let _ = std::process::Command::new("pkill")
        .args(["-f", &marker])
        .status();
}

#[tokio::test]
async fn client_disconnect_kills_the_process_group() {
    let agent = spawn_agent().await;
    let marker = format!("ocaas-disconnect-{}", random_token());
    let res = agent
        .authed(reqwest::Method::POST, "/exec")
        .json(&json!({"command": sleepers(&marker)}))
        .timeout(Duration::from_millis(500))
        .send()
        .await;
    assert!(
        res.is_err(),
        "the request should have timed out on the client side"
    );
    assert_all_gone(&marker).await;
}

#[tokio::test]
async fn output_is_capped() {
    let agent = spawn_agent().await;
    let res = exec(
        &agent,
        json!({"command": "head -c 3000000 /dev/zero | tr '\\0' a; echo tail >&2"}),
    )
    .await;
    assert_eq!(res["truncated"], true);
    assert_eq!(res["exit_code"], 0);
    let stdout = res["stdout"].as_str().unwrap();
    assert_eq!(
        stdout.len(),
        sandbox_agent::protocol::limits::EXEC_OUTPUT_CAP
    );
    assert!(stdout.bytes().all(|b| b == b'a'));
    assert_eq!(res["stderr"], "tail\n");
}
