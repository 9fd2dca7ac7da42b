//! The Helm chart (`charts/ocaas`): it lints, renders manifests valid for Kubernetes 1.33 with
//! the default and a production-like configuration, installs on the test API server, and the
//! Role it grants is exactly enough for the runtime.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, Secret, ServiceAccount};
use kube::Api;
use orchestrator::crypto::Cipher;
use orchestrator::runtime::kubernetes::KubernetesRuntime;
use orchestrator::runtime::{ModelAnswer, ModelService, Runtime, SandboxSpec};
use uuid::Uuid;

use crate::harness::{self, cluster, tool, wait_until};

fn chart() -> PathBuf {
    // Read when the test runs: a binary reused from a checkout elsewhere must not test that
    // checkout's chart.
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).into(),
            PathBuf::from,
        )
        .join("../charts/ocaas")
}

fn production_values() -> PathBuf {
    chart().join("ci/production-values.yaml")
}

/// Run helm; panics with its output unless it succeeds. Returns stdout.
fn helm(helm: &Path, args: &[&str]) -> String {
    let out = Command::new(helm).args(args).output().expect("helm runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "helm {args:?} failed:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn the_chart_lints_and_renders_valid_manifests() {
    let Some(bin) = tool("OCAAS_K8S_HELM", "helm") else {
        return;
    };
    let chart = chart();
    let chart = chart.to_str().unwrap();
    let prod = production_values();
    let prod = prod.to_str().unwrap();
    helm(&bin, &["lint", "--strict", chart]);
    helm(&bin, &["lint", "--strict", chart, "-f", prod]);
    for extra in [&[][..], &["-f", prod][..]] {
        let mut args = vec!["template", "ocaas", chart, "--namespace", "ocaas"];
        args.extend_from_slice(extra);
        let rendered = helm(&bin, &args);
        crate::manifests::validate(&rendered);
    }
    // The production values: replicas on PostgreSQL, no data volume, an Ingress, the
    // sandboxes' settings passed through.
    let rendered = helm(
        &bin,
        &["template", "ocaas", chart, "-n", "ocaas", "-f", prod],
    );
    assert!(rendered.contains("replicas: 2"));
    assert!(!rendered.contains("kind: PersistentVolumeClaim"));
    assert!(rendered.contains("kind: Ingress"));
    assert!(rendered.contains("OCAAS_KUBERNETES__RUNTIME_CLASS: \"gvisor\""));
    assert!(rendered.contains("OCAAS_KUBERNETES__EGRESS: \"internet\""));
    // Several replicas on SQLite are refused.
    let out = Command::new(&bin)
        .args(["template", "ocaas", chart, "--set", "replicaCount=2"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("database.url"));
    // The schema rejects what the runtime would refuse later.
    let out = Command::new(&bin)
        .args([
            "template",
            "ocaas",
            chart,
            "--set",
            "sandboxes.egress=anywhere",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

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
        unreachable!("no model calls in this test")
    }
}

#[tokio::test]
async fn the_chart_installs_and_its_role_is_exactly_enough_for_the_runtime() {
    let Some(c) = cluster().await else { return };
    let Some(bin) = tool("OCAAS_K8S_HELM", "helm") else {
        return;
    };
    let release_ns = format!("ocaas-{}", &Uuid::new_v4().simple().to_string()[..8]);
    let sandbox_ns = format!("{release_ns}-sandboxes");
    let chart = chart();
    helm(
        &bin,
        &[
            "install",
            "ocaas",
            chart.to_str().unwrap(),
            "--namespace",
            &release_ns,
            "--create-namespace",
            "--kubeconfig",
            c.kubeconfig.to_str().unwrap(),
        ],
    );

    // The service account's token (1.20 makes a token secret for it).
    let sas: Api<ServiceAccount> = Api::namespaced(c.client.clone(), &release_ns);
    let token_secret = wait_until("the service account's token", 30, || async {
        let sa = sas.get_opt("ocaas").await.unwrap()?;
        sa.secrets?.into_iter().find_map(|s| s.name)
    })
    .await;
    let secret = Api::<Secret>::namespaced(c.client.clone(), &release_ns)
        .get(&token_secret)
        .await
        .unwrap();
    let token = String::from_utf8(secret.data.unwrap()["token"].0.clone()).unwrap();
    let ca = std::env::var("OCAAS_TEST_K8S_CA_FILE").expect("cluster.sh sets the CA file");
    let server = std::env::var("OCAAS_TEST_K8S_SERVER").expect("cluster.sh sets the server");
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\n    certificate-authority: {ca}\nusers:\n- name: ocaas\n  user:\n    token: {token}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: ocaas\ncurrent-context: c\n"
        ),
    )
    .unwrap();

    // The runtime as the chart's service account: a whole sandbox lifecycle.
    let (mut settings, data) = harness::settings(&c, &sandbox_ns);
    settings.kubernetes.kubeconfig = Some(kubeconfig.clone());
    settings.kubernetes.orchestrator_namespace = Some(release_ns.clone());
    let cipher = Cipher::load_or_create(None, data.path()).unwrap();
    let runtime = KubernetesRuntime::new(
        &settings.kubernetes,
        Arc::new(NoModel),
        &cipher,
        &prometheus::Registry::new(),
    )
    .await
    .expect("the runtime starts with the chart's service account");
    // 1.20 wants the namespace's default service account before it admits pods.
    let default_sa: Api<ServiceAccount> = Api::namespaced(c.client.clone(), &sandbox_ns);
    wait_until(
        "the sandbox namespace's default service account",
        30,
        || async { default_sa.get_opt("default").await.ok().flatten() },
    )
    .await;
    let spec = SandboxSpec {
        instance_id: Uuid::new_v4(),
        sandbox_id: orchestrator::runtime::new_sandbox_id(),
        desktop: false,
    };
    let pod = format!("ocaas-{}", spec.sandbox_id);
    let ready = async {
        wait_until("the pod", 30, || async {
            c.api::<Pod>(&sandbox_ns).get_opt(&pod).await.unwrap()
        })
        .await;
        c.set_ready(&sandbox_ns, &pod, "127.0.0.1").await;
    };
    let (started, ()) = tokio::join!(runtime.start(&spec), ready);
    started.expect("starts under the chart's Role");
    assert_eq!(runtime.list().await.unwrap().len(), 1);
    runtime.stop(&spec.sandbox_id).await.unwrap();
    runtime.delete_storage(spec.instance_id).await.unwrap();

    // The warm pool's part: a pooled pod for a reserved id, claimed (labels patched), and one
    // discarded with its objects.
    for claimed in [true, false] {
        let reserved = Uuid::new_v4();
        let sandbox = orchestrator::runtime::new_sandbox_id();
        let pod = format!("ocaas-{sandbox}");
        let ready = async {
            wait_until("the pooled pod", 30, || async {
                c.api::<Pod>(&sandbox_ns).get_opt(&pod).await.unwrap()
            })
            .await;
            c.set_ready(&sandbox_ns, &pod, "127.0.0.1").await;
        };
        let (started, ()) = tokio::join!(runtime.start_pooled(&sandbox, Some(reserved)), ready);
        started.expect("a pooled pod starts under the chart's Role");
        assert_eq!(runtime.list_pooled().await.len(), 1);
        if claimed {
            wait_until("the watch to see the pod ready", 10, || async {
                runtime.find(&sandbox).await
            })
            .await;
            runtime
                .claim(&sandbox, reserved)
                .await
                .expect("claims under the chart's Role");
            assert!(runtime.list_pooled().await.is_empty());
            runtime.stop(&sandbox).await.unwrap();
            runtime.delete_storage(reserved).await.unwrap();
        } else {
            runtime
                .discard_pooled(&sandbox, Some(reserved), false)
                .await
                .expect("discards under the chart's Role");
            assert!(runtime.list_pooled().await.is_empty());
        }
    }

    // Nothing beyond it: not the release namespace's secrets, not other namespaces.
    let sa_client = harness::client_for(&kubeconfig).await;
    for ns in [release_ns.as_str(), "default", "kube-system"] {
        let err = Api::<Secret>::namespaced(sa_client.clone(), ns)
            .list(&Default::default())
            .await
            .expect_err("forbidden");
        assert!(
            matches!(err, kube::Error::Api(ref s) if s.code == 403),
            "{ns}: {err}"
        );
    }
    let err = Api::<Pod>::namespaced(sa_client.clone(), &sandbox_ns)
        .patch_status(
            &pod,
            &Default::default(),
            &kube::api::Patch::Merge(serde_json::json!({})),
        )
        .await
        .expect_err("no pod status writes");
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 403),
        "{err}"
    );

    // What the chart made is there.
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(c.client.clone(), &release_ns);
    let d = deployments.get("ocaas").await.unwrap();
    assert_eq!(d.spec.unwrap().replicas, Some(1));
    let policies = c
        .names::<k8s_openapi::api::networking::v1::NetworkPolicy>(
            &sandbox_ns,
            "app.kubernetes.io/instance=ocaas",
        )
        .await;
    assert_eq!(policies, ["ocaas-default-deny", "ocaas-sandbox-baseline"]);
}
