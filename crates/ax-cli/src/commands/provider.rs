//! `ax provider health | stats | logs | circuit status | circuit reset | test`.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use ax_core::{ChatRequest, GatewayError, GenerationParams, Message, Role, StreamEvent, Usage};
use ax_server::Config;
use ax_server::assemble::assemble;
use ax_store::{LogFilter, LogQuery as _, Store};
use futures::StreamExt as _;
use serde::Serialize;

use crate::api::{ProvidersStatus, circuit_tone, health_tone};
use crate::cli::{
    CircuitCommand, CircuitResetArgs, CircuitStatusArgs, HealthArgs, LogsArgs, StatsArgs, TestArgs,
};
use crate::client::{AdminClient, CallError};
use crate::error::usage;
use crate::hints;
use crate::output::{self, NONE, Style, Tone, ms_f, ms_i, out, outln, print_json, short_time};
use crate::store::sqlite_path;

/// `ax provider health`.
pub async fn health(args: HealthArgs) -> anyhow::Result<ExitCode> {
    let client = AdminClient::new(&args.server.url)?;
    let status: ProvidersStatus = client.get("admin/providers", &[]).await?;
    if args.json {
        print_json(&status)?;
        return Ok(ExitCode::SUCCESS);
    }
    let s = Style::detect();
    let mut t = s.table([
        "PROVIDER",
        "KIND",
        "ENABLED",
        "HEALTH",
        "CIRCUIT",
        "LATENCY EMA",
        "OK STREAK",
        "FAIL STREAK",
        "LAST ERROR",
    ]);
    for p in &status.providers {
        let last_error = p
            .last_error
            .as_ref()
            .map_or_else(|| NONE.to_owned(), |e| format!("{}: {}", e.code, e.message));
        t.add_row(vec![
            s.cell(&p.name, Tone::Plain),
            s.cell(&p.kind, Tone::Dim),
            s.cell(
                if p.enabled { "yes" } else { "no" },
                if p.enabled { Tone::Plain } else { Tone::Dim },
            ),
            s.cell(&p.health, health_tone(&p.health)),
            s.cell(&p.circuit.state, circuit_tone(&p.circuit.state)),
            s.num(ms_f(p.latency_ema_ms)),
            s.num(p.consecutive_successes),
            s.num(p.consecutive_failures),
            s.cell(
                last_error,
                if p.last_error.is_some() {
                    Tone::Bad
                } else {
                    Tone::Dim
                },
            ),
        ]);
    }
    s.print_table(&t)?;
    Ok(ExitCode::SUCCESS)
}

/// `{"window_hours","rows":[...]}` of `ax provider stats --json`.
#[derive(Serialize)]
struct StatsOut {
    window_hours: u32,
    rows: Vec<ax_store::StatsRow>,
}

/// `ax provider stats`.
pub async fn stats(args: StatsArgs) -> anyhow::Result<ExitCode> {
    let store = crate::store::open_existing(&args.store.database_url).await?;
    let rows = store.stats(args.time).await;
    store.close().await;
    let rows = rows.context("cannot read statistics")?;
    if args.json {
        print_json(&StatsOut {
            window_hours: args.time,
            rows,
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        outln!("no requests reached a provider in the last {} h", args.time)?;
        return Ok(ExitCode::SUCCESS);
    }
    let s = Style::detect();
    let mut t = s.table([
        "PROVIDER",
        "MODEL",
        "REQUESTS",
        "SUCCESS",
        "AVG LATENCY",
        "P95 LATENCY",
        "AVG FIRST TOKEN",
        "TOKENS IN",
        "TOKENS OUT",
        "FALLBACKS",
        "COST USD",
    ]);
    for r in &rows {
        let tone = if r.success_rate >= 0.99 {
            Tone::Good
        } else if r.success_rate >= 0.9 {
            Tone::Warn
        } else {
            Tone::Bad
        };
        let cost = output::cost_cell(r.cost_usd, r.unpriced_requests);
        t.add_row(vec![
            s.cell(&r.provider, Tone::Plain),
            s.cell(&r.model, Tone::Plain),
            s.num(r.requests),
            s.cell(format!("{:.1}%", r.success_rate * 100.0), tone)
                .set_alignment(comfy_table::CellAlignment::Right),
            s.num(ms_f(r.avg_latency_ms)),
            s.num(ms_i(r.p95_latency_ms)),
            s.num(ms_f(r.avg_first_token_ms)),
            s.num(r.input_tokens),
            s.num(r.output_tokens),
            s.num(r.fallbacks),
            s.num(cost),
        ]);
    }
    s.print_table(&t)?;
    let unpriced: u64 = rows.iter().map(|r| r.unpriced_requests).sum();
    if unpriced > 0 {
        outln!(
            "{}",
            s.paint(
                &format!(
                    "cost unknown for {unpriced} request{} (model without a list price): \
                     `-` no cost known, `+` the cost of the priced requests only",
                    if unpriced == 1 { "" } else { "s" }
                ),
                Tone::Dim
            )
        )?;
    }
    outln!(
        "{}",
        s.paint(&format!("window: last {} h", args.time), Tone::Dim)
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `ax provider logs`.
pub async fn logs(args: LogsArgs) -> anyhow::Result<ExitCode> {
    let store = crate::store::open_existing(&args.store.database_url).await?;
    let rows = store
        .recent_logs(LogFilter {
            provider: args.provider.clone(),
            failed_only: args.failed,
            limit: args.number,
        })
        .await;
    store.close().await;
    let rows = rows.context("cannot read request logs")?;
    if args.json {
        print_json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        outln!("no requests match")?;
        return Ok(ExitCode::SUCCESS);
    }
    let s = Style::detect();
    let mut t = s.table([
        "TIME (UTC)",
        "REQUEST ID",
        "PROVIDER",
        "MODEL",
        "STATE",
        "TOOK",
        "TOKENS",
        "ERROR",
    ]);
    for r in &rows {
        let state = r.state.as_str();
        let tone = match state {
            "completed" => Tone::Good,
            "failed" => Tone::Bad,
            _ => Tone::Warn,
        };
        let fallback = if r.is_fallback { " (fallback)" } else { "" };
        let tokens = output::tokens_cell(r.input_tokens, r.output_tokens, r.tokens_estimated);
        t.add_row(vec![
            s.cell(short_time(&r.created_at), Tone::Dim),
            s.cell(&r.request_id, Tone::Plain),
            s.cell(
                format!("{}{fallback}", r.provider.as_deref().unwrap_or(NONE)),
                Tone::Plain,
            ),
            s.cell(r.model.as_deref().unwrap_or(NONE), Tone::Plain),
            s.cell(state, tone),
            s.num(ms_i(r.duration_ms)),
            s.num(tokens),
            s.cell(
                r.error_code.map_or(NONE, |c| c.as_str()),
                if r.error_code.is_some() {
                    Tone::Bad
                } else {
                    Tone::Dim
                },
            ),
        ]);
    }
    s.keep_whole(&mut t, &[0, 1, 4]);
    s.print_table(&t)?;
    Ok(ExitCode::SUCCESS)
}

/// `ax provider circuit …`.
pub async fn circuit(cmd: CircuitCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        CircuitCommand::Status(args) => circuit_status(args).await,
        CircuitCommand::Reset(args) => circuit_reset(args).await,
    }
}

/// One row of `ax provider circuit status --json`.
#[derive(Serialize)]
struct CircuitRow {
    provider: String,
    enabled: bool,
    state: String,
    consecutive_failures: u32,
    opened_at: Option<String>,
}

/// `ax provider circuit status --json`.
#[derive(Serialize)]
struct CircuitsOut<'a> {
    circuits: &'a [CircuitRow],
}

/// `ax provider circuit reset --json`.
#[derive(Serialize)]
struct ResetOut<'a> {
    provider: &'a str,
    reset: bool,
    previous_state: &'a str,
    circuit: &'a str,
}

async fn circuit_status(args: CircuitStatusArgs) -> anyhow::Result<ExitCode> {
    let client = AdminClient::new(&args.server.url)?;
    let status: ProvidersStatus = client.get("admin/providers", &[]).await?;
    let rows: Vec<CircuitRow> = status
        .providers
        .into_iter()
        .map(|p| CircuitRow {
            provider: p.name,
            enabled: p.enabled,
            state: p.circuit.state,
            consecutive_failures: p.circuit.consecutive_failures,
            opened_at: p.circuit.opened_at,
        })
        .collect();
    if args.json {
        print_json(&CircuitsOut { circuits: &rows })?;
        return Ok(ExitCode::SUCCESS);
    }
    let s = Style::detect();
    let mut t = s.table(["PROVIDER", "ENABLED", "CIRCUIT", "FAILURES", "OPENED AT"]);
    for r in &rows {
        t.add_row(vec![
            s.cell(&r.provider, Tone::Plain),
            s.cell(
                if r.enabled { "yes" } else { "no" },
                if r.enabled { Tone::Plain } else { Tone::Dim },
            ),
            s.cell(&r.state, circuit_tone(&r.state)),
            s.num(r.consecutive_failures),
            s.cell(r.opened_at.as_deref().unwrap_or(NONE), Tone::Dim),
        ]);
    }
    s.print_table(&t)?;
    Ok(ExitCode::SUCCESS)
}

async fn circuit_reset(args: CircuitResetArgs) -> anyhow::Result<ExitCode> {
    let client = AdminClient::new(&args.server.url)?;
    let status: ProvidersStatus = client.get("admin/providers", &[]).await?;
    let Some(before) = status.providers.iter().find(|p| p.name == args.provider) else {
        return Err(unknown_provider(&args.provider, &status));
    };
    let previous = before.circuit.state.clone();
    let path = format!("admin/providers/{}/circuit/reset", args.provider);
    let answer: serde_json::Value = match client.post(&path).await {
        Ok(v) => v,
        Err(CallError::Api(e)) if e.status == reqwest::StatusCode::NOT_FOUND => {
            return Err(unknown_provider(&args.provider, &status));
        }
        Err(e) => return Err(e.into()),
    };
    let state = answer
        .get("circuit")
        .and_then(|v| v.as_str())
        .unwrap_or("closed")
        .to_owned();
    if args.json {
        print_json(&ResetOut {
            provider: &args.provider,
            reset: true,
            previous_state: &previous,
            circuit: &state,
        })?;
    } else {
        let s = Style::detect();
        outln!(
            "{}: circuit {} (was {})",
            args.provider,
            s.paint(&state, circuit_tone(&state)),
            s.paint(&previous, circuit_tone(&previous)),
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

fn unknown_provider(name: &str, status: &ProvidersStatus) -> anyhow::Error {
    let known: Vec<&str> = status.providers.iter().map(|p| p.name.as_str()).collect();
    usage(format!(
        "unknown provider `{name}` (known: {})",
        known.join(", ")
    ))
}

/// `ax provider test --json`.
#[derive(Serialize)]
struct TestOut {
    ok: bool,
    provider: String,
    kind: String,
    model: String,
    stream: bool,
    text: String,
    finish_reason: Option<String>,
    latency_ms: u64,
    first_token_ms: Option<u64>,
    input_tokens: u64,
    output_tokens: u64,
    error: Option<TestError>,
}

/// The error of a failed `ax provider test`.
#[derive(Serialize)]
struct TestError {
    code: String,
    message: String,
    upstream_status: Option<u16>,
}

/// The store at `url` when it exists and is migrated: commands that only complete the
/// configuration with it (`ax provider test`, `ax doctor`) work without one and never
/// create one.
pub(crate) async fn open_if_migrated(url: &str) -> Option<Store> {
    if sqlite_path(url).is_some_and(|p| !p.exists()) {
        return None;
    }
    let store = Store::connect(url).await.ok()?;
    if store
        .pending_migrations()
        .await
        .is_ok_and(|pending| pending.is_empty())
    {
        Some(store)
    } else {
        store.close().await;
        None
    }
}

/// `ax provider test`.
pub async fn test(args: TestArgs) -> anyhow::Result<ExitCode> {
    let mut config = Config::load(args.config.as_deref())?;
    // The provider as `ax serve` would run it: with its stored key and settings.
    if let Some(store) = open_if_migrated(&config.database_url).await {
        let assembled = assemble(&mut config, &store).await;
        store.close().await;
        assembled?;
    }
    let Some(entry) = config
        .providers
        .iter()
        .find(|p| p.routing.name == args.provider)
    else {
        let known: Vec<&str> = config
            .providers
            .iter()
            .map(|p| p.routing.name.as_str())
            .collect();
        return Err(usage(format!(
            "unknown provider `{}` (known: {})",
            args.provider,
            known.join(", ")
        )));
    };
    let kind = entry.routing.kind;
    if entry.adapter.api_key.is_none() && hints::needs_key(kind) {
        anyhow::bail!(
            "provider `{}` has no API key: {}",
            args.provider,
            hints::set_key_fix(&args.provider, kind)
        );
    }
    let provider = ax_providers::build_provider(entry.adapter.clone())
        .map_err(|e| anyhow::anyhow!("provider `{}`: {}", args.provider, e.message))?;
    let model = args
        .model
        .clone()
        .unwrap_or_else(|| provider.default_model().to_owned());
    let request = ChatRequest {
        model: model.clone(),
        messages: vec![Message::text(Role::User, args.prompt.clone())],
        params: GenerationParams {
            max_tokens: Some(args.max_tokens),
            ..GenerationParams::default()
        },
        stream: args.stream,
        include_usage: args.stream,
        ..ChatRequest::default()
    };
    let s = Style::detect();
    let echo = args.stream && !args.json;
    let started = Instant::now();
    let mut first_token: Option<u64> = None;
    let mut text = String::new();
    let mut usage_seen = Usage::default();
    let mut finish: Option<String> = None;
    let outcome: Result<(), GatewayError> = if args.stream {
        let bar = output::spinner(format!(
            "{} ({model}): waiting for the first token",
            args.provider
        ));
        match provider.chat_stream(&request, &model).await {
            Err(e) => {
                bar.finish_and_clear();
                Err(e)
            }
            Ok(mut stream) => {
                let mut result = Ok(());
                while let Some(item) = stream.next().await {
                    match item {
                        Err(e) => {
                            result = Err(e);
                            break;
                        }
                        Ok(chunk) => {
                            for event in chunk.events {
                                if event.is_content() && first_token.is_none() {
                                    first_token = Some(elapsed_ms(started));
                                    bar.finish_and_clear();
                                }
                                match event {
                                    StreamEvent::TextDelta { text: t } => {
                                        if echo {
                                            out!("{t}")?;
                                        }
                                        text.push_str(&t);
                                    }
                                    StreamEvent::Usage(u) => usage_seen = u,
                                    StreamEvent::Finish { reason, .. } => {
                                        finish = Some(reason.as_str().to_owned());
                                    }
                                    _ => {}
                                }
                            }
                        }
                    }
                }
                bar.finish_and_clear();
                if echo && !text.is_empty() {
                    outln!()?;
                }
                result
            }
        }
    } else {
        let bar = output::spinner(format!(
            "{} ({model}): waiting for the answer",
            args.provider
        ));
        let r = provider.chat(&request, &model).await;
        bar.finish_and_clear();
        r.map(|outcome| {
            first_token = Some(elapsed_ms(started));
            text = outcome.response.text();
            usage_seen = outcome.response.usage;
            finish = Some(outcome.response.finish_reason.as_str().to_owned());
        })
    };
    let latency_ms = elapsed_ms(started);
    let out = TestOut {
        ok: outcome.is_ok(),
        provider: args.provider.clone(),
        kind: kind.to_string(),
        model: model.clone(),
        stream: args.stream,
        text,
        finish_reason: finish,
        latency_ms,
        first_token_ms: first_token,
        input_tokens: usage_seen.input_tokens,
        output_tokens: usage_seen.output_tokens,
        error: outcome.as_ref().err().map(|e| TestError {
            code: e.code.as_str().to_owned(),
            message: e.message.clone(),
            upstream_status: e.upstream_status,
        }),
    };
    if args.json {
        print_json(&out)?;
    } else {
        if !args.stream && !out.text.is_empty() {
            outln!("{}", out.text)?;
        }
        if let Err(e) = &outcome {
            anstream::eprintln!(
                "{} {}/{}: {}: {}",
                s.paint("failed", Tone::Bad),
                args.provider,
                model,
                e.code.as_str(),
                e.message
            );
            if let Some(fix) = test_fix(e, &args.provider, kind, &entry.adapter.base_url) {
                anstream::eprintln!("fix: {fix}");
            }
        }
        let summary = format!(
            "{}/{} · latency {} ms · first token {} · tokens {} in / {} out{}",
            args.provider,
            model,
            out.latency_ms,
            out.first_token_ms
                .map_or_else(|| NONE.to_owned(), |v| format!("{v} ms")),
            out.input_tokens,
            out.output_tokens,
            out.finish_reason
                .as_deref()
                .map(|f| format!(" · finish {f}"))
                .unwrap_or_default(),
        );
        outln!("{}", s.paint(&summary, Tone::Dim))?;
    }
    Ok(if outcome.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// What to do about a failed provider call, when there is something concrete.
pub fn test_fix(
    e: &GatewayError,
    name: &str,
    kind: ax_core::ProviderKind,
    base_url: &str,
) -> Option<String> {
    use ax_core::ErrorCode as C;
    match e.code {
        C::AuthenticationError | C::PermissionDenied => Some(format!(
            "check {}: the upstream rejected it",
            hints::key_source(name, kind)
        )),
        C::NetworkError | C::Timeout => {
            Some(format!("check the network and the base URL ({base_url})"))
        }
        C::NotFound => Some(format!(
            "check the model name and the base URL ({base_url})"
        )),
        C::ServerError | C::Overloaded => Some(format!(
            "the upstream at {base_url} is failing (not a key problem): check the provider's status and retry later"
        )),
        C::RateLimitExceeded | C::QuotaExceeded => {
            Some("the key works but is rate limited or out of quota; retry later".to_owned())
        }
        _ => None,
    }
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}
