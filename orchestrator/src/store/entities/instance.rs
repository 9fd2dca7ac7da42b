use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "instances")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Uuid,
    pub name: String,
    /// See `crate::instances::Status`.
    pub status: String,
    pub status_reason: Option<String>,
    /// `running` or `stopped`: what the reconciler converges to.
    pub desired_state: String,
    /// The sandbox currently (or last) serving this instance.
    pub sandbox_id: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Written to `/workspace/AGENTS.md`; `instructions_pending` until it has been.
    pub instructions: Option<String>,
    pub instructions_pending: bool,
    /// Bring-your-own-key provider; `None` = the service's default provider.
    pub model_base_url: Option<String>,
    pub model_id: Option<String>,
    /// Encrypted with the service's secret key (`crate::crypto`); never returned.
    pub model_api_key_enc: Option<String>,
    /// Model tokens used by this instance, as reported by the provider.
    pub tokens_in: i64,
    pub tokens_out: i64,
    /// Start the virtual desktop with every sandbox (else on first use).
    pub desktop: bool,
    /// Seconds idle before sleeping; `0` = never; `None` = the service's `limits.idle_timeout_s`.
    pub idle_timeout_s: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
