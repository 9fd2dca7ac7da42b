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
//! **Invariant:** a pooled sandbox serves at most one instance in its life; when that instance
//! sleeps or stops, the sandbox is stopped like any other and never returns to the pool. So no
//! tenant's data can reach another through the pool.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use sandbox_agent::protocol;
use serde_json::json;

use crate::agent_client;
use crate::runtime::{AgentEndpoint, Runtime, new_sandbox_id};

/// How long a pooled gateway may take to boot and answer its warm-up turn.
const WARM_UP_TIMEOUT: Duration = Duration::from_secs(300);

/// A warmed sandbox, ready to be claimed.
#[derive(Debug, Clone)]
pub struct Warm {
    pub sandbox_id: String,
    pub endpoint: AgentEndpoint,
}

/// The pool's sandboxes: warmed ones, and how many are still warming.
pub struct WarmPool {
    target: usize,
    ready: Mutex<Vec<Warm>>,
    warming: AtomicUsize,
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
            taken: tokio::sync::Notify::new(),
        }
    }

    /// A warmed sandbox, oldest first; `None` when the pool is empty (a cold start follows).
    pub fn take(&self) -> Option<Warm> {
        let mut ready = self.ready.lock().expect("pool");
        let warm = (!ready.is_empty()).then(|| ready.remove(0));
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
    /// unclaimed after a restart (`adopted`). Counts as warming meanwhile; on success it joins
    /// the pool, on failure it is stopped.
    pub async fn warm_one(
        &self,
        runtime: &dyn Runtime,
        adopted: Option<Warm>,
    ) -> Result<(), String> {
        self.warming.fetch_add(1, Ordering::AcqRel);
        let started = Instant::now();
        let (sandbox_id, result) = match adopted {
            Some(w) => {
                let r = warm_up(&w.endpoint).await.map(|()| w.endpoint);
                (w.sandbox_id, r)
            }
            None => {
                let sandbox_id = new_sandbox_id();
                let r = match runtime.start_pooled(&sandbox_id).await {
                    Ok(endpoint) => warm_up(&endpoint).await.map(|()| endpoint),
                    Err(e) => Err(e.to_string()),
                };
                (sandbox_id, r)
            }
        };
        let outcome = match result {
            Ok(endpoint) => {
                tracing::info!(%sandbox_id, warm_ms = started.elapsed().as_millis() as u64, "pooled sandbox warmed up");
                self.put_back(Warm {
                    sandbox_id,
                    endpoint,
                });
                Ok(())
            }
            Err(e) => {
                let _ = runtime.stop(&sandbox_id).await;
                Err(e)
            }
        };
        self.warming.fetch_sub(1, Ordering::AcqRel);
        outcome
    }

    /// Drop pooled sandboxes whose agent no longer answers (and stop what is left of them),
    /// so that the pool refills instead of handing out a dead sandbox.
    pub async fn prune(&self, runtime: &dyn Runtime) {
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
                let _ = runtime.stop(&w.sandbox_id).await;
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
            let _ = runtime.stop(&w.sandbox_id).await;
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
