-- TOTP two-factor sign-in (RFC 6238): the base32 secret once enrolment is confirmed,
-- a secret shown but not yet confirmed with a code, and the last time step accepted
-- (a code works once).
ALTER TABLE users ADD COLUMN totp_secret TEXT;
ALTER TABLE users ADD COLUMN totp_pending_secret TEXT;
ALTER TABLE users ADD COLUMN totp_last_step INTEGER;

-- One-time recovery codes, stored as SHA-256 of 80-bit random codes.
CREATE TABLE recovery_codes (
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  TEXT NOT NULL,
    used_at    TEXT,
    PRIMARY KEY (user_id, code_hash)
);

-- A sign-in whose password was right, waiting for its second factor on the page's
-- second step; the token (stored as SHA-256) lives a few minutes.
CREATE TABLE sign_in_challenges (
    token_hash  TEXT PRIMARY KEY NOT NULL,
    user_id     BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);

-- An organization may require staff to sign in with two factors.
ALTER TABLE organizations ADD COLUMN require_staff_totp BOOLEAN NOT NULL DEFAULT FALSE;
