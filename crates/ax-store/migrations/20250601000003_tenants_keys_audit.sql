-- Tenancy: tenants, their gateway keys, and the audit log of operator changes.

CREATE TABLE tenants (
    id                 TEXT PRIMARY KEY NOT NULL,
    slug               TEXT NOT NULL UNIQUE CHECK (length(slug) BETWEEN 1 AND 64),
    name               TEXT NOT NULL,
    status             TEXT NOT NULL DEFAULT 'active' CHECK (status IN (
                           'provisioning', 'active', 'suspended', 'decommissioned')),
    -- Limits; NULL means unlimited.
    rpm                INTEGER CHECK (rpm IS NULL OR rpm >= 0),
    tpm                INTEGER CHECK (tpm IS NULL OR tpm >= 0),
    tpd                INTEGER CHECK (tpd IS NULL OR tpd >= 0),
    monthly_budget_usd REAL    CHECK (monthly_budget_usd IS NULL OR monthly_budget_usd >= 0),
    created_at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE INDEX idx_tenants_status ON tenants (status);

CREATE TRIGGER trg_tenants_updated_at
AFTER UPDATE ON tenants
FOR EACH ROW WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE tenants SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = NEW.id;
END;

CREATE TABLE api_keys (
    id             TEXT    PRIMARY KEY NOT NULL,
    tenant_id      TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name           TEXT,
    -- Hash of the raw key; the raw key is never stored.
    key_hash       TEXT    NOT NULL UNIQUE,
    -- The first characters of the key, shown to operators to tell keys apart.
    prefix         TEXT    NOT NULL,
    -- JSON array of model patterns; NULL means every model.
    allowed_models TEXT    CHECK (allowed_models IS NULL
                               OR (json_valid(allowed_models)
                                   AND json_type(allowed_models) = 'array')),
    rpm            INTEGER CHECK (rpm IS NULL OR rpm >= 0),
    tpm            INTEGER CHECK (tpm IS NULL OR tpm >= 0),
    expires_at     TEXT,
    revoked        INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1)),
    last_used_at   TEXT,
    created_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

-- Keys of a tenant (also makes the cascade cheap); revoke by prefix.
CREATE INDEX idx_api_keys_tenant_id ON api_keys (tenant_id);
CREATE INDEX idx_api_keys_prefix ON api_keys (prefix);

CREATE TRIGGER trg_api_keys_updated_at
AFTER UPDATE ON api_keys
FOR EACH ROW WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE api_keys SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = NEW.id;
END;

-- Append-only record of operator changes (no updated_at: rows are never updated).
CREATE TABLE audit_log (
    id          TEXT PRIMARY KEY NOT NULL,
    actor       TEXT NOT NULL CHECK (length(actor) > 0),
    action      TEXT NOT NULL CHECK (length(action) > 0),
    target_type TEXT NOT NULL CHECK (target_type IN (
                    'tenant', 'api_key', 'provider_config', 'provider')),
    target_id   TEXT,
    before_json TEXT CHECK (before_json IS NULL OR json_valid(before_json)),
    after_json  TEXT CHECK (after_json IS NULL OR json_valid(after_json)),
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE INDEX idx_audit_log_target ON audit_log (target_type, target_id, created_at);
CREATE INDEX idx_audit_log_created_at ON audit_log (created_at);
