use sea_orm::entity::prelude::*;

/// A signed-in browser session (the `/account` page).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Hex SHA-256 of the cookie's token; the token itself is never stored.
    pub token_hash: String,
    pub account_id: Uuid,
    /// The synchronizer token unsafe cookie-authenticated requests must echo in `X-CSRF-Token`.
    pub csrf_token: String,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
