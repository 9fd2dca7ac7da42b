//! An instance's life on Kubernetes, through the orchestrator's API: the objects it creates,
//! readiness from the pod's status, repair after a pod is deleted behind its back, shutdown,
//! start and delete. Pods are made "ready" by the test (`Cluster::set_ready`, the kubelet's
//! stand-in), so `ready` here means: the runtime saw the watched pod become ready; no agent
//! answers behind it (`kubernetes.check_agent` is off, see `relay.rs` for a real one).

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Secret};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::ResourceExt;
use serde_json::json;

use crate::harness::{self, cluster, wait_status, wait_until};
use crate::helpers::ADMIN_KEY;

#[tokio::test]
async fn create_makes_volume_secret_policy_and_a_restricted_pod() {
    let Some(c) = cluster().await else { return };
    let ns = c.namespace().await;
    let (mut settings, data) = harness::settings(&c, &ns);
    settings.kubernetes.cpu_request = "300m".into();
    settings.kubernetes.memory_limit = "3Gi".into();
    settings.kubernetes.storage_size = "7Gi".into();
    let agent_port = settings.kubernetes.agent_port;
    let app = crate::helpers::spawn_with(settings, data).await;
    let (s, v) = app
        .post("/api/instances", ADMIN_KEY, json!({"desktop": true}))
        .await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    assert_eq!(v["status"], "provisioning");

    let pod = c.pod_of(&ns, &id).await;
    let sandbox_id = pod.labels()["ocaas.dev/sandbox"].clone();
    assert_eq!(pod.name_any(), format!("ocaas-{sandbox_id}"));
    assert_eq!(pod.labels()["app.kubernetes.io/managed-by"], "ocaas");
    let owner = &pod.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("PersistentVolumeClaim", format!("ocaas-{id}").as_str())
    );
    let spec = pod.spec.as_ref().unwrap();
    assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
    assert_eq!(spec.automount_service_account_token, Some(false));
    let psc = spec.security_context.as_ref().unwrap();
    assert_eq!(psc.run_as_non_root, Some(true));
    assert_eq!(psc.run_as_user, Some(10001));
    assert_eq!(
        psc.seccomp_profile.as_ref().unwrap().type_,
        "RuntimeDefault"
    );
    let agent = &spec.containers[0];
    let sc = agent.security_context.as_ref().unwrap();
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(
        sc.capabilities.as_ref().unwrap().drop.as_deref(),
        Some(&["ALL".to_owned()][..])
    );
    let args = agent.args.as_ref().unwrap();
    assert!(
        args.contains(&format!("tcp:0.0.0.0:{agent_port}")),
        "{args:?}"
    );
    assert!(args.contains(&"--desktop".to_owned()), "{args:?}");
    let readiness = agent.readiness_probe.as_ref().unwrap();
    assert_eq!(
        readiness.http_get.as_ref().unwrap().path.as_deref(),
        Some("/health")
    );
    let resources = agent.resources.as_ref().unwrap();
    assert_eq!(resources.requests.as_ref().unwrap()["cpu"].0, "300m");
    assert_eq!(resources.limits.as_ref().unwrap()["memory"].0, "3Gi");
    // Tokens: a secret volume in the init container only, never an environment variable.
    for container in spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
    {
        for e in container.env.iter().flatten() {
            assert!(e.value_from.is_none() && !e.name.contains("TOKEN"), "{e:?}");
        }
        assert!(container.env_from.is_none());
    }
    assert!(
        !agent
            .volume_mounts
            .iter()
            .flatten()
            .any(|m| m.name == "tokens")
    );

    let volume = c
        .api::<PersistentVolumeClaim>(&ns)
        .get(&format!("ocaas-{id}"))
        .await
        .unwrap();
    let requests = volume.spec.unwrap().resources.unwrap().requests.unwrap();
    assert_eq!(requests["storage"].0, "7Gi");

    let secret = c
        .api::<Secret>(&ns)
        .get(&format!("ocaas-{id}-tokens"))
        .await
        .unwrap();
    let data = secret.data.unwrap();
    assert_eq!(data["agent-token"].0.len(), 64);
    assert!(!data["model-token"].0.is_empty());

    let policy = c
        .api::<NetworkPolicy>(&ns)
        .get(&format!("ocaas-{id}"))
        .await
        .unwrap()
        .spec
        .unwrap();
    assert_eq!(
        policy.policy_types.as_deref(),
        Some(&["Ingress".to_owned(), "Egress".to_owned()][..])
    );
    let from = &policy.ingress.unwrap()[0];
    let peer = &from.from.as_ref().unwrap()[0];
    assert_eq!(
        peer.pod_selector
            .as_ref()
            .unwrap()
            .match_labels
            .as_ref()
            .unwrap()["app.kubernetes.io/component"],
        "orchestrator"
    );
    assert_eq!(from.ports.as_ref().unwrap().len(), 1);

    // Still coming up: no kubelet has made the pod ready.
    let (_, v) = app
        .get(&format!("/api/instances/{id}/status"), ADMIN_KEY)
        .await;
    assert_eq!(v["status"], "provisioning");
    c.set_ready(&ns, &pod.name_any(), "127.0.0.1").await;
    let v = wait_status(&app, &id, "ready", 10).await;
    assert_eq!(v["sandbox_id"], sandbox_id.as_str());
}

#[tokio::test]
async fn a_pod_deleted_behind_our_back_is_reported_and_replaced() {
    let Some(c) = cluster().await else { return };
    let ns = c.namespace().await;
    let app = harness::spawn(&c, &ns).await;
    let id = app.create_instance(ADMIN_KEY).await;
    let first = c.pod_of(&ns, &id).await;
    c.set_ready(&ns, &first.name_any(), "127.0.0.1").await;
    wait_status(&app, &id, "ready", 10).await;

    c.api::<Pod>(&ns)
        .delete(&first.name_any(), &Default::default())
        .await
        .unwrap();
    // A new sandbox (new pod name) after the supervisor's back-off.
    let second = wait_until("a replacement pod", 20, || async {
        let pods = c.pods_of(&ns, &id).await;
        pods.into_iter().find(|p| p.name_any() != first.name_any())
    })
    .await;
    c.set_ready(&ns, &second.name_any(), "127.0.0.1").await;
    let v = wait_status(&app, &id, "ready", 10).await;
    assert_eq!(
        v["sandbox_id"],
        second.labels()["ocaas.dev/sandbox"].as_str()
    );
    let failed = v["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["to"] == "failed")
        .unwrap_or_else(|| panic!("no failure recorded: {v}"));
    assert!(
        failed["reason"].as_str().unwrap().contains("pod"),
        "{failed}"
    );
    assert_eq!(c.pods_of(&ns, &id).await.len(), 1);
}

#[tokio::test]
async fn shutdown_keeps_the_volume_and_delete_leaves_nothing() {
    let Some(c) = cluster().await else { return };
    let ns = c.namespace().await;
    let app = harness::spawn(&c, &ns).await;
    let id = app.create_instance(ADMIN_KEY).await;
    let pod = c.pod_of(&ns, &id).await;
    c.set_ready(&ns, &pod.name_any(), "127.0.0.1").await;
    wait_status(&app, &id, "ready", 10).await;
    let selector = format!("ocaas.dev/instance={id}");

    let (s, v) = app
        .post(
            &format!("/api/instances/{id}/shutdown"),
            ADMIN_KEY,
            json!({}),
        )
        .await;
    assert_eq!(s, 202, "{v}");
    wait_status(&app, &id, "stopped", 15).await;
    assert!(c.pods_of(&ns, &id).await.is_empty());
    assert_eq!(
        c.names::<PersistentVolumeClaim>(&ns, &selector).await,
        [format!("ocaas-{id}")]
    );
    assert_eq!(c.names::<Secret>(&ns, &selector).await.len(), 1);
    assert_eq!(c.names::<NetworkPolicy>(&ns, &selector).await.len(), 1);

    // Started again: a new pod on the same volume.
    let (s, _) = app
        .post(&format!("/api/instances/{id}/start"), ADMIN_KEY, json!({}))
        .await;
    assert_eq!(s, 202);
    let again = c.pod_of(&ns, &id).await;
    assert_ne!(again.name_any(), pod.name_any());
    c.set_ready(&ns, &again.name_any(), "127.0.0.1").await;
    wait_status(&app, &id, "ready", 10).await;

    let (s, _) = app
        .call(
            "DELETE",
            &format!("/api/instances/{id}"),
            Some(ADMIN_KEY),
            None,
        )
        .await;
    assert_eq!(s, 204);
    // The volume's protection finalizer is lifted by the controller manager once no pod
    // uses it.
    wait_until("every object of the instance to be gone", 30, || async {
        let left = [
            c.names::<Pod>(&ns, &selector).await,
            c.names::<PersistentVolumeClaim>(&ns, &selector).await,
            c.names::<Secret>(&ns, &selector).await,
            c.names::<NetworkPolicy>(&ns, &selector).await,
        ]
        .concat();
        left.is_empty().then_some(())
    })
    .await;
}

#[tokio::test]
async fn the_reconciler_restores_a_deleted_or_loosened_network_policy() {
    let Some(c) = cluster().await else { return };
    let ns = c.namespace().await;
    let app = harness::spawn(&c, &ns).await;
    let id = app.create_instance(ADMIN_KEY).await;
    c.pod_of(&ns, &id).await;
    let policies = c.api::<NetworkPolicy>(&ns);
    let name = format!("ocaas-{id}");
    let original = policies.get(&name).await.unwrap().spec;

    policies.delete(&name, &Default::default()).await.unwrap();
    wait_until("the policy to come back", 15, || async {
        policies
            .get_opt(&name)
            .await
            .unwrap()
            .filter(|p| p.spec == original)
    })
    .await;

    // Someone opens it to everything (a JSON merge patch by another field manager).
    let open = json!({"spec": {"ingress": [{}], "egress": [{}]}});
    policies
        .patch(
            &name,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&open),
        )
        .await
        .unwrap();
    wait_until("the policy to be closed again", 15, || async {
        policies
            .get_opt(&name)
            .await
            .unwrap()
            .filter(|p| p.spec == original)
    })
    .await;
}
