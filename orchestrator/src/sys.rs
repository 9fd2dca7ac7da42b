//! The few system calls the orchestrator makes directly. All `unsafe` lives here, each call with
//! its justification, so the rest of the crate stays `unsafe`-free.
#![allow(unsafe_code)]

use std::io;

/// Send `signal` to process `pid`. `Ok(false)` when no such process exists.
pub fn kill(pid: i32, signal: i32) -> io::Result<bool> {
    if pid <= 0 {
        // kill(0) and kill(-n) address process groups: never what a caller of this means.
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "pid must be positive",
        ));
    }
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    let rc = unsafe { libc::kill(pid, signal) };
    if rc == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::ESRCH) => Ok(false),
        _ => Err(err),
    }
}

/// Send `signal` to every process in process group `pgid`.
pub fn killpg(pgid: i32, signal: i32) -> io::Result<bool> {
    if pgid <= 1 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "pgid must be > 1",
        ));
    }
    // SAFETY: killpg(2) takes plain integers and touches no memory of ours.
    let rc = unsafe { libc::killpg(pgid, signal) };
    if rc == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::ESRCH) => Ok(false),
        _ => Err(err),
    }
}

/// The real uid of this process.
pub fn getuid() -> u32 {
    // SAFETY: getuid(2) cannot fail and touches no memory of ours.
    unsafe { libc::getuid() }
}

/// Arrange for the child of `cmd` to write its own pid into each of `files` (already opened
/// for writing, e.g. cgroup `cgroup.procs`) before it execs, so the child and everything it
/// forks are inside the cgroups from its first instruction — no window in which a fork escapes.
pub fn join_cgroups_before_exec(cmd: &mut tokio::process::Command, files: Vec<std::fs::File>) {
    let closure = move || -> io::Result<()> {
        use std::io::Write;
        // Only async-signal-safe work between fork and exec: format into a stack buffer and
        // write(2) on descriptors opened before the fork.
        let mut buf = [0u8; 12];
        let mut n = std::process::id();
        let mut i = buf.len();
        loop {
            i -= 1;
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for mut f in &files {
            f.write_all(&buf[i..])?;
        }
        Ok(())
    };
    // SAFETY: the closure only formats an integer on the stack and calls write(2) on file
    // descriptors that stay open for the closure's lifetime; it allocates nothing and takes no
    // locks, so it is safe to run in the forked child.
    unsafe {
        cmd.pre_exec(closure);
    }
}
