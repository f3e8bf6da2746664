-- Provider configuration and persisted rate-limit counters (DESIGN §6).

CREATE TABLE provider_rate_limits (
    id            TEXT    PRIMARY KEY NOT NULL,
    provider      TEXT    NOT NULL,
    -- '*' when the limit applies to every model of the provider (NULL would defeat the
    -- UNIQUE constraint: SQLite treats NULLs as distinct).
    model         TEXT    NOT NULL DEFAULT '*',
    limit_type    TEXT    NOT NULL CHECK (limit_type IN (
                      'requests_per_minute', 'tokens_per_minute', 'requests_per_day')),
    current_usage INTEGER NOT NULL DEFAULT 0 CHECK (current_usage >= 0),
    limit_value   INTEGER NOT NULL CHECK (limit_value >= 0),
    reset_at      TEXT,
    created_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (provider, model, limit_type)
) STRICT;

CREATE TRIGGER trg_provider_rate_limits_updated_at
AFTER UPDATE ON provider_rate_limits
FOR EACH ROW WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE provider_rate_limits SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = NEW.id;
END;

CREATE TABLE provider_configs (
    id                 TEXT    PRIMARY KEY NOT NULL,
    provider           TEXT    NOT NULL UNIQUE CHECK (length(provider) > 0),
    enabled            INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    priority           INTEGER NOT NULL DEFAULT 100,
    -- Opaque ciphertext (AES-256-GCM, sealed and opened outside ax-store).
    api_key_encrypted  BLOB,
    api_url            TEXT,
    default_model      TEXT,
    max_retries        INTEGER NOT NULL DEFAULT 2 CHECK (max_retries >= 0),
    timeout_ms         INTEGER NOT NULL DEFAULT 60000 CHECK (timeout_ms > 0),
    rate_limit_rpm     INTEGER CHECK (rate_limit_rpm IS NULL OR rate_limit_rpm >= 0),
    rate_limit_tpm     INTEGER CHECK (rate_limit_tpm IS NULL OR rate_limit_tpm >= 0),
    fallback_providers TEXT    NOT NULL DEFAULT '[]'
                           CHECK (json_valid(fallback_providers)
                                  AND json_type(fallback_providers) = 'array'),
    config_json        TEXT    NOT NULL DEFAULT '{}'
                           CHECK (json_valid(config_json) AND json_type(config_json) = 'object'),
    created_at         TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at         TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

-- list_provider_configs() orders by priority.
CREATE INDEX idx_provider_configs_priority ON provider_configs (priority, provider);

CREATE TRIGGER trg_provider_configs_updated_at
AFTER UPDATE ON provider_configs
FOR EACH ROW WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE provider_configs SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
    WHERE id = NEW.id;
END;

-- Env-only defaults (DESIGN §5): PRIMARY_PROVIDER claude, FALLBACK_CHAIN gemini,openai.
-- Fixed UUID v7 IDs so every database seeds identically.
INSERT INTO provider_configs (id, provider, priority, api_url, default_model, fallback_providers)
VALUES
    ('01938000-0000-7000-8000-000000000001', 'claude', 1,
     'https://api.anthropic.com', 'claude-3-5-sonnet-20241022', '["gemini","openai"]'),
    ('01938000-0000-7000-8000-000000000002', 'gemini', 2,
     'https://generativelanguage.googleapis.com', 'gemini-2.0-flash', '["openai","claude"]'),
    ('01938000-0000-7000-8000-000000000003', 'openai', 3,
     'https://api.openai.com', 'gpt-4o', '["claude","gemini"]');
