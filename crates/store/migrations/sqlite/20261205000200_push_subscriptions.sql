-- Web Push (RFC 8030): each browser a user turned notifications on in. The endpoint is the
-- push service's address for that browser, unique across users (a device changing hands
-- moves it); p256dh and auth are the browser's keys for encrypting to it (RFC 8291).
CREATE TABLE push_subscriptions (
    id               BLOB PRIMARY KEY NOT NULL,
    user_id          BLOB NOT NULL REFERENCES users (id),
    organization_id  BLOB NOT NULL REFERENCES organizations (id),
    endpoint         TEXT NOT NULL UNIQUE,
    p256dh           TEXT NOT NULL,
    auth             TEXT NOT NULL,
    user_agent       TEXT,
    created_at       TEXT NOT NULL,
    last_success_at  TEXT
);
CREATE INDEX push_subscriptions_by_user ON push_subscriptions (user_id, created_at);

-- The deployment's VAPID key pair (RFC 8292), one row shared by every server.
CREATE TABLE vapid_keys (
    id           INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    private_key  TEXT NOT NULL,
    public_key   TEXT NOT NULL,
    created_at   TEXT NOT NULL
);
