//! Chat with the instance's OpenClaw agent.
//!
//! **Invariant:** the orchestrator's database is the source of truth for history. A turn
//! persists the user message before anything is relayed, runs in a task of its own (a client
//! that disconnects does not lose the reply), persists the assistant's partial text as it
//! streams, and its final text, usage and duration when it ends. Turns of one session run one
//! at a time in arrival order (a FIFO lock per session); sessions run concurrently. The gateway
//! receives only the new user turn with `x-openclaw-session-key = <session id>` and keeps the
//! conversation's context itself.

mod fanout;
pub mod model_proxy;
mod turn;
pub mod views;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{broadcast, mpsc};
use uuid::Uuid;

use crate::instances::InstanceManager;
use crate::settings::ChatSettings;
use crate::store::entities::{chat_message, chat_session};
use crate::store::{Owner, Store};
pub use turn::{TurnEvent, TurnFailure};

/// Chat turns and the live feed of message changes.
pub struct ChatService {
    store: Store,
    manager: Arc<InstanceManager>,
    settings: ChatSettings,
    /// Per session: the FIFO turn lock and the broadcast of persisted message changes.
    sessions: Mutex<HashMap<Uuid, SessionSlot>>,
    /// Other replicas' changes (PostgreSQL only).
    fanout: Option<fanout::Fanout>,
}

#[derive(Clone)]
struct SessionSlot {
    turn: Arc<tokio::sync::Mutex<()>>,
    changes: broadcast::Sender<chat_message::Model>,
    /// The newest change broadcast here (from this replica or another).
    delivered: Arc<AtomicI64>,
}

impl ChatService {
    pub fn new(store: Store, manager: Arc<InstanceManager>, settings: ChatSettings) -> Arc<Self> {
        let fanout = fanout::Fanout::new(&store);
        let chat = Arc::new(ChatService {
            store,
            manager,
            settings,
            sessions: Mutex::new(HashMap::new()),
            fanout,
        });
        if let Some(f) = &chat.fanout {
            f.listen(Arc::downgrade(&chat));
        }
        chat
    }

    fn slot(&self, session_id: Uuid) -> SessionSlot {
        self.sessions
            .lock()
            .expect("sessions")
            .entry(session_id)
            .or_insert_with(|| SessionSlot {
                turn: Arc::new(tokio::sync::Mutex::new(())),
                changes: broadcast::channel(256).0,
                delivered: Arc::new(AtomicI64::new(0)),
            })
            .clone()
    }

    /// Live changes of one session's messages (persisted state, in change order).
    pub fn subscribe(&self, session_id: Uuid) -> broadcast::Receiver<chat_message::Model> {
        self.slot(session_id).changes.subscribe()
    }

    fn publish(&self, msg: &chat_message::Model) {
        let slot = self.slot(msg.session_id);
        slot.delivered.fetch_max(msg.rev, Ordering::AcqRel);
        let _ = slot.changes.send(msg.clone());
        if let Some(f) = &self.fanout {
            f.notify(msg.session_id, msg.rev);
        }
    }

    /// Another replica changed `session` up to `rev`: pass what this replica's followers have
    /// not seen yet on to them, in change order.
    async fn deliver_remote(&self, session_id: Uuid, rev: i64) {
        let slot = self
            .sessions
            .lock()
            .expect("sessions")
            .get(&session_id)
            .cloned();
        let Some(slot) = slot.filter(|s| s.changes.receiver_count() > 0) else {
            return;
        };
        let since = slot.delivered.load(Ordering::Acquire);
        if rev <= since {
            return;
        }
        match self.store.changed_since_all_owners(session_id, since).await {
            Ok(changes) => {
                for m in changes {
                    slot.delivered.fetch_max(m.rev, Ordering::AcqRel);
                    let _ = slot.changes.send(m);
                }
            }
            Err(e) => {
                tracing::warn!(%session_id, error = %e, "could not read another replica's chat changes")
            }
        }
    }

    /// Start a turn in its own task; its progress arrives on the returned channel (which the
    /// caller may drop at any time without affecting the turn).
    pub fn start_turn(
        self: &Arc<Self>,
        owner: Owner,
        instance_id: Uuid,
        session: chat_session::Model,
        text: String,
        waking: Option<String>,
    ) -> mpsc::Receiver<TurnEvent> {
        let (tx, rx) = mpsc::channel(256);
        let this = self.clone();
        tokio::spawn(async move {
            turn::run(this, owner, instance_id, session, text, waking, tx).await;
        });
        rx
    }
}
