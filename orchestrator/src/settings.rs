//! Typed settings, layered: built-in defaults < TOML file < `OCAAS_*` environment < CLI flags.
//!
//! Nested keys use `__` in the environment: `OCAAS_LOCAL__MEMORY_LIMIT_MB=4096` sets
//! `local.memory_limit_mb`. Secrets are wrapped in [`Secret`] so they never print.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};
use toml::{Table, Value};

/// A value that must never appear in logs, responses or error messages.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself. Call only where it is used, never to print it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Accept any scalar: an environment value such as `12345` parses as a number first.
        let v = Value::deserialize(d)?;
        match v {
            Value::String(s) => Ok(Secret(s)),
            Value::Integer(i) => Ok(Secret(i.to_string())),
            Value::Float(f) => Ok(Secret(f.to_string())),
            Value::Boolean(b) => Ok(Secret(b.to_string())),
            other => Err(serde::de::Error::custom(format!(
                "expected a string secret, found {}",
                other.type_str()
            ))),
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

/// Which runtime hosts the sandboxes.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    Local,
    /// One pod per sandbox in a Kubernetes namespace (`runtime::kubernetes`).
    Kubernetes,
}

/// All orchestrator settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Address to listen on.
    pub listen: String,
    /// Where the SQLite database, instance storage and sandbox run state live.
    pub data_dir: PathBuf,
    /// `sqlite://...` or `postgres://...`; default: `sqlite://<data_dir>/ocaas.db`.
    pub database_url: Option<Secret>,
    /// Use this value as the admin key created on first start (instead of a random one).
    pub bootstrap_api_key: Option<Secret>,
    pub log_format: LogFormat,
    /// `tracing` filter, e.g. `info,orchestrator=debug`.
    pub log_level: String,
    /// Seconds to let in-flight requests finish on shutdown.
    pub shutdown_timeout_s: u64,
    pub runtime: RuntimeKind,
    pub local: LocalSettings,
    pub kubernetes: KubernetesSettings,
    pub limits: Limits,
    /// 64 hex digits encrypting tenant secrets at rest; default: `<data_dir>/secret.key`.
    pub secret_key: Option<Secret>,
    pub model: ModelSettings,
    pub chat: ChatSettings,
    pub console: ConsoleSettings,
    pub pool: PoolSettings,
    pub accounts: AccountsSettings,
    pub access: AccessSettings,
    pub billing: BillingSettings,
    pub rate_limits: RateLimitSettings,
}

/// Self-service accounts (the `/account` page).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AccountsSettings {
    /// Anyone may sign up with an email and a password; `false`: only operators create
    /// accounts (`orchestrator admin create-account`, `POST /api/admin/accounts`).
    pub sign_up: bool,
    /// How long a sign-in lasts, hours.
    pub session_ttl_h: u64,
}

impl Default for AccountsSettings {
    fn default() -> Self {
        AccountsSettings {
            sign_up: true,
            session_ttl_h: 24 * 7,
        }
    }
}

/// Who may create instances (`policy.rs`). Admin accounts are never gated; the per-account
/// quota applies to everyone.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Gate {
    /// Any account, within its quota (the default: `make run` works out of the box).
    #[default]
    Open,
    /// An active subscription, or an invite code (seed 001's rule).
    InviteOrSubscription,
    /// An active subscription only.
    Subscription,
}

impl Gate {
    pub fn as_str(self) -> &'static str {
        match self {
            Gate::Open => "open",
            Gate::InviteOrSubscription => "invite_or_subscription",
            Gate::Subscription => "subscription",
        }
    }
}

/// The gate.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct AccessSettings {
    pub gate: Gate,
}

/// Stripe subscriptions. Billing is on when `stripe_secret_key`, `price_id` and
/// `webhook_secret` are all set.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct BillingSettings {
    /// Stripe's API origin (tests point it at the local Stripe stand-in).
    pub stripe_api_base: String,
    /// `sk_live_...` / `sk_test_...` (or a restricted key allowed to create Checkout Sessions).
    pub stripe_secret_key: Option<Secret>,
    /// The recurring price (`price_...`) a checkout subscribes to.
    pub price_id: Option<String>,
    /// The webhook endpoint's signing secret (`whsec_...`).
    pub webhook_secret: Option<Secret>,
    /// Where Stripe sends the customer after paying; default `<origin>/account?checkout=success`.
    pub success_url: Option<String>,
    /// Where Stripe sends a customer who cancels; default `<origin>/account?checkout=cancel`.
    pub cancel_url: Option<String>,
    /// Instances a subscription allows when its price has no `max_instances` metadata;
    /// default: `limits.max_instances_per_account`.
    pub plan_max_instances: Option<u64>,
    /// How old a webhook's signed timestamp may be, seconds (Stripe's libraries use 300).
    pub webhook_tolerance_s: u64,
}

impl Default for BillingSettings {
    fn default() -> Self {
        BillingSettings {
            stripe_api_base: "https://api.stripe.com/".into(),
            stripe_secret_key: None,
            price_id: None,
            webhook_secret: None,
            success_url: None,
            cancel_url: None,
            plan_max_instances: None,
            webhook_tolerance_s: 300,
        }
    }
}

impl BillingSettings {
    pub fn enabled(&self) -> bool {
        self.stripe_secret_key.is_some() && self.price_id.is_some() && self.webhook_secret.is_some()
    }
}

/// Calls per minute per key (seed 003), by kind of route; `0` = unlimited.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct RateLimitSettings {
    /// Chat routes (`.../chat...`).
    pub chat_per_min: u32,
    /// Other `GET` routes.
    pub read_per_min: u32,
    /// Other routes (creates, changes, file writes, exec...).
    pub write_per_min: u32,
    /// Sign-up and sign-in attempts per client address.
    pub sign_in_per_min: u32,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings {
            chat_per_min: 100,
            read_per_min: 1000,
            write_per_min: 600,
            sign_in_per_min: 20,
        }
    }
}

/// The warm pool: sandboxes started before anyone needs them, with the OpenClaw gateway booted
/// and its slow first turn done, so that a create or a wake hands one over at once instead of
/// waiting ~20 s for a boot. Each costs an idle gateway's memory (~1 GB) and counts against
/// `limits.max_running_instances`. Local: any create or wake claims one. Kubernetes: each
/// replica keeps this many pods, each started for a reserved instance id with that id's fresh
/// volume; only creates claim them (a pod cannot mount an existing instance's volume later).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct PoolSettings {
    /// Warm sandboxes to keep ready; `0` turns the pool off.
    pub size: usize,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings { size: 2 }
    }
}

/// The web console and the browser-facing websocket tokens.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ConsoleSettings {
    /// The directory served at `/console` (its `console/`) and `/vendor` (its `vendor/`);
    /// default: `web-static` in the working directory, else next to the binary's checkout.
    pub static_dir: Option<PathBuf>,
    /// How long a websocket token from `vnc-url` is accepted, seconds.
    pub ws_token_ttl_s: u64,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        ConsoleSettings {
            static_dir: None,
            ws_token_ttl_s: 300,
        }
    }
}

/// The default model provider (OpenAI-compatible). With no `base_url`, the service starts its
/// scripted stand-in model server on loopback and says so at start-up.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct ModelSettings {
    /// e.g. `https://api.openai.com/v1` (the part before `/chat/completions`).
    pub base_url: Option<String>,
    pub api_key: Option<Secret>,
    /// The provider's model id, e.g. `gpt-4.1-mini`.
    pub model_id: Option<String>,
    /// Let tenants point BYOK providers at loopback/private addresses. Off by default: the
    /// orchestrator would otherwise make requests into its own network for them.
    pub allow_private_base_urls: bool,
}

/// Chat behaviour.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ChatSettings {
    /// A turn that takes longer is failed (and the client told), seconds.
    pub turn_timeout_s: u64,
    /// How long a turn waits for a booting gateway, seconds.
    pub gateway_wait_s: u64,
}

impl Default for ChatSettings {
    fn default() -> Self {
        ChatSettings {
            turn_timeout_s: 300,
            gateway_wait_s: 180,
        }
    }
}

/// Settings of the local (bubblewrap) runtime.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct LocalSettings {
    /// The sandbox-agent binary; default: `sandbox-agent` next to the orchestrator binary.
    pub sandbox_agent_bin: Option<PathBuf>,
    /// The bubblewrap binary.
    pub bwrap: PathBuf,
    /// Run sandboxes without bubblewrap. Customers would share the host: development only.
    pub insecure_no_sandbox: bool,
    /// Host uid/gid sandboxes run as when the orchestrator runs as root.
    pub sandbox_uid: u32,
    pub sandbox_gid: u32,
    /// Memory limit per sandbox (cgroup), MiB.
    pub memory_limit_mb: u64,
    /// Process limit per sandbox (cgroup).
    pub pids_limit: u64,
    /// CPU limit per sandbox in milli-cores (cgroup); 0 = unlimited.
    pub cpu_millis: u64,
    /// Size of the sandbox's private `/tmp`, MiB.
    pub tmp_size_mb: u64,
    /// Seconds to wait for a new sandbox's agent to answer `/health`.
    pub start_timeout_s: u64,
    /// Leave sandboxes running when the orchestrator stops; the next start re-adopts them.
    pub keep_sandboxes_on_shutdown: bool,
    /// Where `scripts/install-openclaw.sh` put Node and OpenClaw; bound read-only into every
    /// sandbox. Without it sandboxes run no agent gateway (chat is unavailable).
    pub openclaw_dir: Option<PathBuf>,
}

/// Settings of the Kubernetes runtime (`runtime = "kubernetes"`). The Helm chart sets them
/// (`charts/ocaas`); every one is an `OCAAS_KUBERNETES__*` variable.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct KubernetesSettings {
    /// A kubeconfig file; default: the pod's service account, else `$KUBECONFIG` or
    /// `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    /// The namespace sandboxes (pods, volumes, secrets, network policies) are created in.
    pub namespace: String,
    /// The sandbox image: `sandbox-agent` + Node + OpenClaw + the desktop (`images/sandbox`).
    pub image: String,
    /// `Always`, `IfNotPresent` or `Never`.
    pub image_pull_policy: String,
    /// Comma-separated names of image pull secrets in the sandbox namespace.
    pub image_pull_secrets: String,
    /// A RuntimeClass for sandbox pods (e.g. `gvisor`, `kata`); empty: the cluster's default.
    pub runtime_class: String,
    /// Comma-separated `key=value` node labels sandbox pods must run on; empty: any node.
    pub node_selector: String,
    /// The port the sandbox-agent listens on in its pod.
    pub agent_port: u16,
    /// Where the orchestrator serves sandboxes' model calls (token-authenticated; never expose
    /// it outside the cluster).
    pub sandbox_listen: String,
    /// How sandboxes reach `sandbox_listen`: `http://<service>.<namespace>.svc:<port>`.
    pub model_upstream_url: String,
    /// The orchestrator's namespace (for the sandboxes' network policy); default: the pod's own
    /// namespace, else `namespace`.
    pub orchestrator_namespace: Option<String>,
    /// `key=value,...` labels of orchestrator pods: the only pods a sandbox accepts connections
    /// from and sends its model calls to.
    pub orchestrator_pod_selector: String,
    /// `key=value,...` labels of the cluster DNS pods (any namespace) sandboxes may query;
    /// empty: no DNS (then `model_upstream_url` must use an IP address).
    pub dns_pod_selector: String,
    /// `orchestrator`: sandboxes reach only the orchestrator (and DNS). `internet`: also public
    /// addresses (never private ranges, link-local or cloud metadata).
    pub egress: EgressPolicy,
    /// Size of each instance's volume (workspace + agent state).
    #[serde(deserialize_with = "quantity")]
    pub storage_size: String,
    /// StorageClass of instance volumes; empty: the cluster's default.
    pub storage_class: String,
    /// Sandbox container resources (Kubernetes quantities such as `500m`, `2`, `4Gi`); empty:
    /// not set.
    #[serde(deserialize_with = "quantity")]
    pub cpu_request: String,
    #[serde(deserialize_with = "quantity")]
    pub cpu_limit: String,
    #[serde(deserialize_with = "quantity")]
    pub memory_request: String,
    #[serde(deserialize_with = "quantity")]
    pub memory_limit: String,
    /// Size limit of the sandbox's `/tmp`, MiB.
    pub tmp_size_mb: u64,
    /// uid/gid the sandbox runs as (the image's `sandbox` user).
    pub sandbox_uid: i64,
    /// Node + OpenClaw in the image; empty: no gateway (chat is unavailable).
    pub openclaw_dir: String,
    /// Seconds a new sandbox may take to become ready (image pull, volume attach, agent).
    pub start_timeout_s: u64,
    /// The most a wake copies into a warm-pool pod, MiB (the workspace and home; ~400 MB/s,
    /// `make bench`). A sleeping instance with more wakes cold instead, which is then faster;
    /// the warm pod stays in the pool. `0`: wakes never take a warm pod (creates still do).
    pub warm_wake_max_mb: u64,
    /// The pod's termination grace period, seconds; then it is deleted forcibly.
    pub stop_grace_s: u64,
    /// After Kubernetes reports the pod ready, also check that the orchestrator itself reaches
    /// the agent with its token. Only tests without a kubelet turn this off.
    pub check_agent: bool,
}

/// A Kubernetes quantity: `OCAAS_KUBERNETES__CPU_LIMIT=2` arrives as a number.
fn quantity<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Integer(i) => Ok(i.to_string()),
        Value::Float(f) => Ok(f.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "expected a quantity such as \"500m\" or \"2Gi\", found {}",
            other.type_str()
        ))),
    }
}

/// What a sandbox may reach on the network (Kubernetes runtime).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum EgressPolicy {
    Orchestrator,
    Internet,
}

impl Default for KubernetesSettings {
    fn default() -> Self {
        KubernetesSettings {
            kubeconfig: None,
            namespace: "ocaas-sandboxes".into(),
            image: "ghcr.io/openclaw-as-a-service/sandbox:0.1.0".into(),
            image_pull_policy: "IfNotPresent".into(),
            image_pull_secrets: String::new(),
            runtime_class: String::new(),
            node_selector: String::new(),
            agent_port: 8090,
            sandbox_listen: "0.0.0.0:8081".into(),
            model_upstream_url: "http://ocaas.ocaas.svc:8081".into(),
            orchestrator_namespace: None,
            orchestrator_pod_selector:
                "app.kubernetes.io/name=ocaas,app.kubernetes.io/component=orchestrator".into(),
            dns_pod_selector: "k8s-app=kube-dns".into(),
            egress: EgressPolicy::Orchestrator,
            storage_size: "10Gi".into(),
            storage_class: String::new(),
            cpu_request: "250m".into(),
            cpu_limit: "2".into(),
            memory_request: "1Gi".into(),
            memory_limit: "2Gi".into(),
            tmp_size_mb: 256,
            sandbox_uid: 10001,
            openclaw_dir: "/opt/openclaw".into(),
            start_timeout_s: 300,
            warm_wake_max_mb: 4096,
            stop_grace_s: 30,
            check_agent: true,
        }
    }
}

/// Quotas and capacity.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Running instances this node holds at once; beyond it creates and starts get `503`.
    pub max_running_instances: u64,
    /// Instances one account may own (unless the account has its own limit).
    pub max_instances_per_account: u64,
    /// How long a relayed call waits for a starting instance to become ready, seconds.
    pub ready_wait_s: u64,
    /// An instance with nothing in flight for this long goes to sleep (no process remains;
    /// any call wakes it), seconds; `0` = never. Instances may override it.
    pub idle_timeout_s: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: "0.0.0.0:8080".into(),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            bootstrap_api_key: None,
            log_format: LogFormat::Json,
            log_level: "info".into(),
            shutdown_timeout_s: 30,
            runtime: RuntimeKind::Local,
            local: LocalSettings::default(),
            kubernetes: KubernetesSettings::default(),
            limits: Limits::default(),
            secret_key: None,
            model: ModelSettings::default(),
            chat: ChatSettings::default(),
            console: ConsoleSettings::default(),
            pool: PoolSettings::default(),
            accounts: AccountsSettings::default(),
            access: AccessSettings::default(),
            billing: BillingSettings::default(),
            rate_limits: RateLimitSettings::default(),
        }
    }
}

impl Default for LocalSettings {
    fn default() -> Self {
        LocalSettings {
            sandbox_agent_bin: None,
            bwrap: PathBuf::from("bwrap"),
            insecure_no_sandbox: false,
            sandbox_uid: 10001,
            sandbox_gid: 10001,
            memory_limit_mb: 2048,
            pids_limit: 512,
            cpu_millis: 0,
            tmp_size_mb: 256,
            start_timeout_s: 30,
            keep_sandboxes_on_shutdown: true,
            openclaw_dir: default_openclaw_dir(),
        }
    }
}

/// Where `scripts/install-openclaw.sh` installs by default, if it has.
fn default_openclaw_dir() -> Option<PathBuf> {
    let dir = if crate::sys::getuid() == 0 {
        PathBuf::from("/var/cache/ocaas/openclaw")
    } else {
        PathBuf::from(std::env::var_os("HOME")?).join(".cache/ocaas/openclaw")
    };
    dir.join("app/node_modules/openclaw/openclaw.mjs")
        .exists()
        .then_some(dir)
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_running_instances: 12,
            max_instances_per_account: 5,
            ready_wait_s: 30,
            idle_timeout_s: 900,
        }
    }
}

impl Settings {
    /// The database URL in force (the default SQLite file under `data_dir` when unset).
    pub fn database_url(&self) -> Secret {
        match &self.database_url {
            Some(url) => url.clone(),
            None => Secret::new(format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("ocaas.db").display()
            )),
        }
    }

    /// Load the layers. `file` is read if given (it must exist) or if `./ocaas.toml` exists;
    /// `env` is the process environment (passed in so tests need not touch it); `overrides`
    /// are CLI `key.path=value` pairs, applied last.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &[(String, String)],
    ) -> Result<Settings, SettingsError> {
        let mut table = Table::new();
        let default_file = Path::new("ocaas.toml");
        let file = file.or(default_file.exists().then_some(default_file));
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| SettingsError(format!("cannot read {}: {e}", path.display())))?;
            let parsed: Table = text
                .parse()
                .map_err(|e| SettingsError(format!("{}: {e}", path.display())))?;
            merge(&mut table, parsed);
        }
        for (key, value) in env {
            let Some(rest) = key.strip_prefix("OCAAS_") else {
                continue;
            };
            let rest = ENV_ALIASES
                .iter()
                .find(|(alias, _)| *alias == rest)
                .map_or(rest, |(_, canonical)| canonical);
            // Variables for other programs that share the prefix.
            if rest == "CONFIG" || rest.starts_with("AGENT_") || rest.starts_with("TEST_") {
                continue;
            }
            let path: Vec<String> = rest.to_lowercase().split("__").map(str::to_owned).collect();
            set_path(&mut table, &path, scalar(&value));
        }
        for (key, value) in overrides {
            let path: Vec<String> = key.split('.').map(str::to_owned).collect();
            set_path(&mut table, &path, scalar(value));
        }
        let mut settings: Settings = Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| SettingsError(e.message().to_owned()))?;
        // `OCAAS_LOCAL__OPENCLAW_DIR=` (empty) turns the gateway off.
        if settings
            .local
            .openclaw_dir
            .as_ref()
            .is_some_and(|d| d.as_os_str().is_empty())
        {
            settings.local.openclaw_dir = None;
        }
        Ok(settings)
    }
}

/// Documented short names for common settings (`OCAAS_MODEL_BASE_URL` = `OCAAS_MODEL__BASE_URL`).
const ENV_ALIASES: &[(&str, &str)] = &[
    ("MODEL_BASE_URL", "MODEL__BASE_URL"),
    ("MODEL_API_KEY", "MODEL__API_KEY"),
    ("MODEL_ID", "MODEL__MODEL_ID"),
];

/// Settings that cannot be loaded; the message names the offending key or file.
#[derive(Debug, thiserror::Error)]
#[error("invalid settings: {0}")]
pub struct SettingsError(String);

/// Interpret an environment or CLI value: booleans and numbers as such, anything else as a string.
fn scalar(raw: &str) -> Value {
    if let Ok(b) = raw.parse::<bool>() {
        return Value::Boolean(b);
    }
    if let Ok(i) = raw.parse::<i64>() {
        return Value::Integer(i);
    }
    Value::String(raw.to_owned())
}

fn set_path(table: &mut Table, path: &[String], value: Value) {
    let (last, parents) = path.split_last().expect("non-empty path");
    let mut cur = table;
    for key in parents {
        let entry = cur
            .entry(key.clone())
            .or_insert_with(|| Value::Table(Table::new()));
        if !entry.is_table() {
            *entry = Value::Table(Table::new());
        }
        cur = entry.as_table_mut().expect("just made a table");
    }
    cur.insert(last.clone(), value);
}

fn merge(into: &mut Table, from: Table) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(Value::Table(a)), Value::Table(b)) => merge(a, b),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_listen_on_8080_with_sqlite_under_data() {
        let s = Settings::load(None, env(&[]), &[]).unwrap();
        assert_eq!(s.listen, "0.0.0.0:8080");
        assert!(
            s.database_url()
                .expose()
                .starts_with("sqlite://./data/ocaas.db")
        );
    }

    #[test]
    fn file_then_env_then_cli() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:1\"\n[local]\nmemory_limit_mb = 1\npids_limit = 7\n",
        )
        .unwrap();
        let s = Settings::load(
            Some(&file),
            env(&[
                ("OCAAS_LISTEN", "127.0.0.1:2"),
                ("OCAAS_LOCAL__MEMORY_LIMIT_MB", "2"),
                ("OCAAS_BOOTSTRAP_API_KEY", "12345"),
                ("OCAAS_AGENT_TOKEN", "not ours"),
                ("HOME", "/root"),
            ]),
            &[("listen".into(), "127.0.0.1:3".into())],
        )
        .unwrap();
        assert_eq!(s.listen, "127.0.0.1:3");
        assert_eq!(s.local.memory_limit_mb, 2);
        assert_eq!(s.local.pids_limit, 7);
        assert_eq!(s.bootstrap_api_key.unwrap().expose(), "12345");
    }

    #[test]
    fn short_model_names_work() {
        let s = Settings::load(
            None,
            env(&[
                ("OCAAS_MODEL_BASE_URL", "https://api.example.com/v1"),
                ("OCAAS_MODEL_API_KEY", "sk-x"),
                ("OCAAS_MODEL_ID", "gpt-x"),
            ]),
            &[],
        )
        .unwrap();
        assert_eq!(
            s.model.base_url.as_deref(),
            Some("https://api.example.com/v1")
        );
        assert_eq!(s.model.api_key.unwrap().expose(), "sk-x");
        assert_eq!(s.model.model_id.as_deref(), Some("gpt-x"));
    }

    #[test]
    fn bad_values_name_the_problem() {
        let err = Settings::load(None, env(&[("OCAAS_LOCAL__PIDS_LIMIT", "many")]), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid"), "{err}");
    }

    #[test]
    fn kubernetes_settings_come_from_the_environment() {
        let s = Settings::load(
            None,
            env(&[
                ("OCAAS_RUNTIME", "kubernetes"),
                ("OCAAS_KUBERNETES__NAMESPACE", "sandboxes"),
                ("OCAAS_KUBERNETES__CPU_LIMIT", "2"),
                ("OCAAS_KUBERNETES__MEMORY_LIMIT", "4Gi"),
                ("OCAAS_KUBERNETES__EGRESS", "internet"),
                ("OCAAS_KUBERNETES__AGENT_PORT", "9000"),
            ]),
            &[],
        )
        .unwrap();
        assert_eq!(s.runtime, RuntimeKind::Kubernetes);
        assert_eq!(s.kubernetes.namespace, "sandboxes");
        assert_eq!(s.kubernetes.cpu_limit, "2");
        assert_eq!(s.kubernetes.memory_limit, "4Gi");
        assert_eq!(s.kubernetes.egress, EgressPolicy::Internet);
        assert_eq!(s.kubernetes.agent_port, 9000);
        assert!(s.kubernetes.check_agent);
    }

    #[test]
    fn access_billing_and_rate_limits_come_from_the_environment() {
        let s = Settings::load(None, env(&[]), &[]).unwrap();
        assert_eq!(s.access.gate, Gate::Open);
        assert!(s.accounts.sign_up);
        assert!(!s.billing.enabled());
        assert_eq!(s.rate_limits.chat_per_min, 100);
        assert_eq!(s.rate_limits.read_per_min, 1000);
        let s = Settings::load(
            None,
            env(&[
                ("OCAAS_ACCESS__GATE", "invite_or_subscription"),
                ("OCAAS_ACCOUNTS__SIGN_UP", "false"),
                ("OCAAS_BILLING__STRIPE_SECRET_KEY", "sk_test_x"),
                ("OCAAS_BILLING__PRICE_ID", "price_1"),
                ("OCAAS_BILLING__WEBHOOK_SECRET", "whsec_x"),
                ("OCAAS_RATE_LIMITS__CHAT_PER_MIN", "7"),
            ]),
            &[],
        )
        .unwrap();
        assert_eq!(s.access.gate, Gate::InviteOrSubscription);
        assert!(!s.accounts.sign_up);
        assert!(s.billing.enabled());
        assert!(!format!("{:?}", s.billing).contains("sk_test_x"));
        assert_eq!(s.rate_limits.chat_per_min, 7);
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
