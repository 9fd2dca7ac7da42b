//! Billing: `POST /api/billing/checkout` (a Stripe Checkout Session for the configured price)
//! and `POST /api/billing/webhook` (Stripe's events, signature-checked, idempotent by event
//! id). Without Stripe settings both are `404 BILLING_DISABLED` and `GET /api` says billing is
//! off.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::openapi::errors;
use super::{Api, origin};
use crate::auth::{Authed, perm};
use crate::billing::Billing;
use crate::billing::signature::{SignatureError, verify};
use crate::billing::webhook::{Event, Outcome, apply};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::startup::AppState;
use sandbox_agent::protocol::ErrorEnvelope;

pub fn configure(api: &mut Api<'_>) {
    api.resource("/api/billing/checkout", |r| r.post(checkout));
    api.resource("/api/billing/webhook", |r| r.post(webhook));
}

fn billing(state: &AppState) -> ApiResult<&Billing> {
    state.billing.as_ref().ok_or_else(|| {
        ApiError::new(
            ErrorCode::BillingDisabled,
            "billing is not configured on this service",
        )
    })
}

/// Where to send the customer to pay.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"url": "https://checkout.stripe.com/c/pay/cs_test_a1b2c3"}))]
pub struct CheckoutView {
    /// The Stripe Checkout page; after paying, Stripe sends the customer back to `/account`.
    pub url: String,
}

/// Start a checkout
///
/// A Stripe Checkout Session subscribing this account to the service's plan. Open `url` in a
/// browser; once Stripe reports the subscription (webhook), the account may create instances
/// under the `subscription` and `invite_or_subscription` gates.
#[utoipa::path(
    post,
    path = "/api/billing/checkout",
    tag = "billing",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, description = "The Checkout Session's URL.", body = CheckoutView),
        (status = 403, description = errors::NEEDS_ADMIN_PERM, body = ErrorEnvelope),
        (status = 404, description = errors::BILLING_404, body = ErrorEnvelope),
        (status = 503, description = "`UNAVAILABLE`: Stripe did not create the session; retry.", body = ErrorEnvelope,
            headers(("Retry-After" = u64, description = "Seconds to wait."))),
    ),
)]
#[tracing::instrument(skip_all, fields(account = %caller.owner.id()))]
async fn checkout(
    state: web::Data<AppState>,
    caller: Authed<perm::Account>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let billing = billing(&state)?;
    let account = state
        .store
        .get_account(&caller.owner)
        .await?
        .ok_or_else(|| ApiError::not_found("account"))?;
    let url = billing.checkout(&account, &origin(&req)).await?;
    Ok(HttpResponse::Created().json(CheckoutView { url }))
}

/// What the webhook did with an event.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAck {
    pub received: bool,
    /// This event id was processed before; nothing was changed.
    pub duplicate: bool,
    /// `applied`, or `ignored` (a type we do not handle, no matching account, or older than
    /// what the account already has).
    pub outcome: &'static str,
}

/// Stripe webhook
///
/// Stripe's events, verified by their `Stripe-Signature` (HMAC-SHA256 with the endpoint's
/// signing secret; the signed timestamp must be within 300 s). Idempotent by event id.
/// Handles `checkout.session.completed` and `customer.subscription.created|updated|deleted`;
/// acknowledges every other type. A lapsed subscription only stops new instances; nothing is
/// deleted.
#[utoipa::path(
    post,
    path = "/api/billing/webhook",
    tag = "billing",
    request_body(content = String, content_type = "application/json", description = "A Stripe event, exactly as Stripe sent it (the signature covers the raw bytes)."),
    params(("Stripe-Signature" = String, Header, description = "`t=<unix time>,v1=<hex HMAC-SHA256 of \"t.payload\">`")),
    responses(
        (status = 200, description = "Received.", body = WebhookAck),
        (status = 400, description = "`SIGNATURE_INVALID`: no, a wrong or a stale signature. `INVALID_JSON`: a verified body that is not a Stripe event.", body = ErrorEnvelope),
        (status = 404, description = errors::BILLING_404, body = ErrorEnvelope),
        (status = 413, description = "`PAYLOAD_TOO_LARGE`: larger than 1 MiB.", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`: a verified event whose object is not what its type says.", body = ErrorEnvelope),
    ),
)]
#[tracing::instrument(skip_all)]
async fn webhook(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let billing = billing(&state)?;
    if body.len() > 1024 * 1024 {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            "a webhook body may be at most 1 MiB",
        ));
    }
    let header = req
        .headers()
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let now = chrono::Utc::now().timestamp();
    verify(
        billing.webhook_secret().expose(),
        header,
        &body,
        billing.tolerance_s,
        now,
    )
    .map_err(|e| {
        tracing::warn!(error = %e, "webhook signature refused");
        let message = match e {
            SignatureError::Stale => "the signed timestamp is too old (or in the future)",
            _ => "the Stripe-Signature does not verify",
        };
        ApiError::new(ErrorCode::SignatureInvalid, message)
    })?;
    let event: Event = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(ErrorCode::InvalidJson, format!("not a Stripe event: {e}")))?;
    if !state
        .store
        .record_stripe_event(&event.id, &event.kind)
        .await?
    {
        return Ok(HttpResponse::Ok().json(WebhookAck {
            received: true,
            duplicate: true,
            outcome: "ignored",
        }));
    }
    let outcome = match apply(&state.store, &event).await {
        Ok(o) => o,
        Err(e) => {
            // Not recorded as processed, so Stripe's retry applies it.
            let _ = state.store.forget_stripe_event(&event.id).await;
            if e.downcast_ref::<serde_json::Error>().is_some() {
                return Err(ApiError::new(
                    ErrorCode::ValidationFailed,
                    format!("the event's object is not what its type says: {e}"),
                ));
            }
            return Err(ApiError::internal(e));
        }
    };
    tracing::info!(event = %event.id, kind = %event.kind, ?outcome, "Stripe event");
    Ok(HttpResponse::Ok().json(WebhookAck {
        received: true,
        duplicate: false,
        outcome: match outcome {
            Outcome::Applied => "applied",
            Outcome::Ignored => "ignored",
        },
    }))
}
