-- Append-only, hash-chained audit log (see speciosa_core::audit). `id` is the
-- rowid and the position in the chain; ids are handed out by audit_chain_head so
-- they have no gaps, and a gap therefore means a removed event.
CREATE TABLE audit_events (
    id               INTEGER PRIMARY KEY NOT NULL,
    occurred_at      TEXT NOT NULL,
    actor_user_id    BLOB,
    actor_role       TEXT,
    organization_id  BLOB,
    action           TEXT NOT NULL,
    resource_type    TEXT NOT NULL,
    resource_id      TEXT,
    patient_id       BLOB,
    outcome          TEXT NOT NULL,
    client_addr      TEXT,
    detail           TEXT,
    prev_hash        TEXT NOT NULL,
    hash             TEXT NOT NULL
);
CREATE INDEX audit_events_by_organization ON audit_events (organization_id, id);
CREATE INDEX audit_events_by_patient ON audit_events (patient_id, id);

-- The chain's end, kept apart from the events so removing the last events shows.
CREATE TABLE audit_chain_head (
    singleton  INTEGER PRIMARY KEY NOT NULL CHECK (singleton = 1),
    last_id    INTEGER NOT NULL,
    last_hash  TEXT NOT NULL
);
INSERT INTO audit_chain_head (singleton, last_id, last_hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
