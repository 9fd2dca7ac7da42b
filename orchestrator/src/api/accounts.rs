//! Accounts and API keys: `GET /api/account`, `/api/keys`, and the admin routes under
//! `/api/admin/accounts`.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::openapi::errors;
use super::{Api, optional_json, parse_id, timestamp};
use crate::auth::{Admin, Caller, generate_key};
use crate::error::{ApiError, ApiResult};
use crate::startup::AppState;
use crate::store::Owner;
use crate::store::entities::{account, api_key};
use sandbox_agent::protocol::ErrorEnvelope;

pub fn configure(api: &mut Api<'_>) {
    api.resource("/api/account", |r| r.get(get_account));
    api.resource("/api/keys", |r| r.get(list_keys).post(create_key));
    api.resource("/api/keys/{key_id}", |r| r.delete(revoke_key));
    api.resource("/api/admin/accounts", |r| {
        r.get(admin_list_accounts).post(admin_create_account)
    });
    api.resource("/api/admin/accounts/{account_id}/keys", |r| {
        r.post(admin_create_key)
    });
}

/// An account as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "0f8e4c1a-5b7d-4e2f-9a6b-3c1d2e4f5a6b", "name": "alice", "email": "alice@example.com", "is_admin": false, "max_instances": null, "created_at": "2026-03-20T18:22:54.000Z"}))]
pub struct AccountView {
    pub id: Uuid,
    pub name: String,
    pub email: Option<String>,
    /// Admins may use `/api/admin/...`.
    pub is_admin: bool,
    /// This account's own instance limit, if it has one (else the node's default quota).
    pub max_instances: Option<i32>,
    pub created_at: String,
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
        }
    }
}

/// A key as listed: never the secret, only its visible prefix.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "7c9e6679-7425-40de-944b-e07fc1f90ae7", "name": "ci", "prefix": "ocaas_X7pQ2mLk", "created_at": "2026-03-20T18:22:54.000Z", "last_used_at": "2026-03-21T09:01:12.000Z", "revoked_at": null}))]
pub struct KeyView {
    pub id: Uuid,
    pub name: String,
    /// The key's first characters, to recognise it by.
    pub prefix: String,
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
            created_at: timestamp(&k.created_at),
            last_used_at: k.last_used_at.as_ref().map(timestamp),
            revoked_at: k.revoked_at.as_ref().map(timestamp),
        }
    }
}

/// A newly created key: the only response that ever carries the secret.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "7c9e6679-7425-40de-944b-e07fc1f90ae7", "name": "ci", "prefix": "ocaas_X7pQ2mLk", "created_at": "2026-03-20T18:22:54.000Z", "last_used_at": null, "revoked_at": null, "key": "ocaas_X7pQ2mLkV9sT4wZ1bN8cR3dF6gH0jK5yU2eAq4Wb"}))]
pub struct CreatedKey {
    #[serde(flatten)]
    pub view: KeyView,
    /// The key itself. Shown once; store it now.
    pub key: String,
}

/// Body of `POST /api/keys` and `POST /api/admin/accounts/{account_id}/keys` (may be empty).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "ci"}))]
pub struct CreateKeyRequest {
    /// A label to recognise the key by, 1 to 100 printable characters (default `api key`).
    pub name: Option<String>,
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
pub async fn mint_key(state: &AppState, owner: &Owner, name: &str) -> ApiResult<CreatedKey> {
    let key = generate_key();
    let model = state
        .store
        .insert_key(owner, name, &key.prefix, &key.hash)
        .await?;
    Ok(CreatedKey {
        view: model.into(),
        key: key.secret,
    })
}

/// The key's account
///
/// The account the API key belongs to.
#[utoipa::path(
    get,
    path = "/api/account",
    tag = "accounts",
    security(("bearer" = [])),
    responses((status = 200, description = "The account.", body = AccountView)),
)]
async fn get_account(caller: Caller) -> HttpResponse {
    HttpResponse::Ok().json(AccountView::from(caller.account))
}

/// List keys
///
/// This account's keys, revoked ones included: prefix, name, created, last used, revoked —
/// never the secret.
#[utoipa::path(
    get,
    path = "/api/keys",
    tag = "keys",
    security(("bearer" = [])),
    responses((status = 200, description = "The account's keys.", body = [KeyView])),
)]
async fn list_keys(state: web::Data<AppState>, caller: Caller) -> ApiResult<HttpResponse> {
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
/// A new key for this account. The response is the only time the key is shown: store it.
#[utoipa::path(
    post,
    path = "/api/keys",
    tag = "keys",
    security(("bearer" = [])),
    request_body(content = Option<CreateKeyRequest>, description = "Optional; an empty body is `{}`."),
    responses(
        (status = 201, description = "Created; `key` is shown this once.", body = CreatedKey),
        (status = 400, description = errors::INVALID_JSON, body = ErrorEnvelope),
        (status = 422, description = "`VALIDATION_FAILED`: `name` is not 1 to 100 printable characters, or an unknown field.", body = ErrorEnvelope),
    ),
)]
async fn create_key(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let req: CreateKeyRequest = optional_json(&body)?;
    let name = valid_name(req.name, "api key")?;
    let created = mint_key(&state, &caller.owner, &name).await?;
    Ok(HttpResponse::Created().json(created))
}

/// Revoke a key
///
/// The key stops working at once (also the key making this call, if it is the one revoked).
#[utoipa::path(
    delete,
    path = "/api/keys/{key_id}",
    tag = "keys",
    security(("bearer" = [])),
    params(("key_id" = Uuid, Path, description = "The key's `id`.")),
    responses(
        (status = 204, description = "Revoked."),
        (status = 404, description = "`NOT_FOUND`: no such key for this account (or already revoked).", body = ErrorEnvelope),
    ),
)]
async fn revoke_key(
    state: web::Data<AppState>,
    caller: Caller,
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
async fn admin_list_accounts(state: web::Data<AppState>, _admin: Admin) -> ApiResult<HttpResponse> {
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
    _admin: Admin,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let req: CreateAccountRequest = optional_json(&body)?;
    let name = valid_name(req.name, "account")?;
    if let Some(email) = &req.email
        && (!email.contains('@') || email.len() > 254)
    {
        return Err(ApiError::validation("email is not a valid address"));
    }
    let max = req
        .max_instances
        .map(|m| i32::try_from(m).unwrap_or(i32::MAX));
    let account = match state
        .store
        .create_account(&name, req.email.as_deref(), req.is_admin, max)
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
    let key = mint_key(&state, &owner, "initial key").await?;
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
    _admin: Admin,
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
    let owner = Owner::from_authenticated(account.id);
    Ok(HttpResponse::Created().json(mint_key(&state, &owner, &name).await?))
}

fn is_unique_violation(e: &sea_orm::DbErr) -> bool {
    matches!(
        e.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}
