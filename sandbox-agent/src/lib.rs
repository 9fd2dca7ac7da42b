//! The sandbox-agent: the daemon inside every OpenClaw sandbox. It serves the workspace's files
//! and command exec over HTTP to the orchestrator, and runs and supervises the sandbox's
//! OpenClaw gateway.
//!
//! - [`protocol`]: the wire contract shared with the orchestrator.
//! - [`http`]: error envelope and extractor plumbing (also used by the orchestrator).
//! - [`server`]: configuration, routes, token check, startup and shutdown.
//! - [`gateway`]: the OpenClaw gateway: its config file, its supervisor ([`Gateway`]), and
//!   [`gateway::launch`], which starts it together with the model forwarder.
//! - [`pty`]: interactive terminals (`GET /pty`, a websocket) and their registry.
//! - [`desktop`]: the virtual desktop (Xvfb, openbox, xterm, x11vnc) and `GET /vnc`.
//! - [`model_forward`]: the gateway's model provider on loopback, forwarding every model call
//!   over a unix socket to the orchestrator (which holds the real provider and key).
//!
//! Start-up order (`main`): the model forwarder binds `127.0.0.1:<model port>`, `openclaw.json`
//! is written with a fresh gateway token, the gateway starts booting in the background, and
//! the HTTP API binds and serves (`/health` answers at once; the chat route answers `503` or
//! waits until the gateway is ready). On SIGTERM/SIGINT the API stops and the gateway's process
//! group is terminated (SIGKILL after 10 s) before the agent exits.

pub mod http;
pub mod protocol;
pub mod server;
mod services;

pub use server::{AgentConfig, AgentState, Listen, RunningAgent, TOKEN_ENV, run, start};
pub use services::desktop::Desktop;
pub use services::gateway::{Gateway, GatewaySettings, LaunchedGateway};
pub use services::pty::Terminals;
pub use services::{desktop, gateway, model_forward, pty};
