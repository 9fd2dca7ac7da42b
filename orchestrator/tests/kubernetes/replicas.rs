//! Several orchestrators against one cluster: two replicas racing to start the same sandbox
//! create one pod (deterministic names, create-if-absent), and an orchestrator that crashed is
//! replaced by one that adopts what exists — ready and still-pending pods — without
//! duplicates, and removes pods no instance owns.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Secret};
use kube::ResourceExt;
use orchestrator::crypto::Cipher;
use orchestrator::runtime::kubernetes::KubernetesRuntime;
use orchestrator::runtime::{ModelAnswer, ModelService, Runtime, SandboxSpec};
use orchestrator::settings::{KubernetesSettings, Secret as SecretValue};
use serde_json::json;
use uuid::Uuid;

use crate::harness::{self, Cluster, cluster, free_port, wait_until};
use crate::helpers::ADMIN_KEY;

/// Model calls are not what these tests are about.
struct NoModel;

impl ModelService for NoModel {
    fn serve(
        self: Arc<Self>,
        _: orchestrator::runtime::ModelCaller,
        _: tokio::net::UnixListener,
    ) -> tokio::task::AbortHandle {
        tokio::spawn(async {}).abort_handle()
    }

    fn call(self: Arc<Self>, _: Uuid, _: hyper::Request<hyper::body::Incoming>) -> ModelAnswer {
        unreachable!("no model calls in these tests")
    }
}

/// One "replica": a runtime of its own, with the replicas' shared settings and secret key.
async fn replica(settings: &KubernetesSettings, key: &str) -> KubernetesRuntime {
    let dir = tempfile::tempdir().unwrap();
    let cipher = Cipher::load_or_create(Some(&SecretValue::new(key)), dir.path()).unwrap();
    KubernetesRuntime::new(
        settings,
        Arc::new(NoModel),
        &cipher,
        &prometheus::Registry::new(),
    )
    .await
    .expect("runtime starts")
}

#[tokio::test]
async fn two_replicas_racing_create_one_pod_and_one_set_of_tokens() {
    let Some(c) = cluster().await else { return };
    let ns = c.namespace().await;
    let key = "7f".repeat(32);
    let (settings, _data) = harness::settings(&c, &ns);
    let k = &settings.kubernetes;
    let (a, b) = tokio::join!(replica(k, &key), replica(k, &key));
    let spec = SandboxSpec {
        instance_id: Uuid::new_v4(),
        sandbox_id: orchestrator::runtime::new_sandbox_id(),
        desktop: false,
    };
    let pod_name = format!("ocaas-{}", spec.sandbox_id);
    // Both start the same sandbox at once (each call also creates the volume, the secret and
    // the policy); the pod becomes ready once, and both see the same endpoint.
    let ready = async {
        wait_until("the pod", 30, || async {
            c.api::<Pod>(&ns).get_opt(&pod_name).await.unwrap()
        })
        .await;
        c.set_ready(&ns, &pod_name, "127.0.0.1").await;
    };
    let (ra, rb, ()) = tokio::join!(a.start(&spec), b.start(&spec), ready);
    let (ea, eb) = (ra.expect("replica a starts"), rb.expect("replica b starts"));
    assert_eq!(ea.addr, eb.addr);
    assert_eq!(ea.token, eb.token, "one secret, one agent token");

    let selector = format!("ocaas.dev/instance={}", spec.instance_id);
    assert_eq!(c.names::<Pod>(&ns, &selector).await, [pod_name]);
    assert_eq!(
        c.names::<PersistentVolumeClaim>(&ns, &selector).await.len(),
        1
    );
    assert_eq!(c.names::<Secret>(&ns, &selector).await.len(), 1);

    // Each replica sees the other's sandbox (relays work on any replica) and its exit.
    assert_eq!(
        b.find(&spec.sandbox_id).await.map(|e| e.addr),
        Some(ea.addr)
    );
    let sandbox_id = spec.sandbox_id.clone();
    let exit = tokio::spawn(async move { b.wait_exit(&sandbox_id).await });
    a.stop(&spec.sandbox_id).await.unwrap();
    let reason = tokio::time::timeout(std::time::Duration::from_secs(10), exit)
        .await
        .expect("replica b sees the pod go")
        .unwrap();
    assert!(reason.contains("pod"), "{reason}");
}

/// The real orchestrator binary, with the Kubernetes runtime, on a fixed port.
pub(crate) struct Orchestrator {
    child: Child,
    base: String,
}

impl Orchestrator {
    pub(crate) fn start(
        c: &Cluster,
        ns: &str,
        data: &std::path::Path,
        agent_port: u16,
    ) -> Orchestrator {
        Orchestrator::start_with(c, ns, data, agent_port, &[])
    }

    /// With more settings (`OCAAS_*` variables), e.g. a shared database.
    pub(crate) fn start_with(
        c: &Cluster,
        ns: &str,
        data: &std::path::Path,
        agent_port: u16,
        env: &[(&str, &str)],
    ) -> Orchestrator {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_orchestrator"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("OCAAS_LISTEN", format!("127.0.0.1:{port}"))
            .env("OCAAS_DATA_DIR", data)
            .env("OCAAS_BOOTSTRAP_API_KEY", ADMIN_KEY)
            .env("OCAAS_LOG_LEVEL", "warn")
            .env("OCAAS_RUNTIME", "kubernetes")
            .env("OCAAS_KUBERNETES__KUBECONFIG", &c.kubeconfig)
            .env("OCAAS_KUBERNETES__NAMESPACE", ns)
            .env("OCAAS_KUBERNETES__ORCHESTRATOR_NAMESPACE", ns)
            .env("OCAAS_KUBERNETES__SANDBOX_LISTEN", "127.0.0.1:0")
            .env("OCAAS_KUBERNETES__MODEL_UPSTREAM_URL", "http://127.0.0.1:9")
            .env("OCAAS_KUBERNETES__AGENT_PORT", agent_port.to_string())
            .env("OCAAS_KUBERNETES__CHECK_AGENT", "false")
            .env("OCAAS_KUBERNETES__START_TIMEOUT_S", "60")
            .env("OCAAS_KUBERNETES__STOP_GRACE_S", "5")
            // No warm pool unless a test asks for one.
            .env("OCAAS_POOL__SIZE", "0")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .spawn()
            .expect("orchestrator starts");
        Orchestrator {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    pub(crate) async fn call(&self, method: &str, path: &str) -> (u16, serde_json::Value) {
        let resp = reqwest::Client::new()
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .bearer_auth(ADMIN_KEY)
            .json(&json!({}))
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or_default())
    }

    pub(crate) async fn up(&self) {
        wait_until("the orchestrator to listen", 30, || async {
            reqwest::get(format!("{}/healthz", self.base)).await.ok()
        })
        .await;
    }

    pub(crate) async fn status(&self, id: &str) -> serde_json::Value {
        self.call("GET", &format!("/api/instances/{id}/status"))
            .await
            .1
    }

    pub(crate) async fn wait_status(&self, id: &str, status: &str) -> serde_json::Value {
        wait_until(&format!("instance {id} to be {status}"), 20, || async {
            let v = self.status(id).await;
            (v["status"] == status).then_some(v)
        })
        .await
    }

    /// `kill -9`: no graceful anything.
    pub(crate) fn crash(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Orchestrator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_restarted_orchestrator_adopts_pods_without_duplicates_and_removes_orphans() {
    let Some(c) = cluster().await else { return };
    let ns = c.namespace().await;
    let data = tempfile::tempdir().unwrap();
    let agent_port = free_port();
    let first = Orchestrator::start(&c, &ns, data.path(), agent_port);
    first.up().await;

    // One ready instance, one still coming up when the orchestrator dies.
    let (s, v) = first.call("POST", "/api/instances").await;
    assert_eq!(s, 201, "{v}");
    let ready_id = v["id"].as_str().unwrap().to_owned();
    let ready_pod = c.pod_of(&ns, &ready_id).await.name_any();
    c.set_ready(&ns, &ready_pod, "127.0.0.1").await;
    first.wait_status(&ready_id, "ready").await;
    let (_, v) = first.call("POST", "/api/instances").await;
    let pending_id = v["id"].as_str().unwrap().to_owned();
    let pending_pod = c.pod_of(&ns, &pending_id).await.name_any();
    first.crash();

    // A pod no instance owns (say, left by a crash between creating it and recording it).
    let orphan: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "ocaas-sandy-0rphan000000", "labels": {
            "app.kubernetes.io/managed-by": "ocaas",
            "ocaas.dev/instance": Uuid::new_v4().to_string(),
            "ocaas.dev/sandbox": "sandy-0rphan000000"}},
        "spec": {"containers": [{"name": "agent", "image": "ocaas-sandbox:test"}]}
    }))
    .unwrap();
    c.api::<Pod>(&ns)
        .create(&Default::default(), &orphan)
        .await
        .unwrap();

    let second = Orchestrator::start(&c, &ns, data.path(), agent_port);
    second.up().await;
    // The pending pod becomes ready while the new orchestrator waits for it.
    c.set_ready(&ns, &pending_pod, "127.0.0.1").await;
    let v = second.wait_status(&pending_id, "ready").await;
    assert_eq!(
        v["sandbox_id"].as_str().map(|s| format!("ocaas-{s}")),
        Some(pending_pod.clone())
    );
    let v = second.wait_status(&ready_id, "ready").await;
    assert_eq!(
        v["sandbox_id"].as_str().map(|s| format!("ocaas-{s}")),
        Some(ready_pod.clone())
    );
    // The same pods, no others; the orphan is gone.
    wait_until("the orphan to be removed", 20, || async {
        let mut all = c
            .names::<Pod>(&ns, "app.kubernetes.io/managed-by=ocaas")
            .await;
        all.sort();
        let mut want = vec![ready_pod.clone(), pending_pod.clone()];
        want.sort();
        (all == want).then_some(())
    })
    .await;
    // Neither went through a restart.
    for id in [&ready_id, &pending_id] {
        let v = second.status(id).await;
        let restarted = v["transitions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["to"] == "failed" || t["to"] == "starting");
        assert!(!restarted, "{v}");
    }
}

/// Two replicas on one database reboot the same instance at the same moment: the instance's
/// lease orders their work, and whichever sandbox ends up current is the only pod left.
#[tokio::test]
async fn two_replicas_rebooting_one_instance_at_once_leave_one_pod() {
    let Some(c) = cluster().await else { return };
    let Some(url) = crate::helpers::fresh_postgres_url().await else {
        return;
    };
    let ns = c.namespace().await;
    let key = SecretValue::new("3c".repeat(32));
    let (mut a_settings, a_data) = harness::settings(&c, &ns);
    a_settings.database_url = Some(SecretValue::new(url.clone()));
    a_settings.secret_key = Some(key.clone());
    let (mut b_settings, b_data) = harness::settings(&c, &ns);
    b_settings.database_url = Some(SecretValue::new(url));
    b_settings.secret_key = Some(key);
    b_settings.kubernetes.agent_port = a_settings.kubernetes.agent_port;
    let a = crate::helpers::spawn_with(a_settings, a_data).await;
    let b = crate::helpers::spawn_with(b_settings, b_data).await;

    let id = a.create_instance(ADMIN_KEY).await;
    let pod = c.pod_of(&ns, &id).await;
    c.set_ready(&ns, &pod.name_any(), "127.0.0.1").await;
    harness::wait_status(&a, &id, "ready", 15).await;

    let path = format!("/api/instances/{id}/reboot");
    let ((sa, va), (sb, vb)) = tokio::join!(
        a.post(&path, ADMIN_KEY, json!({})),
        b.post(&path, ADMIN_KEY, json!({}))
    );
    assert!(matches!(sa, 200 | 202), "{va}");
    assert!(matches!(sb, 200 | 202), "{vb}");

    // Play the kubelet for every new pod, until the instance is ready on its current sandbox
    // and that sandbox's pod is the instance's only one.
    let status = format!("/api/instances/{id}/status");
    let only_current = || async {
        let mut pods = c.pods_of(&ns, &id).await;
        pods.retain(|p| p.metadata.deletion_timestamp.is_none());
        for p in &pods {
            let ready = p.status.as_ref().and_then(|s| s.pod_ip.as_ref()).is_some();
            if !ready {
                c.set_ready(&ns, &p.name_any(), "127.0.0.1").await;
            }
        }
        let (_, v) = a.get(&status, ADMIN_KEY).await;
        let current = format!("ocaas-{}", v["sandbox_id"].as_str().unwrap_or_default());
        let names: Vec<String> = pods.iter().map(|p| p.name_any()).collect();
        (v["status"] == "ready" && names == [current]).then_some(())
    };
    wait_until("one pod, the current sandbox's, ready", 60, only_current).await;
    // No late pod from the replica that went second.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let mut pods = c.pods_of(&ns, &id).await;
    pods.retain(|p| p.metadata.deletion_timestamp.is_none());
    assert_eq!(
        pods.len(),
        1,
        "{:?}",
        pods.iter().map(|p| p.name_any()).collect::<Vec<_>>()
    );
}

/// A replica that dies leaves its instances to the others: one whose pod then dies is noticed
/// and restarted by a surviving replica (its periodic check of instances it does not start).
#[tokio::test]
async fn when_a_replica_dies_another_restarts_its_instances() {
    let Some(c) = cluster().await else { return };
    let Some(url) = crate::helpers::fresh_postgres_url().await else {
        return;
    };
    let ns = c.namespace().await;
    let agent_port = free_port();
    let key = "4d".repeat(32);
    let env = [
        ("OCAAS_DATABASE_URL", url.as_str()),
        ("OCAAS_SECRET_KEY", key.as_str()),
    ];
    let (a_data, b_data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Orchestrator::start_with(&c, &ns, a_data.path(), agent_port, &env);
    a.up().await;
    let b = Orchestrator::start_with(&c, &ns, b_data.path(), agent_port, &env);
    b.up().await;

    let (s, v) = a.call("POST", "/api/instances").await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    let pod = c.pod_of(&ns, &id).await.name_any();
    c.set_ready(&ns, &pod, "127.0.0.1").await;
    a.wait_status(&id, "ready").await;

    // A dies; then the instance's pod dies too, with nobody from A to notice.
    a.crash();
    c.api::<Pod>(&ns)
        .delete(&pod, &Default::default())
        .await
        .unwrap();
    let replacement = wait_until(
        "a replacement pod from the surviving replica",
        40,
        || async {
            c.pods_of(&ns, &id)
                .await
                .into_iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .map(|p| p.name_any())
                .find(|name| *name != pod)
        },
    )
    .await;
    c.set_ready(&ns, &replacement, "127.0.0.1").await;
    let v = b.wait_status(&id, "ready").await;
    assert_eq!(
        v["sandbox_id"].as_str().map(|s| format!("ocaas-{s}")),
        Some(replacement)
    );
}
