//! Billing against the Stripe stand-in (`stripe_stand_in.rs`): checkout, webhook signatures
//! (valid, tampered, stale, replayed, out of order), and a subscription's whole life.

use orchestrator::settings::{Gate, Secret, Settings};
use serde_json::{Value, json};

use crate::helpers::{ADMIN_KEY, TestApp, spawn_app, spawn_with, test_settings};
use crate::stripe_stand_in::{self as stand_in, StripeStandIn};

fn with_billing(stripe: &StripeStandIn, gate: Gate) -> (Settings, tempfile::TempDir) {
    let (mut s, data) = test_settings();
    s.access.gate = gate;
    s.billing.stripe_api_base = stripe.base.clone();
    s.billing.stripe_secret_key = Some(Secret::new(stand_in::SECRET_KEY));
    s.billing.price_id = Some(stand_in::PRICE_ID.into());
    s.billing.webhook_secret = Some(Secret::new(stand_in::WEBHOOK_SECRET));
    (s, data)
}

async fn start(gate: Gate) -> (StripeStandIn, TestApp) {
    let stripe = StripeStandIn::start().await;
    let (settings, data) = with_billing(&stripe, gate);
    let app = spawn_with(settings, data).await;
    *stripe.webhook_url.lock().unwrap() = app.url("/api/billing/webhook");
    (stripe, app)
}

/// An account with an email; (key, account id).
async fn customer(app: &TestApp, email: &str) -> (String, String) {
    let (s, v) = app
        .post(
            "/api/admin/accounts",
            ADMIN_KEY,
            json!({"name": "cust", "email": email}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    (
        v["key"]["key"].as_str().unwrap().to_owned(),
        v["account"]["id"].as_str().unwrap().to_owned(),
    )
}

async fn subscription(app: &TestApp, key: &str) -> Value {
    app.get("/api/account", key).await.1["subscription"].clone()
}

fn code(v: &Value) -> Option<&str> {
    v["error"]["code"].as_str()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn billing_is_off_without_stripe_settings_and_says_so() {
    let app = spawn_app().await;
    let (_, api) = app.call("GET", "/api", None, None).await;
    assert_eq!(api["access"]["billing"], false);
    assert_eq!(api["features"]["billing"], false);
    assert_eq!(api["access"]["gate"], "open");
    let (s, v) = app
        .post("/api/billing/checkout", ADMIN_KEY, json!({}))
        .await;
    assert_eq!((s, code(&v)), (404, Some("BILLING_DISABLED")));
    let (s, v) = app
        .call("POST", "/api/billing/webhook", None, Some(json!({})))
        .await;
    assert_eq!((s, code(&v)), (404, Some("BILLING_DISABLED")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_signatures_valid_tampered_stale_and_replayed() {
    let (stripe, app) = start(Gate::Subscription).await;
    let (_, api) = app.call("GET", "/api", None, None).await;
    assert_eq!(api["access"]["billing"], true);
    let (key, account) = customer(&app, "pat@example.com").await;
    let now = chrono::Utc::now().timestamp();
    let object = |status: &str| {
        json!({"id": "sub_sig", "object": "subscription", "customer": "cus_sig", "status": status,
               "metadata": {"account_id": account}, "items": {"object": "list", "data": []}})
    };
    let first = stripe.event("customer.subscription.created", object("active"), now);
    let payload = serde_json::to_vec(&first).unwrap();

    // No signature, a malformed one.
    let (s, v) = stripe.deliver_raw(&payload, None).await;
    assert_eq!((s, code(&v)), (400, Some("SIGNATURE_INVALID")), "{v}");
    let (s, _) = stripe.deliver_raw(&payload, Some("garbage")).await;
    assert_eq!(s, 400);
    // Signed with another secret.
    let sig = StripeStandIn::signature("whsec_someone_else", now, &payload);
    assert_eq!(stripe.deliver_raw(&payload, Some(&sig)).await.0, 400);
    // Stale and future timestamps, correctly signed.
    for t in [now - 301, now - 3600, now + 3600] {
        let sig = StripeStandIn::signature(stand_in::WEBHOOK_SECRET, t, &payload);
        let (s, v) = stripe.deliver_raw(&payload, Some(&sig)).await;
        assert_eq!(
            (s, code(&v)),
            (400, Some("SIGNATURE_INVALID")),
            "t={t}: {v}"
        );
    }
    assert_eq!(
        subscription(&app, &key).await,
        Value::Null,
        "nothing applied yet"
    );

    // Valid.
    let sig = StripeStandIn::signature(stand_in::WEBHOOK_SECRET, now, &payload);
    let (s, v) = stripe.deliver_raw(&payload, Some(&sig)).await;
    assert_eq!((s, v["outcome"].as_str()), (200, Some("applied")), "{v}");
    assert_eq!(subscription(&app, &key).await["status"], "active");

    // Tampered: the same signature over a changed body.
    let mut tampered = first.clone();
    tampered["data"]["object"]["status"] = json!("canceled");
    let tampered = serde_json::to_vec(&tampered).unwrap();
    let (s, v) = stripe.deliver_raw(&tampered, Some(&sig)).await;
    assert_eq!((s, code(&v)), (400, Some("SIGNATURE_INVALID")), "{v}");
    assert_eq!(subscription(&app, &key).await["status"], "active");

    // A newer event cancels; replaying the first (freshly signed, same id) changes nothing.
    let (s, v) = stripe
        .deliver(&stripe.event("customer.subscription.deleted", object("canceled"), now + 5))
        .await;
    assert_eq!((s, v["outcome"].as_str()), (200, Some("applied")), "{v}");
    let (s, v) = stripe.deliver(&first).await;
    assert_eq!((s, v["duplicate"].as_bool()), (200, Some(true)), "{v}");
    assert_eq!(subscription(&app, &key).await["status"], "canceled");
    // An older event delivered late (a new id) does not undo a newer one.
    let (s, v) = stripe
        .deliver(&stripe.event("customer.subscription.updated", object("active"), now - 60))
        .await;
    assert_eq!((s, v["outcome"].as_str()), (200, Some("ignored")), "{v}");
    assert_eq!(subscription(&app, &key).await["status"], "canceled");
    // Types we do not handle are acknowledged.
    let (s, v) = stripe
        .deliver(&stripe.event("invoice.paid", json!({"id": "in_1"}), now))
        .await;
    assert_eq!((s, v["outcome"].as_str()), (200, Some("ignored")), "{v}");
    // A verified body that is not an event.
    let junk = b"{\"hello\":1}";
    let sig = StripeStandIn::signature(stand_in::WEBHOOK_SECRET, now, junk);
    let (s, v) = stripe.deliver_raw(junk, Some(&sig)).await;
    assert_eq!((s, code(&v)), (400, Some("INVALID_JSON")), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_lets_an_account_create_until_it_lapses_and_keeps_its_data() {
    let (stripe, app) = start(Gate::Subscription).await;
    let (key, account) = customer(&app, "sam@example.com").await;
    let (s, v) = app.post("/api/instances", &key, json!({})).await;
    assert_eq!((s, code(&v)), (403, Some("SUBSCRIPTION_REQUIRED")), "{v}");
    // Under this gate an invite code does not help.
    let (s, v) = app
        .post(
            "/api/instances",
            &key,
            json!({"invite_code": "inv_whatever"}),
        )
        .await;
    assert_eq!((s, code(&v)), (403, Some("SUBSCRIPTION_REQUIRED")), "{v}");

    // Checkout: the service asks "Stripe" for a session in Stripe's request shape.
    let (s, v) = app.post("/api/billing/checkout", &key, json!({})).await;
    assert_eq!(s, 201, "{v}");
    let url = v["url"].as_str().unwrap();
    assert!(
        url.starts_with("https://checkout.stripe.com/c/pay/cs_test_"),
        "{url}"
    );
    let sent = stripe.checkouts();
    let form = &sent[0].form;
    assert_eq!(
        sent[0].authorization,
        format!("Bearer {}", stand_in::SECRET_KEY)
    );
    assert_eq!(form["mode"], "subscription");
    assert_eq!(form["line_items[0][price]"], stand_in::PRICE_ID);
    assert_eq!(form["line_items[0][quantity]"], "1");
    assert_eq!(form["client_reference_id"], account);
    assert_eq!(form["subscription_data[metadata][account_id]"], account);
    assert_eq!(form["customer_email"], "sam@example.com");
    assert!(
        form["success_url"].ends_with("/account?checkout=success"),
        "{form:?}"
    );

    // The customer pays; Stripe's events make the subscription active with the plan's size.
    let session = url.rsplit('/').next().unwrap();
    let sub = stripe.complete_checkout(session).await;
    let subscribed = subscription(&app, &key).await;
    assert_eq!(subscribed["status"], "active", "{subscribed}");
    assert_eq!(subscribed["max_instances"], stand_in::PLAN_MAX_INSTANCES);

    let (s, v) = app.post("/api/instances", &key, json!({})).await;
    assert_eq!(s, 201, "{v}");
    let kept = v["id"].as_str().unwrap().to_owned();
    app.wait_status(&key, &kept, "ready").await;
    let (s, v) = app
        .post(
            &format!("/api/instances/{kept}/files/write"),
            &key,
            json!({"path": "/workspace/keep.txt", "content": "paid for"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = app.post("/api/instances", &key, json!({})).await;
    assert_eq!(s, 201, "{v}");
    let second = v["id"].as_str().unwrap().to_owned();
    // The plan allows two.
    let (s, v) = app.post("/api/instances", &key, json!({})).await;
    assert_eq!((s, code(&v)), (403, Some("QUOTA_EXCEEDED")), "{v}");

    // Payment trouble (`past_due`) keeps access while Stripe retries.
    let t = chrono::Utc::now().timestamp();
    let (s, _) = stripe
        .change_subscription(&sub, "past_due", false, t + 1)
        .await;
    assert_eq!(s, 200);
    assert_eq!(subscription(&app, &key).await["status"], "past_due");
    let (s, _) = app
        .call(
            "DELETE",
            &format!("/api/instances/{second}"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (s, v) = app.post("/api/instances", &key, json!({})).await;
    assert_eq!(s, 201, "past_due still creates: {v}");
    let third = v["id"].as_str().unwrap().to_owned();

    // The subscription ends: no new instances, nothing deleted.
    let (s, _) = stripe
        .change_subscription(&sub, "canceled", true, t + 2)
        .await;
    assert_eq!(s, 200);
    assert_eq!(subscription(&app, &key).await["status"], "canceled");
    let (s, _) = app
        .call(
            "DELETE",
            &format!("/api/instances/{third}"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (s, v) = app.post("/api/instances", &key, json!({})).await;
    assert_eq!((s, code(&v)), (403, Some("SUBSCRIPTION_REQUIRED")), "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("canceled"),
        "{v}"
    );
    let (s, v) = app
        .get(
            &format!("/api/instances/{kept}/files/read?path=/workspace/keep.txt"),
            &key,
        )
        .await;
    assert_eq!((s, v["content"].as_str()), (200, Some("paid for")), "{v}");

    // Subscribing again reuses the Stripe customer.
    let (s, _) = app.post("/api/billing/checkout", &key, json!({})).await;
    assert_eq!(s, 201);
    let again = &stripe.checkouts()[1].form;
    assert!(again["customer"].starts_with("cus_"), "{again:?}");
    assert!(!again.contains_key("customer_email"));
}
