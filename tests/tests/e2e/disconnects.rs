//! (i) Customers who hang up: an abandoned exec must not keep running in the sandbox, and an
//! aborted upload must not leave a partial file.

use std::time::{Duration, Instant};

use e2e::Server;
use serde_json::json;

use crate::common::inst;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_calls_leave_nothing_behind() {
    // An abandoned exec may hold up a graceful stop (in-flight requests get this long).
    let s = Server::start_with(&[("OCAAS_SHUTDOWN_TIMEOUT_S", "5")]).await;
    let k = s.key.as_str();
    let id = s.create_instance(k).await;
    s.wait_ready(k, &id).await;

    // 1. An upload whose client fails half way: no file, no temporary file.
    let chunks = futures_util::stream::iter((0..6).map(|i| {
        if i < 5 {
            Ok(vec![b'x'; 256 * 1024])
        } else {
            Err(std::io::Error::other("client gives up"))
        }
    }));
    let url = s.url(&inst(&id, "/files/upload"), &[("path", "partial.bin")]);
    let res = s
        .client()
        .post(url)
        .bearer_auth(k)
        .header("content-type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await;
    // No answer is expected, but if one comes it must not be a 2xx or a 5xx.
    if let Ok(r) = res {
        let status = r.status();
        assert!(
            status.is_client_error(),
            "an aborted upload answered {status}"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let ls = s.sh(k, &id, "ls -A /workspace").await;
        if ls.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "an aborted upload left files behind: {ls:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // 2. Control: straight to the agent's socket, an abandoned exec is killed (the agent's
    //    contract: "if the client disconnects it is killed too").
    let sandbox = s.status(k, &id).await["sandbox_id"]
        .as_str()
        .expect("sandbox_id")
        .to_owned();
    let token = s.sandbox_meta(&sandbox).expect("meta.json")["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let socket = s.agent_socket(&sandbox);
    {
        use tokio::io::AsyncWriteExt as _;
        let body = json!({ "command": "sleep 46.321", "timeout_ms": 600000 }).to_string();
        let mut conn = tokio::net::UnixStream::connect(&socket)
            .await
            .expect("agent socket");
        let req = format!(
            "POST /exec HTTP/1.1\r\nhost: agent\r\nauthorization: Bearer {token}\r\n\
             content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        conn.write_all(req.as_bytes()).await.expect("write");
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert_eq!(
            s.sh(k, &id, "ps -eo args | grep -c '^sleep 46.321' || true")
                .await
                .trim(),
            "1",
            "control: the direct exec runs"
        );
        drop(conn);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while s
        .sh(k, &id, "ps -eo args | grep -c '^sleep 46.321' || true")
        .await
        .trim()
        != "0"
    {
        assert!(
            Instant::now() < deadline,
            "the agent did not kill an exec whose client went away"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // 3. Through the orchestrator: a client that gives up on a long exec. Its command must
    //    be killed as well, not left running until its timeout (30 s by default, up to
    //    10 minutes), or a customer can pile up unbounded work by hanging up.
    let res = s
        .client()
        .post(s.url(&inst(&id, "/terminal/exec"), &[]))
        .bearer_auth(k)
        .timeout(Duration::from_millis(700))
        .json(&json!({ "command": "sleep 47.123", "timeout_ms": 600000 }))
        .send()
        .await;
    assert!(res.is_err(), "the exec should still be running: {res:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let n = s
            .sh(k, &id, "ps -eo args | grep -c '^sleep 47.123' || true")
            .await;
        if n.trim() == "0" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "PRODUCT BUG: the command of an exec whose client disconnected through the \
             orchestrator is still running 5 s later (`sleep 47.123`, {} process(es)); the \
             relay does not propagate the customer's disconnect to the agent",
            n.trim()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let leaked = s.shutdown();
    assert!(
        leaked.processes.is_empty(),
        "sandbox processes left after shutdown: {:?}",
        leaked.processes
    );
}
