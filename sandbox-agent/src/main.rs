//! `sandbox-agent`: serve the workspace's files and exec to the orchestrator, and run the
//! sandbox's OpenClaw gateway.

use std::{fs, path::PathBuf};

use anyhow::{Context as _, bail};
use clap::Parser;
use sandbox_agent::{
    AgentConfig, Gateway, GatewaySettings, Listen, TOKEN_ENV,
    gateway::{self, SupervisorOptions},
    model_forward::ModelUpstream,
    protocol::{limits, sandbox},
};
use tracing_subscriber::EnvFilter;

/// The daemon inside every OpenClaw sandbox: files and command exec over HTTP, and the
/// supervised OpenClaw gateway with its model forwarder.
///
/// The token comes from `--token-file` (read, then deleted so code in the sandbox cannot read
/// it) or from the `OCAAS_AGENT_TOKEN` environment variable; never from the command line,
/// which every process in the sandbox can see.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// Where to listen: `unix:/path/to.sock` or `tcp:HOST:PORT`.
    #[arg(long, env = "OCAAS_AGENT_LISTEN")]
    listen: Listen,
    /// The directory the virtual path `/workspace` maps to.
    #[arg(long, env = "OCAAS_AGENT_WORKSPACE", default_value = "/workspace")]
    workspace: PathBuf,
    /// A file holding the token; deleted after reading.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// The OpenClaw installation (`<dir>/node/bin/node`,
    /// `<dir>/app/node_modules/openclaw/openclaw.mjs`). Without it the gateway is `disabled`.
    #[arg(long, env = "OCAAS_AGENT_OPENCLAW_DIR")]
    openclaw_dir: Option<PathBuf>,
    /// The agent's state directory: the gateway's config, sessions and logs go under
    /// `<dir>/openclaw`, its `HOME` is `<dir>/home`.
    #[arg(long, env = "OCAAS_AGENT_STATE_DIR", default_value = "/state")]
    state_dir: PathBuf,
    /// Where the model forwarder sends the gateway's model calls: `unix:/path/to.sock`, or
    /// `http://HOST:PORT` (the orchestrator's sandbox port on Kubernetes; needs
    /// `--model-token-file`).
    #[arg(long, env = "OCAAS_AGENT_MODEL_UPSTREAM", default_value_t = ModelUpstream::Unix(sandbox::MODEL_SOCKET.into()))]
    model_upstream: ModelUpstream,
    /// A file holding this sandbox's model token, sent with every model call to an `http://`
    /// upstream; deleted after reading.
    #[arg(long)]
    model_token_file: Option<PathBuf>,
    /// The gateway's port on 127.0.0.1.
    #[arg(long, env = "OCAAS_AGENT_GATEWAY_PORT", default_value_t = sandbox::GATEWAY_PORT)]
    gateway_port: u16,
    /// The model forwarder's port on 127.0.0.1 (the gateway's model provider).
    #[arg(long, env = "OCAAS_AGENT_MODEL_PORT", default_value_t = sandbox::MODEL_PORT)]
    model_port: u16,
    /// Seconds a terminal (`GET /pty`) whose connection dropped waits for a reattach before its
    /// processes are killed.
    #[arg(long, env = "OCAAS_AGENT_PTY_GRACE_SECS", default_value_t = limits::PTY_DEFAULT_GRACE_SECS)]
    pty_grace_secs: u64,
    /// Start the virtual desktop (Xvfb, window manager, x11vnc on loopback) with the agent
    /// instead of on the first `GET /vnc` or `POST /desktop`.
    #[arg(long, env = "OCAAS_AGENT_DESKTOP")]
    desktop: bool,
}

/// Read a token file and delete it, so code in the sandbox cannot read it later.
fn take_token_file(path: &PathBuf) -> anyhow::Result<String> {
    let raw = fs::read_to_string(path)
        .with_context(|| format!("reading the token file {}", path.display()))?;
    fs::remove_file(path).with_context(|| format!("deleting the token file {}", path.display()))?;
    Ok(raw.trim().to_owned())
}

fn read_token(token_file: Option<&PathBuf>) -> anyhow::Result<String> {
    let token = match token_file {
        Some(path) => take_token_file(path)?,
        None => std::env::var(TOKEN_ENV)
            .with_context(|| format!("no --token-file and no {TOKEN_ENV}"))?
            .trim()
            .to_owned(),
    };
    if token.is_empty() {
        bail!("the agent token is empty");
    }
    Ok(token)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_env("OCAAS_AGENT_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let mut cli = Cli::parse();
    let token = read_token(cli.token_file.as_ref())?;
    if let ModelUpstream::Http { token, .. } = &mut cli.model_upstream {
        let path = cli
            .model_token_file
            .as_ref()
            .context("an http:// --model-upstream needs --model-token-file")?;
        let model_token = take_token_file(path)?;
        if model_token.is_empty() {
            bail!("the model token is empty");
        }
        *token = Some(model_token);
    }
    // Model forwarder first (the gateway's provider), then the gateway in the background,
    // then the API, which serves `/health` at once.
    let launched = match &cli.openclaw_dir {
        Some(dir) => Some(
            gateway::launch(
                &GatewaySettings {
                    openclaw_dir: dir.clone(),
                    state_dir: cli.state_dir.clone(),
                    workspace: cli.workspace.clone(),
                    model_upstream: cli.model_upstream.clone(),
                    gateway_port: cli.gateway_port,
                    model_port: cli.model_port,
                },
                SupervisorOptions::default(),
            )
            .context("starting the OpenClaw gateway")?,
        ),
        None => {
            tracing::info!("no --openclaw-dir: the gateway is disabled");
            None
        }
    };
    let gateway = launched
        .as_ref()
        .map_or_else(Gateway::disabled, |l| l.gateway.clone());
    let config = AgentConfig::new(cli.workspace, token)
        .with_home(cli.state_dir.join("home"))
        .with_gateway(gateway)
        .with_pty_grace(std::time::Duration::from_secs(cli.pty_grace_secs))
        .with_desktop_at_start(cli.desktop);
    let result = sandbox_agent::run(&cli.listen, config).await;
    // `run` already stopped the gateway; this also covers a failed start of the API.
    if let Some(launched) = launched {
        launched.shutdown().await;
    }
    result.context("agent server failed")
}
