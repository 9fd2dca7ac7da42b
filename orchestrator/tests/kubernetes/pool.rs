//! The warm pool on Kubernetes. A pod's volumes are fixed when it is created, so each pooled
//! pod is started for an instance id reserved in advance, with that id's fresh volume, secret
//! and network policy; a create claims it by taking the reserved id, and nothing in the pod
//! restarts. The pooled pod here is the stand-in of `relay.rs` with the REAL OpenClaw gateway
//! (the scripted stand-in as its model), so the warm-up turn and the first reply really go
//! through a booted gateway, its forwarder and the orchestrator's sandbox port.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Secret};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::ResourceExt;
use serde_json::{Value, json};

use crate::harness::{Cluster, cluster, free_port, wait_status, wait_until};
use crate::helpers::{self, ADMIN_KEY, TestApp};
use crate::relay::{agent_at, agent_for, checked_settings};
use crate::replicas::Orchestrator;

const POOLED: &str = "app.kubernetes.io/managed-by=ocaas,ocaas.dev/pool=warm";

/// The reserved ids of the unclaimed pooled volumes.
async fn pooled_ids(c: &Cluster, ns: &str) -> Vec<String> {
    c.api::<PersistentVolumeClaim>(ns)
        .list(&kube::api::ListParams::default().labels(POOLED))
        .await
        .unwrap()
        .items
        .iter()
        .filter(|v| v.metadata.deletion_timestamp.is_none())
        .map(|v| v.labels()["ocaas.dev/instance"].clone())
        .collect()
}

/// Whether `id` still has a volume, secret, policy or pod.
async fn has_objects(c: &Cluster, ns: &str, id: &str) -> bool {
    let sel = format!("ocaas.dev/instance={id}");
    let lp = kube::api::ListParams::default().labels(&sel);
    let volumes = c.api::<PersistentVolumeClaim>(ns).list(&lp).await.unwrap();
    let secrets = c.api::<Secret>(ns).list(&lp).await.unwrap();
    let policies = c.api::<NetworkPolicy>(ns).list(&lp).await.unwrap();
    let pods = c.api::<Pod>(ns).list(&lp).await.unwrap();
    volumes
        .items
        .iter()
        .any(|v| v.metadata.deletion_timestamp.is_none())
        || !secrets.items.is_empty()
        || !policies.items.is_empty()
        || pods
            .items
            .iter()
            .any(|p| p.metadata.deletion_timestamp.is_none())
}

async fn warm_pool(app: &TestApp) -> Value {
    let (_, api) = app.call("GET", "/api", None, None).await;
    api["warm_pool"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_create_claims_a_warm_pod_with_the_fresh_volume_of_its_reserved_id() {
    let Some(c) = cluster().await else { return };
    let Some(openclaw) = helpers::openclaw_dir() else {
        return;
    };
    let ns = c.namespace().await;
    let (mut settings, data, sandbox_port) = checked_settings(&c, &ns);
    settings.pool.size = 1;
    settings.kubernetes.start_timeout_s = 180;
    settings.chat.turn_timeout_s = 120;
    settings.kubernetes.warm_wake_max_mb = 32;
    let agent_port = settings.kubernetes.agent_port;
    let app = helpers::spawn_with(settings, data).await;
    let model = app.scripted.clone().expect("scripted stand-in");

    // 1. The pool starts a pod for a reserved id, on that id's own fresh volume, secret and
    //    network policy, the pod and volume marked as pooled. It is nobody's instance.
    let reserved = wait_until("a pooled volume", 30, || async {
        pooled_ids(&c, &ns).await.into_iter().next()
    })
    .await;
    let pod = c.pod_of(&ns, &reserved).await;
    assert_eq!(pod.labels()["ocaas.dev/pool"], "warm");
    let claim = pod.spec.as_ref().unwrap().volumes.as_ref().unwrap()[0]
        .persistent_volume_claim
        .as_ref()
        .unwrap()
        .claim_name
        .clone();
    assert_eq!(claim, format!("ocaas-{reserved}"));
    c.api::<Secret>(&ns)
        .get(&format!("ocaas-{reserved}-tokens"))
        .await
        .expect("the reserved id's token secret");
    c.api::<NetworkPolicy>(&ns)
        .get(&format!("ocaas-{reserved}"))
        .await
        .expect("the reserved id's network policy");
    let (_, list) = app.get("/api/instances", ADMIN_KEY).await;
    assert_eq!(list, json!([]), "{list}");

    // 2. The kubelet's stand-in runs the pod: a real agent with the real gateway. The pool
    //    warms it up; the warm-up turn reaches no provider (the id names no instance yet).
    let (first_agent, volume_dir, _) = agent_for(
        &c,
        &ns,
        &reserved,
        agent_port,
        sandbox_port,
        Some(&openclaw),
    )
    .await;
    c.set_ready(&ns, &pod.name_any(), "127.0.0.1").await;
    let warmed = wait_until("the pooled pod to warm up", 240, || async {
        let pool = warm_pool(&app).await;
        (pool["ready"] == 1).then_some(pool)
    })
    .await;
    assert_eq!(warmed, json!({"size": 1, "ready": 1, "warming": 0}));
    assert!(
        model.requests().is_empty(),
        "the warm-up reached the provider"
    );

    // 3. A create claims it: the instance takes the reserved id, is ready at once on the same
    //    pod, and the pod and volume are no longer pooled.
    let started = Instant::now();
    let (s, v) = app
        .post(
            "/api/instances",
            ADMIN_KEY,
            json!({"instructions": "Be brief. MARKER-K8S-INSTRUCTIONS"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["id"], reserved.as_str(), "{v}");
    assert!(
        v["status_reason"]
            .as_str()
            .unwrap()
            .contains("warm sandbox from the pool"),
        "{v}"
    );
    let st = wait_status(&app, &reserved, "ready", 10).await;
    let ready_after = started.elapsed();
    assert_eq!(st["gateway"]["state"], "ready", "no boot to wait for: {st}");
    assert_eq!(
        v["sandbox_id"].as_str().map(|s| format!("ocaas-{s}")),
        Some(pod.name_any())
    );
    let pods: Vec<Pod> = c.pods_of(&ns, &reserved).await;
    assert_eq!(pods.len(), 1, "one pod, the pooled one");
    assert_eq!(pods[0].name_any(), pod.name_any());
    assert!(!pods[0].labels().contains_key("ocaas.dev/pool"));
    let volume = c
        .api::<PersistentVolumeClaim>(&ns)
        .get(&claim)
        .await
        .unwrap();
    assert!(!volume.labels().contains_key("ocaas.dev/pool"));

    // 4. The first turn goes through the warm gateway to the instance's provider (the
    //    scripted model) with the instance's instructions, and counts as its usage.
    let (s, v) = app
        .post(
            &format!("/api/instances/{reserved}/files/write"),
            ADMIN_KEY,
            json!({"path": "/workspace/kept.txt", "content": "on the volume"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        std::fs::read_to_string(volume_dir.path().join("workspace/kept.txt")).unwrap(),
        "on the volume"
    );
    let (s, v) = app
        .post(
            &format!("/api/instances/{reserved}/chat"),
            ADMIN_KEY,
            json!({"message": "hello from a warm pod"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["assistant_message"]["content"],
        "You said: hello from a warm pod"
    );
    let session = v["session_id"].as_str().unwrap().to_owned();
    let first_reply = started.elapsed();
    let sent = model.requests().last().unwrap().to_string();
    assert!(
        sent.contains("MARKER-K8S-INSTRUCTIONS"),
        "the claimed gateway did not see the instance's AGENTS.md"
    );
    let (_, st) = app
        .get(&format!("/api/instances/{reserved}/status"), ADMIN_KEY)
        .await;
    assert!(st["usage"]["input_tokens"].as_i64().unwrap() > 0, "{st}");
    eprintln!(
        "kubernetes warm create: ready after {ready_after:?}, first reply after {first_reply:?}"
    );

    // 5. The pool refills with a pod for a new reserved id.
    let next = wait_until("the pool to start a new pod", 30, || async {
        pooled_ids(&c, &ns)
            .await
            .into_iter()
            .find(|id| *id != reserved)
    })
    .await;
    let refill = c.pod_of(&ns, &next).await;

    // 6. While the new pooled pod is still coming up (nothing runs it yet), a start of the
    //    existing instance is cold, and says so: a pod of its own on its own volume, with its
    //    own tokens.
    let (s, v) = app
        .post(
            &format!("/api/instances/{reserved}/shutdown"),
            ADMIN_KEY,
            json!({}),
        )
        .await;
    assert_eq!(s, 202, "{v}");
    wait_status(&app, &reserved, "stopped", 30).await;
    let (s, v) = app
        .post(
            &format!("/api/instances/{reserved}/start"),
            ADMIN_KEY,
            json!({}),
        )
        .await;
    assert_eq!(s, 202, "{v}");
    assert!(
        v["status_reason"]
            .as_str()
            .unwrap()
            .contains("cold start (the warm pool is empty)"),
        "{v}"
    );
    let own = c.pod_of(&ns, &reserved).await;
    assert_ne!(own.name_any(), pod.name_any());
    assert!(!own.labels().contains_key("ocaas.dev/pool"));
    c.set_ready(&ns, &own.name_any(), "127.0.0.1").await;
    wait_status(&app, &reserved, "ready", 30).await;
    let (s, v) = app
        .get(
            &format!("/api/instances/{reserved}/files/read?path=/workspace/kept.txt"),
            ADMIN_KEY,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["content"], "on the volume");
    let still = c.pod_of(&ns, &next).await;
    assert_eq!(still.name_any(), refill.name_any());
    assert_eq!(still.labels()["ocaas.dev/pool"], "warm");

    // 7. A claim cut short (the replica died between recording the instance and unlabelling its
    //    pod and volume) leaves both labelled as pooled. The pool's tending finds the reserved
    //    id taken by an instance: the volume stays the instance's, the stale pod goes, and the
    //    instance's supervision brings it up again on its volume.
    let relabel = json!({"metadata": {"labels": {"ocaas.dev/pool": "warm"}}});
    let pp = kube::api::PatchParams::default();
    c.api::<Pod>(&ns)
        .patch(&own.name_any(), &pp, &kube::api::Patch::Merge(&relabel))
        .await
        .unwrap();
    c.api::<PersistentVolumeClaim>(&ns)
        .patch(&claim, &pp, &kube::api::Patch::Merge(&relabel))
        .await
        .unwrap();
    let again = wait_until("the instance on a new pod of its own", 40, || async {
        c.pods_of(&ns, &reserved)
            .await
            .into_iter()
            .find(|p| p.name_any() != own.name_any() && p.metadata.deletion_timestamp.is_none())
    })
    .await;
    assert!(!again.labels().contains_key("ocaas.dev/pool"));
    let volume = c
        .api::<PersistentVolumeClaim>(&ns)
        .get(&claim)
        .await
        .expect("the volume is kept");
    assert!(!volume.labels().contains_key("ocaas.dev/pool"));
    assert!(
        c.api::<Pod>(&ns)
            .get_opt(&own.name_any())
            .await
            .unwrap()
            .is_none(),
        "the stale pooled-looking pod is gone"
    );
    c.set_ready(&ns, &again.name_any(), "127.0.0.1").await;
    wait_status(&app, &reserved, "ready", 30).await;

    // 8. A wake takes a warm pod too. The refill pod gets its stand-in (a second pod address,
    //    127.0.0.2, its own volume directory and the real gateway) and warms up.
    let (_refill_agent, refill_dir, _) = agent_at(
        &c,
        &ns,
        &next,
        "127.0.0.2",
        agent_port,
        sandbox_port,
        Some(&openclaw),
    )
    .await;
    c.set_ready(&ns, &refill.name_any(), "127.0.0.2").await;
    wait_until("the refill pod to warm up", 240, || async {
        (warm_pool(&app).await["ready"] == 1).then_some(())
    })
    .await;
    std::fs::write(
        volume_dir.path().join("state/home/notes.txt"),
        "in the home",
    )
    .unwrap();
    let (s, v) = app
        .call(
            "PATCH",
            &format!("/api/instances/{reserved}"),
            Some(ADMIN_KEY),
            Some(json!({"idle_timeout_s": 1})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    wait_status(&app, &reserved, "sleeping", 30).await;
    // The wake runs a mover pod (the agent alone) on the instance's volume; its kubelet's
    // stand-in is the volume's agent, on 127.0.0.1.
    let mover = async {
        let pod = wait_until("a mover pod", 60, || async {
            c.pods_of(&ns, &reserved)
                .await
                .into_iter()
                .find(|p| p.labels().get("ocaas.dev/role").map(String::as_str) == Some("mover"))
        })
        .await;
        c.set_ready(&ns, &pod.name_any(), "127.0.0.1").await;
        pod
    };
    let chat = async {
        let started = Instant::now();
        let answer = app
            .post(
                &format!("/api/instances/{reserved}/chat"),
                ADMIN_KEY,
                json!({"session_id": session, "message": "what did I say before?"}),
            )
            .await;
        (answer, started.elapsed())
    };
    let (((s, v), wake_reply), mover) = tokio::join!(chat, mover);
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["assistant_message"]["content"],
        "You said: what did I say before?"
    );
    // The agent's memory came along: the model request after the wake carries the earlier turn.
    let sent = model.requests().last().unwrap().to_string();
    assert!(sent.contains("hello from a warm pod"), "{sent}");
    // It runs on the warm pod, whose volume now holds the instance's files and serves it.
    let (_, st) = app
        .get(&format!("/api/instances/{reserved}/status"), ADMIN_KEY)
        .await;
    assert_eq!(
        st["sandbox_id"].as_str().map(|s| format!("ocaas-{s}")),
        Some(refill.name_any()),
        "{st}"
    );
    assert!(
        st["transitions"]
            .to_string()
            .contains("the instance's files move into it"),
        "{st}"
    );
    let (s, v) = app
        .get(
            &format!("/api/instances/{reserved}/files/read?path=/workspace/kept.txt"),
            ADMIN_KEY,
        )
        .await;
    assert_eq!(
        (s, v["content"].as_str()),
        (200, Some("on the volume")),
        "{v}"
    );
    assert_eq!(
        std::fs::read_to_string(refill_dir.path().join("workspace/kept.txt")).unwrap(),
        "on the volume"
    );
    assert_eq!(
        std::fs::read_to_string(refill_dir.path().join("state/home/notes.txt")).unwrap(),
        "in the home"
    );
    let volume = c
        .api::<PersistentVolumeClaim>(&ns)
        .get(&format!("ocaas-{next}"))
        .await
        .unwrap();
    assert_eq!(volume.labels()["ocaas.dev/serves"], reserved.as_str());
    assert!(!volume.labels().contains_key("ocaas.dev/pool"));
    // The mover and the old volume (with its secret and policy) are gone.
    wait_until("the old storage to go", 30, || async {
        let mover_gone = c
            .api::<Pod>(&ns)
            .get_opt(&mover.name_any())
            .await
            .unwrap()
            .is_none();
        (mover_gone && !has_objects(&c, &ns, &reserved).await).then_some(())
    })
    .await;
    eprintln!("kubernetes warm wake: first reply after {wake_reply:?}");
    drop(first_agent);

    // 9. Wakes that decline the warm pod: the mover pod cannot start, then the instance's
    //    files are more than `warm_wake_max_mb` (32 MiB here). Each time nothing is copied,
    //    the warm pod stays in the pool, and the instance comes up cold on the storage it
    //    has, with every file, saying why.
    let third = wait_until("the pool to start another pod", 30, || async {
        pooled_ids(&c, &ns).await.into_iter().find(|id| *id != next)
    })
    .await;
    let third_pod = c.pod_of(&ns, &third).await;
    let (_third_agent, third_dir, _) = agent_at(
        &c,
        &ns,
        &third,
        "127.0.0.3",
        agent_port,
        sandbox_port,
        Some(&openclaw),
    )
    .await;
    c.set_ready(&ns, &third_pod.name_any(), "127.0.0.3").await;
    wait_until("the third pod to warm up", 240, || async {
        (warm_pool(&app).await["ready"] == 1).then_some(())
    })
    .await;
    let is_mover = |p: &Pod| p.labels().get("ocaas.dev/role").map(String::as_str) == Some("mover");
    let chat_path = format!("/api/instances/{reserved}/chat");
    let big = refill_dir.path().join("workspace/big.bin");
    for (case, why) in [
        (
            "mover fails",
            "the instance's volume could not be read for a warm wake",
        ),
        (
            "too big",
            "are more than kubernetes.warm_wake_max_mb = 32 MiB",
        ),
    ] {
        if case == "too big" {
            std::fs::write(&big, vec![7u8; 40 << 20]).unwrap();
        }
        wait_status(&app, &reserved, "sleeping", 30).await;
        let before: Vec<String> = c
            .pods_of(&ns, &next)
            .await
            .iter()
            .map(|p| p.name_any())
            .collect();
        let kubelet = async {
            let mover = wait_until("a mover pod", 60, || async {
                c.pods_of(&ns, &next)
                    .await
                    .into_iter()
                    .find(|p| is_mover(p))
            })
            .await;
            if case == "mover fails" {
                c.set_failed(&ns, &mover.name_any()).await;
            } else {
                c.set_ready(&ns, &mover.name_any(), "127.0.0.2").await;
            }
            let own = wait_until("a pod of its own on its storage", 60, || async {
                c.pods_of(&ns, &next).await.into_iter().find(|p| {
                    !is_mover(p)
                        && !before.contains(&p.name_any())
                        && p.metadata.deletion_timestamp.is_none()
                })
            })
            .await;
            c.set_ready(&ns, &own.name_any(), "127.0.0.2").await;
        };
        let chat = app.post(
            &chat_path,
            ADMIN_KEY,
            json!({"session_id": session, "message": case}),
        );
        let ((s, v), ()) = tokio::join!(chat, kubelet);
        assert_eq!(s, 200, "{case}: {v}");
        assert_eq!(
            v["assistant_message"]["content"],
            format!("You said: {case}")
        );
        let (_, st) = app
            .get(&format!("/api/instances/{reserved}/status"), ADMIN_KEY)
            .await;
        assert!(st["transitions"].to_string().contains(why), "{case}: {st}");
        let (s, v) = app
            .get(
                &format!("/api/instances/{reserved}/files/read?path=/workspace/kept.txt"),
                ADMIN_KEY,
            )
            .await;
        assert_eq!(
            (s, v["content"].as_str()),
            (200, Some("on the volume")),
            "{v}"
        );
        assert!(
            !third_dir.path().join("workspace/kept.txt").exists(),
            "{case}: copied"
        );
        assert_eq!(
            c.pod_of(&ns, &third).await.labels()["ocaas.dev/pool"],
            "warm"
        );
        assert_eq!(warm_pool(&app).await["ready"], 1, "{case}");
    }

    // 10. A second warm wake moves the storage again (generation 2): into the third pod, and
    //     the storage it moved from goes.
    std::fs::remove_file(&big).unwrap();
    wait_status(&app, &reserved, "sleeping", 30).await;
    let kubelet = async {
        let mover = wait_until("a mover pod", 60, || async {
            c.pods_of(&ns, &next)
                .await
                .into_iter()
                .find(|p| is_mover(p))
        })
        .await;
        c.set_ready(&ns, &mover.name_any(), "127.0.0.2").await;
    };
    let chat = app.post(
        &chat_path,
        ADMIN_KEY,
        json!({"session_id": session, "message": "moved twice"}),
    );
    let ((s, v), ()) = tokio::join!(chat, kubelet);
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        std::fs::read_to_string(third_dir.path().join("workspace/kept.txt")).unwrap(),
        "on the volume"
    );
    let volume = c
        .api::<PersistentVolumeClaim>(&ns)
        .get(&format!("ocaas-{third}"))
        .await
        .unwrap();
    assert_eq!(volume.labels()["ocaas.dev/serves"], reserved.as_str());
    assert_eq!(volume.annotations()["ocaas.dev/generation"], "2");
    wait_until("the storage it moved from to go", 30, || async {
        (!has_objects(&c, &ns, &next).await).then_some(())
    })
    .await;

    // 11. Deleting the instance deletes the storage it moved to.
    let (s, v) = app
        .call(
            "DELETE",
            &format!("/api/instances/{reserved}"),
            Some(ADMIN_KEY),
            None,
        )
        .await;
    assert!(s == 202 || s == 204, "{s} {v}");
    wait_until("the moved storage to go", 30, || async {
        (!has_objects(&c, &ns, &third).await).then_some(())
    })
    .await;
}

#[tokio::test]
async fn pooled_pods_a_dead_replica_left_are_removed_with_their_volumes() {
    let Some(c) = cluster().await else { return };
    let Some(url) = helpers::fresh_postgres_url().await else {
        return;
    };
    let ns = c.namespace().await;
    let agent_port = free_port();
    let key = "6e".repeat(32);
    let shared = [
        ("OCAAS_DATABASE_URL", url.as_str()),
        ("OCAAS_SECRET_KEY", key.as_str()),
    ];
    let mut with_pool = shared.to_vec();
    with_pool.push(("OCAAS_POOL__SIZE", "1"));
    let (a_data, b_data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // A keeps one pooled pod (nothing runs it here, so it stays pending).
    let a = Orchestrator::start_with(&c, &ns, a_data.path(), agent_port, &with_pool);
    a.up().await;
    let reserved = wait_until("A's pooled volume", 30, || async {
        pooled_ids(&c, &ns).await.into_iter().next()
    })
    .await;
    c.pod_of(&ns, &reserved).await;
    // B keeps no pool but tends leftovers (at start, then every 10 s). While A lives, A's
    // lease on the reserved id keeps B's hands off its pod. B runs at most one instance, and
    // A's pooled pod is a running pod too: B has no room.
    let mut b_env = shared.to_vec();
    b_env.push(("OCAAS_LIMITS__MAX_RUNNING_INSTANCES", "1"));
    let b = Orchestrator::start_with(&c, &ns, b_data.path(), agent_port, &b_env);
    b.up().await;
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert!(
        has_objects(&c, &ns, &reserved).await,
        "B removed a live replica's pooled pod"
    );
    assert_eq!(pooled_ids(&c, &ns).await, vec![reserved.clone()]);
    let (s, v) = b.call("POST", "/api/instances").await;
    assert_eq!(s, 503, "A's pooled pod counts against capacity: {v}");
    assert_eq!(v["error"]["code"], "CAPACITY_EXHAUSTED", "{v}");

    // A dies; once its lease expires (30 s), B removes the pod and the reserved id's volume,
    // secret and policy.
    a.crash();
    wait_until("B to remove A's leftovers", 60, || async {
        (!has_objects(&c, &ns, &reserved).await).then_some(())
    })
    .await;
    // And the room they took is B's again.
    wait_until("B to admit a create", 20, || async {
        let (s, _) = b.call("POST", "/api/instances").await;
        (s == 201).then_some(())
    })
    .await;
}

/// A volume a warm wake moved an instance's storage onto, as another replica left it when it
/// died after the move's commit: the volume serves the instance (newest generation), an older
/// one and the instance's own volume are still there, and a mover pod still runs. The next
/// start runs on the newest storage and removes the rest; model calls with that storage's
/// token are the instance's; deleting the instance deletes it.
#[tokio::test]
async fn a_start_runs_on_the_newest_storage_and_removes_what_a_cut_short_move_left() {
    let Some(c) = cluster().await else { return };
    let ns = c.namespace().await;
    let (mut settings, data, sandbox_port) = checked_settings(&c, &ns);
    settings.kubernetes.check_agent = false;
    settings.pool.size = 0;
    let app = helpers::spawn_with(settings, data).await;
    let model = app.scripted.clone().expect("scripted stand-in");
    let (s, v) = app.post("/api/instances", ADMIN_KEY, json!({})).await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    let first = c.pod_of(&ns, &id).await;
    c.set_ready(&ns, &first.name_any(), "127.0.0.1").await;
    wait_status(&app, &id, "ready", 30).await;
    let (s, v) = app
        .post(
            &format!("/api/instances/{id}/shutdown"),
            ADMIN_KEY,
            json!({}),
        )
        .await;
    assert_eq!(s, 202, "{v}");
    wait_status(&app, &id, "stopped", 30).await;

    let (newest, older) = (
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
    );
    for (storage, generation) in [(&newest, "2"), (&older, "1")] {
        let volume: PersistentVolumeClaim = serde_json::from_value(json!({
            "metadata": {
                "name": format!("ocaas-{storage}"),
                "labels": {
                    "app.kubernetes.io/managed-by": "ocaas",
                    "ocaas.dev/instance": storage,
                    "ocaas.dev/serves": id,
                },
                "annotations": {"ocaas.dev/generation": generation},
            },
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        }))
        .unwrap();
        c.api::<PersistentVolumeClaim>(&ns)
            .create(&Default::default(), &volume)
            .await
            .unwrap();
    }
    let mover: Pod = serde_json::from_value(json!({
        "metadata": {
            "name": "ocaas-sandy-00000000feed",
            "labels": {
                "app.kubernetes.io/managed-by": "ocaas",
                "ocaas.dev/instance": newest,
                "ocaas.dev/sandbox": "sandy-00000000feed",
                "ocaas.dev/role": "mover",
            },
        },
        "spec": {"containers": [{"name": "agent", "image": "ocaas-sandbox:test"}]},
    }))
    .unwrap();
    c.api::<Pod>(&ns)
        .create(&Default::default(), &mover)
        .await
        .unwrap();

    let (s, v) = app
        .post(&format!("/api/instances/{id}/start"), ADMIN_KEY, json!({}))
        .await;
    assert_eq!(s, 202, "{v}");
    let pod = wait_until("a pod on the newest storage", 30, || async {
        c.pods_of(&ns, &newest).await.into_iter().find(|p| {
            p.labels().get("ocaas.dev/role").is_none() && p.metadata.deletion_timestamp.is_none()
        })
    })
    .await;
    let claim = pod.spec.as_ref().unwrap().volumes.as_ref().unwrap()[0]
        .persistent_volume_claim
        .as_ref()
        .unwrap()
        .claim_name
        .clone();
    assert_eq!(claim, format!("ocaas-{newest}"));
    c.set_ready(&ns, &pod.name_any(), "127.0.0.1").await;
    let st = wait_status(&app, &id, "ready", 30).await;
    assert_eq!(
        st["sandbox_id"].as_str().map(|s| format!("ocaas-{s}")),
        Some(pod.name_any())
    );
    let (_, list) = app.get("/api/instances", ADMIN_KEY).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert!(
        c.api::<Pod>(&ns)
            .get_opt(&mover.name_any())
            .await
            .unwrap()
            .is_none(),
        "the leftover mover is gone"
    );
    assert!(
        !has_objects(&c, &ns, &older).await,
        "the older storage is gone"
    );
    assert!(
        !has_objects(&c, &ns, &id).await,
        "the instance's first storage is gone"
    );

    // The pod's model token seals the storage id; its calls are the instance's (its provider
    // answers and the usage is counted), not a warm-up answered by the orchestrator.
    let secret = c
        .api::<Secret>(&ns)
        .get(&format!("ocaas-{newest}-tokens"))
        .await
        .unwrap();
    let token = String::from_utf8(secret.data.unwrap()["model-token"].0.clone()).unwrap();
    let (s, v) = crate::relay::model_call(sandbox_port, token, "from the moved storage").await;
    assert_eq!(s, 200, "{v}");
    assert!(
        model
            .requests()
            .last()
            .unwrap()
            .to_string()
            .contains("from the moved storage"),
        "the instance's provider did not get the call"
    );
    let (_, st) = app
        .get(&format!("/api/instances/{id}/status"), ADMIN_KEY)
        .await;
    assert!(st["usage"]["input_tokens"].as_i64().unwrap() > 0, "{st}");

    let (s, v) = app
        .call(
            "DELETE",
            &format!("/api/instances/{id}"),
            Some(ADMIN_KEY),
            None,
        )
        .await;
    assert!(s == 202 || s == 204, "{s} {v}");
    wait_until("the storage to go", 30, || async {
        (!has_objects(&c, &ns, &newest).await).then_some(())
    })
    .await;
}

/// A wake's claim cut short before its commit (the replica died mid-copy): the warm pod is no
/// longer marked pooled but marked as moving an instance in, and its volume is still pooled.
/// Nobody holds the reserved id's lease, so the pool's tending removes the pod with the
/// volume, secret and policy; the instance it was for keeps its own storage.
#[tokio::test]
async fn a_wake_claim_cut_short_leaves_nothing_behind() {
    let Some(c) = cluster().await else { return };
    let ns = c.namespace().await;
    let (mut settings, data) = crate::harness::settings(&c, &ns);
    settings.pool.size = 0;
    let app = helpers::spawn_with(settings, data).await;
    let (s, v) = app.post("/api/instances", ADMIN_KEY, json!({})).await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    let reserved = uuid::Uuid::new_v4().to_string();
    let labels = |extra: Value| {
        let mut l = json!({
            "app.kubernetes.io/managed-by": "ocaas",
            "ocaas.dev/instance": reserved,
        });
        l.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        l
    };
    let volume: PersistentVolumeClaim = serde_json::from_value(json!({
        "metadata": {"name": format!("ocaas-{reserved}"), "labels": labels(json!({"ocaas.dev/pool": "warm"}))},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }))
    .unwrap();
    c.api::<PersistentVolumeClaim>(&ns)
        .create(&Default::default(), &volume)
        .await
        .unwrap();
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {
            "name": "ocaas-sandy-0000000cafe0",
            "labels": labels(json!({"ocaas.dev/sandbox": "sandy-0000000cafe0", "ocaas.dev/moving": id})),
        },
        "spec": {"containers": [{"name": "agent", "image": "ocaas-sandbox:test"}]},
    }))
    .unwrap();
    c.api::<Pod>(&ns)
        .create(&Default::default(), &pod)
        .await
        .unwrap();
    c.set_ready(&ns, &pod.name_any(), "127.0.0.1").await;
    wait_until("the cut-short claim's pod and volume to go", 30, || async {
        (!has_objects(&c, &ns, &reserved).await).then_some(())
    })
    .await;
    // The instance still has its own storage, and its pod.
    c.api::<PersistentVolumeClaim>(&ns)
        .get(&format!("ocaas-{id}"))
        .await
        .expect("the instance's volume");
    assert_eq!(c.pods_of(&ns, &id).await.len(), 1);
}
