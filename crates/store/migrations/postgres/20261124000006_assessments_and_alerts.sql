-- Instrument responses, scored when submitted (speciosa_core::instrument).
CREATE TABLE assessments (
    id               UUID PRIMARY KEY,
    organization_id  UUID NOT NULL REFERENCES organizations (id),
    patient_id       UUID NOT NULL REFERENCES patients (id),
    instrument       TEXT NOT NULL,
    -- Item id → answer, as submitted.
    answers          JSONB NOT NULL,
    total            DOUBLE PRECISION,
    band             TEXT,
    -- Derived metrics (e.g. a sleep diary's total sleep time), as JSON.
    metrics          JSONB,
    completed_at     TIMESTAMPTZ NOT NULL,
    entered_by       UUID NOT NULL REFERENCES users (id),
    entered_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX assessments_by_patient ON assessments (patient_id, instrument, completed_at);

-- Safety signals a clinician must see until someone acknowledges them.
CREATE TABLE alerts (
    id                UUID PRIMARY KEY,
    organization_id   UUID NOT NULL REFERENCES organizations (id),
    patient_id        UUID NOT NULL REFERENCES patients (id),
    rule              TEXT NOT NULL,
    severity          TEXT NOT NULL CHECK (severity IN ('urgent', 'warning', 'info')),
    status            TEXT NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
    -- What fired the rule, as JSON.
    evidence          JSONB NOT NULL,
    source_type       TEXT NOT NULL,
    source_id         TEXT NOT NULL,
    raised_at         TIMESTAMPTZ NOT NULL,
    acknowledged_by   UUID REFERENCES users (id),
    acknowledged_at   TIMESTAMPTZ,
    resolved_by       UUID REFERENCES users (id),
    resolved_at       TIMESTAMPTZ
);
CREATE INDEX alerts_by_patient ON alerts (patient_id, status, raised_at);
CREATE INDEX alerts_by_organization ON alerts (organization_id, status, raised_at);
