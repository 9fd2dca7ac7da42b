//! Probes, metrics, `GET /api`, request ids and the error envelope for unknown routes.

use crate::helpers::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_metrics_and_api_root() {
    let app = spawn_app().await;
    let r = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["ready"], true);

    let (s, api) = app.call("GET", "/api", None, None).await;
    assert_eq!(s, 200);
    assert_eq!(api["runtime"]["kind"], "local");
    assert_eq!(api["database"], "sqlite");
    let resources: Vec<&str> = api["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(resources.contains(&"/api/instances/{instanceId}/terminal/exec"));

    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("ocaas_http_requests_total"),
        "metrics: {metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_echoed_or_minted() {
    let app = spawn_app().await;
    let r = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "abc-123");
    // A malformed incoming id is replaced, not reflected.
    let r = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap();
    assert_ne!(id, "bad id with spaces");
    assert_eq!(id.len(), 36);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_methods_use_the_envelope() {
    let app = spawn_app().await;
    let (s, v) = app.call("GET", "/api/nope", None, None).await;
    assert_eq!(s, 404);
    assert_eq!(v["error"]["code"], "ROUTE_NOT_FOUND");
    let (s, v) = app
        .call(
            "PUT",
            "/api/instances",
            Some(crate::helpers::ADMIN_KEY),
            None,
        )
        .await;
    assert_eq!(s, 405);
    assert_eq!(v["error"]["code"], "METHOD_NOT_ALLOWED");
}
