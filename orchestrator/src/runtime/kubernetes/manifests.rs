//! The Kubernetes objects of one instance, as pure functions of the settings and the ids.
//!
//! Per instance, in the sandbox namespace, all labelled `app.kubernetes.io/managed-by=ocaas`
//! and `ocaas.dev/instance=<id>`:
//! - `PersistentVolumeClaim ocaas-<instance>`: the instance's storage (`/workspace` and the
//!   agent's `/state`). It is the instance's anchor: every other object below names it as its
//!   owner, so deleting it garbage-collects the rest.
//! - `Secret ocaas-<instance>-tokens`: the agent token (the orchestrator's key to the agent)
//!   and the model token (the sandbox's key to the orchestrator's model endpoint). Mounted only
//!   into the pod's init container, which copies them to a memory volume where the agent reads
//!   and deletes them; never in an environment variable.
//! - `NetworkPolicy ocaas-<instance>`: ingress only from orchestrator pods to the agent port;
//!   egress only to the orchestrator's sandbox port and cluster DNS (plus public addresses when
//!   `kubernetes.egress = "internet"`).
//! - `Pod ocaas-<sandbox id>`: one per sandbox (a fresh sandbox id on every start), so the name
//!   is deterministic and two orchestrators starting the same sandbox create one pod.
//!
//! A warm-pool pod (`kubernetes` pools, see `instances/pool.rs`) is started for an instance id
//! reserved in advance, with exactly these objects; its pod and volume also carry
//! `ocaas.dev/pool=warm` until an instance claims them (the claim removes the label, nothing
//! else changes). Pooled pods are never the sandbox of an instance in the runtime's listings.
//!
//! **Invariant:** only fields a 1.20 API server knows are used (the test server is 1.20 and
//! silently drops newer ones); `kubernetes-validate --strict` checks them against 1.33 too.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, HTTPGetAction,
    LocalObjectReference, PersistentVolumeClaim, PersistentVolumeClaimSpec,
    PersistentVolumeClaimVolumeSource, Pod, PodSecurityContext, PodSpec, Probe,
    ResourceRequirements, SeccompProfile, Secret, SecretVolumeSource, SecurityContext, Volume,
    VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use uuid::Uuid;

use crate::runtime::SandboxSpec;
use crate::settings::{EgressPolicy, KubernetesSettings};

/// `app.kubernetes.io/managed-by` on everything the runtime creates; also its field manager.
pub const MANAGER: &str = "ocaas";
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Selects every object the runtime manages.
pub const MANAGED_SELECTOR: &str = "app.kubernetes.io/managed-by=ocaas";
pub const INSTANCE_LABEL: &str = "ocaas.dev/instance";
pub const SANDBOX_LABEL: &str = "ocaas.dev/sandbox";
/// On a warm-pool pod and its volume until an instance claims them.
pub const POOL_LABEL: &str = "ocaas.dev/pool";
pub const POOL_WARM: &str = "warm";
/// On a volume that serves an instance other than the id it was made for (a warm-pool pod's
/// volume a sleeping instance's storage moved into): that instance's id.
pub const SERVES_LABEL: &str = "ocaas.dev/serves";
/// With [`SERVES_LABEL`]: how many moves the instance's storage has had, so of two volumes
/// found serving one instance (a move cut short before the old one was deleted) the newer wins.
pub const GENERATION_ANNOTATION: &str = "ocaas.dev/generation";
/// On a warm-pool pod claimed by a wake until the move commits: the instance moving in. A pod
/// with it whose volume serves nobody yet is in the middle of a move, nobody's sandbox.
pub const MOVING_LABEL: &str = "ocaas.dev/moving";
/// `ocaas.dev/role=mover` on a pod that only serves a sleeping instance's volume as archives
/// while its storage moves into a warm-pool pod: never any instance's sandbox.
pub const ROLE_LABEL: &str = "ocaas.dev/role";
pub const ROLE_MOVER: &str = "mover";
/// Selects the unclaimed warm-pool volumes.
pub const POOL_SELECTOR: &str = "app.kubernetes.io/managed-by=ocaas,ocaas.dev/pool=warm";
/// `app.kubernetes.io/component=sandbox` on pods: what the chart's baseline policy selects.
pub const COMPONENT: &str = "app.kubernetes.io/component";

/// Keys of the token secret.
pub const AGENT_TOKEN_KEY: &str = "agent-token";
pub const MODEL_TOKEN_KEY: &str = "model-token";

/// Paths inside the pod.
const RUN_DIR: &str = "/run/ocaas";
const SECRETS_DIR: &str = "/ocaas-secrets";
const DATA_DIR: &str = "/data";
const AGENT_BIN: &str = "/usr/local/bin/sandbox-agent";

/// Address ranges a sandbox never reaches, even with `egress = "internet"`: private networks
/// (the cluster's own among them), loopback, link-local (cloud metadata at 169.254.169.254)
/// and carrier-grade NAT.
const PRIVATE_V4: &[&str] = &[
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
];
const PRIVATE_V6: &[&str] = &["::1/128", "fc00::/7", "fe80::/10"];

pub fn storage_name(instance: Uuid) -> String {
    format!("ocaas-{instance}")
}

pub fn secret_name(instance: Uuid) -> String {
    format!("ocaas-{instance}-tokens")
}

pub fn policy_name(instance: Uuid) -> String {
    format!("ocaas-{instance}")
}

pub fn pod_name(sandbox_id: &str) -> String {
    format!("ocaas-{sandbox_id}")
}

/// `key=value,key=value` → labels. Empty → none.
pub fn parse_labels(text: &str) -> Result<BTreeMap<String, String>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.trim().to_owned())),
            _ => Err(format!("expected key=value, got {pair:?}")),
        })
        .collect()
}

/// The two tokens of an instance (see the module docs).
#[derive(Clone)]
pub struct Tokens {
    pub agent: String,
    pub model: String,
}

/// Builds the objects from the settings in force.
#[derive(Debug, Clone)]
pub struct Manifests {
    settings: KubernetesSettings,
    /// Where the orchestrator runs (its pods are the sandboxes' only peers).
    orchestrator_namespace: String,
    orchestrator_pods: BTreeMap<String, String>,
    dns_pods: BTreeMap<String, String>,
    /// The orchestrator pods' port for sandboxes' model calls.
    sandbox_port: u16,
}

impl Manifests {
    pub fn new(
        settings: &KubernetesSettings,
        orchestrator_namespace: &str,
        sandbox_port: u16,
    ) -> Result<Manifests, String> {
        let orchestrator_pods = parse_labels(&settings.orchestrator_pod_selector)
            .map_err(|e| format!("kubernetes.orchestrator_pod_selector: {e}"))?;
        if orchestrator_pods.is_empty() {
            return Err("kubernetes.orchestrator_pod_selector must not be empty: it is what sandboxes' network policy admits".into());
        }
        let dns_pods = parse_labels(&settings.dns_pod_selector)
            .map_err(|e| format!("kubernetes.dns_pod_selector: {e}"))?;
        parse_labels(&settings.node_selector)
            .map_err(|e| format!("kubernetes.node_selector: {e}"))?;
        Ok(Manifests {
            settings: settings.clone(),
            orchestrator_namespace: orchestrator_namespace.to_owned(),
            orchestrator_pods,
            dns_pods,
            sandbox_port,
        })
    }

    pub fn namespace(&self) -> &str {
        &self.settings.namespace
    }

    fn meta(&self, name: String, instance: Uuid, owner: Option<&OwnerReference>) -> ObjectMeta {
        ObjectMeta {
            name: Some(name),
            namespace: Some(self.settings.namespace.clone()),
            labels: Some(instance_labels(instance)),
            owner_references: owner.map(|o| vec![o.clone()]),
            ..Default::default()
        }
    }

    /// The instance's volume (the owner of everything else).
    pub fn storage(&self, instance: Uuid) -> PersistentVolumeClaim {
        let s = &self.settings;
        PersistentVolumeClaim {
            metadata: self.meta(storage_name(instance), instance, None),
            spec: Some(PersistentVolumeClaimSpec {
                access_modes: Some(vec!["ReadWriteOnce".into()]),
                resources: Some(VolumeResourceRequirements {
                    requests: Some(BTreeMap::from([(
                        "storage".to_owned(),
                        Quantity(s.storage_size.clone()),
                    )])),
                    ..Default::default()
                }),
                storage_class_name: non_empty(&s.storage_class),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    pub fn secret(&self, instance: Uuid, tokens: &Tokens, owner: &OwnerReference) -> Secret {
        Secret {
            metadata: self.meta(secret_name(instance), instance, Some(owner)),
            type_: Some("Opaque".into()),
            data: Some(BTreeMap::from([
                (
                    AGENT_TOKEN_KEY.to_owned(),
                    ByteString(tokens.agent.clone().into_bytes()),
                ),
                (
                    MODEL_TOKEN_KEY.to_owned(),
                    ByteString(tokens.model.clone().into_bytes()),
                ),
            ])),
            ..Default::default()
        }
    }

    fn orchestrator_peer(&self) -> NetworkPolicyPeer {
        NetworkPolicyPeer {
            pod_selector: Some(LabelSelector {
                match_labels: Some(self.orchestrator_pods.clone()),
                ..Default::default()
            }),
            // Without a namespace selector a peer is in the policy's own namespace.
            namespace_selector: (self.orchestrator_namespace != self.settings.namespace).then(
                || LabelSelector {
                    match_labels: Some(BTreeMap::from([(
                        "kubernetes.io/metadata.name".to_owned(),
                        self.orchestrator_namespace.clone(),
                    )])),
                    ..Default::default()
                },
            ),
            ..Default::default()
        }
    }

    pub fn network_policy(&self, instance: Uuid, owner: &OwnerReference) -> NetworkPolicy {
        let tcp = |port: u16| NetworkPolicyPort {
            port: Some(IntOrString::Int(port.into())),
            protocol: Some("TCP".into()),
            ..Default::default()
        };
        let mut egress = vec![NetworkPolicyEgressRule {
            to: Some(vec![self.orchestrator_peer()]),
            ports: Some(vec![tcp(self.sandbox_port)]),
        }];
        if !self.dns_pods.is_empty() {
            egress.push(NetworkPolicyEgressRule {
                to: Some(vec![NetworkPolicyPeer {
                    namespace_selector: Some(LabelSelector::default()),
                    pod_selector: Some(LabelSelector {
                        match_labels: Some(self.dns_pods.clone()),
                        ..Default::default()
                    }),
                    ..Default::default()
                }]),
                ports: Some(
                    ["UDP", "TCP"]
                        .into_iter()
                        .map(|protocol| NetworkPolicyPort {
                            port: Some(IntOrString::Int(53)),
                            protocol: Some(protocol.into()),
                            ..Default::default()
                        })
                        .collect(),
                ),
            });
        }
        if self.settings.egress == EgressPolicy::Internet {
            let block = |cidr: &str, except: &[&str]| NetworkPolicyPeer {
                ip_block: Some(IPBlock {
                    cidr: cidr.into(),
                    except: Some(except.iter().map(|s| (*s).to_owned()).collect()),
                }),
                ..Default::default()
            };
            egress.push(NetworkPolicyEgressRule {
                to: Some(vec![
                    block("0.0.0.0/0", PRIVATE_V4),
                    block("::/0", PRIVATE_V6),
                ]),
                ports: None,
            });
        }
        NetworkPolicy {
            metadata: self.meta(policy_name(instance), instance, Some(owner)),
            spec: Some(NetworkPolicySpec {
                pod_selector: Some(LabelSelector {
                    match_labels: Some(BTreeMap::from([(
                        INSTANCE_LABEL.to_owned(),
                        instance.to_string(),
                    )])),
                    ..Default::default()
                }),
                policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
                ingress: Some(vec![NetworkPolicyIngressRule {
                    from: Some(vec![self.orchestrator_peer()]),
                    ports: Some(vec![tcp(self.settings.agent_port)]),
                }]),
                egress: Some(egress),
            }),
        }
    }

    /// The agent's command line (no secrets: they come from files the agent deletes).
    fn agent_args(&self, desktop: bool, gateway: bool) -> Vec<String> {
        let s = &self.settings;
        let mut args: Vec<String> = [
            "--listen",
            &format!("tcp:0.0.0.0:{}", s.agent_port),
            "--workspace",
            "/workspace",
            "--state-dir",
            "/state",
            "--token-file",
            &format!("{RUN_DIR}/{AGENT_TOKEN_KEY}"),
            "--model-upstream",
            &s.model_upstream_url,
            "--model-token-file",
            &format!("{RUN_DIR}/{MODEL_TOKEN_KEY}"),
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        if gateway && !s.openclaw_dir.is_empty() {
            args.extend(["--openclaw-dir".into(), s.openclaw_dir.clone()]);
        }
        if desktop {
            args.push("--desktop".into());
        }
        args
    }

    fn resources(&self) -> ResourceRequirements {
        let s = &self.settings;
        let pick = |pairs: [(&str, &String); 2]| {
            let map: BTreeMap<String, Quantity> = pairs
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.to_owned(), Quantity(v.clone())))
                .collect();
            (!map.is_empty()).then_some(map)
        };
        ResourceRequirements {
            requests: pick([("cpu", &s.cpu_request), ("memory", &s.memory_request)]),
            limits: pick([("cpu", &s.cpu_limit), ("memory", &s.memory_limit)]),
            ..Default::default()
        }
    }

    /// The sandbox pod. `owner` is the instance's volume.
    pub fn pod(&self, spec: &SandboxSpec, owner: &OwnerReference) -> Pod {
        self.pod_with(spec, owner, true)
    }

    /// A mover pod on the volume of `spec.instance_id` (a storage id): the agent without the
    /// gateway, serving the volume's workspace and home as archives.
    /// Its requests are small (tar and the agent need little), so it schedules where a full
    /// sandbox might not.
    pub fn mover_pod(&self, spec: &SandboxSpec, owner: &OwnerReference) -> Pod {
        let mut pod = self.pod_with(spec, owner, false);
        if let Some(agent) = pod.spec.as_mut().and_then(|s| s.containers.first_mut()) {
            agent.resources = Some(small_resources("50m", "64Mi", "256Mi"));
        }
        pod.metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert(ROLE_LABEL.to_owned(), ROLE_MOVER.to_owned());
        pod
    }

    fn pod_with(&self, spec: &SandboxSpec, owner: &OwnerReference, gateway: bool) -> Pod {
        let s = &self.settings;
        let mut labels = instance_labels(spec.instance_id);
        labels.insert(SANDBOX_LABEL.to_owned(), spec.sandbox_id.clone());
        labels.insert(COMPONENT.to_owned(), "sandbox".to_owned());
        let mount = |name: &str, path: &str, sub_path: Option<&str>, read_only: bool| VolumeMount {
            name: name.into(),
            mount_path: path.into(),
            sub_path: sub_path.map(str::to_owned),
            read_only: read_only.then_some(true),
            ..Default::default()
        };
        let env = [
            ("PATH", "/usr/local/bin:/usr/bin:/bin"),
            ("HOME", "/state/home"),
            ("USER", "sandbox"),
            ("SHELL", "/bin/bash"),
            ("TMPDIR", "/tmp"),
            ("LANG", "C.UTF-8"),
            ("OCAAS_AGENT_LOG", "info"),
        ]
        .into_iter()
        .map(|(name, value)| EnvVar {
            name: name.into(),
            value: Some(value.into()),
            ..Default::default()
        })
        .collect();
        let probe = |period: i32, failures: i32, initial_delay: Option<i32>| Probe {
            http_get: Some(HTTPGetAction {
                path: Some(sandbox_agent::protocol::routes::HEALTH.into()),
                port: IntOrString::String("agent".into()),
                ..Default::default()
            }),
            initial_delay_seconds: initial_delay,
            period_seconds: Some(period),
            timeout_seconds: Some(2),
            failure_threshold: Some(failures),
            ..Default::default()
        };
        // The init container makes the volume's two directories (as the sandbox user, so
        // their sub-path mounts are writable) and moves the tokens to a memory volume, where
        // the agent reads and deletes them: nothing later in the sandbox can read them.
        let prepare = format!(
            "set -eu; mkdir -p {DATA_DIR}/workspace {DATA_DIR}/state/home; \
             chmod 700 {DATA_DIR}/workspace {DATA_DIR}/state; \
             cp {SECRETS_DIR}/{AGENT_TOKEN_KEY} {SECRETS_DIR}/{MODEL_TOKEN_KEY} {RUN_DIR}/; \
             chmod 600 {RUN_DIR}/{AGENT_TOKEN_KEY} {RUN_DIR}/{MODEL_TOKEN_KEY}"
        );
        let init = Container {
            name: "prepare".into(),
            image: Some(s.image.clone()),
            image_pull_policy: Some(s.image_pull_policy.clone()),
            command: Some(vec!["/bin/sh".into(), "-c".into(), prepare]),
            security_context: Some(restricted_container()),
            resources: Some(small_resources("10m", "16Mi", "64Mi")),
            volume_mounts: Some(vec![
                mount("storage", DATA_DIR, None, false),
                mount("tokens", SECRETS_DIR, None, true),
                mount("run", RUN_DIR, None, false),
            ]),
            ..Default::default()
        };
        let agent = Container {
            name: "agent".into(),
            image: Some(s.image.clone()),
            image_pull_policy: Some(s.image_pull_policy.clone()),
            command: Some(vec![AGENT_BIN.into()]),
            args: Some(self.agent_args(spec.desktop && gateway, gateway)),
            working_dir: Some("/workspace".into()),
            env: Some(env),
            ports: Some(vec![ContainerPort {
                name: Some("agent".into()),
                container_port: s.agent_port.into(),
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            readiness_probe: Some(probe(2, 3, None)),
            // A hung agent is killed; with `restartPolicy: Never` the pod then fails and the
            // orchestrator starts a fresh sandbox (as it does for a dead local one).
            liveness_probe: Some(probe(10, 6, Some(10))),
            resources: Some(self.resources()),
            security_context: Some(restricted_container()),
            volume_mounts: Some(vec![
                mount("storage", "/workspace", Some("workspace"), false),
                mount("storage", "/state", Some("state"), false),
                mount("tmp", "/tmp", None, false),
                mount("run", RUN_DIR, None, false),
            ]),
            ..Default::default()
        };
        let uid = s.sandbox_uid;
        let pull_secrets: Vec<LocalObjectReference> = s
            .image_pull_secrets
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|name| LocalObjectReference { name: name.into() })
            .collect();
        let node_selector = parse_labels(&s.node_selector).unwrap_or_default();
        Pod {
            metadata: ObjectMeta {
                name: Some(pod_name(&spec.sandbox_id)),
                namespace: Some(s.namespace.clone()),
                labels: Some(labels),
                owner_references: Some(vec![owner.clone()]),
                ..Default::default()
            },
            spec: Some(PodSpec {
                init_containers: Some(vec![init]),
                containers: vec![agent],
                // A sandbox that dies is replaced by the orchestrator with a new one (new
                // sandbox id), exactly like a dead local sandbox; never restarted in place.
                restart_policy: Some("Never".into()),
                termination_grace_period_seconds: Some(s.stop_grace_s as i64),
                automount_service_account_token: Some(false),
                enable_service_links: Some(false),
                hostname: Some("sandbox".into()),
                security_context: Some(PodSecurityContext {
                    run_as_non_root: Some(true),
                    run_as_user: Some(uid),
                    run_as_group: Some(uid),
                    fs_group: Some(uid),
                    fs_group_change_policy: Some("OnRootMismatch".into()),
                    seccomp_profile: Some(SeccompProfile {
                        type_: "RuntimeDefault".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                runtime_class_name: non_empty(&s.runtime_class),
                node_selector: (!node_selector.is_empty()).then_some(node_selector),
                image_pull_secrets: (!pull_secrets.is_empty()).then_some(pull_secrets),
                volumes: Some(vec![
                    Volume {
                        name: "storage".into(),
                        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                            claim_name: storage_name(spec.instance_id),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                    Volume {
                        name: "tokens".into(),
                        secret: Some(SecretVolumeSource {
                            secret_name: Some(secret_name(spec.instance_id)),
                            default_mode: Some(0o440),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                    Volume {
                        name: "run".into(),
                        empty_dir: Some(EmptyDirVolumeSource {
                            medium: Some("Memory".into()),
                            size_limit: Some(Quantity("1Mi".into())),
                        }),
                        ..Default::default()
                    },
                    Volume {
                        name: "tmp".into(),
                        empty_dir: Some(EmptyDirVolumeSource {
                            medium: None,
                            size_limit: Some(Quantity(format!("{}Mi", s.tmp_size_mb))),
                        }),
                        ..Default::default()
                    },
                ]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

/// Mark an object as part of the warm pool (unclaimed).
pub fn pooled<K: kube::Resource>(mut obj: K) -> K {
    obj.meta_mut()
        .labels
        .get_or_insert_with(Default::default)
        .insert(POOL_LABEL.to_owned(), POOL_WARM.to_owned());
    obj
}

/// Whether an object is an unclaimed part of the warm pool.
pub fn is_pooled<K: kube::Resource>(obj: &K) -> bool {
    obj.meta()
        .labels
        .as_ref()
        .and_then(|l| l.get(POOL_LABEL))
        .is_some_and(|v| v == POOL_WARM)
}

/// Whether a pod is a mover (see [`ROLE_MOVER`]).
pub fn is_mover(pod: &Pod) -> bool {
    pod.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(ROLE_LABEL))
        .is_some_and(|v| v == ROLE_MOVER)
}

/// Labels every object of `instance` carries.
pub fn instance_labels(instance: Uuid) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY.to_owned(), MANAGER.to_owned()),
        (INSTANCE_LABEL.to_owned(), instance.to_string()),
    ])
}

/// Fixed requests and a memory limit for a helper container (the init container, a mover).
fn small_resources(cpu: &str, memory: &str, memory_limit: &str) -> ResourceRequirements {
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".to_owned(), Quantity(cpu.into())),
            ("memory".to_owned(), Quantity(memory.into())),
        ])),
        limits: Some(BTreeMap::from([(
            "memory".to_owned(),
            Quantity(memory_limit.into()),
        )])),
        ..Default::default()
    }
}

/// Non-root, no privilege escalation, no capabilities, read-only root filesystem.
fn restricted_container() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        privileged: Some(false),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            add: None,
        }),
        ..Default::default()
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifests(f: impl FnOnce(&mut KubernetesSettings)) -> Manifests {
        let mut s = KubernetesSettings::default();
        f(&mut s);
        Manifests::new(&s, "ocaas", 8081).unwrap()
    }

    fn owner() -> OwnerReference {
        OwnerReference {
            api_version: "v1".into(),
            kind: "PersistentVolumeClaim".into(),
            name: "ocaas-x".into(),
            uid: "u".into(),
            controller: Some(true),
            ..Default::default()
        }
    }

    #[test]
    fn a_mover_pod_runs_the_agent_alone_on_the_same_volume() {
        let m = manifests(|s| s.openclaw_dir = "/opt/openclaw".into());
        let spec = SandboxSpec {
            instance_id: Uuid::nil(),
            sandbox_id: "sandy-0123456789ab".into(),
            desktop: true,
        };
        let (pod, mover) = (m.pod(&spec, &owner()), m.mover_pod(&spec, &owner()));
        let args = |p: &Pod| p.spec.as_ref().unwrap().containers[0].args.clone().unwrap();
        assert!(args(&pod).contains(&"--openclaw-dir".to_owned()));
        assert!(!args(&mover).contains(&"--openclaw-dir".to_owned()));
        assert!(!args(&mover).contains(&"--desktop".to_owned()));
        assert!(is_mover(&mover) && !is_mover(&pod));
        let requests = |p: &Pod| {
            p.spec.as_ref().unwrap().containers[0]
                .resources
                .clone()
                .unwrap()
                .requests
                .unwrap()
        };
        assert_eq!(requests(&mover)["memory"], Quantity("64Mi".into()));
        assert_ne!(requests(&pod)["memory"], Quantity("64Mi".into()));
        let claim = |p: &Pod| {
            p.spec.as_ref().unwrap().volumes.as_ref().unwrap()[0]
                .persistent_volume_claim
                .clone()
                .unwrap()
                .claim_name
        };
        assert_eq!(claim(&mover), claim(&pod));
        assert_eq!(
            mover.metadata.labels.as_ref().unwrap()[INSTANCE_LABEL],
            Uuid::nil().to_string()
        );
    }

    #[test]
    fn pod_is_restricted_and_keeps_tokens_out_of_env() {
        let m = manifests(|_| {});
        let spec = SandboxSpec {
            instance_id: Uuid::nil(),
            sandbox_id: "sandy-0123456789ab".into(),
            desktop: true,
        };
        let pod = m.pod(&spec, &owner());
        assert_eq!(
            pod.metadata.name.as_deref(),
            Some("ocaas-sandy-0123456789ab")
        );
        let ps = pod.spec.unwrap();
        assert_eq!(ps.automount_service_account_token, Some(false));
        assert_eq!(ps.restart_policy.as_deref(), Some("Never"));
        let psc = ps.security_context.unwrap();
        assert_eq!(psc.run_as_non_root, Some(true));
        assert_eq!(psc.seccomp_profile.unwrap().type_, "RuntimeDefault");
        for c in ps.init_containers.unwrap().iter().chain(&ps.containers) {
            let sc = c.security_context.as_ref().unwrap();
            assert_eq!(sc.allow_privilege_escalation, Some(false));
            assert_eq!(sc.read_only_root_filesystem, Some(true));
            assert_eq!(
                sc.capabilities.as_ref().unwrap().drop.as_deref(),
                Some(&["ALL".to_owned()][..])
            );
            for e in c.env.iter().flatten() {
                assert!(e.value_from.is_none(), "{} comes from elsewhere", e.name);
                assert!(!e.name.contains("TOKEN"), "{}", e.name);
            }
        }
        let agent = &ps.containers[0];
        let args = agent.args.as_ref().unwrap();
        assert!(args.contains(&"--desktop".to_owned()));
        assert!(args.contains(&"tcp:0.0.0.0:8090".to_owned()));
        // Only the init container sees the secret volume.
        assert!(
            !agent
                .volume_mounts
                .iter()
                .flatten()
                .any(|v| v.name == "tokens")
        );
    }

    #[test]
    fn policy_admits_only_the_orchestrator_and_internet_never_reaches_private_ranges() {
        let m = manifests(|_| {});
        let np = m.network_policy(Uuid::nil(), &owner()).spec.unwrap();
        assert_eq!(np.ingress.as_ref().unwrap().len(), 1);
        let egress = np.egress.unwrap();
        assert_eq!(egress.len(), 2, "orchestrator + DNS");
        assert!(
            egress
                .iter()
                .all(|r| r.to.iter().flatten().all(|p| p.ip_block.is_none()))
        );
        // The orchestrator is in another namespace than the sandboxes.
        let peer = &np.ingress.as_ref().unwrap()[0].from.as_ref().unwrap()[0];
        assert!(peer.namespace_selector.is_some());

        let m = manifests(|s| {
            s.egress = EgressPolicy::Internet;
            s.dns_pod_selector = String::new();
        });
        let egress = m
            .network_policy(Uuid::nil(), &owner())
            .spec
            .unwrap()
            .egress
            .unwrap();
        assert_eq!(egress.len(), 2, "orchestrator + internet");
        let blocks: Vec<_> = egress[1]
            .to
            .iter()
            .flatten()
            .filter_map(|p| p.ip_block.as_ref())
            .collect();
        assert!(
            blocks[0]
                .except
                .as_ref()
                .unwrap()
                .contains(&"169.254.0.0/16".to_owned())
        );
    }

    #[test]
    fn selectors_parse() {
        assert_eq!(
            parse_labels("a=b, c.d/e = f").unwrap(),
            BTreeMap::from([("a".into(), "b".into()), ("c.d/e".into(), "f".into())])
        );
        assert!(parse_labels("").unwrap().is_empty());
        assert!(parse_labels("nope").is_err());
        let s = KubernetesSettings {
            orchestrator_pod_selector: String::new(),
            ..Default::default()
        };
        assert!(Manifests::new(&s, "x", 1).is_err());
    }
}
