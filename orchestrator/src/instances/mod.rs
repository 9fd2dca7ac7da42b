//! Instances: their statuses and the manager that drives them through their lifecycle.

pub mod activity;
#[cfg(test)]
mod density_tests;
mod manager;
pub mod pool;

pub use activity::{Activity, ActivityGuard};
pub use manager::InstanceManager;

/// An instance's status. Every change is persisted with a timestamp (`instance_events`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Created; its first sandbox is starting.
    Provisioning,
    /// Started again after a shutdown or a failure.
    Starting,
    /// Its sandbox is up and serving.
    Ready,
    /// Its sandbox is being replaced by a fresh one.
    Rebooting,
    /// A shutdown is in progress.
    Stopping,
    /// No sandbox runs; storage is kept.
    Stopped,
    /// The sandbox could not start or died; see the reason.
    Failed,
    /// A delete is in progress.
    Deleting,
    /// Idle: no process runs, only its storage is kept; any call wakes it.
    Sleeping,
    /// A call arrived for a sleeping instance; its sandbox is coming up.
    Waking,
}

impl Status {
    pub const ALL: [Status; 10] = [
        Status::Provisioning,
        Status::Starting,
        Status::Ready,
        Status::Rebooting,
        Status::Stopping,
        Status::Stopped,
        Status::Failed,
        Status::Deleting,
        Status::Sleeping,
        Status::Waking,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Provisioning => "provisioning",
            Status::Starting => "starting",
            Status::Ready => "ready",
            Status::Rebooting => "rebooting",
            Status::Stopping => "stopping",
            Status::Stopped => "stopped",
            Status::Failed => "failed",
            Status::Deleting => "deleting",
            Status::Sleeping => "sleeping",
            Status::Waking => "waking",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// A sandbox is on its way up: callers may wait for `Ready`.
    pub fn is_coming_up(self) -> bool {
        matches!(
            self,
            Status::Provisioning | Status::Starting | Status::Rebooting | Status::Waking
        )
    }
}

/// What the reconciler converges an instance to.
pub const DESIRED_RUNNING: &str = "running";
pub const DESIRED_STOPPED: &str = "stopped";
/// Asleep after being idle: no sandbox, but any call brings one up (unlike `stopped`, which
/// only `start` undoes).
pub const DESIRED_SLEEPING: &str = "sleeping";
