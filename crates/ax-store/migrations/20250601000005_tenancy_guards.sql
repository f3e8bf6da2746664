-- Tenancy guards (issue 6): a change counter the gateway's key cache polls, immutable
-- created_at, last_used_at updates that do not count as changes, append-only audit.

-- One row; bumped by every change to a tenant or key that can affect authentication.
-- The server's key cache polls it (a single-row read) and reloads only when it moved.
CREATE TABLE tenancy_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
) STRICT;
INSERT INTO tenancy_version (id, version) VALUES (1, 0);

CREATE TRIGGER trg_tenants_version_insert AFTER INSERT ON tenants
BEGIN
    UPDATE tenancy_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER trg_tenants_version_delete AFTER DELETE ON tenants
BEGIN
    UPDATE tenancy_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER trg_tenants_version_update
AFTER UPDATE OF slug, name, status, rpm, tpm, tpd, monthly_budget_usd ON tenants
BEGIN
    UPDATE tenancy_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER trg_api_keys_version_insert AFTER INSERT ON api_keys
BEGIN
    UPDATE tenancy_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER trg_api_keys_version_delete AFTER DELETE ON api_keys
BEGIN
    UPDATE tenancy_version SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER trg_api_keys_version_update
AFTER UPDATE OF tenant_id, name, key_hash, prefix, allowed_models, rpm, tpm, expires_at,
    revoked ON api_keys
BEGIN
    UPDATE tenancy_version SET version = version + 1 WHERE id = 1;
END;

-- Recording that a key was used is bookkeeping, not a change of the key: updated_at
-- moves only when a setting changes.
DROP TRIGGER trg_api_keys_updated_at;
CREATE TRIGGER trg_api_keys_updated_at
AFTER UPDATE OF tenant_id, name, key_hash, prefix, allowed_models, rpm, tpm, expires_at,
    revoked ON api_keys
FOR EACH ROW WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE api_keys SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = NEW.id;
END;

-- created_at never changes once written.
CREATE TRIGGER trg_tenants_created_at_immutable
BEFORE UPDATE OF created_at ON tenants
FOR EACH ROW WHEN NEW.created_at IS NOT OLD.created_at
BEGIN
    SELECT RAISE(ABORT, 'tenants.created_at is immutable');
END;
CREATE TRIGGER trg_api_keys_created_at_immutable
BEFORE UPDATE OF created_at ON api_keys
FOR EACH ROW WHEN NEW.created_at IS NOT OLD.created_at
BEGIN
    SELECT RAISE(ABORT, 'api_keys.created_at is immutable');
END;

-- The audit log is append-only.
CREATE TRIGGER trg_audit_log_append_only
BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log rows are never updated');
END;

-- Audit reads by actor (admin API filter).
CREATE INDEX idx_audit_log_actor ON audit_log (actor, created_at);
