//! Handing a warm-pool sandbox's storage over to an instance.
//!
//! A pooled sandbox runs on scratch storage, `pool/<sandbox id>/{workspace,state}`, bound at
//! `/workspace` and `/state`. A running gateway's workspace *path* cannot change, but what is in
//! the directory can (`OPENCLAW.md`), and a bind mount follows its source directory's inode,
//! not its name. So a claim:
//!
//! 1. empties the scratch workspace (nothing in it belongs to anyone) and writes a journal,
//!    `pool/<sandbox id>/claiming`, naming the instance;
//! 2. moves every entry of the instance's workspace into the scratch workspace, and every
//!    entry of the instance's home (`state/home`) into the scratch home — renames on one
//!    filesystem, so the cost is per top-level entry, not per byte;
//! 3. renames the scratch `workspace` and `state` to the instance's paths (the sandbox keeps
//!    them, now under their new names) and sets aside what is left of the instance's old state
//!    (the previous gateway's session store, whose conversations the orchestrator replays from
//!    its own history), deleted after the claim by [`sweep_replaced`];
//! 4. removes the journal.
//!
//! Every step can be repeated, so a claim cut short by a crash is finished from the journal
//! ([`recover`] at start-up, [`discard`] when the sandbox goes): no instance file is ever left
//! behind in scratch storage, or deleted with it.
//!
//! **Invariant:** a pooled sandbox serves at most one instance in its life. After a claim its
//! storage *is* that instance's storage; it is never returned to the pool.

use std::io::{self, ErrorKind};
use std::path::Path;

use uuid::Uuid;

const JOURNAL: &str = "claiming";

/// Make the pooled sandbox's scratch storage (`pool_dir`) the storage of the instance at
/// `instance_dir`, keeping everything the instance had in its workspace and home.
pub fn hand_over(pool_dir: &Path, instance_dir: &Path, instance_id: Uuid) -> io::Result<()> {
    let journal = pool_dir.join(JOURNAL);
    if !journal.exists() {
        clear_dir(&pool_dir.join("workspace"))?;
        let tmp = pool_dir.join("claiming.tmp");
        std::fs::write(&tmp, instance_id.to_string())?;
        std::fs::rename(&tmp, &journal)?;
    }
    finish(pool_dir, instance_dir)
}

/// Steps 2–4 of a hand-over; each tolerates having been done already.
fn finish(pool_dir: &Path, instance_dir: &Path) -> io::Result<()> {
    let (scratch_ws, scratch_state) = (pool_dir.join("workspace"), pool_dir.join("state"));
    let (ws, state) = (instance_dir.join("workspace"), instance_dir.join("state"));
    if scratch_ws.exists() {
        merge_into(&ws, &scratch_ws)?;
        remove_if_present(&ws)?;
        std::fs::rename(&scratch_ws, &ws)?;
    }
    if scratch_state.exists() {
        merge_into(&state.join("home"), &scratch_state.join("home"))?;
        let old = instance_dir.join(".state-replaced");
        if state.exists() {
            remove_if_present(&old)?;
            std::fs::rename(&state, &old)?;
        }
        std::fs::rename(&scratch_state, &state)?;
        set_aside(&old, pool_dir)?;
    }
    remove_if_present(&pool_dir.join(JOURNAL))?;
    remove_if_present(pool_dir)
}

/// Move every entry of `from` into `into`. Where both hold an entry of the same name,
/// directories are merged and otherwise `into`'s entry stays (in a home, the live gateway's
/// own files). `from` is left empty; a missing `from` is nothing to move.
fn merge_into(from: &Path, into: &Path) -> io::Result<()> {
    let entries = match std::fs::read_dir(from) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let target = into.join(entry.file_name());
        match std::fs::symlink_metadata(&target) {
            Err(e) if e.kind() == ErrorKind::NotFound => std::fs::rename(entry.path(), &target)?,
            Err(e) => return Err(e),
            Ok(t) if t.is_dir() && entry.file_type()?.is_dir() => {
                merge_into(&entry.path(), &target)?;
                std::fs::remove_dir(entry.path())?;
            }
            Ok(_) => remove_if_present(&entry.path())?,
        }
    }
    Ok(())
}

/// Remove a pooled sandbox's scratch storage once the sandbox is gone — unless a hand-over
/// was under way, which is then finished instead (into `instances_root/<id>`, if that instance
/// still exists).
pub fn discard(pool_dir: &Path, instances_root: &Path) -> io::Result<()> {
    match std::fs::read_to_string(pool_dir.join(JOURNAL)) {
        Ok(id) => {
            let instance_dir = instances_root.join(id.trim());
            if id.trim().parse::<Uuid>().is_ok() && instance_dir.exists() {
                tracing::warn!(pool = %pool_dir.display(), instance_id = id.trim(), "finishing a hand-over that was cut short");
                return finish(pool_dir, &instance_dir);
            }
            remove_if_present(pool_dir)
        }
        Err(e) if e.kind() == ErrorKind::NotFound => remove_if_present(pool_dir),
        Err(e) => Err(e),
    }
}

/// At start-up: finish hand-overs a crash cut short, and drop scratch storage whose sandbox
/// never started. (Scratch storage of sandboxes still running is kept; they rejoin the pool.)
pub fn recover(data_dir: &Path) -> io::Result<()> {
    let Ok(entries) = std::fs::read_dir(data_dir.join("pool")) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let started = data_dir.join("sandboxes").join(entry.file_name());
        if entry.path().join(JOURNAL).exists() || !started.exists() {
            discard(&entry.path(), &data_dir.join("instances"))?;
        }
    }
    Ok(())
}

/// Prefix of what a hand-over replaced, waiting in the pool directory to be deleted.
const REPLACED: &str = ".replaced-";

/// Move the old state out of the way instead of deleting it during the claim: a gateway's
/// state is thousands of files (~50 MB), and deleting them would hold up the wake by a few
/// hundred milliseconds. [`sweep_replaced`] deletes it afterwards (and [`recover`] at
/// start-up, as scratch storage without a sandbox).
fn set_aside(old: &Path, pool_dir: &Path) -> io::Result<()> {
    if std::fs::symlink_metadata(old).is_err() {
        return Ok(());
    }
    match pool_dir.parent() {
        Some(root) => {
            let aside = root.join(format!("{REPLACED}{}", Uuid::new_v4()));
            std::fs::rename(old, aside)
        }
        None => remove_if_present(old),
    }
}

/// Delete what hand-overs set aside in `pool_root` (slow; run it off the request path).
pub fn sweep_replaced(pool_root: &Path) {
    let Ok(entries) = std::fs::read_dir(pool_root) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(REPLACED)
            && let Err(e) = remove_if_present(&entry.path())
        {
            tracing::warn!(path = %entry.path().display(), error = %e, "could not delete a replaced state directory");
        }
    }
}

fn clear_dir(dir: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        remove_if_present(&entry?.path())?;
    }
    Ok(())
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    let res = match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) => Err(e),
    };
    match res {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn storage(base: &Path) {
        for sub in ["workspace", "state/home"] {
            fs::create_dir_all(base.join(sub)).unwrap();
        }
    }

    fn setup() -> (
        tempfile::TempDir,
        std::path::PathBuf,
        std::path::PathBuf,
        Uuid,
    ) {
        let root = tempfile::tempdir().unwrap();
        let id = Uuid::new_v4();
        let pool = root.path().join("pool/sandy-1");
        let inst = root.path().join("instances").join(id.to_string());
        storage(&pool);
        storage(&inst);
        // The pooled gateway's own files, and the instance's earlier state.
        fs::create_dir_all(pool.join("state/openclaw")).unwrap();
        fs::write(pool.join("state/openclaw/ocaas-store-id"), "new").unwrap();
        fs::create_dir_all(pool.join("state/home/.cache/openclaw")).unwrap();
        fs::write(pool.join("state/home/.cache/openclaw/live"), "gateway").unwrap();
        fs::write(pool.join("workspace/scratch.txt"), "pool scratch").unwrap();
        fs::create_dir_all(inst.join("workspace/src/deep")).unwrap();
        fs::write(inst.join("workspace/src/deep/main.rs"), "fn main() {}").unwrap();
        fs::write(inst.join("workspace/AGENTS.md"), "be nice").unwrap();
        fs::create_dir_all(inst.join("state/openclaw")).unwrap();
        fs::write(inst.join("state/openclaw/ocaas-store-id"), "old").unwrap();
        fs::write(inst.join("state/home/.bashrc"), "alias ll='ls -l'").unwrap();
        fs::create_dir_all(inst.join("state/home/.cache/pip")).unwrap();
        fs::write(inst.join("state/home/.cache/pip/wheel"), "w").unwrap();
        fs::create_dir_all(inst.join("state/home/.cache/openclaw")).unwrap();
        fs::write(inst.join("state/home/.cache/openclaw/live"), "stale").unwrap();
        (root, pool, inst, id)
    }

    fn read(p: &Path) -> String {
        fs::read_to_string(p).unwrap()
    }

    #[test]
    fn the_instance_keeps_its_files_and_gets_the_pooled_gateways_state() {
        let (_root, pool, inst, id) = setup();
        // What the sandbox has bound: the scratch directories' inodes.
        let ws_inode =
            std::os::unix::fs::MetadataExt::ino(&fs::metadata(pool.join("workspace")).unwrap());
        hand_over(&pool, &inst, id).unwrap();
        assert!(!pool.exists(), "scratch storage is gone");
        let ws = inst.join("workspace");
        assert_eq!(
            std::os::unix::fs::MetadataExt::ino(&fs::metadata(&ws).unwrap()),
            ws_inode
        );
        assert_eq!(read(&ws.join("src/deep/main.rs")), "fn main() {}");
        assert_eq!(read(&ws.join("AGENTS.md")), "be nice");
        assert!(
            !ws.join("scratch.txt").exists(),
            "nothing of the pool's scratch workspace"
        );
        assert_eq!(read(&inst.join("state/openclaw/ocaas-store-id")), "new");
        assert_eq!(read(&inst.join("state/home/.bashrc")), "alias ll='ls -l'");
        assert_eq!(read(&inst.join("state/home/.cache/pip/wheel")), "w");
        assert_eq!(
            read(&inst.join("state/home/.cache/openclaw/live")),
            "gateway"
        );
        assert!(!inst.join(".state-replaced").exists());
        // The old state waits beside the pool to be deleted off the request path.
        let pool_root = pool.parent().unwrap();
        let aside: Vec<_> = fs::read_dir(pool_root).unwrap().flatten().collect();
        assert_eq!(aside.len(), 1, "the old state is set aside");
        assert_eq!(
            read(&aside[0].path().join("openclaw/ocaas-store-id")),
            "old"
        );
        sweep_replaced(pool_root);
        assert_eq!(fs::read_dir(pool_root).unwrap().count(), 0);
    }

    #[test]
    fn a_hand_over_cut_short_is_finished_not_lost() {
        let (root, pool, inst, id) = setup();
        // Cut short after the journal and part of the move.
        clear_dir(&pool.join("workspace")).unwrap();
        fs::write(pool.join(JOURNAL), id.to_string()).unwrap();
        fs::rename(inst.join("workspace/src"), pool.join("workspace/src")).unwrap();
        // The sandbox never came back: start-up recovery finishes the hand-over.
        recover(root.path()).unwrap();
        assert!(!pool.exists());
        assert_eq!(
            read(&inst.join("workspace/src/deep/main.rs")),
            "fn main() {}"
        );
        assert_eq!(read(&inst.join("workspace/AGENTS.md")), "be nice");
        assert_eq!(read(&inst.join("state/home/.bashrc")), "alias ll='ls -l'");
    }

    #[test]
    fn unclaimed_scratch_storage_is_discarded_whole() {
        let (root, pool, inst, _id) = setup();
        discard(&pool, &root.path().join("instances")).unwrap();
        assert!(!pool.exists());
        assert_eq!(
            read(&inst.join("workspace/AGENTS.md")),
            "be nice",
            "instances untouched"
        );
        // Scratch storage whose sandbox never started is dropped at start-up.
        storage(&pool);
        recover(root.path()).unwrap();
        assert!(!pool.exists());
    }
}
