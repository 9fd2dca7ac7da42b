//! The orchestrator's integration tests: the real server in-process (see `helpers`).

mod accounts;
mod bundle;
mod chat;
mod helpers;
mod instances;
mod invites;
mod meta;
mod model_proxy;
mod openapi;
mod permissions;
mod replicas;
mod sessions;
mod sandboxing;
mod store;
