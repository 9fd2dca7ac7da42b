//! `/archive/{part}`: a sandbox's workspace and home as tar streams, moved from one agent into
//! another the way the orchestrator wakes an instance into a warm-pool pod on Kubernetes.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::common::{Agent, spawn_agent_with};

async fn with_home() -> (Agent, tempfile::TempDir) {
    let home = tempfile::tempdir().unwrap();
    let path = home.path().to_path_buf();
    (spawn_agent_with(move |c| c.with_home(path)).await, home)
}

/// GET `/archive/{part}` from `from`, PUT the stream into `to`; the PUT's status.
async fn copy(from: &Agent, to: &Agent, part: &str) -> StatusCode {
    let path = format!("/archive/{part}");
    let got = from.authed(Method::GET, &path).send().await.unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(got.headers()["content-type"], "application/x-tar");
    let body = reqwest::Body::wrap_stream(got.bytes_stream());
    to.authed(Method::PUT, &path)
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn a_workspace_moves_whole_and_replaces_what_was_there() {
    let (a, _a_home) = with_home().await;
    let (b, _b_home) = with_home().await;
    std::fs::create_dir_all(a.ws.path().join("src/deep")).unwrap();
    std::fs::write(a.ws.path().join("src/deep/main.py"), "print('kept')\n").unwrap();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(a.ws.path().join("data.bin"), &big).unwrap();
    std::os::unix::fs::symlink("src/deep/main.py", a.ws.path().join("link")).unwrap();
    std::fs::write(b.ws.path().join("BOOTSTRAP.md"), "the warm pod's own").unwrap();

    // What the move will carry: 3 files (one behind a link that is not followed) and 2 dirs.
    let (s, size) = a.get("/archive/workspace/size").await;
    assert_eq!(s, StatusCode::OK);
    let expected = big.len() as u64 + "print('kept')\n".len() as u64;
    assert_eq!(size, serde_json::json!({"bytes": expected, "entries": 5}));
    assert_eq!(copy(&a, &b, "workspace").await, StatusCode::NO_CONTENT);
    let ws = b.ws.path();
    assert_eq!(
        std::fs::read_to_string(ws.join("src/deep/main.py")).unwrap(),
        "print('kept')\n"
    );
    assert_eq!(std::fs::read(ws.join("data.bin")).unwrap(), big);
    assert_eq!(
        std::fs::read_link(ws.join("link")).unwrap(),
        std::path::Path::new("src/deep/main.py")
    );
    assert!(
        !ws.join("BOOTSTRAP.md").exists(),
        "the receiving workspace holds exactly the archive"
    );
}

#[tokio::test]
async fn a_home_merges_and_the_receivers_own_files_stay() {
    let (a, a_home) = with_home().await;
    let (b, b_home) = with_home().await;
    std::fs::create_dir_all(a_home.path().join(".config/tool")).unwrap();
    std::fs::write(a_home.path().join(".config/tool/settings"), "the user's").unwrap();
    std::fs::write(a_home.path().join(".bash_history"), "ls\n").unwrap();
    std::fs::write(a_home.path().join(".gatewayrc"), "the old gateway's").unwrap();
    std::fs::create_dir_all(b_home.path().join(".config/other")).unwrap();
    std::fs::write(b_home.path().join(".gatewayrc"), "the live gateway's").unwrap();

    assert_eq!(copy(&a, &b, "home").await, StatusCode::NO_CONTENT);
    let home = b_home.path();
    assert_eq!(
        std::fs::read_to_string(home.join(".config/tool/settings")).unwrap(),
        "the user's"
    );
    assert_eq!(
        std::fs::read_to_string(home.join(".bash_history")).unwrap(),
        "ls\n"
    );
    assert!(home.join(".config/other").is_dir(), "directories merge");
    assert_eq!(
        std::fs::read_to_string(home.join(".gatewayrc")).unwrap(),
        "the live gateway's"
    );
}

#[tokio::test]
async fn bad_archive_requests_get_the_envelope() {
    let (a, _home) = with_home().await;
    a.expect_error("/archive/state", 404, "NOT_FOUND").await;
    a.expect_error("/archive/state/size", 404, "NOT_FOUND")
        .await;
    // Without a configured home there is no home to move.
    let bare = crate::common::spawn_agent().await;
    bare.expect_error("/archive/home", 404, "NOT_FOUND").await;
    // Not a tar stream: refused, and the workspace is left empty rather than half-written.
    std::fs::write(a.ws.path().join("old.txt"), "x").unwrap();
    let res = a
        .authed(Method::PUT, "/archive/workspace")
        .body("this is not a tar archive, just text")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "INTERNAL", "{body}");
    // And never without the token.
    let res = a
        .client
        .get(a.url("/archive/workspace"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}
