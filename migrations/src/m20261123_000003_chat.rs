//! Chat: sessions and messages; per-instance model provider (BYOK, key encrypted), pending
//! instructions, and token usage.
//!
//! Message order is `seq` (monotonic); `rev` numbers every change within a session so an
//! event stream can resume exactly where it left off (`Last-Event-ID`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_query::ColumnDef;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Instances {
    Table,
    Id,
    Instructions,
    InstructionsPending,
    ModelBaseUrl,
    ModelId,
    ModelApiKeyEnc,
    TokensIn,
    TokensOut,
}

#[derive(DeriveIden)]
enum ChatSessions {
    Table,
    Id,
    InstanceId,
    AccountId,
    Title,
    CreatedAt,
    LastActivityAt,
    MessageCount,
    Rev,
}

#[derive(DeriveIden)]
enum ChatMessages {
    Table,
    Seq,
    Id,
    SessionId,
    Role,
    Content,
    Status,
    Error,
    TokensIn,
    TokensOut,
    DurationMs,
    Rev,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        let cols = [
            ColumnDef::new(Instances::Instructions)
                .text()
                .null()
                .to_owned(),
            ColumnDef::new(Instances::InstructionsPending)
                .boolean()
                .not_null()
                .default(false)
                .to_owned(),
            ColumnDef::new(Instances::ModelBaseUrl)
                .string()
                .null()
                .to_owned(),
            ColumnDef::new(Instances::ModelId)
                .string()
                .null()
                .to_owned(),
            ColumnDef::new(Instances::ModelApiKeyEnc)
                .text()
                .null()
                .to_owned(),
            ColumnDef::new(Instances::TokensIn)
                .big_integer()
                .not_null()
                .default(0)
                .to_owned(),
            ColumnDef::new(Instances::TokensOut)
                .big_integer()
                .not_null()
                .default(0)
                .to_owned(),
        ];
        for mut col in cols {
            m.alter_table(
                Table::alter()
                    .table(Instances::Table)
                    .add_column(&mut col)
                    .to_owned(),
            )
            .await?;
        }
        m.create_table(
            Table::create()
                .table(ChatSessions::Table)
                .col(
                    ColumnDef::new(ChatSessions::Id)
                        .uuid()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(ChatSessions::InstanceId).uuid().not_null())
                .col(ColumnDef::new(ChatSessions::AccountId).uuid().not_null())
                .col(ColumnDef::new(ChatSessions::Title).string().not_null())
                .col(
                    ColumnDef::new(ChatSessions::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(ChatSessions::LastActivityAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(ChatSessions::MessageCount)
                        .integer()
                        .not_null()
                        .default(0),
                )
                .col(
                    ColumnDef::new(ChatSessions::Rev)
                        .big_integer()
                        .not_null()
                        .default(0),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(ChatSessions::Table, ChatSessions::InstanceId)
                        .to(Instances::Table, Instances::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_chat_sessions_instance")
                .table(ChatSessions::Table)
                .col(ChatSessions::InstanceId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ChatMessages::Table)
                .col(
                    ColumnDef::new(ChatMessages::Seq)
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(ChatMessages::Id)
                        .uuid()
                        .not_null()
                        .unique_key(),
                )
                .col(ColumnDef::new(ChatMessages::SessionId).uuid().not_null())
                .col(ColumnDef::new(ChatMessages::Role).string().not_null())
                .col(ColumnDef::new(ChatMessages::Content).text().not_null())
                .col(ColumnDef::new(ChatMessages::Status).string().not_null())
                .col(ColumnDef::new(ChatMessages::Error).text().null())
                .col(ColumnDef::new(ChatMessages::TokensIn).big_integer().null())
                .col(ColumnDef::new(ChatMessages::TokensOut).big_integer().null())
                .col(
                    ColumnDef::new(ChatMessages::DurationMs)
                        .big_integer()
                        .null(),
                )
                .col(ColumnDef::new(ChatMessages::Rev).big_integer().not_null())
                .col(
                    ColumnDef::new(ChatMessages::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(ChatMessages::UpdatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(ChatMessages::Table, ChatMessages::SessionId)
                        .to(ChatSessions::Table, ChatSessions::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_chat_messages_session_seq")
                .table(ChatMessages::Table)
                .col(ChatMessages::SessionId)
                .col(ChatMessages::Seq)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(ChatMessages::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(ChatSessions::Table).to_owned())
            .await
    }
}
