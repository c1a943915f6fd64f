-- Per-patient check-in schedule: instruments whose frequency differs from the defaults in
-- data/check-in.toml.
CREATE TABLE patient_schedules (
    patient_id   UUID NOT NULL REFERENCES patients (id),
    instrument   TEXT NOT NULL,
    frequency    TEXT NOT NULL CHECK (frequency IN ('daily', 'weekly', 'off')),
    updated_by   UUID NOT NULL REFERENCES users (id),
    updated_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (patient_id, instrument)
);
