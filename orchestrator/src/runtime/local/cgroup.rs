//! Per-sandbox resource limits with cgroups (v2, or v1's memory/pids/cpu controllers).
//!
//! Each sandbox gets `ocaas-<sandbox id>` below the orchestrator's own cgroup in every
//! controller we can write to. Where no controller is writable (an unprivileged developer
//! machine), the sandbox runs without limits and the start-up log says so.

use std::fs;
use std::path::{Path, PathBuf};

const ROOT: &str = "/sys/fs/cgroup";

/// Limits to apply to one sandbox.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub memory_bytes: u64,
    pub pids: u64,
    /// Milli-cores; 0 = unlimited.
    pub cpu_millis: u64,
}

/// Where this host keeps cgroups.
#[derive(Debug, Clone)]
pub enum Layout {
    /// cgroup v2: one directory (our own cgroup) with the controllers we may use.
    V2 { base: PathBuf },
    /// cgroup v1: one base directory per writable controller.
    V1 {
        controllers: Vec<(Controller, PathBuf)>,
    },
    /// Nothing writable.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Controller {
    Memory,
    Pids,
    Cpu,
}

impl Controller {
    fn v1_name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Pids => "pids",
            Controller::Cpu => "cpu",
        }
    }
}

impl Layout {
    /// Find the cgroups this process may create children in.
    pub fn detect() -> Layout {
        let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        if Path::new(ROOT).join("cgroup.controllers").exists() {
            let rel = own
                .lines()
                .find_map(|l| l.strip_prefix("0::"))
                .unwrap_or("/");
            let base = Path::new(ROOT).join(rel.trim_start_matches('/'));
            if writable_dir(&base) {
                return Layout::V2 { base };
            }
            return Layout::None;
        }
        let mut controllers = Vec::new();
        for c in [Controller::Memory, Controller::Pids, Controller::Cpu] {
            let rel = own.lines().find_map(|l| {
                let mut parts = l.splitn(3, ':');
                let (_, names, path) = (parts.next()?, parts.next()?, parts.next()?);
                names.split(',').any(|n| n == c.v1_name()).then_some(path)
            });
            let Some(rel) = rel else { continue };
            let base = Path::new(ROOT)
                .join(c.v1_name())
                .join(rel.trim_start_matches('/'));
            if writable_dir(&base) {
                controllers.push((c, base));
            }
        }
        if controllers.is_empty() {
            Layout::None
        } else {
            Layout::V1 { controllers }
        }
    }

    /// A short description for the start-up log and `GET /api`.
    pub fn describe(&self) -> String {
        match self {
            Layout::V2 { .. } => "cgroup v2".into(),
            Layout::V1 { controllers } => format!(
                "cgroup v1 ({})",
                controllers
                    .iter()
                    .map(|(c, _)| c.v1_name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Layout::None => "none (no writable cgroup: sandboxes run without limits)".into(),
        }
    }

    /// Create the sandbox's cgroups with `limits`; returns the directories created, whose
    /// `cgroup.procs` the sandbox's first process joins.
    pub fn create(&self, name: &str, limits: Limits) -> std::io::Result<Vec<PathBuf>> {
        let mut dirs = Vec::new();
        match self {
            Layout::None => {}
            Layout::V2 { base } => {
                let dir = base.join(name);
                fs::create_dir_all(&dir)?;
                // Controllers must be enabled in the parent's subtree_control; best effort,
                // as a parent that also holds processes cannot enable them (no-internal-process
                // rule) and then the limit files simply do not exist.
                let _ = fs::write(base.join("cgroup.subtree_control"), "+memory +pids +cpu");
                let _ = fs::write(dir.join("memory.max"), limits.memory_bytes.to_string());
                let _ = fs::write(dir.join("memory.swap.max"), "0");
                let _ = fs::write(dir.join("pids.max"), limits.pids.to_string());
                if limits.cpu_millis > 0 {
                    let quota = limits.cpu_millis * 100;
                    let _ = fs::write(dir.join("cpu.max"), format!("{quota} 100000"));
                }
                dirs.push(dir);
            }
            Layout::V1 { controllers } => {
                for (c, base) in controllers {
                    let dir = base.join(name);
                    fs::create_dir_all(&dir)?;
                    match c {
                        Controller::Memory => {
                            fs::write(
                                dir.join("memory.limit_in_bytes"),
                                limits.memory_bytes.to_string(),
                            )?;
                        }
                        Controller::Pids => {
                            fs::write(dir.join("pids.max"), limits.pids.to_string())?;
                        }
                        Controller::Cpu if limits.cpu_millis > 0 => {
                            fs::write(dir.join("cpu.cfs_period_us"), "100000")?;
                            fs::write(
                                dir.join("cpu.cfs_quota_us"),
                                (limits.cpu_millis * 100).to_string(),
                            )?;
                        }
                        Controller::Cpu => {}
                    }
                    dirs.push(dir);
                }
            }
        }
        Ok(dirs)
    }

    /// The directories of an existing sandbox's cgroups.
    pub fn dirs(&self, name: &str) -> Vec<PathBuf> {
        match self {
            Layout::None => Vec::new(),
            Layout::V2 { base } => vec![base.join(name)],
            Layout::V1 { controllers } => controllers.iter().map(|(_, b)| b.join(name)).collect(),
        }
    }
}

/// Pids in a cgroup directory.
pub fn pids(dir: &Path) -> Vec<i32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Remove a cgroup directory once its processes are gone. Killed processes leave the cgroup a
/// moment after the signal (`EBUSY` until then), so retry for up to 2 s.
pub async fn remove(dir: &Path) {
    for attempt in 0..40 {
        if !dir.exists() {
            return;
        }
        match fs::remove_dir(dir) {
            Ok(()) => return,
            Err(e) if attempt == 39 => {
                tracing::warn!(cgroup = %dir.display(), error = %e, "could not remove cgroup");
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
}

fn writable_dir(p: &Path) -> bool {
    // Creating and removing a probe directory is the only reliable test (permissions on
    // cgroupfs do not tell whether the kernel will allow a child).
    let probe = p.join(format!("ocaas-probe-{}", std::process::id()));
    if fs::create_dir(&probe).is_ok() {
        let _ = fs::remove_dir(&probe);
        true
    } else {
        false
    }
}
