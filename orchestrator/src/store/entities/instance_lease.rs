use sea_orm::entity::prelude::*;

/// Who does lifecycle work on an instance right now, until when (see `Store::try_lease`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "instance_leases")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub instance_id: Uuid,
    pub holder: String,
    /// Milliseconds since the Unix epoch, by the holder's clock.
    pub expires_at_ms: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
