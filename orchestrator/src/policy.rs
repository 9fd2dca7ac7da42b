//! Who may create an instance. One trait, so quotas, subscriptions and invite codes are all
//! decided in one place; the foundation ships the per-account quota.

use async_trait::async_trait;

use crate::auth::Caller;
use crate::error::{ApiError, ErrorCode};
use crate::store::Store;

/// What a create request brings to the decision.
pub struct CreateRequestContext<'a> {
    pub caller: &'a Caller,
    pub invite_code: Option<&'a str>,
    pub store: &'a Store,
}

/// Admits or refuses instance creation. A refusal is a `403` whose code says why.
#[async_trait]
pub trait CreationPolicy: Send + Sync + 'static {
    async fn admit(&self, ctx: &CreateRequestContext<'_>) -> Result<(), ApiError>;
}

/// Each account may own a bounded number of instances (its own limit, else the node default).
pub struct QuotaPolicy {
    pub default_max: u64,
}

#[async_trait]
impl CreationPolicy for QuotaPolicy {
    async fn admit(&self, ctx: &CreateRequestContext<'_>) -> Result<(), ApiError> {
        let max = ctx
            .caller
            .account
            .max_instances
            .map(|m| m.max(0) as u64)
            .unwrap_or(self.default_max);
        let owned = ctx.store.count_instances(&ctx.caller.owner).await?;
        if owned >= max {
            return Err(ApiError::new(
                ErrorCode::QuotaExceeded,
                format!(
                    "this account may own at most {max} instance(s) and has {owned}; delete one first"
                ),
            ));
        }
        Ok(())
    }
}
