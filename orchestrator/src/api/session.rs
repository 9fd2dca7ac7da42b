//! Signing in on the `/account` page: `POST /api/auth/sign-up`, `/sign-in`, `/sign-out` and
//! `GET /api/auth/session`. Sessions live in an `HttpOnly` cookie (`auth::session`); the
//! responses carry the CSRF token the page must echo on unsafe requests. Errors never say
//! whether an email has an account.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Api;
use super::accounts::AccountView;
use super::openapi::errors;
use crate::auth::session::{self, clear_cookie, set_cookie};
use crate::auth::{hash_key, password};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::startup::AppState;
use crate::store::Owner;
use crate::store::entities::account;
use sandbox_agent::protocol::ErrorEnvelope;

pub fn configure(api: &mut Api<'_>) {
    api.resource("/api/auth/sign-up", |r| r.post(sign_up));
    api.resource("/api/auth/sign-in", |r| r.post(sign_in));
    api.resource("/api/auth/sign-out", |r| r.post(sign_out));
    api.resource("/api/auth/session", |r| r.get(current_session));
}

/// Lower-case and check an email address (`422` if it is not one).
pub fn normalize_email(raw: &str) -> ApiResult<String> {
    let email = raw.trim().to_lowercase();
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if !valid {
        return Err(ApiError::validation("email is not a valid address"));
    }
    Ok(email)
}

/// Body of sign-up.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "alice@example.com", "password": "correct horse battery staple"}))]
pub struct SignUpRequest {
    /// An email address (case does not matter).
    #[schema(format = "email", max_length = 254)]
    pub email: String,
    /// 10 to 256 characters. Write-only: never stored or logged in clear.
    #[schema(write_only, min_length = 10, max_length = 256)]
    pub password: String,
    /// A display name, 1 to 100 printable characters (default: the email's local part).
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
}

/// Body of sign-in.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "alice@example.com", "password": "correct horse battery staple"}))]
pub struct SignInRequest {
    pub email: String,
    #[schema(write_only)]
    pub password: String,
}

/// A signed-in session: its account and the CSRF token to send as `X-CSRF-Token` on every
/// unsafe request the page makes. The session itself is the `ocaas_session` cookie.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"account": {"id": "0f8e4c1a-5b7d-4e2f-9a6b-3c1d2e4f5a6b", "name": "alice", "email": "alice@example.com", "is_admin": false, "max_instances": null, "created_at": "2026-03-20T18:22:54.000Z", "subscription": null, "has_invite": false}, "csrf_token": "q2X9vLm4Tz8Kp1Rw6Yb3Nc7Jd5Hf0Gs2"}))]
pub struct SignedInView {
    pub account: AccountView,
    pub csrf_token: String,
}

fn client_address(req: &HttpRequest) -> String {
    // The peer, not `X-Forwarded-For`: a client could write anything there.
    req.peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

async fn signed_in(
    state: &AppState,
    req: &HttpRequest,
    account: account::Model,
    status: actix_web::http::StatusCode,
) -> ApiResult<HttpResponse> {
    let owner = Owner::from_authenticated(account.id);
    let started = session::start(state, &owner).await?;
    Ok(HttpResponse::build(status)
        .insert_header((
            "set-cookie",
            set_cookie(req, &started.token, started.max_age_s),
        ))
        .insert_header(("cache-control", "no-store"))
        .json(SignedInView {
            account: account.into(),
            csrf_token: started.csrf_token,
        }))
}

/// Sign up
///
/// Create an account with an email and a password and sign in (sets the `ocaas_session`
/// cookie). Operators can turn sign-up off (`accounts.sign_up`; `GET /api` says). Requests
/// from another site (`Origin`) are refused. Rate-limited per client address.
#[utoipa::path(
    post,
    path = "/api/auth/sign-up",
    tag = "session",
    request_body = SignUpRequest,
    responses(
        (status = 201, description = "Signed up and in; the cookie is set.", body = SignedInView,
            headers(("Set-Cookie" = String, description = "`ocaas_session=...; HttpOnly; SameSite=Lax`"))),
        (status = 400, description = errors::INVALID_JSON, body = ErrorEnvelope),
        (status = 403, description = "`SIGN_UP_CLOSED`: sign-up is turned off here. `CSRF_FAILED`: the request came from another site.", body = ErrorEnvelope),
        (status = 409, description = "`CONFLICT`: this email cannot sign up (sign in instead).", body = ErrorEnvelope),
        (status = 415, description = errors::JSON_415, body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`: not an email address, a password shorter than 10 or longer than 256 characters, a bad name, or an unknown field.", body = ErrorEnvelope),
        (status = 429, description = errors::RATE_429, body = ErrorEnvelope),
    ),
)]
async fn sign_up(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<SignUpRequest>,
) -> ApiResult<HttpResponse> {
    session::check_same_origin(&req)?;
    state
        .rate_limits
        .enforce_sign_in(&req, &client_address(&req))?;
    if !state.settings.accounts.sign_up {
        return Err(ApiError::new(
            ErrorCode::SignUpClosed,
            "this service does not take sign-ups; ask its operator for an account",
        ));
    }
    let body = body.into_inner();
    let email = normalize_email(&body.email)?;
    password::check_strength(&body.password)?;
    let name = body
        .name
        .unwrap_or_else(|| email.split('@').next().unwrap_or("account").to_owned());
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::validation(
            "name must be 1 to 100 printable characters",
        ));
    }
    let hash = password::hash(body.password)
        .await
        .map_err(ApiError::internal)?;
    let account = match state
        .store
        .create_account(name, Some(&email), false, None)
        .await
    {
        Ok(a) => a,
        Err(e) if super::accounts::is_unique_violation(&e) => {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                "this email cannot sign up; if it is yours, sign in",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let owner = Owner::from_authenticated(account.id);
    state.store.set_password_hash(&owner, &hash).await?;
    tracing::info!(account_id = %account.id, "signed up");
    signed_in(&state, &req, account, actix_web::http::StatusCode::CREATED).await
}

/// Sign in
///
/// Check an email and password and sign in (sets the `ocaas_session` cookie). A wrong email
/// and a wrong password get the same answer. Rate-limited per client address.
#[utoipa::path(
    post,
    path = "/api/auth/sign-in",
    tag = "session",
    request_body = SignInRequest,
    responses(
        (status = 200, description = "Signed in; the cookie is set.", body = SignedInView,
            headers(("Set-Cookie" = String, description = "`ocaas_session=...; HttpOnly; SameSite=Lax`"))),
        (status = 400, description = errors::INVALID_JSON, body = ErrorEnvelope),
        (status = 401, description = "`UNAUTHORIZED`: wrong email or password.", body = ErrorEnvelope),
        (status = 403, description = "`CSRF_FAILED`: the request came from another site.", body = ErrorEnvelope),
        (status = 415, description = errors::JSON_415, body = ErrorEnvelope),
        (status = 422, description = errors::BODY_422, body = ErrorEnvelope),
        (status = 429, description = errors::RATE_429, body = ErrorEnvelope),
    ),
)]
async fn sign_in(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<SignInRequest>,
) -> ApiResult<HttpResponse> {
    session::check_same_origin(&req)?;
    state
        .rate_limits
        .enforce_sign_in(&req, &client_address(&req))?;
    let body = body.into_inner();
    let account = match normalize_email(&body.email) {
        Ok(email) => {
            state
                .store
                .find_account_by_email_for_sign_in(&email)
                .await?
        }
        Err(_) => None,
    };
    let stored = account.as_ref().and_then(|a| a.password_hash.clone());
    // Verify even without an account, so the time taken does not tell.
    let ok = password::verify(body.password, stored).await;
    match account {
        Some(account) if ok => {
            signed_in(&state, &req, account, actix_web::http::StatusCode::OK).await
        }
        _ => Err(ApiError::new(
            ErrorCode::Unauthorized,
            "wrong email or password",
        )),
    }
}

/// Sign out
///
/// End the session of the `ocaas_session` cookie (send its `X-CSRF-Token`) and clear the
/// cookie. Without a session there is nothing to end: `204` as well.
#[utoipa::path(
    post,
    path = "/api/auth/sign-out",
    tag = "session",
    security((), ("session" = [])),
    responses(
        (status = 204, description = "Signed out; the cookie is cleared."),
        (status = 403, description = "`CSRF_FAILED`: a session cookie without its `X-CSRF-Token`.", body = ErrorEnvelope),
    ),
)]
async fn sign_out(state: web::Data<AppState>, req: HttpRequest) -> ApiResult<HttpResponse> {
    if let Some((s, _)) = session::current(&state, &req).await? {
        session::check_csrf(&req, &s)?;
        state.store.delete_session(&s.token_hash).await?;
    } else if let Some(token) = session::cookie_token(&req) {
        state.store.delete_session(&hash_key(&token)).await?;
    }
    Ok(HttpResponse::NoContent()
        .insert_header(("set-cookie", clear_cookie(&req)))
        .finish())
}

/// The current session
///
/// The signed-in account and its CSRF token, from the `ocaas_session` cookie (`401` when not
/// signed in). The `/account` page calls it on load.
#[utoipa::path(
    get,
    path = "/api/auth/session",
    tag = "session",
    security(("session" = [])),
    responses(
        (status = 200, description = "Signed in.", body = SignedInView),
    ),
)]
async fn current_session(state: web::Data<AppState>, req: HttpRequest) -> ApiResult<HttpResponse> {
    let Some((s, caller)) = session::current(&state, &req).await? else {
        return Err(ApiError::new(ErrorCode::Unauthorized, "not signed in"));
    };
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(SignedInView {
            account: caller.account.into(),
            csrf_token: s.csrf_token,
        }))
}
