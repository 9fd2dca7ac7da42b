//! The reconciler of instances' Kubernetes objects, in the style of kube-rs' controller-rs.
//!
//! Each instance's volume is its anchor; the controller watches volumes and the objects they
//! own (token secrets, network policies) and, for every volume, makes sure its secret exists
//! and its network policy is exactly what the settings say (server-side apply). So a policy
//! someone deleted or loosened is restored within moments, by whichever replica sees it first.
//! Failures are retried with per-object exponential back-off (1 s doubling to 5 min) and
//! counted under `ocaas_kubernetes_errors_total{error=<label>}`.
//!
//! Pods are not this controller's business: which sandbox should run is the database's
//! decision (`InstanceManager::reconcile`, the supervisor), and a pod whose volume is gone is
//! removed by Kubernetes' garbage collector through its owner reference.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::ResourceExt;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;

use super::error::{KubeError, Metrics};
use super::manifests::MANAGED_SELECTOR;
use super::objects::{Objects, owner_of};

/// Shared by reconciliations.
pub struct Context {
    pub objects: Arc<Objects>,
    pub metrics: Metrics,
    /// Consecutive failures per volume, for back-off.
    failures: Mutex<HashMap<String, u32>>,
}

/// Run the controller until aborted.
pub fn spawn(objects: Arc<Objects>, metrics: Metrics) -> tokio::task::AbortHandle {
    let config = || watcher::Config::default().labels(MANAGED_SELECTOR);
    let controller = Controller::new(objects.volumes.clone(), config())
        .owns(objects.secrets.clone(), config())
        .owns(objects.policies.clone(), config());
    let ctx = Arc::new(Context {
        objects,
        metrics,
        failures: Mutex::new(HashMap::new()),
    });
    tokio::spawn(async move {
        controller
            .run(reconcile, error_policy, ctx)
            .for_each(|result| async move {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "instance reconciliation");
                }
            })
            .await;
    })
    .abort_handle()
}

/// Converge one instance's secret and network policy.
async fn reconcile(
    volume: Arc<PersistentVolumeClaim>,
    ctx: Arc<Context>,
) -> Result<Action, KubeError> {
    // Being deleted: the instance is going away; recreating its objects would only leave
    // orphans for the garbage collector.
    if volume.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let Some(instance) = super::instance_of_labels(volume.labels()) else {
        return Ok(Action::await_change());
    };
    let owner = owner_of(&volume)?;
    ctx.objects.ensure_tokens(instance, &owner).await?;
    ctx.objects.apply_policy(instance, &owner).await?;
    ctx.failures
        .lock()
        .expect("failures")
        .remove(&volume.name_any());
    ctx.metrics.reconciled(true);
    Ok(Action::requeue(Duration::from_secs(300)))
}

fn error_policy(
    volume: Arc<PersistentVolumeClaim>,
    error: &KubeError,
    ctx: Arc<Context>,
) -> Action {
    ctx.metrics.reconciled(false);
    ctx.metrics.error(error);
    let n = {
        let mut failures = ctx.failures.lock().expect("failures");
        let n = failures.entry(volume.name_any()).or_insert(0);
        *n = n.saturating_add(1);
        *n
    };
    let delay = backoff(n);
    tracing::warn!(volume = %volume.name_any(), %error, error_label = %error.metric_label(), retry_in = ?delay, "instance reconciliation failed");
    Action::requeue(delay)
}

/// 1 s, 2 s, 4 s, ... at most 5 min.
fn backoff(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.saturating_sub(1).min(9)).min(Duration::from_secs(300))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_exponentially_to_five_minutes() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(5), Duration::from_secs(16));
        assert_eq!(backoff(40), Duration::from_secs(300));
    }
}
