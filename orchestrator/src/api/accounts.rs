//! Accounts and API keys: `GET /api/account`, `/api/keys`, and the admin routes under
//! `/api/admin/accounts`.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{optional_json, parse_id, timestamp};
use crate::auth::{Admin, Caller, generate_key};
use crate::error::{ApiError, ApiResult};
use crate::startup::AppState;
use crate::store::Owner;
use crate::store::entities::{account, api_key};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/account")
            .route(web::get().to(get_account))
            .default_service(sandbox_agent::http::method_not_allowed()),
    )
    .service(
        web::resource("/api/keys")
            .route(web::get().to(list_keys))
            .route(web::post().to(create_key))
            .default_service(sandbox_agent::http::method_not_allowed()),
    )
    .service(
        web::resource("/api/keys/{key_id}")
            .route(web::delete().to(revoke_key))
            .default_service(sandbox_agent::http::method_not_allowed()),
    )
    .service(
        web::resource("/api/admin/accounts")
            .route(web::get().to(admin_list_accounts))
            .route(web::post().to(admin_create_account))
            .default_service(sandbox_agent::http::method_not_allowed()),
    )
    .service(
        web::resource("/api/admin/accounts/{account_id}/keys")
            .route(web::post().to(admin_create_key))
            .default_service(sandbox_agent::http::method_not_allowed()),
    );
}

/// An account as the API shows it.
#[derive(Debug, Serialize)]
pub struct AccountView {
    pub id: Uuid,
    pub name: String,
    pub email: Option<String>,
    pub is_admin: bool,
    /// This account's own instance limit, if it has one.
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
#[derive(Debug, Serialize)]
pub struct KeyView {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
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
#[derive(Debug, Serialize)]
pub struct CreatedKey {
    #[serde(flatten)]
    pub view: KeyView,
    /// The key itself. Shown once; store it now.
    pub key: String,
}

/// Body of `POST /api/keys`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyRequest {
    /// A label to recognise the key by (default `api key`).
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

/// `GET /api/account`: the account this key belongs to.
async fn get_account(caller: Caller) -> HttpResponse {
    HttpResponse::Ok().json(AccountView::from(caller.account))
}

/// `GET /api/keys`: this account's keys (prefix, name, created, last used, revoked).
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

/// `POST /api/keys`: create a key for this account; the response shows it once.
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

/// `DELETE /api/keys/{key_id}`: revoke a key; it stops working at once.
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

/// Body of `POST /api/admin/accounts`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateAccountRequest {
    pub name: Option<String>,
    pub email: Option<String>,
    #[serde(default)]
    pub is_admin: bool,
    /// Instance limit for this account (default: the node's per-account quota).
    pub max_instances: Option<u32>,
}

/// `GET /api/admin/accounts` (admin): every account.
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

/// `POST /api/admin/accounts` (admin): create an account and its first key.
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
    Ok(HttpResponse::Created().json(serde_json::json!({
        "account": AccountView::from(account),
        "key": key,
    })))
}

/// `POST /api/admin/accounts/{account_id}/keys` (admin): create a key for any account.
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
