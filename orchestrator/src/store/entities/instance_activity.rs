use sea_orm::entity::prelude::*;

/// When an instance was last in use, by any replica's account (see `Store::record_activity`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "instance_activity")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub instance_id: Uuid,
    /// Milliseconds since the Unix epoch, by the recording replica's clock.
    pub last_active_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
