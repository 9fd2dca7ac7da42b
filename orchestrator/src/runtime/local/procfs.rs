//! What `/proc` says about a process. Used to recognise our sandboxes across orchestrator
//! restarts: a pid alone can be reused, a pid plus its start time cannot.

use std::fs;

/// The start time of `pid` in clock ticks since boot, or `None` if it is not running
/// (zombies count as not running).
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces: parse after it.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // rest starts at field 3 (state); start time is field 22.
    if fields.first() == Some(&"Z") || fields.first() == Some(&"X") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// The parent pid of `pid`.
pub fn parent(pid: i32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(1)?.parse().ok()
}

/// Direct children of `pid`.
pub fn children(pid: i32) -> Vec<i32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&p| parent(p) == Some(pid))
        .collect()
}

/// Whether the process `pid` that started at `started` is still alive.
pub fn is_same_process(pid: i32, started: u64) -> bool {
    start_time(pid) == Some(started)
}

/// Sandbox processes whose `/workspace` is bound from a directory whose path contains
/// `needle` (e.g. `/<data dir name>/`).
pub fn sandboxed_under(needle: &str) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).is_ok_and(|m| {
                m.lines().any(|line| {
                    // `id parent major:minor root mount-point ...`
                    let mut fields = line.split(' ').skip(3);
                    let (root, point) = (fields.next(), fields.next());
                    point == Some("/workspace") && root.is_some_and(|r| r.contains(needle))
                })
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_itself_and_its_parent() {
        let me = std::process::id() as i32;
        let t = start_time(me).expect("own start time");
        assert!(is_same_process(me, t));
        assert!(!is_same_process(me, t + 1));
        let parent = parent(me).expect("parent");
        assert!(children(parent).contains(&me));
    }
}
