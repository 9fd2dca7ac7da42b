//! Access to the throwaway Kubernetes API server `scripts/k8s/cluster.sh` starts (etcd,
//! kube-apiserver and kube-controller-manager v1.20, **no node and no kubelet**, in a network
//! namespace that has only loopback), fresh namespaces, and the test's stand-in for a kubelet.
//!
//! Without `OCAAS_TEST_KUBECONFIG` the tests skip, loudly; `make test` sets
//! `OCAAS_REQUIRE_K8S=1`, which turns a missing cluster (or missing helm/kubernetes-validate)
//! into a failure.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use orchestrator::settings::{RuntimeKind, Settings};
use serde_json::json;

use crate::helpers::{self, TestApp};

fn required() -> bool {
    std::env::var("OCAAS_REQUIRE_K8S").is_ok_and(|v| v == "1")
}

/// Skip (or, when required, fail) with a note saying why.
pub fn skip(why: &str) {
    assert!(!required(), "OCAAS_REQUIRE_K8S=1 but {why}");
    eprintln!(
        "SKIPPED: {why}; run `make test` (or scripts/k8s/cluster.sh run -- cargo nextest run -p orchestrator --test kubernetes)"
    );
}

pub struct Cluster {
    pub client: Client,
    pub kubeconfig: PathBuf,
}

/// The test cluster, or `None` (skipped).
pub async fn cluster() -> Option<Cluster> {
    let Ok(path) = std::env::var("OCAAS_TEST_KUBECONFIG") else {
        skip("no test cluster (OCAAS_TEST_KUBECONFIG is unset)");
        return None;
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kubeconfig = PathBuf::from(path);
    let client = client_for(&kubeconfig).await;
    Some(Cluster { client, kubeconfig })
}

pub async fn client_for(kubeconfig: &std::path::Path) -> Client {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("kubeconfig loads");
    Client::try_from(config).expect("client")
}

/// A command-line tool from `scripts/k8s/tools.sh` (its env file sets `OCAAS_K8S_<NAME>`),
/// else from `PATH`; `None` (skipped) when missing.
pub fn tool(env: &str, name: &str) -> Option<PathBuf> {
    let found = std::env::var_os(env).map(PathBuf::from).or_else(|| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
    });
    if found.is_none() {
        skip(&format!("{name} is not installed (scripts/k8s/tools.sh)"));
    }
    found
}

impl Cluster {
    /// A fresh namespace, usable for pods (its `default` service account exists: the 1.20
    /// admission plugin refuses pods before).
    pub async fn namespace(&self) -> String {
        let name = format!("t-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        let ns: Namespace = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}
        }))
        .unwrap();
        Api::<Namespace>::all(self.client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .expect("create namespace");
        let sas: Api<ServiceAccount> = Api::namespaced(self.client.clone(), &name);
        wait_until("the namespace's default service account", 30, || async {
            sas.get_opt("default").await.ok().flatten()
        })
        .await;
        name
    }

    pub fn api<K>(&self, ns: &str) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), ns)
    }

    /// Names of the objects of kind `K` labelled with `selector`.
    pub async fn names<K>(&self, ns: &str, selector: &str) -> Vec<String>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
        <K as kube::Resource>::DynamicType: Default,
    {
        let mut names: Vec<String> = self
            .api::<K>(ns)
            .list(&kube::api::ListParams::default().labels(selector))
            .await
            .expect("list")
            .items
            .iter()
            .map(kube::ResourceExt::name_any)
            .collect();
        names.sort();
        names
    }

    /// The instance's pods (name order).
    pub async fn pods_of(&self, ns: &str, instance: &str) -> Vec<Pod> {
        let mut pods = self
            .api::<Pod>(ns)
            .list(
                &kube::api::ListParams::default().labels(&format!("ocaas.dev/instance={instance}")),
            )
            .await
            .expect("list pods")
            .items;
        pods.sort_by_key(kube::ResourceExt::name_any);
        pods
    }

    /// The instance's one pod, once it exists.
    pub async fn pod_of(&self, ns: &str, instance: &str) -> Pod {
        wait_until("the instance's pod", 30, || async {
            let mut pods = self.pods_of(ns, instance).await;
            pods.retain(|p| p.metadata.deletion_timestamp.is_none());
            (pods.len() == 1).then(|| pods.remove(0))
        })
        .await
    }

    /// **The kubelet's stand-in.** No node runs here, so nothing ever starts a pod or probes
    /// it: the test writes the status a kubelet would after the agent's readiness probe
    /// passed (`Running`, `Ready`, a pod IP). `ip` is an address inside the test's
    /// loopback-only network namespace, so nothing the orchestrator does with it can leave
    /// this machine.
    pub async fn set_ready(&self, ns: &str, pod: &str, ip: &str) {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let status = json!({"status": {
            "phase": "Running",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "startTime": now,
            "conditions": [
                {"type": "Initialized", "status": "True", "lastTransitionTime": now},
                {"type": "ContainersReady", "status": "True", "lastTransitionTime": now},
                {"type": "Ready", "status": "True", "lastTransitionTime": now},
            ],
        }});
        self.api::<Pod>(ns)
            .patch_status(pod, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .expect("patch pod status");
    }

    /// What a kubelet reports when a pod's container exited with an error.
    pub async fn set_failed(&self, ns: &str, pod: &str) {
        let status = json!({"status": {"phase": "Failed", "reason": "Error"}});
        self.api::<Pod>(ns)
            .patch_status(pod, &PatchParams::default(), &Patch::Merge(&status))
            .await
            .expect("patch pod status");
    }
}

/// Poll `f` every 50 ms until it yields `Some`, for at most `secs` seconds (a test's own
/// observation of the API; the runtime itself watches).
pub async fn wait_until<T, F, Fut>(what: &str, secs: u64, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(t) = f().await {
            return t;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "waited {secs} s for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Orchestrator settings for the Kubernetes runtime in namespace `ns`. The orchestrator "runs"
/// in the same namespace. `check_agent` is off: no agent answers behind these pods (the
/// relay test turns it on with a real agent).
pub fn settings(c: &Cluster, ns: &str) -> (Settings, tempfile::TempDir) {
    let (mut s, data) = helpers::test_settings();
    s.runtime = RuntimeKind::Kubernetes;
    let k = &mut s.kubernetes;
    k.kubeconfig = Some(c.kubeconfig.clone());
    k.namespace = ns.to_owned();
    k.orchestrator_namespace = Some(ns.to_owned());
    k.image = "ocaas-sandbox:test".into();
    k.sandbox_listen = "127.0.0.1:0".into();
    k.model_upstream_url = "http://127.0.0.1:9".into();
    k.agent_port = free_port();
    k.check_agent = false;
    k.start_timeout_s = 60;
    k.stop_grace_s = 5;
    (s, data)
}

pub async fn spawn(c: &Cluster, ns: &str) -> TestApp {
    let (s, data) = settings(c, ns);
    helpers::spawn_with(s, data).await
}

/// Wait until the instance's status is `status` (up to `secs`).
pub async fn wait_status(app: &TestApp, id: &str, status: &str, secs: u64) -> serde_json::Value {
    let path = format!("/api/instances/{id}/status");
    wait_until(&format!("instance {id} to be {status}"), secs, || async {
        let (_, v) = app.get(&path, helpers::ADMIN_KEY).await;
        (v["status"] == status).then_some(v)
    })
    .await
}
