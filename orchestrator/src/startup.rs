//! Building the application from [`Settings`]: database, bootstrap admin, runtime, instance
//! manager, HTTP server. Binds port 0 happily, so tests run the real server.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use actix_web_prom::PrometheusMetricsBuilder;

use crate::auth::ratelimit::RateLimits;
use crate::auth::{generate_key, key_from_secret};
use crate::chat::ChatService;
use crate::chat::model_proxy::{ModelRouter, Provider};
use crate::crypto::Cipher;
use crate::instances::InstanceManager;
use crate::policy::AccessPolicy;
use crate::runtime::Runtime;
use crate::runtime::kubernetes::KubernetesRuntime;
use crate::runtime::local::LocalRuntime;
use crate::scripted_model::ScriptedModel;
use crate::settings::{RuntimeKind, Settings};
use crate::store::{Owner, Store};
use crate::{api, telemetry};

/// Shared by all handlers.
pub struct AppState {
    pub store: Store,
    pub manager: Arc<InstanceManager>,
    pub chat: Arc<ChatService>,
    /// Encrypts tenant secrets at rest.
    pub cipher: Arc<Cipher>,
    /// The scripted stand-in model server, when no provider is configured.
    pub scripted_model: Option<ScriptedModel>,
    pub settings: Arc<Settings>,
    /// How sandboxes are isolated and limited here (for `GET /api`).
    pub sandbox_description: String,
    /// Start-up reconciliation has finished (`/readyz`).
    pub reconciled: AtomicBool,
    /// Recently authenticated API keys.
    pub keys: crate::auth::KeyCache,
    /// Per-key rate limits.
    pub rate_limits: Arc<RateLimits>,
    /// Stripe, when billing is configured.
    pub billing: Option<crate::billing::Billing>,
    /// Cancelled when shutdown begins: long-lived connections (websocket relays) end at
    /// once instead of holding the graceful stop open until its timeout.
    pub shutdown: tokio_util::sync::CancellationToken,
}

/// A bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    /// The admin key minted on first start (random ones only; `None` otherwise).
    pub bootstrap_key: Option<String>,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        // One TLS stack (rustls + ring) for outgoing calls to model providers.
        let _ = rustls::crypto::ring::default_provider().install_default();
        std::fs::create_dir_all(&settings.data_dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", settings.data_dir.display()))?;
        let store = Store::connect(&settings.database_url()).await?;
        restrict_sqlite_files(&settings.data_dir);
        let bootstrap_key = bootstrap_admin(&store, &settings).await?;
        let cipher = Arc::new(Cipher::load_or_create(
            settings.secret_key.as_ref(),
            &settings.data_dir,
        )?);

        let (provider, scripted_model) = match &settings.model.base_url {
            Some(url) => (
                Provider {
                    base_url: url.clone(),
                    api_key: settings.model.api_key.clone(),
                    model_id: settings
                        .model
                        .model_id
                        .clone()
                        .unwrap_or_else(|| "default".into()),
                },
                None,
            ),
            None => {
                let scripted = ScriptedModel::start()?;
                tracing::warn!(
                    base_url = %scripted.base_url,
                    "NO MODEL PROVIDER CONFIGURED: agent replies come from the scripted stand-in model server until OCAAS_MODEL_BASE_URL (and OCAAS_MODEL_API_KEY, OCAAS_MODEL_ID) are set"
                );
                (
                    Provider {
                        base_url: scripted.base_url.clone(),
                        api_key: None,
                        model_id: "scripted".into(),
                    },
                    Some(scripted),
                )
            }
        };
        let router = ModelRouter::new(store.clone(), cipher.clone(), provider);

        // `/metrics` serves this registry: request histograms and the runtime's own counters.
        let registry = prometheus::Registry::new();
        let (runtime, sandbox_description): (Arc<dyn Runtime>, String) = match settings.runtime {
            RuntimeKind::Local => {
                let local = LocalRuntime::new(&settings.local, &settings.data_dir, router)?;
                let description = if settings.local.insecure_no_sandbox {
                    "INSECURE: no sandbox (development only)".to_owned()
                } else {
                    format!(
                        "bubblewrap (unprivileged uid, own PID/mount/network namespaces, no capabilities); limits: {}",
                        local.limits_description()
                    )
                };
                (Arc::new(local), description)
            }
            RuntimeKind::Kubernetes => {
                let k8s = KubernetesRuntime::new(&settings.kubernetes, router, &cipher, &registry)
                    .await?;
                let description = k8s.description();
                (Arc::new(k8s), description)
            }
        };
        let policy = Arc::new(AccessPolicy {
            gate: settings.access.gate,
            default_max: settings.limits.max_instances_per_account,
            plan_default_max: settings
                .billing
                .plan_max_instances
                .unwrap_or(settings.limits.max_instances_per_account),
        });
        let rate_limits = Arc::new(RateLimits::new(&settings.rate_limits));
        rate_limits.spawn_sweeper();
        let billing = crate::billing::Billing::new(&settings.billing)?;
        let manager = InstanceManager::new(
            store.clone(),
            runtime,
            policy,
            settings.limits.clone(),
            settings.pool.size,
        );

        let chat = ChatService::new(store.clone(), manager.clone(), settings.chat.clone());
        manager.spawn_idle_sweeper();
        manager.spawn_activity_publisher();

        let listener = TcpListener::bind(&settings.listen)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.listen))?;
        let port = listener.local_addr()?.port();
        let state = web::Data::new(AppState {
            store,
            manager: manager.clone(),
            chat,
            cipher,
            scripted_model,
            settings: Arc::new(settings.clone()),
            sandbox_description,
            reconciled: AtomicBool::new(false),
            keys: Default::default(),
            rate_limits,
            billing,
            shutdown: tokio_util::sync::CancellationToken::new(),
        });

        let reconcile_state = state.clone();
        tokio::spawn(async move {
            match reconcile_state.manager.reconcile().await {
                Ok(()) => {
                    reconcile_state.reconciled.store(true, Ordering::Release);
                    reconcile_state.manager.spawn_pool_filler();
                    reconcile_state.manager.spawn_shared_supervision();
                }
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "start-up reconciliation failed")
                }
            }
        });

        let metrics = PrometheusMetricsBuilder::new("ocaas")
            .registry(registry)
            .endpoint("/metrics")
            .build()
            .map_err(|e| anyhow::anyhow!("metrics: {e}"))?;
        let app_state = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                // Innermost: sees the routes' own response bodies (held until sent in full).
                .wrap(from_fn(crate::instances::activity::track_requests))
                .wrap(from_fn(crate::auth::ratelimit::headers))
                .wrap(metrics.clone())
                .wrap(from_fn(telemetry::request_id))
                .app_data(app_state.clone())
                .app_data(sandbox_agent::http::json_config(
                    sandbox_agent::protocol::limits::JSON_MAX_BYTES,
                ))
                .app_data(sandbox_agent::http::query_config())
                .app_data(sandbox_agent::http::path_config())
                .configure(api::configure)
                .default_service(sandbox_agent::http::default_service())
        })
        .shutdown_timeout(settings.shutdown_timeout_s)
        // Signals are ours (see `run_until_stopped`), so websockets can be told first.
        .disable_signals()
        // Drop a handler when its client goes away, so relayed work is cancelled with it.
        .h1_allow_half_closed(false)
        .listen(listener)?
        .run();
        tracing::info!(
            port,
            database = state.store.backend(),
            runtime = state.manager.runtime().kind(),
            "orchestrator listening"
        );
        Ok(Application {
            port,
            server,
            state,
            bootstrap_key,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The runtime (tests close it before tearing their sandboxes down).
    pub fn runtime(&self) -> std::sync::Arc<dyn crate::runtime::Runtime> {
        self.state.manager.runtime().clone()
    }

    /// The scripted stand-in model server, when the service started one (tests read what the
    /// gateway sent it).
    pub fn scripted_model(&self) -> Option<ScriptedModel> {
        self.state.scripted_model.clone()
    }

    /// Serve until SIGINT/SIGTERM (graceful: in-flight requests get `shutdown_timeout_s`),
    /// then let the runtime decide what happens to sandboxes.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let mut server = std::pin::pin!(self.server);
        let res = tokio::select! {
            res = &mut server => res,
            signal = shutdown_signal() => {
                tracing::info!(signal = signal?, "shutting down");
                // Websocket relays close their clients (1001) and let go of the sandboxes'
                // terminals, which stay reattachable; then in-flight requests finish.
                self.state.shutdown.cancel();
                let ((), res) = tokio::join!(handle.stop(true), &mut server);
                res
            }
        };
        self.state.manager.runtime().shutdown().await;
        tracing::info!("orchestrator stopped");
        res
    }
}

/// Wait for SIGTERM or SIGINT; returns the signal's name.
async fn shutdown_signal() -> std::io::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}

/// On first start with an empty database, create the admin account and its key. A random
/// key is returned (for the caller to show once); `OCAAS_BOOTSTRAP_API_KEY` is used as is.
async fn bootstrap_admin(store: &Store, settings: &Settings) -> anyhow::Result<Option<String>> {
    if store.count_accounts().await? > 0 {
        return Ok(None);
    }
    let account = store.create_account("admin", None, true, None).await?;
    let owner = Owner::from_authenticated(account.id);
    let (key, shown) = match &settings.bootstrap_api_key {
        Some(secret) => (key_from_secret(secret.expose()), None),
        None => {
            let k = generate_key();
            let secret = k.secret.clone();
            (k, Some(secret))
        }
    };
    let all = crate::auth::Perms::all().to_stored();
    store
        .insert_key(&owner, "bootstrap admin key", &key.prefix, &key.hash, &all)
        .await?;
    tracing::info!(account_id = %account.id, key_prefix = %key.prefix, "created the admin account");
    Ok(shown)
}

/// The SQLite files hold key hashes and instance records: readable by the service only.
fn restrict_sqlite_files(data_dir: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    for name in ["ocaas.db", "ocaas.db-wal", "ocaas.db-shm"] {
        let p = data_dir.join(name);
        if p.exists() {
            let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600));
        }
    }
}
