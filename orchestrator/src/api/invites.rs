//! Invite codes (admin): `GET/POST /api/admin/invites`. A code is shown once, when created; the
//! service keeps its SHA-256 hash and a short prefix (a leaked database does not leak usable
//! codes). Accounts redeem codes with `POST /api/instances {"invite_code"}` or
//! `POST /api/account/invite`; each redemption is one conditional `UPDATE` (`store::access`).

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::openapi::errors;
use super::{optional_json, timestamp};
use crate::auth::{Authed, hash_key, perm, random_token};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::startup::AppState;
use crate::store::Store;
use crate::store::entities::invite_code;
use sandbox_agent::protocol::ErrorEnvelope;

/// An invite code as listed: never the code, only its prefix.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "5b1f9e3a-2c4d-4e6f-8a0b-1c2d3e4f5a6b", "prefix": "inv_4Jd8", "note": "launch list", "max_redemptions": 10, "redemptions": 3, "expires_at": "2026-04-01T00:00:00.000Z", "created_at": "2026-03-20T18:22:54.000Z"}))]
pub struct InviteView {
    pub id: Uuid,
    /// The code's first characters.
    pub prefix: String,
    pub note: Option<String>,
    pub max_redemptions: i32,
    pub redemptions: i32,
    /// `null`: never expires.
    pub expires_at: Option<String>,
    pub created_at: String,
}

impl From<invite_code::Model> for InviteView {
    fn from(m: invite_code::Model) -> Self {
        InviteView {
            id: m.id,
            prefix: m.prefix,
            note: m.note,
            max_redemptions: m.max_redemptions,
            redemptions: m.redemptions,
            expires_at: m.expires_at.as_ref().map(timestamp),
            created_at: timestamp(&m.created_at),
        }
    }
}

/// A new invite code: the only response that carries it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedInvite {
    #[serde(flatten)]
    pub view: InviteView,
    /// The code. Shown once; hand it out now.
    pub code: String,
}

/// Body of `POST /api/admin/invites` (may be empty).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"max_redemptions": 10, "expires_in_s": 604800, "note": "launch list"}))]
pub struct CreateInviteRequest {
    /// How many accounts may redeem it, 1 to 1 000 000 (default 1).
    pub max_redemptions: Option<u32>,
    /// Seconds until it expires (default: never).
    pub expires_in_s: Option<u64>,
    /// Your own code instead of a random one: 8 to 64 letters, digits, `-` and `_`.
    pub code: Option<String>,
    /// A note for operators, up to 200 characters.
    pub note: Option<String>,
}

/// Create an invite code (the admin route and `orchestrator admin create-invite`).
pub async fn create_invite(
    store: &Store,
    max_redemptions: u32,
    expires_at: Option<DateTime<Utc>>,
    code: Option<String>,
    note: Option<String>,
) -> ApiResult<CreatedInvite> {
    if !(1..=1_000_000).contains(&max_redemptions) {
        return Err(ApiError::validation("max_redemptions must be 1 to 1000000"));
    }
    let code = match code {
        Some(c) => {
            let ok = (8..=64).contains(&c.len())
                && c.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_');
            if !ok {
                return Err(ApiError::validation(
                    "code must be 8 to 64 letters, digits, - or _",
                ));
            }
            c
        }
        None => format!("inv_{}", random_token(24)),
    };
    if note.as_ref().is_some_and(|n| n.chars().count() > 200) {
        return Err(ApiError::validation("note may be at most 200 characters"));
    }
    let prefix: String = code.chars().take(8).collect();
    let model = match store
        .create_invite(
            &hash_key(&code),
            &prefix,
            i32::try_from(max_redemptions).unwrap_or(i32::MAX),
            expires_at,
            note.as_deref(),
        )
        .await
    {
        Ok(m) => m,
        Err(e) if super::accounts::is_unique_violation(&e) => {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                "this invite code exists already",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(CreatedInvite {
        view: model.into(),
        code,
    })
}

/// List invite codes (admin)
///
/// Every invite code with its redemptions, newest last. Needs an admin key.
#[utoipa::path(
    get,
    path = "/api/admin/invites",
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every invite code (never the codes themselves).", body = [InviteView]),
        (status = 403, description = errors::NOT_ADMIN, body = ErrorEnvelope),
    ),
)]
pub async fn admin_list_invites(
    state: web::Data<AppState>,
    _admin: Authed<perm::Admin>,
) -> ApiResult<HttpResponse> {
    let invites: Vec<InviteView> = state
        .store
        .list_invites_all_owners()
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(HttpResponse::Ok().json(invites))
}

/// Create an invite code (admin)
///
/// A code good for `max_redemptions` accounts until it expires. Shown once. Needs an admin
/// key.
#[utoipa::path(
    post,
    path = "/api/admin/invites",
    tag = "admin",
    security(("bearer" = [])),
    request_body(content = Option<CreateInviteRequest>, description = "Optional; an empty body is `{}`: one redemption, no expiry."),
    responses(
        (status = 201, description = "Created; `code` is shown this once.", body = CreatedInvite),
        (status = 400, description = errors::INVALID_JSON, body = ErrorEnvelope),
        (status = 403, description = errors::NOT_ADMIN, body = ErrorEnvelope),
        (status = 409, description = "`CONFLICT`: this code exists already.", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`: `max_redemptions` out of range, a bad `code` or `note`, or an unknown field.", body = ErrorEnvelope),
    ),
)]
pub async fn admin_create_invite(
    state: web::Data<AppState>,
    _admin: Authed<perm::Admin>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let req: CreateInviteRequest = optional_json(&body)?;
    let expires_at = match req.expires_in_s {
        Some(s) if s > 10 * 365 * 24 * 3600 => {
            return Err(ApiError::validation("expires_in_s may be at most 10 years"));
        }
        Some(s) => Some(Utc::now() + chrono::Duration::seconds(s as i64)),
        None => None,
    };
    let created = create_invite(
        &state.store,
        req.max_redemptions.unwrap_or(1),
        expires_at,
        req.code,
        req.note,
    )
    .await?;
    Ok(HttpResponse::Created().json(created))
}
