//! When each instance was last in use, as any replica saw it: each replica records what it
//! saw every couple of seconds (`InstanceManager::spawn_activity_publisher`), and the replica
//! that would put an instance to sleep checks that nobody used it meanwhile.

use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{DbErr, EntityTrait, Set};
use uuid::Uuid;

use super::Store;
use super::entities::instance_activity;

impl Store {
    /// Record that `instance` was in use at `at_ms` (kept if later than what is there).
    pub async fn record_activity(&self, instance: Uuid, at_ms: i64) -> Result<(), DbErr> {
        use instance_activity::Column;
        let row = instance_activity::ActiveModel {
            instance_id: Set(instance),
            last_active_ms: Set(at_ms),
        };
        let res = instance_activity::Entity::insert(row)
            .on_conflict(
                OnConflict::column(Column::InstanceId)
                    .update_column(Column::LastActiveMs)
                    .action_and_where(
                        Expr::col((instance_activity::Entity, Column::LastActiveMs)).lt(at_ms),
                    )
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await;
        match res {
            Ok(_) | Err(DbErr::RecordNotInserted) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// When `instance` was last in use by any replica's account (ms since the epoch).
    pub async fn last_activity(&self, instance: Uuid) -> Result<Option<i64>, DbErr> {
        Ok(instance_activity::Entity::find_by_id(instance)
            .one(&self.db)
            .await?
            .map(|m| m.last_active_ms))
    }

    pub async fn forget_activity(&self, instance: Uuid) -> Result<(), DbErr> {
        instance_activity::Entity::delete_by_id(instance)
            .exec(&self.db)
            .await?;
        Ok(())
    }
}
