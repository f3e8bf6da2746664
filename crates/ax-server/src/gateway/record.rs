//! The end of every request: its final lifecycle context becomes one log record (queued
//! to the batched writer, never written on the request path) and its metrics.
//!
//! Metric labels carry only configured values ([`MetricLabels`]): a model name a client
//! made up is counted under `model="other"`, so no client can grow `/metrics` without
//! bound or read another tenant's model names there (DESIGN §8).
//!
//! Durability (`AX_LOG_DURABILITY`): `buffered` (default) queues the record and the
//! answer goes out at once. `acknowledged` queues it with a commit signal
//! ([`ax_store::Commit`], kept in [`LogExtras`]) and the pipeline holds the answer's
//! last byte until the record's batch has committed (`acknowledged` for an answer
//! built whole, `gate_body` for one built where nothing can wait, the stream body
//! for SSE). A record that cannot be committed never leaves a silent success:
//! a whole answer becomes a 503 in the client's format, a stream ends with an error
//! event, and a gated body is cut short (the connection closes mid-answer).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use ax_core::lifecycle::{Context, State};
use ax_core::pricing;
use ax_core::{ErrorCode, GatewayError, WireFormat};
use ax_router::admission::{Permit, Usage as AdmissionUsage};
use ax_router::complete_detached;
use ax_store::{Commit, LogRecord, StoreError};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use metrics::SharedString;

use super::{Gateway, Payload, Served};
use crate::auth::Identity;
use crate::config::{Config, LogDurability};

/// The `model` label of a model no provider or route declares.
pub const OTHER_LABEL: &str = "other";
/// The `provider`/`model` label of a request that never got one (refused before routing).
pub const NONE_LABEL: &str = "none";

/// The label values metrics may carry, built once at start from the configuration:
/// provider names, and the models the configuration declares (each provider's
/// `default_model` and exact, wildcard-free `models` entries; route names and the
/// models their targets name). Anything else is `other`.
///
/// Labelling by the requested name was rejected: every made-up name became a new
/// series (3,000 names took `/metrics` from 16.6 KB to 886 KB). A per-request
/// allow-list check is one hash lookup; the strings are shared (`Arc<str>`), so a
/// label costs no allocation either.
#[derive(Debug, Default)]
pub struct MetricLabels {
    // A few dozen short names at most: a linear scan that compares lengths first
    // beats hashing each label (SipHash) on every request.
    providers: Vec<Arc<str>>,
    models: Vec<Arc<str>>,
}

impl MetricLabels {
    /// The configured names of `config`.
    pub fn from_config(config: &Config) -> Self {
        let mut labels = Self::default();
        for p in &config.providers {
            labels.providers.push(p.routing.name.as_str().into());
            labels.models.push(p.adapter.default_model.as_str().into());
            for pattern in &p.routing.models {
                if !pattern.contains(['*', '?']) {
                    labels.models.push(pattern.as_str().into());
                }
            }
        }
        for route in &config.router.routes {
            labels.models.push(route.name.as_str().into());
            for target in &route.targets {
                if let Some(model) = &target.model {
                    labels.models.push(model.as_str().into());
                }
            }
        }
        for set in [&mut labels.providers, &mut labels.models] {
            set.retain(|name| !name.is_empty());
            set.sort_unstable();
            set.dedup();
        }
        labels
    }

    /// The `provider` label of `name`: itself when configured, else `other`.
    pub fn provider(&self, name: Option<&str>) -> SharedString {
        Self::label(&self.providers, name)
    }

    /// The `model` label of `name`: itself when the configuration declares it, else
    /// `other`.
    pub fn model(&self, name: Option<&str>) -> SharedString {
        Self::label(&self.models, name)
    }

    fn label(known: &[Arc<str>], name: Option<&str>) -> SharedString {
        match name {
            None => SharedString::const_str(NONE_LABEL),
            Some(name) => match known.iter().find(|k| k.as_ref() == name) {
                Some(known) => SharedString::from(Arc::clone(known)),
                None => SharedString::const_str(OTHER_LABEL),
            },
        }
    }
}

/// Longest body stored in a log row; longer ones are cut (and say so).
const MAX_LOGGED_BODY: usize = 64 * 1024;

/// Bodies captured along the way, filled in by the handler.
#[derive(Debug, Default)]
pub struct LogExtras {
    /// The client's request body as received, made text only when the record is
    /// written. After a successful decode it is the request's own copy (shared, not
    /// copied again), so a long stream holds one copy of the body, not two.
    pub request: Mutex<Option<Bytes>>,
    /// The answer (non-streamed only).
    pub response: Mutex<Option<String>>,
    /// In acknowledged durability, the record's commit signal, set when the finish
    /// hook queued it; the handler awaits it before the answer's last byte.
    pub commit: Mutex<Option<Commit>>,
    /// The admission permit of the key and tenant scopes, settled by the finish hook
    /// with the request's real usage.
    pub permit: Mutex<Option<Permit>>,
    /// The request costs nothing whatever its usage says (a token count: its input
    /// tokens were counted, not sent to a model): cost 0, and nothing charged against
    /// the caller's token limits and budget.
    pub unbilled: AtomicBool,
}

impl LogExtras {
    /// Keeps `body` as the request body of the log record.
    pub fn set_request(&self, body: Bytes) {
        if let Ok(mut slot) = self.request.lock() {
            *slot = Some(body);
        }
    }

    /// The record's commit signal, if the hook queued it acknowledged (once).
    pub fn take_commit(&self) -> Option<Commit> {
        self.commit.lock().ok().and_then(|mut c| c.take())
    }

    /// Keeps the request's admission permit until the request finishes.
    pub fn set_permit(&self, permit: Permit) {
        if let Ok(mut slot) = self.permit.lock() {
            *slot = Some(permit);
        }
    }

    /// The admission permit to settle (once).
    pub fn take_permit(&self) -> Option<Permit> {
        self.permit.lock().ok().and_then(|mut p| p.take())
    }

    /// Marks the request as costing nothing ([`LogExtras::unbilled`]).
    pub fn set_unbilled(&self) {
        self.unbilled.store(true, Ordering::Relaxed);
    }
}

/// Waits, in acknowledged durability, until the record whose hook ran with `extras`
/// has committed, then gives `served` back; a record that could not be committed turns
/// the answer into a 503 in `format` (keeping the `x-ax-*` headers). In buffered
/// durability it returns `served` at once.
pub(crate) async fn acknowledged(
    durability: LogDurability,
    extras: &LogExtras,
    format: WireFormat,
    served: Served,
) -> Served {
    if durability != LogDurability::Acknowledged {
        return served;
    }
    let Some(commit) = extras.take_commit() else {
        return served;
    };
    match commit.await {
        Ok(()) => served,
        Err(e) => {
            let mut refused = Served::error(format, not_committed(&e), None);
            for (name, value) in &served.headers {
                if name.as_str().starts_with("x-ax-") {
                    refused.headers.insert(name.clone(), value.clone());
                }
            }
            refused
        }
    }
}

/// For an answer built where nothing can wait (a refusal in a middleware): in
/// acknowledged durability its body is sent only after the record committed (headers
/// may go first), and is cut short when the record could not be committed; otherwise
/// `served` is unchanged.
pub(crate) fn gate_body(durability: LogDurability, extras: &LogExtras, served: Served) -> Served {
    if durability != LogDurability::Acknowledged {
        return served;
    }
    let Some(commit) = extras.take_commit() else {
        return served;
    };
    let body = served.body;
    let gated = futures::stream::once(async move {
        match commit.await {
            Ok(()) => Ok(match body {
                Payload::Full(bytes) => futures::stream::once(async move { Ok(bytes) }).boxed(),
                Payload::Stream(stream) => stream,
            }),
            Err(e) => Err(std::io::Error::other(not_committed(&e).message)),
        }
    })
    .try_flatten();
    Served {
        body: Payload::Stream(Box::pin(gated)),
        ..served
    }
}

/// The error a client gets instead of an answer whose log record was not committed:
/// `overloaded` (503 in every format; retryable, the store may recover).
pub fn not_committed(e: &StoreError) -> GatewayError {
    tracing::error!(error = %e, "log record not committed; answer withheld (AX_LOG_DURABILITY=acknowledged)");
    GatewayError::new(
        ErrorCode::Overloaded,
        format!(
            "the answer was not acknowledged: its log record could not be committed ({e}); the request may have reached the provider"
        ),
    )
}

impl Gateway {
    /// Builds the hook the router calls exactly once with the final context: metrics,
    /// the settlement of the request's admission permit (kept in `extras`), and the
    /// log record, attributed to `identity`.
    pub(crate) fn finish_hook(
        self: &Arc<Self>,
        format: WireFormat,
        identity: Option<Arc<Identity>>,
        extras: Arc<LogExtras>,
    ) -> Box<dyn FnOnce(Context) + Send> {
        let gw = Arc::clone(self);
        Box::new(move |ctx: Context| gw.finished(&ctx, format, identity.as_deref(), &extras))
    }

    fn finished(
        &self,
        ctx: &Context,
        format: WireFormat,
        identity: Option<&Identity>,
        extras: &LogExtras,
    ) {
        record_metrics(&self.labels, ctx, format);
        let unbilled = extras.unbilled.load(Ordering::Relaxed);
        let cost = if unbilled {
            Some(0.0)
        } else {
            ctx.model
                .as_deref()
                .and_then(|m| pricing::cost_usd(m, &ctx.usage))
        };
        if let Some(permit) = extras.take_permit() {
            // What the request really used replaces the admission estimate.
            let tokens = if unbilled {
                0
            } else {
                ctx.usage
                    .input_tokens
                    .saturating_add(ctx.usage.output_tokens)
            };
            complete_detached(self.admission.settle(
                permit,
                AdmissionUsage {
                    tokens,
                    cost_usd: cost,
                },
            ));
        }
        let Some(writer) = self.writer.as_ref() else {
            return;
        };
        let mut rec = LogRecord::from_context(ctx);
        rec.tenant_id = identity.map(|i| i.tenant_id);
        rec.key_id = identity.map(|i| i.key_id);
        rec.cost_usd = cost;
        if self.settings.store_bodies {
            rec.request_data = extras
                .request
                .lock()
                .ok()
                .and_then(|r| r.as_deref().map(loggable_body));
            rec.response_data = extras.response.lock().ok().and_then(|mut r| r.take());
        }
        // Acknowledged durability: queue with a commit signal for the handler to await
        // (the writer waits for room on its own task when the queue is full).
        if self.settings.log_durability == LogDurability::Acknowledged {
            let commit = writer.submit_acknowledged(rec);
            if let Ok(mut slot) = extras.commit.lock() {
                *slot = Some(commit);
            }
            return;
        }
        // Queue without a task per request; only a full queue (backpressure) needs
        // one, to wait for room. The hook may run inside Drop (client went away), so
        // that wait is spawned on the runtime rather than awaited here.
        // `ax_log_queue_depth` is read from the writer when /metrics is scraped.
        match writer.try_submit(rec) {
            Ok(()) => {}
            Err(ax_store::TrySubmitError::Full(rec)) => {
                let writer = writer.clone();
                match tokio::runtime::Handle::try_current() {
                    Ok(rt) => {
                        rt.spawn(async move { writer.submit(*rec).await });
                    }
                    Err(_) => tracing::error!("log record dropped: queue full and no runtime"),
                }
            }
            Err(ax_store::TrySubmitError::Closed(_)) => {
                tracing::error!("log writer is shut down: log record refused");
            }
        }
    }
}

/// A body for the log: valid UTF-8 text, cut at [`MAX_LOGGED_BODY`].
pub fn loggable_body(bytes: &[u8]) -> String {
    let cut = bytes.len().min(MAX_LOGGED_BODY);
    // Bodies are almost always valid UTF-8: validate and copy in one pass, and fall back
    // to the slower replacing conversion only when needed (a cut may split a char).
    let mut s = match std::str::from_utf8(&bytes[..cut]) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(&bytes[..cut]).into_owned(),
    };
    if bytes.len() > MAX_LOGGED_BODY {
        s.push_str("…[truncated]");
    }
    s
}

fn record_metrics(labels: &MetricLabels, ctx: &Context, format: WireFormat) {
    let provider = labels.provider(ctx.provider.as_deref());
    let model = labels.model(ctx.model.as_deref());
    let outcome = match (ctx.state, &ctx.error) {
        (State::Completed, _) => "success",
        (_, Some((code, _))) => code.as_str(),
        _ => "error",
    };
    metrics::counter!("ax_requests_total", "provider" => provider.clone(), "model" => model, "outcome" => outcome, "format" => format.as_str())
        .increment(1);
    if let Some(ms) = ctx.duration_ms() {
        metrics::histogram!("ax_request_duration_seconds", "provider" => provider.clone())
            .record(ms as f64 / 1000.0);
    }
    if let Some(ms) = ctx.first_token_ms() {
        metrics::histogram!("ax_first_token_seconds", "provider" => provider.clone())
            .record(ms as f64 / 1000.0);
    }
    if ctx.usage.input_tokens > 0 {
        metrics::counter!("ax_tokens_total", "provider" => provider.clone(), "direction" => "input")
            .increment(ctx.usage.input_tokens);
    }
    if ctx.usage.output_tokens > 0 {
        metrics::counter!("ax_tokens_total", "provider" => provider, "direction" => "output")
            .increment(ctx.usage.output_tokens);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn only_configured_names_become_labels() {
        let toml = r#"
[[providers]]
name = "local"
kind = "openai-compatible"
base_url = "http://127.0.0.1:9"
default_model = "llama3"
models = ["qwen-*", "phi3"]

[[routes]]
name = "smart"
targets = ["local/mistral-large", "local"]
"#;
        let config = Config::from_toml_str(toml, &BTreeMap::new()).expect("config");
        let labels = MetricLabels::from_config(&config);
        let model = |m: &str| labels.model(Some(m)).into_owned();
        for declared in ["llama3", "phi3", "smart", "mistral-large", "mock-1"] {
            assert_eq!(model(declared), declared);
        }
        for made_up in ["qwen-7b", "gpt-made-up", "qwen-*", "", "other"] {
            assert_eq!(model(made_up), OTHER_LABEL, "{made_up}");
        }
        assert_eq!(labels.model(None).into_owned(), NONE_LABEL);
        assert_eq!(labels.provider(Some("local")).into_owned(), "local");
        assert_eq!(labels.provider(Some("mock")).into_owned(), "mock");
        assert_eq!(labels.provider(Some("evil")).into_owned(), OTHER_LABEL);
        assert_eq!(labels.provider(None).into_owned(), NONE_LABEL);
    }
}
