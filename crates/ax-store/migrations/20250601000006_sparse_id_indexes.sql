-- Most requests carry no conversation or user ID. Indexing only the rows that do keeps
-- two B-tree inserts off every other log write; lookups by `conversation_id = ?` or
-- `user_id = ?` imply `IS NOT NULL`, so SQLite still uses these indexes for them.
DROP INDEX idx_provider_logs_conversation_created;
CREATE INDEX idx_provider_logs_conversation_created ON provider_logs (conversation_id, created_at)
    WHERE conversation_id IS NOT NULL;
DROP INDEX idx_provider_logs_user_id;
CREATE INDEX idx_provider_logs_user_id ON provider_logs (user_id)
    WHERE user_id IS NOT NULL;
