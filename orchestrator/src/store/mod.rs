//! The orchestrator's database (sea-orm; SQLite by default, PostgreSQL in production).
//!
//! **Invariant:** every query on a customer's data takes an [`Owner`], which only the
//! authentication extractor can make, so a cross-tenant read cannot be written by accident.
//! Queries that span owners (the reconciler, capacity) are named `*_all_owners`.

pub mod access;
pub mod activity;
pub mod chat;
pub mod entities;
pub mod lease;

use chrono::Utc;
use migrations::Migrator;
use migrations::sea_orm_migration::MigratorTrait;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectOptions, Database, DatabaseConnection, DbErr,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use uuid::Uuid;

use self::entities::{account, api_key, instance, instance_event};
use crate::settings::Secret;

/// The account a request acts for. Construct only from an authenticated key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner(Uuid);

impl Owner {
    /// Only for the authentication layer and the bootstrap/admin paths.
    pub(crate) fn from_authenticated(id: Uuid) -> Self {
        Owner(id)
    }
    pub fn id(&self) -> Uuid {
        self.0
    }
}

/// What a new instance starts with.
#[derive(Debug, Default)]
pub struct NewInstance {
    pub name: String,
    pub instructions: Option<String>,
    pub model_base_url: Option<String>,
    pub model_id: Option<String>,
    pub model_api_key_enc: Option<String>,
    pub desktop: bool,
    pub idle_timeout_s: Option<i64>,
}

/// Handle to the database.
#[derive(Clone)]
pub struct Store {
    pub(crate) db: DatabaseConnection,
}

impl Store {
    /// Connect and bring the schema up to date.
    pub async fn connect(url: &Secret) -> Result<Store, DbErr> {
        let mut opts = ConnectOptions::new(url.expose().to_owned());
        opts.sqlx_logging(false);
        if url.expose().starts_with("sqlite:") {
            // SQLite has one writer at a time, and a transaction that reads then writes
            // fails with SQLITE_BUSY (not a wait) when another writer got in between. One
            // connection serialises all statements instead: our transactions are short and
            // no connection is held across a relay, so this costs little on one node.
            opts.max_connections(1).map_sqlx_sqlite_opts(|o| {
                o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .busy_timeout(std::time::Duration::from_secs(5))
                    .foreign_keys(true)
            });
        } else {
            opts.max_connections(16);
        }
        let db = Database::connect(opts).await?;
        Migrator::up(&db, None).await?;
        Ok(Store { db })
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self.db.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => "postgres",
            sea_orm::DatabaseBackend::Sqlite => "sqlite",
            _ => "other",
        }
    }

    pub async fn ping(&self) -> Result<(), DbErr> {
        self.db.ping().await
    }

    // ---- accounts ----------------------------------------------------------------------

    pub async fn count_accounts(&self) -> Result<u64, DbErr> {
        account::Entity::find().count(&self.db).await
    }

    pub async fn create_account(
        &self,
        name: &str,
        email: Option<&str>,
        is_admin: bool,
        max_instances: Option<i32>,
    ) -> Result<account::Model, DbErr> {
        account::ActiveModel {
            id: Set(Uuid::new_v4()),
            name: Set(name.to_owned()),
            email: Set(email.map(str::to_owned)),
            is_admin: Set(is_admin),
            max_instances: Set(max_instances),
            created_at: Set(Utc::now()),
            password_hash: Set(None),
            invite_id: Set(None),
            stripe_customer_id: Set(None),
            subscription_id: Set(None),
            subscription_status: Set(None),
            subscription_max_instances: Set(None),
            subscription_event_at: Set(None),
        }
        .insert(&self.db)
        .await
    }

    pub async fn get_account(&self, owner: &Owner) -> Result<Option<account::Model>, DbErr> {
        account::Entity::find_by_id(owner.0).one(&self.db).await
    }

    /// Admin only: every account.
    pub async fn list_accounts_all_owners(&self) -> Result<Vec<account::Model>, DbErr> {
        account::Entity::find()
            .order_by_asc(account::Column::CreatedAt)
            .all(&self.db)
            .await
    }

    /// Admin only: one account by id.
    pub async fn get_account_all_owners(&self, id: Uuid) -> Result<Option<account::Model>, DbErr> {
        account::Entity::find_by_id(id).one(&self.db).await
    }

    // ---- API keys ----------------------------------------------------------------------

    pub async fn insert_key(
        &self,
        owner: &Owner,
        name: &str,
        prefix: &str,
        key_hash: &str,
        permissions: &str,
    ) -> Result<api_key::Model, DbErr> {
        api_key::ActiveModel {
            id: Set(Uuid::new_v4()),
            account_id: Set(owner.0),
            name: Set(name.to_owned()),
            prefix: Set(prefix.to_owned()),
            key_hash: Set(key_hash.to_owned()),
            created_at: Set(Utc::now()),
            last_used_at: Set(None),
            revoked_at: Set(None),
            permissions: Set(permissions.to_owned()),
        }
        .insert(&self.db)
        .await
    }

    /// The live key with this hash and its account (authentication).
    pub async fn find_key_by_hash(
        &self,
        key_hash: &str,
    ) -> Result<Option<(api_key::Model, account::Model)>, DbErr> {
        let Some(key) = api_key::Entity::find()
            .filter(api_key::Column::KeyHash.eq(key_hash))
            .filter(api_key::Column::RevokedAt.is_null())
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let acct = account::Entity::find_by_id(key.account_id)
            .one(&self.db)
            .await?;
        Ok(acct.map(|a| (key, a)))
    }

    pub async fn touch_key(&self, key_id: Uuid) -> Result<(), DbErr> {
        api_key::Entity::update_many()
            .col_expr(api_key::Column::LastUsedAt, Expr::value(Utc::now()))
            .filter(api_key::Column::Id.eq(key_id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    pub async fn list_keys(&self, owner: &Owner) -> Result<Vec<api_key::Model>, DbErr> {
        api_key::Entity::find()
            .filter(api_key::Column::AccountId.eq(owner.0))
            .order_by_asc(api_key::Column::CreatedAt)
            .all(&self.db)
            .await
    }

    /// Revoke one of the owner's keys; `false` when it has no such live key.
    pub async fn revoke_key(&self, owner: &Owner, key_id: Uuid) -> Result<bool, DbErr> {
        let res = api_key::Entity::update_many()
            .col_expr(api_key::Column::RevokedAt, Expr::value(Utc::now()))
            .filter(api_key::Column::Id.eq(key_id))
            .filter(api_key::Column::AccountId.eq(owner.0))
            .filter(api_key::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(res.rows_affected == 1)
    }

    // ---- instances ---------------------------------------------------------------------

    /// Insert a new instance in `status` with its first transition; `id` is a reserved one
    /// (a pooled sandbox was started for it), else a new one.
    pub async fn insert_instance(
        &self,
        owner: &Owner,
        id: Option<Uuid>,
        new: NewInstance,
        status: &str,
        reason: Option<&str>,
        sandbox_id: &str,
    ) -> Result<instance::Model, DbErr> {
        let now = Utc::now();
        let txn = self.db.begin().await?;
        let model = instance::ActiveModel {
            id: Set(id.unwrap_or_else(Uuid::new_v4)),
            account_id: Set(owner.0),
            name: Set(new.name),
            status: Set(status.to_owned()),
            status_reason: Set(reason.map(str::to_owned)),
            desired_state: Set("running".into()),
            sandbox_id: Set(Some(sandbox_id.to_owned())),
            created_at: Set(now),
            updated_at: Set(now),
            instructions_pending: Set(new.instructions.is_some()),
            instructions: Set(new.instructions),
            model_base_url: Set(new.model_base_url),
            model_id: Set(new.model_id),
            model_api_key_enc: Set(new.model_api_key_enc),
            tokens_in: Set(0),
            tokens_out: Set(0),
            desktop: Set(new.desktop),
            idle_timeout_s: Set(new.idle_timeout_s),
        }
        .insert(&txn)
        .await?;
        instance_event::ActiveModel {
            instance_id: Set(model.id),
            from_status: Set(None),
            to_status: Set(status.to_owned()),
            reason: Set(reason.map(str::to_owned)),
            at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        Ok(model)
    }

    /// One page of the owner's instances, oldest first (by creation, then id): at most
    /// `limit`, after the instance `after` (which must be the owner's; `Ok(None)` if not).
    pub async fn list_instances_page(
        &self,
        owner: &Owner,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<Option<Vec<instance::Model>>, DbErr> {
        let mut q = instance::Entity::find().filter(instance::Column::AccountId.eq(owner.0));
        if let Some(after) = after {
            let Some(cursor) = self.get_instance(owner, after).await? else {
                return Ok(None);
            };
            q = q.filter(
                sea_orm::Condition::any()
                    .add(instance::Column::CreatedAt.gt(cursor.created_at))
                    .add(
                        sea_orm::Condition::all()
                            .add(instance::Column::CreatedAt.eq(cursor.created_at))
                            .add(instance::Column::Id.gt(cursor.id)),
                    ),
            );
        }
        q.order_by_asc(instance::Column::CreatedAt)
            .order_by_asc(instance::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .map(Some)
    }

    pub async fn get_instance(
        &self,
        owner: &Owner,
        id: Uuid,
    ) -> Result<Option<instance::Model>, DbErr> {
        instance::Entity::find_by_id(id)
            .filter(instance::Column::AccountId.eq(owner.0))
            .one(&self.db)
            .await
    }

    pub async fn count_instances(&self, owner: &Owner) -> Result<u64, DbErr> {
        instance::Entity::find()
            .filter(instance::Column::AccountId.eq(owner.0))
            .count(&self.db)
            .await
    }

    /// Instances on this node that should be running (capacity accounting).
    pub async fn count_running_all_owners(&self) -> Result<u64, DbErr> {
        instance::Entity::find()
            .filter(instance::Column::DesiredState.eq(crate::instances::DESIRED_RUNNING))
            .count(&self.db)
            .await
    }

    /// Every instance (the reconciler).
    pub async fn list_instances_all_owners(&self) -> Result<Vec<instance::Model>, DbErr> {
        instance::Entity::find().all(&self.db).await
    }

    /// Every instance meant to be running, whoever owns it (the periodic supervision pass:
    /// sleeping and stopped ones, most of a large node, are not read).
    pub async fn list_running_instances_all_owners(&self) -> Result<Vec<instance::Model>, DbErr> {
        instance::Entity::find()
            .filter(instance::Column::DesiredState.eq(crate::instances::DESIRED_RUNNING))
            .all(&self.db)
            .await
    }

    /// One instance by id, whoever owns it (the lifecycle worker, after an owner-scoped
    /// lookup has already admitted the request).
    pub async fn get_instance_all_owners(
        &self,
        id: Uuid,
    ) -> Result<Option<instance::Model>, DbErr> {
        instance::Entity::find_by_id(id).one(&self.db).await
    }

    /// Move an instance to `to` and record the transition. `desired` and `sandbox_id` are
    /// updated when given. Returns the updated row, or `None` if the instance is gone.
    pub async fn transition(
        &self,
        id: Uuid,
        to: &str,
        reason: Option<&str>,
        desired: Option<&str>,
        sandbox_id: Option<&str>,
    ) -> Result<Option<instance::Model>, DbErr> {
        let txn = self.db.begin().await?;
        let Some(current) = instance::Entity::find_by_id(id).one(&txn).await? else {
            return Ok(None);
        };
        let now = Utc::now();
        let from = current.status.clone();
        let mut am: instance::ActiveModel = current.into();
        am.status = Set(to.to_owned());
        am.status_reason = Set(reason.map(str::to_owned));
        am.updated_at = Set(now);
        if let Some(d) = desired {
            am.desired_state = Set(d.to_owned());
        }
        if let Some(s) = sandbox_id {
            am.sandbox_id = Set(Some(s.to_owned()));
        }
        let updated = am.update(&txn).await?;
        instance_event::ActiveModel {
            instance_id: Set(id),
            from_status: Set(Some(from)),
            to_status: Set(to.to_owned()),
            reason: Set(reason.map(str::to_owned)),
            at: Set(now),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        txn.commit().await?;
        Ok(Some(updated))
    }

    /// An instance's transitions, oldest first (owner-scoped).
    pub async fn events(
        &self,
        owner: &Owner,
        id: Uuid,
    ) -> Result<Vec<instance_event::Model>, DbErr> {
        if self.get_instance(owner, id).await?.is_none() {
            return Ok(Vec::new());
        }
        instance_event::Entity::find()
            .filter(instance_event::Column::InstanceId.eq(id))
            .order_by_asc(instance_event::Column::Id)
            .all(&self.db)
            .await
    }

    /// Replace the instance's instructions and mark them for writing to `AGENTS.md`.
    pub async fn set_instructions(
        &self,
        owner: &Owner,
        id: Uuid,
        instructions: &str,
    ) -> Result<bool, DbErr> {
        let res = instance::Entity::update_many()
            .col_expr(instance::Column::Instructions, Expr::value(instructions))
            .col_expr(instance::Column::InstructionsPending, Expr::value(true))
            .col_expr(instance::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(instance::Column::Id.eq(id))
            .filter(instance::Column::AccountId.eq(owner.0))
            .exec(&self.db)
            .await?;
        Ok(res.rows_affected == 1)
    }

    /// Set an instance's own idle timeout (seconds; `0` = never sleep).
    pub async fn set_idle_timeout(
        &self,
        owner: &Owner,
        id: Uuid,
        seconds: i64,
    ) -> Result<bool, DbErr> {
        let res = instance::Entity::update_many()
            .col_expr(instance::Column::IdleTimeoutS, Expr::value(seconds))
            .col_expr(instance::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(instance::Column::Id.eq(id))
            .filter(instance::Column::AccountId.eq(owner.0))
            .exec(&self.db)
            .await?;
        Ok(res.rows_affected == 1)
    }

    /// The instructions were written to the workspace (only if they did not change since).
    pub async fn instructions_written_all_owners(
        &self,
        id: Uuid,
        instructions: &str,
    ) -> Result<(), DbErr> {
        instance::Entity::update_many()
            .col_expr(instance::Column::InstructionsPending, Expr::value(false))
            .filter(instance::Column::Id.eq(id))
            .filter(instance::Column::Instructions.eq(instructions))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Add model token usage to an instance (the model proxy, which knows the instance by the
    /// socket the call came through).
    pub async fn add_usage_all_owners(
        &self,
        id: Uuid,
        tokens_in: i64,
        tokens_out: i64,
    ) -> Result<(), DbErr> {
        instance::Entity::update_many()
            .col_expr(
                instance::Column::TokensIn,
                Expr::col(instance::Column::TokensIn).add(tokens_in),
            )
            .col_expr(
                instance::Column::TokensOut,
                Expr::col(instance::Column::TokensOut).add(tokens_out),
            )
            .filter(instance::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Delete an instance row and its events (owner-scoped).
    pub async fn delete_instance(&self, owner: &Owner, id: Uuid) -> Result<bool, DbErr> {
        let txn = self.db.begin().await?;
        let owned = instance::Entity::find_by_id(id)
            .filter(instance::Column::AccountId.eq(owner.0))
            .one(&txn)
            .await?;
        if owned.is_none() {
            return Ok(false);
        }
        chat::delete_for_instance(&txn, id).await?;
        instance_event::Entity::delete_many()
            .filter(instance_event::Column::InstanceId.eq(id))
            .exec(&txn)
            .await?;
        let res = instance::Entity::delete_many()
            .filter(instance::Column::Id.eq(id))
            .filter(instance::Column::AccountId.eq(owner.0))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(res.rows_affected == 1)
    }
}
