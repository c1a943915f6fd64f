-- A temporary password set by an admin must be replaced at the next sign-in.
ALTER TABLE users ADD COLUMN password_change_required BOOLEAN NOT NULL DEFAULT FALSE;
