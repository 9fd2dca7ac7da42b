//! Reading handlers: list a directory, read a text file, download any file.

use std::{fs, io::Read as _};

use actix_web::{HttpResponse, body::SizedStream, http::header, web};
use tokio_util::io::ReaderStream;

use super::{file_name, open_for_reading, rfc3339};
use crate::{
    http::ApiError,
    protocol::{EntryType, ErrorCode, FileEntry, ListResponse, PathQuery, ReadResponse, limits},
    server::AgentState,
    services::{
        blocking,
        paths::{Mode, Resolved, join_virtual},
    },
};

/// Chunk size for downloads: large enough for throughput, small enough to keep memory flat.
const DOWNLOAD_CHUNK: usize = 64 * 1024;

/// `GET /files?path=`: the entries of a directory, directories first, then by name.
///
/// Entries are described without following symlinks (`type: symlink`). Listing a file is
/// `409 CONFLICT`.
pub(crate) async fn list(
    state: web::Data<AgentState>,
    query: web::Query<PathQuery>,
) -> Result<web::Json<ListResponse>, ApiError> {
    let path = query.into_inner().path;
    let listing = blocking(move || {
        let dir = state.workspace.resolve(&path, Mode::Follow)?;
        list_dir(&dir)
    })
    .await?;
    Ok(web::Json(listing))
}

fn list_dir(dir: &Resolved) -> Result<ListResponse, ApiError> {
    let io_err = |e: std::io::Error| ApiError::from_io(&e, &dir.virt);
    let meta = fs::metadata(&dir.host).map_err(io_err)?;
    if !meta.is_dir() {
        return Err(ApiError::conflict(format!("not a directory: {}", dir.virt)));
    }
    let mut entries = Vec::new();
    for entry in fs::read_dir(&dir.host).map_err(io_err)? {
        let entry = entry.map_err(io_err)?;
        // lstat: a symlink is reported as such, never followed.
        let Ok(meta) = entry.metadata() else {
            continue; // removed between readdir and lstat
        };
        let ft = meta.file_type();
        let kind = if ft.is_symlink() {
            EntryType::Symlink
        } else if ft.is_dir() {
            EntryType::Directory
        } else if ft.is_file() {
            EntryType::File
        } else {
            EntryType::Other
        };
        let name = entry.file_name().to_string_lossy().into_owned();
        entries.push(FileEntry {
            path: join_virtual(&dir.virt, &name),
            name,
            kind,
            size: meta.len(),
            modified_at: meta.modified().map(rfc3339).unwrap_or_default(),
        });
    }
    entries.sort_by(|a, b| {
        let dirs_first = |e: &FileEntry| e.kind != EntryType::Directory;
        dirs_first(a)
            .cmp(&dirs_first(b))
            .then_with(|| a.name.cmp(&b.name))
    });
    Ok(ListResponse {
        path: dir.virt.clone(),
        entries,
    })
}

/// `GET /files/read?path=`: a UTF-8 text file's content.
///
/// Larger than `READ_MAX_BYTES` is `413 PAYLOAD_TOO_LARGE`, not UTF-8 is `422 NOT_TEXT`
/// (use `files/download` for both); a directory is `409 CONFLICT`.
pub(crate) async fn read(
    state: web::Data<AgentState>,
    query: web::Query<PathQuery>,
) -> Result<web::Json<ReadResponse>, ApiError> {
    let path = query.into_inner().path;
    let response = blocking(move || {
        let file = state.workspace.resolve(&path, Mode::Follow)?;
        read_text(&file)
    })
    .await?;
    Ok(web::Json(response))
}

fn read_text(file: &Resolved) -> Result<ReadResponse, ApiError> {
    let virt = &file.virt;
    let handle = open_regular(file)?;
    let too_large = || {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "{virt} is larger than {} bytes; use files/download for its bytes",
                limits::READ_MAX_BYTES
            ),
        )
    };
    let len = handle
        .metadata()
        .map_err(|e| ApiError::from_io(&e, virt))?
        .len();
    if len > limits::READ_MAX_BYTES {
        return Err(too_large());
    }
    // Bounded read: the file may grow after the size check.
    let mut bytes = Vec::with_capacity(len as usize);
    (&handle)
        .take(limits::READ_MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ApiError::from_io(&e, virt))?;
    if bytes.len() as u64 > limits::READ_MAX_BYTES {
        return Err(too_large());
    }
    let size = bytes.len() as u64;
    let content = String::from_utf8(bytes).map_err(|_| {
        ApiError::new(
            ErrorCode::NotText,
            format!("{virt} is not UTF-8 text; use files/download for its bytes"),
        )
    })?;
    Ok(ReadResponse {
        path: virt.clone(),
        content,
        size,
    })
}

/// Open a checked path for reading; refuse directories and special files.
fn open_regular(file: &Resolved) -> Result<fs::File, ApiError> {
    let virt = &file.virt;
    let handle = open_for_reading()
        .open(&file.host)
        .map_err(|e| ApiError::from_io(&e, virt))?;
    let meta = handle.metadata().map_err(|e| ApiError::from_io(&e, virt))?;
    if meta.is_dir() {
        return Err(ApiError::conflict(format!("is a directory: {virt}")));
    }
    if !meta.is_file() {
        return Err(ApiError::conflict(format!("not a regular file: {virt}")));
    }
    Ok(handle)
}

/// `GET /files/download?path=`: the raw bytes of a file as `application/octet-stream`.
///
/// Streamed in chunks with `Content-Length` and `Content-Disposition: attachment`; the file is
/// never held in memory whole. A directory is `409 CONFLICT`.
pub(crate) async fn download(
    state: web::Data<AgentState>,
    query: web::Query<PathQuery>,
) -> Result<HttpResponse, ApiError> {
    let path = query.into_inner().path;
    let (file, handle, len) = blocking(move || {
        let file = state.workspace.resolve(&path, Mode::Follow)?;
        let handle = open_regular(&file)?;
        let len = handle
            .metadata()
            .map_err(|e| ApiError::from_io(&e, &file.virt))?
            .len();
        Ok((file, handle, len))
    })
    .await?;
    let reader = tokio::fs::File::from_std(handle);
    // Never send more than announced, even if the file grows while we stream it.
    let stream =
        ReaderStream::with_capacity(tokio::io::AsyncReadExt::take(reader, len), DOWNLOAD_CHUNK);
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .insert_header((
            header::CONTENT_DISPOSITION,
            content_disposition(file_name(&file.virt)),
        ))
        .body(SizedStream::new(len, stream)))
}

/// `attachment; filename="..."` with an ASCII fallback and, for other names, RFC 5987
/// `filename*=UTF-8''...`.
fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| match c {
            '"' | '\\' => '_',
            c if c.is_ascii() && !c.is_ascii_control() => c,
            _ => '_',
        })
        .collect();
    let mut value = format!("attachment; filename=\"{ascii}\"");
    if ascii != name {
        value.push_str("; filename*=UTF-8''");
        for b in name.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b'~' => {
                    value.push(char::from(b));
                }
                _ => value.push_str(&format!("%{b:02X}")),
            }
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::content_disposition;

    #[test]
    fn content_disposition_is_safe() {
        assert_eq!(
            content_disposition("a.txt"),
            "attachment; filename=\"a.txt\""
        );
        assert_eq!(
            content_disposition("é\".bin"),
            "attachment; filename=\"__.bin\"; filename*=UTF-8''%C3%A9%22.bin"
        );
    }
}
