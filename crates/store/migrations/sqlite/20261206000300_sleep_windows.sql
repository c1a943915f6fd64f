-- CBT-I sleep windows a care-team clinician approved for a patient, one per week; the latest
-- starting on or before a date is the one in force.
CREATE TABLE sleep_windows (
    id               BLOB PRIMARY KEY NOT NULL,
    organization_id  BLOB NOT NULL REFERENCES organizations (id),
    patient_id       BLOB NOT NULL REFERENCES patients (id),
    -- Patient-local date, YYYY-MM-DD.
    starts_on        TEXT NOT NULL,
    time_in_bed_min  INTEGER NOT NULL CHECK (time_in_bed_min BETWEEN 180 AND 720),
    -- Local clock times, HH:MM.
    bedtime          TEXT NOT NULL,
    rise_time        TEXT NOT NULL,
    -- What the proposal was computed from, as JSON.
    based_on         TEXT NOT NULL,
    note             TEXT,
    approved_by      BLOB NOT NULL REFERENCES users (id),
    approved_at      TEXT NOT NULL
);
CREATE INDEX sleep_windows_by_patient ON sleep_windows (patient_id, starts_on);
