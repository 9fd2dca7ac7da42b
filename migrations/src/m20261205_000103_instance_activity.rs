//! When each instance was last in use, as seen by any orchestrator replica: a replica about
//! to put an instance to sleep checks that no other replica served it meanwhile.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_query::ColumnDef;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum InstanceActivity {
    Table,
    InstanceId,
    LastActiveMs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(InstanceActivity::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(InstanceActivity::InstanceId)
                        .uuid()
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(InstanceActivity::LastActiveMs)
                        .big_integer()
                        .not_null(),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(InstanceActivity::Table).to_owned())
            .await
    }
}
