//! Chat with the instance's OpenClaw agent.
//!
//! **Invariant:** the orchestrator's database is the source of truth for history. A turn
//! persists the user message before anything is relayed, runs in a task of its own (a client
//! that disconnects does not lose the reply), persists the assistant's partial text as it
//! streams, and its final text, usage and duration when it ends. Turns of one session run one
//! at a time in arrival order (a FIFO lock per session); sessions run concurrently. The gateway
//! receives only the new user turn with `x-openclaw-session-key = <session id>` and keeps the
//! conversation's context itself.

pub mod model_proxy;
mod turn;
pub mod views;

use std::collections::HashMap;
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
}

#[derive(Clone)]
struct SessionSlot {
    turn: Arc<tokio::sync::Mutex<()>>,
    changes: broadcast::Sender<chat_message::Model>,
}

impl ChatService {
    pub fn new(store: Store, manager: Arc<InstanceManager>, settings: ChatSettings) -> Arc<Self> {
        Arc::new(ChatService {
            store,
            manager,
            settings,
            sessions: Mutex::new(HashMap::new()),
        })
    }

    fn slot(&self, session_id: Uuid) -> SessionSlot {
        self.sessions
            .lock()
            .expect("sessions")
            .entry(session_id)
            .or_insert_with(|| SessionSlot {
                turn: Arc::new(tokio::sync::Mutex::new(())),
                changes: broadcast::channel(256).0,
            })
            .clone()
    }

    /// Live changes of one session's messages (persisted state, in change order).
    pub fn subscribe(&self, session_id: Uuid) -> broadcast::Receiver<chat_message::Model> {
        self.slot(session_id).changes.subscribe()
    }

    fn publish(&self, msg: &chat_message::Model) {
        let _ = self.slot(msg.session_id).changes.send(msg.clone());
    }

    /// Start a turn in its own task; its progress arrives on the returned channel (which the
    /// caller may drop at any time without affecting the turn).
    pub fn start_turn(
        self: &Arc<Self>,
        owner: Owner,
        instance_id: Uuid,
        session: chat_session::Model,
        text: String,
    ) -> mpsc::Receiver<TurnEvent> {
        let (tx, rx) = mpsc::channel(256);
        let this = self.clone();
        tokio::spawn(async move {
            turn::run(this, owner, instance_id, session, text, tx).await;
        });
        rx
    }
}
