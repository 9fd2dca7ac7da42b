//! Who may create an instance. One trait, so the gate (open, invite codes, subscriptions) and
//! the per-account quota are decided in one place.
//!
//! Admission is two steps, both under the manager's admission lock: [`CreationPolicy::admit`]
//! decides without changing anything, then the manager checks node capacity (`503`), and only
//! then [`CreationPolicy::commit`] redeems an invite code — so a create refused for capacity
//! never uses up a redemption.

use async_trait::async_trait;

use crate::auth::Caller;
use crate::auth::hash_key;
use crate::error::{ApiError, ErrorCode};
use crate::settings::Gate;
use crate::store::Store;
use crate::store::access::InviteRefusal;
use crate::store::entities::account;

/// What a create request brings to the decision.
pub struct CreateRequestContext<'a> {
    pub caller: &'a Caller,
    pub invite_code: Option<&'a str>,
    pub store: &'a Store,
}

/// What `admit` decided the create needs done when it goes ahead.
#[derive(Debug, Default)]
pub struct Admission {
    /// Redeem this invite code (its hash) for the account.
    pub redeem: Option<String>,
}

/// Admits or refuses instance creation. A refusal is a `403` whose code says why.
#[async_trait]
pub trait CreationPolicy: Send + Sync + 'static {
    /// Decide, changing nothing.
    async fn admit(&self, ctx: &CreateRequestContext<'_>) -> Result<Admission, ApiError>;
    /// The create goes ahead: do what the admission needs (atomically; it may still refuse).
    async fn commit(
        &self,
        ctx: &CreateRequestContext<'_>,
        admission: Admission,
    ) -> Result<(), ApiError>;
}

/// Subscription statuses that allow new instances. `past_due` keeps access while Stripe
/// retries the payment; `canceled`, `unpaid`, `incomplete`, `incomplete_expired` and `paused`
/// do not.
pub fn subscription_entitles(status: Option<&str>) -> bool {
    matches!(status, Some("active" | "trialing" | "past_due"))
}

/// The invite refusal as the API's `403`.
pub fn invite_error(why: InviteRefusal) -> ApiError {
    match why {
        InviteRefusal::Invalid => ApiError::new(ErrorCode::InviteInvalid, "no such invite code"),
        InviteRefusal::Expired => {
            ApiError::new(ErrorCode::InviteExpired, "this invite code has expired")
        }
        InviteRefusal::Exhausted => ApiError::new(
            ErrorCode::InviteExhausted,
            "this invite code has been redeemed as often as it may be",
        ),
    }
}

/// The gate in force plus the per-account quota.
pub struct AccessPolicy {
    pub gate: Gate,
    /// The node's per-account quota.
    pub default_max: u64,
    /// What a subscription allows when its plan does not say.
    pub plan_default_max: u64,
}

impl AccessPolicy {
    fn quota(&self, a: &account::Model) -> u64 {
        if let Some(own) = a.max_instances {
            return own.max(0) as u64;
        }
        if subscription_entitles(a.subscription_status.as_deref()) {
            return a
                .subscription_max_instances
                .map(|m| m.max(0) as u64)
                .unwrap_or(self.plan_default_max);
        }
        self.default_max
    }
}

#[async_trait]
impl CreationPolicy for AccessPolicy {
    async fn admit(&self, ctx: &CreateRequestContext<'_>) -> Result<Admission, ApiError> {
        // Fresh from the database: the webhook may have changed it since the key was cached.
        let account = ctx
            .store
            .get_account(&ctx.caller.owner)
            .await?
            .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, "the account is gone"))?;
        let mut admission = Admission::default();
        let subscribed = subscription_entitles(account.subscription_status.as_deref());
        let allowed = account.is_admin
            || match self.gate {
                Gate::Open => true,
                Gate::Subscription => subscribed,
                Gate::InviteOrSubscription => {
                    // A code is checked (and later redeemed) unless the account holds it.
                    if let Some(code) = ctx.invite_code {
                        let hash = hash_key(code.trim());
                        let invite = ctx.store.check_invite(&hash).await?.map_err(invite_error)?;
                        if account.invite_id != Some(invite) {
                            admission.redeem = Some(hash);
                        }
                        true
                    } else {
                        subscribed || account.invite_id.is_some()
                    }
                }
            };
        if !allowed {
            let lapsed = account
                .subscription_status
                .as_deref()
                .map(|s| format!(" (the subscription is `{s}`)"))
                .unwrap_or_default();
            let message = match self.gate {
                Gate::Subscription => {
                    format!(
                        "creating instances needs an active subscription{lapsed}; start one at /account"
                    )
                }
                _ => format!(
                    "creating instances needs an active subscription{lapsed} or an invite code (`invite_code`); see /account"
                ),
            };
            return Err(ApiError::new(ErrorCode::SubscriptionRequired, message));
        }
        let max = self.quota(&account);
        let owned = ctx.store.count_instances(&ctx.caller.owner).await?;
        if owned >= max {
            return Err(ApiError::new(
                ErrorCode::QuotaExceeded,
                format!(
                    "this account may own at most {max} instance(s) and has {owned}; delete one first"
                ),
            ));
        }
        Ok(admission)
    }

    async fn commit(
        &self,
        ctx: &CreateRequestContext<'_>,
        admission: Admission,
    ) -> Result<(), ApiError> {
        if let Some(hash) = admission.redeem {
            ctx.store
                .redeem_invite(&ctx.caller.owner, &hash)
                .await?
                .map_err(invite_error)?;
        }
        Ok(())
    }
}
