-- The organization's product catalogue and batches (lots) with their certificates of analysis.
CREATE TABLE products (
    id                            UUID PRIMARY KEY,
    organization_id               UUID NOT NULL REFERENCES organizations (id),
    name                          TEXT NOT NULL,
    vendor                        TEXT,
    form                          TEXT NOT NULL,
    -- Kept as information only: strain names predict little about content.
    labelled_strain               TEXT,
    unit_mass_g                   DOUBLE PRECISION,
    serving_size                  DOUBLE PRECISION,
    teaspoon_g                    DOUBLE PRECISION,
    labels_hydroxy_as_ingredient  BOOLEAN NOT NULL DEFAULT FALSE,
    -- 'reviewed', or 'pending_review' for a product a patient added as labelled.
    review_status                 TEXT NOT NULL,
    added_by_patient_id           UUID REFERENCES patients (id),
    created_by                    UUID NOT NULL REFERENCES users (id),
    created_at                    TIMESTAMPTZ NOT NULL,
    updated_at                    TIMESTAMPTZ NOT NULL
);
CREATE INDEX products_by_organization ON products (organization_id, name);

CREATE TABLE batches (
    id               UUID PRIMARY KEY,
    product_id       UUID NOT NULL REFERENCES products (id),
    organization_id  UUID NOT NULL REFERENCES organizations (id),
    lot              TEXT NOT NULL,
    -- The certificate of analysis as JSONB (speciosa_core::product::Assay); NULL when none.
    assay            JSONB,
    recalled         BOOLEAN NOT NULL DEFAULT FALSE,
    recall_reason    TEXT,
    created_by       UUID NOT NULL REFERENCES users (id),
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    UNIQUE (product_id, lot)
);

-- Doses in milligrams of alkaloid, computed by the server when logged. Corrections and
-- deletions are soft: a correction adds a row that `corrects_dose_id` the old one, and the
-- old row gets `superseded_at`; a deletion sets `deleted_at`. Both need a reason.
CREATE TABLE doses (
    id                              UUID PRIMARY KEY,
    organization_id                 UUID NOT NULL REFERENCES organizations (id),
    patient_id                      UUID NOT NULL REFERENCES patients (id),
    batch_id                        UUID NOT NULL REFERENCES batches (id),
    taken_at                        TIMESTAMPTZ NOT NULL,
    time_zone                       TEXT NOT NULL,
    amount                          DOUBLE PRECISION NOT NULL,
    unit                            TEXT NOT NULL,
    grams                           DOUBLE PRECISION,
    millilitres                     DOUBLE PRECISION,
    mitragynine_mg                  DOUBLE PRECISION,
    hydroxymitragynine_mg           DOUBLE PRECISION,
    exposure_basis                  TEXT NOT NULL,
    mitragynine_mg_low              DOUBLE PRECISION,
    mitragynine_mg_high             DOUBLE PRECISION,
    hydroxymitragynine_mg_low       DOUBLE PRECISION,
    hydroxymitragynine_mg_high      DOUBLE PRECISION,
    contexts                        JSONB NOT NULL DEFAULT '[]',
    bedtime                         BOOLEAN NOT NULL,
    note                            TEXT,
    entered_by                      UUID NOT NULL REFERENCES users (id),
    entered_at                      TIMESTAMPTZ NOT NULL,
    idempotency_key                 TEXT,
    request_hash                    TEXT,
    corrects_dose_id                UUID REFERENCES doses (id),
    superseded_at                   TIMESTAMPTZ,
    deleted_at                      TIMESTAMPTZ,
    change_reason                   TEXT,
    UNIQUE (patient_id, idempotency_key)
);
CREATE INDEX doses_by_patient_time ON doses (patient_id, taken_at);
CREATE INDEX doses_by_batch ON doses (batch_id, taken_at);
