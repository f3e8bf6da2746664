-- Request logs and their metrics (DESIGN §6).
--
-- Conventions for every ax table:
-- * STRICT tables; IDs are UUID v7 as TEXT.
-- * Timestamps are TEXT in UTC, RFC 3339 with milliseconds (YYYY-MM-DDTHH:MM:SS.sssZ),
--   so they sort lexicographically and compare against
--   strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-7 days').
-- * Booleans are INTEGER 0/1; every enumeration has a CHECK constraint.
-- * `updated_at` is maintained by a trigger unless an UPDATE sets it explicitly.
--
-- tenant_id and key_id are deliberately not foreign keys: a log row must outlive the
-- tenant or key it names, and a batch of logs must never fail because a tenant was
-- deleted between the request and the write.

CREATE TABLE provider_logs (
    id              TEXT    PRIMARY KEY NOT NULL,
    request_id      TEXT    NOT NULL,
    conversation_id TEXT,
    user_id         TEXT,
    tenant_id       TEXT,
    key_id          TEXT,
    provider        TEXT,
    model           TEXT,
    state           TEXT    NOT NULL CHECK (state IN (
                        'idle', 'validating', 'requesting', 'streaming',
                        'rate_limited', 'retrying', 'completed', 'failed')),
    state_timeline  TEXT    NOT NULL DEFAULT '[]'
                        CHECK (json_valid(state_timeline) AND json_type(state_timeline) = 'array'),
    request_data    TEXT,
    response_data   TEXT,
    error_message   TEXT,
    error_code      TEXT    CHECK (error_code IS NULL OR error_code IN (
                        'invalid_request', 'authentication_error', 'permission_denied',
                        'not_found', 'rate_limit_exceeded', 'quota_exceeded', 'server_error',
                        'overloaded', 'timeout', 'network_error', 'content_filtered',
                        'context_length_exceeded', 'circuit_open', 'all_providers_failed',
                        'cancelled')),
    start_time      TEXT    NOT NULL,
    end_time        TEXT,
    -- Whole-request duration in milliseconds.
    duration        INTEGER CHECK (duration IS NULL OR duration >= 0),
    -- Retries: attempts after the first, of any kind (same provider or fallback).
    retry_attempt   INTEGER NOT NULL DEFAULT 0 CHECK (retry_attempt >= 0),
    -- Upstream attempts sent (0 when the request was rejected before any).
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    is_fallback     INTEGER NOT NULL DEFAULT 0 CHECK (is_fallback IN (0, 1)),
    tags            TEXT    NOT NULL DEFAULT '[]'
                        CHECK (json_valid(tags) AND json_type(tags) = 'array'),
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

-- DESIGN §6 indexes. Where a listed single-column index is also the leading column of
-- a query's index, the composite serves both (fewer B-trees to update per insert):
-- conversation_id by (conversation_id, created_at), provider by (provider, created_at),
-- state by (state, created_at).
CREATE INDEX idx_provider_logs_request_id ON provider_logs (request_id);
CREATE INDEX idx_provider_logs_conversation_created ON provider_logs (conversation_id, created_at);
CREATE INDEX idx_provider_logs_user_id ON provider_logs (user_id);
CREATE INDEX idx_provider_logs_created_at ON provider_logs (created_at);
-- recent_logs(provider = ?) newest first.
CREATE INDEX idx_provider_logs_provider_created ON provider_logs (provider, created_at);
-- recent_logs(failed_only), failed_requests(), provider_failed_requests, newest first.
CREATE INDEX idx_provider_logs_state_created ON provider_logs (state, created_at);
-- (provider, state) of DESIGN §6; recent_logs(provider = ?, failed_only) newest first.
CREATE INDEX idx_provider_logs_provider_state_created ON provider_logs (provider, state, created_at);

CREATE TRIGGER trg_provider_logs_updated_at
AFTER UPDATE ON provider_logs
FOR EACH ROW WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE provider_logs SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = NEW.id;
END;

-- One row per log row: the numbers analytics aggregate over.
CREATE TABLE provider_metrics (
    id                  TEXT    PRIMARY KEY NOT NULL,
    log_id              TEXT    NOT NULL UNIQUE
                            REFERENCES provider_logs (id) ON DELETE CASCADE,
    request_id          TEXT    NOT NULL,
    provider            TEXT,
    model               TEXT,
    input_tokens        INTEGER NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
    output_tokens       INTEGER NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
    total_tokens        INTEGER NOT NULL DEFAULT 0 CHECK (total_tokens >= 0),
    cached_tokens       INTEGER NOT NULL DEFAULT 0 CHECK (cached_tokens >= 0),
    reasoning_tokens    INTEGER NOT NULL DEFAULT 0 CHECK (reasoning_tokens >= 0),
    tokens_estimated    INTEGER NOT NULL DEFAULT 0 CHECK (tokens_estimated IN (0, 1)),
    -- Milliseconds from request start to the first token (stream) or the answer.
    first_token_latency INTEGER CHECK (first_token_latency IS NULL OR first_token_latency >= 0),
    -- Milliseconds, as provider_logs.duration.
    total_duration      INTEGER CHECK (total_duration IS NULL OR total_duration >= 0),
    chunks_received     INTEGER NOT NULL DEFAULT 0 CHECK (chunks_received >= 0),
    retry_count         INTEGER NOT NULL DEFAULT 0 CHECK (retry_count >= 0),
    is_fallback         INTEGER NOT NULL DEFAULT 0 CHECK (is_fallback IN (0, 1)),
    -- The first provider tried, when a fallback took over.
    fallback_from       TEXT,
    -- The provider the (latest) fallback moved to.
    fallback_provider   TEXT,
    success             INTEGER NOT NULL CHECK (success IN (0, 1)),
    cost_usd            REAL    CHECK (cost_usd IS NULL OR cost_usd >= 0),
    created_at          TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

-- DESIGN §6 indexes; provider alone is served by the two composites led by provider.
-- log_id is indexed by its UNIQUE constraint (which also makes the cascade cheap).
CREATE INDEX idx_provider_metrics_request_id ON provider_metrics (request_id);
CREATE INDEX idx_provider_metrics_model ON provider_metrics (model);
-- stats(window) and both views scan a created_at range.
CREATE INDEX idx_provider_metrics_created_at ON provider_metrics (created_at);
CREATE INDEX idx_provider_metrics_success ON provider_metrics (success);
CREATE INDEX idx_provider_metrics_provider_model ON provider_metrics (provider, model);
CREATE INDEX idx_provider_metrics_provider_success ON provider_metrics (provider, success);
