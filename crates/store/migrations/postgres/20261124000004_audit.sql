-- Append-only, hash-chained audit log (see speciosa_core::audit). Ids are handed
-- out by audit_chain_head inside the appending transaction, so they have no gaps
-- (a rolled-back append rolls back its id too) and a gap means a removed event.
CREATE TABLE audit_events (
    id               BIGINT PRIMARY KEY,
    occurred_at      TIMESTAMPTZ NOT NULL,
    actor_user_id    UUID,
    actor_role       TEXT,
    organization_id  UUID,
    action           TEXT NOT NULL,
    resource_type    TEXT NOT NULL,
    resource_id      TEXT,
    patient_id       UUID,
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
    singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
    last_id    BIGINT NOT NULL,
    last_hash  TEXT NOT NULL
);
INSERT INTO audit_chain_head (singleton, last_id, last_hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
