//! The readiness probe: `GET <ready_url>` until the gateway answers `{"ready":true}`.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper::{Request, Uri, client::conn::http1};
use hyper_util::rt::TokioIo;

/// Largest readiness body read.
const MAX_BODY: usize = 64 * 1024;

/// Check that `url` is something [`probe_once`] can fetch: `http://HOST:PORT/path`.
pub(super) fn validate(url: &str) -> Result<Uri, String> {
    let uri: Uri = url.parse().map_err(|e| format!("{url:?}: {e}"))?;
    if uri.scheme_str() != Some("http") || uri.host().is_none() || uri.port_u16().is_none() {
        return Err(format!("{url:?}: expected http://HOST:PORT/path"));
    }
    Ok(uri)
}

/// Probe every `interval` until one probe succeeds. Never returns otherwise: the caller
/// races it against the process exiting and the boot timeout.
pub(super) async fn wait_ready(url: &Uri, interval: Duration, timeout: Duration) {
    loop {
        if let Ok(true) = tokio::time::timeout(timeout, probe_once(url)).await {
            return;
        }
        tokio::time::sleep(interval).await;
    }
}

/// One `GET`: `true` when the answer is a JSON object with `"ready": true`.
pub(super) async fn probe_once(url: &Uri) -> bool {
    let (Some(host), Some(port)) = (url.host(), url.port_u16()) else {
        return false;
    };
    let Ok(stream) = tokio::net::TcpStream::connect((host, port)).await else {
        return false;
    };
    let Ok((mut sender, conn)) = http1::handshake(TokioIo::new(stream)).await else {
        return false;
    };
    tokio::spawn(conn);
    let path = url.path_and_query().map_or("/", |p| p.as_str());
    let Ok(req) = Request::get(path)
        .header(hyper::header::HOST, format!("{host}:{port}"))
        .body(Empty::<Bytes>::new())
    else {
        return false;
    };
    let Ok(resp) = sender.send_request(req).await else {
        return false;
    };
    let Ok(body) = Limited::new(resp.into_body(), MAX_BODY).collect().await else {
        return false;
    };
    serde_json::from_slice::<serde_json::Value>(&body.to_bytes())
        .is_ok_and(|v| v.get("ready") == Some(&serde_json::Value::Bool(true)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_validated() {
        assert!(validate("http://127.0.0.1:18789/readyz").is_ok());
        assert!(validate("http://127.0.0.1/readyz").is_err());
        assert!(validate("https://127.0.0.1:1/readyz").is_err());
        assert!(validate("not a url").is_err());
    }

    #[tokio::test]
    async fn nothing_listening_is_not_ready() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let url = validate(&format!("http://127.0.0.1:{port}/readyz")).unwrap();
        assert!(!probe_once(&url).await);
    }
}
