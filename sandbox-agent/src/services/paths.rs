//! Confinement of client paths to the workspace.
//!
//! Clients name files by *virtual* paths: `/workspace`, `/workspace/...`, or a path relative to
//! `/workspace`. [`Workspace::resolve`] turns one into a host path below the canonical workspace
//! root, refusing anything that could leave it: other absolute paths, `..`, NUL bytes, and
//! symlinks (in any component) whose target resolves outside the root.
//!
//! Every symlink met on the way is resolved with `canonicalize` and checked, so the host path
//! handed back contains no symlink except, in [`Mode::NoFollow`], the final component itself.
//! Callers that open files add `O_NOFOLLOW`, so a symlink swapped in after the check is refused
//! by the kernel instead of followed.

use std::{
    ffi::OsString,
    fs, io,
    path::{Component, Path, PathBuf},
};

use crate::{http::ApiError, protocol::WORKSPACE};

/// What to do with a final component that is a symlink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Reading (list, read, download, cwd): follow a symlink whose target is inside the
    /// workspace; one leading out is refused; a dangling one is `404`.
    Follow,
    /// Writing (write, upload, mkdir): like `Follow`, but a missing path is fine (it will be
    /// created), and a dangling symlink is refused because writing through it could create its
    /// target anywhere.
    Create,
    /// Operating on the entry itself (delete, rename): the final component is never followed.
    NoFollow,
}

/// A client path mapped onto the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Where to operate on the host.
    pub host: PathBuf,
    /// The normalised virtual path (`/workspace/...`) for responses and messages.
    pub virt: String,
    /// The path names the workspace root itself.
    pub is_root: bool,
}

/// The workspace root, canonicalised once at startup.
#[derive(Debug, Clone)]
pub struct Workspace {
    root: PathBuf,
}

impl Workspace {
    /// Canonicalise `root`, which must be an existing directory.
    pub fn new(root: &Path) -> io::Result<Self> {
        let root = fs::canonicalize(root)?;
        if !fs::metadata(&root)?.is_dir() {
            return Err(io::Error::from(io::ErrorKind::NotADirectory));
        }
        Ok(Workspace { root })
    }

    /// The canonical host root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Map a client path to a checked host path; see [`Mode`].
    pub fn resolve(&self, client: &str, mode: Mode) -> Result<Resolved, ApiError> {
        let parts = lexical(client)?;
        let virt = virtual_of(&parts);
        let Some((name, parents)) = parts.split_last() else {
            return Ok(Resolved {
                host: self.root.clone(),
                virt,
                is_root: true,
            });
        };
        let parent = self.confine_dir(parents, &virt)?;
        let host = parent.join(name);
        let host = match mode {
            Mode::NoFollow => host,
            Mode::Follow | Mode::Create => match fs::symlink_metadata(&host) {
                Ok(meta) if meta.file_type().is_symlink() => match fs::canonicalize(&host) {
                    Ok(target) => self.inside(target, &virt)?,
                    // A dangling link is "not found" only if it would point inside; one that
                    // points out is refused as such, so probing cannot map the host.
                    Err(e)
                        if e.kind() == io::ErrorKind::NotFound
                            && mode == Mode::Follow
                            && self.dangling_stays_inside(&host) =>
                    {
                        return Err(ApiError::from_io(&e, &virt));
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound && mode == Mode::Follow => {
                        return Err(ApiError::outside_workspace(format!(
                            "symlink leads outside the workspace: {virt}"
                        )));
                    }
                    Err(_) => {
                        return Err(ApiError::outside_workspace(format!(
                            "refusing to write through a dangling or looping symlink: {virt}"
                        )));
                    }
                },
                _ => host,
            },
        };
        Ok(Resolved {
            host,
            virt,
            is_root: false,
        })
    }

    /// Whether a dangling symlink's target, taken lexically, stays inside the root.
    fn dangling_stays_inside(&self, link: &Path) -> bool {
        let Ok(target) = fs::read_link(link) else {
            return false;
        };
        let joined = match link.parent() {
            Some(dir) if target.is_relative() => dir.join(&target),
            _ => target,
        };
        let mut normal = PathBuf::new();
        for c in joined.components() {
            match c {
                std::path::Component::ParentDir => {
                    normal.pop();
                }
                std::path::Component::CurDir => {}
                other => normal.push(other),
            }
        }
        normal.starts_with(&self.root)
    }

    /// Walk the directory components from the root, resolving and checking every symlink.
    /// Components that do not exist are appended as they are: creating them creates real
    /// directories below the last checked one.
    fn confine_dir(&self, parts: &[OsString], virt: &str) -> Result<PathBuf, ApiError> {
        let mut dir = self.root.clone();
        for (i, part) in parts.iter().enumerate() {
            let next = dir.join(part);
            match fs::symlink_metadata(&next) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    let target = fs::canonicalize(&next).map_err(|_| {
                        ApiError::outside_workspace(format!(
                            "path goes through a dangling or looping symlink: {virt}"
                        ))
                    })?;
                    dir = self.inside(target, virt)?;
                }
                Ok(_) => dir = next,
                // Missing (or below a file): nothing further can be a symlink; the operation
                // itself reports NotFound / NotADirectory.
                Err(_) => {
                    dir = next;
                    dir.extend(&parts[i + 1..]);
                    break;
                }
            }
        }
        Ok(dir)
    }

    fn inside(&self, canonical: PathBuf, virt: &str) -> Result<PathBuf, ApiError> {
        if canonical.starts_with(&self.root) {
            Ok(canonical)
        } else {
            Err(ApiError::outside_workspace(format!(
                "path leads outside {WORKSPACE} through a symlink: {virt}"
            )))
        }
    }

    /// The virtual path of a host path below the root, or `None` if it is not below it.
    // Responses echo the client's normalised path instead; this is for callers that discover
    // host paths themselves (the coming PTY and chat relays).
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn to_virtual(&self, host: &Path) -> Option<String> {
        let rel = host.strip_prefix(&self.root).ok()?;
        let parts: Vec<OsString> = rel.iter().map(|p| p.to_owned()).collect();
        Some(virtual_of(&parts))
    }
}

/// Split a client path into its components below `/workspace`, refusing escapes.
fn lexical(client: &str) -> Result<Vec<OsString>, ApiError> {
    let outside = || ApiError::outside_workspace(format!("path is outside {WORKSPACE}: {client}"));
    if client.contains('\0') {
        return Err(ApiError::outside_workspace("path contains a NUL byte"));
    }
    let rest = if client.starts_with('/') {
        match client.strip_prefix(WORKSPACE) {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
            _ => return Err(outside()),
        }
    } else {
        client
    };
    let mut parts = Vec::new();
    for comp in Path::new(rest).components() {
        match comp {
            Component::Normal(p) => parts.push(p.to_owned()),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => return Err(outside()),
        }
    }
    Ok(parts)
}

fn virtual_of(parts: &[OsString]) -> String {
    let mut virt = String::from(WORKSPACE);
    for p in parts {
        virt.push('/');
        virt.push_str(&p.to_string_lossy());
    }
    virt
}

/// `dir/name` for virtual paths.
pub fn join_virtual(dir: &str, name: &str) -> String {
    format!("{}/{name}", dir.trim_end_matches('/'))
}

#[cfg(test)]
#[path = "paths_tests.rs"]
mod tests;
