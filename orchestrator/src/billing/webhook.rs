//! Applying Stripe events. Only the fields used are read (Stripe adds fields over time;
//! nothing here breaks when it does). Handled: `checkout.session.completed` (links the Stripe
//! customer and subscription to the account named by `client_reference_id`) and
//! `customer.subscription.created|updated|deleted` (mirrors status and plan). Every other type
//! is acknowledged and ignored. Events may arrive in any order and more than once: each
//! account keeps the `created` time of the newest event applied and ignores older ones, and
//! event ids already processed are acknowledged without effect.

use serde::Deserialize;
use uuid::Uuid;

use super::ACCOUNT_METADATA;
use crate::store::Store;
use crate::store::access::SubscriptionUpdate;
use crate::store::entities::account;

/// The envelope of every Stripe event.
#[derive(Debug, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub created: i64,
    pub data: EventData,
}

#[derive(Debug, Deserialize)]
pub struct EventData {
    pub object: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct CheckoutSession {
    client_reference_id: Option<String>,
    customer: Option<String>,
    subscription: Option<String>,
    payment_status: Option<String>,
    #[serde(default)]
    metadata: std::collections::HashMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct Subscription {
    id: String,
    customer: Option<String>,
    status: String,
    #[serde(default)]
    metadata: std::collections::HashMap<String, String>,
    items: Option<Items>,
}

#[derive(Debug, Deserialize)]
struct Items {
    #[serde(default)]
    data: Vec<Item>,
}

#[derive(Debug, Deserialize)]
struct Item {
    price: Option<Price>,
}

#[derive(Debug, Deserialize)]
struct Price {
    #[serde(default)]
    metadata: std::collections::HashMap<String, String>,
}

/// What became of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    /// A type we do not handle, no account it belongs to, or older than what the account has.
    Ignored,
}

async fn account_of(
    store: &Store,
    metadata: &std::collections::HashMap<String, String>,
    reference: Option<&str>,
    customer: Option<&str>,
) -> Result<Option<account::Model>, sea_orm::DbErr> {
    let named = reference
        .or(metadata.get(ACCOUNT_METADATA).map(String::as_str))
        .and_then(|s| s.parse::<Uuid>().ok());
    if let Some(id) = named
        && let Some(a) = store.get_account_all_owners(id).await?
    {
        return Ok(Some(a));
    }
    match customer {
        Some(c) => store.find_account_by_customer_all_owners(c).await,
        None => Ok(None),
    }
}

/// Apply one verified event.
pub async fn apply(store: &Store, event: &Event) -> Result<Outcome, anyhow::Error> {
    match event.kind.as_str() {
        "checkout.session.completed" => {
            let s: CheckoutSession = serde_json::from_value(event.data.object.clone())?;
            let Some(account) = account_of(
                store,
                &s.metadata,
                s.client_reference_id.as_deref(),
                s.customer.as_deref(),
            )
            .await?
            else {
                return Ok(Outcome::Ignored);
            };
            if let Some(customer) = &s.customer {
                store
                    .set_stripe_customer_all_owners(account.id, customer)
                    .await?;
            }
            let paid = matches!(
                s.payment_status.as_deref(),
                Some("paid" | "no_payment_required")
            );
            // The subscription's own events carry its status and plan; a completed, paid
            // checkout means it is active, which matters only if none of them came first.
            let first_news = account.subscription_id.as_deref() != s.subscription.as_deref()
                || account.subscription_status.is_none();
            if let (Some(sub), true, true) = (&s.subscription, paid, first_news) {
                let applied = store
                    .apply_subscription_all_owners(
                        account.id,
                        &SubscriptionUpdate {
                            subscription_id: sub,
                            customer_id: s.customer.as_deref(),
                            status: "active",
                            max_instances: None,
                            event_at: event.created,
                        },
                    )
                    .await?;
                return Ok(if applied {
                    Outcome::Applied
                } else {
                    Outcome::Ignored
                });
            }
            Ok(Outcome::Applied)
        }
        "customer.subscription.created"
        | "customer.subscription.updated"
        | "customer.subscription.deleted" => {
            let s: Subscription = serde_json::from_value(event.data.object.clone())?;
            let Some(account) = account_of(store, &s.metadata, None, s.customer.as_deref()).await?
            else {
                tracing::warn!(subscription = %s.id, "a Stripe subscription for no account of ours");
                return Ok(Outcome::Ignored);
            };
            let max_instances = s
                .items
                .iter()
                .flat_map(|i| &i.data)
                .filter_map(|i| i.price.as_ref())
                .find_map(|p| p.metadata.get("max_instances")?.parse::<i32>().ok());
            let status = if event.kind.ends_with(".deleted") {
                "canceled"
            } else {
                s.status.as_str()
            };
            let applied = store
                .apply_subscription_all_owners(
                    account.id,
                    &SubscriptionUpdate {
                        subscription_id: &s.id,
                        customer_id: s.customer.as_deref(),
                        status,
                        max_instances,
                        event_at: event.created,
                    },
                )
                .await?;
            tracing::info!(account_id = %account.id, status, applied, "Stripe subscription event");
            Ok(if applied {
                Outcome::Applied
            } else {
                Outcome::Ignored
            })
        }
        _ => Ok(Outcome::Ignored),
    }
}
