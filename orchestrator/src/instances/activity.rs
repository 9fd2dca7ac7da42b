//! What counts as an instance being in use, for sleeping idle instances.
//!
//! Every call that does work in a sandbox holds an [`ActivityGuard`] for as long as the work
//! lasts: the request middleware ([`track_requests`]) holds one per relayed request until its
//! response body has been sent in full — so a streamed download, an SSE chat stream, a
//! `chat/events` follower and a terminal or desktop websocket (whose response body *is* the
//! socket) all count for their whole life — and a chat turn holds one while the agent works,
//! even when no client is connected. An instance is idle when nothing holds a guard; the idle
//! clock starts when the last guard is dropped (or when the instance became ready).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use bytes::Bytes;
use uuid::Uuid;

#[derive(Default)]
pub struct Activity {
    entries: Mutex<HashMap<Uuid, Entry>>,
}

struct Entry {
    in_flight: usize,
    last: Instant,
}

impl Activity {
    fn with<T>(&self, id: Uuid, f: impl FnOnce(&mut Entry) -> T) -> T {
        let mut entries = self.entries.lock().expect("activity");
        let entry = entries.entry(id).or_insert_with(|| Entry {
            in_flight: 0,
            last: Instant::now(),
        });
        f(entry)
    }

    /// The instance is in use until the guard is dropped.
    pub fn enter(self: &Arc<Self>, id: Uuid) -> ActivityGuard {
        self.with(id, |e| {
            e.in_flight += 1;
            e.last = Instant::now();
        });
        ActivityGuard {
            activity: self.clone(),
            id,
        }
    }

    /// Restart the idle clock (the instance just became ready).
    pub fn touch(&self, id: Uuid) {
        self.with(id, |e| e.last = Instant::now());
    }

    /// How long the instance has been idle; `None` while something uses it.
    pub fn idle_for(&self, id: Uuid) -> Option<Duration> {
        self.with(id, |e| (e.in_flight == 0).then(|| e.last.elapsed()))
    }

    /// Calls in progress now.
    pub fn in_flight(&self, id: Uuid) -> usize {
        self.with(id, |e| e.in_flight)
    }

    /// Instances in use now or since `since`, with when they were last used (milliseconds
    /// since the Unix epoch; now for those in use), for the other replicas to see.
    pub fn used_since(&self, since: Instant) -> Vec<(Uuid, i64)> {
        let now = crate::store::lease::epoch_ms();
        self.entries
            .lock()
            .expect("activity")
            .iter()
            .filter(|(_, e)| e.in_flight > 0 || e.last > since)
            .map(|(id, e)| {
                let ago = if e.in_flight > 0 {
                    0
                } else {
                    e.last.elapsed().as_millis() as i64
                };
                (*id, now - ago)
            })
            .collect()
    }

    /// The instance is gone.
    pub fn forget(&self, id: Uuid) {
        self.entries.lock().expect("activity").remove(&id);
    }
}

/// Holds an instance awake.
pub struct ActivityGuard {
    activity: Arc<Activity>,
    id: Uuid,
}

impl Drop for ActivityGuard {
    fn drop(&mut self) {
        self.activity.with(self.id, |e| {
            e.in_flight = e.in_flight.saturating_sub(1);
            e.last = Instant::now();
        });
    }
}

/// The instance a request works in: `/api/instances/{id}/<files|terminal|chat|vnc>...`.
/// Reading an instance or its status is not use: a console polling `status` must not keep it
/// awake.
fn working_instance(path: &str) -> Option<Uuid> {
    let rest = path.strip_prefix("/api/instances/")?;
    let (id, tail) = rest.split_once('/')?;
    let works = ["files", "terminal/", "chat", "vnc"]
        .iter()
        .any(|p| tail.starts_with(p));
    if works { id.parse().ok() } else { None }
}

/// Middleware: hold an [`ActivityGuard`] for every request that works in an instance, until
/// its response body is finished or dropped.
pub async fn track_requests(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let guard = working_instance(req.path()).and_then(|id| {
        let state = req.app_data::<web::Data<crate::startup::AppState>>()?;
        Some(state.manager.busy(id))
    });
    let res = next.call(req).await?;
    Ok(match guard {
        None => res,
        Some(guard) => res.map_body(|_, body| {
            BoxBody::new(Guarded {
                body,
                _guard: guard,
            })
        }),
    })
}

/// A response body that keeps a guard alive until it is done.
struct Guarded {
    body: BoxBody,
    _guard: ActivityGuard,
}

impl MessageBody for Guarded {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.body).poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_work_in_an_instance_counts() {
        let id = Uuid::new_v4();
        let p = |s: &str| working_instance(&format!("/api/instances/{id}{s}"));
        assert_eq!(p("/files/read"), Some(id));
        assert_eq!(p("/terminal/exec"), Some(id));
        assert_eq!(p("/terminal/ws"), Some(id));
        assert_eq!(p("/chat/stream"), Some(id));
        assert_eq!(p("/vnc/ws"), Some(id));
        assert_eq!(p("/vnc-url"), Some(id));
        assert_eq!(p("/status"), None);
        assert_eq!(p(""), None);
        assert_eq!(working_instance("/api/instances/nope/files"), None);
    }

    #[test]
    fn guards_count_and_the_clock_restarts() {
        let a = Arc::new(Activity::default());
        let id = Uuid::new_v4();
        assert!(a.idle_for(id).is_some());
        let g1 = a.enter(id);
        let g2 = a.enter(id);
        assert_eq!(a.idle_for(id), None);
        drop(g1);
        assert_eq!(a.in_flight(id), 1);
        drop(g2);
        assert!(a.idle_for(id).unwrap() < Duration::from_secs(1));
    }
}
