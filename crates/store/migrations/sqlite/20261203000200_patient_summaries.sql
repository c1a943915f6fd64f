-- Per-patient summaries, maintained in the same transaction as the records they sum up,
-- so the rules and the roster read a few rows instead of a patient's whole history.
-- `speciosa summaries rebuild` recomputes every one of them from the records.
-- Amounts are whole micrograms (mg × 1000, g × 1 000 000, each dose rounded once), so
-- adding and subtracting doses is exact and a rebuild agrees to the microgram.

-- Current doses per patient-local day (the day in the zone the dose was logged in).
CREATE TABLE patient_day_totals (
    patient_id                  BLOB NOT NULL REFERENCES patients (id),
    day                         TEXT NOT NULL,
    mitragynine_ug              INTEGER NOT NULL,
    hydroxymitragynine_ug       INTEGER NOT NULL,
    doses                       INTEGER NOT NULL,
    doses_without_mitragynine   INTEGER NOT NULL,
    bedtime_doses               INTEGER NOT NULL,
    PRIMARY KEY (patient_id, day)
);

-- Current doses per patient-local day and batch: which batches are in use, and how much.
CREATE TABLE patient_day_batch_grams (
    patient_id      BLOB NOT NULL REFERENCES patients (id),
    day             TEXT NOT NULL,
    batch_id        BLOB NOT NULL REFERENCES batches (id),
    grams_ug        INTEGER NOT NULL,
    doses           INTEGER NOT NULL,
    PRIMARY KEY (patient_id, day, batch_id)
);

-- The latest result of each instrument and the one before it (assessments are never
-- amended or deleted, so two are enough for every trend and rule).
CREATE TABLE patient_latest_results (
    patient_id                  BLOB NOT NULL REFERENCES patients (id),
    instrument                  TEXT NOT NULL,
    assessment_id               BLOB NOT NULL,
    total                       REAL,
    band                        TEXT,
    completed_at                TEXT NOT NULL,
    previous_assessment_id      BLOB,
    previous_total              REAL,
    previous_completed_at       TEXT,
    PRIMARY KEY (patient_id, instrument)
);

-- One row per patient with any assessment or alert.
CREATE TABLE patient_summary (
    patient_id          BLOB PRIMARY KEY NOT NULL REFERENCES patients (id),
    last_check_in_at    TEXT,
    open_urgent         INTEGER NOT NULL,
    open_warning        INTEGER NOT NULL,
    open_info           INTEGER NOT NULL,
    acknowledged        INTEGER NOT NULL
);

-- Whether the summaries were ever computed: databases from before this migration get a
-- rebuild when they are next opened.
CREATE TABLE summary_state (
    id          INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    rebuilt_at  TEXT
);
INSERT INTO summary_state (id, rebuilt_at) VALUES (1, NULL);

-- The latest dose of one batch, for the product-quality rule.
CREATE INDEX doses_by_patient_batch ON doses (patient_id, batch_id, taken_at);
