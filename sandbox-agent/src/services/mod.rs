//! Route handlers and the filesystem / process logic behind them.

pub(crate) mod archive;
pub(crate) mod base64;
pub mod desktop;
pub(crate) mod exec;
pub(crate) mod files;
pub mod gateway;
pub(crate) mod health;
pub mod model_forward;
pub(crate) mod output;
pub(crate) mod paths;
pub(crate) mod process;
pub(crate) mod proxy;
pub mod pty;

use crate::http::ApiError;

/// Run blocking filesystem work off the worker's event loop.
///
/// Path resolution and most file operations are synchronous syscalls; running them on the
/// blocking pool keeps a slow disk from stalling the (only two) HTTP workers.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    match actix_web::web::block(f).await {
        Ok(result) => result,
        Err(e) => {
            tracing::error!(error = %e, "blocking task failed");
            Err(ApiError::internal())
        }
    }
}
