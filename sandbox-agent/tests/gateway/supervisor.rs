//! The supervisor: booting → ready, crash → restart, boot timeout, shutdown.

use std::time::{Duration, Instant};

use sandbox_agent::protocol::GatewayState;

use crate::common::{Fake, alive, dies_within, fast_options, kill, wait_status};

const BOOT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn boots_crashes_restarts_and_stops() {
    let fake = Fake::new();
    let options = fast_options();
    let mut options = options;
    // Long enough to observe `crashed` before the restart.
    options.backoff_initial = Duration::from_millis(1500);
    let gateway = fake.spawn(0.5, options);
    assert_eq!(gateway.state(), GatewayState::Booting);

    let ready = wait_status(&gateway, BOOT, |s| s.state == GatewayState::Ready).await;
    assert_eq!(ready.restarts, 0);
    assert!(ready.boot_ms.unwrap() >= 400, "{ready:?}");
    assert_eq!(ready.reason, None);
    let status = gateway.status();
    assert!(status.rss_bytes.unwrap() > 1024 * 1024, "{status:?}");
    let first = gateway.pgid().unwrap();
    assert!(alive(first));

    kill(first);
    let crashed = wait_status(&gateway, BOOT, |s| s.state == GatewayState::Crashed).await;
    assert_eq!(crashed.reason.as_deref(), Some("killed by signal 9"));
    assert_eq!(crashed.restarts, 0);
    assert_eq!(gateway.status().rss_bytes, None);
    assert_eq!(gateway.pgid(), None);

    let ready = wait_status(&gateway, BOOT, |s| s.state == GatewayState::Ready).await;
    assert_eq!(ready.restarts, 1);
    let second = gateway.pgid().unwrap();
    assert_ne!(first, second);

    // Both runs wrote to the output file, each after a start marker.
    let out = std::fs::read_to_string(fake.dir.path().join("gateway.out")).unwrap();
    assert!(out.contains("(run 1)") && out.contains("(run 2)"), "{out}");
    assert!(
        out.contains(&format!("fake gateway on {}", fake.port)),
        "{out}"
    );

    let started = Instant::now();
    gateway.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "SIGTERM should suffice"
    );
    assert_eq!(gateway.state(), GatewayState::Stopping);
    assert!(!alive(second));
    assert_eq!(gateway.pgid(), None);
    // Idempotent.
    gateway.shutdown().await;
}

#[tokio::test]
async fn exit_status_is_reported() {
    let fake = Fake::new();
    let mut cmd = fake.command(0.0);
    cmd.args = vec!["-c".into(), "import sys; sys.exit(3)".into()];
    let mut options = fast_options();
    options.backoff_initial = Duration::from_secs(5);
    let gateway = sandbox_agent::Gateway::spawn(cmd, options, fake.upstream()).unwrap();
    let crashed = wait_status(&gateway, BOOT, |s| s.state == GatewayState::Crashed).await;
    assert_eq!(crashed.reason.as_deref(), Some("exited with status 3"));
    // Shutting down during the back-off does not wait for it.
    let started = Instant::now();
    gateway.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(gateway.status().restarts, 0);
}

#[tokio::test]
async fn not_ready_in_time_is_a_crash() {
    let fake = Fake::new();
    let mut options = fast_options();
    options.boot_timeout = Duration::from_secs(1);
    options.backoff_initial = Duration::from_secs(5);
    let gateway = fake.spawn(1000.0, options);
    let pgid = {
        let booting = wait_status(&gateway, BOOT, |s| s.state == GatewayState::Booting).await;
        assert_eq!(booting.boot_ms, None);
        // The pgid is published right after the spawn.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(p) = gateway.pgid() {
                break p;
            }
            assert!(Instant::now() < deadline);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let crashed = wait_status(&gateway, BOOT, |s| s.state == GatewayState::Crashed).await;
    assert_eq!(crashed.reason.as_deref(), Some("not ready within 1 s"));
    assert!(!alive(pgid), "the group must be killed");
    gateway.shutdown().await;
}

#[tokio::test]
async fn sigterm_is_followed_by_sigkill() {
    let fake = Fake::new();
    let mut cmd = fake.command(0.0);
    // Ignores SIGTERM, answers /readyz.
    let script = format!(
        "import signal, runpy, sys; signal.signal(signal.SIGTERM, signal.SIG_IGN); \
         sys.argv = ['fake', '--port', '{}']; runpy.run_path({:?}, run_name='__main__')",
        fake.port,
        crate::common::script()
    );
    cmd.args = vec!["-c".into(), script.into()];
    let mut options = fast_options();
    options.stop_grace = Duration::from_millis(700);
    let gateway = sandbox_agent::Gateway::spawn(cmd, options, fake.upstream()).unwrap();
    wait_status(&gateway, BOOT, |s| s.state == GatewayState::Ready).await;
    let pgid = gateway.pgid().unwrap();
    let started = Instant::now();
    gateway.shutdown().await;
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(700), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(!alive(pgid));
}

/// A process the gateway starts in a group of its own (like the real spawn broker) dies with
/// it, after a crash and at shutdown.
#[tokio::test]
async fn strays_in_other_groups_are_killed() {
    let fake = Fake::new();
    let stray_file = fake.dir.path().join("stray.pid");
    let mut cmd = fake.command(0.0);
    cmd.env
        .push(("FAKE_STRAY".into(), stray_file.clone().into_os_string()));
    let mut options = fast_options();
    options.backoff_initial = Duration::from_millis(100);
    let gateway = sandbox_agent::Gateway::spawn(cmd, options, fake.upstream()).unwrap();
    let stray = || -> i32 {
        std::fs::read_to_string(&stray_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };

    wait_status(&gateway, BOOT, |s| s.state == GatewayState::Ready).await;
    let first = stray();
    assert!(alive(first));
    // Let the tree scan (every second) see it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    kill(gateway.pgid().unwrap());
    wait_status(&gateway, BOOT, |s| {
        s.restarts == 1 && s.state == GatewayState::Ready
    })
    .await;
    assert!(
        dies_within(first, Duration::from_secs(3)).await,
        "the stray must die with its gateway"
    );

    let second = stray();
    assert_ne!(first, second);
    assert!(alive(second));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    gateway.shutdown().await;
    assert!(
        dies_within(second, Duration::from_secs(3)).await,
        "the stray must die at shutdown"
    );
}
