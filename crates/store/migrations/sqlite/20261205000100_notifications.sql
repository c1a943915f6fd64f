-- Reaching people (issue 13): each user's notification preferences, the transactional
-- outbox of messages, the paging of urgent alerts with escalation, the organization's
-- on-call list and webhook, and when each reminder is next due.

CREATE TABLE notification_preferences (
    user_id           BLOB PRIMARY KEY NOT NULL REFERENCES users (id),
    -- Comma-separated channels in the user's order: email, webhook, push.
    channels          TEXT NOT NULL,
    quiet_start       TEXT,
    quiet_end         TEXT,
    check_in_reminder TEXT,
    dose_reminders    BOOLEAN NOT NULL DEFAULT FALSE,
    visit_reminders   BOOLEAN NOT NULL DEFAULT TRUE,
    updated_at        TEXT NOT NULL
);

-- The outbox: one message to one person on one channel, written in the transaction of
-- the event that causes it. Its id is the e-mail Message-ID and the webhook event id, so
-- a message resent after a crash is the same message.
CREATE TABLE notifications (
    id               BLOB PRIMARY KEY NOT NULL,
    organization_id  BLOB NOT NULL REFERENCES organizations (id),
    recipient_id     BLOB NOT NULL REFERENCES users (id),
    channel          TEXT NOT NULL CHECK (channel IN ('email', 'webhook', 'push')),
    kind             TEXT NOT NULL,
    subject_type     TEXT NOT NULL,
    subject_id       TEXT NOT NULL,
    link             TEXT NOT NULL,
    urgent           BOOLEAN NOT NULL,
    -- Writing the same intent twice (a re-run, a second server) is a no-op.
    dedupe_key       TEXT NOT NULL UNIQUE,
    status           TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'failed', 'dead')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL,
    lease_until      TEXT,
    leased_by        BLOB,
    last_error       TEXT,
    created_at       TEXT NOT NULL,
    sent_at          TEXT
);
CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE status IN ('queued', 'failed');
CREATE INDEX notifications_by_subject ON notifications (subject_type, subject_id);
CREATE INDEX notifications_by_organization ON notifications (organization_id, created_at);

-- An urgent alert being paged: round 0 is the care team at once, each further round the
-- on-call list, every `interval_seconds` after the alert opened, until acknowledged.
CREATE TABLE alert_paging (
    alert_id          BLOB PRIMARY KEY NOT NULL REFERENCES alerts (id),
    organization_id   BLOB NOT NULL REFERENCES organizations (id),
    opened_at         TEXT NOT NULL,
    interval_seconds  INTEGER NOT NULL,
    next_round        INTEGER NOT NULL,
    next_round_at     TEXT NOT NULL,
    stopped_at        TEXT,
    stop_reason       TEXT,
    lease_until       TEXT,
    leased_by         BLOB
);
CREATE INDEX alert_paging_due ON alert_paging (next_round_at) WHERE stopped_at IS NULL;

CREATE TABLE on_call (
    organization_id  BLOB NOT NULL REFERENCES organizations (id),
    user_id          BLOB NOT NULL REFERENCES users (id),
    position         INTEGER NOT NULL,
    PRIMARY KEY (organization_id, user_id)
);

-- A paging or SMS gateway the organization's messages can go to, signed with its secret.
CREATE TABLE organization_webhooks (
    organization_id  BLOB PRIMARY KEY NOT NULL REFERENCES organizations (id),
    url              TEXT NOT NULL,
    secret           TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);

-- When each user's reminders are next due (one row per reminder kind and slot).
CREATE TABLE reminders (
    user_id      BLOB NOT NULL REFERENCES users (id),
    reminder     TEXT NOT NULL,
    next_at      TEXT NOT NULL,
    lease_until  TEXT,
    leased_by    BLOB,
    PRIMARY KEY (user_id, reminder)
);
CREATE INDEX reminders_due ON reminders (next_at);
