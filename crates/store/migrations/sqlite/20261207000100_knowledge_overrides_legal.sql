-- A clinic's own legal rows join its lexicon entries and interaction rows. SQLite cannot
-- alter a CHECK constraint, so the table is rebuilt with every row kept.
CREATE TABLE knowledge_overrides_next (
    id               BLOB PRIMARY KEY NOT NULL,
    organization_id  BLOB NOT NULL REFERENCES organizations (id),
    kind             TEXT NOT NULL CHECK (kind IN ('lexicon', 'interaction', 'legal')),
    -- The ingredient (lexicon), the row id (interaction) or the rule id (legal) it adds
    -- or replaces.
    key              TEXT NOT NULL,
    -- The entry, row or rule as JSON.
    body             TEXT NOT NULL,
    reason           TEXT NOT NULL,
    created_by       BLOB NOT NULL REFERENCES users (id),
    created_at       TEXT NOT NULL,
    reverted_by      BLOB REFERENCES users (id),
    reverted_at      TEXT
);
INSERT INTO knowledge_overrides_next
    (id, organization_id, kind, key, body, reason, created_by, created_at, reverted_by, reverted_at)
SELECT id, organization_id, kind, key, body, reason, created_by, created_at, reverted_by, reverted_at
FROM knowledge_overrides;
DROP TABLE knowledge_overrides;
ALTER TABLE knowledge_overrides_next RENAME TO knowledge_overrides;
CREATE UNIQUE INDEX knowledge_overrides_current
    ON knowledge_overrides (organization_id, kind, key) WHERE reverted_at IS NULL;
