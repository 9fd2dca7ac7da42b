//! Instances and their status transitions. An instance's persistent storage (workspace, agent
//! state) is separate from the sandbox that serves it: `sandbox_id` names the current sandbox
//! and changes on every start, while the storage stays.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_query::ColumnDef;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Accounts {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Instances {
    Table,
    Id,
    AccountId,
    Name,
    Status,
    StatusReason,
    DesiredState,
    SandboxId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum InstanceEvents {
    Table,
    Id,
    InstanceId,
    FromStatus,
    ToStatus,
    Reason,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Instances::Table)
                .col(
                    ColumnDef::new(Instances::Id)
                        .uuid()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Instances::AccountId).uuid().not_null())
                .col(ColumnDef::new(Instances::Name).string().not_null())
                .col(ColumnDef::new(Instances::Status).string().not_null())
                .col(ColumnDef::new(Instances::StatusReason).text().null())
                .col(ColumnDef::new(Instances::DesiredState).string().not_null())
                .col(ColumnDef::new(Instances::SandboxId).string().null())
                .col(
                    ColumnDef::new(Instances::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Instances::UpdatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(Instances::Table, Instances::AccountId)
                        .to(Accounts::Table, Accounts::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_instances_account")
                .table(Instances::Table)
                .col(Instances::AccountId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(InstanceEvents::Table)
                .col(
                    ColumnDef::new(InstanceEvents::Id)
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(ColumnDef::new(InstanceEvents::InstanceId).uuid().not_null())
                .col(ColumnDef::new(InstanceEvents::FromStatus).string().null())
                .col(ColumnDef::new(InstanceEvents::ToStatus).string().not_null())
                .col(ColumnDef::new(InstanceEvents::Reason).text().null())
                .col(
                    ColumnDef::new(InstanceEvents::At)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(InstanceEvents::Table, InstanceEvents::InstanceId)
                        .to(Instances::Table, Instances::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_instance_events_instance")
                .table(InstanceEvents::Table)
                .col(InstanceEvents::InstanceId)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(InstanceEvents::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(Instances::Table).to_owned())
            .await
    }
}
