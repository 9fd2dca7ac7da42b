//! Schema migrations for the orchestrator's store. They run on every start
//! (`Migrator::up`), on SQLite and PostgreSQL alike, so every statement here sticks to what both
//! support.

pub use sea_orm_migration;
use sea_orm_migration::prelude::*;

mod m20261123_000001_accounts_keys;
mod m20261123_000002_instances;
mod m20261123_000003_chat;
mod m20261123_000004_desktop;
mod m20261123_000005_idle_timeout;
mod m20261205_000010_chat_gateway_store;
mod m20261205_000101_access;
mod m20261205_000102_instance_leases;
mod m20261205_000103_instance_activity;

/// All migrations, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_accounts_keys::Migration),
            Box::new(m20261123_000002_instances::Migration),
            Box::new(m20261123_000003_chat::Migration),
            Box::new(m20261123_000004_desktop::Migration),
            Box::new(m20261123_000005_idle_timeout::Migration),
            Box::new(m20261205_000010_chat_gateway_store::Migration),
            Box::new(m20261205_000101_access::Migration),
            Box::new(m20261205_000102_instance_leases::Migration),
            Box::new(m20261205_000103_instance_activity::Migration),
        ]
    }
}
