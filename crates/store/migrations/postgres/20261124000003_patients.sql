CREATE TABLE patients (
    id                        UUID PRIMARY KEY,
    organization_id           UUID NOT NULL REFERENCES organizations (id),
    -- The patient's own sign-in, once a clinician creates it.
    user_id                   UUID UNIQUE REFERENCES users (id),
    display_name              TEXT NOT NULL,
    birth_date                DATE NOT NULL,
    sex_at_birth              TEXT NOT NULL,
    time_zone                 TEXT NOT NULL,
    usual_bedtime             TEXT,
    jurisdiction_country      TEXT,
    jurisdiction_subdivision  TEXT,
    pregnancy_status          TEXT NOT NULL,
    research_consent_date     DATE,
    concomitant_medications   JSONB NOT NULL DEFAULT '[]',
    created_by                UUID NOT NULL REFERENCES users (id),
    created_at                TIMESTAMPTZ NOT NULL,
    updated_at                TIMESTAMPTZ NOT NULL
);
CREATE INDEX patients_by_organization ON patients (organization_id, display_name);

CREATE TABLE care_team_members (
    patient_id       UUID NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    clinician_id     UUID NOT NULL REFERENCES users (id),
    organization_id  UUID NOT NULL REFERENCES organizations (id),
    added_by         UUID NOT NULL REFERENCES users (id),
    added_at         TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (patient_id, clinician_id)
);
CREATE INDEX care_team_by_clinician ON care_team_members (clinician_id);
