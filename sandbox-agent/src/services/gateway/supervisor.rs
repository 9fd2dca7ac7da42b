//! Running the gateway process: start, readiness, crash detection, back-off, shutdown.
//!
//! The supervisor is one task that loops over *runs* of the command. Each run:
//! 1. trims the output file to its last [`SupervisorOptions::output_keep`] bytes and starts the
//!    command in its own process group, stdout and stderr appended to that file;
//! 2. polls the readiness URL every [`SupervisorOptions::poll_interval`] until it answers
//!    `{"ready":true}` (state `booting` → `ready`, `boot_ms` set);
//! 3. ends when the process exits (`crashed`, reason "exited with status N" / "killed by signal
//!    N"), when it is not ready within [`SupervisorOptions::boot_timeout`] (group killed,
//!    `crashed`), or when the agent stops (`stopping`: SIGTERM to the group, SIGKILL after
//!    [`SupervisorOptions::stop_grace`]).
//!
//! After a failure it waits (1 s doubling to 30 s by default; back to 1 s after a run that was
//! ready for 5 min) and starts the next run, counting `restarts`.

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use tokio::time::{MissedTickBehavior, interval, sleep};

use super::{
    Shared,
    child::{self, Strays},
    config::StateLayout,
    probe,
};
use crate::{protocol::GatewayState, services::process::GroupGuard};

/// How often the gateway's process tree is scanned for processes it started outside its
/// group (so they can be killed after a crash).
const TREE_SCAN: Duration = Duration::from_secs(1);

/// The command the supervisor runs: the real OpenClaw gateway ([`GatewayCommand::openclaw`]) or,
/// in tests, any program that serves a readiness URL.
#[derive(Debug, Clone)]
pub struct GatewayCommand {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// The complete environment: the agent's own is not inherited.
    pub env: Vec<(OsString, OsString)>,
    /// Working directory (default: the agent's).
    pub cwd: Option<PathBuf>,
    /// `http://127.0.0.1:PORT/readyz`: polled until it answers `{"ready":true}` (no auth).
    pub ready_url: String,
    /// stdout and stderr are appended here (created 0600).
    pub output: PathBuf,
}

impl GatewayCommand {
    /// `<dir>/node/bin/node <dir>/app/node_modules/openclaw/openclaw.mjs gateway run --port
    /// <port> --bind loopback`, with `HOME`, `OPENCLAW_STATE_DIR`, `OPENCLAW_CONFIG_PATH` in
    /// `layout`, `OPENCLAW_OFFLINE=1`, `PATH` starting with `<dir>/node/bin`, and `TMPDIR` and
    /// `LANG` taken from the agent (else `/tmp` and `C.UTF-8`). Runs in `layout.home`.
    pub fn openclaw(dir: &Path, layout: &StateLayout, port: u16) -> Self {
        let node_bin = dir.join("node/bin");
        let mut path = node_bin.clone().into_os_string();
        path.push(":/usr/local/bin:/usr/bin:/bin");
        let inherit = |name: &str, default: &str| {
            std::env::var_os(name).unwrap_or_else(|| OsString::from(default))
        };
        let env = vec![
            ("PATH".into(), path),
            ("HOME".into(), layout.home.clone().into_os_string()),
            ("TMPDIR".into(), inherit("TMPDIR", "/tmp")),
            ("LANG".into(), inherit("LANG", "C.UTF-8")),
            (
                "OPENCLAW_STATE_DIR".into(),
                layout.openclaw_dir.clone().into_os_string(),
            ),
            (
                "OPENCLAW_CONFIG_PATH".into(),
                layout.config_file.clone().into_os_string(),
            ),
            ("OPENCLAW_OFFLINE".into(), "1".into()),
        ];
        let args = [
            dir.join("app/node_modules/openclaw/openclaw.mjs")
                .into_os_string(),
            "gateway".into(),
            "run".into(),
            "--port".into(),
            port.to_string().into(),
            "--bind".into(),
            "loopback".into(),
        ];
        GatewayCommand {
            program: node_bin.join("node"),
            args: args.into(),
            env,
            cwd: Some(layout.home.clone()),
            ready_url: format!("http://127.0.0.1:{port}/readyz"),
            output: layout.output_file.clone(),
        }
    }
}

/// Timings of the supervisor. [`Default`] is what the agent uses; tests shorten them.
#[derive(Debug, Clone)]
pub struct SupervisorOptions {
    /// Between readiness probes (250 ms).
    pub poll_interval: Duration,
    /// Longest wait for one readiness probe's answer (2 s).
    pub probe_timeout: Duration,
    /// A run not ready after this long is killed and counts as a crash (180 s).
    pub boot_timeout: Duration,
    /// First restart delay (1 s); doubles after each failure…
    pub backoff_initial: Duration,
    /// …up to this (30 s).
    pub backoff_max: Duration,
    /// A run that was ready this long resets the delay to `backoff_initial` (5 min).
    pub healthy_reset: Duration,
    /// After SIGTERM at shutdown, SIGKILL the group after this long (10 s).
    pub stop_grace: Duration,
    /// Bytes of the output file kept at each start (1 MiB).
    pub output_keep: u64,
}

impl Default for SupervisorOptions {
    fn default() -> Self {
        SupervisorOptions {
            poll_interval: Duration::from_millis(250),
            probe_timeout: Duration::from_secs(2),
            boot_timeout: Duration::from_secs(180),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
            healthy_reset: Duration::from_secs(300),
            stop_grace: Duration::from_secs(10),
            output_keep: 1024 * 1024,
        }
    }
}

/// How one run ended.
enum Outcome {
    /// The agent is stopping; the group is gone.
    Stopped,
    /// The run failed; restart after the back-off. `healthy_for`: how long it was ready.
    Failed { healthy_for: Duration },
}

/// The supervisor task: runs until `shared.stop` is cancelled and the group is gone.
pub(super) async fn supervise(cmd: GatewayCommand, opts: SupervisorOptions, shared: Arc<Shared>) {
    let ready_url: hyper::Uri = cmd.ready_url.parse().expect("validated by Gateway::spawn");
    let mut backoff = opts.backoff_initial;
    let mut attempt = 0u32;
    loop {
        if attempt > 0 {
            shared.status.send_modify(|s| s.restarts += 1);
        }
        attempt += 1;
        match run_once(&cmd, &ready_url, &opts, &shared, attempt).await {
            Outcome::Stopped => break,
            Outcome::Failed { healthy_for } => {
                if healthy_for >= opts.healthy_reset {
                    backoff = opts.backoff_initial;
                }
                let delay = backoff;
                backoff = (backoff * 2).min(opts.backoff_max);
                tracing::info!(
                    delay_ms = millis(delay),
                    "restarting the gateway after a delay"
                );
                tokio::select! {
                    () = sleep(delay) => {}
                    () = shared.stop.cancelled() => break,
                }
            }
        }
    }
    shared.set_state(
        GatewayState::Stopping,
        Some("the agent is shutting down".into()),
    );
    shared.done.send_replace(true);
}

async fn run_once(
    cmd: &GatewayCommand,
    ready_url: &hyper::Uri,
    opts: &SupervisorOptions,
    shared: &Shared,
    attempt: u32,
) -> Outcome {
    if shared.stop.is_cancelled() {
        return Outcome::Stopped;
    }
    shared.status.send_modify(|s| {
        s.state = GatewayState::Booting;
        s.boot_ms = None;
        s.rss_bytes = None;
        s.reason = s.reason.take().map(|r| format!("restarted after: {r}"));
    });
    let started = Instant::now();
    let mut child = match child::spawn(cmd, opts.output_keep, attempt).await {
        Ok(child) => child,
        Err(e) => {
            tracing::error!(program = %cmd.program.display(), error = %e, "could not start the gateway");
            shared.set_state(GatewayState::Crashed, Some(format!("could not start: {e}")));
            return Outcome::Failed {
                healthy_for: Duration::ZERO,
            };
        }
    };
    let pgid = child
        .id()
        .and_then(|pid| i32::try_from(pid).ok())
        .unwrap_or(0);
    shared.pgid.store(pgid, Ordering::SeqCst);
    // Kill the group and the strays if this task is dropped mid-run (e.g. the runtime shuts
    // down). Declared after `child`, so dropped before it: the leader is not yet reaped.
    let mut guard = GroupGuard::new(pgid);
    let mut strays = Strays::new(pgid);
    let mut scan = interval(TREE_SCAN);
    scan.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tracing::info!(pgid, attempt, "gateway started");

    let boot_deadline = tokio::time::Instant::from_std(started + opts.boot_timeout);
    let ready = probe::wait_ready(ready_url, opts.poll_interval, opts.probe_timeout);
    tokio::pin!(ready);
    let mut ready_at: Option<Instant> = None;
    let reason = loop {
        tokio::select! {
            () = shared.stop.cancelled() => {
                shared.set_state(GatewayState::Stopping, Some("the agent is shutting down".into()));
                child::stop(&mut child, &mut guard, &mut strays, pgid, opts.stop_grace).await;
                shared.pgid.store(0, Ordering::SeqCst);
                return Outcome::Stopped;
            }
            status = child.wait() => {
                shared.pgid.store(0, Ordering::SeqCst);
                guard.disarm();
                // Kill what is left (node workers, the spawn broker) right away, so a restart
                // finds the port free.
                child::kill_leftovers(pgid, &mut strays);
                break child::describe_exit(status);
            }
            _ = scan.tick() => strays.refresh(),
            () = &mut ready, if ready_at.is_none() => {
                let boot_ms = millis(started.elapsed());
                ready_at = Some(Instant::now());
                tracing::info!(pgid, boot_ms, "gateway ready");
                shared.status.send_modify(|s| {
                    s.state = GatewayState::Ready;
                    s.boot_ms = Some(boot_ms);
                    s.reason = None;
                });
            }
            () = tokio::time::sleep_until(boot_deadline), if ready_at.is_none() => {
                strays.refresh();
                guard.kill();
                let _ = child.wait().await;
                strays.kill();
                shared.pgid.store(0, Ordering::SeqCst);
                break format!("not ready within {} s", opts.boot_timeout.as_secs());
            }
        }
    };
    tracing::warn!(reason, "gateway failed");
    shared.set_state(GatewayState::Crashed, Some(reason));
    Outcome::Failed {
        healthy_for: ready_at.map_or(Duration::ZERO, |t| t.elapsed()),
    }
}

pub(super) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openclaw_command_line() {
        let layout = StateLayout::new(Path::new("/state"));
        let cmd = GatewayCommand::openclaw(Path::new("/opt/openclaw"), &layout, 18789);
        assert_eq!(cmd.program, Path::new("/opt/openclaw/node/bin/node"));
        let args: Vec<_> = cmd.args.iter().map(|a| a.to_str().unwrap()).collect();
        assert_eq!(
            args,
            [
                "/opt/openclaw/app/node_modules/openclaw/openclaw.mjs",
                "gateway",
                "run",
                "--port",
                "18789",
                "--bind",
                "loopback"
            ]
        );
        let env = |k: &str| {
            cmd.env
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.to_str().unwrap().to_owned())
        };
        assert!(env("PATH").unwrap().starts_with("/opt/openclaw/node/bin:"));
        assert_eq!(env("HOME").unwrap(), "/state/home");
        assert_eq!(env("OPENCLAW_STATE_DIR").unwrap(), "/state/openclaw");
        assert_eq!(
            env("OPENCLAW_CONFIG_PATH").unwrap(),
            "/state/openclaw/openclaw.json"
        );
        assert_eq!(env("OPENCLAW_OFFLINE").unwrap(), "1");
        assert!(env("TMPDIR").is_some() && env("LANG").is_some());
        assert_eq!(cmd.ready_url, "http://127.0.0.1:18789/readyz");
        assert_eq!(cmd.output, Path::new("/state/openclaw/gateway.out"));
    }
}
