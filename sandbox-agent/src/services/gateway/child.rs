//! Starting and stopping one run of the gateway: its output file, its process group, and the
//! processes it started outside that group ("strays").

use std::{
    collections::{BTreeSet, HashMap},
    fs,
    io::{self, Read as _, Seek as _, SeekFrom, Write as _},
    os::unix::{fs::OpenOptionsExt as _, process::ExitStatusExt as _},
    path::Path,
    process::{ExitStatus, Stdio},
    time::{Duration, Instant},
};

use tokio::{process::Command, time::sleep};

use super::{GatewayCommand, procfs};
use crate::services::process::{GroupGuard, kill_group, signal_group};

/// Trim the output file, open it for appending, and start the command in a new process group
/// (pgid = its pid) with exactly `cmd.env` as environment.
pub(super) async fn spawn(
    cmd: &GatewayCommand,
    keep: u64,
    attempt: u32,
) -> io::Result<tokio::process::Child> {
    let path = cmd.output.clone();
    let out = tokio::task::spawn_blocking(move || open_output(&path, keep, attempt))
        .await
        .map_err(io::Error::other)??;
    let err = out.try_clone()?;
    let mut command = Command::new(&cmd.program);
    command
        .args(&cmd.args)
        .env_clear()
        .envs(cmd.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .kill_on_drop(true);
    if let Some(cwd) = &cmd.cwd {
        command.current_dir(cwd);
    }
    command.spawn()
}

/// Keep the last `keep` bytes of `path` (from a line start), append a start marker, and return
/// the file opened for appending.
pub(super) fn open_output(path: &Path, keep: u64, attempt: u32) -> io::Result<fs::File> {
    if let Ok(meta) = fs::metadata(path)
        && meta.len() > keep
    {
        let mut file = fs::File::open(path)?;
        file.seek(SeekFrom::Start(meta.len() - keep))?;
        let mut tail = Vec::new();
        file.read_to_end(&mut tail)?;
        let start = tail.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1);
        fs::write(path, &tail[start..])?;
    }
    let mut file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    writeln!(
        file,
        "--- sandbox-agent: starting the gateway (run {attempt}) at {} ---",
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    )?;
    Ok(file)
}

/// Descendants of the gateway that live in process groups of their own (the real gateway's
/// spawn broker does), remembered by pid and start time so they can be killed after the
/// leader is gone and they have been reparented. Kills the live ones when dropped.
pub(super) struct Strays {
    leader: i32,
    /// The agent's own group: never signalled.
    own_pgrp: i32,
    known: HashMap<i32, procfs::ProcInfo>,
}

impl Strays {
    pub(super) fn new(leader: i32) -> Self {
        let me = i32::try_from(std::process::id()).unwrap_or(0);
        Strays {
            leader,
            own_pgrp: procfs::read_proc(me).map_or(0, |p| p.pgrp),
            known: HashMap::new(),
        }
    }

    /// Remember the leader's current descendants outside its group; forget the dead.
    pub(super) fn refresh(&mut self) {
        for p in procfs::family(&procfs::all(), self.leader, self.leader) {
            if p.pgrp != self.leader {
                self.known.insert(p.pid, p);
            }
        }
        self.known.retain(|_, p| still_alive(p).is_some());
    }

    /// The remembered strays still alive (same pid and start time), as they are now.
    fn alive(&self) -> Vec<procfs::ProcInfo> {
        self.known.values().filter_map(still_alive).collect()
    }

    pub(super) fn any_alive(&self) -> bool {
        !self.alive().is_empty()
    }

    /// SIGKILL the process groups of the live strays.
    pub(super) fn kill(&mut self) {
        let groups: BTreeSet<i32> = self
            .alive()
            .iter()
            .map(|p| p.pgrp)
            .filter(|&g| g != self.own_pgrp)
            .collect();
        for pgrp in groups {
            tracing::info!(pgrp, "killing a process group the gateway left behind");
            kill_group(pgrp);
        }
        self.known.clear();
    }
}

impl Drop for Strays {
    fn drop(&mut self) {
        self.kill();
    }
}

fn still_alive(p: &procfs::ProcInfo) -> Option<procfs::ProcInfo> {
    procfs::read_proc(p.pid).filter(|now| now.starttime == p.starttime && !now.zombie)
}

/// After the leader was reaped: SIGKILL what is left of its group and the strays. Linux does
/// not hand out a pid that is still some live group's id, so the group kill can only hit the
/// group's own leftovers.
pub(super) fn kill_leftovers(pgid: i32, strays: &mut Strays) {
    if !procfs::group_members(pgid).is_empty() {
        kill_group(pgid);
    }
    strays.kill();
}

/// Stop a run: SIGTERM the group, wait up to `grace` for the leader and then for the rest of
/// the group and the strays, SIGKILL whatever is left.
pub(super) async fn stop(
    child: &mut tokio::process::Child,
    guard: &mut GroupGuard,
    strays: &mut Strays,
    pgid: i32,
    grace: Duration,
) {
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + grace;
    strays.refresh();
    signal_group(pgid, libc::SIGTERM);
    match tokio::time::timeout_at(deadline, child.wait()).await {
        Ok(_) => {
            // The leader is reaped; its pgid stays reserved while members live.
            guard.disarm();
            while !procfs::group_members(pgid).is_empty() || strays.any_alive() {
                if tokio::time::Instant::now() >= deadline {
                    tracing::warn!(pgid, "gateway processes outlived the grace period");
                    break;
                }
                sleep(Duration::from_millis(50)).await;
            }
            kill_leftovers(pgid, strays);
        }
        Err(_) => {
            tracing::warn!(pgid, "gateway ignored SIGTERM: killing its process group");
            guard.kill();
            let _ = child.wait().await;
            strays.kill();
        }
    }
    tracing::info!(
        pgid,
        elapsed_ms = super::supervisor::millis(started.elapsed()),
        "gateway stopped"
    );
}

/// "exited with status N" / "killed by signal N".
pub(super) fn describe_exit(status: io::Result<ExitStatus>) -> String {
    match status {
        Ok(s) => match (s.code(), s.signal()) {
            (Some(code), _) => format!("exited with status {code}"),
            (None, Some(sig)) => format!("killed by signal {sig}"),
            (None, None) => format!("ended: {s}"),
        },
        Err(e) => format!("could not wait for the gateway: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_descriptions() {
        assert_eq!(
            describe_exit(Ok(ExitStatus::from_raw(3 << 8))),
            "exited with status 3"
        );
        assert_eq!(
            describe_exit(Ok(ExitStatus::from_raw(libc::SIGKILL))),
            "killed by signal 9"
        );
    }

    #[test]
    fn output_is_trimmed_to_whole_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.out");
        let line = "0123456789abcdef\n"; // 17 bytes
        fs::write(&path, line.repeat(100)).unwrap();
        drop(open_output(&path, 100, 2).unwrap());
        let text = fs::read_to_string(&path).unwrap();
        let (kept, marker) = text.split_at(text.find("---").unwrap());
        assert!(kept.len() <= 100 && kept.len() > 80, "{}", kept.len());
        assert!(kept.lines().all(|l| l == line.trim_end()));
        assert!(marker.contains("(run 2)"));
    }
}
