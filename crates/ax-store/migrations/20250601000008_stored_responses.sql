-- Responses API objects the gateway keeps for `previous_response_id`, `GET` and
-- `DELETE /v1/responses/{id}` when the client asked to store them (`store`, true by
-- default in that API) and the upstream could not keep them itself (a translated
-- answer). `conversation` is the whole conversation in ax's unified model (earlier
-- turns, this request's input, the answer), so any upstream can continue it;
-- `response` is the object as the client received it. Rows expire after the
-- retention setting (`AX_RESPONSES_RETENTION_HOURS`) and are pruned.
CREATE TABLE stored_responses (
    id           TEXT NOT NULL PRIMARY KEY,
    tenant_id    TEXT REFERENCES tenants (id) ON DELETE CASCADE,
    model        TEXT NOT NULL,
    conversation TEXT NOT NULL CHECK (json_valid(conversation)),
    response     TEXT NOT NULL CHECK (json_valid(response)),
    created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    expires_at   TEXT NOT NULL
) STRICT;

CREATE INDEX idx_stored_responses_expires_at ON stored_responses (expires_at);
CREATE INDEX idx_stored_responses_tenant_id ON stored_responses (tenant_id);
