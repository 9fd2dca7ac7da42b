//! Reading the gateway's processes from `/proc`.
//!
//! "The gateway's processes" are its process group *and* every descendant of its leader: the
//! real gateway starts a spawn-broker worker in a process group of its own (measured with
//! openclaw 2026.9.6), and tools it runs may do the same, so the group alone misses some.

use std::{collections::HashSet, fs};

/// One process, from `/proc/<pid>/stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcInfo {
    pub(crate) pid: i32,
    pub(crate) ppid: i32,
    pub(crate) pgrp: i32,
    /// The session id (the pid of the session leader).
    pub(crate) session: i32,
    /// Start time in clock ticks since boot: with the pid, identifies a process across pid
    /// reuse.
    pub(crate) starttime: u64,
    pub(crate) zombie: bool,
}

/// One process's info, `None` if it does not exist (any more).
pub(crate) fn read_proc(pid: i32) -> Option<ProcInfo> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(pid, &stat)
}

/// Every process visible in `/proc`.
pub(crate) fn all() -> Vec<ProcInfo> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(read_proc)
        .collect()
}

/// The live (not zombie) processes of group `pgid` and the live descendants of process
/// `leader`, from the snapshot `procs`.
pub(crate) fn family(procs: &[ProcInfo], leader: i32, pgid: i32) -> Vec<ProcInfo> {
    let mut members: HashSet<i32> = procs
        .iter()
        .filter(|p| p.pgrp == pgid || p.pid == leader)
        .map(|p| p.pid)
        .collect();
    // Add children of members until nothing changes (trees are shallow).
    loop {
        let before = members.len();
        for p in procs {
            if members.contains(&p.ppid) {
                members.insert(p.pid);
            }
        }
        if members.len() == before {
            break;
        }
    }
    procs
        .iter()
        .filter(|p| members.contains(&p.pid) && !p.zombie)
        .copied()
        .collect()
}

/// The live processes of group `pgid` (zombies excluded).
pub(crate) fn group_members(pgid: i32) -> Vec<i32> {
    all()
        .into_iter()
        .filter(|p| p.pgrp == pgid && !p.zombie)
        .map(|p| p.pid)
        .collect()
}

/// Sum of `VmRSS` over the gateway's processes (leader `pgid`, its group and descendants), in
/// bytes; `None` if there are none. Processes that vanish while being read count as 0.
pub(crate) fn family_rss_bytes(pgid: i32) -> Option<u64> {
    let members = family(&all(), pgid, pgid);
    if members.is_empty() {
        return None;
    }
    let total = members
        .iter()
        .filter_map(|p| fs::read_to_string(format!("/proc/{}/status", p.pid)).ok())
        .filter_map(|status| status_rss_kib(&status))
        .sum::<u64>();
    Some(total * 1024)
}

/// Parse a `/proc/<pid>/stat` line. The command name (field 2) is in parentheses and may
/// itself contain spaces and `)`, so the fields are counted from after the last `)`.
fn parse_stat(pid: i32, stat: &str) -> Option<ProcInfo> {
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..]
        .split_ascii_whitespace()
        .collect();
    // fields[0] = state (field 3), [1] = ppid, [2] = pgrp, [3] = session, ..., [19] = starttime (field 22).
    Some(ProcInfo {
        pid,
        ppid: fields.get(1)?.parse().ok()?,
        pgrp: fields.get(2)?.parse().ok()?,
        session: fields.get(3)?.parse().ok()?,
        starttime: fields.get(19)?.parse().ok()?,
        zombie: *fields.first()? == "Z",
    })
}

/// The `VmRSS:` value of a `/proc/<pid>/status` file, in KiB (absent for zombies).
fn status_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line["VmRSS:".len()..]
        .split_ascii_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "4242 (node (x) y) S 1 4240 4240 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 \
                        11 0 987654 1000000 200 18446744073709551615";

    #[test]
    fn parses_stat_and_status() {
        let p = parse_stat(4242, STAT).unwrap();
        assert_eq!(
            p,
            ProcInfo {
                pid: 4242,
                ppid: 1,
                pgrp: 4240,
                session: 4240,
                starttime: 987_654,
                zombie: false
            }
        );
        assert_eq!(parse_stat(1, "garbage"), None);
        assert!(parse_stat(1, &STAT.replace(") S ", ") Z ")).unwrap().zombie);
        assert_eq!(
            status_rss_kib("Name:\tnode\nVmRSS:\t  123456 kB\nThreads: 11\n"),
            Some(123_456)
        );
        assert_eq!(status_rss_kib("Name:\tzombie\n"), None);
    }

    #[test]
    fn family_follows_groups_and_descendants() {
        let p = |pid, ppid, pgrp, zombie| ProcInfo {
            pid,
            ppid,
            pgrp,
            session: pgrp,
            starttime: 0,
            zombie,
        };
        let procs = [
            p(1, 0, 1, false),
            p(10, 1, 10, false),  // leader
            p(11, 10, 10, false), // worker in the group
            p(12, 10, 12, false), // broker in its own group
            p(13, 12, 13, false), // a tool under the broker
            p(14, 1, 10, false),  // reparented group member
            p(15, 10, 10, true),  // zombie
            p(20, 1, 20, false),  // stranger
            p(21, 20, 20, false), // stranger's child
        ];
        let mut pids: Vec<i32> = family(&procs, 10, 10).iter().map(|p| p.pid).collect();
        pids.sort_unstable();
        assert_eq!(pids, [10, 11, 12, 13, 14]);
    }

    #[test]
    fn reads_our_own_process() {
        let me = i32::try_from(std::process::id()).unwrap();
        let info = read_proc(me).unwrap();
        assert!(group_members(info.pgrp).contains(&me));
        assert!(family_rss_bytes(me).unwrap() > 0);
        assert_eq!(read_proc(i32::MAX), None);
    }
}
