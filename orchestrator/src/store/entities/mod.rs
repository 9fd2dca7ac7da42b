//! sea-orm entities, one per table (see `migrations/` for the schema).

pub mod account;
pub mod api_key;
pub mod chat_message;
pub mod chat_session;
pub mod instance;
pub mod instance_activity;
pub mod instance_event;
pub mod instance_lease;
pub mod invite_code;
pub mod session;
pub mod stripe_event;
