//! The orchestrator's integration tests: the real server in-process (see `helpers`).

mod accounts;
mod helpers;
mod instances;
mod meta;
mod sandboxing;
mod store;
