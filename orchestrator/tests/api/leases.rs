//! Instance leases: lifecycle work on an instance waits while another replica sharing the
//! database holds the instance's lease, goes ahead once it is released or has expired, and two
//! replicas never hold one lease at once (on SQLite and on PostgreSQL).

use std::time::{Duration, Instant};

use orchestrator::settings::Secret;
use orchestrator::store::Store;
use uuid::Uuid;

use crate::helpers::{ADMIN_KEY, fresh_postgres_url, spawn_with, test_settings};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reboot_waits_for_another_replicas_lease_and_not_for_an_expired_one() {
    let (settings, data) = test_settings();
    let url = settings.database_url();
    let app = spawn_with(settings, data).await;
    let id = app.create_instance(ADMIN_KEY).await;
    let first = app.wait_status(ADMIN_KEY, &id, "ready").await;
    let instance: Uuid = id.parse().unwrap();

    // Another replica, on the same database, is working on the instance.
    let other = Store::connect(&url).await.unwrap();
    assert!(
        other
            .try_lease(instance, "other-replica:1", Duration::from_secs(60))
            .await
            .unwrap()
    );
    let (s, v) = app
        .post(
            &format!("/api/instances/{id}/reboot"),
            ADMIN_KEY,
            serde_json::json!({}),
        )
        .await;
    assert!(s == 200 || s == 202, "{s} {v}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, waiting) = app
        .get(&format!("/api/instances/{id}/status"), ADMIN_KEY)
        .await;
    assert_eq!(
        waiting["status"], "rebooting",
        "the reboot went ahead under another replica's lease: {waiting}"
    );

    // Released: the reboot completes, on a new sandbox.
    other
        .release_lease(instance, "other-replica:1")
        .await
        .unwrap();
    let rebooted = app.wait_status(ADMIN_KEY, &id, "ready").await;
    assert_ne!(rebooted["sandbox_id"], first["sandbox_id"]);

    // A lease whose holder stopped renewing it (a replica that died) does not block for long.
    let started = Instant::now();
    assert!(
        other
            .try_lease(instance, "other-replica:2", Duration::from_millis(1))
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    let (s, _) = app
        .post(
            &format!("/api/instances/{id}/reboot"),
            ADMIN_KEY,
            serde_json::json!({}),
        )
        .await;
    assert!(s == 200 || s == 202);
    let again = app.wait_status(ADMIN_KEY, &id, "ready").await;
    assert_ne!(again["sandbox_id"], rebooted["sandbox_id"]);
    assert!(started.elapsed() < Duration::from_secs(8));

    // Once the work is done the replica lets the lease go: another may take it.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !other
        .try_lease(instance, "other-replica:3", Duration::from_secs(60))
        .await
        .unwrap()
    {
        assert!(Instant::now() < deadline, "the lease was never released");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn leases_are_exclusive(url: &Secret) {
    let (a, b) = (
        Store::connect(url).await.unwrap(),
        Store::connect(url).await.unwrap(),
    );
    let id = Uuid::new_v4();
    let long = Duration::from_secs(60);
    assert!(a.try_lease(id, "a:1", long).await.unwrap());
    assert!(!b.try_lease(id, "b:1", long).await.unwrap(), "two holders");
    // The holder's replica may take its own lease over (its release may still be on the way).
    assert!(a.try_lease(id, "a:2", long).await.unwrap());
    assert!(
        !a.renew_lease(id, "a:1", long).await.unwrap(),
        "taken over, not shared"
    );
    assert!(a.renew_lease(id, "a:2", long).await.unwrap());
    // Releasing someone else's lease does nothing.
    b.release_lease(id, "a:1").await.unwrap();
    assert!(!b.try_lease(id, "b:2", long).await.unwrap());
    a.release_lease(id, "a:2").await.unwrap();
    assert!(b.try_lease(id, "b:3", long).await.unwrap());

    // Racing for a free lease: exactly one of many wins.
    let other = Uuid::new_v4();
    let mut racers = Vec::new();
    for i in 0..20 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        racers.push(tokio::spawn(async move {
            store
                .try_lease(other, &format!("racer{i}:1"), Duration::from_secs(60))
                .await
                .unwrap()
        }));
    }
    let mut won = 0;
    for r in racers {
        won += usize::from(r.await.unwrap());
    }
    assert_eq!(won, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_are_exclusive_on_sqlite() {
    let (settings, _data) = test_settings();
    leases_are_exclusive(&settings.database_url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_are_exclusive_on_postgres() {
    let Some(url) = fresh_postgres_url().await else {
        return;
    };
    leases_are_exclusive(&Secret::new(url)).await;
}

/// Another replica serving an instance keeps it awake: this replica, which started it and
/// would put it to sleep, sees that replica's activity in the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_in_use_on_another_replica_does_not_sleep() {
    let (settings, data) = test_settings();
    let url = settings.database_url();
    let app = spawn_with(settings, data).await;
    let id = app.create_instance(ADMIN_KEY).await;
    app.wait_status(ADMIN_KEY, &id, "ready").await;
    let instance: Uuid = id.parse().unwrap();
    let (s, v) = app
        .call(
            "PATCH",
            &format!("/api/instances/{id}"),
            Some(ADMIN_KEY),
            Some(serde_json::json!({"idle_timeout_s": 2})),
        )
        .await;
    assert_eq!(s, 200, "{v}");

    // The other replica (the same database) reports use every second for 6 s.
    let other = Store::connect(&url).await.unwrap();
    for _ in 0..6 {
        other
            .record_activity(instance, orchestrator::store::lease::epoch_ms())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (_, v) = app
            .get(&format!("/api/instances/{id}/status"), ADMIN_KEY)
            .await;
        assert_eq!(v["status"], "ready", "slept while in use elsewhere: {v}");
    }
    // Then nobody uses it: it sleeps after its idle timeout.
    let started = Instant::now();
    app.wait_status(ADMIN_KEY, &id, "sleeping").await;
    assert!(started.elapsed() < Duration::from_secs(8));
}
