//! The instance manager: lifecycle operations, the supervisor that restarts crashed sandboxes,
//! and the reconciler that converges the runtime to the database after a restart.
//!
//! **Invariant:** the database holds the truth about what *should* run (`desired_state`) and
//! what each instance's status is; the runtime's sandboxes are a cache of it. Lifecycle work
//! for one instance is serialised by a per-instance lock; slow work (starting a sandbox)
//! happens in background tasks, and callers see progress through status transitions.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use uuid::Uuid;

use super::activity::{Activity, ActivityGuard};
use super::pool::{PoolStats, Warm, WarmPool};
use super::{DESIRED_RUNNING, DESIRED_SLEEPING, DESIRED_STOPPED, Status};
use crate::agent_client;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::policy::{CreateRequestContext, CreationPolicy};
use crate::runtime::{
    AgentEndpoint, RunningSandbox, Runtime, RuntimeError, SandboxSpec, new_sandbox_id,
};
use crate::settings::Limits;
use crate::store::entities::instance;
use crate::store::{NewInstance, Owner, Store};

/// A sandbox currently serving an instance.
#[derive(Clone)]
struct Serving {
    sandbox_id: String,
    endpoint: AgentEndpoint,
    /// The owning account: lets a relayed call find a ready instance without a database
    /// round trip, still scoped to its owner.
    account_id: Uuid,
    /// Set once the instance is recorded `ready`, cleared the moment a lifecycle call takes it
    /// out of service, so the fast path never hands out a sandbox that is going away.
    accepting: bool,
    /// Sleep after this long idle (the instance's own setting, else the service's); `None`
    /// = never.
    idle_timeout: Option<Duration>,
}

/// A held lifecycle lock (see [`InstanceManager::lock`]). The lease goes first.
struct InstanceGuard {
    _lease: Option<crate::store::lease::InstanceLease>,
    _local: tokio::sync::OwnedMutexGuard<()>,
}

/// Drives instances through their lifecycle.
pub struct InstanceManager {
    store: Store,
    runtime: Arc<dyn Runtime>,
    policy: Arc<dyn CreationPolicy>,
    limits: Limits,
    serving: Mutex<HashMap<Uuid, Serving>>,
    locks: Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>,
    /// This process among the replicas sharing the database (the holder of its leases).
    replica_id: String,
    /// Serialises admission (quota + capacity check, then insert) on this node.
    admission: tokio::sync::Mutex<()>,
    /// Woken on every status change, for callers waiting for `ready`.
    changed: Notify,
    /// Consecutive crash count per instance, for restart back-off.
    crashes: Mutex<HashMap<Uuid, u32>>,
    /// What is in use, for sleeping idle instances.
    activity: Arc<Activity>,
    /// Warmed sandboxes for creates and wakes.
    pool: WarmPool,
}

/// The sandbox a start will use: a warm one from the pool, else a new id for a cold start.
struct Launch {
    sandbox_id: String,
    warm: Option<Warm>,
    /// The warm sandbox was started for a reserved id and serves an existing instance: the
    /// runtime moves the instance's files into it first (Kubernetes wakes).
    moves_files: bool,
}

impl Launch {
    /// How the sandbox comes up, for the status history (and so for status events).
    fn how(&self) -> &'static str {
        if self.moves_files {
            "a warm sandbox from the pool: the instance's files move into it, then the agent is ready at once"
        } else if self.warm.is_some() {
            "a warm sandbox from the pool: the agent is ready at once"
        } else {
            "cold start (the warm pool is empty): the agent needs about 20 s to boot"
        }
    }
}

impl InstanceManager {
    pub fn new(
        store: Store,
        runtime: Arc<dyn Runtime>,
        policy: Arc<dyn CreationPolicy>,
        limits: Limits,
        pool_size: usize,
    ) -> Arc<Self> {
        let pool_size = if runtime.has_pool() { pool_size } else { 0 };
        Arc::new(InstanceManager {
            store,
            runtime,
            policy,
            limits,
            serving: Mutex::new(HashMap::new()),
            locks: Mutex::new(HashMap::new()),
            replica_id: Uuid::new_v4().to_string(),
            admission: tokio::sync::Mutex::new(()),
            changed: Notify::new(),
            crashes: Mutex::new(HashMap::new()),
            activity: Arc::new(Activity::default()),
            pool: WarmPool::new(pool_size),
        })
    }

    /// What the warm pool holds now.
    pub fn pool_stats(&self) -> PoolStats {
        self.pool.stats()
    }

    /// Keep the warm pool filled, in the background, until the process ends: first the
    /// pooled sandboxes an earlier process left running rejoin it, then new ones are started
    /// one at a time (two gateways booting at once on a small machine each take twice as
    /// long) while the node has room. Call after [`InstanceManager::reconcile`].
    pub fn spawn_pool_filler(self: &Arc<Self>) {
        // With a reserving runtime (Kubernetes) other replicas' leftovers are tended even
        // without a pool of our own.
        let reserves = self.runtime.has_pool() && self.runtime.pool_reserves_ids();
        if self.pool.stats().size == 0 && !reserves {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            for p in this.runtime.list_pooled().await {
                let (None, Some(endpoint)) = (p.reserved, p.endpoint) else {
                    continue;
                };
                let adopted = Warm {
                    sandbox_id: p.sandbox_id,
                    endpoint,
                    reserved: None,
                };
                if let Err(e) = this
                    .pool
                    .warm_one(&*this.runtime, Some(adopted), None)
                    .await
                {
                    tracing::warn!(error = %e, "a pooled sandbox from before the restart could not rejoin the pool");
                }
            }
            this.pool.trim(&*this.runtime).await;
            // Every 10 s, beside the filling (which may wait minutes for a pod): drop dead
            // pooled sandboxes, and tend other replicas' leftovers.
            let tender = this.clone();
            tokio::spawn(async move {
                loop {
                    tender.pool.prune(&*tender.runtime).await;
                    tender.tend_pool_leftovers().await;
                    tokio::time::sleep(Duration::from_secs(10)).await;
                }
            });
            let mut failures = 0u32;
            loop {
                if this.pool.wants_more() && this.room_for_pool().await {
                    let reserved = if this.runtime.pool_reserves_ids() {
                        // Without the id's lease another replica could take the pod up.
                        let id = Uuid::new_v4();
                        match this.store.try_hold(id, &this.replica_id).await {
                            Ok(Some(lease)) => Some(this.pool.reserve(id, Some(lease))),
                            _ => {
                                tracing::warn!(
                                    "cannot lease an id for a pooled pod; retrying in 10 s"
                                );
                                tokio::time::sleep(Duration::from_secs(10)).await;
                                continue;
                            }
                        }
                    } else {
                        None
                    };
                    match this.pool.warm_one(&*this.runtime, None, reserved).await {
                        Ok(()) => failures = 0,
                        Err(e) => {
                            failures += 1;
                            let delay = Duration::from_secs(5 << failures.min(6));
                            tracing::warn!(error = %e, retry_in = ?delay, "could not warm a pooled sandbox");
                            tokio::time::sleep(delay).await;
                        }
                    }
                    continue;
                }
                tokio::select! {
                    _ = this.pool.taken.notified() => {}
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                }
            }
        });
    }

    /// Kubernetes: take care of pooled pods no replica keeps any more (the lease on their
    /// reserved id is free: the replica that started them died or shrank its pool). One whose
    /// id became an instance (its replica died in the middle of the claim) leaves its volume
    /// to that instance, which its own supervision brings up; a ready one joins this pool if
    /// it wants more; the rest are removed with their volumes.
    async fn tend_pool_leftovers(self: &Arc<Self>) {
        if !self.runtime.pool_reserves_ids() {
            return;
        }
        let pooled = self.runtime.list_pooled().await;
        let elsewhere = pooled
            .iter()
            .filter(|p| p.reserved.is_some_and(|id| !self.pool.is_reserved(id)))
            .count();
        self.pool.set_elsewhere(elsewhere);
        // Adoptions warm up in the background: count them here.
        let stats = self.pool.stats();
        let mut room = stats.size.saturating_sub(stats.ready + stats.warming);
        for p in pooled {
            let Some(id) = p.reserved else { continue };
            if self.pool.is_reserved(id) {
                continue;
            }
            let Ok(instance) = self.store.get_instance_all_owners(id).await else {
                continue;
            };
            if let Some(m) = instance {
                // The id is an instance: our own lifecycle work on it holds this lock, and must
                // finish first (a lease of our own replica counts as free to `try_hold`).
                let Ok(local) = self.lock_for(id).try_lock_owned() else {
                    continue;
                };
                let Ok(Some(lease)) = self.store.try_hold(id, &self.replica_id).await else {
                    continue;
                };
                let stopped = match self
                    .runtime
                    .discard_pooled(&p.sandbox_id, Some(id), true)
                    .await
                {
                    Ok(stopped) => stopped,
                    Err(e) => {
                        tracing::warn!(instance_id = %id, error = %e, "could not finish a cut-short claim; retrying");
                        continue;
                    }
                };
                // Its sandbox was a pod still marked pooled (read fresh; `p` may predate a
                // claim that has since finished): bring it up on its volume, holding its
                // lock and lease as a restart needs.
                if stopped
                    && m.desired_state == DESIRED_RUNNING
                    && m.sandbox_id.as_deref() == Some(p.sandbox_id.as_str())
                {
                    tracing::warn!(instance_id = %id, sandbox_id = %p.sandbox_id, "a pooled pod's claim was cut short; restarting the instance on its volume");
                    let this = self.clone();
                    tokio::spawn(async move {
                        let _held = (local, lease);
                        this.stop_serving(id, None).await;
                        if let Err(e) = this
                            .restart_locked(id, "its warm pod's claim was cut short")
                            .await
                        {
                            tracing::error!(instance_id = %id, error = %e, "could not restart the instance");
                        }
                    });
                }
                continue;
            }
            // Not an instance and not ours: only the replica holding its lease may work on it
            // (no lifecycle work of ours can start on an id we neither reserved nor created).
            let Ok(Some(lease)) = self.store.try_hold(id, &self.replica_id).await else {
                continue;
            };
            let reserved = self.pool.reserve(id, Some(lease));
            match p.endpoint {
                Some(endpoint) if room > 0 => {
                    room -= 1;
                    tracing::info!(sandbox_id = %p.sandbox_id, "taking up a pooled sandbox another replica left");
                    let adopted = Warm {
                        sandbox_id: p.sandbox_id,
                        endpoint,
                        reserved: Some(reserved),
                    };
                    // Its warm-up turn takes seconds: not on the tending pass.
                    let this = self.clone();
                    tokio::spawn(async move {
                        if let Err(e) = this
                            .pool
                            .warm_one(&*this.runtime, Some(adopted), None)
                            .await
                        {
                            tracing::warn!(error = %e, "a pooled sandbox another replica left could not join the pool");
                        }
                    });
                }
                _ => {
                    tracing::info!(sandbox_id = %p.sandbox_id, "removing a pooled sandbox another replica left");
                    let _ = self
                        .runtime
                        .discard_pooled(&p.sandbox_id, Some(id), false)
                        .await;
                }
            }
        }
    }

    /// Whether one more pooled sandbox fits beside the running instances.
    async fn room_for_pool(&self) -> bool {
        let running = self
            .store
            .count_running_all_owners()
            .await
            .unwrap_or(u64::MAX);
        running.saturating_add(self.pool.counted() as u64) < self.limits.max_running_instances
    }

    /// The sandbox for a start of an existing instance without an admission check (the
    /// instance is already counted): a warm one if the pool has one it can use.
    fn next_launch(&self) -> Launch {
        self.launch(false)
    }

    /// A warm sandbox if the pool has one fit for a new instance (`for_new_instance`) or
    /// for an existing one, else a new sandbox id for a cold start.
    fn launch(&self, for_new_instance: bool) -> Launch {
        match self.pool.take() {
            Some(warm) => Launch {
                sandbox_id: warm.sandbox_id.clone(),
                moves_files: !for_new_instance && warm.reserved.is_some(),
                warm: Some(warm),
            },
            None => Launch {
                sandbox_id: new_sandbox_id(),
                warm: None,
                moves_files: false,
            },
        }
    }

    /// The sandbox for a start that adds a running instance: `503` when the node is full.
    /// Call with the admission lock held. A warm sandbox is already counted against
    /// capacity, so claiming one is admitted whenever the pool has one.
    async fn admit_launch(&self) -> ApiResult<Launch> {
        self.admit(self.next_launch()).await
    }

    /// `launch`, unless the node is full (`503`; its warm sandbox goes back to the pool).
    async fn admit(&self, launch: Launch) -> ApiResult<Launch> {
        if let Err(e) = self.check_capacity().await {
            self.release(launch);
            return Err(e);
        }
        Ok(launch)
    }

    /// A launch that will not happen: its warm sandbox goes back to the pool.
    fn release(&self, launch: Launch) {
        if let Some(w) = launch.warm {
            self.pool.put_back(w);
        }
    }

    /// Hold the instance awake while the guard lives (see [`super::activity`]).
    pub fn busy(&self, id: Uuid) -> ActivityGuard {
        self.activity.enter(id)
    }

    /// The idle timeout of an instance: its own (`Some(0)` = never), else the service's.
    fn idle_timeout_of(&self, own: Option<i64>) -> Option<Duration> {
        let secs = match own {
            Some(s) => u64::try_from(s).unwrap_or(0),
            None => self.limits.idle_timeout_s,
        };
        (secs > 0).then(|| Duration::from_secs(secs))
    }

    /// Change an instance's own idle timeout (`0` = never sleep); applies at once, and the
    /// idle clock restarts.
    pub async fn set_idle_timeout(&self, owner: &Owner, id: Uuid, seconds: u64) -> ApiResult<()> {
        let secs = i64::try_from(seconds).unwrap_or(i64::MAX);
        if !self.store.set_idle_timeout(owner, id, secs).await? {
            return Err(ApiError::not_found("instance"));
        }
        if let Some(s) = self.serving.lock().expect("serving").get_mut(&id) {
            s.idle_timeout = self.idle_timeout_of(Some(secs));
        }
        self.activity.touch(id);
        Ok(())
    }

    /// Put idle instances to sleep, checking every few seconds, until the process ends.
    /// Kubernetes, where several replicas share the cluster: every 10 s, take up the
    /// supervision of running instances this replica does not supervise (another replica
    /// started them, and may since have died), and restart those whose pod is gone with no
    /// replica noticing. Lifecycle work runs under the instance's lease, and a supervisor
    /// checks the database before acting, so several supervisors of one instance agree.
    pub fn spawn_shared_supervision(self: &Arc<Self>) {
        if self.runtime.kind() != "kubernetes" {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(10)).await;
                if let Err(e) = this.supervise_unsupervised().await {
                    tracing::warn!(error = %e, "could not check on other replicas' instances");
                }
            }
        });
    }

    async fn supervise_unsupervised(self: &Arc<Self>) -> anyhow::Result<()> {
        let running: HashMap<String, RunningSandbox> = self
            .runtime
            .list()
            .await?
            .into_iter()
            .map(|r| (r.sandbox_id.clone(), r))
            .collect();
        for m in self.store.list_running_instances_all_owners().await? {
            let status = Status::parse(&m.status);
            if m.desired_state != DESIRED_RUNNING
                || !matches!(status, Some(Status::Ready | Status::Failed))
                || self.serving.lock().expect("serving").contains_key(&m.id)
            {
                continue;
            }
            // A failed instance is its supervisor's to restart (with back-off) unless it has
            // been left failed for longer than any back-off: then that supervisor is gone.
            let abandoned = status == Some(Status::Ready)
                || chrono::Utc::now() - m.updated_at > chrono::Duration::minutes(2);
            let current = m.sandbox_id.as_ref().and_then(|sid| running.get(sid));
            match current {
                Some(r) if r.instance_id == m.id && status == Some(Status::Ready) => {
                    let Some(endpoint) = self.runtime.adopt(r).await else {
                        continue;
                    };
                    let _guard = self.lock(m.id).await;
                    if self.serving.lock().expect("serving").contains_key(&m.id) {
                        continue;
                    }
                    tracing::info!(instance_id = %m.id, sandbox_id = %r.sandbox_id, "supervising another replica's instance too");
                    self.take_up(&m, r.sandbox_id.clone(), endpoint).await?;
                }
                Some(_) => {}
                None if !abandoned => {}
                None => {
                    // Its sandbox is gone and no supervisor here saw it go: check again under
                    // the lease (another replica may be bringing it up), then restart it.
                    let _guard = self.lock(m.id).await;
                    let Some(now) = self.store.get_instance_all_owners(m.id).await? else {
                        continue;
                    };
                    let sid = now.sandbox_id.clone().unwrap_or_default();
                    if now.desired_state != DESIRED_RUNNING
                        || now.status != m.status
                        || now.sandbox_id != m.sandbox_id
                        || self.runtime.find(&sid).await.is_some()
                        || self.serving.lock().expect("serving").contains_key(&m.id)
                    {
                        continue;
                    }
                    tracing::warn!(instance_id = %m.id, "its sandbox is gone and its replica did not answer; restarting it");
                    self.restart_locked(
                        m.id,
                        "restarting: its sandbox was gone and its replica did not answer",
                    )
                    .await?;
                }
            }
        }
        Ok(())
    }

    /// Every 2 s, write down in the database which instances this replica saw in use, so that
    /// the replica that would put one to sleep knows (see `sleep_if_idle`).
    pub fn spawn_activity_publisher(self: &Arc<Self>) {
        let this = self.clone();
        tokio::spawn(async move {
            let mut since = std::time::Instant::now();
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                let now = std::time::Instant::now();
                for (id, at) in this.activity.used_since(since) {
                    if let Err(e) = this.store.record_activity(id, at).await {
                        tracing::warn!(instance_id = %id, error = %e, "could not record activity");
                    }
                }
                since = now;
            }
        });
    }

    pub fn spawn_idle_sweeper(self: &Arc<Self>) {
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let due: Vec<(Uuid, Duration)> = this
                    .serving
                    .lock()
                    .expect("serving")
                    .iter()
                    .filter(|(_, s)| s.accepting)
                    .filter_map(|(id, s)| Some((*id, s.idle_timeout?)))
                    .filter(|(id, after)| this.activity.idle_for(*id).is_some_and(|d| d >= *after))
                    .collect();
                for (id, after) in due {
                    this.sleep_if_idle(id, after).await;
                }
            }
        });
    }

    /// Sleep: stop the sandbox (storage kept) of an instance still idle for `after`.
    async fn sleep_if_idle(self: &Arc<Self>, id: Uuid, after: Duration) {
        let _guard = self.lock(id).await;
        let idle = || self.activity.idle_for(id).is_some_and(|d| d >= after);
        if !idle() {
            return;
        }
        // Another replica may have served it meanwhile (its activity reaches the database
        // every couple of seconds).
        if let Ok(Some(at)) = self.store.last_activity(id).await
            && crate::store::lease::epoch_ms() - at < after.as_millis() as i64
        {
            return;
        }
        let current = self.serving.lock().expect("serving").get(&id).cloned();
        let Some(current) = current.filter(|s| s.accepting) else {
            return;
        };
        // No new call may take the sandbox from here on; one that slipped in before is seen
        // in the activity count, and wins.
        self.set_accepting(id, false);
        if !idle() {
            self.set_accepting(id, true);
            return;
        }
        let reason = format!("idle for {} s", after.as_secs());
        if let Err(e) = self
            .set_status(
                id,
                Status::Sleeping,
                Some(&reason),
                Some(DESIRED_SLEEPING),
                None,
            )
            .await
        {
            tracing::error!(instance_id = %id, error = %e, "could not record sleep");
            self.set_accepting(id, true);
            return;
        }
        self.stop_serving(id, Some(&current.sandbox_id)).await;
        tracing::info!(instance_id = %id, sandbox_id = %current.sandbox_id, "instance asleep");
    }

    /// Wake a sleeping instance: a fresh sandbox on its storage (a warm one from the pool if
    /// there is one). Idempotent under races (the status is re-read under the admission lock).
    /// `503` when the node is full. Returns how the sandbox comes up.
    async fn wake(self: &Arc<Self>, id: Uuid) -> ApiResult<String> {
        let _admission = self.admission.lock().await;
        let Some(m) = self.store.get_instance_all_owners(id).await? else {
            return Err(ApiError::not_found("instance"));
        };
        if m.desired_state != DESIRED_SLEEPING {
            // Another call woke it first.
            return Ok(waking_how(&m));
        }
        let launch = self.admit_launch().await?;
        let how = launch.how();
        let reason = format!("a call arrived; {how}");
        self.begin(id, Status::Waking, &reason, Some(DESIRED_RUNNING), launch)
            .await?;
        Ok(how.to_owned())
    }

    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.runtime
    }

    /// The instance's lifecycle lock: this replica's mutex, then the lease that keeps other
    /// replicas sharing the database off the instance (`store::lease`).
    async fn lock(&self, id: Uuid) -> InstanceGuard {
        let local = self.lock_for(id).lock_owned().await;
        let lease = self.store.lease(id, &self.replica_id).await;
        InstanceGuard {
            _lease: lease,
            _local: local,
        }
    }

    fn lock_for(&self, id: Uuid) -> Arc<tokio::sync::Mutex<()>> {
        self.locks
            .lock()
            .expect("locks")
            .entry(id)
            .or_default()
            .clone()
    }

    async fn set_status(
        &self,
        id: Uuid,
        to: Status,
        reason: Option<&str>,
        desired: Option<&str>,
        sandbox_id: Option<&str>,
    ) -> Result<Option<instance::Model>, sea_orm::DbErr> {
        let res = self
            .store
            .transition(id, to.as_str(), reason, desired, sandbox_id)
            .await;
        if let Ok(Some(m)) = &res {
            tracing::info!(instance_id = %id, status = to.as_str(), reason, sandbox_id = m.sandbox_id.as_deref(), "instance status");
        }
        self.changed.notify_waiters();
        res
    }

    async fn owned(&self, owner: &Owner, id: Uuid) -> ApiResult<instance::Model> {
        self.store
            .get_instance(owner, id)
            .await?
            .ok_or_else(|| ApiError::not_found("instance"))
    }

    /// `503` unless another sandbox fits: running instances and the warm pool's sandboxes
    /// together stay within `limits.max_running_instances`.
    async fn check_capacity(&self) -> ApiResult<()> {
        let running = self.store.count_running_all_owners().await?;
        if running + self.pool.counted() as u64 >= self.limits.max_running_instances {
            return Err(ApiError::new(
                ErrorCode::CapacityExhausted,
                format!(
                    "this node runs at most {} instances and is full; retry later",
                    self.limits.max_running_instances
                ),
            )
            .retry_after(30));
        }
        Ok(())
    }

    /// Admit and create an instance; its sandbox comes up in the background.
    pub async fn create(
        self: &Arc<Self>,
        caller: &Caller,
        mut new: NewInstance,
        invite_code: Option<&str>,
    ) -> ApiResult<instance::Model> {
        let model = {
            let _admission = self.admission.lock().await;
            let ctx = CreateRequestContext {
                caller,
                invite_code,
                store: &self.store,
            };
            let admission = self.policy.admit(&ctx).await?;
            // Capacity before the policy commits: a `503` never uses up an invite redemption.
            let launch = self.admit(self.launch(true)).await?;
            if let Err(e) = self.policy.commit(&ctx, admission).await {
                self.release(launch);
                return Err(e);
            }
            if new.name.is_empty() {
                new.name = format!("instance-{}", &launch.sandbox_id["sandy-".len()..]);
            }
            match self
                .store
                .insert_instance(
                    &caller.owner,
                    launch.warm.as_ref().and_then(Warm::reserved_id),
                    new,
                    Status::Provisioning.as_str(),
                    Some(launch.how()),
                    &launch.sandbox_id,
                )
                .await
            {
                Ok(model) => (model, launch),
                Err(e) => {
                    // A reserved id that cannot be inserted may be another replica's now: drop
                    // the sandbox (releasing the lease); the pool's tending sorts it out.
                    if launch.warm.as_ref().is_none_or(|w| w.reserved.is_none()) {
                        self.release(launch);
                    }
                    return Err(e.into());
                }
            }
        };
        let (model, launch) = model;
        self.changed.notify_waiters();
        self.spawn_bring_up(model.id, launch);
        Ok(model)
    }

    fn spawn_bring_up(self: &Arc<Self>, id: Uuid, launch: Launch) {
        let this = self.clone();
        tokio::spawn(async move {
            let _guard = this.lock(id).await;
            this.bring_up(id, launch).await;
        });
    }

    /// Start a sandbox for the instance and mark it ready (or failed). Call with its lock held.
    async fn bring_up(self: &Arc<Self>, id: Uuid, mut launch: Launch) {
        let mut sandbox_id = launch.sandbox_id.clone();
        // The instance may have been stopped or deleted while this task waited for the lock.
        // Only the sandbox the database names as current may come up, so racing lifecycle
        // calls can never leave two sandboxes serving one instance.
        let (account_id, desktop, idle_timeout, status) =
            match self.store.get_instance_all_owners(id).await {
                Ok(Some(m))
                    if m.desired_state == DESIRED_RUNNING
                        && m.sandbox_id.as_deref() == Some(sandbox_id.as_str()) =>
                {
                    (
                        m.account_id,
                        m.desktop,
                        self.idle_timeout_of(m.idle_timeout_s),
                        Status::parse(&m.status).unwrap_or(Status::Starting),
                    )
                }
                _ => {
                    match launch.warm {
                        // Started for this instance's id: its volume is the instance's now (or
                        // goes with it), so only the pod goes.
                        Some(w) if w.reserved_id() == Some(id) => {
                            let _ = self
                                .runtime
                                .discard_pooled(&w.sandbox_id, w.reserved_id(), true)
                                .await;
                        }
                        _ => self.release(launch),
                    }
                    return;
                }
            };
        self.stop_serving(id, None).await;
        // Any other sandbox of this instance is stale: another replica's start that lost the
        // race for the current sandbox id, or one left by a replica that died. (Under the
        // instance's lease, with this sandbox named current, nothing else may serve it.)
        for stale in self.runtime.stale_sandboxes(id, &sandbox_id).await {
            tracing::warn!(instance_id = %id, sandbox_id = %stale, "stopping a stale sandbox of the instance");
            if let Err(e) = self.runtime.stop(&stale).await {
                tracing::error!(instance_id = %id, error = %e, "could not stop a stale sandbox");
            }
        }
        let mut spec = SandboxSpec {
            instance_id: id,
            sandbox_id: sandbox_id.clone(),
            desktop,
        };
        let started = match launch.warm.is_some() {
            true => match self.runtime.claim(&sandbox_id, id).await {
                Ok(endpoint) => {
                    // A cold start passes `--desktop`; a claimed sandbox starts it now.
                    if desktop && let Err(e) = agent_client::start_desktop(&endpoint).await {
                        tracing::warn!(instance_id = %id, error = %e.message, "could not start the desktop; it starts on first use");
                    }
                    Ok(endpoint)
                }
                // Turned down with nothing changed: the sandbox goes back to the pool, and the
                // instance starts cold under a sandbox id of its own, saying why.
                Err(RuntimeError::Declined(reason)) => {
                    tracing::info!(instance_id = %id, %sandbox_id, reason, "the pooled sandbox was turned down; starting cold");
                    if let Some(w) = launch.warm.take() {
                        self.pool.put_back(w);
                    }
                    sandbox_id = new_sandbox_id();
                    spec.sandbox_id = sandbox_id.clone();
                    if let Err(e) = self
                        .set_status(id, status, Some(&reason), None, Some(&sandbox_id))
                        .await
                    {
                        tracing::error!(instance_id = %id, error = %e, "could not record the cold start");
                    }
                    self.cold_start(&spec).await
                }
                Err(e) => {
                    tracing::warn!(instance_id = %id, %sandbox_id, error = %e, "could not claim the pooled sandbox; starting cold");
                    match self.runtime.stop(&sandbox_id).await {
                        Ok(()) => self.cold_start(&spec).await,
                        Err(e) => Err(e),
                    }
                }
            },
            false => self.cold_start(&spec).await,
        };
        match started {
            Ok(endpoint) => {
                self.serving.lock().expect("serving").insert(
                    id,
                    Serving {
                        sandbox_id: sandbox_id.clone(),
                        endpoint,
                        account_id,
                        accepting: false,
                        idle_timeout,
                    },
                );
                self.write_pending_instructions(id).await;
                if let Err(e) = self
                    .set_status(id, Status::Ready, None, None, Some(&sandbox_id))
                    .await
                {
                    tracing::error!(instance_id = %id, error = %e, "could not record ready");
                }
                self.activity.touch(id);
                self.set_accepting(id, true);
                self.spawn_supervisor(id, sandbox_id);
            }
            Err(e) => {
                let reason = e.to_string();
                if let Err(e) = self
                    .set_status(id, Status::Failed, Some(&reason), None, None)
                    .await
                {
                    tracing::error!(instance_id = %id, error = %e, "could not record failure");
                }
            }
        }
    }

    /// Start a sandbox of the instance's own. On a runtime that reserves ids (Kubernetes) a
    /// pooled pod may still be marked as the id's (a claim cut short): it goes first, so two
    /// pods never mount the instance's volume.
    async fn cold_start(&self, spec: &SandboxSpec) -> Result<AgentEndpoint, RuntimeError> {
        if self.runtime.pool_reserves_ids() {
            self.runtime
                .discard_pooled("", Some(spec.instance_id), true)
                .await?;
        }
        self.runtime.start(spec).await
    }

    /// Write the instance's instructions to `/workspace/AGENTS.md` if they changed since the
    /// last write (OpenClaw reads the file on its next turn; no restart needed).
    async fn write_pending_instructions(&self, id: Uuid) {
        let Ok(Some(m)) = self.store.get_instance_all_owners(id).await else {
            return;
        };
        let (Some(text), true) = (m.instructions, m.instructions_pending) else {
            return;
        };
        let Some(endpoint) = self
            .serving
            .lock()
            .expect("serving")
            .get(&id)
            .map(|s| s.endpoint.clone())
        else {
            return;
        };
        let body = serde_json::to_vec(&sandbox_agent::protocol::WriteRequest {
            path: format!("{}/AGENTS.md", sandbox_agent::protocol::WORKSPACE),
            content: text.clone(),
        })
        .expect("serializes");
        let req = agent_client::request(
            &endpoint,
            "POST",
            sandbox_agent::protocol::routes::FILES_WRITE,
        )
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from(body)));
        let ok = match req {
            Ok(req) => agent_client::send(&endpoint, req)
                .await
                .is_ok_and(|r| r.status().is_success()),
            Err(_) => false,
        };
        if ok {
            let _ = self.store.instructions_written_all_owners(id, &text).await;
        } else {
            tracing::warn!(instance_id = %id, "could not write AGENTS.md; will retry at next start");
        }
    }

    /// Change an instance's instructions; written at once when it runs, else at its next start.
    pub async fn set_instructions(&self, owner: &Owner, id: Uuid, text: &str) -> ApiResult<()> {
        if !self.store.set_instructions(owner, id, text).await? {
            return Err(ApiError::not_found("instance"));
        }
        let _guard = self.lock(id).await;
        self.write_pending_instructions(id).await;
        Ok(())
    }

    /// `404` unless the owner has the instance; `409` unless it is running or coming up. A
    /// sleeping instance is woken (not waited for). `Some(how)` when it is waking: how its
    /// sandbox comes up (warm from the pool, or a cold start), for people.
    pub async fn ensure_running(
        self: &Arc<Self>,
        owner: &Owner,
        id: Uuid,
    ) -> ApiResult<Option<String>> {
        let m = self.owned(owner, id).await?;
        match Status::parse(&m.status) {
            Some(Status::Waking) => Ok(Some(waking_how(&m))),
            Some(s) if s == Status::Ready || s.is_coming_up() => Ok(None),
            Some(Status::Sleeping) => self.wake(id).await.map(Some),
            _ => Err(not_running(&m)),
        }
    }

    fn set_accepting(&self, id: Uuid, accepting: bool) {
        if let Some(s) = self.serving.lock().expect("serving").get_mut(&id) {
            s.accepting = accepting;
        }
    }

    /// The serving sandbox's agent, if the instance is ready right now (no waiting).
    pub fn serving_endpoint(&self, id: Uuid) -> Option<AgentEndpoint> {
        self.serving
            .lock()
            .expect("serving")
            .get(&id)
            .map(|s| s.endpoint.clone())
    }

    /// Watch a serving sandbox; if it dies while it should be serving, record the failure and
    /// start a new one with exponential back-off (1 s doubling to 60 s).
    fn spawn_supervisor(self: &Arc<Self>, id: Uuid, sandbox_id: String) {
        let this = self.clone();
        tokio::spawn(async move {
            let reason = this.runtime.wait_exit(&sandbox_id).await;
            let guard = this.lock(id).await;
            let still_current = this
                .serving
                .lock()
                .expect("serving")
                .get(&id)
                .is_some_and(|s| s.sandbox_id == sandbox_id);
            if !still_current {
                return; // stopped on purpose
            }
            this.serving.lock().expect("serving").remove(&id);
            // Another replica may have moved the instance on (slept, stopped or rebooted it):
            // then this sandbox's end is no crash.
            match this.store.get_instance_all_owners(id).await {
                Ok(Some(m))
                    if m.desired_state == DESIRED_RUNNING
                        && m.sandbox_id.as_deref() == Some(sandbox_id.as_str()) => {}
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!(instance_id = %id, error = %e, "cannot read the instance; treating its sandbox's end as a crash")
                }
            }
            let _ = this.runtime.stop(&sandbox_id).await;
            let _ = this
                .set_status(id, Status::Failed, Some(&reason), None, None)
                .await;
            let n = {
                let mut c = this.crashes.lock().expect("crashes");
                let n = c.entry(id).or_insert(0);
                *n += 1;
                *n
            };
            drop(guard);
            let delay = Duration::from_secs(1u64 << n.min(6)).min(Duration::from_secs(60));
            tracing::warn!(instance_id = %id, %reason, restart_in = ?delay, "sandbox died; restarting");
            tokio::time::sleep(delay).await;
            let _guard = this.lock(id).await;
            match this.store.get_instance_all_owners(id).await {
                Ok(Some(m))
                    if m.desired_state == DESIRED_RUNNING
                        && m.status == Status::Failed.as_str() => {}
                _ => return, // someone stopped, rebooted or deleted it meanwhile
            }
            let _ = this
                .restart_locked(id, "restarting after the sandbox died")
                .await;
        });
    }

    /// Serve and supervise a sandbox found running (an orchestrator restart, or another
    /// replica's start), marking the instance ready if it was not.
    async fn take_up(
        self: &Arc<Self>,
        m: &instance::Model,
        sandbox_id: String,
        endpoint: AgentEndpoint,
    ) -> Result<(), sea_orm::DbErr> {
        self.serving.lock().expect("serving").insert(
            m.id,
            Serving {
                sandbox_id: sandbox_id.clone(),
                endpoint,
                account_id: m.account_id,
                accepting: false,
                idle_timeout: self.idle_timeout_of(m.idle_timeout_s),
            },
        );
        if m.status != Status::Ready.as_str() {
            self.set_status(m.id, Status::Ready, None, None, None)
                .await?;
        }
        self.set_accepting(m.id, true);
        self.spawn_supervisor(m.id, sandbox_id);
        Ok(())
    }

    /// Record a restart (`why`, and how the sandbox comes up) and bring a new sandbox up.
    /// Call with the instance's lock held.
    async fn restart_locked(self: &Arc<Self>, id: Uuid, why: &str) -> Result<(), sea_orm::DbErr> {
        let launch = self.next_launch();
        let reason = format!("{why}; {}", launch.how());
        if let Err(e) = self
            .set_status(
                id,
                Status::Starting,
                Some(&reason),
                None,
                Some(&launch.sandbox_id),
            )
            .await
        {
            self.release(launch);
            return Err(e);
        }
        self.bring_up(id, launch).await;
        Ok(())
    }

    /// Stop the serving sandbox, if any. Call with the instance's lock held.
    async fn stop_serving(&self, id: Uuid, recorded: Option<&str>) {
        let serving = self.serving.lock().expect("serving").remove(&id);
        let sandbox_id = serving
            .map(|s| s.sandbox_id)
            .or(recorded.map(str::to_owned));
        if let Some(sid) = sandbox_id
            && let Err(e) = self.runtime.stop(&sid).await
        {
            tracing::error!(instance_id = %id, error = %e, "could not stop sandbox");
        }
    }

    /// `POST .../shutdown`: stop the sandbox, keep the storage.
    pub async fn shutdown(self: &Arc<Self>, owner: &Owner, id: Uuid) -> ApiResult<instance::Model> {
        let m = self.owned(owner, id).await?;
        match Status::parse(&m.status) {
            Some(Status::Stopped | Status::Stopping) => return Ok(m),
            Some(Status::Deleting) => return Err(deleting()),
            _ => {}
        }
        self.set_accepting(id, false);
        let m = self
            .set_status(id, Status::Stopping, None, Some(DESIRED_STOPPED), None)
            .await?
            .ok_or_else(|| ApiError::not_found("instance"))?;
        let this = self.clone();
        let recorded = m.sandbox_id.clone();
        tokio::spawn(async move {
            let _guard = this.lock(id).await;
            this.stop_serving(id, recorded.as_deref()).await;
            let _ = this.set_status(id, Status::Stopped, None, None, None).await;
        });
        Ok(m)
    }

    /// `POST .../start`: start a stopped (or failed) instance.
    pub async fn start(self: &Arc<Self>, owner: &Owner, id: Uuid) -> ApiResult<instance::Model> {
        let m = self.owned(owner, id).await?;
        let status = Status::parse(&m.status);
        match status {
            Some(Status::Deleting) => return Err(deleting()),
            Some(Status::Stopping) => {
                return Err(ApiError::new(
                    ErrorCode::Conflict,
                    "the instance is still stopping; start it once it is stopped",
                ));
            }
            Some(s) if m.desired_state == DESIRED_RUNNING && s != Status::Failed => return Ok(m),
            _ => {}
        }
        let launch = if m.desired_state != DESIRED_RUNNING {
            let _admission = self.admission.lock().await;
            self.admit_launch().await?
        } else {
            self.next_launch()
        };
        self.crashes.lock().expect("crashes").remove(&id);
        let how = launch.how();
        self.begin(id, Status::Starting, how, Some(DESIRED_RUNNING), launch)
            .await
    }

    /// Record `to` (with `reason`, and `desired` when given) naming the launch's sandbox as
    /// current, then bring that sandbox up in the background. If nothing could be recorded, a
    /// warm sandbox goes back to the pool.
    async fn begin(
        self: &Arc<Self>,
        id: Uuid,
        to: Status,
        reason: &str,
        desired: Option<&str>,
        launch: Launch,
    ) -> ApiResult<instance::Model> {
        let recorded = self
            .set_status(id, to, Some(reason), desired, Some(&launch.sandbox_id))
            .await;
        match recorded {
            Ok(Some(m)) => {
                self.spawn_bring_up(id, launch);
                Ok(m)
            }
            Ok(None) => {
                self.release(launch);
                Err(ApiError::not_found("instance"))
            }
            Err(e) => {
                self.release(launch);
                Err(e.into())
            }
        }
    }

    /// `POST .../reboot`: replace the running sandbox with a fresh one (storage kept).
    pub async fn reboot(self: &Arc<Self>, owner: &Owner, id: Uuid) -> ApiResult<instance::Model> {
        let m = self.owned(owner, id).await?;
        // A sleeping instance has no sandbox to replace: rebooting it is waking it.
        if m.desired_state == DESIRED_SLEEPING {
            return self.start(owner, id).await;
        }
        if m.desired_state != DESIRED_RUNNING {
            return Err(not_running(&m));
        }
        if Status::parse(&m.status) == Some(Status::Deleting) {
            return Err(deleting());
        }
        self.crashes.lock().expect("crashes").remove(&id);
        self.set_accepting(id, false);
        let launch = self.next_launch();
        let how = launch.how();
        self.begin(id, Status::Rebooting, how, None, launch).await
    }

    /// `DELETE /api/instances/{id}`: stop the sandbox and delete the storage and the record.
    pub async fn delete(self: &Arc<Self>, owner: &Owner, id: Uuid) -> ApiResult<()> {
        let m = self.owned(owner, id).await?;
        self.set_accepting(id, false);
        self.set_status(id, Status::Deleting, None, Some(DESIRED_STOPPED), None)
            .await?;
        let _guard = self.lock(id).await;
        self.stop_serving(id, m.sandbox_id.as_deref()).await;
        self.runtime
            .delete_storage(id)
            .await
            .map_err(ApiError::internal)?;
        self.store.delete_instance(owner, id).await?;
        let _ = self.store.forget_activity(id).await;
        self.locks.lock().expect("locks").remove(&id);
        self.crashes.lock().expect("crashes").remove(&id);
        self.activity.forget(id);
        Ok(())
    }

    /// The agent endpoint of a ready instance. A starting instance is waited for (bounded
    /// by `limits.ready_wait_s`); a stopped or failed one is `409 INSTANCE_NOT_RUNNING`.
    pub async fn endpoint(self: &Arc<Self>, owner: &Owner, id: Uuid) -> ApiResult<AgentEndpoint> {
        // Fast path: a ready instance of this owner is in memory.
        if let Some(s) = self.serving.lock().expect("serving").get(&id)
            && s.accepting
            && s.account_id == owner.id()
        {
            return Ok(s.endpoint.clone());
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(self.limits.ready_wait_s);
        loop {
            let notified = self.changed.notified();
            let m = self.owned(owner, id).await?;
            match Status::parse(&m.status) {
                Some(Status::Ready) => {
                    if let Some(s) = self.serving.lock().expect("serving").get(&id) {
                        return Ok(s.endpoint.clone());
                    }
                    // Brought up by another orchestrator replica (Kubernetes).
                    if let Some(sid) = &m.sandbox_id
                        && let Some(endpoint) = self.runtime.find(sid).await
                    {
                        return Ok(endpoint);
                    }
                }
                Some(s) if s.is_coming_up() => {}
                // Any call wakes a sleeping instance, then waits for it like for a start.
                Some(Status::Sleeping) => {
                    self.wake(id).await?;
                    continue;
                }
                _ => return Err(not_running(&m)),
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(ApiError::new(
                    ErrorCode::Timeout,
                    format!(
                        "the instance did not become ready within {} s (status: {})",
                        self.limits.ready_wait_s, m.status
                    ),
                ));
            }
        }
    }

    /// Converge the runtime to the database: re-adopt sandboxes that survived an
    /// orchestrator restart, start missing ones, stop orphans, finish interrupted deletes.
    pub async fn reconcile(self: &Arc<Self>) -> anyhow::Result<()> {
        let running = self.runtime.list().await?;
        let mut by_sandbox: HashMap<String, _> = running
            .into_iter()
            .map(|r| (r.sandbox_id.clone(), r))
            .collect();
        for m in self.store.list_instances_all_owners().await? {
            let id = m.id;
            let status = Status::parse(&m.status);
            if status == Some(Status::Deleting) {
                let owner = Owner::from_authenticated(m.account_id);
                if let Some(sid) = &m.sandbox_id {
                    by_sandbox.remove(sid);
                    let _ = self.runtime.stop(sid).await;
                }
                self.runtime.delete_storage(id).await?;
                self.store.delete_instance(&owner, id).await?;
                continue;
            }
            if m.desired_state != DESIRED_RUNNING {
                if let Some(sid) = &m.sandbox_id
                    && by_sandbox.remove(sid).is_some()
                {
                    let _ = self.runtime.stop(sid).await;
                }
                // Asleep stays asleep (a call wakes it); anything else not running is stopped.
                let settled = if m.desired_state == DESIRED_SLEEPING {
                    Status::Sleeping
                } else {
                    Status::Stopped
                };
                if status != Some(settled) {
                    self.set_status(id, settled, None, None, None).await?;
                }
                continue;
            }
            let adopted = match m.sandbox_id.as_ref().and_then(|sid| by_sandbox.remove(sid)) {
                Some(mut r) if r.instance_id == id => match self.runtime.adopt(&r).await {
                    Some(endpoint) => {
                        r.endpoint = endpoint;
                        Some(r)
                    }
                    None => {
                        let _ = self.runtime.stop(&r.sandbox_id).await;
                        None
                    }
                },
                Some(r) => {
                    let _ = self.runtime.stop(&r.sandbox_id).await;
                    None
                }
                None => None,
            };
            match adopted {
                Some(r) => {
                    tracing::info!(instance_id = %id, sandbox_id = %r.sandbox_id, "re-adopted running sandbox");
                    self.take_up(&m, r.sandbox_id, r.endpoint).await?;
                }
                None => {
                    let launch = Launch {
                        sandbox_id: new_sandbox_id(),
                        warm: None,
                        moves_files: false,
                    };
                    self.set_status(
                        id,
                        Status::Starting,
                        Some("restarting after an orchestrator restart"),
                        None,
                        Some(&launch.sandbox_id),
                    )
                    .await?;
                    self.spawn_bring_up(id, launch);
                }
            }
        }
        for (sid, _) in by_sandbox {
            tracing::warn!(sandbox_id = %sid, "stopping orphaned sandbox");
            let _ = self.runtime.stop(&sid).await;
        }
        Ok(())
    }
}

fn deleting() -> ApiError {
    ApiError::new(ErrorCode::Conflict, "the instance is being deleted")
}

fn not_running(m: &instance::Model) -> ApiError {
    let hint = match m.status.as_str() {
        "failed" => format!(
            "the instance failed ({}); POST /api/instances/{}/reboot or /start to try again",
            m.status_reason.as_deref().unwrap_or("no reason recorded"),
            m.id
        ),
        "deleting" => "the instance is being deleted".to_owned(),
        s => format!(
            "the instance is {s}; POST /api/instances/{}/start first",
            m.id
        ),
    };
    ApiError::new(ErrorCode::InstanceNotRunning, hint)
}

/// How a waking instance's sandbox comes up, from its recorded reason.
fn waking_how(m: &instance::Model) -> String {
    let reason = m.status_reason.as_deref().unwrap_or("");
    reason
        .split_once("; ")
        .map_or(reason, |(_, how)| how)
        .to_owned()
}
