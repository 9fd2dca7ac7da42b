//! `/files/*`: list, read, write, upload, mkdir, rename, delete, download.
//!
//! All handlers take and return *virtual* paths (`/workspace/...`); host paths never leave the
//! agent, not even in error messages.

mod manage;
mod read;
mod write;

use std::{fs, os::unix::fs::OpenOptionsExt as _, time::SystemTime};

use chrono::{DateTime, SecondsFormat, Utc};

pub(crate) use manage::{delete, mkdir, rename};
pub(crate) use read::{download, list, read};
pub(crate) use write::{upload, write};

/// Options for opening a file the agent serves.
///
/// `O_NOFOLLOW`: the path was checked with every symlink resolved; if a symlink appears in its
/// place afterwards, the kernel refuses it (`ELOOP`) rather than following it out of the
/// workspace. `O_NONBLOCK`: opening a FIFO must not hang the request; it is then refused as
/// "not a regular file" (the flag does nothing for regular files).
fn open_for_reading() -> fs::OpenOptions {
    let mut options = fs::OpenOptions::new();
    options
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    options
}

/// RFC 3339 UTC with second precision, e.g. `2025-01-02T03:04:05Z`.
fn rfc3339(time: SystemTime) -> String {
    DateTime::<Utc>::from(time).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The last component of a virtual path.
fn file_name(virt: &str) -> &str {
    virt.rsplit('/').next().unwrap_or(virt)
}
