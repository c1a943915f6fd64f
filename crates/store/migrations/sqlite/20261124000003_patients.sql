CREATE TABLE patients (
    id                        BLOB PRIMARY KEY NOT NULL,
    organization_id           BLOB NOT NULL REFERENCES organizations (id),
    -- The patient's own sign-in, once a clinician creates it.
    user_id                   BLOB UNIQUE REFERENCES users (id),
    display_name              TEXT NOT NULL,
    birth_date                TEXT NOT NULL,
    sex_at_birth              TEXT NOT NULL,
    time_zone                 TEXT NOT NULL,
    usual_bedtime             TEXT,
    jurisdiction_country      TEXT,
    jurisdiction_subdivision  TEXT,
    pregnancy_status          TEXT NOT NULL,
    research_consent_date     TEXT,
    concomitant_medications   TEXT NOT NULL DEFAULT '[]',
    created_by                BLOB NOT NULL REFERENCES users (id),
    created_at                TEXT NOT NULL,
    updated_at                TEXT NOT NULL
);
CREATE INDEX patients_by_organization ON patients (organization_id, display_name);

CREATE TABLE care_team_members (
    patient_id       BLOB NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    clinician_id     BLOB NOT NULL REFERENCES users (id),
    organization_id  BLOB NOT NULL REFERENCES organizations (id),
    added_by         BLOB NOT NULL REFERENCES users (id),
    added_at         TEXT NOT NULL,
    PRIMARY KEY (patient_id, clinician_id)
);
CREATE INDEX care_team_by_clinician ON care_team_members (clinician_id);
