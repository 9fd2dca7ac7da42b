//! Every manifest the runtime generates is valid for a current Kubernetes (1.33, strict: no
//! unknown fields, right types), not only for the 1.20 test server, which silently drops
//! fields it does not know.

use std::io::Write;
use std::process::{Command, Stdio};

use orchestrator::runtime::SandboxSpec;
use orchestrator::runtime::kubernetes::manifests::{Manifests, Tokens};
use orchestrator::settings::{EgressPolicy, KubernetesSettings};
use uuid::Uuid;

use crate::harness::tool;

/// Validate a stream of manifests with `kubernetes-validate -k 1.33.0 --strict`.
pub fn validate(stream: &str) {
    let Some(validate) = tool("OCAAS_K8S_VALIDATE", "kubernetes-validate") else {
        return;
    };
    let mut child = Command::new(validate)
        .args(["-k", "1.33.0", "--strict", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubernetes-validate runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stream.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "kubernetes-validate failed:\n{text}\n--- input:\n{stream}"
    );
    assert!(!text.contains("ERROR"), "{text}");
}

fn document<T: serde::Serialize>(obj: &T) -> String {
    serde_json::to_string_pretty(obj).unwrap()
}

#[test]
fn every_generated_manifest_is_valid_for_kubernetes_1_33() {
    type Change = Box<dyn Fn(&mut KubernetesSettings)>;
    let variants: Vec<(&str, Change)> = vec![
        ("defaults", Box::new(|_| {})),
        (
            "everything set",
            Box::new(|s| {
                s.egress = EgressPolicy::Internet;
                s.runtime_class = "gvisor".into();
                s.image_pull_secrets = "one, two".into();
                s.node_selector = "ocaas.dev/sandboxes=true".into();
                s.storage_class = "fast".into();
            }),
        ),
        (
            "sparse",
            Box::new(|s| {
                s.dns_pod_selector = String::new();
                s.cpu_limit = String::new();
                s.cpu_request = String::new();
                s.memory_request = String::new();
                s.openclaw_dir = String::new();
            }),
        ),
    ];
    let mut docs = Vec::new();
    for (name, change) in variants {
        let mut s = KubernetesSettings::default();
        change(&mut s);
        for orchestrator_ns in ["ocaas", s.namespace.clone().as_str()] {
            let m =
                Manifests::new(&s, orchestrator_ns, 8081).unwrap_or_else(|e| panic!("{name}: {e}"));
            let instance = Uuid::new_v4();
            let volume = m.storage(instance);
            let owner = k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                api_version: "v1".into(),
                kind: "PersistentVolumeClaim".into(),
                name: volume.metadata.name.clone().unwrap(),
                uid: Uuid::new_v4().to_string(),
                controller: Some(true),
                ..Default::default()
            };
            let tokens = Tokens {
                agent: "a".repeat(64),
                model: "b".repeat(88),
            };
            docs.push(document(&volume));
            docs.push(document(&m.secret(instance, &tokens, &owner)));
            docs.push(document(&m.network_policy(instance, &owner)));
            for desktop in [false, true] {
                let spec = SandboxSpec {
                    instance_id: instance,
                    sandbox_id: orchestrator::runtime::new_sandbox_id(),
                    desktop,
                };
                docs.push(document(&m.pod(&spec, &owner)));
                if !desktop {
                    docs.push(document(&m.mover_pod(&spec, &owner)));
                }
            }
        }
    }
    validate(&docs.join("\n---\n"));
}
