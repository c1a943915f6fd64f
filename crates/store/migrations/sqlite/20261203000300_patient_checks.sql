-- When each patient's time-based safety rules are next due, and which scheduler holds
-- the patient while checking it (a lease that lapses if that server dies mid-check).
CREATE TABLE patient_checks (
    patient_id      BLOB PRIMARY KEY REFERENCES patients (id),
    next_check_at   TEXT NOT NULL,
    lease_until     TEXT,
    leased_by       BLOB,
    last_checked_at TEXT,
    failures        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX patient_checks_due ON patient_checks (next_check_at);
-- Every existing patient is due at once.
INSERT INTO patient_checks (patient_id, next_check_at)
SELECT id, '1970-01-01T00:00:00.000000Z' FROM patients;
