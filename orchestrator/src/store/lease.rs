//! Per-instance leases: the cross-replica half of an instance's lifecycle lock (the manager
//! holds an in-process mutex first, then one of these). A lease is a row naming its holder
//! and an expiry; taking one is a single upsert that succeeds only when the row is absent,
//! expired or already ours, so two replicas can never both hold it. The holder renews it while
//! it works (a Kubernetes start may take minutes) and deletes it when done; a replica that
//! dies lets it expire after [`LEASE_TTL`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use super::Store;
use super::entities::instance_lease;

/// How long a lease lasts without renewal.
pub const LEASE_TTL: Duration = Duration::from_secs(30);
/// How often a held lease is renewed.
const RENEW_EVERY: Duration = Duration::from_secs(10);
/// How often a waiting replica tries again.
const RETRY_EVERY: Duration = Duration::from_millis(100);

/// Now, as milliseconds since the Unix epoch (the clock leases and activity use).
pub fn epoch_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Store {
    /// Take the lease on `instance` for `holder`, `<replica>:<n>`, unless another replica
    /// holds an unexpired one. A lease of the same replica is taken over: the replica's own
    /// mutex already orders its work, and a released lease may not be deleted yet (release
    /// runs in the background). `true`: taken.
    pub async fn try_lease(
        &self,
        instance: Uuid,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, DbErr> {
        use instance_lease::Column;
        let expires = epoch_ms() + ttl.as_millis() as i64;
        let row = instance_lease::ActiveModel {
            instance_id: Set(instance),
            holder: Set(holder.to_owned()),
            expires_at_ms: Set(expires),
        };
        let replica = holder.split(':').next().unwrap_or(holder);
        let free = Expr::col((instance_lease::Entity, Column::ExpiresAtMs))
            .lt(epoch_ms())
            .or(Expr::col((instance_lease::Entity, Column::Holder)).like(format!("{replica}:%")));
        let res = instance_lease::Entity::insert(row)
            .on_conflict(
                OnConflict::column(Column::InstanceId)
                    .update_columns([Column::Holder, Column::ExpiresAtMs])
                    .action_and_where(free)
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await;
        match res {
            Ok(rows) => Ok(rows == 1),
            Err(DbErr::RecordNotInserted) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Extend `holder`'s lease; `false` if it is no longer theirs.
    pub async fn renew_lease(
        &self,
        instance: Uuid,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, DbErr> {
        use instance_lease::Column;
        let res = instance_lease::Entity::update_many()
            .col_expr(
                Column::ExpiresAtMs,
                Expr::value(epoch_ms() + ttl.as_millis() as i64),
            )
            .filter(Column::InstanceId.eq(instance))
            .filter(Column::Holder.eq(holder))
            .exec(&self.db)
            .await?;
        Ok(res.rows_affected == 1)
    }

    /// Give `holder`'s lease up (nothing if it is not theirs).
    pub async fn release_lease(&self, instance: Uuid, holder: &str) -> Result<(), DbErr> {
        use instance_lease::Column;
        instance_lease::Entity::delete_many()
            .filter(Column::InstanceId.eq(instance))
            .filter(Column::Holder.eq(holder))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Wait for the lease on `instance` and hold it for `replica` (renewed) until the guard
    /// drops. Call with the replica's own lock on the instance held. A database error is
    /// logged and the work goes ahead without a lease: the database being down fails that
    /// work soon enough, and a lifecycle call must never hang on it.
    pub async fn lease(&self, instance: Uuid, replica: &str) -> Option<InstanceLease> {
        let holder = format!("{replica}:{}", Uuid::new_v4());
        let mut waited = false;
        loop {
            match self.try_lease(instance, &holder, LEASE_TTL).await {
                Ok(true) => break,
                Ok(false) => {
                    if !waited {
                        tracing::debug!(instance_id = %instance, "waiting for another replica's work on the instance");
                        waited = true;
                    }
                    tokio::time::sleep(RETRY_EVERY).await;
                }
                Err(e) => {
                    tracing::warn!(instance_id = %instance, error = %e, "could not take the instance's lease; going ahead without it");
                    return None;
                }
            }
        }
        Some(self.held(instance, holder))
    }

    /// Take the lease on `instance` for `replica` if it is free now (see [`Store::try_lease`]),
    /// without waiting; held (renewed) until the guard drops.
    pub async fn try_hold(
        &self,
        instance: Uuid,
        replica: &str,
    ) -> Result<Option<InstanceLease>, DbErr> {
        let holder = format!("{replica}:{}", Uuid::new_v4());
        Ok(self
            .try_lease(instance, &holder, LEASE_TTL)
            .await?
            .then(|| self.held(instance, holder)))
    }

    /// The guard of a lease just taken: renews it until dropped.
    fn held(&self, instance: Uuid, holder: String) -> InstanceLease {
        let store = self.clone();
        let renewing = holder.clone();
        let lost = Arc::new(AtomicBool::new(false));
        let lost_flag = lost.clone();
        let renew = tokio::spawn(async move {
            loop {
                tokio::time::sleep(RENEW_EVERY).await;
                match store.renew_lease(instance, &renewing, LEASE_TTL).await {
                    Ok(true) => {}
                    Ok(false) => {
                        lost_flag.store(true, Ordering::Release);
                        tracing::warn!(instance_id = %instance, "lost the instance's lease (expired)");
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(instance_id = %instance, error = %e, "could not renew the instance's lease")
                    }
                }
            }
        });
        InstanceLease {
            store: self.clone(),
            instance,
            holder,
            renew: renew.abort_handle(),
            lost,
        }
    }
}

/// A held lease; dropping it stops the renewal and releases it.
pub struct InstanceLease {
    store: Store,
    instance: Uuid,
    holder: String,
    renew: tokio::task::AbortHandle,
    /// Set when a renewal found the lease another's (it had expired and was taken).
    lost: Arc<AtomicBool>,
}

impl InstanceLease {
    /// Whether the lease was found taken by another holder: the work it guarded may no longer
    /// be this holder's alone.
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::Acquire)
    }
}

impl Drop for InstanceLease {
    fn drop(&mut self) {
        self.renew.abort();
        let (store, instance, holder) = (
            self.store.clone(),
            self.instance,
            std::mem::take(&mut self.holder),
        );
        // Released in the background; if that cannot happen, the lease expires.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = store.release_lease(instance, &holder).await {
                    tracing::warn!(instance_id = %instance, error = %e, "could not release the instance's lease; it expires");
                }
            });
        }
    }
}
