//! The warm pool: sandboxes started before anyone needs them, whose OpenClaw gateway has
//! booted (~15–20 s here) and done its slow first turn, so that a create or a wake is handed
//! one at once (`OPENCLAW.md`, "Making create and wake fast").
//!
//! A pooled sandbox runs on scratch storage and serves no instance: its one model call, the
//! warm-up turn, is answered by the orchestrator itself (`ModelCaller::Pool`). Claiming it
//! (`Runtime::claim`) moves the instance's workspace and home into it and makes its model calls
//! the instance's; the gateway's config never changes (its only provider is the sandbox's own
//! forwarder), so nothing restarts or reloads. The gateway's session store is new to the
//! instance: chat replays a session's history on its next turn (`chat::turn`).
//!
//! On Kubernetes a pod's volumes are fixed when it is created, so a pooled pod is started for an
//! instance id *reserved* in advance, with that id's fresh volume, secret and network policy
//! ([`Runtime::pool_reserves_ids`]). A create claims it by giving the new instance the
//! reserved id; a wake claims it by having the runtime move the instance's files onto the
//! pod's volume, which then serves the instance. The replica keeping a reserved sandbox holds the id's lease (`store/lease.rs`)
//! from before the pod exists until the claim, so no other replica takes it up; a reserved
//! sandbox whose lease is free was left by a replica that died, and
//! `InstanceManager::spawn_pool_filler` adopts or removes it.
//!
//! **Invariant:** a pooled sandbox serves at most one instance in its life; when that instance
//! sleeps or stops, the sandbox is stopped like any other and never returns to the pool. So no
//! tenant's data can reach another through the pool.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use sandbox_agent::protocol;
use serde_json::json;

use uuid::Uuid;

use crate::agent_client;
use crate::runtime::{AgentEndpoint, Runtime, new_sandbox_id};
use crate::store::lease::InstanceLease;

/// How long a pooled gateway may take to boot and answer its warm-up turn.
const WARM_UP_TIMEOUT: Duration = Duration::from_secs(300);

/// A warmed sandbox, ready to be claimed.
#[derive(Debug, Clone)]
pub struct Warm {
    pub sandbox_id: String,
    pub endpoint: AgentEndpoint,
    /// The instance id the sandbox was started for, if the runtime reserves ids.
    pub reserved: Option<Arc<Reserved>>,
}

impl Warm {
    /// The id a new instance claiming this sandbox must have.
    pub fn reserved_id(&self) -> Option<Uuid> {
        self.reserved.as_ref().map(|r| r.id)
    }
}

/// An instance id reserved for a pooled sandbox. While it lives, this replica holds the id's
/// lease and the pool knows the id as its own; both end when the last handle drops (after
/// the claim, or when the sandbox is discarded).
pub struct Reserved {
    pub id: Uuid,
    lease: Option<InstanceLease>,
    registry: Arc<Mutex<HashSet<Uuid>>>,
}

impl Reserved {
    /// Whether this replica's lease on the id lapsed and was taken (a long database outage):
    /// another replica may have taken the sandbox up, so this one must not hand it out.
    pub fn lost(&self) -> bool {
        self.lease.as_ref().is_some_and(InstanceLease::is_lost)
    }
}

impl std::fmt::Debug for Reserved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reserved").field("id", &self.id).finish()
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        self.registry.lock().expect("reserved").remove(&self.id);
    }
}

/// The pool's sandboxes: warmed ones, and how many are still warming.
pub struct WarmPool {
    target: usize,
    ready: Mutex<Vec<Warm>>,
    warming: AtomicUsize,
    /// Reserved instance ids of this replica's pooled sandboxes, warming, waiting or being
    /// claimed.
    reserved: Arc<Mutex<HashSet<Uuid>>>,
    /// Pooled sandboxes other replicas keep (Kubernetes: every replica sees every pooled pod):
    /// running pods too, so they count against capacity as well.
    elsewhere: AtomicUsize,
    /// Rings when a sandbox was taken (time to refill).
    pub(super) taken: tokio::sync::Notify,
}

/// What the pool holds now (for `GET /api` and logs).
#[derive(Debug, Clone, Copy, serde::Serialize, utoipa::ToSchema)]
pub struct PoolStats {
    /// Warm sandboxes to keep (`pool.size`; `0` when the runtime has no pool).
    pub size: usize,
    /// Warmed and waiting to be claimed.
    pub ready: usize,
    /// Starting or warming up now.
    pub warming: usize,
}

impl WarmPool {
    pub fn new(target: usize) -> Self {
        WarmPool {
            target,
            ready: Mutex::new(Vec::new()),
            warming: AtomicUsize::new(0),
            reserved: Arc::new(Mutex::new(HashSet::new())),
            elsewhere: AtomicUsize::new(0),
            taken: tokio::sync::Notify::new(),
        }
    }

    /// Reserve `id` for a pooled sandbox, `lease` being this replica's lease on it.
    pub fn reserve(&self, id: Uuid, lease: Option<InstanceLease>) -> Arc<Reserved> {
        self.reserved.lock().expect("reserved").insert(id);
        Arc::new(Reserved {
            id,
            lease,
            registry: self.reserved.clone(),
        })
    }

    /// Whether `id` is reserved by one of this replica's pooled sandboxes.
    pub fn is_reserved(&self, id: Uuid) -> bool {
        self.reserved.lock().expect("reserved").contains(&id)
    }

    /// A warmed sandbox, oldest first; `None` when the pool is empty (a cold start follows).
    /// A create gives the new instance a sandbox's reserved id; a start or wake of an existing
    /// instance has its storage moved into it (`Runtime::claim`).
    pub fn take(&self) -> Option<Warm> {
        let mut ready = self.ready.lock().expect("pool");
        // A reservation whose lease was lost is no longer this pool's to give (`prune` drops it).
        let warm = ready
            .iter()
            .position(|w| w.reserved.as_ref().is_none_or(|r| !r.lost()))
            .map(|i| ready.remove(i));
        drop(ready);
        if warm.is_some() {
            self.taken.notify_one();
        }
        warm
    }

    /// Return an unclaimed sandbox (its claim was called off before it began).
    pub fn put_back(&self, warm: Warm) {
        self.ready.lock().expect("pool").push(warm);
    }

    /// Sandboxes the pool holds or is starting: they count against the node's capacity.
    pub fn total(&self) -> usize {
        self.ready.lock().expect("pool").len() + self.warming.load(Ordering::Acquire)
    }

    /// Record how many pooled sandboxes other replicas keep.
    pub fn set_elsewhere(&self, n: usize) {
        self.elsewhere.store(n, Ordering::Release);
    }

    /// What counts against capacity: this pool's sandboxes and other replicas' pooled ones.
    pub fn counted(&self) -> usize {
        self.total() + self.elsewhere.load(Ordering::Acquire)
    }

    pub fn stats(&self) -> PoolStats {
        PoolStats {
            size: self.target,
            ready: self.ready.lock().expect("pool").len(),
            warming: self.warming.load(Ordering::Acquire),
        }
    }

    /// Whether the pool wants another sandbox.
    pub fn wants_more(&self) -> bool {
        self.total() < self.target
    }

    /// Start one sandbox and warm it up (boot, then one turn), or warm up one found running
    /// unclaimed (`adopted`). `reserved`: the instance id a new sandbox is started for (see
    /// [`Runtime::pool_reserves_ids`]). Counts as warming meanwhile; on success it joins the
    /// pool, on failure it is discarded.
    pub async fn warm_one(
        &self,
        runtime: &dyn Runtime,
        adopted: Option<Warm>,
        reserved: Option<Arc<Reserved>>,
    ) -> Result<(), String> {
        self.warming.fetch_add(1, Ordering::AcqRel);
        let started = Instant::now();
        let (sandbox_id, reserved, result) = match adopted {
            Some(w) => {
                let r = warm_up(&w.endpoint).await.map(|()| w.endpoint);
                (w.sandbox_id, w.reserved, r)
            }
            None => {
                let sandbox_id = new_sandbox_id();
                let id = reserved.as_ref().map(|r| r.id);
                let r = match runtime.start_pooled(&sandbox_id, id).await {
                    Ok(endpoint) => warm_up(&endpoint).await.map(|()| endpoint),
                    Err(e) => Err(e.to_string()),
                };
                (sandbox_id, reserved, r)
            }
        };
        let outcome = match result {
            Ok(endpoint) => {
                tracing::info!(%sandbox_id, warm_ms = started.elapsed().as_millis() as u64, "pooled sandbox warmed up");
                self.put_back(Warm {
                    sandbox_id,
                    endpoint,
                    reserved,
                });
                Ok(())
            }
            Err(e) => {
                let id = reserved.as_ref().map(|r| r.id);
                let _ = runtime.discard_pooled(&sandbox_id, id, false).await;
                Err(e)
            }
        };
        self.warming.fetch_sub(1, Ordering::AcqRel);
        outcome
    }

    /// Drop pooled sandboxes whose agent no longer answers (and stop what is left of them),
    /// so that the pool refills instead of handing out a dead sandbox.
    pub async fn prune(&self, runtime: &dyn Runtime) {
        // Reservations whose lease was lost: another replica may have the sandbox now, so it
        // is only forgotten here, never stopped.
        self.ready
            .lock()
            .expect("pool")
            .retain(|w| w.reserved.as_ref().is_none_or(|r| !r.lost()));
        let ready: Vec<Warm> = self.ready.lock().expect("pool").clone();
        for w in ready {
            if agent_client::healthy(&w.endpoint, Duration::from_secs(2)).await {
                continue;
            }
            let removed = {
                let mut ready = self.ready.lock().expect("pool");
                let before = ready.len();
                ready.retain(|r| r.sandbox_id != w.sandbox_id);
                ready.len() != before
            };
            if removed {
                tracing::warn!(sandbox_id = %w.sandbox_id, "a pooled sandbox died; replacing it");
                let _ = runtime
                    .discard_pooled(&w.sandbox_id, w.reserved_id(), false)
                    .await;
            }
        }
    }

    /// Stop every pooled sandbox beyond the target (e.g. adopted after a restart with a
    /// smaller `pool.size`).
    pub async fn trim(&self, runtime: &dyn Runtime) {
        let extra: Vec<Warm> = {
            let mut ready = self.ready.lock().expect("pool");
            let keep = self.target.min(ready.len());
            ready.split_off(keep)
        };
        for w in extra {
            let _ = runtime
                .discard_pooled(&w.sandbox_id, w.reserved_id(), false)
                .await;
        }
    }
}

/// Boot and first turn: one chat completion through the agent, which waits for the gateway to
/// be ready. The model call it causes is answered by the orchestrator (`ModelCaller::Pool`).
async fn warm_up(endpoint: &AgentEndpoint) -> Result<(), String> {
    let body = json!({
        "model": "openclaw/default",
        "messages": [{"role": "user", "content": "Warm-up: reply with one word."}],
    });
    let req = agent_client::request(endpoint, "POST", protocol::routes::GATEWAY_CHAT)
        .header("content-type", "application/json")
        .header(protocol::sandbox::SESSION_HEADER, "ocaas-pool-warm-up")
        .header("x-ocaas-wait-ms", WARM_UP_TIMEOUT.as_millis().to_string())
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| e.to_string())?;
    let call = async {
        let resp = agent_client::send(endpoint, req)
            .await
            .map_err(|e| format!("the agent did not answer: {e}"))?;
        let status = resp.status();
        let raw = resp
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!(
                "the warm-up turn failed (HTTP {status}): {}",
                String::from_utf8_lossy(&raw)
                    .chars()
                    .take(300)
                    .collect::<String>()
            ))
        }
    };
    tokio::time::timeout(WARM_UP_TIMEOUT + Duration::from_secs(30), call)
        .await
        .map_err(|_| "the gateway did not warm up in time".to_owned())?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::AgentAddr;
    use crate::settings::Secret;

    fn warm(pool: &WarmPool, sandbox_id: &str, reserved: Option<Uuid>) -> Warm {
        Warm {
            sandbox_id: sandbox_id.into(),
            endpoint: AgentEndpoint {
                addr: AgentAddr::Unix("/nonexistent".into()),
                token: Secret::new("t"),
            },
            reserved: reserved.map(|id| pool.reserve(id, None)),
        }
    }

    #[test]
    fn reserved_ids_are_known_until_their_sandbox_is_dropped() {
        let pool = WarmPool::new(2);
        let id = Uuid::new_v4();
        pool.put_back(warm(&pool, "sandy-reserved", Some(id)));
        pool.put_back(warm(&pool, "sandy-free", None));
        assert!(pool.is_reserved(id));
        // Oldest first; the id stays reserved while a claim holds the sandbox.
        let taken = pool.take().unwrap();
        assert_eq!(taken.reserved_id(), Some(id));
        assert!(pool.is_reserved(id));
        assert_eq!(pool.take().unwrap().sandbox_id, "sandy-free");
        assert!(pool.take().is_none());
        drop(taken);
        assert!(!pool.is_reserved(id));
    }
}
