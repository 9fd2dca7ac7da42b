//! Relays and model calls through a pod's address, with a real `sandbox-agent` standing in
//! for the pod: it listens on `127.0.0.1:<agent port>` inside the test's loopback-only network
//! namespace, reads the tokens the runtime put in the instance's secret, and the test reports
//! the pod ready with `podIP: 127.0.0.1`. `kubernetes.check_agent` is on, so `ready` also means
//! the orchestrator itself reached the agent with its token, as it would on a real cluster.
//! (What differs from a real pod: no image, no kubelet probes, no network policy enforcement.)

use std::process::{Child, Command, Stdio};

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use sandbox_agent::model_forward::{ModelForwarder, ModelUpstream};
use serde_json::{Value, json};

use crate::harness::{self, cluster, free_port, wait_status};
use crate::helpers::{self, ADMIN_KEY};

pub(crate) struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `target/<profile>/sandbox-agent`, built by `make test` (`cargo build --workspace`).
fn agent_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors()
        .skip(1)
        .map(|d| d.join("sandbox-agent"))
        .find(|p| p.is_file())
        .expect("the sandbox-agent binary is built (cargo build -p sandbox-agent)")
}

/// The pod's stand-in: a real agent on `127.0.0.1:<agent port>` with the tokens the runtime put
/// in the instance's secret (what the pod's init container hands it), and with the real
/// OpenClaw gateway when `openclaw` is given. Returns the agent, its directory (the volume's
/// stand-in) and the model token.
pub(crate) async fn agent_for(
    c: &harness::Cluster,
    ns: &str,
    id: &str,
    agent_port: u16,
    sandbox_port: u16,
    openclaw: Option<&std::path::Path>,
) -> (Agent, tempfile::TempDir, String) {
    agent_at(c, ns, id, "127.0.0.1", agent_port, sandbox_port, openclaw).await
}

/// [`agent_for`] on another loopback address (`ip`, e.g. `127.0.0.2`): a second pod.
pub(crate) async fn agent_at(
    c: &harness::Cluster,
    ns: &str,
    id: &str,
    ip: &str,
    agent_port: u16,
    sandbox_port: u16,
    openclaw: Option<&std::path::Path>,
) -> (Agent, tempfile::TempDir, String) {
    let secret = c
        .api::<Secret>(ns)
        .get(&format!("ocaas-{id}-tokens"))
        .await
        .unwrap();
    let tokens = secret.data.unwrap();
    let token = |k: &str| String::from_utf8(tokens[k].0.clone()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (workspace, state) = (dir.path().join("workspace"), dir.path().join("state"));
    std::fs::create_dir_all(&workspace).unwrap();
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(dir.path().join("agent-token"), token("agent-token")).unwrap();
    std::fs::write(dir.path().join("model-token"), token("model-token")).unwrap();
    let mut command = Command::new(agent_binary());
    if let Some(openclaw) = openclaw {
        command
            .arg("--openclaw-dir")
            .arg(openclaw)
            .args(["--gateway-port", &free_port().to_string()])
            .args(["--model-port", &free_port().to_string()]);
    }
    let agent = Agent(
        command
            .args(["--listen", &format!("tcp:{ip}:{agent_port}")])
            .arg("--workspace")
            .arg(&workspace)
            .arg("--state-dir")
            .arg(&state)
            .arg("--token-file")
            .arg(dir.path().join("agent-token"))
            .args([
                "--model-upstream",
                &format!("http://127.0.0.1:{sandbox_port}"),
            ])
            .arg("--model-token-file")
            .arg(dir.path().join("model-token"))
            .env("OCAAS_AGENT_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    (agent, dir, token("model-token"))
}

/// A model call the way the gateway makes one: to the agent's forwarder, which calls the
/// orchestrator's sandbox port at `sandbox_port` with `token`.
pub(crate) async fn model_call(sandbox_port: u16, token: String, text: &str) -> (u16, Value) {
    let forwarder = ModelForwarder::start(
        ([127, 0, 0, 1], 0).into(),
        ModelUpstream::Http {
            authority: format!("127.0.0.1:{sandbox_port}"),
            token: Some(token),
        },
    )
    .unwrap();
    let resp = reqwest::Client::new()
        .post(format!("http://{}/v1/chat/completions", forwarder.addr))
        .header("authorization", "Bearer placeholder-from-the-gateway")
        .json(&json!({"model": "ocaas/default", "messages": [{"role": "user", "content": text}]}))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or_default();
    forwarder.stop().await;
    (status, body)
}

/// Settings whose sandbox port is fixed (sandboxes must know it) and whose runtime checks the
/// agent itself.
pub(crate) fn checked_settings(
    c: &harness::Cluster,
    ns: &str,
) -> (orchestrator::settings::Settings, tempfile::TempDir, u16) {
    let (mut settings, data) = harness::settings(c, ns);
    let sandbox_port = free_port();
    settings.kubernetes.check_agent = true;
    settings.kubernetes.sandbox_listen = format!("127.0.0.1:{sandbox_port}");
    settings.kubernetes.model_upstream_url = format!("http://127.0.0.1:{sandbox_port}");
    (settings, data, sandbox_port)
}

#[tokio::test]
async fn files_exec_and_model_calls_go_through_the_pod_address() {
    let Some(c) = cluster().await else { return };
    let ns = c.namespace().await;
    let (settings, data, sandbox_port) = checked_settings(&c, &ns);
    let agent_port = settings.kubernetes.agent_port;
    let app = helpers::spawn_with(settings, data).await;

    let id = app.create_instance(ADMIN_KEY).await;
    let pod = c.pod_of(&ns, &id).await;
    let (_agent, dir, model_token) = agent_for(&c, &ns, &id, agent_port, sandbox_port, None).await;
    c.set_ready(&ns, &pod.name_any(), "127.0.0.1").await;
    wait_status(&app, &id, "ready", 15).await;
    // The agent took its token files.
    assert!(!dir.path().join("agent-token").exists());
    assert!(!dir.path().join("model-token").exists());

    let (s, v) = app
        .post(
            &format!("/api/instances/{id}/files/write"),
            ADMIN_KEY,
            json!({"path": "/workspace/notes.txt", "content": "through the pod"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = app
        .post(
            &format!("/api/instances/{id}/terminal/exec"),
            ADMIN_KEY,
            json!({"command": "cat notes.txt", "timeout_ms": 5000}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["stdout"], "through the pod");

    // The model path: the gateway's provider is the agent's forwarder, which calls the
    // orchestrator's sandbox port with the instance's model token.
    let (s, v) = model_call(sandbox_port, model_token, "hello pod").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["choices"][0]["message"]["content"], "You said: hello pod",
        "{v}"
    );
    let (_, v) = app
        .get(&format!("/api/instances/{id}/status"), ADMIN_KEY)
        .await;
    assert!(v["usage"]["input_tokens"].as_i64().unwrap() > 0, "{v}");
    // A token the orchestrator did not mint is refused.
    let (s, v) = model_call(sandbox_port, "00".repeat(44), "hello").await;
    assert_eq!(s, 401, "{v}");
}

#[tokio::test]
async fn a_second_replica_relays_to_the_pod_and_serves_its_model_calls() {
    let Some(c) = cluster().await else { return };
    let Some(url) = helpers::fresh_postgres_url().await else {
        return;
    };
    let ns = c.namespace().await;
    let key = orchestrator::settings::Secret::new("5a".repeat(32));
    let (mut settings, data, sandbox_port) = checked_settings(&c, &ns);
    settings.database_url = Some(orchestrator::settings::Secret::new(url.clone()));
    settings.secret_key = Some(key.clone());
    let agent_port = settings.kubernetes.agent_port;
    let a = helpers::spawn_with(settings.clone(), data).await;
    // Replica B: the same settings (database, secret key, agent port), its own sandbox port.
    let (mut b_settings, b_data, b_sandbox_port) = checked_settings(&c, &ns);
    b_settings.database_url = Some(orchestrator::settings::Secret::new(url));
    b_settings.secret_key = Some(key);
    b_settings.kubernetes.agent_port = agent_port;
    let b = helpers::spawn_with(b_settings, b_data).await;

    let id = a.create_instance(ADMIN_KEY).await;
    let pod = c.pod_of(&ns, &id).await;
    let (_agent, _dir, model_token) = agent_for(&c, &ns, &id, agent_port, sandbox_port, None).await;
    c.set_ready(&ns, &pod.name_any(), "127.0.0.1").await;
    wait_status(&a, &id, "ready", 15).await;

    // B never started this sandbox; it finds the pod in its watch and relays to it.
    let (s, v) = b
        .post(
            &format!("/api/instances/{id}/terminal/exec"),
            ADMIN_KEY,
            json!({"command": "echo via-b > b.txt; cat b.txt", "timeout_ms": 5000}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["stdout"], "via-b\n");
    // And B serves the sandbox's model calls: the token needs no state, only the shared key.
    let (s, v) = model_call(b_sandbox_port, model_token, "hi B").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["choices"][0]["message"]["content"], "You said: hi B");
}
