//! Paths must not leave the workspace: not lexically, not through symlinks.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::spawn_agent;

const OUTSIDE: &str = "PATH_OUTSIDE_WORKSPACE";

#[tokio::test]
async fn paths_cannot_escape_the_workspace() {
    let agent = spawn_agent().await;
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), "s3cret").unwrap();
    std::os::unix::fs::symlink(outside.path(), agent.ws.path().join("out")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret"), agent.ws.path().join("leak"))
        .unwrap();

    for path in [
        "/files/read?path=../x",
        "/files/read?path=/etc/passwd",
        "/files/read?path=/workspace/../etc/passwd",
        "/files/read?path=/workspacefoo",
        "/files/read?path=out/secret",
        "/files/read?path=leak",
        "/files/download?path=out/secret",
        "/files/download?path=leak",
        "/files?path=out",
        "/files?path=/",
    ] {
        agent.expect_error(path, 400, OUTSIDE).await;
    }
    for (route, body) in [
        (
            "/files/write",
            json!({"path": "out/secret", "content": "pwned"}),
        ),
        ("/files/write", json!({"path": "leak", "content": "pwned"})),
        (
            "/files/write",
            json!({"path": "out/new/x", "content": "pwned"}),
        ),
        ("/files/mkdir", json!({"path": "out/newdir"})),
        ("/files/delete", json!({"path": "out/secret"})),
        (
            "/files/rename",
            json!({"from": "out/secret", "to": "stolen"}),
        ),
        ("/files/rename", json!({"from": "h", "to": "out/h"})),
        ("/exec", json!({"command": "pwd", "cwd": "out"})),
        ("/exec", json!({"command": "pwd", "cwd": "/tmp"})),
    ] {
        let (_, err) = agent.expect_post(route, body.clone(), 400).await;
        assert_eq!(err["error"]["code"], OUTSIDE, "{route} {body}");
    }
    assert_eq!(
        std::fs::read_to_string(outside.path().join("secret")).unwrap(),
        "s3cret"
    );
    assert!(!outside.path().join("newdir").exists());

    // Symlinks inside the workspace work; deleting a link leaves its target alone.
    agent
        .post(
            "/files/write",
            json!({"path": "real.txt", "content": "inside"}),
        )
        .await;
    std::os::unix::fs::symlink("real.txt", agent.ws.path().join("alias")).unwrap();
    let (status, body) = agent.get("/files/read?path=alias").await;
    assert_eq!(
        (status, &body["content"]),
        (StatusCode::OK, &json!("inside"))
    );
    let (_, listing) = agent.get("/files").await;
    let kinds: Vec<&str> = listing["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert!(
        kinds.iter().filter(|k| **k == "symlink").count() == 3,
        "{listing}"
    );
    let (status, _) = agent.post("/files/delete", json!({"path": "leak"})).await;
    assert_eq!(status, StatusCode::OK);
    assert!(outside.path().join("secret").exists());
}
