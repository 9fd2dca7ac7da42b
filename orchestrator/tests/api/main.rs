//! The orchestrator's integration tests: the real server in-process (see `helpers`).
#![recursion_limit = "256"]

mod accounts;
mod billing;
mod bundle;
mod chat;
mod helpers;
mod instances;
mod invites;
mod leases;
mod meta;
mod model_proxy;
mod openapi;
mod permissions;
mod pool;
mod rate_limits;
mod replicas;
mod sandboxing;
mod sessions;
mod store;
mod stripe_stand_in;
