use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "chat_sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub instance_id: Uuid,
    pub account_id: Uuid,
    pub title: String,
    pub created_at: DateTimeUtc,
    pub last_activity_at: DateTimeUtc,
    pub message_count: i32,
    /// Last change number handed out in this session (see `chat_message::Model::rev`).
    pub rev: i64,
    /// The gateway session store (`GatewayStatus::store_id`) that has seen this session's
    /// whole history; a turn on another store replays the history first.
    pub gateway_store_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
