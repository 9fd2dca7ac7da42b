//! (c) Paths cannot leave /workspace: not lexically, not through symlinks planted from inside.

use e2e::Server;
use reqwest::Method;
use serde_json::json;

use crate::common::inst;

const OUT: &str = "PATH_OUTSIDE_WORKSPACE";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_cannot_escape_workspace() {
    let s = Server::start().await;
    let k = s.key.as_str();
    let id = s.create_instance(k).await;
    s.wait_ready(k, &id).await;
    s.write_file(k, &id, "/workspace/inside.txt", "inside\n")
        .await
        .expect(200);

    // 1. Lexical escapes, on every file route.
    for p in [
        "../etc/passwd",
        "/etc/passwd",
        "/workspace/../../etc/passwd",
        "/workspace/../etc/passwd",
        "/workspacex/passwd",
        "sub/../../etc/passwd",
        "/",
    ] {
        s.read_file(k, &id, p).await.expect_err(400, OUT);
        s.list_dir(k, &id, p).await.expect_err(400, OUT);
        let url = s.url(&inst(&id, "/files/download"), &[("path", p)]);
        s.send(s.request_url(Method::GET, url, Some(k)))
            .await
            .expect_err(400, OUT);
    }
    for p in ["../x", "/tmp/x", "/workspace/../x", "/etc/x"] {
        s.write_file(k, &id, p, "x").await.expect_err(400, OUT);
        s.post(k, &inst(&id, "/files/mkdir"), &json!({ "path": p }))
            .await
            .expect_err(400, OUT);
        s.post(k, &inst(&id, "/files/delete"), &json!({ "path": p }))
            .await
            .expect_err(400, OUT);
        s.post(
            k,
            &inst(&id, "/files/rename"),
            &json!({ "from": "/workspace/inside.txt", "to": p }),
        )
        .await
        .expect_err(400, OUT);
        let url = s.url(&inst(&id, "/files/upload"), &[("path", p)]);
        s.send(
            s.request_url(Method::POST, url, Some(k))
                .header("content-type", "application/octet-stream")
                .body("x"),
        )
        .await
        .expect_err(400, OUT);
    }
    s.post(
        k,
        &inst(&id, "/files/upload"),
        &json!({ "targetDir": "/workspace/../..", "fileName": "x", "content": "x" }),
    )
    .await
    .expect_err(400, OUT);
    s.exec_req(k, &id, &json!({ "command": "pwd", "cwd": "/etc" }))
        .await
        .expect_err(400, OUT);
    // Nothing was created by any of that.
    assert_eq!(s.sh(k, &id, "ls -A /workspace").await, "inside.txt\n");

    // 2. Symlinks planted from inside the sandbox that lead out are refused.
    s.sh(
        k,
        &id,
        "ln -s /etc /workspace/etclink && ln -s /etc/hosts /workspace/hosts \
         && ln -s ../../../.. /workspace/up && ln -s inside.txt /workspace/ok",
    )
    .await;
    s.read_file(k, &id, "/workspace/etclink/passwd")
        .await
        .expect_err(400, OUT);
    s.list_dir(k, &id, "/workspace/etclink")
        .await
        .expect_err(400, OUT);
    s.read_file(k, &id, "/workspace/hosts")
        .await
        .expect_err(400, OUT);
    s.read_file(k, &id, "/workspace/up/etc/passwd")
        .await
        .expect_err(400, OUT);
    let url = s.url(
        &inst(&id, "/files/download"),
        &[("path", "/workspace/hosts")],
    );
    s.send(s.request_url(Method::GET, url, Some(k)))
        .await
        .expect_err(400, OUT);
    s.write_file(k, &id, "/workspace/etclink/x", "pwned")
        .await
        .expect_err(400, OUT);
    s.write_file(k, &id, "/workspace/hosts", "pwned")
        .await
        .expect_err(400, OUT);
    s.exec_req(k, &id, &json!({ "command": "pwd", "cwd": "etclink" }))
        .await
        .expect_err(400, OUT);
    // A symlink that stays inside is followed.
    assert_eq!(
        s.read_file(k, &id, "/workspace/ok").await.expect(200)["content"],
        "inside\n"
    );
    // Deleting the link removes the link, not its target.
    s.post(
        k,
        &inst(&id, "/files/delete"),
        &json!({ "path": "/workspace/etclink" }),
    )
    .await
    .expect(200);
    assert_eq!(
        s.sh(
            k,
            &id,
            "test ! -L etclink && test -e /etc/passwd && echo ok"
        )
        .await,
        "ok\n"
    );

    // 3. The brief's case: a symlink to /etc/hostname. Inside the sandbox /etc/hostname
    //    does not exist (it is not on the /etc allow-list), so the link is dangling there.
    //    It still leads outside /workspace, so the answer must be 400, not a 404 that
    //    reveals whether the target exists.
    s.sh(k, &id, "ln -s /etc/hostname /workspace/h").await;
    let r = s.read_file(k, &id, "/workspace/h").await;
    assert_eq!(
        (r.status, r.code()),
        (400, Some(OUT)),
        "PRODUCT BUG: a symlink to /etc/hostname (absent inside the sandbox) is answered \
         {} {} instead of 400 {OUT}: a dangling symlink that leads out of /workspace is \
         reported as missing, not as outside",
        r.status,
        r.text
    );

    let leaked = s.shutdown();
    assert!(
        leaked.processes.is_empty(),
        "sandbox processes left after shutdown: {:?}",
        leaked.processes
    );
}
