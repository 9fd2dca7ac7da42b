//! The Kubernetes runtime and the Helm chart, against a real (throwaway) API server.
//!
//! Run inside `scripts/k8s/cluster.sh` (`make test` does):
//! `scripts/k8s/cluster.sh run -- cargo nextest run -p orchestrator --test kubernetes`.
//! Without a cluster every test skips with a note (`OCAAS_REQUIRE_K8S=1` makes that a
//! failure). The cluster has no node: nothing runs the pods, and tests that need a running
//! pod write its status themselves (`harness::Cluster::set_ready`, the kubelet's stand-in).

mod chart;
mod harness;
#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;
mod lifecycle;
mod manifests;
mod pool;
mod relay;
mod replicas;
