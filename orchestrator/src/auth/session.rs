//! Browser sessions for the `/account` page: an opaque random token in an `HttpOnly`,
//! `SameSite=Lax` cookie (`Secure` when the request came over https), stored as a SHA-256 hash.
//! CSRF: every session has a random synchronizer token that the page reads from the sign-in
//! response (or `GET /api/auth/session`) and echoes in `X-CSRF-Token` on every unsafe request;
//! a cross-site page can neither read it nor set that header without a CORS preflight we never
//! grant. The API proper ignores cookies: it takes bearer keys only.

use actix_web::HttpRequest;
use actix_web::http::Method;
use chrono::Utc;

use super::{Caller, Via, hash_key, random_token};
use crate::auth::perm::Perms;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::startup::AppState;
use crate::store::Owner;
use crate::store::entities::session;

/// The session cookie's name.
pub const COOKIE: &str = "ocaas_session";
/// The header unsafe cookie-authenticated requests carry.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The session token from the request's cookies, if any.
pub fn cookie_token(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get_all("cookie")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn secure(req: &HttpRequest) -> &'static str {
    if req.connection_info().scheme() == "https" {
        "; Secure"
    } else {
        ""
    }
}

/// `Set-Cookie` for a new session.
pub fn set_cookie(req: &HttpRequest, token: &str, max_age_s: i64) -> String {
    format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_s}{}",
        secure(req)
    )
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie(req: &HttpRequest) -> String {
    format!(
        "{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}",
        secure(req)
    )
}

/// A session just started: the cookie's token and the CSRF token (both shown to this client
/// only).
pub struct Started {
    pub token: String,
    pub csrf_token: String,
    pub max_age_s: i64,
}

/// Start a session for `owner`.
pub async fn start(state: &AppState, owner: &Owner) -> ApiResult<Started> {
    let token = random_token(43);
    let csrf_token = random_token(32);
    let hours = i64::try_from(state.settings.accounts.session_ttl_h).unwrap_or(24 * 7);
    let expires = Utc::now() + chrono::Duration::hours(hours);
    state
        .store
        .create_sign_in_session(owner, &hash_key(&token), &csrf_token, expires)
        .await?;
    Ok(Started {
        token,
        csrf_token,
        max_age_s: hours * 3600,
    })
}

/// The session the cookie names, if it is live.
pub async fn current(
    state: &AppState,
    req: &HttpRequest,
) -> ApiResult<Option<(session::Model, Caller)>> {
    let Some(token) = cookie_token(req) else {
        return Ok(None);
    };
    let Some((s, account)) = state.store.find_session(&hash_key(&token)).await? else {
        return Ok(None);
    };
    let caller = Caller {
        owner: Owner::from_authenticated(account.id),
        account,
        perms: Perms::all(),
        via: Via::Session(s.id),
    };
    Ok(Some((s, caller)))
}

/// Unsafe methods must echo the session's CSRF token.
pub fn check_csrf(req: &HttpRequest, s: &session::Model) -> ApiResult<()> {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let sent = req
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if constant_time_eq(sent.as_bytes(), s.csrf_token.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::CsrfFailed,
            "missing or wrong X-CSRF-Token: a signed-in page sends the token from its session",
        ))
    }
}

/// Requests that create a session (sign-up, sign-in) must not come from another site: when a
/// browser says where the request comes from (`Origin`), it must be this service.
pub fn check_same_origin(req: &HttpRequest) -> ApiResult<()> {
    let Some(origin) = req.headers().get("origin").and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    if origin == crate::api::origin(req) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::CsrfFailed,
            "cross-site request refused: sign in from this service's own /account page",
        ))
    }
}

/// Compare without an early exit (the time taken does not depend on where they differ).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
