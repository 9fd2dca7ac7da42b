//! Stripe subscriptions: Checkout Sessions through `async-stripe` (its `checkout_session` API
//! only) and the webhook that mirrors subscriptions onto accounts (`webhook.rs`).
//!
//! Stripe's API origin is a setting (`billing.stripe_api_base`), so tests run the same code
//! against the local Stripe stand-in (`orchestrator/tests/api/stripe_stand_in.rs`), which
//! answers the requests this module makes in Stripe's real shapes and signs its webhook events
//! with Stripe's real algorithm.

pub mod signature;
pub mod webhook;

use std::collections::HashMap;

use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionSubscriptionData,
};

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::settings::{BillingSettings, Secret};
use crate::store::entities::account;

/// The metadata key naming our account on Stripe objects.
pub const ACCOUNT_METADATA: &str = "account_id";

/// Billing, when configured.
pub struct Billing {
    client: stripe::Client,
    price_id: String,
    webhook_secret: Secret,
    success_url: Option<String>,
    cancel_url: Option<String>,
    pub tolerance_s: u64,
}

impl Billing {
    /// `None` unless `stripe_secret_key`, `price_id` and `webhook_secret` are all set.
    pub fn new(s: &BillingSettings) -> anyhow::Result<Option<Billing>> {
        let (Some(key), Some(price), Some(secret)) =
            (&s.stripe_secret_key, &s.price_id, &s.webhook_secret)
        else {
            return Ok(None);
        };
        let mut base = s.stripe_api_base.clone();
        if !base.ends_with('/') {
            base.push('/');
        }
        let client = stripe::ClientBuilder::new(key.expose())
            .url(base)
            .timeout(std::time::Duration::from_secs(20))
            .build()
            .map_err(|e| anyhow::anyhow!("billing.stripe_api_base or the secret key: {e}"))?;
        Ok(Some(Billing {
            client,
            price_id: price.clone(),
            webhook_secret: secret.clone(),
            success_url: s.success_url.clone(),
            cancel_url: s.cancel_url.clone(),
            tolerance_s: s.webhook_tolerance_s,
        }))
    }

    pub fn webhook_secret(&self) -> &Secret {
        &self.webhook_secret
    }

    /// A Checkout Session subscribing `account` to the configured price; returns its URL.
    /// The session and the subscription it creates carry the account's id
    /// (`client_reference_id`, `metadata.account_id`), which is how the webhook finds it.
    pub async fn checkout(&self, account: &account::Model, origin: &str) -> ApiResult<String> {
        let metadata = HashMap::from([(ACCOUNT_METADATA.to_owned(), account.id.to_string())]);
        let mut line = CreateCheckoutSessionLineItems::new();
        line.price = Some(self.price_id.clone());
        line.quantity = Some(1);
        let mut subscription = CreateCheckoutSessionSubscriptionData::new();
        subscription.metadata = Some(metadata.clone());
        let success = self
            .success_url
            .clone()
            .unwrap_or_else(|| format!("{origin}/account?checkout=success"));
        let cancel = self
            .cancel_url
            .clone()
            .unwrap_or_else(|| format!("{origin}/account?checkout=cancel"));
        let mut req = CreateCheckoutSession::new()
            .mode(stripe_checkout::CheckoutSessionMode::Subscription)
            .line_items(vec![line])
            .client_reference_id(account.id.to_string())
            .metadata(metadata)
            .subscription_data(subscription)
            .success_url(success)
            .cancel_url(cancel);
        req = match (&account.stripe_customer_id, &account.email) {
            (Some(customer), _) => req.customer(customer.clone()),
            (None, Some(email)) => req.customer_email(email.clone()),
            (None, None) => req,
        };
        let session = req.send(&self.client).await.map_err(|e| {
            // Stripe's message may name our request, never our key; log it, answer plainly.
            tracing::warn!(error = %e, "Stripe refused or did not answer a checkout");
            ApiError::new(
                ErrorCode::Unavailable,
                "the payment provider did not create a checkout; retry later",
            )
            .retry_after(10)
        })?;
        session.url.ok_or_else(|| {
            ApiError::new(
                ErrorCode::Unavailable,
                "the payment provider returned a checkout without a URL",
            )
        })
    }
}
