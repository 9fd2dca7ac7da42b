//! The sandbox-agent: the daemon inside every OpenClaw sandbox that serves the workspace's
//! files and command exec over HTTP to the orchestrator.
//!
//! - [`protocol`]: the wire contract shared with the orchestrator.
//! - [`http`]: error envelope and extractor plumbing (also used by the orchestrator).
//! - [`server`]: configuration, routes, token check, startup.

pub mod http;
pub mod protocol;
pub mod server;
mod services;

pub use server::{AgentConfig, AgentState, Listen, RunningAgent, TOKEN_ENV, run, start};
