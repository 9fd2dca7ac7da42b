//! API keys and the extractors that authenticate requests.
//!
//! Keys look like `ocaas_<40 base62 chars>`: random, shown once, stored only as a SHA-256 hash
//! (a fast hash is right here: the key carries ~238 bits of entropy, so there is nothing to
//! brute-force). The first 14 characters are kept visibly as the key's prefix.

pub mod password;
pub mod perm;
pub mod ratelimit;
pub mod session;

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use actix_web::http::Method;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use chrono::Utc;
use rand::Rng;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ErrorCode};
use crate::startup::AppState;
use crate::store::Owner;
use crate::store::entities::account;
use perm::RateClass;
pub use perm::{Perm, Permission, Perms};

const KEY_PREFIX: &str = "ocaas_";
const KEY_RANDOM_LEN: usize = 40;
const VISIBLE_LEN: usize = 14;
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A freshly minted key: the secret (shown once) and what is stored.
pub struct NewKey {
    pub secret: String,
    pub prefix: String,
    pub hash: String,
}

/// Mint a random key.
pub fn generate_key() -> NewKey {
    key_from_secret(&format!("{KEY_PREFIX}{}", random_token(KEY_RANDOM_LEN)))
}

/// The stored form of a given key (the bootstrap key may be any string).
pub fn key_from_secret(secret: &str) -> NewKey {
    let prefix = if secret.starts_with(KEY_PREFIX) && secret.len() > VISIBLE_LEN + 8 {
        secret[..VISIBLE_LEN].to_owned()
    } else {
        // A chosen key shows less of itself.
        let shown: String = secret.chars().take(4).collect();
        format!("{shown}…")
    };
    NewKey {
        secret: secret.to_owned(),
        prefix,
        hash: hash_key(secret),
    }
}

/// Hex SHA-256 of a key.
pub fn hash_key(secret: &str) -> String {
    crate::crypto::to_hex(&Sha256::digest(secret.as_bytes()))
}

/// How a request was authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// An API key (its id).
    Key(uuid::Uuid),
    /// The `/account` page's session cookie (the session's id).
    Session(uuid::Uuid),
}

/// An authenticated request: its account, and what it may do.
#[derive(Debug, Clone)]
pub struct Caller {
    pub owner: Owner,
    pub account: account::Model,
    /// The key's permissions (a session has all of them).
    pub perms: Perms,
    pub via: Via,
}

impl Caller {
    /// The rate-limit bucket owner: the key, or the session.
    fn rate_key(&self) -> String {
        match self.via {
            Via::Key(id) => format!("k{id}"),
            Via::Session(id) => format!("s{id}"),
        }
    }
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
        .filter(|t| !t.is_empty())
}

/// Random letters and digits.
pub fn random_token(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| BASE62[rng.random_range(0..BASE62.len())] as char)
        .collect()
}

/// Recently authenticated keys, so a busy client does not cost a database lookup per call.
/// Entries live [`KeyCache::TTL`]; revoking a key on this node drops its entry at once.
#[derive(Default)]
pub struct KeyCache {
    entries: std::sync::Mutex<std::collections::HashMap<String, (Caller, std::time::Instant)>>,
}

impl KeyCache {
    const TTL: std::time::Duration = std::time::Duration::from_secs(10);
    const MAX: usize = 10_000;

    fn get(&self, hash: &str) -> Option<Caller> {
        let entries = self.entries.lock().expect("key cache");
        let (caller, at) = entries.get(hash)?;
        (at.elapsed() < Self::TTL).then(|| caller.clone())
    }

    fn put(&self, hash: String, caller: Caller) {
        let mut entries = self.entries.lock().expect("key cache");
        if entries.len() >= Self::MAX {
            entries.clear();
        }
        entries.insert(hash, (caller, std::time::Instant::now()));
    }

    /// Forget a key (it was revoked).
    pub fn forget(&self, key_id: uuid::Uuid) {
        self.entries
            .lock()
            .expect("key cache")
            .retain(|_, (caller, _)| caller.via != Via::Key(key_id));
    }
}

fn app_state(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("app state missing")))
}

/// The caller of a bearer key, or `401`.
async fn authenticate_key(state: &AppState, secret: &str) -> Result<Caller, ApiError> {
    let hash = hash_key(secret);
    if let Some(caller) = state.keys.get(&hash) {
        return Ok(caller);
    }
    let Some((key, account)) = state.store.find_key_by_hash(&hash).await? else {
        return Err(ApiError::new(
            ErrorCode::Unauthorized,
            "invalid or revoked API key",
        ));
    };
    // Record use at most once a minute per key: a write on every request would be wasteful.
    let stale = key
        .last_used_at
        .is_none_or(|t| Utc::now() - t > chrono::Duration::seconds(60));
    if stale {
        let store = state.store.clone();
        tokio::spawn(async move {
            if let Err(e) = store.touch_key(key.id).await {
                tracing::warn!(error = %e, "could not record key use");
            }
        });
    }
    let caller = Caller {
        owner: Owner::from_authenticated(account.id),
        account,
        perms: Perms::from_stored(&key.permissions),
        via: Via::Key(key.id),
    };
    state.keys.put(hash, caller.clone());
    Ok(caller)
}

/// Authenticate for a route that demands `P`: a bearer key (or, where `P` allows, the session
/// cookie with its CSRF token), then the permission (`403`), then the rate limit (`429`).
async fn authorize<P: Permission>(req: &HttpRequest) -> Result<Caller, ApiError> {
    let state = app_state(req)?;
    let caller = if let Some(secret) = bearer(req) {
        authenticate_key(&state, &secret).await?
    } else if req.headers().contains_key("authorization") {
        return Err(ApiError::new(
            ErrorCode::Unauthorized,
            "unsupported Authorization scheme: send `Authorization: Bearer <key>`",
        ));
    } else if P::SESSION
        && let Some((s, caller)) = session::current(&state, req).await?
    {
        session::check_csrf(req, &s)?;
        caller
    } else {
        return Err(ApiError::new(
            ErrorCode::Unauthorized,
            "missing API key: send `Authorization: Bearer <key>`",
        ));
    };
    if let Some(needed) = P::NEEDS
        && !caller.perms.contains(needed)
    {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            format!("this key lacks the `{needed}` permission this route needs"),
        ));
    }
    if P::ADMIN_ACCOUNT && !caller.account.is_admin {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "this route needs an admin account",
        ));
    }
    let class = P::CLASS.unwrap_or(if matches!(*req.method(), Method::GET | Method::HEAD) {
        RateClass::Read
    } else {
        RateClass::Write
    });
    state.rate_limits.enforce(req, class, &caller.rate_key())?;
    Ok(caller)
}

/// An authenticated caller allowed what `P` demands (see [`perm`]). A handler taking one
/// cannot run for a caller without it.
#[derive(Debug, Clone)]
pub struct Authed<P: Permission> {
    caller: Caller,
    _needs: PhantomData<fn() -> P>,
}

impl<P: Permission> Authed<P> {
    pub fn into_caller(self) -> Caller {
        self.caller
    }
}

impl<P: Permission> std::ops::Deref for Authed<P> {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.caller
    }
}

impl<P: Permission> FromRequest for Authed<P> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            Ok(Authed {
                caller: authorize::<P>(&req).await?,
                _needs: PhantomData,
            })
        })
    }
}

/// What [`Cipher::derive`](crate::crypto::Cipher::derive) calls the key of websocket tokens.
const WS_TOKEN_PURPOSE: &str = "websocket token v1";

/// A token that opens the websockets (`terminal/ws`, `vnc/ws`) of one instance until it
/// expires, for browsers, which cannot set an `Authorization` header on a websocket. It is
/// sealed with a key derived from the service key (so it cannot be forged or read), names the
/// instance and its account, and is checked on every use: a token for another instance, an
/// expired one, or a forged one is `401`.
pub fn mint_ws_token(
    state: &AppState,
    owner: &Owner,
    instance: uuid::Uuid,
) -> (String, chrono::DateTime<Utc>) {
    let ttl = i64::try_from(state.settings.console.ws_token_ttl_s).unwrap_or(300);
    let expires = Utc::now() + chrono::Duration::seconds(ttl);
    let mut payload = Vec::with_capacity(40);
    payload.extend_from_slice(instance.as_bytes());
    payload.extend_from_slice(owner.id().as_bytes());
    payload.extend_from_slice(&expires.timestamp().to_be_bytes());
    let token = state.cipher.derive(WS_TOKEN_PURPOSE).seal(&payload);
    (token, expires)
}

/// The (instance, account) a token is good for, if it is genuine and unexpired.
fn open_ws_token(state: &AppState, token: &str) -> Option<(uuid::Uuid, uuid::Uuid)> {
    let payload = state.cipher.derive(WS_TOKEN_PURPOSE).open(token).ok()?;
    if payload.len() != 40 {
        return None;
    }
    let instance = uuid::Uuid::from_slice(&payload[..16]).ok()?;
    let account = uuid::Uuid::from_slice(&payload[16..32]).ok()?;
    let expires = i64::from_be_bytes(payload[32..40].try_into().ok()?);
    (Utc::now().timestamp() < expires).then_some((instance, account))
}

/// The caller of a websocket route: an API key with the `terminal` permission
/// (`Authorization: Bearer`, any of the account's instances) or a websocket token (`?token=`
/// from `vnc-url` or `ws-token`, which only `terminal` keys can mint; its instance only).
#[derive(Debug, Clone)]
pub struct WsCaller {
    pub owner: Owner,
    /// Set for a token: the only instance it opens.
    only: Option<uuid::Uuid>,
}

impl WsCaller {
    /// `401` unless this caller may open `instance`'s websockets (ownership is checked by the
    /// lookup that follows, scoped to [`WsCaller::owner`]).
    pub fn check(&self, instance: uuid::Uuid) -> Result<(), ApiError> {
        match self.only {
            Some(only) if only != instance => Err(ApiError::new(
                ErrorCode::Unauthorized,
                "this websocket token is for another instance",
            )),
            _ => Ok(()),
        }
    }
}

#[derive(serde::Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

impl FromRequest for WsCaller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            if req.headers().contains_key("authorization") {
                let caller = authorize::<perm::Terminal>(&req).await?;
                return Ok(WsCaller {
                    owner: caller.owner,
                    only: None,
                });
            }
            let token = web::Query::<TokenQuery>::from_query(req.query_string())
                .ok()
                .and_then(|q| q.into_inner().token);
            let Some(token) = token else {
                return Err(ApiError::new(
                    ErrorCode::Unauthorized,
                    "missing credentials: send `Authorization: Bearer <key>`, or `?token=` \
                     from GET /api/instances/{id}/vnc-url",
                ));
            };
            let state = app_state(&req)?;
            let (instance, account) = open_ws_token(&state, &token).ok_or_else(|| {
                ApiError::new(
                    ErrorCode::Unauthorized,
                    "invalid or expired websocket token: get a fresh one from vnc-url",
                )
            })?;
            Ok(WsCaller {
                owner: Owner::from_authenticated(account),
                only: Some(instance),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_prefixed_and_hashed() {
        let a = generate_key();
        let b = generate_key();
        assert_ne!(a.secret, b.secret);
        assert!(a.secret.starts_with("ocaas_"));
        assert_eq!(a.secret.len(), 6 + 40);
        assert!(a.secret.starts_with(&a.prefix));
        assert_eq!(a.hash, hash_key(&a.secret));
        assert!(!a.hash.contains(&a.secret));
        assert_eq!(a.hash.len(), 64);
    }

    #[test]
    fn chosen_keys_show_little() {
        let k = key_from_secret("my-bootstrap-secret");
        assert_eq!(k.prefix, "my-b…");
    }
}
