-- A session also ends at a fixed time after sign-in, however busy it is (staff 12 hours,
-- patients 30 days by default). Sessions already open get their role's default, counted
-- from when they started; expires_at stays the earlier of the idle and absolute deadlines.
ALTER TABLE sessions ADD COLUMN absolute_expires_at TIMESTAMPTZ;
UPDATE sessions s SET absolute_expires_at = s.created_at
    + CASE WHEN u.role = 'patient' THEN INTERVAL '30 days' ELSE INTERVAL '12 hours' END
    FROM users u WHERE u.id = s.user_id;
ALTER TABLE sessions ALTER COLUMN absolute_expires_at SET NOT NULL;
UPDATE sessions SET expires_at = LEAST(expires_at, absolute_expires_at);
