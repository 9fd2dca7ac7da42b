//! Instances that start their virtual desktop with the sandbox (`"desktop": true` at create).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_query::ColumnDef;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Instances {
    Table,
    Desktop,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Instances::Table)
                .add_column(
                    ColumnDef::new(Instances::Desktop)
                        .boolean()
                        .not_null()
                        .default(false),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Instances::Table)
                .drop_column(Instances::Desktop)
                .to_owned(),
        )
        .await
    }
}
