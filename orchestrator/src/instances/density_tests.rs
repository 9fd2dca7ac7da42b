//! Density: 10 000 sleeping instances on one node cost database rows and directories, not
//! processes or memory; the service starts over them, lists them page by page, and wakes any
//! one of them on a call. (In the crate because the store's `Owner` is only ever made by
//! authentication; here the test makes the rows the way a long-lived service accumulates them.)

use std::os::unix::fs::PermissionsExt;

use serde_json::Value;

use super::{DESIRED_SLEEPING, Status};
use crate::auth;
use crate::settings::Settings;
use crate::startup::Application;
use crate::store::{NewInstance, Owner, Store};

const INSTANCES: usize = 10_000;

/// Resident memory of this process, bytes.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

/// Processes inside a sandbox of this data directory: their mount table binds a directory
/// under `<data>/instances/` (sandboxes hide host paths from their command lines).
fn sandbox_processes(data: &std::path::Path) -> usize {
    let marker = format!("{}/instances/", data.display());
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter(|e| {
            std::fs::read_to_string(e.path().join("mountinfo")).is_ok_and(|m| m.contains(&marker))
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_sleeping_instances_cost_rows_and_directories_only() {
    let data = tempfile::tempdir().unwrap();
    std::fs::set_permissions(data.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let mut settings = Settings {
        listen: "127.0.0.1:0".into(),
        data_dir: data.path().to_path_buf(),
        log_level: "warn".into(),
        ..Settings::default()
    };
    settings.local.keep_sandboxes_on_shutdown = false;
    settings.local.openclaw_dir = None;
    settings.pool.size = 0;

    // The rows and directories a node with 10 000 sleeping instances has.
    let store = Store::connect(&settings.database_url()).await.unwrap();
    let account = store
        .create_account("dense", None, false, Some(i32::MAX))
        .await
        .unwrap();
    let owner = Owner::from_authenticated(account.id);
    let key = auth::generate_key();
    store
        .insert_key(
            &owner,
            "density",
            &key.prefix,
            &key.hash,
            &auth::Perms::all().to_stored(),
        )
        .await
        .unwrap();
    let ids = store
        .insert_sleeping_instances_for_tests(&owner, INSTANCES)
        .await
        .unwrap();
    for id in &ids {
        for sub in ["workspace", "state/home"] {
            std::fs::create_dir_all(data.path().join(format!("instances/{id}/{sub}"))).unwrap();
        }
    }
    drop(store);

    // The service starts over them without starting anything.
    let rss_before = rss_bytes();
    let app = Application::build(settings).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let runtime = app.runtime();
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..1500 {
        if client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(ready, "start-up reconciliation did not finish");
    assert_eq!(
        sandbox_processes(data.path()),
        0,
        "sleeping instances run processes"
    );

    // Listed page by page: every instance exactly once.
    let mut seen = Vec::with_capacity(INSTANCES);
    let mut next = Some(format!("{base}/api/instances?limit=1000"));
    while let Some(url) = next.take() {
        let resp = client
            .get(&url)
            .bearer_auth(&key.secret)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        next = resp
            .headers()
            .get("link")
            .and_then(|l| l.to_str().ok())
            .and_then(|l| l.strip_prefix('<'))
            .and_then(|l| l.split_once('>'))
            .map(|(path, _)| format!("{base}{path}"));
        let page: Vec<Value> = resp.json().await.unwrap();
        assert!(page.iter().all(|i| i["status"] == "sleeping"));
        seen.extend(
            page.into_iter()
                .map(|i| i["id"].as_str().unwrap().to_owned()),
        );
    }
    let mut expected: Vec<String> = ids.iter().map(ToString::to_string).collect();
    expected.sort();
    seen.sort();
    assert_eq!(seen, expected);
    // The default page is 100.
    let first: Vec<Value> = client
        .get(format!("{base}/api/instances"))
        .bearer_auth(&key.secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(first.len(), 100);

    let grown = rss_bytes().saturating_sub(rss_before);
    assert!(
        grown < 128 * 1024 * 1024,
        "the service grew by {} MiB holding 10 000 sleeping instances",
        grown / (1024 * 1024)
    );

    // Any one of them wakes on a call, and only that one runs.
    let one = &ids[INSTANCES / 2];
    let resp = client
        .post(format!("{base}/api/instances/{one}/terminal/exec"))
        .bearer_auth(&key.secret)
        .json(&serde_json::json!({"command": "pwd"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let out: Value = resp.json().await.unwrap();
    assert_eq!(out["stdout"], "/workspace\n");
    assert!(
        sandbox_processes(data.path()) > 0,
        "the woken instance runs no sandbox"
    );
    let status: Value = client
        .get(format!("{base}/api/instances/{}/status", ids[0]))
        .bearer_auth(&key.secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], Status::Sleeping.as_str());
    assert_eq!(status["desired_state"], DESIRED_SLEEPING);
    // Closed first, or the supervisor restarts the sandbox the teardown kills.
    runtime.close();
    crate::runtime::local::kill_all_now(data.path());
}

impl Store {
    /// `n` sleeping instances for `owner`.
    async fn insert_sleeping_instances_for_tests(
        &self,
        owner: &Owner,
        n: usize,
    ) -> Result<Vec<uuid::Uuid>, sea_orm::DbErr> {
        let mut ids = Vec::with_capacity(n);
        for i in 0..n {
            let m = self
                .insert_instance(
                    owner,
                    None,
                    NewInstance {
                        name: format!("dense-{i:05}"),
                        ..Default::default()
                    },
                    Status::Sleeping.as_str(),
                    Some("idle"),
                    &format!("sandy-{i:012x}"),
                )
                .await?;
            self.transition(
                m.id,
                Status::Sleeping.as_str(),
                None,
                Some(DESIRED_SLEEPING),
                None,
            )
            .await?;
            ids.push(m.id);
        }
        Ok(ids)
    }
}
