//! Sandbox pods as the orchestrator sees them: one watch (a reflector over every pod the
//! runtime manages), and what a pod's status means for its sandbox.
//!
//! **Invariant:** sandbox status comes from this watch, never from polling the API: `start`
//! waits here for readiness, `wait_exit` for the end, `list` and `find` read the cache.

use std::net::IpAddr;
use std::sync::Arc;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::watch;
use tokio::time::Instant;

use super::error::Metrics;
use super::manifests::MANAGED_SELECTOR;

/// What a pod's status says about its sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodState {
    /// Not in the cache.
    Absent,
    /// Coming up; the reason a container waits, if any (`ContainerCreating`, `ImagePullBackOff`).
    Pending(Option<String>),
    /// Ready (the kubelet's readiness probe on the agent's `/health` passes) with this address.
    Ready(IpAddr),
    /// Was ready and is not now (a failing probe); may come back.
    Unready,
    /// Finished, failed, or being deleted: the sandbox is over. A reason fit for customers.
    Over(String),
}

/// Interpret a pod.
pub fn state(pod: Option<&Pod>) -> PodState {
    let Some(pod) = pod else {
        return PodState::Absent;
    };
    if pod.metadata.deletion_timestamp.is_some() {
        return PodState::Over("the sandbox's pod was deleted".into());
    }
    let Some(status) = &pod.status else {
        return PodState::Pending(None);
    };
    let terminated = status
        .container_statuses
        .iter()
        .flatten()
        .chain(status.init_container_statuses.iter().flatten())
        .find_map(|c| {
            c.state
                .as_ref()?
                .terminated
                .as_ref()
                .filter(|t| t.exit_code != 0)
        });
    match status.phase.as_deref() {
        Some("Failed") | Some("Succeeded") => {
            let reason = match (terminated, status.reason.as_deref()) {
                (Some(t), _) => format!(
                    "the sandbox exited with status {}{}",
                    t.exit_code,
                    t.reason
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                ),
                // `Evicted`, `OutOfmemory`, `NodeLost`, ...: Kubernetes' own words.
                (None, Some(r)) => format!("Kubernetes ended the sandbox's pod ({r})"),
                (None, None) => "the sandbox's pod ended".into(),
            };
            return PodState::Over(reason);
        }
        _ => {}
    }
    let ready = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    let ip = status.pod_ip.as_deref().and_then(|ip| ip.parse().ok());
    match (ready, ip) {
        (true, Some(ip)) => PodState::Ready(ip),
        _ if status.phase.as_deref() == Some("Running") && was_ready(pod) => PodState::Unready,
        _ => PodState::Pending(
            status
                .container_statuses
                .iter()
                .flatten()
                .chain(status.init_container_statuses.iter().flatten())
                .find_map(|c| c.state.as_ref()?.waiting.as_ref()?.reason.clone())
                // `Unschedulable` (no node fits), for instance.
                .or_else(|| {
                    status.conditions.iter().flatten().find_map(|c| {
                        (c.type_ == "PodScheduled" && c.status == "False")
                            .then(|| c.reason.clone())
                            .flatten()
                    })
                }),
        ),
    }
}

/// Whether the agent container ran long enough to have passed a readiness check once.
fn was_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.started == Some(true)))
}

/// A cache of every pod the runtime manages, kept current by one watch.
#[derive(Clone)]
pub struct PodWatch {
    store: Store<Pod>,
    namespace: String,
    /// Bumped on every watch event, so waiters re-check their condition.
    changed: watch::Sender<u64>,
}

impl PodWatch {
    /// Start watching; returns the cache and the task driving it.
    pub fn start(
        api: Api<Pod>,
        namespace: &str,
        metrics: Metrics,
    ) -> (PodWatch, tokio::task::AbortHandle) {
        let (store, writer) = reflector::store();
        let (changed, _) = watch::channel(0u64);
        let stream = reflector::reflector(
            writer,
            watcher(api, watcher::Config::default().labels(MANAGED_SELECTOR)).default_backoff(),
        );
        let tx = changed.clone();
        let task = tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(event) = stream.next().await {
                match event {
                    Ok(_) => {
                        tx.send_modify(|n| *n = n.wrapping_add(1));
                    }
                    Err(e) => {
                        metrics.watch_error();
                        tracing::warn!(error = %e, "watching sandbox pods failed; retrying");
                    }
                }
            }
        })
        .abort_handle();
        (
            PodWatch {
                store,
                namespace: namespace.to_owned(),
                changed,
            },
            task,
        )
    }

    /// Wait for the first complete listing.
    pub async fn ready(&self) {
        let _ = self.store.wait_until_ready().await;
    }

    pub fn get(&self, name: &str) -> Option<Arc<Pod>> {
        self.store
            .get(&ObjectRef::new(name).within(&self.namespace))
    }

    pub fn all(&self) -> Vec<Arc<Pod>> {
        self.store.state()
    }

    /// Call `check` with the pod `name` now and after every change until it returns
    /// `Some`, or until `deadline` (then `None`).
    pub async fn wait_for<T>(
        &self,
        name: &str,
        deadline: Option<Instant>,
        mut check: impl FnMut(Option<&Pod>) -> Option<T>,
    ) -> Option<T> {
        let mut rx = self.changed.subscribe();
        loop {
            // Subscribed before checking: a change after the check still wakes us.
            rx.borrow_and_update();
            if let Some(t) = check(self.get(name).as_deref()) {
                return Some(t);
            }
            let next = rx.changed();
            match deadline {
                Some(d) => match tokio::time::timeout_at(d, next).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return None,
                    Err(_) => return None,
                },
                None => {
                    if next.await.is_err() {
                        return None;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus,
        PodCondition, PodStatus,
    };

    fn pod(status: PodStatus) -> Pod {
        Pod {
            status: Some(status),
            ..Default::default()
        }
    }

    fn container(state: ContainerState) -> ContainerStatus {
        ContainerStatus {
            name: "agent".into(),
            state: Some(state),
            ..Default::default()
        }
    }

    #[test]
    fn reads_pod_states() {
        assert_eq!(state(None), PodState::Absent);
        let waiting = pod(PodStatus {
            phase: Some("Pending".into()),
            container_statuses: Some(vec![container(ContainerState {
                waiting: Some(ContainerStateWaiting {
                    reason: Some("ImagePullBackOff".into()),
                    ..Default::default()
                }),
                ..Default::default()
            })]),
            ..Default::default()
        });
        assert_eq!(
            state(Some(&waiting)),
            PodState::Pending(Some("ImagePullBackOff".into()))
        );
        let ready = pod(PodStatus {
            phase: Some("Running".into()),
            pod_ip: Some("10.1.2.3".into()),
            conditions: Some(vec![PodCondition {
                type_: "Ready".into(),
                status: "True".into(),
                ..Default::default()
            }]),
            ..Default::default()
        });
        assert_eq!(
            state(Some(&ready)),
            PodState::Ready("10.1.2.3".parse().unwrap())
        );
        let failed = pod(PodStatus {
            phase: Some("Failed".into()),
            container_statuses: Some(vec![container(ContainerState {
                terminated: Some(ContainerStateTerminated {
                    exit_code: 137,
                    reason: Some("OOMKilled".into()),
                    ..Default::default()
                }),
                ..Default::default()
            })]),
            ..Default::default()
        });
        assert_eq!(
            state(Some(&failed)),
            PodState::Over("the sandbox exited with status 137 (OOMKilled)".into())
        );
        let evicted = pod(PodStatus {
            phase: Some("Failed".into()),
            reason: Some("Evicted".into()),
            ..Default::default()
        });
        assert!(matches!(state(Some(&evicted)), PodState::Over(r) if r.contains("Evicted")));
    }
}
