//! `sandbox-agent`: serve the workspace's files and exec to the orchestrator.

use std::{fs, path::PathBuf};

use anyhow::{Context as _, bail};
use clap::Parser;
use sandbox_agent::{AgentConfig, Listen, TOKEN_ENV};
use tracing_subscriber::EnvFilter;

/// The daemon inside every OpenClaw sandbox: files and command exec over HTTP.
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
}

fn read_token(token_file: Option<&PathBuf>) -> anyhow::Result<String> {
    let token = match token_file {
        Some(path) => {
            let raw = fs::read_to_string(path)
                .with_context(|| format!("reading the token file {}", path.display()))?;
            fs::remove_file(path)
                .with_context(|| format!("deleting the token file {}", path.display()))?;
            raw.trim().to_owned()
        }
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
    let cli = Cli::parse();
    let token = read_token(cli.token_file.as_ref())?;
    let config = AgentConfig::new(cli.workspace, token);
    sandbox_agent::run(&cli.listen, config)
        .await
        .context("agent server failed")
}
