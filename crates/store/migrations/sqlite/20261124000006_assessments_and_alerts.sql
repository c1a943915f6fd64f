-- Instrument responses, scored when submitted (speciosa_core::instrument).
CREATE TABLE assessments (
    id               BLOB PRIMARY KEY NOT NULL,
    organization_id  BLOB NOT NULL REFERENCES organizations (id),
    patient_id       BLOB NOT NULL REFERENCES patients (id),
    instrument       TEXT NOT NULL,
    -- Item id → answer, as submitted.
    answers          TEXT NOT NULL,
    total            REAL,
    band             TEXT,
    -- Derived metrics (e.g. a sleep diary's total sleep time), as JSON.
    metrics          TEXT,
    completed_at     TEXT NOT NULL,
    entered_by       BLOB NOT NULL REFERENCES users (id),
    entered_at       TEXT NOT NULL
);
CREATE INDEX assessments_by_patient ON assessments (patient_id, instrument, completed_at);

-- Safety signals a clinician must see until someone acknowledges them.
CREATE TABLE alerts (
    id                BLOB PRIMARY KEY NOT NULL,
    organization_id   BLOB NOT NULL REFERENCES organizations (id),
    patient_id        BLOB NOT NULL REFERENCES patients (id),
    rule              TEXT NOT NULL,
    severity          TEXT NOT NULL CHECK (severity IN ('urgent', 'warning', 'info')),
    status            TEXT NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
    -- What fired the rule, as JSON.
    evidence          TEXT NOT NULL,
    source_type       TEXT NOT NULL,
    source_id         TEXT NOT NULL,
    raised_at         TEXT NOT NULL,
    acknowledged_by   BLOB REFERENCES users (id),
    acknowledged_at   TEXT,
    resolved_by       BLOB REFERENCES users (id),
    resolved_at       TEXT
);
CREATE INDEX alerts_by_patient ON alerts (patient_id, status, raised_at);
CREATE INDEX alerts_by_organization ON alerts (organization_id, status, raised_at);
