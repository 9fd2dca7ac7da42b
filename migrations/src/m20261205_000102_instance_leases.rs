//! Per-instance leases: lifecycle work on an instance (start, stop, reboot, wake, sleep, a
//! restart after a crash) runs under one, so orchestrator replicas sharing a database never
//! act on the same instance at once. A holder renews its lease while it works; a replica that
//! dies lets its leases expire.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_query::ColumnDef;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum InstanceLeases {
    Table,
    InstanceId,
    Holder,
    ExpiresAtMs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(InstanceLeases::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(InstanceLeases::InstanceId)
                        .uuid()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(InstanceLeases::Holder).string().not_null())
                .col(
                    ColumnDef::new(InstanceLeases::ExpiresAtMs)
                        .big_integer()
                        .not_null(),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(InstanceLeases::Table).to_owned())
            .await
    }
}
