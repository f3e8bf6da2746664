//! Gateway configuration: `ax.toml` (optional) plus the environment of DESIGN §5.
//!
//! Two phases, as in tensorzero and ripgrep: a raw serde shape with
//! `deny_unknown_fields` (so a typo is an error naming the key), then [`Config::load`]
//! resolves environment variables and secrets, builds typed values and cross-checks
//! references. Every error names the file, the key and the reason.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ax_core::ProviderKind;
use ax_providers::ProviderConfig;
use ax_providers::registry::{self, EnvProvider, KeyUse, ProviderKindSpec, SettingsMap};
use ax_router::{ProviderSettings, RouteConfig, RouterConfig, RouterError, Strategy, TargetRef};
use secrecy::SecretString;
use serde::Deserialize;

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default database.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://ax.db";
/// Default request body limit (10 MiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 10 * 1024 * 1024;
/// How long stored Responses API objects are kept by default: 30 days, as OpenAI keeps
/// them.
pub const DEFAULT_RESPONSES_RETENTION_HOURS: u64 = 30 * 24;

/// A configuration problem, reported at start-up.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or has a bad key.
    #[error("{path}: {key}: {reason}")]
    Invalid {
        /// The file (or `environment`).
        path: String,
        /// The key at fault, dotted.
        key: String,
        /// Why.
        reason: String,
    },
}

fn invalid(path: &str, key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        path: path.to_owned(),
        key: key.into(),
        reason: reason.into(),
    }
}

/// The raw `ax.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<String>,
    database_url: Option<String>,
    max_body_bytes: Option<usize>,
    server: Option<RawServer>,
    limits: Option<RawLimits>,
    logging: Option<RawLogging>,
    responses: Option<RawResponses>,
    router: Option<RawRouter>,
    #[serde(default)]
    providers: Vec<RawProvider>,
    #[serde(default)]
    routes: Vec<RawRoute>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLogging {
    enabled: Option<bool>,
    store_bodies: Option<bool>,
    durability: Option<String>,
}

/// `[responses]`: the Responses API objects the gateway keeps.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResponses {
    retention_hours: Option<u64>,
}

/// `[server]`: connection handling and the browser-facing guards.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    header_read_timeout_ms: Option<u64>,
    idle_timeout_ms: Option<u64>,
    max_connections: Option<usize>,
    allowed_hosts: Option<Vec<String>>,
    cors_allowed_origins: Option<Vec<String>>,
}

/// `[limits]`: the request-shape limits.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_messages: Option<usize>,
    max_content_parts: Option<usize>,
    max_tools: Option<usize>,
    max_json_objects: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRouter {
    fallback_enabled: Option<bool>,
    primary_provider: Option<String>,
    fallback_chain: Option<Vec<String>>,
    circuit_threshold: Option<u32>,
    circuit_timeout_ms: Option<u64>,
    max_queue_ms: Option<u64>,
    request_timeout_ms: Option<u64>,
    stream_idle_timeout_ms: Option<u64>,
    retry_base_ms: Option<u64>,
    retry_cap_ms: Option<u64>,
}

/// One `[[providers]]` entry: the keys every kind has, and the kind's own keys
/// (`own`), which its registry entry checks with its typed settings — so a key of
/// another kind (`safety_threshold` on an openai provider) is refused by name.
/// (`deny_unknown_fields` cannot be combined with `flatten`; the kind's settings deny
/// unknown keys instead.)
#[derive(Debug, Default, Deserialize)]
struct RawProvider {
    name: String,
    kind: Option<String>,
    api_key_env: Option<String>,
    api_key: Option<String>,
    base_url: Option<String>,
    default_model: Option<String>,
    models: Option<Vec<String>>,
    priority: Option<i32>,
    weight: Option<u32>,
    timeout_ms: Option<u64>,
    connect_timeout_ms: Option<u64>,
    first_byte_timeout_ms: Option<u64>,
    idle_timeout_ms: Option<u64>,
    max_retries: Option<u32>,
    rpm: Option<u32>,
    tpm: Option<u32>,
    enabled: Option<bool>,
    #[serde(flatten)]
    own: toml::Table,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    name: String,
    strategy: Option<String>,
    targets: Vec<String>,
    hedge_after_ms: Option<u64>,
}

/// Default time a client has to send a request's whole header block.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time an idle keep-alive connection is kept open.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Connection handling and browser-facing guards (`[server]`, `AX_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    /// Longest wait for a request's header block, from the connection's first byte
    /// (or from the end of the previous response) (`AX_HEADER_READ_TIMEOUT_MS`).
    pub header_read_timeout: Duration,
    /// Longest an open connection may sit with no request in flight
    /// (`AX_IDLE_TIMEOUT_MS`).
    pub idle_timeout: Duration,
    /// Most client connections open at once (`AX_MAX_CONNECTIONS`); `None`: derived
    /// from the open-file limit, keeping a reserve.
    pub max_connections: Option<usize>,
    /// Extra `Host` names accepted when listening on loopback (`AX_ALLOWED_HOSTS`).
    pub allowed_hosts: Vec<String>,
    /// Browser origins allowed by CORS (`AX_CORS_ALLOWED_ORIGINS`); empty: CORS off.
    pub cors_allowed_origins: Vec<String>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: None,
            allowed_hosts: Vec::new(),
            cors_allowed_origins: Vec::new(),
        }
    }
}

/// When a request's log row is durable relative to its answer (`AX_LOG_DURABILITY`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogDurability {
    /// The row is queued and written in the next batch; the answer does not wait
    /// (`buffered`, the default: fastest, a `kill -9` may lose the last batch).
    #[default]
    Buffered,
    /// The answer's last byte is sent only after its row is committed
    /// (`acknowledged`: group commit, no acknowledged request without its row).
    Acknowledged,
}

impl std::str::FromStr for LogDurability {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "buffered" => Ok(Self::Buffered),
            "acknowledged" => Ok(Self::Acknowledged),
            other => Err(format!(
                "unknown log durability `{other}` (expected buffered or acknowledged)"
            )),
        }
    }
}

/// One configured provider: how to reach it and how the router treats it.
#[derive(Debug, Clone)]
pub struct ProviderEntry {
    /// Adapter settings.
    pub adapter: ProviderConfig,
    /// Routing settings.
    pub routing: ProviderSettings,
    /// What the environment or ax.toml set explicitly; a stored `provider_configs` row
    /// does not override these (`crate::assemble`).
    pub explicit: Explicit,
}

impl ProviderEntry {
    /// A provider of `kind` named `name` with the kind's defaults, nothing explicit.
    pub fn new(name: &str, kind: ProviderKind) -> Self {
        Self {
            adapter: ProviderConfig::new(name, kind),
            routing: ProviderSettings {
                name: name.to_owned(),
                kind,
                ..ProviderSettings::default()
            },
            explicit: Explicit::default(),
        }
    }
}

/// The settings of one provider that the environment or ax.toml gave explicitly (the
/// rest are the kind's defaults, which a stored row may replace).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Explicit {
    /// The API key (an `*_API_KEY` variable, `api_key` or `api_key_env`).
    pub api_key: bool,
    /// `base_url` or the kind's `*_BASE_URL` variable.
    pub base_url: bool,
    /// `default_model` or the kind's `*_DEFAULT_MODEL` variable.
    pub default_model: bool,
    /// `priority`.
    pub priority: bool,
    /// `max_retries`.
    pub max_retries: bool,
    /// `timeout_ms` (the whole call).
    pub timeout: bool,
    /// `first_byte_timeout_ms`.
    pub first_byte_timeout: bool,
    /// `rpm`.
    pub rpm: bool,
    /// `tpm`.
    pub tpm: bool,
    /// `enabled`.
    pub enabled: bool,
    /// The kind's own settings as given: environment (`OPENAI_ORGANIZATION`), then
    /// ax.toml over it.
    pub settings: SettingsMap,
}

/// The resolved configuration of the gateway.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where it came from (`None`: environment only).
    pub source: Option<PathBuf>,
    /// Listen address.
    pub listen: SocketAddr,
    /// Store URL.
    pub database_url: String,
    /// Request body limit.
    pub max_body_bytes: usize,
    /// `PROVIDER_LOGGING_ENABLED`.
    pub logging_enabled: bool,
    /// Whether request/response bodies go into the log rows.
    pub store_bodies: bool,
    /// How long a stored Responses API object is kept, hours
    /// (`AX_RESPONSES_RETENTION_HOURS`, `[responses] retention_hours`; 0 keeps none).
    pub responses_retention_hours: u64,
    /// `PROVIDER_TELEMETRY_ENABLED` (the `/metrics` endpoint and metric recording).
    pub telemetry_enabled: bool,
    /// `AX_ADMIN_KEY`.
    pub admin_key: Option<SecretString>,
    /// `AX_MASTER_KEY`.
    pub master_key: Option<SecretString>,
    /// Enabled providers (and disabled ones, for `ax provider health`).
    pub providers: Vec<ProviderEntry>,
    /// Router settings (routes, fallback, circuit, retries).
    pub router: RouterConfig,
    /// Whether `FALLBACK_CHAIN` or `router.fallback_chain` was given (else a stored row
    /// of the primary provider may supply it: `crate::assemble`).
    pub fallback_chain_set: bool,
    /// True when no real provider is configured and the mock serves everything.
    pub mock_only: bool,
    /// `AX_REQUIRE_KEYS`: clients must present a gateway key.
    pub require_keys: bool,
    /// Connection handling and browser-facing guards.
    pub server: ServerSettings,
    /// Request-shape limits (messages, content parts, tools).
    pub request_limits: ax_core::RequestLimits,
    /// When a log row is durable relative to its answer.
    pub log_durability: LogDurability,
}

/// Reads environment variables; a seam so tests can supply their own.
pub trait Env {
    /// The value of `key`, if set and non-empty.
    fn get(&self, key: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, key: &str) -> Option<String> {
        std::env::var(key).ok().filter(|v| !v.trim().is_empty())
    }
}

impl Env for BTreeMap<String, String> {
    fn get(&self, key: &str) -> Option<String> {
        BTreeMap::get(self, key)
            .cloned()
            .filter(|v| !v.trim().is_empty())
    }
}

fn env_bool(env: &dyn Env, key: &str, default: bool) -> Result<bool, ConfigError> {
    match env.get(key) {
        None => Ok(default),
        Some(v) => match v.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(invalid(
                "environment",
                key,
                format!("expected true or false, got `{v}`"),
            )),
        },
    }
}

fn env_num<T: std::str::FromStr>(env: &dyn Env, key: &str) -> Result<Option<T>, ConfigError> {
    env.get(key)
        .map(|v| {
            v.trim()
                .parse::<T>()
                .map_err(|_| invalid("environment", key, format!("expected a number, got `{v}`")))
        })
        .transpose()
}

impl Config {
    /// Loads `ax.toml` (from `path`, else `AX_CONFIG`, else none) and the process
    /// environment.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with(path, &ProcessEnv)
    }

    /// Like [`Config::load`] with an explicit environment.
    pub fn load_with(path: Option<&Path>, env: &dyn Env) -> Result<Self, ConfigError> {
        let path: Option<PathBuf> = path
            .map(Path::to_path_buf)
            .or_else(|| env.get("AX_CONFIG").map(PathBuf::from));
        let (raw, file) = match &path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.clone(),
                    source,
                })?;
                (
                    parse_toml(&text, &p.display().to_string())?,
                    p.display().to_string(),
                )
            }
            None => (RawConfig::default(), "environment".to_owned()),
        };
        build(raw, &file, path, env)
    }

    /// Parses a TOML text (for tests and `ax doctor`).
    pub fn from_toml_str(text: &str, env: &dyn Env) -> Result<Self, ConfigError> {
        let raw = parse_toml(text, "ax.toml")?;
        build(raw, "ax.toml", None, env)
    }
}

impl Config {
    /// Whether clients must present a gateway key (set once tenancy is configured:
    /// `AX_REQUIRE_KEYS=true`).
    pub fn client_auth_configured(&self) -> bool {
        self.require_keys
    }
}

fn parse_toml(text: &str, file: &str) -> Result<RawConfig, ConfigError> {
    let de =
        toml::Deserializer::parse(text).map_err(|e| invalid(file, "(syntax)", e.to_string()))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        invalid(file, key, e.into_inner().message().to_owned())
    })
}

fn build(
    raw: RawConfig,
    file: &str,
    source: Option<PathBuf>,
    env: &dyn Env,
) -> Result<Config, ConfigError> {
    let listen_text = env
        .get("AX_LISTEN")
        .or(raw.listen)
        .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
    let listen: SocketAddr = listen_text.parse().map_err(|_| {
        invalid(
            file,
            "listen",
            format!("`{listen_text}` is not an address like 127.0.0.1:8080"),
        )
    })?;
    let database_url = env
        .get("AX_DATABASE_URL")
        .or(raw.database_url)
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
    let max_body_bytes = env_num::<usize>(env, "AX_MAX_BODY_BYTES")?
        .or(raw.max_body_bytes)
        .unwrap_or(DEFAULT_MAX_BODY_BYTES);
    let logging = raw.logging.unwrap_or_default();
    let responses_retention_hours = env_num::<u64>(env, "AX_RESPONSES_RETENTION_HOURS")?
        .or(raw.responses.and_then(|r| r.retention_hours))
        .unwrap_or(DEFAULT_RESPONSES_RETENTION_HOURS);
    let logging_enabled = env_bool(
        env,
        "PROVIDER_LOGGING_ENABLED",
        logging.enabled.unwrap_or(true),
    )?;
    let telemetry_enabled = env_bool(env, "PROVIDER_TELEMETRY_ENABLED", true)?;
    let log_durability = match env.get("AX_LOG_DURABILITY") {
        Some(v) => v
            .parse::<LogDurability>()
            .map_err(|r| invalid("environment", "AX_LOG_DURABILITY", r))?,
        None => match &logging.durability {
            Some(v) => v
                .parse::<LogDurability>()
                .map_err(|r| invalid(file, "logging.durability", r))?,
            None => LogDurability::default(),
        },
    };
    let server = server_settings(raw.server.unwrap_or_default(), file, env)?;
    let request_limits = request_limits(raw.limits.unwrap_or_default(), file, env)?;

    // Providers: the three env providers first (enabled by their key), then ax.toml
    // entries, which override an env provider of the same name or add a new one.
    let mut entries: Vec<ProviderEntry> = Vec::new();
    for spec in registry::kinds() {
        if let Some(vars) = &spec.env {
            entries.push(env_entry(spec, vars, env)?);
        }
    }
    for (i, rp) in raw.providers.into_iter().enumerate() {
        let key_path = format!("providers[{i}]");
        apply_provider(&mut entries, rp, file, &key_path, env)?;
    }
    // The mock is always registered (so `mock/anything` works), unless ax.toml disables it.
    if !entries.iter().any(|e| e.routing.name == "mock") {
        let mut mock = ProviderEntry::new("mock", ProviderKind::Mock);
        mock.routing.priority = 100;
        mock.routing.max_retries = 0;
        entries.push(mock);
    }
    let mock_only = !entries
        .iter()
        .any(|e| e.routing.enabled && e.routing.kind != ProviderKind::Mock);

    // Router.
    let rr = raw.router.unwrap_or_default();
    let mut router = RouterConfig {
        fallback_enabled: env_bool(
            env,
            "PROVIDER_FALLBACK_ENABLED",
            rr.fallback_enabled.unwrap_or(true),
        )?,
        ..RouterConfig::default()
    };
    if let Some(p) = env.get("PRIMARY_PROVIDER").or(rr.primary_provider) {
        router.primary_provider = Some(p);
    }
    let fallback_chain_set = env.get("FALLBACK_CHAIN").is_some() || rr.fallback_chain.is_some();
    if let Some(chain) = env.get("FALLBACK_CHAIN") {
        router.fallback_chain = split_list(&chain);
    } else if let Some(chain) = rr.fallback_chain {
        router.fallback_chain = chain;
    }
    if let Some(n) = env_num::<u32>(env, "PROVIDER_CIRCUIT_THRESHOLD")?.or(rr.circuit_threshold) {
        router.circuit_threshold = n;
    }
    if let Some(ms) = env_num::<u64>(env, "PROVIDER_CIRCUIT_TIMEOUT")?.or(rr.circuit_timeout_ms) {
        router.circuit_open_for = Duration::from_millis(ms);
    }
    if let Some(ms) = rr.max_queue_ms {
        router.max_queue = Duration::from_millis(ms);
    }
    if let Some(ms) = rr.request_timeout_ms {
        router.request_timeout = Duration::from_millis(ms);
    }
    if let Some(ms) = rr.stream_idle_timeout_ms {
        router.stream_idle_timeout = Duration::from_millis(ms);
    }
    if let Some(ms) = rr.retry_base_ms {
        router.retry_base = Duration::from_millis(ms);
    }
    if let Some(ms) = rr.retry_cap_ms {
        router.retry_cap = Duration::from_millis(ms);
    }
    for (i, r) in raw.routes.into_iter().enumerate() {
        let key = format!("routes[{i}]");
        let strategy: Strategy = match r.strategy.as_deref() {
            None => Strategy::default(),
            Some(s) => serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|_| {
                invalid(
                    file,
                    format!("{key}.strategy"),
                    format!("unknown strategy `{s}` (expected fallback, weighted, least-latency or health)"),
                )
            })?,
        };
        let targets = r.targets.iter().map(|t| TargetRef::parse(t)).collect();
        router.routes.push(RouteConfig {
            name: r.name,
            strategy,
            targets,
            hedge_after: r.hedge_after_ms.map(Duration::from_millis),
        });
    }
    router.providers = entries.iter().map(|e| e.routing.clone()).collect();
    // The router's own validation, the only one: names, routes, the chain, the
    // circuit threshold. Its errors are placed at the key that holds the mistake.
    if let Err(e) = ax_router::RoutingTable::new(router.clone()) {
        return Err(routing_error(file, &router, e));
    }

    Ok(Config {
        source,
        listen,
        database_url,
        max_body_bytes,
        logging_enabled,
        store_bodies: logging.store_bodies.unwrap_or(true),
        responses_retention_hours,
        telemetry_enabled,
        admin_key: env.get("AX_ADMIN_KEY").map(SecretString::from),
        master_key: env.get("AX_MASTER_KEY").map(SecretString::from),
        providers: entries,
        router,
        fallback_chain_set,
        mock_only,
        require_keys: env_bool(env, "AX_REQUIRE_KEYS", false)?,
        server,
        request_limits,
        log_durability,
    })
}

/// `[server]` with its `AX_*` overrides; zero durations and counts are refused.
fn server_settings(
    raw: RawServer,
    file: &str,
    env: &dyn Env,
) -> Result<ServerSettings, ConfigError> {
    let mut s = ServerSettings::default();
    let ms =
        |env_key: &str, toml_key: &str, v: Option<u64>| -> Result<Option<Duration>, ConfigError> {
            let (value, path) = match env_num::<u64>(env, env_key)? {
                Some(v) => (Some(v), "environment"),
                None => (v, file),
            };
            match value {
                Some(0) => Err(invalid(path, toml_key, "must be at least 1 ms")),
                v => Ok(v.map(Duration::from_millis)),
            }
        };
    if let Some(d) = ms(
        "AX_HEADER_READ_TIMEOUT_MS",
        "server.header_read_timeout_ms",
        raw.header_read_timeout_ms,
    )? {
        s.header_read_timeout = d;
    }
    if let Some(d) = ms(
        "AX_IDLE_TIMEOUT_MS",
        "server.idle_timeout_ms",
        raw.idle_timeout_ms,
    )? {
        s.idle_timeout = d;
    }
    s.max_connections = env_num::<usize>(env, "AX_MAX_CONNECTIONS")?.or(raw.max_connections);
    if s.max_connections == Some(0) {
        return Err(invalid(
            file,
            "server.max_connections",
            "must be at least 1",
        ));
    }
    s.allowed_hosts = env
        .get("AX_ALLOWED_HOSTS")
        .map(|v| split_list(&v))
        .or(raw.allowed_hosts)
        .unwrap_or_default();
    s.cors_allowed_origins = env
        .get("AX_CORS_ALLOWED_ORIGINS")
        .map(|v| split_list(&v))
        .or(raw.cors_allowed_origins)
        .unwrap_or_default();
    Ok(s)
}

/// `[limits]` with its `AX_MAX_*` overrides; a limit of zero is refused.
fn request_limits(
    raw: RawLimits,
    file: &str,
    env: &dyn Env,
) -> Result<ax_core::RequestLimits, ConfigError> {
    let mut l = ax_core::RequestLimits::default();
    for (env_key, toml_key, value, slot) in [
        (
            "AX_MAX_MESSAGES",
            "limits.max_messages",
            raw.max_messages,
            &mut l.max_messages,
        ),
        (
            "AX_MAX_CONTENT_PARTS",
            "limits.max_content_parts",
            raw.max_content_parts,
            &mut l.max_content_parts,
        ),
        (
            "AX_MAX_TOOLS",
            "limits.max_tools",
            raw.max_tools,
            &mut l.max_tools,
        ),
        (
            "AX_MAX_JSON_OBJECTS",
            "limits.max_json_objects",
            raw.max_json_objects,
            &mut l.max_json_objects,
        ),
    ] {
        if let Some(v) = env_num::<usize>(env, env_key)?.or(value) {
            if v == 0 {
                return Err(invalid(file, toml_key, "must be at least 1"));
            }
            *slot = v;
        }
    }
    Ok(l)
}

/// A routing-table refusal as a configuration error at the key that holds the mistake.
fn routing_error(file: &str, router: &RouterConfig, e: RouterError) -> ConfigError {
    let route_index = |name: &str| router.routes.iter().position(|r| r.name == name);
    match e {
        RouterError::Invalid {
            setting: "circuit_threshold",
            reason,
        } => invalid(file, "PROVIDER_CIRCUIT_THRESHOLD", reason),
        RouterError::UnknownFallbackProvider { provider, known } => invalid(
            file,
            "PRIMARY_PROVIDER/FALLBACK_CHAIN",
            format!("unknown provider `{provider}` (known: {known})"),
        ),
        RouterError::EmptyRoute(route) => {
            let i = route_index(&route).unwrap_or(0);
            invalid(
                file,
                format!("routes[{i}].targets"),
                "a route needs at least one target",
            )
        }
        RouterError::UnknownRouteProvider {
            route,
            provider,
            known,
        } => {
            let i = route_index(&route).unwrap_or(0);
            let j = router
                .routes
                .get(i)
                .and_then(|r| r.targets.iter().position(|t| t.provider == provider))
                .unwrap_or(0);
            invalid(
                file,
                format!("routes[{i}].targets[{j}]"),
                format!("unknown provider `{provider}` (known: {known})"),
            )
        }
        RouterError::BadRouteName(route) => invalid(
            file,
            "routes",
            format!("route name `{route}` is empty or used twice"),
        ),
        other => invalid(file, "providers", other.to_string()),
    }
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The env-only provider of `spec`: its key, base URL, default model and own settings
/// from the environment; enabled by its key.
fn env_entry(
    spec: &ProviderKindSpec,
    vars: &EnvProvider,
    env: &dyn Env,
) -> Result<ProviderEntry, ConfigError> {
    let mut e = ProviderEntry::new(vars.name, spec.kind);
    e.routing.models = vars.models.iter().map(|s| (*s).to_owned()).collect();
    e.routing.priority = vars.priority;
    if let Some(base) = env.get(vars.base_url_var) {
        e.adapter.base_url = base;
        e.explicit.base_url = true;
    }
    if let Some(model) = env.get(vars.default_model_var) {
        e.adapter.default_model = model;
        e.explicit.default_model = true;
    }
    for (var, key) in vars.settings_vars {
        if let Some(v) = env.get(var) {
            e.explicit
                .settings
                .insert((*key).to_owned(), serde_json::Value::String(v));
            (spec.apply_settings)(&e.explicit.settings, &mut e.adapter)
                .map_err(|err| invalid("environment", *var, err.message))?;
        }
    }
    let key = vars.key_vars.iter().find_map(|k| env.get(k));
    e.explicit.api_key = key.is_some();
    e.routing.enabled = key.is_some();
    e.adapter.api_key = key.map(SecretString::from);
    Ok(e)
}

fn apply_provider(
    entries: &mut Vec<ProviderEntry>,
    rp: RawProvider,
    file: &str,
    key: &str,
    env: &dyn Env,
) -> Result<(), ConfigError> {
    if rp.name.trim().is_empty() || rp.name.contains('/') {
        return Err(invalid(
            file,
            format!("{key}.name"),
            "must be non-empty and contain no `/`",
        ));
    }
    let existing = entries.iter().position(|e| e.routing.name == rp.name);
    let kind = match (&rp.kind, existing) {
        (Some(k), _) => k
            .parse::<ProviderKind>()
            .map_err(|reason| invalid(file, format!("{key}.kind"), reason))?,
        (None, Some(i)) => entries[i].routing.kind,
        (None, None) => {
            return Err(invalid(
                file,
                format!("{key}.kind"),
                "missing (openai, anthropic, gemini, openai-compatible or mock)",
            ));
        }
    };
    let spec = registry::spec(kind).ok_or_else(|| {
        invalid(
            file,
            format!("{key}.kind"),
            format!("kind `{kind}` has no registry entry"),
        )
    })?;
    let mut entry = match existing {
        Some(i) if entries[i].routing.kind == kind => entries.remove(i),
        Some(i) => {
            entries.remove(i);
            ProviderEntry::new(&rp.name, kind)
        }
        None => ProviderEntry::new(&rp.name, kind),
    };
    let a = &mut entry.adapter;
    let r = &mut entry.routing;
    let x = &mut entry.explicit;
    if let Some(var) = &rp.api_key_env {
        match env.get(var) {
            Some(k) => {
                a.api_key = Some(SecretString::from(k));
                x.api_key = true;
            }
            None if rp.enabled == Some(true) && spec.key != KeyUse::Optional => {
                return Err(invalid(
                    file,
                    format!("{key}.api_key_env"),
                    format!("`{var}` is not set"),
                ));
            }
            None => {}
        }
    }
    if let Some(k) = rp.api_key {
        a.api_key = Some(SecretString::from(k));
        x.api_key = true;
    }
    if let Some(u) = rp.base_url {
        if !is_http_url(&u) {
            return Err(invalid(
                file,
                format!("{key}.base_url"),
                "must start with http:// or https://",
            ));
        }
        a.base_url = u;
        x.base_url = true;
    }
    if let Some(m) = rp.default_model {
        a.default_model = m;
        x.default_model = true;
    }
    if let Some(m) = rp.models {
        r.models = m;
    }
    if let Some(p) = rp.priority {
        r.priority = p;
        x.priority = true;
    }
    if let Some(w) = rp.weight {
        r.weight = w;
    }
    if let Some(ms) = rp.timeout_ms {
        a.timeouts.total = Duration::from_millis(ms);
        a.timeouts.first_byte = a.timeouts.first_byte.min(a.timeouts.total);
        x.timeout = true;
    }
    if let Some(ms) = rp.connect_timeout_ms {
        a.timeouts.connect = Duration::from_millis(ms);
    }
    if let Some(ms) = rp.first_byte_timeout_ms {
        a.timeouts.first_byte = Duration::from_millis(ms);
        x.first_byte_timeout = true;
    }
    if let Some(ms) = rp.idle_timeout_ms {
        a.timeouts.idle = Duration::from_millis(ms);
        // The router owns the stream idle deadline; the adapter's copy is a backstop.
        r.stream_idle_timeout = Some(Duration::from_millis(ms));
    }
    if let Some(n) = rp.max_retries {
        r.max_retries = n;
        x.max_retries = true;
    }
    if rp.rpm.is_some() {
        r.rpm = rp.rpm;
        x.rpm = true;
    }
    if rp.tpm.is_some() {
        r.tpm = rp.tpm;
        x.tpm = true;
    }
    // The kind's own keys, over any the environment gave (OPENAI_ORGANIZATION).
    let own = serde_json::to_value(&rp.own)
        .map_err(|e| invalid(file, key, format!("cannot read the provider's keys: {e}")))?;
    if let serde_json::Value::Object(own) = own {
        x.settings.extend(own);
    }
    (spec.apply_settings)(&x.settings, a).map_err(|e| {
        invalid(
            file,
            format!("{key}.{}", e.key),
            format!("provider `{}` ({kind}): {}", rp.name, e.message),
        )
    })?;
    r.enabled = match rp.enabled {
        Some(e) => {
            x.enabled = true;
            e
        }
        // An entry in ax.toml enables its provider when it has what it needs.
        None => a.api_key.is_some() || spec.key != KeyUse::Required,
    };
    entries.push(entry);
    Ok(())
}

/// Whether `url` is an `http://` or `https://` URL (base URLs of providers).
pub fn is_http_url(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A process environment of `pairs`.
    pub(crate) fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// The provider `name` of `c`; fails the test when there is none.
    pub(crate) fn provider<'a>(c: &'a Config, name: &str) -> &'a ProviderEntry {
        c.providers
            .iter()
            .find(|p| p.routing.name == name)
            .unwrap_or_else(|| panic!("{name}"))
    }

    #[test]
    fn no_keys_means_mock_only() {
        let c = Config::load_with(None, &env(&[])).unwrap();
        assert!(c.mock_only);
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.database_url, "sqlite://ax.db");
        assert!(c.router.fallback_enabled);
        assert_eq!(c.router.primary_provider.as_deref(), Some("claude"));
        assert_eq!(c.router.fallback_chain, vec!["gemini", "openai"]);
        assert_eq!(c.router.circuit_threshold, 5);
        assert_eq!(c.router.circuit_open_for, Duration::from_secs(60));
    }

    #[test]
    fn env_keys_enable_providers_and_env_overrides() {
        let c = Config::load_with(
            None,
            &env(&[
                ("ANTHROPIC_API_KEY", "sk-ant"),
                ("GEMINI_API_KEY", "g"),
                ("CLAUDE_DEFAULT_MODEL", "claude-x"),
                ("PROVIDER_CIRCUIT_THRESHOLD", "2"),
                ("PROVIDER_CIRCUIT_TIMEOUT", "1500"),
                ("FALLBACK_CHAIN", "openai"),
                ("PROVIDER_FALLBACK_ENABLED", "false"),
            ]),
        )
        .unwrap();
        assert!(!c.mock_only);
        let claude = c
            .providers
            .iter()
            .find(|p| p.routing.name == "claude")
            .unwrap();
        assert!(claude.routing.enabled);
        assert_eq!(claude.adapter.default_model, "claude-x");
        let openai = c
            .providers
            .iter()
            .find(|p| p.routing.name == "openai")
            .unwrap();
        assert!(!openai.routing.enabled);
        assert_eq!(c.router.circuit_threshold, 2);
        assert_eq!(c.router.circuit_open_for, Duration::from_millis(1500));
        assert_eq!(c.router.fallback_chain, vec!["openai"]);
        assert!(!c.router.fallback_enabled);
    }

    #[test]
    fn toml_providers_and_routes() {
        let c = Config::from_toml_str(
            r#"
            [[providers]]
            name = "local"
            kind = "openai-compatible"
            base_url = "http://127.0.0.1:9999/v1"
            models = ["llama-*"]
            [[routes]]
            name = "default"
            strategy = "health"
            targets = ["local", "mock/fast"]
            "#,
            &env(&[]),
        )
        .unwrap();
        assert!(!c.mock_only);
        assert_eq!(c.router.routes.len(), 1);
        assert_eq!(c.router.routes[0].targets[1].model.as_deref(), Some("fast"));
    }

    #[test]
    fn errors_name_file_key_and_reason() {
        let e = Config::from_toml_str("[[providers]]\nname = \"x\"\nkind = \"nope\"\n", &env(&[]))
            .unwrap_err();
        let s = e.to_string();
        assert!(
            s.contains("providers[0].kind") && s.contains("unknown provider kind"),
            "{s}"
        );
        let e = Config::from_toml_str("listen = 5\n", &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("listen"), "{e}");
        let e = Config::from_toml_str("bogus = 1\n", &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("bogus"), "{e}");
        let e = Config::from_toml_str("[[routes]]\nname=\"r\"\ntargets=[\"ghost\"]\n", &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("routes[0].targets[0]") && e.contains("ghost"),
            "{e}"
        );
        let e = Config::load_with(None, &env(&[("PROVIDER_CIRCUIT_THRESHOLD", "x")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("PROVIDER_CIRCUIT_THRESHOLD"), "{e}");
    }

    #[test]
    fn a_key_of_another_kind_is_refused_naming_the_key_and_the_provider() {
        let e = Config::from_toml_str(
            "[[providers]]\nname = \"openai\"\nkind = \"openai\"\napi_key = \"k\"\nsafety_threshold = \"BLOCK_NONE\"\n",
            &env(&[]),
        )
        .unwrap_err();
        let ConfigError::Invalid { path, key, reason } = &e else {
            panic!("{e}");
        };
        assert_eq!(
            (path.as_str(), key.as_str()),
            ("ax.toml", "providers[0].safety_threshold")
        );
        assert!(
            reason.contains("provider `openai` (openai)")
                && reason.contains("unknown field `safety_threshold`"),
            "{e}"
        );
        // A mock knob on a gemini provider, a typo on the mock, a bad value.
        for (toml, key) in [
            (
                "[[providers]]\nname = \"g\"\nkind = \"gemini\"\nfailure_rate = 0.5\n",
                "providers[0].failure_rate",
            ),
            (
                "[[providers]]\nname = \"mock\"\nkind = \"mock\"\nlatncy_ms = 5\n",
                "providers[0].latncy_ms",
            ),
            (
                "[[providers]]\nname = \"mock\"\nkind = \"mock\"\nfailure_rate = 2.0\n",
                "providers[0].failure_rate",
            ),
            (
                "[[providers]]\nname = \"c\"\nkind = \"anthropic\"\ndefault_max_tokens = \"many\"\n",
                "providers[0].default_max_tokens",
            ),
        ] {
            match Config::from_toml_str(toml, &env(&[])) {
                Err(ConfigError::Invalid { key: k, .. }) => assert_eq!(k, key, "{toml}"),
                other => panic!("{toml}: {other:?}"),
            }
        }
        // A common key with a wrong type still names its key.
        let e = Config::from_toml_str(
            "[[providers]]\nname = \"m\"\nkind = \"mock\"\npriority = \"high\"\n",
            &env(&[]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("providers[0].priority"), "{e}");
    }

    #[test]
    fn each_kind_takes_its_own_keys_and_they_are_explicit() {
        let c = Config::from_toml_str(
            r#"
            [[providers]]
            name = "openai"
            organization = "org-toml"
            [[providers]]
            name = "claude"
            default_max_tokens = 512
            [[providers]]
            name = "gemini"
            safety_threshold = "BLOCK_ONLY_HIGH"
            [[providers]]
            name = "mock"
            kind = "mock"
            chunks = 3
            failure_rate = 1
            "#,
            &env(&[("OPENAI_ORGANIZATION", "org-env"), ("OPENAI_API_KEY", "k")]),
        )
        .unwrap();
        let p = |name: &str| provider(&c, name);
        assert_eq!(
            p("openai").adapter.organization.as_deref(),
            Some("org-toml")
        );
        assert!(p("openai").explicit.api_key && !p("openai").explicit.base_url);
        assert_eq!(p("claude").adapter.default_max_tokens, 512);
        assert_eq!(
            p("gemini").adapter.safety_threshold.as_deref(),
            Some("BLOCK_ONLY_HIGH")
        );
        let mock = p("mock")
            .adapter
            .settings
            .get::<ax_providers::MockSettings>()
            .unwrap();
        assert_eq!((mock.chunks, mock.failure_rate), (3, 1.0));
        // The environment's own settings alone.
        let c = Config::load_with(None, &env(&[("OPENAI_ORGANIZATION", "org-env")])).unwrap();
        let openai = c
            .providers
            .iter()
            .find(|p| p.routing.name == "openai")
            .unwrap();
        assert_eq!(openai.adapter.organization.as_deref(), Some("org-env"));
        assert_eq!(
            openai.explicit.settings.get("organization"),
            Some(&"org-env".into())
        );
        assert!(!c.fallback_chain_set);
    }
}
