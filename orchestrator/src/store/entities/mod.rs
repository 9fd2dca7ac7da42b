//! sea-orm entities, one per table (see `migrations/` for the schema).

pub mod account;
pub mod api_key;
pub mod instance;
pub mod instance_event;
