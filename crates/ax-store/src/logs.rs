//! Writing log records and the analytics reads over them, for the SQLite store.
//!
//! The column values of a record ([`Prepared`]) are made here for both write paths:
//! this sqlx sink (in-memory databases, tests, and the fallback) and the rusqlite
//! [`SqliteLogSink`](crate::SqliteLogSink) the server uses for a file database.
//!
//! In the sqlx sink, a batch is written as multi-row INSERTs inside one transaction (one round trip to
//! SQLite's worker per chunk rather than per row). Chunks are cut to power-of-two sizes
//! up to [`ROWS_PER_STATEMENT`], so whatever a batch's size, its SQL is one of ten
//! texts whose prepared statements stay in the connection's cache: a batch of 337 rows
//! is 256 + 64 + 16 + 1, not a fresh 337-row statement to parse.
//! Values a CHECK constraint would refuse (negative durations from a clock step, costs
//! that are not finite) are clamped or dropped here, so one odd record cannot fail a
//! whole batch.

use async_trait::async_trait;
use ax_core::ErrorCode;
use ax_core::lifecycle::State;
use sqlx::query_builder::Separated;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite};
use time::OffsetDateTime;

use crate::error::StoreError;
use crate::query::{FailedRow, LogFilter, LogRow, StatsRow};
use crate::record::LogRecord;
use crate::store::Store;
use crate::timestamp;
use crate::traits::{LogQuery, LogSink};

/// Most rows per INSERT statement (a power of two): 23 parameters a row stays far
/// below SQLite's 32 766.
pub(crate) const ROWS_PER_STATEMENT: usize = 512;

/// The columns of a `provider_logs` row, in the order of [`Prepared::log_values`].
pub(crate) const LOG_COLUMNS: &str = "id, request_id, conversation_id, user_id, tenant_id, \
     key_id, provider, model, state, state_timeline, request_data, response_data, \
     error_message, error_code, start_time, end_time, duration, retry_attempt, attempts, \
     is_fallback, tags, created_at";

/// How many columns [`LOG_COLUMNS`] names.
pub(crate) const LOG_COLUMN_COUNT: usize = 22;

/// The columns of a `provider_metrics` row, in the order of [`Prepared::metrics_values`].
pub(crate) const METRICS_COLUMNS: &str = "id, log_id, request_id, provider, model, \
     input_tokens, output_tokens, total_tokens, cached_tokens, reasoning_tokens, \
     tokens_estimated, first_token_latency, total_duration, chunks_received, retry_count, \
     is_fallback, fallback_from, fallback_provider, success, cost_usd, created_at";

/// How many columns [`METRICS_COLUMNS`] names.
pub(crate) const METRICS_COLUMN_COUNT: usize = 21;

/// One column value borrowed from a [`Prepared`] record: what both write paths (sqlx's
/// multi-row INSERTs here, rusqlite's in [`crate::log_sink`]) bind, so they cannot
/// disagree on a column.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value<'a> {
    /// TEXT, or NULL.
    Text(Option<&'a str>),
    /// INTEGER, or NULL.
    Int(Option<i64>),
    /// REAL, or NULL.
    Real(Option<f64>),
    /// A boolean, stored as INTEGER 0 or 1.
    Bool(bool),
}

/// A record turned into column values.
pub(crate) struct Prepared<'a> {
    rec: &'a LogRecord,
    id: String,
    metrics_id: String,
    tenant_id: Option<String>,
    key_id: Option<String>,
    timeline: String,
    tags: String,
    start_time: String,
    end_time: Option<String>,
    duration: Option<i64>,
    first_token: Option<i64>,
    cost_usd: Option<f64>,
}

impl<'a> Prepared<'a> {
    /// The column values of `rec`: values a CHECK constraint would refuse are clamped or
    /// dropped, the metrics row gets a fresh UUID v7.
    pub(crate) fn new(rec: &'a LogRecord) -> Result<Self, StoreError> {
        let json = |e: serde_json::Error| StoreError::Invalid(format!("log record: {e}"));
        Ok(Self {
            rec,
            id: rec.id.to_string(),
            metrics_id: uuid::Uuid::now_v7().to_string(),
            tenant_id: rec.tenant_id.map(|t| t.to_string()),
            key_id: rec.key_id.map(|k| k.to_string()),
            timeline: serde_json::to_string(&rec.timeline).map_err(json)?,
            tags: serde_json::to_string(&rec.tags).map_err(json)?,
            start_time: timestamp::format(rec.start_time),
            end_time: rec.end_time.map(timestamp::format),
            duration: rec.duration_ms.map(|d| d.max(0)),
            first_token: rec.first_token_ms.map(|d| d.max(0)),
            cost_usd: rec.cost_usd.filter(|c| c.is_finite() && *c >= 0.0),
        })
    }

    /// The `provider_logs` row, in the order of [`LOG_COLUMNS`].
    pub(crate) fn log_values(&self) -> [Value<'_>; LOG_COLUMN_COUNT] {
        use Value::{Bool, Int, Text};
        let r = self.rec;
        [
            Text(Some(&self.id)),
            Text(Some(&r.request_id)),
            Text(r.conversation_id.as_deref()),
            Text(r.user_id.as_deref()),
            Text(self.tenant_id.as_deref()),
            Text(self.key_id.as_deref()),
            Text(r.provider.as_deref()),
            Text(r.model.as_deref()),
            Text(Some(r.state.as_str())),
            Text(Some(&self.timeline)),
            Text(r.request_data.as_deref()),
            Text(r.response_data.as_deref()),
            Text(r.error_message.as_deref()),
            Text(r.error_code.map(ErrorCode::as_str)),
            Text(Some(&self.start_time)),
            Text(self.end_time.as_deref()),
            Int(self.duration),
            Int(Some(i64::from(r.retries))),
            Int(Some(i64::from(r.attempts))),
            Bool(r.is_fallback),
            Text(Some(&self.tags)),
            Text(Some(&self.start_time)),
        ]
    }

    /// The `provider_metrics` row, in the order of [`METRICS_COLUMNS`].
    pub(crate) fn metrics_values(&self) -> [Value<'_>; METRICS_COLUMN_COUNT] {
        use Value::{Bool, Int, Real, Text};
        let r = self.rec;
        [
            Text(Some(&self.metrics_id)),
            Text(Some(&self.id)),
            Text(Some(&r.request_id)),
            Text(r.provider.as_deref()),
            Text(r.model.as_deref()),
            Int(Some(int(r.usage.input_tokens))),
            Int(Some(int(r.usage.output_tokens))),
            Int(Some(int(r.usage.total_tokens()))),
            Int(Some(int(r.usage.cached_tokens))),
            Int(Some(int(r.usage.reasoning_tokens))),
            Bool(r.tokens_estimated),
            Int(self.first_token),
            Int(self.duration),
            Int(Some(int(r.chunks))),
            Int(Some(i64::from(r.retries))),
            Bool(r.is_fallback),
            Text(r.fallback_from.as_deref()),
            Text(r.fallback_provider.as_deref()),
            Bool(r.success),
            Real(self.cost_usd),
            Text(Some(&self.start_time)),
        ]
    }
}

fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[async_trait]
impl LogSink for Store {
    async fn write_batch(&self, records: &[LogRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let prepared = records
            .iter()
            .map(Prepared::new)
            .collect::<Result<Vec<_>, _>>()?;
        let mut tx = self.write.begin().await?;
        let mut rest = prepared.as_slice();
        while !rest.is_empty() {
            let (chunk, tail) = rest.split_at(chunk_len(rest.len()));
            rest = tail;
            insert_logs(chunk).build().execute(&mut *tx).await?;
            insert_metrics(chunk).build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// The largest power of two that is at most `remaining` and [`ROWS_PER_STATEMENT`].
pub(crate) fn chunk_len(remaining: usize) -> usize {
    let capped = remaining.clamp(1, ROWS_PER_STATEMENT);
    1 << capped.ilog2()
}

/// Binds one value into a row of a multi-row INSERT.
fn push_value<'a>(b: &mut Separated<'_, 'a, Sqlite, &'static str>, value: Value<'a>) {
    match value {
        Value::Text(v) => b.push_bind(v),
        Value::Int(v) => b.push_bind(v),
        Value::Real(v) => b.push_bind(v),
        Value::Bool(v) => b.push_bind(v),
    };
}

fn insert_logs<'a>(chunk: &'a [Prepared<'a>]) -> QueryBuilder<'a, Sqlite> {
    let mut q = QueryBuilder::new("INSERT INTO provider_logs (");
    q.push(LOG_COLUMNS).push(") ");
    q.push_values(chunk, |mut b, p| {
        for v in p.log_values() {
            push_value(&mut b, v);
        }
    });
    q
}

fn insert_metrics<'a>(chunk: &'a [Prepared<'a>]) -> QueryBuilder<'a, Sqlite> {
    let mut q = QueryBuilder::new("INSERT INTO provider_metrics (");
    q.push(METRICS_COLUMNS).push(") ");
    q.push_values(chunk, |mut b, p| {
        for v in p.metrics_values() {
            push_value(&mut b, v);
        }
    });
    q
}

#[async_trait]
impl LogQuery for Store {
    async fn recent_logs(&self, filter: LogFilter) -> Result<Vec<LogRow>, StoreError> {
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT l.request_id, l.created_at, l.provider, l.model, l.state, l.error_code, \
             l.duration, m.first_token_latency, m.input_tokens, m.output_tokens, \
             m.tokens_estimated, l.is_fallback, l.attempts, l.conversation_id, l.user_id, \
             l.tags, m.cost_usd \
             FROM provider_logs AS l LEFT JOIN provider_metrics AS m ON m.log_id = l.id \
             WHERE 1 = 1",
        );
        // Literal predicates (not `? IS NULL OR ...`) so SQLite can pick the
        // (provider, created_at), (state, created_at) or (provider, state, created_at)
        // index and walk it backwards instead of sorting.
        if let Some(provider) = &filter.provider {
            q.push(" AND l.provider = ").push_bind(provider.as_str());
        }
        if filter.failed_only {
            q.push(" AND l.state = 'failed'");
        }
        // rowid breaks ties within a millisecond in insertion order, and is part of
        // every index entry, so the order still comes straight from the index.
        q.push(" ORDER BY l.created_at DESC, l.rowid DESC LIMIT ")
            .push_bind(i64::from(filter.limit));
        let rows = q.build().fetch_all(&self.read).await?;
        rows.iter().map(log_row).collect()
    }

    async fn stats(&self, window_hours: u32) -> Result<Vec<StatsRow>, StoreError> {
        let since = timestamp::format(
            OffsetDateTime::now_utc() - time::Duration::hours(i64::from(window_hours)),
        );
        let rows = sqlx::query(STATS_SQL)
            .bind(since)
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(stats_row).collect()
    }

    async fn failed_requests(&self, limit: u32) -> Result<Vec<FailedRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT request_id, created_at, provider, model, error_code, error_message, \
             duration_ms, attempts, is_fallback, fallback_provider, conversation_id, user_id \
             FROM provider_failed_requests ORDER BY created_at DESC, id DESC LIMIT ?",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(failed_row).collect()
    }
}

/// Per (provider, model) aggregates since `?1`, with the nearest-rank 95th percentile
/// of the duration: the value at rank ceil(0.95 n) of the n durations in ascending
/// order, computed as (95 n + 99) / 100 in integers (no floating point, no math
/// extension needed). Unknown costs (NULL) are not summed as 0: `SUM` is NULL when no
/// request of the group has a cost, and `unpriced_requests` counts the NULLs.
const STATS_SQL: &str = "\
WITH m AS (
    SELECT provider, COALESCE(model, '') AS model, success, total_duration,
           first_token_latency, input_tokens, output_tokens, is_fallback, cost_usd
    FROM provider_metrics
    WHERE created_at >= ?1 AND provider IS NOT NULL
),
agg AS (
    SELECT provider, model,
           COUNT(*)                 AS requests,
           SUM(success)             AS successes,
           AVG(total_duration)      AS avg_latency_ms,
           AVG(first_token_latency) AS avg_first_token_ms,
           SUM(input_tokens)        AS input_tokens,
           SUM(output_tokens)       AS output_tokens,
           SUM(is_fallback)         AS fallbacks,
           SUM(cost_usd)            AS cost_usd,
           COUNT(*) - COUNT(cost_usd) AS unpriced_requests
    FROM m GROUP BY provider, model
),
ranked AS (
    SELECT provider, model, total_duration,
           ROW_NUMBER() OVER (PARTITION BY provider, model ORDER BY total_duration) AS rn,
           COUNT(*) OVER (PARTITION BY provider, model) AS n
    FROM m WHERE total_duration IS NOT NULL
)
SELECT a.provider, a.model, a.requests, a.successes, a.avg_latency_ms,
       r.total_duration AS p95_latency_ms, a.avg_first_token_ms, a.input_tokens,
       a.output_tokens, a.fallbacks, a.cost_usd, a.unpriced_requests
FROM agg AS a
LEFT JOIN ranked AS r
       ON r.provider = a.provider AND r.model = a.model AND r.rn = (95 * r.n + 99) / 100
ORDER BY a.requests DESC, a.provider, a.model";

fn invalid(what: &str, value: &str) -> StoreError {
    StoreError::Invalid(format!("stored {what} `{value}` is not valid"))
}

fn state(s: &str) -> Result<State, StoreError> {
    s.parse().map_err(|_| invalid("state", s))
}

fn error_code(s: Option<String>) -> Result<Option<ErrorCode>, StoreError> {
    s.map(|s| s.parse().map_err(|_| invalid("error code", &s)))
        .transpose()
}

fn count(v: Option<i64>) -> u64 {
    v.and_then(|v| u64::try_from(v).ok()).unwrap_or(0)
}

/// A stored token count: `None` when the store has none (no metrics row), never 0.
fn known_count(v: Option<i64>) -> Option<u64> {
    v.map(|v| u64::try_from(v).unwrap_or(0))
}

fn small(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(if v < 0 { 0 } else { u32::MAX })
}

fn log_row(r: &SqliteRow) -> Result<LogRow, StoreError> {
    let tags: String = r.try_get("tags")?;
    Ok(LogRow {
        request_id: r.try_get("request_id")?,
        created_at: r.try_get("created_at")?,
        provider: r.try_get("provider")?,
        model: r.try_get("model")?,
        state: state(r.try_get("state")?)?,
        error_code: error_code(r.try_get("error_code")?)?,
        duration_ms: r.try_get("duration")?,
        first_token_ms: r.try_get("first_token_latency")?,
        input_tokens: known_count(r.try_get("input_tokens")?),
        output_tokens: known_count(r.try_get("output_tokens")?),
        tokens_estimated: r
            .try_get::<Option<bool>, _>("tokens_estimated")?
            .unwrap_or(false),
        is_fallback: r.try_get("is_fallback")?,
        attempts: small(r.try_get("attempts")?),
        conversation_id: r.try_get("conversation_id")?,
        user_id: r.try_get("user_id")?,
        tags: serde_json::from_str(&tags).map_err(|_| invalid("tags", &tags))?,
        cost_usd: r.try_get("cost_usd")?,
    })
}

fn stats_row(r: &SqliteRow) -> Result<StatsRow, StoreError> {
    let requests = count(r.try_get("requests")?);
    let successes = count(r.try_get("successes")?);
    Ok(StatsRow {
        provider: r.try_get("provider")?,
        model: r.try_get("model")?,
        requests,
        success_rate: if requests == 0 {
            0.0
        } else {
            successes as f64 / requests as f64
        },
        avg_latency_ms: r.try_get("avg_latency_ms")?,
        p95_latency_ms: r.try_get("p95_latency_ms")?,
        avg_first_token_ms: r.try_get("avg_first_token_ms")?,
        input_tokens: count(r.try_get("input_tokens")?),
        output_tokens: count(r.try_get("output_tokens")?),
        fallbacks: count(r.try_get("fallbacks")?),
        cost_usd: r.try_get("cost_usd")?,
        unpriced_requests: count(r.try_get("unpriced_requests")?),
    })
}

fn failed_row(r: &SqliteRow) -> Result<FailedRow, StoreError> {
    Ok(FailedRow {
        request_id: r.try_get("request_id")?,
        created_at: r.try_get("created_at")?,
        provider: r.try_get("provider")?,
        model: r.try_get("model")?,
        error_code: error_code(r.try_get("error_code")?)?,
        error_message: r.try_get("error_message")?,
        duration_ms: r.try_get("duration_ms")?,
        attempts: small(r.try_get("attempts")?),
        is_fallback: r.try_get("is_fallback")?,
        fallback_provider: r.try_get("fallback_provider")?,
        conversation_id: r.try_get("conversation_id")?,
        user_id: r.try_get("user_id")?,
    })
}

#[cfg(test)]
mod chunk_tests {
    use super::{
        LOG_COLUMN_COUNT, LOG_COLUMNS, METRICS_COLUMN_COUNT, METRICS_COLUMNS, ROWS_PER_STATEMENT,
        chunk_len,
    };

    #[test]
    fn column_lists_match_their_counts() {
        assert_eq!(LOG_COLUMNS.split(',').count(), LOG_COLUMN_COUNT);
        assert_eq!(METRICS_COLUMNS.split(',').count(), METRICS_COLUMN_COUNT);
    }

    #[test]
    fn chunks_are_powers_of_two_covering_the_batch() {
        for total in [1usize, 2, 3, 337, 511, 512, 513, 1500] {
            let mut rest = total;
            let mut sizes = Vec::new();
            while rest > 0 {
                let n = chunk_len(rest);
                assert!(n.is_power_of_two() && n <= ROWS_PER_STATEMENT && n <= rest);
                sizes.push(n);
                rest -= n;
            }
            assert_eq!(sizes.iter().sum::<usize>(), total);
        }
        assert_eq!(chunk_len(337), 256);
        assert_eq!(chunk_len(5000), ROWS_PER_STATEMENT);
    }
}
