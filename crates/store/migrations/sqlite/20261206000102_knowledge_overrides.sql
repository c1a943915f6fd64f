-- A clinic's own lexicon entries and interaction rows, beside the shipped files (which
-- stay as shipped). A revert keeps the row, marked reverted, so history is never lost.
CREATE TABLE knowledge_overrides (
    id               BLOB PRIMARY KEY NOT NULL,
    organization_id  BLOB NOT NULL REFERENCES organizations (id),
    kind             TEXT NOT NULL CHECK (kind IN ('lexicon', 'interaction')),
    -- The ingredient (lexicon) or the row id (interaction) it adds or replaces.
    key              TEXT NOT NULL,
    -- The entry or row as JSON, in the shipped files' field names.
    body             TEXT NOT NULL,
    reason           TEXT NOT NULL,
    created_by       BLOB NOT NULL REFERENCES users (id),
    created_at       TEXT NOT NULL,
    reverted_by      BLOB REFERENCES users (id),
    reverted_at      TEXT
);
CREATE UNIQUE INDEX knowledge_overrides_current
    ON knowledge_overrides (organization_id, kind, key) WHERE reverted_at IS NULL;
