//! The **Stripe stand-in**: this machine cannot reach Stripe, so billing tests point
//! `billing.stripe_api_base` at this small loopback server instead. It answers the one Stripe
//! endpoint the service calls — `POST /v1/checkout/sessions`, with Stripe's form-encoded
//! request and its JSON `checkout.session` object (the fields `async-stripe` requires) — and
//! plays Stripe's side of what follows: completing a checkout and changing a subscription send
//! the service signed webhook events (`Stripe-Signature: t=...,v1=HMAC-SHA256("t.payload")`,
//! computed here independently of the service's own verifier).
//!
//! It is a stand-in for Stripe in tests only; the service talks to it exactly as to Stripe.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

pub const SECRET_KEY: &str = "sk_test_stand_in_0123456789";
pub const WEBHOOK_SECRET: &str = "whsec_stand_in_0123456789";
pub const PRICE_ID: &str = "price_stand_in_pro";
/// The stand-in's price carries this plan size as `metadata.max_instances`.
pub const PLAN_MAX_INSTANCES: i64 = 2;

/// A checkout request as the stand-in received it.
#[derive(Debug, Clone)]
pub struct CheckoutRequest {
    pub authorization: String,
    pub form: HashMap<String, String>,
}

#[derive(Default)]
struct State {
    checkouts: Vec<CheckoutRequest>,
    sessions: HashMap<String, Value>,
    subscriptions: HashMap<String, Value>,
    next: u64,
}

pub struct StripeStandIn {
    pub base: String,
    state: Arc<Mutex<State>>,
    client: reqwest::Client,
    /// Where events are delivered: the service's `/api/billing/webhook`.
    pub webhook_url: Mutex<String>,
}

fn id(state: &mut State, prefix: &str) -> String {
    state.next += 1;
    format!("{prefix}_standin{:06}", state.next)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn create_checkout(
    state: web::Data<Arc<Mutex<State>>>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let authorization = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if authorization != format!("Bearer {SECRET_KEY}") {
        return HttpResponse::Unauthorized().json(json!({"error": {
            "type": "invalid_request_error",
            "message": "Invalid API Key provided"
        }}));
    }
    let form: HashMap<String, String> =
        reqwest::Url::parse(&format!("http://x/?{}", String::from_utf8_lossy(&body)))
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect();
    let mut st = state.lock().unwrap();
    let session_id = id(&mut st, "cs_test");
    let created = now();
    let session = json!({
        "id": session_id,
        "object": "checkout.session",
        "adaptive_pricing": null,
        "after_expiration": null,
        "allow_promotion_codes": null,
        "amount_subtotal": 2000,
        "amount_total": 2000,
        "automatic_tax": {"enabled": false, "liability": null, "provider": null, "status": null},
        "billing_address_collection": null,
        "cancel_url": form.get("cancel_url"),
        "client_reference_id": form.get("client_reference_id"),
        "client_secret": null,
        "collected_information": null,
        "consent": null,
        "consent_collection": null,
        "created": created,
        "currency": "usd",
        "currency_conversion": null,
        "custom_fields": [],
        "custom_text": {"after_submit": null, "shipping_address": null, "submit": null, "terms_of_service_acceptance": null},
        "customer": form.get("customer"),
        "customer_creation": "always",
        "customer_details": null,
        "customer_email": form.get("customer_email"),
        "discounts": [],
        "expires_at": created + 86400,
        "invoice": null,
        "invoice_creation": null,
        "livemode": false,
        "locale": null,
        "metadata": {"account_id": form.get("metadata[account_id]")},
        "mode": form.get("mode"),
        "payment_intent": null,
        "payment_link": null,
        "payment_method_collection": "always",
        "payment_method_configuration_details": null,
        "payment_method_options": null,
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "phone_number_collection": {"enabled": false},
        "recovered_from": null,
        "saved_payment_method_options": null,
        "setup_intent": null,
        "shipping_address_collection": null,
        "shipping_cost": null,
        "shipping_options": [],
        "status": "open",
        "submit_type": null,
        "subscription": null,
        "success_url": form.get("success_url"),
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted",
        "url": format!("https://checkout.stripe.com/c/pay/{session_id}"),
    });
    st.sessions.insert(session_id, session.clone());
    st.checkouts.push(CheckoutRequest {
        authorization,
        form,
    });
    HttpResponse::Ok().json(session)
}

impl StripeStandIn {
    pub async fn start() -> StripeStandIn {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let state = Arc::new(Mutex::new(State::default()));
        let data = web::Data::new(state.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/v1/checkout/sessions", web::post().to(create_checkout))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        StripeStandIn {
            base: format!("http://127.0.0.1:{port}/"),
            state,
            client: reqwest::Client::new(),
            webhook_url: Mutex::new(String::new()),
        }
    }

    pub fn checkouts(&self) -> Vec<CheckoutRequest> {
        self.state.lock().unwrap().checkouts.clone()
    }

    /// `Stripe-Signature` for `payload` signed at `t` with `secret`.
    pub fn signature(secret: &str, t: i64, payload: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(payload);
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("t={t},v1={hex}")
    }

    /// An event as Stripe shapes it.
    pub fn event(&self, kind: &str, object: Value, created: i64) -> Value {
        let mut st = self.state.lock().unwrap();
        let event_id = id(&mut st, "evt");
        json!({
            "id": event_id,
            "object": "event",
            "api_version": "2025-03-31.basil",
            "created": created,
            "data": {"object": object},
            "livemode": false,
            "pending_webhooks": 1,
            "request": {"id": null, "idempotency_key": null},
            "type": kind,
        })
    }

    /// Deliver raw bytes with a given signature header; (status, body).
    pub async fn deliver_raw(&self, payload: &[u8], signature: Option<&str>) -> (u16, Value) {
        let url = self.webhook_url.lock().unwrap().clone();
        let mut req = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .body(payload.to_vec());
        if let Some(s) = signature {
            req = req.header("stripe-signature", s);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Deliver an event signed now, as Stripe does.
    pub async fn deliver(&self, event: &Value) -> (u16, Value) {
        let payload = serde_json::to_vec(event).unwrap();
        let sig = Self::signature(WEBHOOK_SECRET, now(), &payload);
        self.deliver_raw(&payload, Some(&sig)).await
    }

    fn subscription_object(&self, sub: &str, customer: &str, account: &str, status: &str) -> Value {
        json!({
            "id": sub,
            "object": "subscription",
            "customer": customer,
            "status": status,
            "cancel_at_period_end": false,
            "metadata": {"account_id": account},
            "items": {"object": "list", "data": [{
                "id": format!("si_{sub}"),
                "object": "subscription_item",
                "price": {
                    "id": PRICE_ID,
                    "object": "price",
                    "metadata": {"max_instances": PLAN_MAX_INSTANCES.to_string()},
                    "recurring": {"interval": "month"},
                },
                "quantity": 1,
            }]},
        })
    }

    /// The customer pays: the session completes and a subscription starts. Stripe sends
    /// `checkout.session.completed` and `customer.subscription.created` (here in that order;
    /// the service accepts either). Returns the subscription id.
    pub async fn complete_checkout(&self, session_id: &str) -> String {
        let (session, customer, sub) = {
            let mut st = self.state.lock().unwrap();
            let customer = id(&mut st, "cus");
            let sub = id(&mut st, "sub");
            let session = st.sessions.get_mut(session_id).expect("a session we made");
            session["status"] = json!("complete");
            session["payment_status"] = json!("paid");
            session["customer"] = json!(customer);
            session["subscription"] = json!(sub);
            (session.clone(), customer, sub)
        };
        let account = session["client_reference_id"].as_str().unwrap().to_owned();
        let object = self.subscription_object(&sub, &customer, &account, "active");
        self.state
            .lock()
            .unwrap()
            .subscriptions
            .insert(sub.clone(), object.clone());
        let t = now();
        let (s, v) = self
            .deliver(&self.event("checkout.session.completed", session, t))
            .await;
        assert_eq!(s, 200, "{v}");
        let (s, v) = self
            .deliver(&self.event("customer.subscription.created", object, t))
            .await;
        assert_eq!(s, 200, "{v}");
        sub
    }

    /// The subscription changes status (`past_due`, `canceled`...); `deleted` sends
    /// `customer.subscription.deleted` as Stripe does when a subscription ends. `created` is
    /// the event's time (later than earlier events).
    pub async fn change_subscription(
        &self,
        sub: &str,
        status: &str,
        deleted: bool,
        created: i64,
    ) -> (u16, Value) {
        let object = {
            let mut st = self.state.lock().unwrap();
            let o = st
                .subscriptions
                .get_mut(sub)
                .expect("a subscription we made");
            o["status"] = json!(status);
            o.clone()
        };
        let kind = if deleted {
            "customer.subscription.deleted"
        } else {
            "customer.subscription.updated"
        };
        self.deliver(&self.event(kind, object, created)).await
    }
}
