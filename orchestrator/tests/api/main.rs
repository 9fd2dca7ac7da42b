//! The orchestrator's integration tests: the real server in-process (see `helpers`).
#![recursion_limit = "256"]

mod accounts;
mod billing;
mod bundle;
mod chat;
mod helpers;
mod instances;
mod invites;
mod meta;
mod model_proxy;
mod rate_limits;
mod openapi;
mod permissions;
mod replicas;
mod sessions;
mod sandboxing;
mod store;
mod stripe_stand_in;
