//! `orchestrator`: run the control plane. Settings come from defaults < `--config` file
//! (or `./ocaas.toml`) < `OCAAS_*` environment < these flags.

use std::path::PathBuf;

use clap::Parser;
use orchestrator::settings::Settings;
use orchestrator::startup::Application;

/// OpenClaw as a Service: the orchestrator.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// TOML settings file (default: ./ocaas.toml if it exists). Env: OCAAS_CONFIG.
    #[arg(long, env = "OCAAS_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Address to listen on (default 0.0.0.0:8080).
    #[arg(long)]
    listen: Option<String>,
    /// Database URL, sqlite://... or postgres://...
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Data directory (SQLite file, instance storage, sandbox state).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Run sandboxes WITHOUT bubblewrap. Development only: customers would share the host.
    #[arg(long)]
    insecure_no_sandbox: bool,
    /// Any other setting, as `key.path=value` (repeatable), e.g. `--set limits.ready_wait_s=60`.
    #[arg(long = "set", value_name = "KEY=VALUE", global = true)]
    set: Vec<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Operator commands on the configured database (accounts, keys, invite codes).
    #[command(subcommand)]
    Admin(orchestrator::cli::AdminCommand),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut overrides: Vec<(String, String)> = Vec::new();
    for kv in &cli.set {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--set expects KEY=VALUE, got `{kv}`"))?;
        overrides.push((k.trim().to_owned(), v.to_owned()));
    }
    if let Some(v) = cli.listen {
        overrides.push(("listen".into(), v));
    }
    if let Some(v) = cli.database_url {
        overrides.push(("database_url".into(), v));
    }
    if let Some(v) = cli.data_dir {
        overrides.push(("data_dir".into(), v.display().to_string()));
    }
    if cli.insecure_no_sandbox {
        overrides.push(("local.insecure_no_sandbox".into(), "true".into()));
    }
    let settings = Settings::load(cli.config.as_deref(), std::env::vars(), &overrides)?;
    if let Some(Command::Admin(cmd)) = cli.command {
        let out = orchestrator::cli::run(&settings, cmd, std::io::stdin().lock()).await?;
        println!("{out}");
        return Ok(());
    }
    orchestrator::telemetry::init(&settings);

    let app = Application::build(settings).await?;
    if let Some(key) = &app.bootstrap_key {
        // Shown once, on the terminal, outside the structured log.
        eprintln!(
            "\n  Admin API key (shown once, store it now):\n\n    {key}\n\n  Try: curl -H \"Authorization: Bearer {key}\" http://localhost:{}/api/instances\n",
            app.port()
        );
    }
    if app.scripted_model().is_some() {
        eprintln!(
            "  Model: SCRIPTED STAND-IN (no provider configured). Agent replies are scripted until you\n  set OCAAS_MODEL_BASE_URL, OCAAS_MODEL_API_KEY and OCAAS_MODEL_ID. Try a message like\n  \"run: ls -la\" to see the agent use its exec tool.\n"
        );
    }
    app.run_until_stopped().await?;
    Ok(())
}
