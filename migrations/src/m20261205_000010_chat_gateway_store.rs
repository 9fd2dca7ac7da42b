//! Which gateway session store has seen a chat session's whole history (the gateway's
//! `store_id`). A turn on a gateway with another store — a warm-pool sandbox, a lost state
//! directory — replays the history first. NULL: not known yet.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_query::ColumnDef;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ChatSessions {
    Table,
    GatewayStoreId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(ChatSessions::Table)
                .add_column(ColumnDef::new(ChatSessions::GatewayStoreId).string().null())
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(ChatSessions::Table)
                .drop_column(ChatSessions::GatewayStoreId)
                .to_owned(),
        )
        .await
    }
}
