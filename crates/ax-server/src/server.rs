//! Building the app and running it: providers, store, log writer, metrics recorder,
//! listener, and graceful shutdown (stop accepting, drain in-flight requests within a
//! bound, flush every queued log record).

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ax_router::Router as AxRouter;
use ax_store::{LogWriter, Store, WriterConfig};
use axum::Router;
use axum::routing::{get, post};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::sync::oneshot;

use crate::config::Config;
use crate::gateway::record::MetricLabels;
use crate::gateway::{Gateway, GatewayParts, PipelineSettings};
use crate::handlers::{admin, anthropic, gemini, openai, ops};
use crate::state::{AppState, StateParts};

/// Why the server could not start or stopped badly.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Configuration refused.
    #[error("configuration: {0}")]
    Config(String),
    /// The store could not be opened or migrated.
    #[error("store {url}: {message}")]
    Store {
        /// The database URL.
        url: String,
        /// What failed.
        message: String,
    },
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The server failed while running.
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// Start-up switches that are not configuration proper.
#[derive(Clone)]
pub struct ServeOptions {
    /// Allow listening beyond loopback with no client authentication.
    pub insecure_no_auth: bool,
    /// Longest wait for in-flight requests at shutdown.
    pub drain_timeout: Duration,
    /// Tuning of the batched log writer (tests lengthen its flush interval).
    pub log_writer: WriterConfig,
    /// The admission implementation (limits of every scope); `None`: in memory,
    /// restored from the request log at start.
    pub admission: Option<Arc<dyn ax_router::admission::Admission>>,
    /// Circuit and health state of the providers (e.g. shared by several servers);
    /// `None`: in memory, this server's own. It must know every configured provider.
    pub provider_state: Option<Arc<dyn ax_router::ProviderState>>,
}

impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("insecure_no_auth", &self.insecure_no_auth)
            .field("drain_timeout", &self.drain_timeout)
            .field("log_writer", &self.log_writer)
            .field("admission", &self.admission.as_ref().map(|_| "custom"))
            .field(
                "provider_state",
                &self.provider_state.as_ref().map(|_| "custom"),
            )
            .finish()
    }
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            insecure_no_auth: false,
            drain_timeout: Duration::from_secs(30),
            log_writer: WriterConfig::default(),
            admission: None,
            provider_state: None,
        }
    }
}

/// The HTTP routes over `state`: CORS (only with allowed origins configured), client
/// authentication, the routes. In front of them, per request, `connections.rs` runs
/// the edge checks — the header count, the browser guards (Host, preflight, Origin,
/// JSON content type) — and turns a panic into a 500 in the client's own format. They
/// sit there rather than in `Router::layer`s because a layer clones the boxed route
/// behind it for every request (an allocation per layer per request, measured).
pub fn app(state: AppState) -> Router {
    let admin_routes = Router::new()
        .route("/admin/providers", get(admin::providers))
        .route(
            "/admin/providers/{name}/circuit/reset",
            post(admin::reset_circuit),
        )
        .route("/admin/routes/explain", get(admin::explain))
        // Tenancy: tenants, keys, provider configs, logs, stats, audit.
        .merge(crate::handlers::tenants::routes(&state))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            admin::require_admin,
        ));
    let routes = Router::new()
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/responses", post(openai::responses))
        .route(
            "/v1/responses/{id}",
            get(openai::stored_response).delete(openai::delete_stored_response),
        )
        .route("/v1/embeddings", post(openai::embeddings))
        .route("/v1/models", get(openai::models))
        .route("/v1/messages", post(anthropic::messages))
        .route("/v1/messages/count_tokens", post(anthropic::count_tokens))
        .route("/v1beta/models/{*tail}", post(gemini::generate))
        .route(
            "/v1/models/{*tail}",
            post(gemini::generate).get(openai::model),
        )
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .merge(admin_routes)
        .fallback(ops::unknown_route)
        // Tenancy: gateway keys, tenant status and quotas on every `/v1` route.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::auth::client_auth,
        ));
    // CORS answers the preflights the guards let through (listed origins only) and
    // adds `access-control-allow-origin` to their responses; absent when CORS is off.
    let routes = match crate::guard::cors_layer(state.guards()) {
        Some(cors) => routes.layer(cors),
        None => routes,
    };
    routes.with_state(state)
}

/// How often the Prometheus recorder folds pending histogram samples into its buckets.
const METRICS_UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// How often expired stored Responses API objects are deleted (reads never return
/// them meanwhile).
const RESPONSES_PRUNE_EVERY: Duration = Duration::from_secs(600);

/// The process-wide Prometheus recorder (installed once; later servers in the same
/// process, as in tests, share it).
fn metrics_handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
            ];
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &buckets)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            Some(handle)
        })
        .clone()
}

/// A server running in the background.
pub struct RunningServer {
    /// The bound address (useful with port 0).
    pub addr: SocketAddr,
    /// The shared state (tests inspect the router).
    pub state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), ServeError>>,
}

impl RunningServer {
    /// Begins graceful shutdown and waits until every log record is flushed.
    pub async fn shutdown(mut self) -> Result<(), ServeError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.task.await {
            Ok(r) => r,
            Err(e) => Err(ServeError::Io(std::io::Error::other(e.to_string()))),
        }
    }

    /// Waits for the server to end on its own (after `shutdown_signal` fired).
    pub async fn wait(self) -> Result<(), ServeError> {
        match self.task.await {
            Ok(r) => r,
            Err(e) => Err(ServeError::Io(std::io::Error::other(e.to_string()))),
        }
    }
}

/// Builds everything and starts serving. The server stops when `shutdown_signal`
/// completes or [`RunningServer::shutdown`] is called.
pub async fn start(
    config: Config,
    options: ServeOptions,
    shutdown_signal: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<RunningServer, ServeError> {
    let store_err = |e: ax_store::StoreError| ServeError::Store {
        url: config.database_url.clone(),
        message: e.to_string(),
    };
    let store = Store::connect(&config.database_url)
        .await
        .map_err(store_err)?;
    let applied = store.migrate().await.map_err(store_err)?;
    for m in &applied {
        tracing::info!(version = m.version, description = %m.description, "applied migration");
    }
    // Tenancy: load the gateway keys; existing keys count as client authentication.
    let auth = Arc::new(
        crate::auth::Auth::new(store.clone(), config.require_keys)
            .with_master_key(config.master_key.clone()),
    );
    auth.refresh()
        .await
        .map_err(|e| store_err(ax_store::StoreError::Database(e.to_string())))?;
    if !config.listen.ip().is_loopback()
        && !options.insecure_no_auth
        && !config.client_auth_configured()
        && !auth.keys_required()
    {
        return Err(ServeError::Config(format!(
            "refusing to listen on {} with no client authentication: create gateway keys (ax key create) or pass --insecure-no-auth",
            config.listen
        )));
    }
    // Limits of every scope (provider, key, tenant), with today's and this month's
    // usage read back from the request log.
    let local_admission = Arc::new(ax_router::admission::LocalAdmission::new());
    if let Err(e) = auth.restore_usage(&local_admission).await {
        tracing::warn!(error = %e, "could not restore quota usage from the log; counting from zero");
    }
    let admission: Arc<dyn ax_router::admission::Admission> = match &options.admission {
        Some(a) => Arc::clone(a),
        None => local_admission,
    };
    let auth_task = auth.spawn_refresher();
    // The stored provider_configs rows (keys and settings) complete env and ax.toml.
    let mut config = config;
    crate::assemble::assemble(&mut config, &store)
        .await
        .map_err(|e| ServeError::Config(e.to_string()))?
        .log();

    let mut providers = Vec::new();
    // A disabled provider (an env provider without its key) is listed but never
    // built: it has nothing to call upstream with.
    for entry in config.providers.iter().filter(|e| e.routing.enabled) {
        let provider = ax_providers::build_provider(entry.adapter.clone()).map_err(|e| {
            ServeError::Config(format!("provider {}: {}", entry.routing.name, e.message))
        })?;
        providers.push(provider);
    }
    // The routing table is validated once, from the assembled configuration; the
    // router shares the admission with the gateway (provider scopes beside key and
    // tenant scopes) and takes an injected provider state when given one.
    let table = ax_router::RoutingTable::new(config.router.clone())
        .map_err(|e| ServeError::Config(e.to_string()))?;
    let provider_state: Arc<dyn ax_router::ProviderState> = match &options.provider_state {
        Some(s) => Arc::clone(s),
        None => Arc::new(ax_router::LocalProviderState::for_table(&table)),
    };
    let router = AxRouter::with_seams(table, providers, provider_state, Arc::clone(&admission))
        .map_err(|e| ServeError::Config(e.to_string()))?;
    let writer = config
        .logging_enabled
        .then(|| LogWriter::spawn(store.log_sink(), options.log_writer.clone()));
    let metrics = if config.telemetry_enabled {
        metrics_handle()
    } else {
        None
    };
    // Histogram samples pile up in the recorder until something drains them; without a
    // scraper that is a slow leak (~40 bytes a request), so drain on a timer.
    let upkeep = metrics.clone().map(|handle| {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(METRICS_UPKEEP_EVERY);
            loop {
                tick.tick().await;
                handle.run_upkeep();
            }
        })
    });
    let responses_keeping = crate::gateway::ResponsesKeeping {
        store: Arc::new(store.clone()),
        retention: Duration::from_secs(config.responses_retention_hours.saturating_mul(3600)),
    };
    let pruning =
        crate::gateway::responses::spawn_pruning(&responses_keeping, RESPONSES_PRUNE_EVERY);
    let gateway = Arc::new(Gateway::new(GatewayParts {
        router: Arc::new(router),
        admission,
        writer: writer.clone(),
        labels: MetricLabels::from_config(&config),
        settings: PipelineSettings {
            store_bodies: config.store_bodies,
            max_body_bytes: config.max_body_bytes,
            request_limits: config.request_limits,
            log_durability: config.log_durability,
        },
        responses: Some(responses_keeping.clone()),
    }));
    let state = AppState::new(StateParts {
        gateway,
        store: store.clone(),
        metrics,
        admin_key: config.admin_key.clone(),
        admin_open: config.admin_key.is_none() && config.listen.ip().is_loopback(),
        auth: auth.clone(),
        guards: Arc::new(crate::guard::BrowserGuards::new(
            config.listen.ip().is_loopback(),
            &config.server.allowed_hosts,
            &config.server.cors_allowed_origins,
        )),
    });

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr()?;
    let (tx, rx) = oneshot::channel::<()>();
    let app = app(state.clone());
    // Timeouts and the connection cap (defaults from the open-file limit).
    let limits = crate::connections::Limits::new(&config.server);
    let serve_state = state.clone();
    let drain = options.drain_timeout;
    let task = tokio::spawn(async move {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let signal = async move {
            tokio::select! {
                _ = shutdown_signal => {}
                _ = rx => {}
            }
            tracing::info!("shutdown: no longer accepting; draining in-flight requests");
            let _ = stop_tx.send(true);
        };
        let serve = crate::connections::serve(listener, app, serve_state, limits, signal);
        let mut stop_rx2 = stop_rx.clone();
        let bounded = async move {
            // Once shutdown begins, in-flight requests get `drain` to finish.
            let _ = stop_rx2.wait_for(|s| *s).await;
            tokio::time::sleep(drain).await;
        };
        tokio::select! {
            () = serve => {}
            _ = bounded => tracing::warn!("shutdown: drain timeout passed; closing remaining connections"),
        }
        if let Some(w) = writer {
            w.shutdown().await;
        }
        auth_task.abort();
        pruning.abort();
        if let Some(upkeep) = upkeep {
            upkeep.abort();
        }
        auth.flush_last_used().await;
        store.close().await;
        tracing::info!("shutdown complete: log queue flushed");
        Ok(())
    });
    Ok(RunningServer {
        addr,
        state,
        shutdown: Some(tx),
        task,
    })
}
