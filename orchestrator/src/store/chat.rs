//! Chat sessions and messages. A session is reached only through an owner-scoped lookup
//! ([`Store::get_session`]); the other functions take the session row that lookup returned,
//! so they cannot be pointed at another tenant's session.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionTrait,
};
use uuid::Uuid;

use super::entities::{chat_message, chat_session, instance};
use super::{Owner, Store};

/// Which messages to read (seed 001's `tail`, `limit`, `after`).
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// The latest `limit` messages (still returned oldest first).
    pub tail: bool,
    pub limit: u64,
    /// Only messages after this one (by order).
    pub after_seq: Option<i64>,
}

/// A change to an assistant message.
#[derive(Debug, Default)]
pub struct MessageUpdate {
    pub content: String,
    pub status: &'static str,
    pub error: Option<String>,
    pub tokens_in: Option<i64>,
    pub tokens_out: Option<i64>,
    pub duration_ms: Option<i64>,
}

impl Store {
    pub async fn create_session(
        &self,
        owner: &Owner,
        instance_id: Uuid,
        title: &str,
    ) -> Result<chat_session::Model, DbErr> {
        let now = Utc::now();
        chat_session::ActiveModel {
            id: Set(Uuid::new_v4()),
            instance_id: Set(instance_id),
            account_id: Set(owner.0),
            title: Set(title.to_owned()),
            created_at: Set(now),
            last_activity_at: Set(now),
            message_count: Set(0),
            rev: Set(0),
            gateway_store_id: Set(None),
        }
        .insert(&self.db)
        .await
    }

    pub async fn list_sessions(
        &self,
        owner: &Owner,
        instance_id: Uuid,
    ) -> Result<Vec<chat_session::Model>, DbErr> {
        chat_session::Entity::find()
            .filter(chat_session::Column::AccountId.eq(owner.0))
            .filter(chat_session::Column::InstanceId.eq(instance_id))
            .order_by_asc(chat_session::Column::CreatedAt)
            .all(&self.db)
            .await
    }

    pub async fn get_session(
        &self,
        owner: &Owner,
        instance_id: Uuid,
        session_id: Uuid,
    ) -> Result<Option<chat_session::Model>, DbErr> {
        chat_session::Entity::find_by_id(session_id)
            .filter(chat_session::Column::AccountId.eq(owner.0))
            .filter(chat_session::Column::InstanceId.eq(instance_id))
            .one(&self.db)
            .await
    }

    /// Append a message to the session (bumping its change number, count and activity).
    pub async fn insert_message(
        &self,
        session: &chat_session::Model,
        role: &str,
        content: &str,
        status: &'static str,
    ) -> Result<chat_message::Model, DbErr> {
        let txn = self.db.begin().await?;
        let rev = bump(&txn, session.id, 1).await?;
        let now = Utc::now();
        let msg = chat_message::ActiveModel {
            id: Set(Uuid::new_v4()),
            session_id: Set(session.id),
            role: Set(role.to_owned()),
            content: Set(content.to_owned()),
            status: Set(status.to_owned()),
            error: Set(None),
            tokens_in: Set(None),
            tokens_out: Set(None),
            duration_ms: Set(None),
            rev: Set(rev),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        Ok(msg)
    }

    /// Change a message (content so far, final status, usage).
    pub async fn update_message(
        &self,
        msg: &chat_message::Model,
        up: MessageUpdate,
    ) -> Result<chat_message::Model, DbErr> {
        let txn = self.db.begin().await?;
        let rev = bump(&txn, msg.session_id, 0).await?;
        let mut am: chat_message::ActiveModel = msg.clone().into();
        am.content = Set(up.content);
        am.status = Set(up.status.to_owned());
        am.error = Set(up.error);
        am.tokens_in = Set(up.tokens_in);
        am.tokens_out = Set(up.tokens_out);
        am.duration_ms = Set(up.duration_ms);
        am.rev = Set(rev);
        am.updated_at = Set(Utc::now());
        let out = am.update(&txn).await?;
        txn.commit().await?;
        Ok(out)
    }

    /// A message of this session by id.
    pub async fn find_message(
        &self,
        session: &chat_session::Model,
        message_id: Uuid,
    ) -> Result<Option<chat_message::Model>, DbErr> {
        chat_message::Entity::find()
            .filter(chat_message::Column::SessionId.eq(session.id))
            .filter(chat_message::Column::Id.eq(message_id))
            .one(&self.db)
            .await
    }

    /// Messages in a window, oldest first; plus whether more exist beyond it.
    pub async fn list_messages(
        &self,
        session: &chat_session::Model,
        w: Window,
    ) -> Result<(Vec<chat_message::Model>, bool), DbErr> {
        let mut q =
            chat_message::Entity::find().filter(chat_message::Column::SessionId.eq(session.id));
        if let Some(after) = w.after_seq {
            q = q.filter(chat_message::Column::Seq.gt(after));
        }
        q = if w.tail {
            q.order_by_desc(chat_message::Column::Seq)
        } else {
            q.order_by_asc(chat_message::Column::Seq)
        };
        let mut rows = q.limit(w.limit + 1).all(&self.db).await?;
        let more = rows.len() as u64 > w.limit;
        rows.truncate(w.limit as usize);
        if w.tail {
            rows.reverse();
        }
        Ok((rows, more))
    }

    /// The latest `limit` completed user and assistant messages before message `before_seq`,
    /// oldest first: the conversation a gateway that has not seen it must be given again.
    pub async fn history_before(
        &self,
        session: &chat_session::Model,
        before_seq: i64,
        limit: u64,
    ) -> Result<Vec<chat_message::Model>, DbErr> {
        let mut rows = chat_message::Entity::find()
            .filter(chat_message::Column::SessionId.eq(session.id))
            .filter(chat_message::Column::Seq.lt(before_seq))
            .filter(chat_message::Column::Status.eq("complete"))
            .filter(chat_message::Column::Role.is_in(["user", "assistant"]))
            .order_by_desc(chat_message::Column::Seq)
            .limit(limit)
            .all(&self.db)
            .await?;
        rows.reverse();
        Ok(rows)
    }

    /// Record that the gateway store `store_id` has seen the session's whole history.
    pub async fn set_gateway_store(
        &self,
        session: &chat_session::Model,
        store_id: &str,
    ) -> Result<(), DbErr> {
        chat_session::Entity::update_many()
            .col_expr(
                chat_session::Column::GatewayStoreId,
                sea_orm::sea_query::Expr::value(store_id),
            )
            .filter(chat_session::Column::Id.eq(session.id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Messages of this session whose latest change is newer than `rev`, in change order.
    pub async fn changed_since(
        &self,
        session: &chat_session::Model,
        rev: i64,
    ) -> Result<Vec<chat_message::Model>, DbErr> {
        chat_message::Entity::find()
            .filter(chat_message::Column::SessionId.eq(session.id))
            .filter(chat_message::Column::Rev.gt(rev))
            .order_by_asc(chat_message::Column::Rev)
            .all(&self.db)
            .await
    }

    /// [`Store::changed_since`] by session id alone: for relaying another orchestrator
    /// replica's changes to this replica's followers (who were authorised when they subscribed).
    pub async fn changed_since_all_owners(
        &self,
        session_id: Uuid,
        rev: i64,
    ) -> Result<Vec<chat_message::Model>, DbErr> {
        chat_message::Entity::find()
            .filter(chat_message::Column::SessionId.eq(session_id))
            .filter(chat_message::Column::Rev.gt(rev))
            .order_by_asc(chat_message::Column::Rev)
            .all(&self.db)
            .await
    }

    /// Messages created after `seq`, in order (for `chat/events?after=`).
    pub async fn created_after(
        &self,
        session: &chat_session::Model,
        seq: i64,
    ) -> Result<Vec<chat_message::Model>, DbErr> {
        chat_message::Entity::find()
            .filter(chat_message::Column::SessionId.eq(session.id))
            .filter(chat_message::Column::Seq.gt(seq))
            .order_by_asc(chat_message::Column::Seq)
            .all(&self.db)
            .await
    }

    /// The instance behind a model-proxy socket (no owner: the socket itself is the identity).
    pub async fn instance_for_model_all_owners(
        &self,
        id: Uuid,
    ) -> Result<Option<instance::Model>, DbErr> {
        instance::Entity::find_by_id(id).one(&self.db).await
    }
}

/// Hand out the session's next change number; `added` messages raise its count.
async fn bump(txn: &DatabaseTransaction, session_id: Uuid, added: i32) -> Result<i64, DbErr> {
    let s = chat_session::Entity::find_by_id(session_id)
        .one(txn)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("chat session".into()))?;
    let rev = s.rev + 1;
    let count = s.message_count + added;
    let mut am: chat_session::ActiveModel = s.into();
    am.rev = Set(rev);
    am.message_count = Set(count);
    am.last_activity_at = Set(Utc::now());
    am.update(txn).await?;
    Ok(rev)
}

/// Delete an instance's chat history (inside the instance's delete transaction).
pub(super) async fn delete_for_instance(
    txn: &DatabaseTransaction,
    instance_id: Uuid,
) -> Result<(), DbErr> {
    let sessions: Vec<Uuid> = chat_session::Entity::find()
        .filter(chat_session::Column::InstanceId.eq(instance_id))
        .all(txn)
        .await?
        .into_iter()
        .map(|s| s.id)
        .collect();
    if !sessions.is_empty() {
        chat_message::Entity::delete_many()
            .filter(chat_message::Column::SessionId.is_in(sessions.clone()))
            .exec(txn)
            .await?;
        chat_session::Entity::delete_many()
            .filter(chat_session::Column::Id.is_in(sessions))
            .exec(txn)
            .await?;
    }
    Ok(())
}
