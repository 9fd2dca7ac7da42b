//! Chat events across orchestrator replicas, over PostgreSQL `LISTEN`/`NOTIFY`.
//!
//! Each replica broadcasts the message changes it persists to its own `chat/events` followers
//! ([`super::ChatService::publish`]). With PostgreSQL it also sends `NOTIFY ocaas_chat` with
//! `<replica> <session> <rev>`. Every other replica that has followers of that session reads the
//! session's changes newer than the last one it passed on and broadcasts them — so a client
//! following a session on any replica sees the turns that run on another. A notification lost
//! while a listener reconnects is made up for by the next one of the session (the read starts
//! from what was last passed on, not from the notified change). With SQLite there is one
//! process and nothing to do.

use std::sync::Weak;
use std::time::Duration;

use sea_orm::sqlx;
use uuid::Uuid;

use super::ChatService;
use crate::store::Store;

const CHANNEL: &str = "ocaas_chat";

/// This replica's side of the channel.
pub(crate) struct Fanout {
    replica: Uuid,
    pool: sqlx::PgPool,
}

impl Fanout {
    /// `Some` on PostgreSQL.
    pub(crate) fn new(store: &Store) -> Option<Fanout> {
        (store.backend() == "postgres").then(|| Fanout {
            replica: Uuid::new_v4(),
            pool: store.db.get_postgres_connection_pool().clone(),
        })
    }

    /// Tell the other replicas that `session` changed (up to `rev`). Fire and forget.
    pub(crate) fn notify(&self, session: Uuid, rev: i64) {
        let pool = self.pool.clone();
        let payload = format!("{} {session} {rev}", self.replica);
        tokio::spawn(async move {
            if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(payload)
                .execute(&pool)
                .await
            {
                tracing::warn!(error = %e, "could not notify other replicas of a chat change");
            }
        });
    }

    /// Listen for other replicas' changes until the chat service is dropped.
    pub(crate) fn listen(&self, chat: Weak<ChatService>) {
        let (pool, replica) = (self.pool.clone(), self.replica);
        tokio::spawn(async move {
            let mut listener = loop {
                match listen_on(&pool).await {
                    Ok(l) => break l,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot listen for other replicas' chat changes; retrying");
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                }
            };
            loop {
                // Reconnects by itself on the next call after a lost connection.
                let note = match listener.recv().await {
                    Ok(n) => n,
                    Err(e) => {
                        tracing::warn!(error = %e, "chat change listener failed; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
                let Some((from, session, rev)) = parse(note.payload()) else {
                    continue;
                };
                if from == replica {
                    continue;
                }
                let Some(chat) = chat.upgrade() else {
                    return;
                };
                chat.deliver_remote(session, rev).await;
            }
        });
    }
}

async fn listen_on(pool: &sqlx::PgPool) -> Result<sqlx::postgres::PgListener, sqlx::Error> {
    let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

fn parse(payload: &str) -> Option<(Uuid, Uuid, i64)> {
    let mut parts = payload.split(' ');
    let from = parts.next()?.parse().ok()?;
    let session = parts.next()?.parse().ok()?;
    let rev = parts.next()?.parse().ok()?;
    Some((from, session, rev))
}

#[cfg(test)]
mod tests {
    #[test]
    fn payloads_parse() {
        let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        assert_eq!(super::parse(&format!("{a} {b} 42")), Some((a, b, 42)));
        assert_eq!(super::parse("nonsense"), None);
    }
}
