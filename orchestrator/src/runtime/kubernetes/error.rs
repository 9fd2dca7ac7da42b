//! Errors of the Kubernetes runtime, each with a metric label, and the runtime's metrics.

use prometheus::{IntCounterVec, Opts, Registry};

/// What went wrong talking to Kubernetes. Logged in full; customers see only
/// [`KubeError::customer_message`].
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("Kubernetes API: {0}")]
    Api(#[from] kube::Error),
    #[error("the token secret of instance {0} lacks `{1}`")]
    BadSecret(uuid::Uuid, &'static str),
    #[error("{0} has no uid")]
    NoUid(String),
    #[error("pod {0} belongs to another instance")]
    ForeignPod(String),
}

impl KubeError {
    /// A bounded, stable label (`api_forbidden`, `api_conflict`, `transport`, ...).
    pub fn metric_label(&self) -> String {
        match self {
            KubeError::Api(kube::Error::Api(status)) => {
                let reason = if status.reason.is_empty() {
                    format!("http_{}", status.code)
                } else {
                    status.reason.to_ascii_lowercase()
                };
                format!("api_{reason}")
            }
            KubeError::Api(_) => "transport".into(),
            KubeError::BadSecret(..) => "bad_secret".into(),
            KubeError::NoUid(_) => "no_uid".into(),
            KubeError::ForeignPod(_) => "foreign_pod".into(),
        }
    }

    /// Safe to show as an instance's failure reason: no names, paths or secrets.
    pub fn customer_message(&self) -> String {
        match self {
            KubeError::Api(kube::Error::Api(status)) if !status.reason.is_empty() => {
                format!("the Kubernetes API refused the request ({})", status.reason)
            }
            KubeError::Api(_) => "the Kubernetes API could not be reached".into(),
            _ => "the sandbox's Kubernetes objects are inconsistent".into(),
        }
    }
}

/// The HTTP status of an API error, if it is one.
pub fn api_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

/// `ocaas_kubernetes_errors_total{error}` and `ocaas_kubernetes_reconciliations_total`.
#[derive(Clone)]
pub struct Metrics {
    errors: IntCounterVec,
    reconciliations: IntCounterVec,
}

impl Metrics {
    pub fn new(registry: &Registry) -> Metrics {
        let errors = IntCounterVec::new(
            Opts::new(
                "ocaas_kubernetes_errors_total",
                "Failed Kubernetes operations of the sandbox runtime, by error",
            ),
            &["error"],
        )
        .expect("valid metric");
        let reconciliations = IntCounterVec::new(
            Opts::new(
                "ocaas_kubernetes_reconciliations_total",
                "Reconciliations of instances' Kubernetes objects, by outcome",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        // Registering fails only for a duplicate (a second runtime in one registry): then
        // this one's counts are simply not exported.
        let _ = registry.register(Box::new(errors.clone()));
        let _ = registry.register(Box::new(reconciliations.clone()));
        Metrics {
            errors,
            reconciliations,
        }
    }

    pub fn error(&self, e: &KubeError) {
        self.errors.with_label_values(&[&e.metric_label()]).inc();
    }

    pub fn watch_error(&self) {
        self.errors.with_label_values(&["watch"]).inc();
    }

    pub fn reconciled(&self, ok: bool) {
        self.reconciliations
            .with_label_values(&[if ok { "ok" } else { "error" }])
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_bounded_and_messages_name_nothing() {
        let status = kube::core::Status {
            code: 403,
            reason: "Forbidden".into(),
            message: "pods \"ocaas-sandy-1\" is forbidden: secret stuff".into(),
            ..Default::default()
        };
        let e = KubeError::Api(kube::Error::Api(Box::new(status)));
        assert_eq!(e.metric_label(), "api_forbidden");
        assert!(!e.customer_message().contains("ocaas-sandy"));
        let registry = Registry::new();
        let m = Metrics::new(&registry);
        m.error(&e);
        m.reconciled(true);
        let names: Vec<_> = registry
            .gather()
            .iter()
            .map(|f| f.name().to_owned())
            .collect();
        assert!(names.contains(&"ocaas_kubernetes_errors_total".to_owned()));
    }
}
