-- Alerts gain the condition they stand for, so a re-check folds into the open alert
-- instead of raising a duplicate, and a history of the human decisions on them.
ALTER TABLE alerts ADD COLUMN scope TEXT NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN episode TEXT NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN summary TEXT NOT NULL DEFAULT '';
-- How many times the condition fired while this alert stood, and the latest evidence.
ALTER TABLE alerts ADD COLUMN occurrences INTEGER NOT NULL DEFAULT 1;
ALTER TABLE alerts ADD COLUMN last_fired_at TEXT;
ALTER TABLE alerts ADD COLUMN last_evidence TEXT;
CREATE INDEX alerts_by_condition ON alerts (patient_id, rule, scope, status);

CREATE TABLE alert_actions (
    id          BLOB PRIMARY KEY NOT NULL,
    alert_id    BLOB NOT NULL REFERENCES alerts (id),
    action      TEXT NOT NULL CHECK (action IN ('acknowledge', 'resolve')),
    comment     TEXT NOT NULL,
    acted_by    BLOB NOT NULL REFERENCES users (id),
    acted_at    TEXT NOT NULL
);
CREATE INDEX alert_actions_by_alert ON alert_actions (alert_id, acted_at);

CREATE TABLE medications (
    id               BLOB PRIMARY KEY NOT NULL,
    organization_id  BLOB NOT NULL REFERENCES organizations (id),
    patient_id       BLOB NOT NULL REFERENCES patients (id),
    name             TEXT NOT NULL,
    class            TEXT NOT NULL,
    dose_text        TEXT,
    started_on       TEXT,
    stopped_on       TEXT,
    entered_by       BLOB NOT NULL REFERENCES users (id),
    entered_at       TEXT NOT NULL,
    updated_by       BLOB NOT NULL REFERENCES users (id),
    updated_at       TEXT NOT NULL,
    -- Entered in error: kept for the record, hidden from the list and the rules.
    removed_at       TEXT,
    removed_reason   TEXT
);
CREATE INDEX medications_by_patient ON medications (patient_id);
