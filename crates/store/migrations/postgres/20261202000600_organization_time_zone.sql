-- The zone an organization's staff pages read times in (the inbox, the audit log): an IANA
-- name, UTC until an admin sets it. Clinical records keep the patient's own zone.
ALTER TABLE organizations ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';
