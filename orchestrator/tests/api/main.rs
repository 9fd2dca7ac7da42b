//! The orchestrator's integration tests: the real server in-process (see `helpers`).

mod accounts;
mod chat;
mod helpers;
mod instances;
mod meta;
mod model_proxy;
mod sandboxing;
mod store;
