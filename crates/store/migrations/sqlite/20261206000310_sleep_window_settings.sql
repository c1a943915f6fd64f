-- A clinic's sleep-restriction parameters (plans-and-therapy.md §3.2: the sources disagree,
-- so each clinic sets its own); without a row the defaults in speciosa_core::sleep_window apply.
CREATE TABLE organization_sleep_window_settings (
    organization_id   BLOB PRIMARY KEY NOT NULL REFERENCES organizations (id),
    floor_min         INTEGER NOT NULL,
    extend_at_pct     REAL NOT NULL,
    shrink_below_pct  REAL NOT NULL,
    step_min          INTEGER NOT NULL,
    goal_min          INTEGER NOT NULL,
    updated_by        BLOB NOT NULL REFERENCES users (id),
    updated_at        TEXT NOT NULL
);
