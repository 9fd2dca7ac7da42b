//! The web console's static files: `/console` (from `<static dir>/console/`) and `/vendor`
//! (from `<static dir>/vendor/`, the browser libraries `make` vendors from the npm registry:
//! xterm.js and noVNC). Nothing is fetched from anywhere else, at build time or run time.

use std::path::{Component, Path, PathBuf};

use actix_web::{HttpResponse, http::header, web};

use super::Api;
use crate::error::{ApiError, ApiResult};
use crate::startup::AppState;

/// Pages, not API routes: outside the OpenAPI spec (see `api::routes`).
pub fn configure(api: &mut Api<'_>) {
    api.page("/console", console_index);
    api.page("/account", account_index);
    api.page("/account/{tail:.*}", account_file);
    api.page("/console/{tail:.*}", console_file);
    api.page("/vendor/{tail:.*}", vendor_file);
}

/// Where the static files are: the setting, else `web-static` in the working directory, else
/// the checkout this binary was built from.
pub fn static_dir(configured: Option<&Path>) -> PathBuf {
    if let Some(dir) = configured {
        return dir.to_path_buf();
    }
    let here = PathBuf::from("web-static");
    if here.join("console").is_dir() {
        return here;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../web-static")
}

async fn console_index(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    serve(&state, "console", "index.html", false).await
}

async fn console_file(
    state: web::Data<AppState>,
    tail: web::Path<String>,
) -> ApiResult<HttpResponse> {
    serve(&state, "console", &index_if_dir(tail.into_inner()), false).await
}

/// A path under an app's directory; a directory (empty or ending in `/`) means its
/// `index.html`.
fn index_if_dir(tail: String) -> String {
    if tail.is_empty() || tail.ends_with('/') {
        format!("{tail}index.html")
    } else {
        tail
    }
}

async fn account_index(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    serve(&state, "account", "index.html", false).await
}

async fn account_file(
    state: web::Data<AppState>,
    tail: web::Path<String>,
) -> ApiResult<HttpResponse> {
    serve(&state, "account", &index_if_dir(tail.into_inner()), false).await
}

async fn vendor_file(
    state: web::Data<AppState>,
    tail: web::Path<String>,
) -> ApiResult<HttpResponse> {
    serve(&state, "vendor", &tail, true).await
}

async fn serve(
    state: &AppState,
    area: &str,
    relative: &str,
    immutable: bool,
) -> ApiResult<HttpResponse> {
    // Only plain names: no `..`, no absolute paths, no hidden files.
    let rel = Path::new(relative);
    let plain = rel.components().all(|c| match c {
        Component::Normal(name) => !name.to_string_lossy().starts_with('.'),
        _ => false,
    });
    if !plain || relative.is_empty() {
        return Err(ApiError::not_found("file"));
    }
    let root = static_dir(state.settings.console.static_dir.as_deref()).join(area);
    let path = root.join(rel);
    let bytes = match tokio::fs::read(&path).await {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if area == "vendor" && !root.is_dir() {
                tracing::warn!(
                    dir = %root.display(),
                    "the vendored browser libraries are missing: run scripts/vendor-web.sh (make does)"
                );
            }
            return Err(ApiError::not_found("file"));
        }
        // A directory, or unreadable: nothing to serve under that name.
        Err(_) => return Err(ApiError::not_found("file")),
    };
    let cache = if immutable {
        "public, max-age=86400"
    } else {
        "no-cache"
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type(rel)))
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header(("x-content-type-options", "nosniff"))
        .body(bytes))
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "ttf" => "font/ttf",
        "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_follow_extensions() {
        assert_eq!(
            content_type(Path::new("a/b.js")),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            content_type(Path::new("index.html")),
            "text/html; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("x")), "application/octet-stream");
    }
}
