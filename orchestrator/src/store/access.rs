//! Queries behind sign-in, invite codes and billing. Authentication looks accounts up by
//! email or session token (it has no [`Owner`] yet: that is what it makes); the Stripe webhook
//! looks them up by customer (`*_all_owners`, like every cross-owner query).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DbErr, EntityTrait, QueryFilter, QueryOrder, Set,
    TransactionTrait,
};
use uuid::Uuid;

use super::entities::{account, invite_code, session, stripe_event};
use super::{Owner, Store};

/// Why an invite code could not be redeemed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteRefusal {
    /// No such code.
    Invalid,
    Expired,
    /// Redeemed `max_redemptions` times already.
    Exhausted,
}

/// What a Stripe subscription event says about an account.
#[derive(Debug, Clone)]
pub struct SubscriptionUpdate<'a> {
    pub subscription_id: &'a str,
    pub customer_id: Option<&'a str>,
    pub status: &'a str,
    pub max_instances: Option<i32>,
    /// The event's `created`: an older event never overwrites a newer one.
    pub event_at: i64,
}

impl Store {
    // ---- passwords and sessions --------------------------------------------------------

    /// The account with this (normalised) email, for sign-in.
    pub async fn find_account_by_email_for_sign_in(
        &self,
        email: &str,
    ) -> Result<Option<account::Model>, DbErr> {
        account::Entity::find()
            .filter(account::Column::Email.eq(email))
            .one(&self.db)
            .await
    }

    pub async fn set_password_hash(&self, owner: &Owner, hash: &str) -> Result<(), DbErr> {
        account::Entity::update_many()
            .col_expr(account::Column::PasswordHash, Expr::value(hash))
            .filter(account::Column::Id.eq(owner.0))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    pub async fn create_sign_in_session(
        &self,
        owner: &Owner,
        token_hash: &str,
        csrf_token: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<session::Model, DbErr> {
        // Expired sessions of this account go when it signs in again.
        session::Entity::delete_many()
            .filter(session::Column::AccountId.eq(owner.0))
            .filter(session::Column::ExpiresAt.lt(Utc::now()))
            .exec(&self.db)
            .await?;
        session::ActiveModel {
            id: Set(Uuid::new_v4()),
            token_hash: Set(token_hash.to_owned()),
            account_id: Set(owner.0),
            csrf_token: Set(csrf_token.to_owned()),
            created_at: Set(Utc::now()),
            expires_at: Set(expires_at),
        }
        .insert(&self.db)
        .await
    }

    /// The unexpired session with this token hash, and its account (authentication).
    pub async fn find_session(
        &self,
        token_hash: &str,
    ) -> Result<Option<(session::Model, account::Model)>, DbErr> {
        let Some(s) = session::Entity::find()
            .filter(session::Column::TokenHash.eq(token_hash))
            .filter(session::Column::ExpiresAt.gt(Utc::now()))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let acct = account::Entity::find_by_id(s.account_id)
            .one(&self.db)
            .await?;
        Ok(acct.map(|a| (s, a)))
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<(), DbErr> {
        session::Entity::delete_many()
            .filter(session::Column::TokenHash.eq(token_hash))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    // ---- invite codes ------------------------------------------------------------------

    pub async fn create_invite(
        &self,
        code_hash: &str,
        prefix: &str,
        max_redemptions: i32,
        expires_at: Option<DateTime<Utc>>,
        note: Option<&str>,
    ) -> Result<invite_code::Model, DbErr> {
        invite_code::ActiveModel {
            id: Set(Uuid::new_v4()),
            code_hash: Set(code_hash.to_owned()),
            prefix: Set(prefix.to_owned()),
            note: Set(note.map(str::to_owned)),
            max_redemptions: Set(max_redemptions),
            redemptions: Set(0),
            expires_at: Set(expires_at),
            created_at: Set(Utc::now()),
        }
        .insert(&self.db)
        .await
    }

    /// Admin only: every invite code.
    pub async fn list_invites_all_owners(&self) -> Result<Vec<invite_code::Model>, DbErr> {
        invite_code::Entity::find()
            .order_by_asc(invite_code::Column::CreatedAt)
            .all(&self.db)
            .await
    }

    pub async fn find_invite(&self, code_hash: &str) -> Result<Option<invite_code::Model>, DbErr> {
        invite_code::Entity::find()
            .filter(invite_code::Column::CodeHash.eq(code_hash))
            .one(&self.db)
            .await
    }

    pub async fn get_invite(&self, id: Uuid) -> Result<Option<invite_code::Model>, DbErr> {
        invite_code::Entity::find_by_id(id).one(&self.db).await
    }

    /// Whether this code could be redeemed now (no write; [`Store::redeem_invite`] decides).
    pub async fn check_invite(
        &self,
        code_hash: &str,
    ) -> Result<Result<Uuid, InviteRefusal>, DbErr> {
        Ok(match self.find_invite(code_hash).await? {
            None => Err(InviteRefusal::Invalid),
            Some(i) if i.expires_at.is_some_and(|t| t <= Utc::now()) => Err(InviteRefusal::Expired),
            Some(i) if i.redemptions >= i.max_redemptions => Err(InviteRefusal::Exhausted),
            Some(i) => Ok(i.id),
        })
    }

    /// Redeem a code for `owner`'s account: one conditional `UPDATE` counts the redemption
    /// only while it is unexpired and not used up, so concurrent redemptions (on any number of
    /// replicas) can never exceed `max_redemptions`; the account then holds the invite.
    pub async fn redeem_invite(
        &self,
        owner: &Owner,
        code_hash: &str,
    ) -> Result<Result<Uuid, InviteRefusal>, DbErr> {
        let txn = self.db.begin().await?;
        let now = Utc::now();
        let res = invite_code::Entity::update_many()
            .col_expr(
                invite_code::Column::Redemptions,
                Expr::col(invite_code::Column::Redemptions).add(1),
            )
            .filter(invite_code::Column::CodeHash.eq(code_hash))
            .filter(
                Expr::col(invite_code::Column::Redemptions)
                    .lt(Expr::col(invite_code::Column::MaxRedemptions)),
            )
            .filter(
                Condition::any()
                    .add(invite_code::Column::ExpiresAt.is_null())
                    .add(invite_code::Column::ExpiresAt.gt(now)),
            )
            .exec(&txn)
            .await?;
        if res.rows_affected != 1 {
            txn.rollback().await?;
            // Say why: the row as it is now.
            return Ok(match self.check_invite(code_hash).await? {
                Ok(_) => Err(InviteRefusal::Exhausted),
                Err(why) => Err(why),
            });
        }
        let invite = invite_code::Entity::find()
            .filter(invite_code::Column::CodeHash.eq(code_hash))
            .one(&txn)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound("invite vanished".into()))?;
        account::Entity::update_many()
            .col_expr(account::Column::InviteId, Expr::value(invite.id))
            .filter(account::Column::Id.eq(owner.0))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(Ok(invite.id))
    }

    // ---- billing -----------------------------------------------------------------------

    pub async fn set_stripe_customer_all_owners(
        &self,
        account_id: Uuid,
        customer_id: &str,
    ) -> Result<(), DbErr> {
        account::Entity::update_many()
            .col_expr(account::Column::StripeCustomerId, Expr::value(customer_id))
            .filter(account::Column::Id.eq(account_id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// The account a Stripe customer belongs to (the webhook).
    pub async fn find_account_by_customer_all_owners(
        &self,
        customer_id: &str,
    ) -> Result<Option<account::Model>, DbErr> {
        account::Entity::find()
            .filter(account::Column::StripeCustomerId.eq(customer_id))
            .one(&self.db)
            .await
    }

    /// Mirror a subscription onto an account, unless a newer event already did; returns
    /// whether it was applied. Never touches instances: a lapsed subscription only stops new
    /// creates.
    pub async fn apply_subscription_all_owners(
        &self,
        account_id: Uuid,
        update: &SubscriptionUpdate<'_>,
    ) -> Result<bool, DbErr> {
        let mut q = account::Entity::update_many()
            .col_expr(
                account::Column::SubscriptionId,
                Expr::value(update.subscription_id),
            )
            .col_expr(
                account::Column::SubscriptionStatus,
                Expr::value(update.status),
            )
            .col_expr(
                account::Column::SubscriptionMaxInstances,
                Expr::value(update.max_instances),
            )
            .col_expr(
                account::Column::SubscriptionEventAt,
                Expr::value(update.event_at),
            );
        if let Some(c) = update.customer_id {
            q = q.col_expr(account::Column::StripeCustomerId, Expr::value(c));
        }
        let res = q
            .filter(account::Column::Id.eq(account_id))
            .filter(
                Condition::any()
                    .add(account::Column::SubscriptionEventAt.is_null())
                    .add(account::Column::SubscriptionEventAt.lte(update.event_at)),
            )
            .exec(&self.db)
            .await?;
        Ok(res.rows_affected == 1)
    }

    /// Record a webhook event id; `false` if it was recorded before (a replay).
    pub async fn record_stripe_event(&self, id: &str, kind: &str) -> Result<bool, DbErr> {
        if stripe_event::Entity::find_by_id(id.to_owned())
            .one(&self.db)
            .await?
            .is_some()
        {
            return Ok(false);
        }
        let inserted = stripe_event::ActiveModel {
            id: Set(id.to_owned()),
            kind: Set(kind.to_owned()),
            received_at: Set(Utc::now()),
        }
        .insert(&self.db)
        .await;
        match inserted {
            Ok(_) => Ok(true),
            // Two deliveries at once: the other one recorded it.
            Err(e)
                if matches!(
                    e.sql_err(),
                    Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Forget a recorded event (its processing failed, so Stripe's retry must apply it).
    pub async fn forget_stripe_event(&self, id: &str) -> Result<(), DbErr> {
        stripe_event::Entity::delete_by_id(id.to_owned())
            .exec(&self.db)
            .await?;
        Ok(())
    }
}
