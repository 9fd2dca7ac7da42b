use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "accounts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    pub email: Option<String>,
    pub is_admin: bool,
    /// Overrides the node-wide per-account instance quota when set.
    pub max_instances: Option<i32>,
    pub created_at: DateTimeUtc,
    /// argon2id PHC string; `None`: the account cannot sign in with a password.
    pub password_hash: Option<String>,
    /// The invite code this account redeemed (access under the `invite_or_subscription` gate).
    pub invite_id: Option<Uuid>,
    pub stripe_customer_id: Option<String>,
    pub subscription_id: Option<String>,
    /// Stripe's subscription status as last mirrored (`active`, `past_due`, `canceled`, ...).
    pub subscription_status: Option<String>,
    /// Instances the subscription's plan allows.
    pub subscription_max_instances: Option<i32>,
    /// `created` of the newest Stripe event applied, so an older event never overwrites it.
    pub subscription_event_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
