//! The OpenClaw as a Service orchestrator: accounts and keys, instances, the runtimes that
//! host their sandboxes, and the relays to each sandbox's agent. See ARCHITECTURE.md.

pub mod agent_client;
pub mod api;
pub mod auth;
pub mod billing;
pub mod chat;
pub mod cli;
pub mod crypto;
pub mod error;
pub mod instances;
pub mod policy;
pub mod relay;
pub mod runtime;
pub mod scripted_model;
pub mod settings;
pub mod startup;
pub mod store;
pub mod sys;
pub mod telemetry;
pub mod ws_relay;
