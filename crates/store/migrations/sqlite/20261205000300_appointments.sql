-- Visits and therapy sessions a clinician schedules with a patient.
CREATE TABLE appointments (
    id                BLOB PRIMARY KEY NOT NULL,
    organization_id   BLOB NOT NULL REFERENCES organizations (id),
    patient_id        BLOB NOT NULL REFERENCES patients (id),
    clinician_id      BLOB NOT NULL REFERENCES users (id),
    kind              TEXT NOT NULL CHECK (kind IN ('visit', 'therapy_session')),
    starts_at         TEXT NOT NULL,
    duration_minutes  INTEGER NOT NULL CHECK (duration_minutes BETWEEN 5 AND 480),
    location          TEXT,
    status            TEXT NOT NULL CHECK (status IN ('scheduled', 'cancelled')),
    created_by        BLOB NOT NULL REFERENCES users (id),
    created_at        TEXT NOT NULL,
    cancelled_by      BLOB REFERENCES users (id),
    cancelled_at      TEXT
);
-- A patient's upcoming appointments; a clinician's; and any starting in a window (reminders).
CREATE INDEX appointments_by_patient ON appointments (patient_id, starts_at);
CREATE INDEX appointments_by_clinician ON appointments (clinician_id, starts_at);
CREATE INDEX appointments_by_start ON appointments (starts_at) WHERE status = 'scheduled';
