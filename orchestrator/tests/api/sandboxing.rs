//! Refusing to run without the sandbox, and the explicit development escape hatch.

use serde_json::json;

use crate::helpers::{ADMIN_KEY, spawn_with, test_settings};

#[tokio::test]
async fn refuses_to_start_without_bubblewrap() {
    let (mut settings, _data) = test_settings();
    settings.local.bwrap = "/nonexistent/bwrap".into();
    let err = match orchestrator::startup::Application::build(settings).await {
        Ok(_) => panic!("started without a sandbox"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("bubblewrap"), "{err}");
    assert!(err.contains("INSECURE_NO_SANDBOX"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_mode_runs_unsandboxed_and_says_so() {
    let (mut settings, data) = test_settings();
    settings.local.bwrap = "/nonexistent/bwrap".into();
    settings.local.insecure_no_sandbox = true;
    let app = spawn_with(settings, data).await;
    let (_, api) = app.call("GET", "/api", None, None).await;
    assert!(
        api["runtime"]["sandbox"]
            .as_str()
            .unwrap()
            .starts_with("INSECURE")
    );
    let id = app.create_instance(ADMIN_KEY).await;
    let (s, v) = app
        .post(
            &format!("/api/instances/{id}/terminal/exec"),
            ADMIN_KEY,
            json!({"command": "pwd"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    // Not sandboxed: the working directory is the host path of the workspace.
    let host_ws = app
        .data
        .path()
        .join("instances")
        .join(&id)
        .join("workspace");
    assert_eq!(
        v["stdout"].as_str().unwrap().trim(),
        host_ws.canonicalize().unwrap().to_str().unwrap()
    );
}
