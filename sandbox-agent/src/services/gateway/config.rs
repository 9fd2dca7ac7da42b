//! The OpenClaw configuration file the agent writes before starting the gateway.
//!
//! Everything in it comes from the measurements in `OPENCLAW.md`: the settings that keep the
//! gateway offline (no catalogue refresh, no heartbeat, no update check, no "dreaming" job),
//! the OpenAI-compatible endpoint switched on, token auth, loopback only, and one model
//! provider: the agent's own model forwarder. The gateway never sees a real model key.

use std::{
    fmt, fs,
    io::{self, Write as _},
    os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _},
    path::{Path, PathBuf},
};

use serde_json::{Value, json};

use crate::protocol::sandbox;

/// The placeholder API key the gateway sends to the model forwarder. The orchestrator replaces
/// it with the tenant's real key, so it never enters the sandbox.
pub const PLACEHOLDER_API_KEY: &str = "sandbox-local";

/// The per-agent gateway token: 32 random bytes, hex. Generated at agent start, kept in memory
/// and in the config file only. `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct GatewayToken(String);

impl GatewayToken {
    /// A fresh random token (64 hex digits).
    pub fn generate() -> Self {
        let bytes: [u8; 32] = rand::random();
        GatewayToken(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// A given token (tests, or a fixed token for a fake gateway).
    pub fn from_string(token: impl Into<String>) -> Self {
        GatewayToken(token.into())
    }

    /// The token itself, for the `Authorization` header and the config file.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for GatewayToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GatewayToken(<redacted>)")
    }
}

/// The files and directories of one gateway under the agent's state directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateLayout {
    /// `<state>/openclaw`: `OPENCLAW_STATE_DIR` (sessions, transcripts, SQLite).
    pub openclaw_dir: PathBuf,
    /// `<state>/openclaw/openclaw.json`: `OPENCLAW_CONFIG_PATH`.
    pub config_file: PathBuf,
    /// `<state>/openclaw/openclaw.log`: the gateway's own log (`logging.file`).
    pub log_file: PathBuf,
    /// `<state>/openclaw/gateway.out`: the gateway's stdout and stderr.
    pub output_file: PathBuf,
    /// `<state>/home`: the gateway's `HOME`.
    pub home: PathBuf,
}

impl StateLayout {
    /// The layout under `state_dir`.
    pub fn new(state_dir: &Path) -> Self {
        let openclaw_dir = state_dir.join("openclaw");
        StateLayout {
            config_file: openclaw_dir.join("openclaw.json"),
            log_file: openclaw_dir.join("openclaw.log"),
            output_file: openclaw_dir.join("gateway.out"),
            home: state_dir.join("home"),
            openclaw_dir,
        }
    }

    /// The id of this state directory's session store (`<state>/openclaw/ocaas-store-id`),
    /// created on first use: a new directory gets a new id, a reused one keeps its id.
    pub fn store_id(&self) -> io::Result<String> {
        let path = self.openclaw_dir.join("ocaas-store-id");
        match fs::read_to_string(&path) {
            Ok(id) if !id.trim().is_empty() => return Ok(id.trim().to_owned()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let bytes: [u8; 16] = rand::random();
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let tmp = path.with_extension("tmp");
        fs::write(&tmp, &id)?;
        fs::rename(&tmp, &path)?;
        Ok(id)
    }

    /// Create the directories (mode 0700; existing ones are left as they are).
    pub fn create_dirs(&self) -> io::Result<()> {
        for dir in [&self.openclaw_dir, &self.home] {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
        Ok(())
    }
}

/// What goes into `openclaw.json`.
#[derive(Debug, Clone)]
pub struct OpenClawConfig {
    /// `gateway.port`.
    pub gateway_port: u16,
    /// The model forwarder's port; the provider's `baseUrl` is `http://127.0.0.1:<port>/v1`.
    pub model_port: u16,
    /// `gateway.auth.token`.
    pub token: GatewayToken,
    /// `agents.defaults.workspace`: the directory the gateway's tools work in.
    pub workspace: PathBuf,
    /// `logging.file`.
    pub log_file: PathBuf,
}

impl OpenClawConfig {
    /// The config as JSON.
    pub fn to_json(&self) -> Value {
        let provider = sandbox::PROVIDER_ID;
        let model = sandbox::MODEL_ID;
        json!({
            "gateway": {
                "mode": "local",
                "port": self.gateway_port,
                "bind": "loopback",
                "auth": {"mode": "token", "token": self.token.expose()},
                "http": {"endpoints": {"chatCompletions": {"enabled": true}}},
            },
            "models": {
                "catalogRefresh": {"enabled": false},
                "providers": {
                    provider: {
                        "baseUrl": format!("http://127.0.0.1:{}/v1", self.model_port),
                        "api": "openai-completions",
                        "apiKey": PLACEHOLDER_API_KEY,
                        "models": [{"id": model, "name": model}],
                    },
                },
            },
            "agents": {
                "defaults": {
                    "workspace": self.workspace.to_string_lossy(),
                    "skipBootstrap": true,
                    "heartbeat": {"every": "0m"},
                    "model": {"primary": format!("{provider}/{model}")},
                },
            },
            "update": {"checkOnStart": false},
            "plugins": {
                "entries": {"memory-core": {"config": {"dreaming": {"enabled": false}}}},
            },
            "logging": {"file": self.log_file.to_string_lossy()},
        })
    }

    /// Write the config to `path` with mode 0600, replacing the file atomically (a temporary
    /// file next to it, then a rename), so a gateway watching the file never reads half of it.
    pub fn write(&self, path: &Path) -> io::Result<()> {
        let mut text = serde_json::to_string_pretty(&self.to_json()).map_err(io::Error::other)?;
        text.push('\n');
        let tmp = path.with_extension("json.tmp");
        let _ = fs::remove_file(&tmp);
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn config() -> OpenClawConfig {
        OpenClawConfig {
            gateway_port: 18789,
            model_port: 18790,
            token: GatewayToken::from_string("t0k"),
            workspace: "/workspace".into(),
            log_file: "/state/openclaw/openclaw.log".into(),
        }
    }

    #[test]
    fn json_is_exactly_the_offline_config() {
        let expected = json!({
            "gateway": {
                "mode": "local",
                "port": 18789,
                "bind": "loopback",
                "auth": {"mode": "token", "token": "t0k"},
                "http": {"endpoints": {"chatCompletions": {"enabled": true}}},
            },
            "models": {
                "catalogRefresh": {"enabled": false},
                "providers": {
                    "ocaas": {
                        "baseUrl": "http://127.0.0.1:18790/v1",
                        "api": "openai-completions",
                        "apiKey": "sandbox-local",
                        "models": [{"id": "default", "name": "default"}],
                    },
                },
            },
            "agents": {
                "defaults": {
                    "workspace": "/workspace",
                    "skipBootstrap": true,
                    "heartbeat": {"every": "0m"},
                    "model": {"primary": "ocaas/default"},
                },
            },
            "update": {"checkOnStart": false},
            "plugins": {"entries": {"memory-core": {"config": {"dreaming": {"enabled": false}}}}},
            "logging": {"file": "/state/openclaw/openclaw.log"},
        });
        assert_eq!(config().to_json(), expected);
    }

    #[test]
    fn written_file_is_private_and_parses() {
        let dir = tempfile::tempdir().unwrap();
        let layout = StateLayout::new(dir.path());
        layout.create_dirs().unwrap();
        config().write(&layout.config_file).unwrap();
        // A second write replaces the first.
        config().write(&layout.config_file).unwrap();
        let meta = fs::metadata(&layout.config_file).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let back: Value = serde_json::from_slice(&fs::read(&layout.config_file).unwrap()).unwrap();
        assert_eq!(back, config().to_json());
        let dir_mode = fs::metadata(&layout.openclaw_dir)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700);
    }

    #[test]
    fn tokens_are_random_hex_and_redacted() {
        let (a, b) = (GatewayToken::generate(), GatewayToken::generate());
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 64);
        assert!(a.expose().bytes().all(|c| c.is_ascii_hexdigit()));
        assert!(!format!("{a:?}").contains(a.expose()));
    }

    #[test]
    fn a_state_directory_keeps_its_store_id_and_a_new_one_gets_another() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (la, lb) = (StateLayout::new(a.path()), StateLayout::new(b.path()));
        la.create_dirs().unwrap();
        lb.create_dirs().unwrap();
        let first = la.store_id().unwrap();
        assert_eq!(first.len(), 32);
        assert_eq!(la.store_id().unwrap(), first, "same directory, same store");
        assert_ne!(
            lb.store_id().unwrap(),
            first,
            "a fresh directory is a new store"
        );
    }
}
