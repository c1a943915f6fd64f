-- The organization's product catalogue and batches (lots) with their certificates of analysis.
CREATE TABLE products (
    id                            BLOB PRIMARY KEY NOT NULL,
    organization_id               BLOB NOT NULL REFERENCES organizations (id),
    name                          TEXT NOT NULL,
    vendor                        TEXT,
    form                          TEXT NOT NULL,
    -- Kept as information only: strain names predict little about content.
    labelled_strain               TEXT,
    unit_mass_g                   REAL,
    serving_size                  REAL,
    teaspoon_g                    REAL,
    labels_hydroxy_as_ingredient  BOOLEAN NOT NULL DEFAULT FALSE,
    -- 'reviewed', or 'pending_review' for a product a patient added as labelled.
    review_status                 TEXT NOT NULL,
    added_by_patient_id           BLOB REFERENCES patients (id),
    created_by                    BLOB NOT NULL REFERENCES users (id),
    created_at                    TEXT NOT NULL,
    updated_at                    TEXT NOT NULL
);
CREATE INDEX products_by_organization ON products (organization_id, name);

CREATE TABLE batches (
    id               BLOB PRIMARY KEY NOT NULL,
    product_id       BLOB NOT NULL REFERENCES products (id),
    organization_id  BLOB NOT NULL REFERENCES organizations (id),
    lot              TEXT NOT NULL,
    -- The certificate of analysis as JSON (speciosa_core::product::Assay); NULL when none.
    assay            TEXT,
    recalled         BOOLEAN NOT NULL DEFAULT FALSE,
    recall_reason    TEXT,
    created_by       BLOB NOT NULL REFERENCES users (id),
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    UNIQUE (product_id, lot)
);

-- Doses in milligrams of alkaloid, computed by the server when logged. Corrections and
-- deletions are soft: a correction adds a row that `corrects_dose_id` the old one, and the
-- old row gets `superseded_at`; a deletion sets `deleted_at`. Both need a reason.
CREATE TABLE doses (
    id                              BLOB PRIMARY KEY NOT NULL,
    organization_id                 BLOB NOT NULL REFERENCES organizations (id),
    patient_id                      BLOB NOT NULL REFERENCES patients (id),
    batch_id                        BLOB NOT NULL REFERENCES batches (id),
    taken_at                        TEXT NOT NULL,
    time_zone                       TEXT NOT NULL,
    amount                          REAL NOT NULL,
    unit                            TEXT NOT NULL,
    grams                           REAL,
    millilitres                     REAL,
    mitragynine_mg                  REAL,
    hydroxymitragynine_mg           REAL,
    exposure_basis                  TEXT NOT NULL,
    mitragynine_mg_low              REAL,
    mitragynine_mg_high             REAL,
    hydroxymitragynine_mg_low       REAL,
    hydroxymitragynine_mg_high      REAL,
    contexts                        TEXT NOT NULL DEFAULT '[]',
    bedtime                         BOOLEAN NOT NULL,
    note                            TEXT,
    entered_by                      BLOB NOT NULL REFERENCES users (id),
    entered_at                      TEXT NOT NULL,
    idempotency_key                 TEXT,
    request_hash                    TEXT,
    corrects_dose_id                BLOB REFERENCES doses (id),
    superseded_at                   TEXT,
    deleted_at                      TEXT,
    change_reason                   TEXT,
    UNIQUE (patient_id, idempotency_key)
);
CREATE INDEX doses_by_patient_time ON doses (patient_id, taken_at);
CREATE INDEX doses_by_batch ON doses (batch_id, taken_at);
