-- A patient's plan, one row per version. A draft is edited in place; a signed version
-- is never changed again except to mark it superseded when a later version is signed.
-- The signature covers the SHA-256 of `content` (the canonical JSON of the version).
CREATE TABLE plan_versions (
    id                 UUID PRIMARY KEY,
    organization_id    UUID NOT NULL REFERENCES organizations (id),
    patient_id         UUID NOT NULL REFERENCES patients (id),
    version            BIGINT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('draft', 'signed', 'superseded', 'discarded')),
    kind               TEXT NOT NULL,
    start_date         DATE NOT NULL,
    content            TEXT NOT NULL,
    created_by         UUID NOT NULL REFERENCES users (id),
    created_at         TIMESTAMPTZ NOT NULL,
    updated_by         UUID NOT NULL REFERENCES users (id),
    updated_at         TIMESTAMPTZ NOT NULL,
    signed_by          UUID REFERENCES users (id),
    signed_at          TIMESTAMPTZ,
    statement          TEXT,
    content_sha256     TEXT,
    -- For a transition to naltrexone signed within 7 days of opioid or kratom use: the
    -- naloxone challenge or override reason the clinician recorded.
    start_gate_note    TEXT,
    supersedes         UUID REFERENCES plan_versions (id),
    superseded_at      TIMESTAMPTZ,
    UNIQUE (patient_id, version)
);
-- At most one active (signed) plan per patient.
CREATE UNIQUE INDEX plan_versions_one_active ON plan_versions (patient_id) WHERE status = 'signed';
