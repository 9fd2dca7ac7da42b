//! (g) Sandboxes survive an orchestrator restart (graceful and `kill -9`) and are re-adopted:
//! same sandbox, same process, no duplicate.

use e2e::{ProcInfo, Server, alive};

/// The instance's only agent process, and the number of pid namespaces its processes use.
fn one_tree(s: &Server, id: &str) -> ProcInfo {
    let agents = s.agent_procs(id);
    assert_eq!(
        agents.len(),
        1,
        "expected exactly one agent for {id}: {agents:?}"
    );
    let mut ns: Vec<String> = s
        .sandbox_procs(Some(id))
        .into_iter()
        .filter(|p| p.comm != "bwrap" || p.pid_ns == agents[0].pid_ns)
        .map(|p| p.pid_ns)
        .collect();
    ns.sort();
    ns.dedup();
    assert_eq!(ns.len(), 1, "more than one sandbox tree for {id}: {ns:?}");
    agents[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_orchestrator_restart() {
    let mut s = Server::start_with(&[("OCAAS_LOCAL__KEEP_SANDBOXES_ON_SHUTDOWN", "true")]).await;
    let k = s.key.clone();
    let id = s.create_instance(&k).await;
    let st = s.wait_ready(&k, &id).await;
    let sandbox = st["sandbox_id"].as_str().unwrap().to_owned();
    s.write_file(&k, &id, "/workspace/survivor.txt", "still here\n")
        .await
        .expect(200);
    let agent = one_tree(&s, &id);

    // 1. Graceful restart: the sandbox keeps running while the orchestrator is down...
    s.terminate();
    assert!(
        alive(agent.id()),
        "the sandbox died with the orchestrator (keep=true)"
    );
    s.start_again().await;
    // ...and is re-adopted: ready, the same sandbox id, the same process, one tree.
    let st = s.status(&k, &id).await;
    assert_eq!(
        (st["status"].as_str(), st["sandbox_id"].as_str()),
        (Some("ready"), Some(sandbox.as_str())),
        "after a graceful restart: {st}"
    );
    assert_eq!(
        s.read_file(&k, &id, "survivor.txt").await.expect(200)["content"],
        "still here\n"
    );
    assert_eq!(
        one_tree(&s, &id).id(),
        agent.id(),
        "the sandbox was restarted, not re-adopted"
    );
    assert_eq!(s.sh(&k, &id, "cat survivor.txt").await, "still here\n");

    // 2. kill -9: the same.
    s.kill9();
    assert!(
        alive(agent.id()),
        "the sandbox died with the killed orchestrator"
    );
    s.start_again().await;
    let st = s.status(&k, &id).await;
    assert_eq!(
        (st["status"].as_str(), st["sandbox_id"].as_str()),
        (Some("ready"), Some(sandbox.as_str())),
        "after kill -9: {st}"
    );
    assert_eq!(
        s.read_file(&k, &id, "survivor.txt").await.expect(200)["content"],
        "still here\n"
    );
    assert_eq!(
        one_tree(&s, &id).id(),
        agent.id(),
        "the sandbox was restarted, not re-adopted"
    );
    // Writes keep working on the adopted sandbox.
    s.write_file(&k, &id, "after.txt", "after")
        .await
        .expect(200);

    // 3. A sandbox that dies while the orchestrator is down is replaced on the next start
    //    (not re-adopted, not forgotten); an instance that was stopped stays stopped.
    let stopped = s.create_instance(&k).await;
    s.wait_ready(&k, &stopped).await;
    s.post(
        &k,
        &format!("/api/instances/{stopped}/shutdown"),
        &serde_json::json!({}),
    )
    .await
    .expect(202);
    s.wait_status(&k, &stopped, "stopped").await;
    s.terminate();
    let doomed = s.sandbox_procs(Some(&id));
    e2e::signal(agent.pid, "KILL");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while doomed.iter().any(|p| alive(p.id())) {
        assert!(
            std::time::Instant::now() < deadline,
            "the killed sandbox lingers"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    s.start_again().await;
    let st = s.wait_ready(&k, &id).await;
    let sandbox2 = st["sandbox_id"].as_str().unwrap().to_owned();
    assert_ne!(sandbox2, sandbox, "a dead sandbox was 're-adopted': {st}");
    assert_eq!(
        s.read_file(&k, &id, "survivor.txt").await.expect(200)["content"],
        "still here\n"
    );
    let agent = one_tree(&s, &id);
    let st = s.status(&k, &stopped).await;
    assert_eq!(
        st["status"], "stopped",
        "a stopped instance was started by a restart: {st}"
    );
    assert!(s.sandbox_procs(Some(&stopped)).is_empty());

    // 4. An adopted sandbox is still supervised and stoppable: restart with
    //    keep_sandboxes_on_shutdown=false, then a graceful stop must take it down too.
    s.restart_with(&[("OCAAS_LOCAL__KEEP_SANDBOXES_ON_SHUTDOWN", "false")])
        .await;
    assert_eq!(one_tree(&s, &id).id(), agent.id());
    let leaked = s.shutdown();
    assert!(
        leaked.processes.is_empty(),
        "an adopted sandbox survived a graceful stop with keep=false: {:?}",
        leaked.processes
    );
}
