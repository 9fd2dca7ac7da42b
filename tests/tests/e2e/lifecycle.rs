//! (f) Lifecycle and persistence: shutdown, start, reboot, delete; the workspace outlives
//! sandboxes; no sandbox process outlives its instance or the server.

use std::time::{Duration, Instant};

use e2e::{Server, alive};
use serde_json::json;

use crate::common::{has_transition, inst};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_and_persistence() {
    let s = Server::start().await;
    let k = s.key.as_str();
    let id = s.create_instance(k).await;
    let st = s.wait_ready(k, &id).await;
    let sandbox1 = st["sandbox_id"].as_str().expect("sandbox_id").to_owned();
    s.write_file(k, &id, "/workspace/keep.txt", "kept\n")
        .await
        .expect(200);
    s.sh(k, &id, "echo state > /state/keep.state").await;
    // A long-running command, to prove stopping takes the whole sandbox down.
    s.sh(k, &id, "nohup sleep 1000 >/dev/null 2>&1 &").await;
    // (`nohup` execs `sleep` a moment later on a busy machine.)
    let mut procs1 = s.sandbox_procs(Some(&id));
    for _ in 0..50 {
        if procs1.iter().any(|p| p.comm == "sleep") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        procs1 = s.sandbox_procs(Some(&id));
    }
    let agents1 = s.agent_procs(&id);
    assert_eq!(agents1.len(), 1, "one agent per instance: {procs1:?}");
    assert!(
        procs1.iter().any(|p| p.comm == "sleep"),
        "the background sleep runs in the sandbox: {procs1:?}"
    );

    // 1. Shutdown: 202, then `stopped`; every process of the sandbox is gone.
    let r = s
        .send(s.request(reqwest::Method::POST, &inst(&id, "/shutdown"), Some(k)))
        .await;
    let v = r.expect(202);
    assert!(
        v["status"] == "stopping" || v["status"] == "stopped",
        "{}",
        r.text
    );
    let st = s.wait_status(k, &id, "stopped").await;
    assert_eq!(
        (&st["ready"], &st["desired_state"]),
        (&json!(false), &json!("stopped"))
    );
    assert!(has_transition(&st, "ready", "stopping"), "{st}");
    assert!(has_transition(&st, "stopping", "stopped"), "{st}");
    let left: Vec<_> = procs1.iter().filter(|p| alive(p.id())).collect();
    assert!(
        left.is_empty(),
        "processes of a stopped instance still run: {left:?}"
    );
    assert!(s.sandbox_procs(Some(&id)).is_empty());
    // Shutting down again is harmless.
    s.send(s.request(reqwest::Method::POST, &inst(&id, "/shutdown"), Some(k)))
        .await
        .expect(202);

    // 2. A stopped instance refuses files and exec with 409 INSTANCE_NOT_RUNNING (at once,
    //    not after the ready wait), and cannot be rebooted.
    let t0 = Instant::now();
    s.exec_req(k, &id, &json!({ "command": "true" }))
        .await
        .expect_err(409, "INSTANCE_NOT_RUNNING");
    s.read_file(k, &id, "keep.txt")
        .await
        .expect_err(409, "INSTANCE_NOT_RUNNING");
    s.write_file(k, &id, "new.txt", "x")
        .await
        .expect_err(409, "INSTANCE_NOT_RUNNING");
    s.list_dir(k, &id, "/workspace")
        .await
        .expect_err(409, "INSTANCE_NOT_RUNNING");
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    s.send(s.request(reqwest::Method::POST, &inst(&id, "/reboot"), Some(k)))
        .await
        .expect_err(409, "INSTANCE_NOT_RUNNING");

    // 3. Start: 202, then ready on a new sandbox; the workspace and /state were kept.
    let r = s
        .send(s.request(reqwest::Method::POST, &inst(&id, "/start"), Some(k)))
        .await;
    r.expect(202);
    let st = s.wait_ready(k, &id).await;
    let sandbox2 = st["sandbox_id"].as_str().expect("sandbox_id").to_owned();
    assert_ne!(sandbox2, sandbox1);
    assert!(has_transition(&st, "stopped", "starting"), "{st}");
    assert!(has_transition(&st, "starting", "ready"), "{st}");
    assert_eq!(
        s.read_file(k, &id, "/workspace/keep.txt").await.expect(200)["content"],
        "kept\n"
    );
    assert_eq!(s.sh(k, &id, "cat /state/keep.state").await, "state\n");
    let agents2 = s.agent_procs(&id);
    assert_eq!(agents2.len(), 1, "{agents2:?}");
    assert_ne!(agents2[0].id(), agents1[0].id());

    // 4. Reboot: 202, then ready with yet another sandbox; files kept; the old sandbox is gone
    //    and exactly one agent serves the instance.
    let r = s
        .send(s.request(reqwest::Method::POST, &inst(&id, "/reboot"), Some(k)))
        .await;
    let v = r.expect(202);
    assert_eq!(v["status"], "rebooting", "{}", r.text);
    let st = s.wait_ready(k, &id).await;
    let sandbox3 = st["sandbox_id"].as_str().expect("sandbox_id").to_owned();
    assert!(sandbox3 != sandbox2 && sandbox3 != sandbox1, "{st}");
    assert_eq!(
        v["sandbox_id"],
        sandbox3.as_str(),
        "202 body names the new sandbox"
    );
    assert!(has_transition(&st, "ready", "rebooting"), "{st}");
    assert!(has_transition(&st, "rebooting", "ready"), "{st}");
    assert_eq!(
        s.read_file(k, &id, "keep.txt").await.expect(200)["content"],
        "kept\n"
    );
    assert!(!alive(agents2[0].id()), "the pre-reboot agent still runs");
    let agents3 = s.agent_procs(&id);
    assert_eq!(agents3.len(), 1, "{agents3:?}");
    assert!(
        s.data_dir().join("sandboxes").join(&sandbox3).exists()
            && !s.data_dir().join("sandboxes").join(&sandbox2).exists(),
        "run dirs of old sandboxes are cleaned up"
    );

    // 5. A sandbox that dies (its agent killed from the host) is noticed: the instance goes
    //    `failed` with a reason, then the supervisor brings up a fresh sandbox on its own;
    //    the workspace is kept.
    e2e::signal(agents3[0].pid, "KILL");
    let st = s.wait_status(k, &id, "failed").await;
    assert!(
        st["status_reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{st}"
    );
    s.exec_req(k, &id, &json!({ "command": "true" }))
        .await
        .expect_err(409, "INSTANCE_NOT_RUNNING");
    let st = s.wait_recovered(k, &id).await;
    let sandbox4 = st["sandbox_id"].as_str().expect("sandbox_id").to_owned();
    assert_ne!(sandbox4, sandbox3, "{st}");
    assert!(has_transition(&st, "ready", "failed"), "{st}");
    assert_eq!(
        s.read_file(k, &id, "keep.txt").await.expect(200)["content"],
        "kept\n"
    );
    assert_eq!(s.agent_procs(&id).len(), 1);
    let procs4 = s.sandbox_procs(Some(&id));

    // 6. Delete: 204; then 404 everywhere; no process and no storage left.
    let r = s.delete(k, &inst(&id, "")).await;
    r.expect(204);
    assert_eq!(r.text, "");
    s.get(k, &inst(&id, "")).await.expect_err(404, "NOT_FOUND");
    s.get(k, &inst(&id, "/status"))
        .await
        .expect_err(404, "NOT_FOUND");
    s.exec_req(k, &id, &json!({ "command": "true" }))
        .await
        .expect_err(404, "NOT_FOUND");
    s.delete(k, &inst(&id, ""))
        .await
        .expect_err(404, "NOT_FOUND");
    let left: Vec<_> = procs4.iter().filter(|p| alive(p.id())).collect();
    assert!(
        left.is_empty(),
        "processes of a deleted instance still run: {left:?}"
    );
    assert!(s.sandbox_procs(Some(&id)).is_empty());
    assert!(
        !s.data_dir().join("instances").join(&id).exists(),
        "the deleted instance's storage is still on disk"
    );
    assert_eq!(s.get(k, "/api/instances").await.expect(200), &json!([]));

    // 7. A second instance that is left running is stopped by a graceful server stop, and
    //    nothing this test ever saw (any sandbox process, any exec child) survives.
    let other = s.create_instance(k).await;
    let other_sandbox = s.wait_ready(k, &other).await["sandbox_id"]
        .as_str()
        .expect("sandbox_id")
        .to_owned();
    s.sh(k, &other, "nohup sleep 1000 >/dev/null 2>&1 &").await;
    assert!(s.sandbox_procs(Some(&other)).len() >= 3);
    let sandboxes = s.seen_sandbox_ids();
    assert!(sandboxes.len() >= 5, "{sandboxes:?}");
    let leaked = s.shutdown();
    assert!(
        leaked.processes.is_empty(),
        "sandbox processes left after shutdown: {:?}",
        leaked.processes
    );
    // 8. Nor does any sandbox's cgroup (one per controller) outlive it.
    let how = [
        (sandbox1, "stopped by POST /shutdown"),
        (sandbox2, "replaced by POST /reboot"),
        (
            sandbox3,
            "crashed (agent SIGKILLed), cleaned up by the supervisor",
        ),
        (sandbox4, "stopped by DELETE"),
        (
            other_sandbox,
            "stopped by the orchestrator's graceful shutdown",
        ),
    ];
    let leaked_by: Vec<String> = how
        .iter()
        .filter(|(sid, _)| {
            leaked
                .cgroups
                .iter()
                .any(|d| d.ends_with(format!("ocaas-{sid}")))
        })
        .map(|(sid, what)| format!("{sid} ({what})"))
        .collect();
    assert!(
        leaked.cgroups.is_empty(),
        "PRODUCT BUG: cgroups of stopped sandboxes were not removed; sandboxes: {leaked_by:?}; \
         directories: {:#?}",
        leaked.cgroups
    );
}
