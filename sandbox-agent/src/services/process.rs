//! Signalling a whole process group.
//!
//! Each command (and the OpenClaw gateway) runs in its own process group (pgid = the leader's
//! pid), so `sleep 300 &`, pipelines and the gateway's worker processes die with it on timeout,
//! client disconnect or shutdown. tokio's `kill_on_drop` only kills the group leader, hence
//! [`GroupGuard`].
//!
//! [`signal_group`] holds the crate's only `unsafe` block for signals.

/// Send `signal` to every process in group `pgid`. Returns `false` if the group no longer
/// exists (`ESRCH`) or the call failed (logged).
///
/// Refuses pgids `<= 1`: `killpg(0)` would signal the agent's own group and `1` is init.
#[allow(unsafe_code)]
pub(crate) fn signal_group(pgid: i32, signal: libc::c_int) -> bool {
    if pgid <= 1 {
        return false;
    }
    // SAFETY: killpg takes two plain integers and touches no memory of ours; the worst a wrong
    // pgid could do is signal the wrong processes, which the check above and the callers'
    // pid-reuse discipline (see GroupGuard and the gateway supervisor) rule out.
    let rc = unsafe { libc::killpg(pgid, signal) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        // ESRCH: the group is already gone, which is what we wanted.
        if err.raw_os_error() != Some(libc::ESRCH) {
            tracing::warn!(pgid, signal, error = %err, "killpg failed");
        }
        return false;
    }
    true
}

/// Send SIGKILL to every process in group `pgid`.
pub(crate) fn kill_group(pgid: i32) {
    signal_group(pgid, libc::SIGKILL);
}

/// Kills a process group when dropped, unless disarmed.
///
/// Must be disarmed once the group leader has been reaped: from then on its pid (= the pgid)
/// may be reused once the whole group is gone, and a late killpg could hit a stranger. While
/// the leader is unreaped its pid stays reserved, so killing the group is safe.
#[derive(Debug)]
pub(crate) struct GroupGuard {
    pgid: Option<i32>,
}

impl GroupGuard {
    pub(crate) fn new(pgid: i32) -> Self {
        GroupGuard { pgid: Some(pgid) }
    }

    /// Kill the group now (and not again on drop).
    pub(crate) fn kill(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            kill_group(pgid);
        }
    }

    /// Leave the group alone: its leader exited by itself.
    pub(crate) fn disarm(&mut self) {
        self.pgid = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            tracing::info!(pgid, "dropped while running: killing its process group");
            kill_group(pgid);
        }
    }
}
