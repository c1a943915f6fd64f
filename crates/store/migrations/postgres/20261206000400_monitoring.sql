-- Issue 15: clinical monitoring. Liver tests and ECGs (LOINC-coded), naloxone on hand,
-- overdoses and non-prescribed opioid use; breastfeeding beside pregnancy.
CREATE TABLE lab_results (
    id                UUID PRIMARY KEY,
    organization_id   UUID NOT NULL REFERENCES organizations (id),
    patient_id        UUID NOT NULL REFERENCES patients (id),
    test              TEXT NOT NULL CHECK (test IN ('alt', 'ast', 'alp', 'bilirubin', 'inr')),
    loinc             TEXT NOT NULL,
    value             DOUBLE PRECISION NOT NULL CHECK (value >= 0),
    unit              TEXT NOT NULL,
    reference_low     DOUBLE PRECISION,
    reference_high    DOUBLE PRECISION,
    observed_at       TIMESTAMPTZ NOT NULL,
    recorded_by       UUID NOT NULL REFERENCES users (id),
    recorded_at       TIMESTAMPTZ NOT NULL
);
-- The latest results of each test for one patient (the rules read a bounded window).
CREATE INDEX lab_results_by_patient ON lab_results (patient_id, test, observed_at);

CREATE TABLE ecgs (
    id                UUID PRIMARY KEY,
    organization_id   UUID NOT NULL REFERENCES organizations (id),
    patient_id        UUID NOT NULL REFERENCES patients (id),
    qtc_ms            INTEGER NOT NULL CHECK (qtc_ms BETWEEN 250 AND 800),
    heart_rate_bpm    INTEGER CHECK (heart_rate_bpm BETWEEN 20 AND 300),
    formula           TEXT CHECK (formula IN ('bazett', 'fridericia', 'framingham', 'hodges', 'machine')),
    recorded_at       TIMESTAMPTZ NOT NULL,
    entered_by        UUID NOT NULL REFERENCES users (id),
    entered_at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX ecgs_by_patient ON ecgs (patient_id, recorded_at);

-- One row per patient: the current answer, replaced on each update (the audit log keeps
-- the history).
CREATE TABLE naloxone (
    patient_id        UUID PRIMARY KEY NOT NULL REFERENCES patients (id),
    on_hand           BOOLEAN NOT NULL,
    form              TEXT CHECK (form IN ('nasal_spray', 'injection', 'auto_injector')),
    obtained_on       DATE,
    expires_on        DATE,
    location          TEXT,
    updated_by        UUID NOT NULL REFERENCES users (id),
    updated_at        TIMESTAMPTZ NOT NULL
);

CREATE TABLE overdoses (
    id                  UUID PRIMARY KEY,
    organization_id     UUID NOT NULL REFERENCES organizations (id),
    patient_id          UUID NOT NULL REFERENCES patients (id),
    occurred_at         TIMESTAMPTZ NOT NULL,
    substances          JSONB NOT NULL,
    naloxone_used       BOOLEAN NOT NULL,
    emergency_care      BOOLEAN,
    notes               TEXT,
    reported_by         UUID NOT NULL REFERENCES users (id),
    reported_by_patient BOOLEAN NOT NULL,
    recorded_at         TIMESTAMPTZ NOT NULL
);
CREATE INDEX overdoses_by_patient ON overdoses (patient_id, occurred_at);
CREATE INDEX overdoses_by_recording ON overdoses (patient_id, recorded_at);

CREATE TABLE opioid_use (
    id                UUID PRIMARY KEY,
    organization_id   UUID NOT NULL REFERENCES organizations (id),
    patient_id        UUID NOT NULL REFERENCES patients (id),
    used_on           DATE NOT NULL,
    substance         TEXT NOT NULL,
    source            TEXT NOT NULL CHECK (source IN ('patient_report', 'clinician_observed', 'drug_test')),
    notes             TEXT,
    recorded_by       UUID NOT NULL REFERENCES users (id),
    recorded_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX opioid_use_by_patient ON opioid_use (patient_id, used_on);

ALTER TABLE patients ADD COLUMN breastfeeding_status TEXT NOT NULL DEFAULT 'unknown'
    CHECK (breastfeeding_status IN ('yes', 'no', 'unknown'));
