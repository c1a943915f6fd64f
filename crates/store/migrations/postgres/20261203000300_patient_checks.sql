-- When each patient's time-based safety rules are next due, and which scheduler holds
-- the patient while checking it (a lease that lapses if that server dies mid-check).
CREATE TABLE patient_checks (
    patient_id      UUID PRIMARY KEY REFERENCES patients (id),
    next_check_at   TIMESTAMPTZ NOT NULL,
    lease_until     TIMESTAMPTZ,
    leased_by       UUID,
    last_checked_at TIMESTAMPTZ,
    failures        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX patient_checks_due ON patient_checks (next_check_at);
-- Every existing patient is due at once.
INSERT INTO patient_checks (patient_id, next_check_at)
SELECT id, TIMESTAMPTZ '1970-01-01 00:00:00+00' FROM patients;
