-- Analytics views (DESIGN §6). Requests that never reached a provider (provider IS
-- NULL: rejected by validation, auth or quota) are not a provider's doing and are left
-- out of the per-provider views; they still appear in provider_failed_requests.

-- Last 7 days, by provider and model.
CREATE VIEW provider_success_rate AS
SELECT
    provider,
    model,
    COUNT(*)                                AS requests,
    SUM(success)                            AS successes,
    COUNT(*) - SUM(success)                 AS failures,
    CAST(SUM(success) AS REAL) / COUNT(*)   AS success_rate
FROM provider_metrics
WHERE provider IS NOT NULL
  AND created_at >= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-7 days')
GROUP BY provider, model;

-- Last 24 hours, by hour (UTC, 'YYYY-MM-DDTHH:00:00Z') and provider.
CREATE VIEW provider_performance_hourly AS
SELECT
    strftime('%Y-%m-%dT%H:00:00Z', created_at) AS hour,
    provider,
    COUNT(*)                 AS requests,
    SUM(success)             AS successes,
    AVG(total_duration)      AS avg_duration_ms,
    AVG(first_token_latency) AS avg_first_token_ms,
    SUM(input_tokens)        AS input_tokens,
    SUM(output_tokens)       AS output_tokens,
    SUM(total_tokens)        AS total_tokens
FROM provider_metrics
WHERE provider IS NOT NULL
  AND created_at >= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-24 hours')
GROUP BY hour, provider;

-- Every failed request with its error.
CREATE VIEW provider_failed_requests AS
SELECT
    l.id,
    l.request_id,
    l.created_at,
    l.provider,
    l.model,
    l.error_code,
    l.error_message,
    l.duration AS duration_ms,
    l.attempts,
    l.retry_attempt,
    l.is_fallback,
    m.fallback_provider,
    l.conversation_id,
    l.user_id,
    l.tenant_id,
    l.tags
FROM provider_logs AS l
LEFT JOIN provider_metrics AS m ON m.log_id = l.id
WHERE l.state = 'failed';
