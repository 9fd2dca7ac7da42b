use sea_orm::entity::prelude::*;

/// An invite code: redeemable `max_redemptions` times until `expires_at`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "invite_codes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Hex SHA-256 of the code; the code itself is shown once, when created.
    pub code_hash: String,
    /// The code's first characters, to recognise it by.
    pub prefix: String,
    pub note: Option<String>,
    pub max_redemptions: i32,
    pub redemptions: i32,
    pub expires_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
