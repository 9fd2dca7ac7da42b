//! Accounts and API keys: `GET /api/account`, `/api/keys`, redeeming an invite code
//! (`POST /api/account/invite`), and the admin routes under `/api/admin/...`. Key and account
//! routes take a key with `admin` or the `/account` page's session (see `auth::perm`).

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::openapi::errors;
use super::{Api, optional_json, parse_id, timestamp};
use crate::auth::{Authed, Perms, generate_key, hash_key, perm};
use crate::error::{ApiError, ApiResult};
use crate::startup::AppState;
use crate::store::Owner;
use crate::store::entities::{account, api_key};
use sandbox_agent::protocol::ErrorEnvelope;

pub fn configure(api: &mut Api<'_>) {
    api.resource("/api/account", |r| r.get(get_account));
    api.resource("/api/account/invite", |r| r.post(redeem_invite));
    api.resource("/api/keys", |r| r.get(list_keys).post(create_key));
    api.resource("/api/keys/{key_id}", |r| r.delete(revoke_key));
    api.resource("/api/admin/accounts", |r| {
        r.get(admin_list_accounts).post(admin_create_account)
    });
    api.resource("/api/admin/accounts/{account_id}/keys", |r| {
        r.post(admin_create_key)
    });
    api.resource("/api/admin/invites", |r| {
        r.get(super::invites::admin_list_invites)
            .post(super::invites::admin_create_invite)
    });
}

/// An account as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "0f8e4c1a-5b7d-4e2f-9a6b-3c1d2e4f5a6b", "name": "alice", "email": "alice@example.com", "is_admin": false, "max_instances": null, "created_at": "2026-03-20T18:22:54.000Z", "subscription": {"status": "active", "max_instances": 3}, "has_invite": false}))]
pub struct AccountView {
    pub id: Uuid,
    pub name: String,
    pub email: Option<String>,
    /// Admins may use `/api/admin/...` and are never gated.
    pub is_admin: bool,
    /// This account's own instance limit, if it has one (else its plan's, else the node's
    /// default quota).
    pub max_instances: Option<i32>,
    pub created_at: String,
    /// The Stripe subscription mirrored onto the account, if it ever had one.
    pub subscription: Option<SubscriptionView>,
    /// The account redeemed an invite code (access under the `invite_or_subscription` gate).
    pub has_invite: bool,
}

/// A subscription as the account sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionView {
    /// Stripe's status: `active`, `trialing` and `past_due` allow new instances; `canceled`,
    /// `unpaid`, `incomplete`, `incomplete_expired` and `paused` do not (existing instances and
    /// their data stay).
    pub status: String,
    /// Instances the plan allows (`null`: the service's default for subscriptions).
    pub max_instances: Option<i32>,
}

impl From<account::Model> for AccountView {
    fn from(a: account::Model) -> Self {
        AccountView {
            id: a.id,
            name: a.name,
            email: a.email,
            is_admin: a.is_admin,
            max_instances: a.max_instances,
            created_at: timestamp(&a.created_at),
            subscription: a.subscription_status.map(|status| SubscriptionView {
                status,
                max_instances: a.subscription_max_instances,
            }),
            has_invite: a.invite_id.is_some(),
        }
    }
}

/// A key as listed: never the secret, only its visible prefix.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "7c9e6679-7425-40de-944b-e07fc1f90ae7", "name": "ci", "prefix": "ocaas_X7pQ2mLk", "permissions": ["instances:read", "chat"], "created_at": "2026-03-20T18:22:54.000Z", "last_used_at": "2026-03-21T09:01:12.000Z", "revoked_at": null}))]
pub struct KeyView {
    pub id: Uuid,
    pub name: String,
    /// The key's first characters, to recognise it by.
    pub prefix: String,
    /// What the key may do: `instances:read`, `instances:write`, `chat`, `files`,
    /// `terminal`, `admin`.
    pub permissions: Vec<String>,
    pub created_at: String,
    pub last_used_at: Option<String>,
    /// Set once revoked; a revoked key no longer authenticates.
    pub revoked_at: Option<String>,
}

impl From<api_key::Model> for KeyView {
    fn from(k: api_key::Model) -> Self {
        KeyView {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            permissions: Perms::from_stored(&k.permissions)
                .names()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            created_at: timestamp(&k.created_at),
            last_used_at: k.last_used_at.as_ref().map(timestamp),
            revoked_at: k.revoked_at.as_ref().map(timestamp),
        }
    }
}

/// A newly created key: the only response that ever carries the secret.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "7c9e6679-7425-40de-944b-e07fc1f90ae7", "name": "ci", "prefix": "ocaas_X7pQ2mLk", "permissions": ["instances:read", "instances:write", "chat", "files", "terminal", "admin"], "created_at": "2026-03-20T18:22:54.000Z", "last_used_at": null, "revoked_at": null, "key": "ocaas_X7pQ2mLkV9sT4wZ1bN8cR3dF6gH0jK5yU2eAq4Wb"}))]
pub struct CreatedKey {
    #[serde(flatten)]
    pub view: KeyView,
    /// The key itself. Shown once; store it now.
    pub key: String,
}

/// Body of `POST /api/keys` and `POST /api/admin/accounts/{account_id}/keys` (may be empty).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "ci", "permissions": ["instances:read", "chat"]}))]
pub struct CreateKeyRequest {
    /// A label to recognise the key by, 1 to 100 printable characters (default `api key`).
    pub name: Option<String>,
    /// What the key may do, from `instances:read`, `instances:write`, `chat`, `files`,
    /// `terminal`, `admin` (default: everything the creating key may do). A key cannot grant
    /// more than it has.
    pub permissions: Option<Vec<String>>,
}

/// The permissions asked for, within what the creator has (`422` otherwise).
pub fn requested_perms(asked: Option<&[String]>, creator: Perms) -> ApiResult<Perms> {
    let Some(asked) = asked else {
        return Ok(creator);
    };
    let perms = Perms::parse(asked.iter().map(String::as_str)).map_err(|bad| {
        ApiError::validation(format!(
            "unknown permission `{bad}`; use instances:read, instances:write, chat, files, terminal, admin"
        ))
    })?;
    if perms.is_empty() {
        return Err(ApiError::validation("a key needs at least one permission"));
    }
    if !perms.is_subset_of(creator) {
        return Err(ApiError::validation(
            "a key cannot grant permissions the creating key lacks",
        ));
    }
    Ok(perms)
}

fn valid_name(name: Option<String>, default: &str) -> ApiResult<String> {
    let name = name.unwrap_or_else(|| default.to_owned());
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 100 || trimmed.chars().any(char::is_control)
    {
        return Err(ApiError::validation(
            "name must be 1 to 100 printable characters",
        ));
    }
    Ok(trimmed.to_owned())
}

/// Mint a key for `owner` and store its hash.
pub async fn mint_key(
    store: &crate::store::Store,
    owner: &Owner,
    name: &str,
    perms: Perms,
) -> ApiResult<CreatedKey> {
    let key = generate_key();
    let model = store
        .insert_key(owner, name, &key.prefix, &key.hash, &perms.to_stored())
        .await?;
    Ok(CreatedKey {
        view: model.into(),
        key: key.secret,
    })
}

/// The key's account
///
/// The account the API key (or the signed-in `/account` page) belongs to, with its
/// subscription and invite: what decides whether it may create instances under the gate
/// `GET /api` names. Any key may read it, whatever its permissions.
#[utoipa::path(
    get,
    path = "/api/account",
    tag = "accounts",
    security(("bearer" = []), ("session" = [])),
    responses((status = 200, description = "The account.", body = AccountView)),
)]
async fn get_account(
    state: web::Data<AppState>,
    caller: Authed<perm::AnyCaller>,
) -> ApiResult<HttpResponse> {
    // Fresh: the cached key may predate a webhook or a redemption.
    let account = state
        .store
        .get_account(&caller.owner)
        .await?
        .unwrap_or_else(|| caller.account.clone());
    Ok(HttpResponse::Ok().json(AccountView::from(account)))
}

/// Body of `POST /api/account/invite`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "inv_4Jd8sK2mQp7Lx9Vb3Nc6Rt1W"}))]
pub struct RedeemInviteRequest {
    /// The invite code.
    pub code: String,
}

/// Redeem an invite code
///
/// Attach an invite code to the account (one redemption of the code): under the
/// `invite_or_subscription` gate the account may then create instances without a
/// subscription, within its quota. Redeeming the code the account already holds changes
/// nothing. `POST /api/instances` with `invite_code` does the same as part of a create.
#[utoipa::path(
    post,
    path = "/api/account/invite",
    tag = "accounts",
    security(("bearer" = []), ("session" = [])),
    request_body = RedeemInviteRequest,
    responses(
        (status = 200, description = "Redeemed; the account now holds the invite.", body = AccountView),
        (status = 400, description = errors::INVALID_JSON, body = ErrorEnvelope),
        (status = 403, description = "`INVITE_INVALID`: no such code. `INVITE_EXPIRED`: the code has expired. `INVITE_EXHAUSTED`: the code was redeemed as often as it may be. `FORBIDDEN`: the key lacks `admin`. `CSRF_FAILED`: a signed-in page's request without its `X-CSRF-Token`.", body = ErrorEnvelope),
        (status = 415, description = errors::JSON_415, body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`: `code` is missing or empty, or an unknown field.", body = ErrorEnvelope),
    ),
)]
async fn redeem_invite(
    state: web::Data<AppState>,
    caller: Authed<perm::Account>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let body: RedeemInviteRequest = super::required_json(&body)?;
    let code = body.code.trim();
    if code.is_empty() || code.len() > 200 {
        return Err(ApiError::validation("code must be 1 to 200 characters"));
    }
    let hash = hash_key(code);
    let account = state
        .store
        .get_account(&caller.owner)
        .await?
        .ok_or_else(|| ApiError::not_found("account"))?;
    let held = match state.store.check_invite(&hash).await? {
        Ok(id) => account.invite_id == Some(id),
        Err(why) => return Err(crate::policy::invite_error(why)),
    };
    if !held {
        state
            .store
            .redeem_invite(&caller.owner, &hash)
            .await?
            .map_err(crate::policy::invite_error)?;
    }
    let account = state
        .store
        .get_account(&caller.owner)
        .await?
        .ok_or_else(|| ApiError::not_found("account"))?;
    Ok(HttpResponse::Ok().json(AccountView::from(account)))
}

/// List keys
///
/// This account's keys, revoked ones included: prefix, name, created, last used, revoked —
/// never the secret.
#[utoipa::path(
    get,
    path = "/api/keys",
    tag = "keys",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The account's keys.", body = [KeyView]),
        (status = 403, description = errors::NEEDS_ADMIN_PERM, body = ErrorEnvelope),
    ),
)]
async fn list_keys(
    state: web::Data<AppState>,
    caller: Authed<perm::Account>,
) -> ApiResult<HttpResponse> {
    let keys: Vec<KeyView> = state
        .store
        .list_keys(&caller.owner)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(HttpResponse::Ok().json(keys))
}

/// Create a key
///
/// A new key for this account, with the permissions asked for (default: all of the creating
/// key's). The response is the only time the key is shown: store it.
#[utoipa::path(
    post,
    path = "/api/keys",
    tag = "keys",
    security(("bearer" = []), ("session" = [])),
    request_body(content = Option<CreateKeyRequest>, description = "Optional; an empty body is `{}`."),
    responses(
        (status = 201, description = "Created; `key` is shown this once.", body = CreatedKey),
        (status = 400, description = errors::INVALID_JSON, body = ErrorEnvelope),
        (status = 403, description = errors::NEEDS_ADMIN_PERM, body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`: `name` is not 1 to 100 printable characters, an unknown or empty `permissions` list, permissions the creating key lacks, or an unknown field.", body = ErrorEnvelope),
    ),
)]
async fn create_key(
    state: web::Data<AppState>,
    caller: Authed<perm::Account>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let req: CreateKeyRequest = optional_json(&body)?;
    let name = valid_name(req.name, "api key")?;
    let perms = requested_perms(req.permissions.as_deref(), caller.perms)?;
    let created = mint_key(&state.store, &caller.owner, &name, perms).await?;
    Ok(HttpResponse::Created().json(created))
}

/// Revoke a key
///
/// The key stops working at once (also the key making this call, if it is the one revoked):
/// its next call is `401`.
#[utoipa::path(
    delete,
    path = "/api/keys/{key_id}",
    tag = "keys",
    security(("bearer" = []), ("session" = [])),
    params(("key_id" = Uuid, Path, description = "The key's `id`.")),
    responses(
        (status = 204, description = "Revoked."),
        (status = 403, description = errors::NEEDS_ADMIN_PERM, body = ErrorEnvelope),
        (status = 404, description = "`NOT_FOUND`: no such key for this account (or already revoked).", body = ErrorEnvelope),
    ),
)]
async fn revoke_key(
    state: web::Data<AppState>,
    caller: Authed<perm::Account>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let id = parse_id(&path, "key")?;
    if state.store.revoke_key(&caller.owner, id).await? {
        state.keys.forget(id);
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found("key"))
    }
}

/// Body of `POST /api/admin/accounts` (may be empty).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "alice", "email": "alice@example.com", "max_instances": 3}))]
pub struct CreateAccountRequest {
    /// 1 to 100 printable characters (default `account`).
    pub name: Option<String>,
    /// Unique across accounts.
    pub email: Option<String>,
    /// May use the admin routes (default `false`).
    #[serde(default)]
    pub is_admin: bool,
    /// Instance limit for this account (default: the node's per-account quota).
    pub max_instances: Option<u32>,
}

/// `POST /api/admin/accounts`: the account and its first key.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedAccount {
    pub account: AccountView,
    /// The account's first key (`initial key`), shown this once.
    pub key: CreatedKey,
}

/// List all accounts (admin)
///
/// Every account on this service. Needs an admin key.
#[utoipa::path(
    get,
    path = "/api/admin/accounts",
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every account.", body = [AccountView]),
        (status = 403, description = errors::NOT_ADMIN, body = ErrorEnvelope),
    ),
)]
async fn admin_list_accounts(
    state: web::Data<AppState>,
    _admin: Authed<perm::Admin>,
) -> ApiResult<HttpResponse> {
    let accounts: Vec<AccountView> = state
        .store
        .list_accounts_all_owners()
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(HttpResponse::Ok().json(accounts))
}

/// Create an account (admin)
///
/// A new account and its first key (shown once). Needs an admin key.
#[utoipa::path(
    post,
    path = "/api/admin/accounts",
    tag = "admin",
    security(("bearer" = [])),
    request_body(content = Option<CreateAccountRequest>, description = "Optional; an empty body is `{}`."),
    responses(
        (status = 201, description = "Created.", body = CreatedAccount),
        (status = 400, description = errors::INVALID_JSON, body = ErrorEnvelope),
        (status = 403, description = errors::NOT_ADMIN, body = ErrorEnvelope),
        (status = 409, description = "`CONFLICT`: an account with this email exists already.", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`: a bad `name` or `email`, or an unknown field.", body = ErrorEnvelope),
    ),
)]
async fn admin_create_account(
    state: web::Data<AppState>,
    _admin: Authed<perm::Admin>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let req: CreateAccountRequest = optional_json(&body)?;
    let name = valid_name(req.name, "account")?;
    let email = req
        .email
        .as_deref()
        .map(super::session::normalize_email)
        .transpose()?;
    let max = req
        .max_instances
        .map(|m| i32::try_from(m).unwrap_or(i32::MAX));
    let account = match state
        .store
        .create_account(&name, email.as_deref(), req.is_admin, max)
        .await
    {
        Ok(a) => a,
        Err(e) if is_unique_violation(&e) => {
            return Err(ApiError::new(
                crate::error::ErrorCode::Conflict,
                "an account with this email exists already",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let owner = Owner::from_authenticated(account.id);
    let key = mint_key(&state.store, &owner, "initial key", Perms::all()).await?;
    Ok(HttpResponse::Created().json(CreatedAccount {
        account: AccountView::from(account),
        key,
    }))
}

/// Create a key for an account (admin)
///
/// A new key for any account (shown once). Needs an admin key.
#[utoipa::path(
    post,
    path = "/api/admin/accounts/{account_id}/keys",
    tag = "admin",
    security(("bearer" = [])),
    params(("account_id" = Uuid, Path, description = "The account's `id`.")),
    request_body(content = Option<CreateKeyRequest>, description = "Optional; an empty body is `{}`."),
    responses(
        (status = 201, description = "Created; `key` is shown this once.", body = CreatedKey),
        (status = 400, description = errors::INVALID_JSON, body = ErrorEnvelope),
        (status = 403, description = errors::NOT_ADMIN, body = ErrorEnvelope),
        (status = 404, description = "`NOT_FOUND`: no such account.", body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`: `name` is not 1 to 100 printable characters, or an unknown field.", body = ErrorEnvelope),
    ),
)]
async fn admin_create_key(
    state: web::Data<AppState>,
    _admin: Authed<perm::Admin>,
    path: web::Path<String>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let id = parse_id(&path, "account")?;
    let account = state
        .store
        .get_account_all_owners(id)
        .await?
        .ok_or_else(|| ApiError::not_found("account"))?;
    let req: CreateKeyRequest = optional_json(&body)?;
    let name = valid_name(req.name, "api key")?;
    let perms = requested_perms(req.permissions.as_deref(), Perms::all())?;
    let owner = Owner::from_authenticated(account.id);
    Ok(HttpResponse::Created().json(mint_key(&state.store, &owner, &name, perms).await?))
}

pub fn is_unique_violation(e: &sea_orm::DbErr) -> bool {
    matches!(
        e.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}
