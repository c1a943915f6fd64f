-- A session also ends at a fixed time after sign-in, however busy it is (staff 12 hours,
-- patients 30 days by default). Sessions already open get their role's default, counted
-- from when they started; expires_at stays the earlier of the idle and absolute deadlines.
ALTER TABLE sessions ADD COLUMN absolute_expires_at TEXT NOT NULL DEFAULT '';
UPDATE sessions SET absolute_expires_at = strftime(
    '%Y-%m-%dT%H:%M:%S',
    created_at,
    CASE (SELECT u.role FROM users u WHERE u.id = sessions.user_id)
        WHEN 'patient' THEN '+30 days' ELSE '+12 hours' END
) || '.000000Z';
UPDATE sessions SET expires_at = absolute_expires_at WHERE expires_at > absolute_expires_at;
