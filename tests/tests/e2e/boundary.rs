//! (d) The sandbox boundary, proven from inside with exec. The service runs as root here;
//! sandboxes must run as uid 10001 with no capabilities, a read-only system, a private
//! /proc, no network but loopback, and no view of other instances or of the host.

use e2e::{Server, proc_info};
use serde_json::{Value, json};

/// Run `cmd` and return the whole ExecResponse.
async fn run(s: &Server, id: &str, cmd: &str) -> Value {
    s.exec(&s.key, id, cmd).await
}

/// `cmd` must fail: non-zero exit, and not merely because the program is missing.
#[track_caller]
fn assert_failed(cmd: &str, v: &Value) {
    let code = v["exit_code"].as_i64().unwrap_or(0);
    assert!(
        code != 0 && code != 127 && code != 126,
        "`{cmd}` should have been refused inside the sandbox, got {v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_boundary_from_inside() {
    let s = Server::start().await;
    let k = s.key.as_str();
    let a = s.create_instance(k).await;
    s.wait_ready(k, &a).await;

    // 1. Unprivileged: uid 10001 (never 0), no effective capabilities, no new privileges
    //    through setuid binaries (`mount` is setuid root on the host).
    assert_eq!(s.sh(k, &a, "id -u").await, "10001\n");
    assert_eq!(s.sh(k, &a, "id -g").await, "10001\n");
    let caps = s.sh(k, &a, "grep CapEff /proc/self/status").await;
    assert_eq!(caps.trim_end(), "CapEff:\t0000000000000000", "{caps}");
    let caps = s
        .sh(k, &a, "grep -E 'CapPrm|CapAmb' /proc/self/status")
        .await;
    assert!(
        caps.lines().all(|l| l.ends_with("0000000000000000")),
        "{caps}"
    );
    assert_eq!(
        s.sh(k, &a, "grep NoNewPrivs /proc/self/status").await,
        "NoNewPrivs:\t1\n"
    );
    let cmd = "mount -o remount,rw /usr";
    assert_failed(cmd, &run(&s, &a, cmd).await);

    // 2. The system is read-only and secrets are out of sight.
    for path in ["/usr/x", "/etc/x", "/x", "/opt/x", "/usr/bin/x", "/run/x"] {
        let cmd = format!("touch {path}");
        assert_failed(&cmd, &run(&s, &a, &cmd).await);
        let v = run(&s, &a, &format!("test -e {path}")).await;
        assert_eq!(
            v["exit_code"], 1,
            "{path} exists after a refused touch: {v}"
        );
    }
    let cmd = "cat /etc/shadow";
    assert_failed(cmd, &run(&s, &a, cmd).await);
    let cmd = "echo x >> /etc/passwd";
    assert_failed(cmd, &run(&s, &a, cmd).await);
    // The writable places work.
    assert_eq!(
        s.sh(
            k,
            &a,
            "echo t > /tmp/x && echo s > /state/x && echo w > /workspace/x && cat /tmp/x /state/x /workspace/x"
        )
        .await,
        "t\ns\nw\n"
    );

    // 3. A private PID namespace: a handful of pids, none of the host's.
    let procs = s.sh(k, &a, "ls /proc").await;
    let pids: Vec<u32> = procs.lines().filter_map(|l| l.parse().ok()).collect();
    assert!(
        !pids.is_empty() && pids.len() < 10,
        "pids visible in the sandbox: {pids:?}"
    );
    let host_pid = s.pid().expect("orchestrator runs");
    let cmdline = s
        .exec(
            k,
            &a,
            &format!("cat /proc/{host_pid}/cmdline 2>/dev/null | tr '\\0' ' '"),
        )
        .await;
    assert!(
        !cmdline["stdout"]
            .as_str()
            .unwrap_or("")
            .contains("orchestrator"),
        "the orchestrator (host pid {host_pid}) is visible in the sandbox: {cmdline}"
    );
    // ...and the host sees the sandbox's processes as uid 10001 in another pid namespace.
    let me_ns = proc_info(std::process::id() as i32).expect("self").pid_ns;
    let agents = s.agent_procs(&a);
    assert_eq!(agents.len(), 1, "{agents:?}");
    assert_eq!(agents[0].uid, 10001, "{agents:?}");
    assert_ne!(agents[0].pid_ns, me_ns, "{agents:?}");

    // 4. Nothing in the sandbox shows host paths: not pid 1's command line, not the
    //    environment; and the agent's token is not in the command's environment.
    let data = s.data_dir().display().to_string();
    let one = s.sh(k, &a, "tr '\\0' ' ' < /proc/1/cmdline").await;
    assert!(
        !one.contains(&data),
        "/proc/1/cmdline shows the data dir: {one}"
    );
    let env = s.sh(k, &a, "env").await;
    assert!(
        !env.contains(&data),
        "environment shows the data dir: {env}"
    );
    // The token file the agent was started with is deleted once read.
    let v = run(&s, &a, "cat /run/ocaas/token").await;
    assert_failed("cat /run/ocaas/token", &v);
    assert!(
        !env.contains("OCAAS_AGENT_TOKEN"),
        "token in the environment: {env}"
    );

    // 5. Network: only `lo`, and the orchestrator's port on 127.0.0.1 is unreachable.
    let dev = s.sh(k, &a, "cat /proc/net/dev").await;
    let ifaces: Vec<&str> = dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    assert_eq!(ifaces, ["lo"], "{dev}");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", s.port)).is_ok(),
        "control: the host can reach the port"
    );
    let cmd = format!("timeout 5 bash -c 'echo > /dev/tcp/127.0.0.1/{}'", s.port);
    let v = run(&s, &a, &cmd).await;
    assert_ne!(
        v["exit_code"], 0,
        "the sandbox reached the orchestrator: {v}"
    );

    // 6. A second instance cannot see the first one's files. It is called at once, without
    //    waiting for ready: relayed calls wait for a starting instance.
    let b = s.create_instance(k).await;
    let marker = format!("marker-xyz-{}", &a[..8]);
    s.write_file(k, &a, &format!("/workspace/{marker}"), "secret of A")
        .await
        .expect(200);
    s.sh(
        k,
        &a,
        &format!("echo x > /state/{marker}.state; echo x > /tmp/{marker}.tmp"),
    )
    .await;
    // Control: `find` does find it in A.
    let found_a = s
        .sh(
            k,
            &a,
            &format!("find /workspace /state /tmp -name '{marker}*' 2>/dev/null | sort"),
        )
        .await;
    assert_eq!(found_a.lines().count(), 3, "{found_a}");
    // The whole tree except /proc, /sys and /usr: /usr is the host's, read-only to every
    // sandbox (step 2), and walking its ~100k entries on a cold cache takes tens of seconds.
    let v = s
        .exec_req(
            k,
            &b,
            &json!({ "command": format!(
                "find / \\( -path /proc -o -path /sys -o -path /usr \\) -prune -o -name '{marker}*' -print 2>/dev/null; true"),
                     "timeout_ms": 120000 }),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(v["exit_code"], 0, "{v}");
    assert_eq!(v["stdout"], "", "instance B sees instance A's files: {v}");
    // Control: the same find in A does find them.
    let again = s
        .sh(k, &a, &format!(
            "find / \\( -path /proc -o -path /sys -o -path /usr \\) -prune -o -name '{marker}*' -print 2>/dev/null; true"))
        .await;
    assert_eq!(again.lines().count(), 3, "{again}");
    // B's mount table names only B's storage, never A's.
    let mounts = s.sh(k, &b, "cat /proc/self/mountinfo").await;
    assert!(
        !mounts.contains(&a),
        "B's mounts mention instance A: {mounts}"
    );
    let listed = s.sh(k, &b, "ls -A /workspace /tmp").await;
    assert!(!listed.contains("marker"), "{listed}");
    // And B's processes are not visible to A.
    let b_agent = s.agent_procs(&b);
    assert_eq!(b_agent.len(), 1, "{b_agent:?}");
    assert_ne!(
        b_agent[0].pid_ns, agents[0].pid_ns,
        "A and B share a pid namespace"
    );

    let leaked = s.shutdown();
    assert!(
        leaked.processes.is_empty(),
        "sandbox processes left after shutdown: {:?}",
        leaked.processes
    );
}
